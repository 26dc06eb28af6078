"""Every problem with the state file ends in one line and a documented exit code: never a
traceback, never a hang, and the next run finishes exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.state import SCHEMA_VERSION

from .conftest import ENV, Sandbox

COLLECTIONS = "/wishlists/user-collections/"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def one_line(result: Result, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert says in errors[0], errors[0]
    assert "Traceback" not in result.output


def point_state_at(sandbox: Sandbox, path: Path) -> None:
    text = sandbox.config.read_text(encoding="utf-8")
    sandbox.config.write_text(
        text.replace(str(sandbox.tmp / "state.db"), str(path)), encoding="utf-8"
    )


@contextlib.contextmanager
def tmpfs(where: Path, size: str, *options: str) -> Iterator[Path]:
    """A small filesystem of its own (as root; the test is skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_file_that_is_not_a_state_is_one_line(sandbox: Sandbox) -> None:
    (sandbox.tmp / "state.db").write_bytes(b"this is not a database, just text " * 100)
    one_line(cli("migrate", "-c", str(sandbox.config)), 1, "is not a readable collsync state")
    one_line(cli("status", "-c", str(sandbox.config)), 1, "is not a readable collsync state")


def test_a_state_cut_in_half_is_one_line(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    state = sandbox.tmp / "state.db"
    with sqlite3.connect(state) as conn:  # fold the log in, so that the file holds it all
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 2])
    result = cli("migrate", "-c", str(sandbox.config))
    one_line(result, 1, "is not a readable collsync state")
    assert "restore a backup" in result.output
    check = cli("state", "check", "-c", str(sandbox.config))
    assert check.exit_code == 1
    assert "Traceback" not in check.output


def test_a_state_path_that_is_a_folder_or_under_a_file_is_named(sandbox: Sandbox) -> None:
    folder = sandbox.tmp / "a-folder"
    folder.mkdir()
    point_state_at(sandbox, folder)
    one_line(cli("migrate", "-c", str(sandbox.config)), 2, "is a folder")
    blocker = sandbox.tmp / "plain-file"
    blocker.write_text("x", encoding="utf-8")
    point_state_at(sandbox, blocker / "state.db")
    text = sandbox.config.read_text(encoding="utf-8").replace(
        str(folder), str(blocker / "state.db")
    )
    sandbox.config.write_text(text, encoding="utf-8")
    one_line(cli("migrate", "-c", str(sandbox.config)), 2, "is a file, not a folder")


def test_a_state_from_a_newer_collsync_is_refused_naming_both_versions(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config), "--limit", "1").exit_code == 0
    with sqlite3.connect(sandbox.tmp / "state.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    one_line(
        cli("migrate", "-c", str(sandbox.config)),
        2,
        f"(schema {SCHEMA_VERSION + 1}, this one knows {SCHEMA_VERSION})",
    )


def test_an_empty_secret_is_named_with_every_missing_one(sandbox: Sandbox) -> None:
    result = cli(
        "migrate",
        "-c",
        str(sandbox.config),
        env={"AKINON_PASSWORD": "", "STORE_API_KEY": None},  # type: ignore[dict-item]
    )
    assert result.exit_code == 2, result.output
    assert "target.password: environment variable AKINON_PASSWORD is set but empty" in (
        result.output
    )
    assert "source.api_key: environment variable STORE_API_KEY is not set" in result.output
    assert "Traceback" not in result.output


def test_a_new_state_and_its_folder_are_private(sandbox: Sandbox) -> None:
    point_state_at(sandbox, sandbox.tmp / "private" / "state.db")
    old = os.umask(0o022)
    try:
        assert cli("migrate", "-c", str(sandbox.config), "--limit", "1").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((sandbox.tmp / "private").stat().st_mode) == 0o700
    for name in ("state.db", "state.db-wal"):
        path = sandbox.tmp / "private" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_a_read_only_filesystem_is_one_line(sandbox: Sandbox) -> None:
    with tmpfs(sandbox.tmp / "ro", "1m", "ro") as where:
        point_state_at(sandbox, where / "state.db")
        one_line(cli("migrate", "-c", str(sandbox.config)), 2, "state.path:")


def test_a_full_disk_at_start_is_one_line(sandbox: Sandbox) -> None:
    with tmpfs(sandbox.tmp / "full", "64k") as where:
        with contextlib.suppress(OSError), (where / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        point_state_at(sandbox, where / "state.db")
        result = cli("migrate", "-c", str(sandbox.config))
        assert result.exit_code in (1, 2), result.output
        assert "Traceback" not in result.output
        assert "full" in result.output or "cannot" in result.output


def migrate_in_background(sandbox: Sandbox) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "collsync", "migrate", "-c", str(sandbox.config)],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_creates(sandbox: Sandbox, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 60
    while (
        sum(1 for e in sandbox.commerce_log.entries if e.path == COLLECTIONS and e.method == "POST")
        < count
    ):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)


def finishes_exactly_once(sandbox: Sandbox) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collsync", "migrate", "-c", str(sandbox.config)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sandbox.migrated() == sandbox.expected()


def test_a_write_held_by_another_process_stops_the_run_in_one_line(sandbox: Sandbox) -> None:
    sandbox.faults(latency=0.05)
    process = migrate_in_background(sandbox)
    wait_for_creates(sandbox, process, 5)
    holder = sqlite3.connect(sandbox.tmp / "state.db", isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock, for long
    held = time.monotonic()
    try:
        _out, err = process.communicate(timeout=30)
        stopped = time.monotonic() - held
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert process.returncode == 1, err
    assert "is locked by another process" in err
    assert "Traceback" not in err
    assert stopped < 5 + 5  # the busy timeout, and a few seconds for what was in flight
    sandbox.faults(latency=0.0)
    finishes_exactly_once(sandbox)


def test_sigterm_while_a_write_waits_on_the_lock_stops_the_run(sandbox: Sandbox) -> None:
    sandbox.faults(latency=0.05)
    process = migrate_in_background(sandbox)
    wait_for_creates(sandbox, process, 5)
    holder = sqlite3.connect(sandbox.tmp / "state.db", isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    try:
        time.sleep(0.2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        stopped = time.monotonic() - signalled
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert stopped < 5 + 5
    sandbox.faults(latency=0.0)
    finishes_exactly_once(sandbox)


def test_a_disk_that_fills_during_the_load_stops_the_run_in_one_line(sandbox: Sandbox) -> None:
    # larger than SQLite's write-ahead log grows before it is folded in (about 4 MB)
    with tmpfs(sandbox.tmp / "small", "16m") as where:
        point_state_at(sandbox, where / "state.db")
        sandbox.faults(latency=0.05)
        process = migrate_in_background(sandbox)
        wait_for_creates(sandbox, process, 5)
        filler = threading.Thread(target=_fill, args=(where / "filler",), daemon=True)
        filler.start()
        _out, err = process.communicate(timeout=60)
        filler.join()
        assert process.returncode == 1, err
        assert "the disk is full" in err
        assert "Traceback" not in err
        (where / "filler").unlink()
        sandbox.faults(latency=0.0)
        finishes_exactly_once(sandbox)


def _fill(path: Path) -> None:
    with contextlib.suppress(OSError), path.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
