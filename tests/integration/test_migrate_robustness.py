"""Bad records, overlapping runs, throttling and lost answers: still exactly once, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox import SeedSpec
from collsync.sandbox.data import BAD_MEMBERSHIPS

from .conftest import ENV, Sandbox, make_sandbox


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def broken_store(tmp_path: Path) -> Iterator[Sandbox]:
    yield from make_sandbox(
        tmp_path,
        SeedSpec(
            collections=20,
            products=30,
            items_per_collection=3,
            seed=5,
            malformed=True,
            unmapped_products=3,
        ),
    )


def test_malformed_records_are_named_and_every_good_one_migrates(broken_store: Sandbox) -> None:
    result = run("migrate", "-c", str(broken_store.config))
    assert result.exit_code == 3, result.output
    assert "see `collsync failures`" in result.output
    expected = {
        name: value
        for name, value in broken_store.expected().items()
        if name not in ("Bozuk Kimlik", "Bozuk Tarih", "Bozuk Metin \ud800") and len(name) <= 255
    }
    assert broken_store.migrated() == expected

    failures = json.loads(
        run("failures", "-c", str(broken_store.config), "--format", "json").output
    )
    by_kind: dict[str, list[str]] = {}
    for failure in failures:
        by_kind.setdefault(failure["kind"], []).append(failure["reason"])
    reasons = " | ".join(by_kind["invalid_record"])
    assert "name: Field required" in reasons  # missing name
    assert "at most 255 characters" in reasons  # name too long
    assert "not-a-guid" in reasons  # bad GUID
    assert "2019-13-45 25:61:00" in reasons  # bad date
    assert "name: text with an unpaired surrogate" in reasons  # "\ud800" in the name
    (bad_text,) = [f for f in failures if "unpaired surrogate" in f["reason"]]
    assert json.loads(bad_text["raw"])["name"] == "Bozuk Metin \ud800"  # its raw JSON, as sent
    assert len(by_kind["invalid_record"]) == 5
    unmapped = {p["sku"] for p in broken_store.seed.store.products} - dict(
        broken_store.seed.sku_map
    ).keys()
    named = " ".join(by_kind.get("unresolved_product", []))
    for sku in unmapped:
        if any(p["sku"] == sku and p["collections"] for p in broken_store.seed.store.products):
            assert sku in named
    # a product in good and bad collections at once: each bad entry is one failure, named, and
    # the product is still in every good collection (migrated() == expected() above)
    entries = sorted(
        json.loads(f["raw"])["entry"] for f in failures if f["kind"] == "invalid_membership"
    )
    assert entries == sorted(e if isinstance(e, str) else json.dumps(e) for e in BAD_MEMBERSHIPS)
    assert "its other collections are kept" in by_kind["invalid_membership"][0]
    assert f"{len(failures)} record(s) failed" in result.output  # the summary counts them all


HOLDS_THE_LOCK = """
import sys, time
from pathlib import Path
from collsync.state import run_lock
with run_lock(Path(sys.argv[1]), "migrate"):
    print("held", flush=True)
    time.sleep(30)
"""


def test_a_second_run_while_one_holds_the_state_exits_75(sandbox: Sandbox) -> None:
    # another process holds the lock: a child that is alive for the length of the test
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDS_THE_LOCK, str(sandbox.tmp / "state.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = CliRunner().invoke(main, ["migrate", "-c", str(sandbox.config)])
        assert result.exit_code == 75
        assert f"pid {holder.pid}" in result.output
        assert "collsync migrate" in result.output
        assert time.monotonic() - started < 5
        assert sandbox.store_log.summary()["total"] == 0  # it did nothing at all
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: the kernel released its lock, and the next run takes it at once
    result = run("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 0, result.output


def test_throttling_errors_and_session_expiry_still_end_exactly_once(sandbox: Sandbox) -> None:
    sandbox.faults(error_rate=0.1, throttle_rate=0.1, session_expiry=25, seed=9)
    codes = []
    for _ in range(3):
        result = run("migrate", "-c", str(sandbox.config))
        codes.append(result.exit_code)
        if result.exit_code == 0:
            break
    assert codes[-1] == 0, codes
    assert set(codes) <= {0, 3}
    sandbox.faults(error_rate=0.0, throttle_rate=0.0, session_expiry=None)
    assert sandbox.migrated() == sandbox.expected()
    assert sandbox.commerce_log.summary()["faults"]["error"] > 0


def test_lost_answers_are_adopted_not_duplicated(sandbox: Sandbox) -> None:
    sandbox.faults(drop_write_rate=0.05, seed=4)
    result = run("migrate", "-c", str(sandbox.config))
    assert result.exit_code in (0, 3), result.output
    if result.exit_code == 3:
        result = run("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 0, result.output
    assert sandbox.commerce_log.summary()["faults"]["response_lost"] > 0
    sandbox.faults(drop_write_rate=0.0)
    assert sandbox.migrated() == sandbox.expected()  # migrated() asserts no name twice


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def test_a_dry_run_names_what_will_not_carry_over_and_records_nothing(
    broken_store: Sandbox,
) -> None:
    result = run("migrate", "-c", str(broken_store.config), "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    kinds = {n["kind"] for n in report["not_carried"]}
    assert {"rejected_record", "unresolved_product"} <= kinds
    assert broken_store.commerce_log.writes() == 0
    listed = run("failures", "-c", str(broken_store.config), "--format", "json")
    assert json.loads(listed.output) == []  # a preview writes nothing to the state's failures


def test_the_summary_failed_count_is_what_failures_lists(broken_store: Sandbox) -> None:
    result = run("migrate", "-c", str(broken_store.config))
    assert result.exit_code == 3
    failures = json.loads(
        run("failures", "-c", str(broken_store.config), "--format", "json").output
    )
    status = json.loads(run("status", "-c", str(broken_store.config), "--format", "json").output)
    failed = status["runs"][0]["summary"]["failed"]
    assert failed == len(failures) > 0
    assert f"{failed} record(s) failed; see `collsync failures`" in result.output
