"""Drift and edge cases: re-creating what was deleted, adopting, rescans, --restart."""

from __future__ import annotations

import asyncio
import json

import httpx
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.config import load_config
from collsync.pipeline.load import Loader
from collsync.pipeline.models import Action, CollectionPlan, DesiredCollection, Operation, Origin
from collsync.pipeline.run import MigrateOptions, migrate
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD, STORE_API_KEY
from collsync.state import State
from collsync.target import AkinonClient

from .conftest import Sandbox


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def akinon_client(sandbox: Sandbox) -> AkinonClient:
    return AkinonClient(sandbox.commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD)


def one_migrated(sandbox: Sandbox) -> tuple[State, str, int]:
    """One collection migrated: the state, its source id and its Akinon pk."""
    assert run("migrate", "-c", str(sandbox.config), "--limit", "1").exit_code == 0
    state = State.open(load_config(sandbox.config).state.path)
    [(source_id, pk)] = state.db.conn.execute(
        "SELECT source_id, akinon_pk FROM collection_map"
    ).fetchall()
    return state, source_id, pk


def test_a_collection_deleted_on_akinon_is_recreated_as_drift(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    victim = next(c for c in sandbox.akinon.collections.values() if c.owner == AKINON_EMAIL)

    async def delete() -> None:
        async with akinon_client(sandbox) as client:
            await client.delete_collection(victim.pk)

    asyncio.run(delete())
    result = run("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 0, result.output
    assert "re-created" in result.output
    assert sandbox.migrated() == sandbox.expected()


def test_already_in_the_collection_is_success(sandbox: Sandbox) -> None:
    state, source_id, pk = one_migrated(sandbox)
    product_pk, (item_pk, _note) = next(iter(state.items_mapped(source_id).items()))
    state.db.conn.execute("DELETE FROM item_map")  # as if the confirmation had been lost
    desired = DesiredCollection(source_id, "s", "n", "public", (), "h")
    plan = CollectionPlan(
        desired,
        (
            Operation(
                Action.ADD_ITEM, source_id, Origin.SOURCE, akinon_pk=pk, product_pk=product_pk
            ),
        ),
    )

    async def add_again() -> bool:
        async with akinon_client(sandbox) as client:
            return await Loader(client, state, 99, AKINON_EMAIL).apply(plan)

    writes = sandbox.commerce_log.writes()
    assert asyncio.run(add_again()) is True
    assert sandbox.commerce_log.writes() == writes + 1  # one POST, answered "already in"
    assert state.items_mapped(source_id)[product_pk][0] == item_pk
    assert state.failures() == []
    state.close()


def test_a_store_that_grows_during_the_scan_is_rescanned(sandbox: Sandbox) -> None:
    sandbox.store_app.state.sandbox.injector.faults.update({"latency": 0.02})
    sandbox.config.write_text(
        sandbox.config.read_text().replace("page_size = 50", "page_size = 10")
    )
    config = load_config(sandbox.config)

    async def scenario() -> int:
        async def grow() -> None:
            def pages_read() -> int:
                return sandbox.store_log.counts().get("POST /api/v1/products/collections/get", 0)

            while pages_read() < 2:  # noqa: ASYNC110 - the sandbox's log lives in another thread
                await asyncio.sleep(0.005)
            async with httpx.AsyncClient(base_url=sandbox.store_url) as client:
                await client.post(
                    "/api/v1/products/collections/create",
                    json={
                        "authentication": {"apiKey": STORE_API_KEY},
                        "data": [{"name": "Geç Gelen", "slug": "gec-gelen"}],
                    },
                )

        grower = asyncio.create_task(grow())
        summary = await migrate(config, MigrateOptions())
        await grower
        return summary.counts["staged"]

    assert asyncio.run(scenario()) == 61
    names = set(sandbox.migrated())
    assert "Geç Gelen" in names
    assert len(names) == 61
    counts = sandbox.store_log.counts()
    assert counts["POST /api/v1/products/collections/count"] == 2  # counted again, read again


def test_restart_reads_everything_again_and_keeps_the_map(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    sandbox.store_log.clear()
    writes = sandbox.commerce_log.writes()
    result = run("migrate", "-c", str(sandbox.config), "--restart")
    assert result.exit_code == 0, result.output
    assert sandbox.commerce_log.writes() == writes
    assert sandbox.store_log.counts()["POST /api/v1/products/collections/get"] == 2
    status = json.loads(run("status", "-c", str(sandbox.config), "--format", "json").output)
    assert status["map"]["collections"] == 60


def test_answered_items_are_kept_when_a_sibling_is_refused(sandbox: Sandbox) -> None:
    state, source_id, pk = one_migrated(sandbox)
    present = set(state.items_mapped(source_id))
    [(product_pk,)] = state.db.conn.execute(
        "SELECT product_pk FROM product_map WHERE product_pk NOT IN ({}) LIMIT 1".format(
            ",".join("?" * len(present))
        ),
        tuple(present),
    ).fetchall()
    missing_product = 10**9  # Akinon has no such product: a clean refusal
    desired = DesiredCollection(source_id, "s", "n", "public", (), "h")
    plan = CollectionPlan(
        desired,
        tuple(
            Operation(Action.ADD_ITEM, source_id, Origin.SOURCE, akinon_pk=pk, product_pk=p)
            for p in (product_pk, missing_product)
        ),
    )

    async def add() -> bool:
        async with akinon_client(sandbox) as client:
            return await Loader(client, state, 99, AKINON_EMAIL).apply(plan)

    assert asyncio.run(add()) is False
    assert product_pk in state.items_mapped(source_id)  # its answer is not lost with the other
    assert missing_product not in state.items_mapped(source_id)
    assert state.open_intents() == []  # the refused one is closed as failed, not left open
    [failure] = state.failures()
    assert failure["record_id"] == source_id
    assert str(missing_product) in failure["reason"]
    state.close()
