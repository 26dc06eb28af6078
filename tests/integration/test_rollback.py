"""``collsync rollback``: delete what collsync created, all or one run's, and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from typing import Any

from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD
from collsync.target import AkinonClient

from .conftest import ENV, Sandbox


def cli(*args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(main, list(args), **kwargs)


def runs(sandbox: Sandbox) -> list[dict[str, Any]]:
    status = cli("status", "-c", str(sandbox.config), "--format", "json")
    found: list[dict[str, Any]] = json.loads(status.stdout)["runs"]
    return found


def made_by_hand(sandbox: Sandbox, name: str) -> int:
    async def create() -> int:
        async with AkinonClient(
            sandbox.commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD
        ) as client:
            return (await client.create_collection(name, "public")).pk

    return asyncio.run(create())


def test_rollback_of_one_run_deletes_what_it_created_and_migrate_brings_it_back(
    sandbox: Sandbox,
) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config, "--limit", "5").exit_code == 0
    first = set(sandbox.migrated())
    assert cli("migrate", "-c", config).exit_code == 0
    first_run = runs(sandbox)[-1]["id"]
    mark = len(sandbox.commerce_log.entries)
    preview = cli(
        "rollback", "-c", config, "--run", str(first_run), "--dry-run", "--format", "json"
    )
    assert preview.exit_code == 0, preview.output
    report = json.loads(preview.stdout)
    assert report["mode"] == f"rollback --run {first_run}"
    assert {c["name"] for c in report["changes"]} == first
    assert {(c["action"], c["origin"]) for c in report["changes"]} == {("delete", "rollback")}
    assert len(sandbox.commerce_log.entries) == mark or all(
        e.method == "GET" or e.path.startswith("/users/")
        for e in sandbox.commerce_log.entries[mark:]
    )

    done = cli("rollback", "-c", config, "--run", str(first_run), "--yes")
    assert done.exit_code == 0, done.output
    assert set(sandbox.migrated()) == set(sandbox.expected()) - first
    deleted = [e for e in sandbox.commerce_log.entries[mark:] if e.method == "DELETE"]
    assert len(deleted) == 5  # one DELETE each, nothing else written

    assert cli("migrate", "-c", config).exit_code == 0
    assert sandbox.migrated() == sandbox.expected()


def test_rollback_leaves_a_collection_made_by_hand_alone(sandbox: Sandbox) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    made_by_hand(sandbox, "Elle yapıldı")
    done = cli("rollback", "-c", config, "--yes")
    assert done.exit_code == 0, done.output
    assert set(sandbox.migrated()) == {"Elle yapıldı"}
    after = cli("rollback", "-c", config, "--dry-run", "--format", "json")
    assert json.loads(after.stdout)["changes"] == []
    status = json.loads(cli("status", "-c", config, "--format", "json").stdout)
    assert status["map"]["collections"] == 0


def test_rollback_asks_first_and_refuses_to_guess_without_a_terminal(sandbox: Sandbox) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config, "--limit", "3").exit_code == 0
    writes = sandbox.commerce_log.writes()
    refused = cli("rollback", "-c", config)  # CliRunner's stdin is not a terminal
    assert refused.exit_code == 2
    assert "--yes" in refused.output
    assert sandbox.commerce_log.writes() == writes
    assert len(sandbox.migrated()) == 3


def test_on_a_terminal_rollback_shows_the_plan_and_deletes_only_after_a_yes(
    sandbox: Sandbox,
) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config, "--limit", "2").exit_code == 0
    names = set(sandbox.migrated())

    def answer(reply: str) -> str:
        """Run `collsync rollback` on a pseudo-terminal and answer its question."""
        main_fd, child_fd = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "collsync", "rollback", "-c", config, "--log-level", "error"],
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            env={**os.environ, **ENV, "COLUMNS": "200"},
        )
        os.close(child_fd)
        seen = b""
        deadline = time.monotonic() + 60
        while b"[y/N]" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([main_fd], [], [], 1.0)
            if ready:
                seen += os.read(main_fd, 4096)
        os.write(main_fd, reply.encode() + b"\n")
        with contextlib.suppress(OSError):  # the child closing its side ends the reading
            while chunk := os.read(main_fd, 4096):
                seen += chunk
        process.wait(timeout=60)
        os.close(main_fd)
        return seen.decode(errors="replace")

    said = answer("n")
    assert "Plan: 0 to create, 0 to recreate, 0 to update, 2 to delete." in said
    assert "nothing deleted" in said
    assert set(sandbox.migrated()) == names
    said = answer("y")
    assert "delete" in said
    assert set(sandbox.migrated()) == set()


def test_a_run_that_does_not_exist_is_a_usage_error(sandbox: Sandbox) -> None:
    assert cli("migrate", "-c", str(sandbox.config), "--limit", "1").exit_code == 0
    result = cli("rollback", "-c", str(sandbox.config), "--run", "999", "--dry-run")
    assert result.exit_code == 2
    assert "--run 999: no such run" in result.output
