"""Text from the services that cannot be stored or shown as it is.

A JSON escape such as ``"\\ud800"`` decodes to half a UTF-16 pair. No UTF-8 request body, file
or SQLite text can hold one, so a record carrying it is refused by name, and any text about it
that must be stored or shown has it escaped. Control characters can be stored but not shown:
printed raw, a name holding ``ESC]0;...`` retitles the operator's terminal.
"""

from __future__ import annotations

import dataclasses
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


# Characters that act on a terminal or reorder what is shown instead of being shown: C0 controls
# but newline and tab (ESC starts sequences that retitle or rewrite the terminal, CR overwrites
# a line), DEL, C1 controls, and the bidirectional overrides and isolates (a name can be made
# to read backwards). Each is shown as its Python escape.
_UNSHOWABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (
        *(c for c in range(0x20) if c not in (0x09, 0x0A)),
        *range(0x7F, 0xA0),
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


def shown(text: str) -> str:
    """``text`` as it may be printed: control and bidirectional characters escaped, and unpaired
    surrogates too."""
    return escape_surrogates(text).translate(_UNSHOWABLE)


def shown_all(value: Any) -> Any:
    """``value`` with every text in it :func:`shown`: strings, and those inside dataclasses,
    lists, tuples and dicts (keys too)."""
    if isinstance(value, str):
        return shown(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: shown_all(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        return type(value)(shown_all(v) for v in value)
    if isinstance(value, dict):
        return type(value)({shown_all(k): shown_all(v) for k, v in value.items()})
    return value


# OWASP's list; defusedcsv, which does this for csv writers, misses the tab and the CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str | int) -> str | int:
    """A cell a spreadsheet shows rather than evaluates: text that would start a formula gets a
    leading apostrophe, as OWASP recommends (the csv module quotes the rest)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
