"""structlog set-up, once per process: console or JSON lines on stderr, secrets redacted.

Redaction happens in the processor chain, so no renderer ever sees a secret: values under
secret-looking keys (api key, password, token, cookie, CSRF, authorization) are replaced, and
every secret value registered with :func:`register_secret` is masked wherever it appears, even
inside a message or a URL.

structlog is imported at the first event, not before: a command that logs nothing (``--help``,
``status``) does not pay for it (with rich installed it imports rich's traceback module).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

REDACTED = "***"
LEVELS = ("debug", "info", "warning", "error", "critical")

_SECRET_KEY = re.compile(
    r"(^key$|api_?key|apikey|password|passwd|secret|token|cookie|csrf|authorization|session_?id)",
    re.IGNORECASE,
)
_secret_values: set[str] = set()
_debug = True  # structlog's default, until configure() says otherwise


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every later log event (too-short values would mask innocent text)."""
    if value and len(value) >= 4:
        _secret_values.add(value)


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secrets replaced; dicts, lists and strings are walked."""
    if key and _SECRET_KEY.search(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str) and _secret_values:
        for secret in _secret_values:
            if secret in value:
                value = value.replace(secret, REDACTED)
    return value


def _redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def _shown_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    from collsync.text import shown_all

    return {k: shown_all(v) for k, v in event_dict.items()}


def debug_enabled() -> bool:
    """Whether debug events are kept: a check that costs nothing, for events on every request
    (a dropped event still costs a logger bind through structlog's lazy proxy). It follows
    :func:`configure`; structlog configured by other means does not change it."""
    return _debug


_settings: tuple[bool, str] | None = None  # (json_logs, level) set by configure()


def configure(*, json_logs: bool = False, level: str = "info") -> None:
    """Configure logging for the CLI. Logs go to stderr; stdout is kept for reports."""
    global _debug, _settings
    _debug = logging.getLevelNamesMapping()[level.upper()] <= logging.DEBUG
    _settings = (json_logs, level)
    if "structlog" in sys.modules:  # already in use: follow the new settings now
        _apply(json_logs, level)


def _apply(json_logs: bool, level: str) -> None:
    import structlog

    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any
    if json_logs:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    if json_logs:
        processors.append(structlog.processors.format_exc_info)
    else:  # JSON escapes control characters itself; a console line must not carry them raw
        processors.append(_shown_processor)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Resolved at each logger's first use, so a swapped sys.stderr (tests, click) is honoured.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class _Logger:
    """A module-level logger that imports (and configures) structlog at its first event."""

    def __init__(self, component: str) -> None:
        self._component = component
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        if self._logger is None:
            import structlog

            global _settings
            if _settings is not None:
                _apply(*_settings)
                _settings = None
            # A lazy proxy: it follows a later configure() (e.g. --json-logs).
            self._logger = structlog.get_logger(component=self._component)
        return getattr(self._logger, method)


def get_logger(name: str) -> Any:
    """A logger whose events carry ``component=name``; event names are namespaced by the caller."""
    return _Logger(name)
