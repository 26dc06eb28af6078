"""A seeded sandbox on 127.0.0.1 and a config pointing at it, as a user would set it up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from starlette.applications import Starlette

from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    Seed,
    SeedSpec,
    create_commerce_app,
    create_store_app,
    generate,
    serve_in_thread,
    write_sku_map,
)
from collsync.sandbox.commerce_state import CommerceState
from collsync.sandbox.faults import RequestLog

ENV = {
    "STORE_API_KEY": STORE_API_KEY,
    "AKINON_EMAIL": AKINON_EMAIL,
    "AKINON_PASSWORD": AKINON_PASSWORD,
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _quick_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@dataclass
class Sandbox:
    seed: Seed
    store_app: Starlette
    commerce_app: Starlette
    store_url: str
    commerce_url: str
    config: Path
    tmp: Path

    @property
    def akinon(self) -> CommerceState:
        state: CommerceState = self.commerce_app.state.sandbox.data
        return state

    @property
    def store_log(self) -> RequestLog:
        log: RequestLog = self.store_app.state.sandbox.injector.log
        return log

    @property
    def commerce_log(self) -> RequestLog:
        log: RequestLog = self.commerce_app.state.sandbox.injector.log
        return log

    def faults(self, **knobs: Any) -> None:
        self.commerce_app.state.sandbox.injector.faults.update(knobs)

    def write_config(self, extra: str = "", **sections: str) -> Path:
        text = CONFIG.format(
            store=self.store_url,
            commerce=self.commerce_url,
            sku_map=self.tmp / "sku-map.csv",
            state=self.tmp / "state.db",
        )
        self.config.write_text(text + extra, encoding="utf-8")
        return self.config

    def migrated(self) -> dict[str, dict[str, Any]]:
        """The migrator's Akinon collections by name: status and product pks -> notes."""
        found: dict[str, dict[str, Any]] = {}
        for c in self.akinon.collections.values():
            if c.owner != AKINON_EMAIL:
                continue
            assert c.name not in found, f"{c.name!r} exists twice on Akinon"
            items = {product_pk: item.note for product_pk, item in c.items.items()}
            found[c.name] = {"status": c.status, "items": items}
        return found

    def expected(self) -> dict[str, dict[str, Any]]:
        """What the store holds, as it should look on Akinon."""
        pks = dict(self.seed.sku_map)
        members: dict[str, set[int]] = {}
        for product in self.seed.store.products:
            for cid in product[self.seed.store.collection_field]:
                if product["sku"] in pks:
                    members.setdefault(cid, set()).add(pks[product["sku"]])
        return {
            c["name"]: {"status": "public", "items": dict.fromkeys(members.get(c["id"], ()), "")}
            for c in self.seed.store.collections
            if c.get("name")
        }


def store_call(sandbox: Sandbox, handler: str, **payload: Any) -> Any:
    """Call the sandbox store's collections RPC as another client would; it must succeed."""
    answer = httpx.post(
        f"{sandbox.store_url}/api/v1/products/collections/{handler}",
        json={"authentication": {"apiKey": STORE_API_KEY}, **payload},
    )
    answer.raise_for_status()
    assert "error" not in answer.json(), answer.json()
    return answer.json()


CONFIG = """
[source]
url = "{store}"
api_key = "${{STORE_API_KEY}}"
page_size = 50

[products]
resolve = "sku-map"
path = "{sku_map}"

[target]
url = "{commerce}"
email = "${{AKINON_EMAIL}}"
password = "${{AKINON_PASSWORD}}"

[state]
path = "{state}"

[run]
concurrency = 8
max_attempts = 8
"""


def make_sandbox(tmp_path: Path, spec: SeedSpec) -> Iterator[Sandbox]:
    seed = generate(spec)
    write_sku_map(seed, tmp_path / "sku-map.csv")
    store_app, commerce_app = create_store_app(seed.store), create_commerce_app(seed.commerce)
    with serve_in_thread(store_app) as store_url, serve_in_thread(commerce_app) as commerce_url:
        box = Sandbox(
            seed,
            store_app,
            commerce_app,
            store_url,
            commerce_url,
            tmp_path / "collsync.toml",
            tmp_path,
        )
        box.write_config()
        yield box


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    yield from make_sandbox(
        tmp_path, SeedSpec(collections=60, products=80, items_per_collection=4, seed=3)
    )
