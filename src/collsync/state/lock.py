"""The run lock: one run at a time on a state file."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collsync.errors import LockHeldError
from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterator

    from collsync.state.database import Database

log = get_logger("collsync.state")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class RunLock:
    """The ``lock`` row: who holds the state, since when."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @contextlib.contextmanager
    def held(self, command: str, *, stale_after: float = 3600.0) -> Iterator[None]:
        """Hold the run lock; raise :class:`LockHeldError` naming the holder if it is taken."""
        me, host = os.getpid(), socket.gethostname()
        with self._db.transaction() as conn:
            row = conn.execute("SELECT pid, host, command, since FROM lock").fetchone()
            if row is not None:
                pid, holder_host, holder_command, since = row
                age = time.time() - since
                dead = holder_host == host and not _pid_alive(pid)
                if not dead and age < stale_after and pid != me:
                    started = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
                    raise LockHeldError(
                        f"{self._db.path} is in use by `collsync {holder_command}` "
                        f"(pid {pid} on {holder_host}, since {started})"
                    )
                log.warning(
                    "collsync.state.stale_lock_taken_over",
                    pid=pid,
                    host=holder_host,
                    command=holder_command,
                    reason="process gone" if dead else f"older than {stale_after:.0f}s",
                )
            conn.execute(
                "INSERT OR REPLACE INTO lock (id, pid, host, command, since)"
                " VALUES (1, ?, ?, ?, ?)",
                (me, host, command, time.time()),
            )
        try:
            yield
        finally:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM lock WHERE pid = ?", (me,))
