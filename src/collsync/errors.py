"""The one exception tree of collsync, and the exit code each branch maps to.

::

    CollsyncError                      every expected failure; never shown as a traceback
    ├── ConfigError                 exit 2: a config key or CLI value is wrong (names the key)
    ├── LockHeldError               exit 75: another run holds the state file
    ├── StateError                  exit 1: the state file cannot be read or written (corrupt,
    │                               disk full, locked by another process); nothing more is sent
    ├── InterruptedRunError         exit 1: stopped by a signal after saving its checkpoints
    ├── DeleteGuardError            exit 1: the plan deletes more than --max-deletes allows
    ├── ExistingCollectionsError    exit 1: a new state would create again what Akinon holds
    ├── StalePlanError              exit 1: a saved plan no longer fits the world; nothing written
    ├── RecordFailed                skip the record: recorded as a failure, the run goes on
    ├── TransformError              skip the record: it cannot be carried over as configured
    └── ServiceError                a call to the store or Akinon failed (names the endpoint)
        ├── AuthenticationError     credentials refused (bad API key, login, 401 after re-login)
        ├── NotFoundError           the record or handler does not exist
        ├── RejectedError           clean 4xx / error body: nothing changed; keeps field messages
        ├── ThrottledError          429 after the retries ran out; carries Retry-After
        ├── TransientError          5xx, timeouts, connection errors: worth retrying
        │   ├── NotSentError        provably not carried out (never reached the service, or
        │   │                       refused before it was): always safe to send again
        │   └── OutcomeUnknownError a write was sent, its answer lost: it may have been applied
        └── ProtocolError           the answer is not as documented (HTML, bad JSON, shape)

Errors are named by what the caller should do: fix the config, wait for the lock, retry, resolve an
unknown outcome through the journal, or record the failed record and go on.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_RECORD_FAILURES = 3
EXIT_CHANGES = 4
EXIT_LOCKED = 75


class CollsyncError(Exception):
    """Root of every error collsync expects; the CLI prints its message, never a traceback."""

    exit_code = EXIT_FATAL


class ConfigError(CollsyncError):
    """A config key, environment reference or command-line value is invalid."""

    exit_code = EXIT_USAGE


class LockHeldError(CollsyncError):
    """Another collsync run holds the state file."""

    exit_code = EXIT_LOCKED


class StateError(CollsyncError):
    """The state file cannot be read or written: corrupt, disk full, locked by another process
    for longer than the busy timeout. The run stops; what was sent is in the journal."""


class InterruptedRunError(CollsyncError):
    """SIGTERM or SIGINT: in-flight work finished, checkpoints saved."""

    def __init__(self, message: str = "interrupted, safe to re-run") -> None:
        super().__init__(message)


class DeleteGuardError(CollsyncError):
    """The plan deletes more than ``--max-deletes`` allows, or the store looks broken: nothing
    was written."""


class ExistingCollectionsError(CollsyncError):
    """The state maps nothing (new, or lost) while the account already holds collections of the
    names the plan would create: nothing was written. ``--adopt-existing`` maps them by name,
    ``--allow-duplicates`` creates them anyway."""


class StalePlanError(CollsyncError):
    """A saved plan cannot be applied: the store, Akinon or the state moved since it was made,
    or the file is not a plan. Nothing was written."""


class RecordFailed(CollsyncError):
    """One record cannot be carried over: it is recorded as a failure and the run goes on."""

    def __init__(self, stage: str, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.stage, self.kind, self.reason = stage, kind, reason


class TransformError(CollsyncError):
    """A source collection cannot be carried over as configured (the message says why)."""


class ServiceError(CollsyncError):
    """A request to one of the two services failed.

    ``service`` is ``"store"`` or ``"akinon"``; ``endpoint`` is like
    ``POST /wishlists/user-collections/``.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        endpoint: str = "",
        status: int | None = None,
        body: Any = None,
    ) -> None:
        self.service = service
        self.endpoint = endpoint
        self.status = status
        self.body = body
        self.reason = message
        where = " ".join(part for part in (service, endpoint) if part)
        super().__init__(f"{where}: {message}" if where else message)


class AuthenticationError(ServiceError):
    """The service refused the credentials."""


class NotFoundError(ServiceError):
    """The record (or, for the store, the RPC handler) does not exist."""


class RejectedError(ServiceError):
    """A clean rejection: the service changed nothing. ``fields`` keeps per-field messages."""

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **kw: Any):
        self.fields = fields or {}
        super().__init__(message, **kw)


class ThrottledError(ServiceError):
    """Still throttled (429) after the retries; ``retry_after`` is the service's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class TransientError(ServiceError):
    """A failure worth retrying later: server error, timeout, dropped connection."""


class NotSentError(TransientError):
    """The request provably did not take effect: it never reached the service, or the service
    refused it before carrying it out. Always safe to send again, write or not."""


class OutcomeUnknownError(TransientError):
    """A write was sent but its answer was lost: the change may or may not have been applied."""


class ProtocolError(ServiceError):
    """The answer does not follow the documented format (HTML page, bad JSON, unexpected shape)."""
