"""What a migration logs when nobody watches (cron, a pod): progress lines and real events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from collsync.sandbox.data import SeedSpec

from .conftest import ENV, Sandbox, make_sandbox

# What a person or a collector wants at info: progress, the run's shape, and what happened.
REAL_EVENTS = {
    "collsync.progress",
    "collsync.state.bound",
    "collsync.target.logged_in",
    "collsync.extract.done",
    "collsync.run.read_back",
    "collsync.verify.done",
    "collsync.run.finished",
}


@pytest.fixture
def large_store(tmp_path: Path) -> Iterator[Sandbox]:
    yield from make_sandbox(
        tmp_path, SeedSpec(collections=3000, products=400, items_per_collection=1, seed=11)
    )


def test_a_3000_collection_migration_logs_progress_not_each_collection(
    large_store: Sandbox,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "collsync", "migrate", "-c", str(large_store.config), "--json-logs"],
        env={**os.environ, **ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,  # no terminal, as under cron
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(events) < 100, Counter(e["event"] for e in events)
    info = [e for e in events if e["level"] == "info"]
    assert not [e for e in info if e["event"] not in REAL_EVENTS]
    loaded = [e for e in info if e["event"] == "collsync.progress" and e["stage"] == "load"]
    assert loaded[-1]["done"] == loaded[-1]["total"] == 3000  # the stage's end is a line
    finished = next(e for e in events if e["event"] == "collsync.run.finished")
    assert finished["counts"]["create"] == 3000
