"""``collsync sync`` as a cron job against the sandbox over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from collsync.cli import main
from collsync.report.render import sync_summary_schema
from collsync.sandbox import AKINON_EMAIL
from collsync.sandbox.data import SeedSpec
from collsync.state import State

from .conftest import ENV, Sandbox, make_sandbox, store_call


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sync(sandbox: Sandbox, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["sync", "-c", str(sandbox.config), "--summary-json", *args])
    line = result.stdout.strip().splitlines()[-1]
    summary = json.loads(line)
    jsonschema.validate(summary, sync_summary_schema())
    return result.exit_code, summary


def with_sync_settings(sandbox: Sandbox, **settings: str) -> None:
    lines = "\n".join(f'{k} = "{v}"' for k, v in settings.items())
    sandbox.write_config(f"\n[sync]\n{lines}\n")


def test_new_collections_appear_after_an_incremental_sync(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    store_call(
        sandbox,
        "create",
        data=[
            {"name": "Yeni Gelen 1", "slug": "yeni-gelen-1"},
            {"name": "Yeni Gelen 2", "slug": "yeni-gelen-2"},
        ],
    )
    code, summary = sync(sandbox)
    assert code == 0
    assert summary["mode"] == "incremental"
    assert summary["counts"]["create"] == 2
    assert summary["planned"]["create"] == 2
    assert summary["counts"]["staged"] < 60  # only the window since the watermark was read
    assert {"Yeni Gelen 1", "Yeni Gelen 2"} <= set(sandbox.migrated())
    code, summary = sync(sandbox)  # nothing new: nothing written
    assert (code, summary["counts"].get("create", 0)) == (0, 0)


def test_renames_and_item_changes_come_with_a_reconcile(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    old = sandbox.seed.store.collections[3]
    store_call(
        sandbox, "update", data=[{"id": old["id"], "name": "Adı Değişti", "slug": old["slug"]}]
    )
    products = sandbox.store_app.state.sandbox.data.products
    removed = next(p for p in products if old["id"] in p["collections"])
    removed["collections"].remove(old["id"])
    added = next(
        p
        for p in products
        if old["id"] not in p["collections"] and p["sku"] in dict(sandbox.seed.sku_map)
    )
    added["collections"].append(old["id"])

    code, summary = sync(sandbox)
    assert (code, summary["mode"]) == (0, "incremental")
    assert "Adı Değişti" not in sandbox.migrated()  # an old collection: not in the window

    code, summary = sync(sandbox, "--full")
    assert (code, summary["mode"]) == (0, "full")
    after = sandbox.migrated()["Adı Değişti"]
    pks = dict(sandbox.seed.sku_map)
    assert pks[added["sku"]] in after["items"]
    assert pks[removed["sku"]] not in after["items"]  # collsync added it: it goes


def test_a_reconcile_runs_when_reconcile_every_has_passed(sandbox: Sandbox) -> None:
    with_sync_settings(sandbox, reconcile_every="1s")
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    time.sleep(1.1)
    assert sync(sandbox)[1]["mode"] == "full"
    assert sync(sandbox)[1]["mode"] == "incremental"


def test_mirror_deletes_what_the_store_no_longer_has(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    gone = sandbox.seed.store.collections[7]
    store_call(sandbox, "delete", filter=[{"id": [gone["id"]]}])
    code, summary = sync(sandbox, "--mirror")
    assert code == 0
    assert summary["counts"]["delete"] == summary["planned"]["delete"] == 1
    assert gone["name"] not in sandbox.migrated()
    assert len(sandbox.migrated()) == 59


def test_a_mass_disappearance_deletes_nothing_and_exits_1(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    doomed = [c["id"] for c in sandbox.seed.store.collections[:20]]
    store_call(sandbox, "delete", filter=[{"id": doomed}])
    writes = sandbox.commerce_log.writes()
    code, summary = sync(sandbox, "--mirror", "--max-deletes", "5")
    assert code == 1
    assert summary["status"] == "error"
    assert "20 deletions; the guard allows 5 (--max-deletes 5 of 60 mapped)" in summary["error"]
    assert sandbox.seed.store.collections[0]["slug"] in summary["error"]
    assert "nothing was changed" in summary["error"]
    assert sandbox.commerce_log.writes() == writes
    assert len(sandbox.migrated()) == 60


def test_an_empty_store_is_a_store_fault_not_delete_everything(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    store_call(
        sandbox, "delete", filter=[{"id": [c["id"] for c in sandbox.seed.store.collections]}]
    )
    code, summary = sync(sandbox, "--mirror", "--max-deletes", "100%")
    assert code == 1
    assert "treated as a store fault" in summary["error"]
    assert len(sandbox.migrated()) == 60


def fail_then_move_on(sandbox: Sandbox, name: str, times: int) -> None:
    """Create ``name`` so that its create fails, then a later collection past it."""
    sandbox.faults(fail_containing={name: times})
    store_call(sandbox, "create", data=[{"name": name, "slug": name.lower()}])
    time.sleep(1.1)  # createdon has whole seconds: the next one is strictly later
    store_call(
        sandbox,
        "create",
        data=[{"name": f"Ardından {time.time()}", "slug": f"ardindan-{time.time_ns()}"}],
    )


def test_a_failed_record_is_retried_by_the_next_sync(sandbox: Sandbox) -> None:
    # no overlap: the window moves past the failed record, only the retry brings it back
    with_sync_settings(sandbox, retry_backoff="0s", overlap="0s")
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    fail_then_move_on(sandbox, "Kirilgan", 3)  # every try of this create fails, 3 times
    code, summary = sync(sandbox)
    assert code == 3
    assert summary["open_failures"] == 1
    assert "Kirilgan" not in sandbox.migrated()
    failures = json.loads(run("failures", "-c", str(sandbox.config), "--format", "json").stdout)
    assert [f["stage"] for f in failures] == ["load"]
    code, summary = sync(sandbox)
    assert code == 0, summary
    assert summary["counts"]["retried"] == 1
    assert sandbox.migrated()["Kirilgan"]["status"] == "public"
    assert run("failures", "-c", str(sandbox.config)).stdout.strip() == "no open failures"


def test_a_record_failing_too_often_is_parked_until_retry(sandbox: Sandbox) -> None:
    with_sync_settings(sandbox, retry_backoff="0s", retry_limit="1", overlap="0s")
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    fail_then_move_on(sandbox, "Park", 3)
    assert sync(sandbox)[0] == 3
    code, summary = sync(sandbox)
    assert code == 0
    assert summary["counts"].get("retried", 0) == 0  # parked: left alone
    assert "parked" in run("failures", "-c", str(sandbox.config)).stdout
    run("failures", "-c", str(sandbox.config), "--retry")
    code, summary = sync(sandbox)
    assert code == 0, summary
    assert summary["counts"]["retried"] == 1
    assert "Park" in sandbox.migrated()


def test_the_metrics_file_parses_and_tells_the_truth(sandbox: Sandbox, tmp_path: Path) -> None:
    metrics, summary_file = tmp_path / "collsync.prom", tmp_path / "last-sync.json"
    with_sync_settings(sandbox, metrics_file=str(metrics), summary_file=str(summary_file))
    code, _ = sync(sandbox)
    assert code == 0
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("collsync_last_run_exit_code", ())] == 0
    assert samples[("collsync_last_run_operations", (("action", "create"),))] == 60
    assert samples[("collsync_open_failures", ())] == 0
    assert samples[("collsync_last_success_timestamp_seconds", ())] > time.time() - 60
    success = samples[("collsync_last_success_timestamp_seconds", ())]
    jsonschema.validate(json.loads(summary_file.read_text()), sync_summary_schema())
    # a failing run updates the last run, not the last success
    sandbox.commerce_app.state.sandbox.injector.faults.update({"error_rate": 1.0})
    code, _summary = sync(sandbox)
    assert code == 1
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(metrics.read_text())
        for s in f.samples
    }
    assert samples[("collsync_last_run_exit_code", ())] == 1
    assert samples[("collsync_last_success_timestamp_seconds", ())] == success
    assert json.loads(summary_file.read_text())["status"] == "error"


def test_the_metrics_file_is_readable_by_the_collector_whatever_user_it_runs_as(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    metrics = tmp_path / "textfile" / "collsync.prom"
    with_sync_settings(sandbox, metrics_file=str(metrics))
    previous = os.umask(0o022)
    try:
        assert sync(sandbox)[0] == 0
        assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
        os.umask(0o027)  # a stricter umask is the operator's choice, and is kept
        assert sync(sandbox)[0] == 0
        assert stat.S_IMODE(metrics.stat().st_mode) == 0o640
    finally:
        os.umask(previous)
    assert [p.name for p in metrics.parent.iterdir()] == ["collsync.prom"]  # no temporary left


@pytest.fixture
def unsold(tmp_path: Path) -> Iterator[Sandbox]:
    """A store whose collections hold products Akinon does not sell."""
    yield from make_sandbox(
        tmp_path,
        SeedSpec(collections=12, products=30, items_per_collection=4, seed=8, unmapped_products=2),
    )


def test_acknowledged_failures_no_longer_fail_the_sync_but_a_new_one_does(
    unsold: Sandbox, tmp_path: Path
) -> None:
    metrics = tmp_path / "collsync.prom"
    with_sync_settings(unsold, retry_backoff="0s", overlap="0s", metrics_file=str(metrics))
    assert run("migrate", "-c", str(unsold.config)).exit_code == 3
    code, summary = sync(unsold)
    assert code == 3  # retried, and failed again
    unsold_count = summary["open_failures"]
    assert unsold_count > 0

    acked = run(
        "failures",
        "-c",
        str(unsold.config),
        "--ack-all",
        "unresolved_product",
        "--reason",
        "not sold on Akinon",
    )
    assert f"{unsold_count} failure(s) acknowledged" in acked.output
    listed = json.loads(run("failures", "-c", str(unsold.config), "--format", "json").stdout)
    assert len(listed) == unsold_count  # still listed, with who accepted them and why
    assert {f["ack_reason"] for f in listed} == {"not sold on Akinon"}
    for args in ((), ("--full",)):
        code, summary = sync(unsold, *args)
        assert (code, summary["open_failures"]) == (0, 0), args
    assert (
        f"Open failures: 0 (and {unsold_count} acknowledged)"
        in run("status", "-c", str(unsold.config)).stdout
    )
    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(metrics.read_text())
        for s in f.samples
    }
    assert samples["collsync_open_failures"] == 0
    assert samples["collsync_acknowledged_failures"] == unsold_count

    fail_then_move_on(unsold, "Yeni Sorun", 3)
    code, summary = sync(unsold)
    assert (code, summary["open_failures"]) == (3, 1)


def start_sync(sandbox: Sandbox) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collsync",
            "sync",
            "-c",
            str(sandbox.config),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(ready: Any, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_overlapping_syncs_one_exits_75_and_a_killed_holder_frees_the_lock_at_once(
    sandbox: Sandbox,
) -> None:
    # Slow enough that the first sync is still running when the second has started (a second
    # Python start-up on a loaded machine takes about a second); it is killed, not waited for.
    sandbox.faults(latency=0.1)
    first = start_sync(sandbox)
    wait_for(
        lambda: sandbox.commerce_log.counts().get("POST /wishlists/user-collections/", 0) >= 2,
        first,
    )
    second = subprocess.run(
        [sys.executable, "-m", "collsync", "sync", "-c", str(sandbox.config)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 75
    assert len(second.stderr.strip().splitlines()) == 1  # one line, for cron mail
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    sandbox.faults(latency=0.0)
    third = subprocess.run(
        [sys.executable, "-m", "collsync", "sync", "-c", str(sandbox.config)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert third.returncode == 0, third.stderr  # the kernel freed the killed run's lock
    assert sandbox.migrated() == sandbox.expected()


def test_sigterm_stops_cleanly_and_the_next_run_finishes(sandbox: Sandbox) -> None:
    sandbox.faults(latency=0.02)
    process = start_sync(sandbox)
    wait_for(
        lambda: (
            sandbox.commerce_log.counts().get("POST /wishlists/user-collection-items/", 0) >= 30
        ),
        process,
    )
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "interrupted, safe to re-run" in err
    assert "Traceback" not in err
    state = State.open(sandbox.tmp / "state.db")
    assert state.runs.recent(1)[0].status == "interrupted"
    assert state.journal.open_intents() == []  # in-flight calls finished and were confirmed
    state.close()
    sandbox.faults(latency=0.0)
    result = run("sync", "-c", str(sandbox.config))
    assert result.exit_code == 0, result.output
    assert sandbox.migrated() == sandbox.expected()
    assert all(c.owner == AKINON_EMAIL or c.owner for c in sandbox.akinon.collections.values())
