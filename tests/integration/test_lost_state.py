"""The state is bound to its services, and a lost or replaced state never duplicates anything.

Over real HTTP against the sandbox: after a migration the state is deleted, truncated, copied
without its write-ahead log after a SIGKILL, or pointed at another account or store. No run
creates a duplicate or deletes anything; each says what to do; ``--adopt-existing`` recovers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox import (
    OTHER_EMAIL,
    OTHER_PASSWORD,
    SeedSpec,
    create_store_app,
    generate,
    serve_in_thread,
)

from .conftest import ENV, Sandbox

COLLECTIONS = "/wishlists/user-collections/"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def creates(sandbox: Sandbox) -> int:
    return sum(
        1 for e in sandbox.commerce_log.entries if e.method == "POST" and e.path == COLLECTIONS
    )


def deletes(sandbox: Sandbox) -> int:
    return sum(1 for e in sandbox.commerce_log.entries if e.method == "DELETE")


def recovered(sandbox: Sandbox) -> None:
    """--adopt-existing maps what is there, creates only what is not, leaves nothing to do."""
    before, there = creates(sandbox), len(sandbox.migrated())
    result = cli("migrate", "-c", str(sandbox.config), "--adopt-existing")
    assert result.exit_code == 0, result.output
    assert sandbox.migrated() == sandbox.expected()  # each once, every item there
    assert creates(sandbox) - before == len(sandbox.expected()) - there
    assert cli("diff", "-c", str(sandbox.config), "--exit-code").exit_code == 0


@pytest.mark.parametrize("loss", ["deleted", "truncated"])
def test_a_lost_state_stops_before_creating_anything_again(sandbox: Sandbox, loss: str) -> None:
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    state = sandbox.tmp / "state.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    if loss == "deleted":
        state.unlink()
    else:
        state.write_bytes(b"")
    before = (creates(sandbox), deletes(sandbox))
    result = cli("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 1
    assert "this state maps no collection, and the Akinon account already holds 60" in result.output
    assert "--adopt-existing" in result.output
    assert "Traceback" not in result.output
    assert (creates(sandbox), deletes(sandbox)) == before
    preview = cli("diff", "-c", str(sandbox.config), "--format", "json")
    assert '"stop": "this state maps no collection' in preview.stdout
    recovered(sandbox)


def test_a_state_copied_without_its_log_after_a_kill_creates_nothing_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults(latency=0.02)
    process = subprocess.Popen(
        [sys.executable, "-m", "collsync", "migrate", "-c", str(sandbox.config)],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while creates(sandbox) < 30:
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    sandbox.faults(latency=0.0)
    copy = tmp_path / "copied" / "state.db"
    copy.parent.mkdir()
    shutil.copy(sandbox.tmp / "state.db", copy)  # the .db alone: its -wal is left behind
    sandbox.config.write_text(
        sandbox.config.read_text(encoding="utf-8").replace(
            str(sandbox.tmp / "state.db"), str(copy)
        ),
        encoding="utf-8",
    )
    before = creates(sandbox)
    result = cli("migrate", "-c", str(sandbox.config))
    assert "Traceback" not in result.output
    sandbox.migrated()  # raises if any name exists twice
    made = creates(sandbox) - before
    assert made <= 60 - 30  # only what the killed run had not created
    recovered(sandbox)


def test_another_account_is_refused_naming_both_then_the_right_one_runs(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    before = (creates(sandbox), deletes(sandbox))
    other = {**ENV, "AKINON_EMAIL": OTHER_EMAIL, "AKINON_PASSWORD": OTHER_PASSWORD}
    for command in (("migrate",), ("sync", "--full", "--mirror"), ("rollback", "--yes")):
        result = cli(command[0], "-c", str(sandbox.config), *command[1:], env=other)
        assert result.exit_code == 2, result.output
        assert f"account migrator@example.com (this state) vs {OTHER_EMAIL} (this config)" in (
            result.output
        )
    assert (creates(sandbox), deletes(sandbox)) == before
    assert cli("sync", "-c", str(sandbox.config), "--full").exit_code == 0  # and back: all well
    assert (creates(sandbox), deletes(sandbox)) == before


def test_another_store_is_refused_and_nothing_is_deleted(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    elsewhere = generate(SeedSpec(collections=8, products=20, items_per_collection=2, seed=99))
    with serve_in_thread(create_store_app(elsewhere.store)) as other_store:
        sandbox.config.write_text(
            sandbox.config.read_text(encoding="utf-8").replace(sandbox.store_url, other_store),
            encoding="utf-8",
        )
        result = cli("sync", "-c", str(sandbox.config), "--mirror", "--max-deletes", "100%")
    assert result.exit_code == 2, result.output
    assert f"store {sandbox.store_url}/ (this state) vs {other_store}/ (this config)" in (
        result.output
    )
    assert deletes(sandbox) == 0
    assert len(sandbox.migrated()) == 60


def test_a_real_move_is_declared_with_rebind_and_recorded(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config)).exit_code == 0
    moved = sandbox.commerce_url.replace("127.0.0.1", "localhost")
    sandbox.config.write_text(
        sandbox.config.read_text(encoding="utf-8").replace(sandbox.commerce_url, moved),
        encoding="utf-8",
    )
    assert cli("sync", "-c", str(sandbox.config)).exit_code == 2
    result = cli("sync", "-c", str(sandbox.config), "--rebind")
    assert result.exit_code == 0, result.output
    runs = cli("status", "-c", str(sandbox.config), "--format", "json").stdout
    assert '"command": "rebind"' in runs
    assert cli("sync", "-c", str(sandbox.config)).exit_code == 0


def test_a_new_store_collection_named_like_a_hand_made_one_is_a_conflict_only_for_itself(
    sandbox: Sandbox,
) -> None:
    """In a state that maps collections already, a clash costs the one record, not the run."""
    from .test_rollback import made_by_hand

    config = str(sandbox.config)
    assert cli("migrate", "-c", config, "--limit", "10").exit_code == 0
    clash = sandbox.seed.store.collections[-1]
    hand = made_by_hand(sandbox, clash["name"])
    result = cli("migrate", "-c", config)
    assert result.exit_code == 3, result.output
    assert sandbox.migrated().keys() == sandbox.expected().keys()  # the rest went on
    failures = cli("failures", "-c", config, "--format", "json").stdout
    assert "exists_unmapped" in failures
    assert f"pk {hand}" in failures
    assert cli("migrate", "-c", config, "--adopt-existing").exit_code == 0
    assert sandbox.migrated() == sandbox.expected()
    assert cli("diff", "-c", config, "--exit-code").exit_code == 0
