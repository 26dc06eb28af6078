"""Drift and edge cases: re-creating what was deleted, adopting, rescans, --restart."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.config import load_config
from collsync.pipeline.execute import Executor
from collsync.pipeline.extract import NoProgress
from collsync.pipeline.failure_log import FailureLog
from collsync.pipeline.models import Action, CollectionPlan, DesiredCollection, Operation, Origin
from collsync.pipeline.plan import MIGRATE, Plan
from collsync.pipeline.run import RunRequest
from collsync.pipeline.run import run as run_pipeline
from collsync.pipeline.scope import Scope
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD, STORE_API_KEY, commerce
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
    [entry] = state.ids.entries()
    return state, entry.source_id, entry.akinon_pk


async def execute(sandbox: Sandbox, state: State, plan: CollectionPlan) -> None:
    """One collection's plan, through the executor of a run numbered 99."""
    async with akinon_client(sandbox) as client:
        executor = Executor(
            client,
            state,
            FailureLog(state, 99, preview=False),
            run_id=99,
            owner=AKINON_EMAIL,
            concurrency=1,
            stop=asyncio.Event(),
            progress=NoProgress(),
        )
        await executor.execute(Plan(MIGRATE, (), (), [plan]))


def test_a_collection_deleted_on_akinon_is_recreated_as_drift(sandbox: Sandbox) -> None:
    assert run("migrate", "-c", str(sandbox.config)).exit_code == 0
    victim = next(c for c in sandbox.akinon.collections.values() if c.owner == AKINON_EMAIL)

    async def delete() -> None:
        async with akinon_client(sandbox) as client:
            await client.delete_collection(victim.pk)

    asyncio.run(delete())
    result = run("migrate", "-c", str(sandbox.config))
    assert result.exit_code == 0, result.output
    assert re.search(r"recreate\s+│\s+1\s+│\s+1\s+│", result.output), result.output
    assert sandbox.migrated() == sandbox.expected()


@pytest.mark.parametrize(
    "message",
    ["This product is already in the collection.", "Bu ürün zaten bu koleksiyonda."],
    ids=["english", "localised"],
)
def test_already_in_the_collection_is_success_in_any_language(
    sandbox: Sandbox, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commerce, "ALREADY_IN_COLLECTION", message)
    state, source_id, pk = one_migrated(sandbox)
    product_pk, item = next(iter(state.ids.items(source_id).items()))
    state.database.conn.execute("DELETE FROM item_map")  # as if the confirmation had been lost
    desired = DesiredCollection(source_id, "s", "n", "public", (), "h")
    plan = CollectionPlan(
        desired,
        (
            Operation(
                Action.ADD_ITEM, source_id, Origin.SOURCE, akinon_pk=pk, product_pk=product_pk
            ),
        ),
    )

    writes = sandbox.commerce_log.writes()
    asyncio.run(execute(sandbox, state, plan))
    assert sandbox.commerce_log.writes() == writes + 1  # one POST, refused; the collection says why
    assert state.ids.items(source_id)[product_pk].item_pk == item.item_pk
    assert state.failures.listed() == []
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
        result = await run_pipeline(
            config, RunRequest("migrate", Scope(MIGRATE, bookkeeping="reconciled"))
        )
        await grower
        return result.summary.read["staged"]

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
    present = set(state.ids.items(source_id))
    [(product_pk,)] = state.database.conn.execute(
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

    asyncio.run(execute(sandbox, state, plan))
    assert product_pk in state.ids.items(source_id)  # its answer is not lost with the other
    assert missing_product not in state.ids.items(source_id)
    assert state.journal.open_intents() == []  # the refused one is closed as failed, not open
    [failure] = state.failures.listed()
    assert failure.record_id == source_id
    assert str(missing_product) in failure.reason
    state.close()
