"""The plan a person reviews is the plan that runs: for every mode, over real HTTP.

Both sides change (store renames, a new collection, a membership removed and one added, a
collection deleted from the store; on Akinon a rename, a deletion and an item added by hand).
Then the preview of a mode is taken, the mode runs, and the sandbox's request log must hold
exactly the writes the preview listed; afterwards the preview of that mode is empty.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD
from collsync.target import AkinonClient

from .conftest import Sandbox, store_call

COLLECTIONS = "/wishlists/user-collections/"
ITEMS = "/wishlists/user-collection-items/"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def wide(*args: str) -> str:
    """A command's table on a terminal wide enough for no cell to wrap."""
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"}, catch_exceptions=False)
    return result.stdout


def change_both_sides(sandbox: Sandbox) -> None:
    collections = sandbox.seed.store.collections
    products = sandbox.store_app.state.sandbox.data.products
    pks = dict(sandbox.seed.sku_map)
    store_call(
        sandbox,
        "update",
        data=[
            {"id": c["id"], "name": c["name"] + " (yeni)", "slug": c["slug"]}
            for c in collections[:2]
        ],
    )
    store_call(sandbox, "create", data=[{"name": "Yeni Gelen", "slug": "yeni-gelen"}])
    held = sandbox.store_app.state.sandbox.data.collections
    new = next(c for c in held if c["slug"] == "yeni-gelen")
    mapped = [p for p in products if p["sku"] in pks]
    mapped[0]["collections"].append(new["id"])  # the new collection has an item
    shrunk = collections[3]
    next(p for p in products if shrunk["id"] in p["collections"])["collections"].remove(
        shrunk["id"]
    )
    grown = collections[4]
    next(p for p in mapped if grown["id"] not in p["collections"])["collections"].append(
        grown["id"]
    )
    store_call(sandbox, "delete", filter=[{"id": [collections[5]["id"]]}])

    async def on_akinon() -> None:
        def pk_of(name: str) -> int:
            return next(c.pk for c in sandbox.akinon.collections.values() if c.name == name)

        async with AkinonClient(
            sandbox.commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD
        ) as client:
            await client.update_collection(pk_of(collections[6]["name"]), name="Elle değişti")
            await client.delete_collection(pk_of(collections[7]["name"]))
            target = sandbox.akinon.collections[pk_of(collections[8]["name"])]
            stranger = next(pk for pk in sandbox.akinon.products if pk not in target.items)
            await client.add_item(target.pk, stranger, "elle eklendi")

    asyncio.run(on_akinon())


def planned_writes(report: dict[str, Any]) -> Counter[tuple[str, str]]:
    """The requests that carry out a report's changes, by method and resource."""
    writes: Counter[tuple[str, str]] = Counter()
    for change in report["changes"]:
        pk = change["akinon_pk"]
        if change["action"] in ("create", "recreate"):
            writes["POST", COLLECTIONS] += 1
        elif change["action"] == "delete":
            writes["DELETE", f"{COLLECTIONS}{pk}/"] += 1
        elif change["fields"]:
            writes["PATCH", f"{COLLECTIONS}{pk}/"] += 1
        writes["POST", ITEMS] += len(change["items_added"])
        writes["DELETE", ITEMS] += len(change["items_removed"])
    return writes


def sent_writes(sandbox: Sandbox, since: int) -> Counter[tuple[str, str]]:
    writes: Counter[tuple[str, str]] = Counter()
    for entry in sandbox.commerce_log.entries[since:]:
        if entry.method in ("GET", "HEAD") or entry.path.startswith("/users/"):
            continue
        path = ITEMS if entry.path.startswith(ITEMS) else entry.path
        writes[entry.method, path] += 1
    return writes


def preview(*args: str) -> dict[str, Any]:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return report


PREVIEWS = {
    "migrate": ("migrate", "--dry-run"),
    "sync": ("sync", "--dry-run"),
    "sync --full": ("diff",),
    "sync --full --mirror": ("diff", "--mirror"),
    "rollback": ("rollback", "--dry-run"),
}
RUNS = {
    "migrate": ("migrate",),
    "sync": ("sync",),
    "sync --full": ("sync", "--full"),
    "sync --full --mirror": ("sync", "--full", "--mirror"),
    "rollback": ("rollback", "--yes"),
}


@pytest.mark.parametrize("mode", [*RUNS, "apply"])
def test_the_writes_sent_are_exactly_the_ones_the_preview_listed(
    sandbox: Sandbox, mode: str, tmp_path: Any
) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    change_both_sides(sandbox)
    if mode == "apply":
        plan = tmp_path / "plan.json"
        report = preview("diff", "-c", config, "--save-plan", str(plan))
        mark = len(sandbox.commerce_log.entries)
        result = cli("apply", "-c", config, str(plan))
    else:
        report = preview(*PREVIEWS[mode][:1], "-c", config, *PREVIEWS[mode][1:])
        assert report["mode"] == (mode if mode != "rollback" else "rollback")
        mark = len(sandbox.commerce_log.entries)
        result = cli(*RUNS[mode][:1], "-c", config, *RUNS[mode][1:])
    assert result.exit_code == 0, result.output
    expected = planned_writes(report)
    assert sum(expected.values()) > 0, f"{mode}: the scenario changes nothing"
    assert sent_writes(sandbox, mark) == expected
    # the run's summary counts its plan, and what it did, with the diff's names
    status = json.loads(cli("status", "-c", config, "--format", "json").stdout)
    summary = status["runs"][0]["summary"]
    for action in ("create", "recreate", "update", "delete", "items_added", "items_removed"):
        wanted = report["summary"][action]
        assert summary["planned"].get(action, 0) == wanted, (mode, action)
        assert summary["counts"].get(action, 0) == wanted, (mode, action)
    assert summary["verified"]["collections"] == summary["verified"]["of_collections"] > 0
    again = (
        preview("diff", "-c", config)
        if mode == "apply"
        else preview(*PREVIEWS[mode][:1], "-c", config, *PREVIEWS[mode][1:])
    )
    assert again["changes"] == [], again["changes"]


def test_each_mode_plans_what_its_help_says(sandbox: Sandbox) -> None:
    """migrate and sync --full leave someone else's item and a collection the store dropped;
    --mirror removes both, naming them; rollback deletes only what collsync created."""
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    change_both_sides(sandbox)
    full, mirror = preview("diff", "-c", config), preview("diff", "-c", config, "--mirror")
    gone = sandbox.seed.store.collections[5]
    assert full["summary"]["delete"] == 0
    [deleted] = [c for c in mirror["changes"] if c["action"] == "delete"]
    assert (deleted["source_id"], deleted["source_slug"]) == (gone["id"], gone["slug"])
    assert deleted["akinon_pk"] is not None
    assert deleted["item_count"] == len(
        next(c for c in sandbox.akinon.collections.values() if c.name == gone["name"]).items
    )
    assert mirror["guard"] == {
        "text": "1 deletion; the guard allows 10 (--max-deletes 10 of 60 mapped)",
        "refused": False,
    }
    assert mirror["summary"]["items_removed"] == full["summary"]["items_removed"] + 1
    table = wide("diff", "-c", config, "--mirror")
    assert re.search(r"delete +1 +1 source", table), table
    assert f"delete the collection and its {deleted['item_count']} items" in table, table


def test_a_guard_that_refuses_is_shown_in_the_preview_and_stops_the_run(
    sandbox: Sandbox,
) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    doomed = [c["id"] for c in sandbox.seed.store.collections[:3]]
    store_call(sandbox, "delete", filter=[{"id": doomed}])
    report = preview("diff", "-c", config, "--mirror", "--max-deletes", "2")
    assert report["guard"] == {
        "text": "3 deletions; the guard allows 2 (--max-deletes 2 of 60 mapped)",
        "refused": True,
    }
    text = wide("diff", "-c", config, "--mirror", "--max-deletes", "2")
    assert "the run would stop before any write and change nothing" in text
    mark = len(sandbox.commerce_log.entries)
    result = CliRunner().invoke(main, ["sync", "-c", config, "--mirror", "--max-deletes", "2"])
    assert result.exit_code == 1
    assert "3 deletions; the guard allows 2" in result.output
    assert sent_writes(sandbox, mark) == Counter()


def test_a_run_after_a_refused_mirror_reads_the_store_again(sandbox: Sandbox) -> None:
    """A refused run leaves its store read behind; the next run must not act on it."""
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    doomed = [c["id"] for c in sandbox.seed.store.collections[:3]]
    store_call(sandbox, "delete", filter=[{"id": doomed}])
    refused = CliRunner().invoke(main, ["sync", "-c", config, "--mirror", "--max-deletes", "2"])
    assert refused.exit_code == 1
    renamed = sandbox.seed.store.collections[10]
    store_call(
        sandbox,
        "update",
        data=[{"id": renamed["id"], "name": "Sonradan Değişti", "slug": renamed["slug"]}],
    )
    shown = preview("sync", "-c", config, "--full", "--dry-run")
    assert shown["summary"]["update"] == 1
    done = cli("sync", "-c", config, "--full")
    assert done.exit_code == 0, done.output
    assert "Sonradan Değişti" in sandbox.migrated()
    assert cli("diff", "-c", config, "--exit-code").exit_code == 0


def test_previews_are_not_runs_and_a_failed_run_records_its_exit_code(sandbox: Sandbox) -> None:
    config = str(sandbox.config)
    assert cli("migrate", "-c", config, "--limit", "2").exit_code == 0
    for args in (
        ("diff",),
        ("migrate", "--dry-run"),
        ("sync", "--dry-run"),
        ("rollback", "--dry-run"),
    ):
        assert cli(args[0], "-c", config, *args[1:]).exit_code == 0
    runs = json.loads(cli("status", "-c", config, "--format", "json").stdout)["runs"]
    assert [r["command"] for r in runs] == ["migrate"]
    store_call(sandbox, "delete", filter=[{"id": [sandbox.seed.store.collections[0]["id"]]}])
    refused = CliRunner().invoke(main, ["sync", "-c", config, "--mirror", "--max-deletes", "0"])
    assert refused.exit_code == 1
    last = json.loads(cli("status", "-c", config, "--format", "json").stdout)["runs"][0]
    assert (last["command"], last["status"], last["summary"]["exit_code"]) == ("sync", "failed", 1)
