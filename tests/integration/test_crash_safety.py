"""SIGKILL at any point, then run again: every collection and item exactly once, nothing missing.

The migration runs as a user would run it (a child process); the sandbox stays up in this process
and tells us when to kill: during extract, while creates are in flight, while items are added.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from collsync.state import State

from .conftest import ENV, Sandbox, store_call


def start_migrate(sandbox: Sandbox) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collsync",
            "migrate",
            "-c",
            str(sandbox.config),
            "--log-level",
            "error",
        ],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, "the migration finished before the kill point"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def collsync(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """``collsync COMMAND -c CONFIG ARGS...`` as a user runs it, to its end."""
    command, *rest = args
    done = subprocess.run(
        [sys.executable, "-m", "collsync", command, "-c", str(sandbox.config), *rest],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def finish(sandbox: Sandbox, *args: str) -> None:
    """Run again (``migrate`` unless ``args`` say otherwise) until a run ends cleanly."""
    for _ in range(3):
        done = collsync(sandbox, *(args or ("migrate",)), "--log-level", "error")
        if done.returncode == 0:
            return
        assert done.returncode == 3, done.stderr
    raise AssertionError(f"no clean run after a crash: {done.stderr}")


def posts(sandbox: Sandbox, path: str) -> int:
    return sandbox.commerce_log.counts().get(f"POST {path}", 0)


@pytest.mark.parametrize(
    ("where", "ready"),
    [
        (
            "during extract",
            lambda s: s.store_log.counts().get("POST /api/v1/products/collections/get", 0) >= 2,
        ),
        ("after the first creates", lambda s: posts(s, "/wishlists/user-collections/") >= 3),
        ("among many creates", lambda s: posts(s, "/wishlists/user-collections/") >= 23),
        ("during item adds", lambda s: posts(s, "/wishlists/user-collection-items/") >= 40),
        ("late in item adds", lambda s: posts(s, "/wishlists/user-collection-items/") >= 150),
    ],
)
def test_sigkill_then_rerun_ends_exactly_once(
    sandbox: Sandbox, where: str, ready: Callable[[Sandbox], bool]
) -> None:
    sandbox.write_config().write_text(
        sandbox.config.read_text().replace("page_size = 50", "page_size = 10"), encoding="utf-8"
    )
    sandbox.store_app.state.sandbox.injector.faults.update({"latency": 0.01})
    sandbox.faults(latency=0.01)
    process = start_migrate(sandbox)
    kill_when(process, lambda: ready(sandbox))
    state = State.open(sandbox.tmp / "state.db")
    open_intents = len(state.journal.open_intents())
    state.close()
    if where != "during extract":  # the kill caught calls sent but not yet confirmed
        assert open_intents > 0, where
    finish(sandbox)
    assert sandbox.migrated() == sandbox.expected(), where


def test_sigkill_with_dropped_answers_still_ends_exactly_once(sandbox: Sandbox) -> None:
    sandbox.faults(latency=0.01, drop_write_rate=0.05, seed=12)
    process = start_migrate(sandbox)
    kill_when(process, lambda: posts(sandbox, "/wishlists/user-collection-items/") >= 60)
    finish(sandbox)
    sandbox.faults(drop_write_rate=0.0)
    assert sandbox.commerce_log.summary()["faults"].get("response_lost", 0) > 0
    assert sandbox.migrated() == sandbox.expected()


def test_two_concurrent_migrations_the_second_exits_75_at_once(sandbox: Sandbox) -> None:
    # Slow enough answers (300 requests, about 2 s) that the first run is still going when the
    # second has started up and reached the lock.
    sandbox.faults(latency=0.1)
    first = start_migrate(sandbox)
    try:
        kill_point = lambda: posts(sandbox, "/wishlists/user-collections/") >= 1  # noqa: E731
        deadline = time.monotonic() + 30
        while not kill_point():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "collsync", "migrate", "-c", str(sandbox.config)],
            env={**os.environ, **ENV},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 75, second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert time.monotonic() - started < 10
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert sandbox.migrated() == sandbox.expected()


def deletes(sandbox: Sandbox) -> int:
    return sum(
        1
        for e in sandbox.commerce_log.entries
        if e.method == "DELETE" and e.path.startswith("/wishlists/user-collections/")
    )


MIRROR = ("sync", "--mirror", "--max-deletes", "100%")


def assert_no_delete_resent_blind(sandbox: Sandbox) -> None:
    """A DELETE sent again for the same collection has a read of Akinon before it."""
    last_delete: dict[str, int] = {}
    for n, entry in enumerate(sandbox.commerce_log.entries):
        if entry.method != "DELETE":
            continue
        if entry.path in last_delete:
            between = sandbox.commerce_log.entries[last_delete[entry.path] + 1 : n]
            assert any(
                e.method == "GET" and e.path.startswith("/wishlists/user-collections/")
                for e in between
            ), f"{entry.path} was deleted twice with no read between"
        last_delete[entry.path] = n


def mirror_scenario(sandbox: Sandbox) -> set[str]:
    """Migrate, then delete 20 collections from the store; the names that must stay."""
    done = collsync(sandbox, "migrate")
    assert done.returncode == 0, done.stderr
    doomed = [c["id"] for c in sandbox.seed.store.collections[:20]]
    store_call(sandbox, "delete", filter=[{"id": doomed}])
    return {c["name"] for c in sandbox.seed.store.collections[20:]}


@pytest.mark.parametrize("after", [1, 7, 15])
def test_sigkill_during_a_mirror_sync_then_rerun_deletes_exactly_what_is_gone(
    sandbox: Sandbox, after: int
) -> None:
    stay = mirror_scenario(sandbox)
    sandbox.faults(latency=0.03)
    process = subprocess.Popen(
        [sys.executable, "-m", "collsync", MIRROR[0], "-c", str(sandbox.config), *MIRROR[1:]],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    kill_when(process, lambda: deletes(sandbox) >= after)
    sandbox.faults(latency=0.0)
    rerun = collsync(sandbox, *MIRROR)
    assert rerun.returncode == 0, rerun.stderr
    assert set(sandbox.migrated()) == stay  # none deleted that should stay, none left to go
    assert_no_delete_resent_blind(sandbox)


def test_a_mirror_sync_with_lost_answers_reads_before_it_deletes_again(
    sandbox: Sandbox,
) -> None:
    stay = mirror_scenario(sandbox)
    sandbox.faults(drop_write_rate=0.4, seed=5)
    finish(sandbox, *MIRROR)
    sandbox.faults(drop_write_rate=0.0)
    assert sandbox.commerce_log.summary()["faults"].get("response_lost", 0) > 0
    assert set(sandbox.migrated()) == stay
    assert_no_delete_resent_blind(sandbox)
