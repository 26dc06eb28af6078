"""The run lock: one run at a time on a state file, held by the operating system.

An advisory ``flock`` on a file beside the state (``collsync.db.lock``), taken for the whole
run: the kernel releases it when the process ends, however it ends (a crash, SIGKILL, an
OOM-killed pod), whatever its PID namespace or host name. What the file holds (the holder's
command, host, PID and start time) is written for the message a second run prints; it never
decides anything. ``flock`` holds on local disks and single-node volumes, not on every network
filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from collsync.errors import LockHeldError
from collsync.state.database import state_problem

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextlib.contextmanager
def run_lock(state_path: Path, command: str) -> Iterator[None]:
    """Hold the state's run lock; :class:`LockHeldError` (exit 75) at once, naming the holder,
    when another process holds it."""
    path = lock_path(state_path)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise state_problem(path, exc) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(
                f"{state_path} is in use by {_holder(descriptor)}; this run did nothing"
            ) from None
        _write_holder(descriptor, command)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock; a dead process's closes with it


def _write_holder(descriptor: int, command: str) -> None:
    holder = {
        "command": command,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:3],
    }
    with contextlib.suppress(OSError):  # the message's detail only: the lock is held already
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(holder).encode(), 0)


def _holder(descriptor: int) -> str:
    """Who holds the lock, as the holder wrote it (for the message only)."""
    try:
        found: Any = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except (OSError, ValueError):
        found = {}
    if not isinstance(found, dict) or "pid" not in found:
        return "another collsync run"
    return (
        f"`collsync {found.get('command', '?')}` (pid {found['pid']} on "
        f"{found.get('host', '?')}, since {found.get('since', '?')})"
    )
