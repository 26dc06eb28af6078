"""After a lost create answer, collsync adopts what its own create made, and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

from click.testing import CliRunner, Result

from collsync.cli import main
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD
from collsync.state import State
from collsync.target import AkinonClient

from .conftest import ENV, Sandbox


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def named(sandbox: Sandbox, name: str) -> list[int]:
    return sorted(
        c.pk
        for c in sandbox.akinon.collections.values()
        if c.owner == AKINON_EMAIL and c.name == name
    )


# The process dies the moment Akinon has answered a create, before collsync records it.
DIES_AFTER_A_CREATE = """
import os, sys
from collsync.target import AkinonClient
create = AkinonClient.create_collection
async def dies(self, name, status="private"):
    await create(self, name, status)
    os._exit(9)
AkinonClient.create_collection = dies
from collsync.cli import main
sys.exit(main())
"""


def test_a_crash_after_a_recreate_was_sent_adopts_it_instead_of_creating_it_twice(
    sandbox: Sandbox,
) -> None:
    config, first = str(sandbox.config), sandbox.seed.store.collections[0]
    assert cli("migrate", "-c", config, "--id", first["id"]).exit_code == 0
    [old] = named(sandbox, first["name"])
    sandbox.akinon.delete_collection(sandbox.akinon.collections[old])  # deleted by hand

    died = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_A_CREATE, "migrate", "-c", config, "--id", first["id"]],
        env={**os.environ, **ENV},
        capture_output=True,
        timeout=120,
    )
    assert died.returncode == 9, died.stderr
    state = State.open(sandbox.tmp / "state.db")
    assert [e.operation.value for e in state.journal.open_intents()] == ["create"]
    state.close()

    assert cli("migrate", "-c", config, "--id", first["id"]).exit_code == 0
    [new] = named(sandbox, first["name"])  # the one the lost create made, adopted
    assert new != old
    assert cli("diff", "-c", config, "--id", first["id"], "--exit-code").exit_code == 0


def test_a_collection_made_by_hand_with_the_same_name_is_never_adopted(
    sandbox: Sandbox,
) -> None:
    """A create whose answer is a 5xx (nothing made) finds a same-named collection someone
    made by hand: it is not taken for its own, so rollback never deletes it."""
    config, first = str(sandbox.config), sandbox.seed.store.collections[0]

    async def by_hand() -> int:
        async with AkinonClient(
            sandbox.commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD
        ) as client:
            return (await client.create_collection(first["name"], "public")).pk

    hand = asyncio.run(by_hand())
    word = max(re.findall(r"[A-Za-z]+", first["name"]), key=len)
    sandbox.faults(fail_containing={json.dumps(word)[1:-1]: 1})  # the create answers 500
    # (a new state stops short of a namesake: the user asks for a second one of that name)
    assert cli("migrate", "-c", config, "--id", first["id"], "--allow-duplicates").exit_code == 0
    mine = [pk for pk in named(sandbox, first["name"]) if pk != hand]
    assert len(mine) == 1  # sent again, once
    assert sandbox.akinon.collections[hand].items == {}  # nothing added to the hand-made one
    assert cli("rollback", "-c", config, "--yes").exit_code == 0
    assert named(sandbox, first["name"]) == [hand]


def test_items_whose_product_is_unknown_this_run_are_not_removed(sandbox: Sandbox) -> None:
    """SKUs that drop out of the SKU map: the store still lists them, so a full sync keeps
    their items (and names each as a failure) instead of removing them."""
    config = str(sandbox.config)
    assert cli("migrate", "-c", config).exit_code == 0
    before = sandbox.migrated()
    path = sandbox.tmp / "sku-map.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:1] + lines[11:]) + "\n", encoding="utf-8")
    result = cli("sync", "-c", config, "--full")
    assert result.exit_code == 3, result.output  # the unresolved items are failures
    assert sandbox.migrated() == before
    assert not any(e.method == "DELETE" for e in sandbox.commerce_log.entries)
