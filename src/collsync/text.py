"""Text that JSON can carry but UTF-8 cannot: unpaired surrogates.

A JSON escape such as ``"\\ud800"`` decodes to half a UTF-16 pair. No UTF-8 request body, file
or SQLite text can hold one, so a record carrying it is refused by name, and any text about it
that must be stored or shown has it escaped.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\\ud800-\\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each unpaired surrogate written as its ``\\udxxx`` escape."""
    if not _holds_surrogate(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _holds_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def unpaired_surrogate(value: Any) -> str | None:
    """The key (``name``, ``items[2].note``) of the first text in ``value`` holding one; keys
    are checked as well as values."""
    found = _surrogate_path(value)
    return None if found is None else (found.removeprefix(".") or "value")


def _surrogate_path(value: Any) -> str | None:
    # The path is built on the way back from a find, so clean records cost no string building.
    if isinstance(value, str):
        return "" if _holds_surrogate(value) else None
    if isinstance(value, dict):
        for name, inner in value.items():
            if isinstance(name, str) and _holds_surrogate(name):
                return f".{name}"
            found = _surrogate_path(inner)
            if found is not None:
                return f".{name}{found}"
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found = _surrogate_path(inner)
            if found is not None:
                return f"[{index}]{found}"
    return None
