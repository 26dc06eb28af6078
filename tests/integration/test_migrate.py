"""``collsync migrate`` against the sandbox over real HTTP: exactly once, and nothing lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main

from .conftest import Sandbox


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_migration_creates_each_collection_once_and_a_rerun_writes_nothing(
    sandbox: Sandbox,
) -> None:
    first = run("migrate", "-c", str(sandbox.config))
    assert first.exit_code == 0, first.output
    assert sandbox.migrated() == sandbox.expected()
    assert re.search(r"create\s+│\s+60\s+│\s+60\s+│", first.output), first.output
    assert "Verified 60 of 60 collections, 240 of 240 items" in first.output

    writes = sandbox.commerce_log.writes()
    second = run("migrate", "-c", str(sandbox.config))
    assert second.exit_code == 0, second.output
    assert sandbox.commerce_log.writes() == writes  # zero write requests
    assert sandbox.migrated() == sandbox.expected()


def test_akinon_is_read_back_while_the_store_is_read(sandbox: Sandbox) -> None:
    sandbox.store_app.state.sandbox.injector.faults.update({"latency": 0.05})
    sandbox.faults(latency=0.05)
    result = run("migrate", "-c", str(sandbox.config), "--dry-run")
    assert result.exit_code == 0, result.output
    store_done = max(e.at for e in sandbox.store_log.entries)
    pages = [e.at for e in sandbox.commerce_log.entries if e.method == "GET"]
    # the read-back's round trips overlap the store's instead of following them
    assert min(pages) < store_done


def test_a_refused_akinon_login_ends_the_run_in_one_line(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AKINON_PASSWORD", "not-the-password")
    result = CliRunner().invoke(main, ["migrate", "-c", str(sandbox.config)])
    assert result.exit_code == 1
    assert "error: akinon POST /users/login/: login as" in result.output
    assert "Traceback" not in result.output
    assert sandbox.commerce_log.writes() == 0


def test_dry_run_plans_without_writing(sandbox: Sandbox) -> None:
    result = run("migrate", "-c", str(sandbox.config), "--dry-run")
    assert result.exit_code == 0, result.output
    assert sandbox.commerce_log.writes() == 0
    assert "What `collsync migrate` would change, and nothing else." in result.output
    assert "Plan: 60 to create, 0 to recreate, 0 to update, 0 to delete." in result.output


def test_filters_and_limit_select_collections(sandbox: Sandbox) -> None:
    wanted = sandbox.seed.store.collections[:2]
    result = run(
        "migrate", "-c", str(sandbox.config), *[a for c in wanted for a in ("--slug", c["slug"])]
    )
    assert result.exit_code == 0, result.output
    assert set(sandbox.migrated()) == {c["name"] for c in wanted}
    result = run("migrate", "-c", str(sandbox.config), "--limit", "5")
    assert result.exit_code == 0, result.output
    assert len(sandbox.migrated()) == 2 + 3  # the first two were migrated already


def test_status_and_failures_report_the_state(sandbox: Sandbox) -> None:
    run("migrate", "-c", str(sandbox.config))
    result = run("status", "-c", str(sandbox.config), "--format", "json")
    data = json.loads(result.output)
    assert data["map"]["collections"] == 60
    assert data["runs"][0]["status"] == "done"
    assert data["open_intents"] == 0
    assert run("failures", "-c", str(sandbox.config)).output.strip() == "no open failures"


def test_state_path_is_created_where_configured(sandbox: Sandbox) -> None:
    run("migrate", "-c", str(sandbox.config), "--limit", "1")
    assert Path(sandbox.tmp / "state.db").exists()
