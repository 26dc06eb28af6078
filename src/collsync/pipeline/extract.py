"""Extract: store pages -> staging table, a checkpoint after each page, the final count checked.

Records are upserted by id, so a page that shifts during a long scan is harmless; a record that
does not parse is staged as invalid and recorded as a failure with its raw JSON. Membership comes
from one scan of the products API (inverted into collection -> products), from a CSV file, or not
at all. Nothing here holds more than one page in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from collsync.errors import ConfigError, InterruptedRunError
from collsync.logging import get_logger
from collsync.pipeline.models import Failure
from collsync.state import Membership, StagedRecord

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

    from collsync.pipeline.failure_log import FailureLog
    from collsync.source import CollectionFilters, CollectionRecord, Rejected, StoreClient
    from collsync.state import State

log = get_logger("collsync.extract")

COLLECTIONS = "extract.collections"
PRODUCTS = "extract.products"


class Progress(Protocol):
    def start(self, stage: str, total: int | None) -> None: ...
    def advance(self, stage: str, amount: int = 1) -> None: ...


class NoProgress:
    def start(self, stage: str, total: int | None) -> None:
        pass

    def advance(self, stage: str, amount: int = 1) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ExtractResult:
    generation: int
    expected: int
    staged: int
    rejected: int
    resumed: bool
    count_mismatch: bool = False


def _raw_hash(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    # surrogatepass: an invalid record refused for an unpaired surrogate still has a hash
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def filters_signature(filters: CollectionFilters, limit: int | None) -> str:
    return _raw_hash({"filters": filters.to_wire(), "limit": limit})


def _staged(record: CollectionRecord, raw: dict[str, Any], position: int) -> StagedRecord:
    return StagedRecord(
        source_id=str(record.id),
        raw=raw,
        content_hash=_raw_hash(raw),
        valid=True,
        position=position,
        slug=record.slug,
        name=record.name,
        createdon=record.createdon.isoformat(sep=" "),
    )


def _rejected_id(rejected: Rejected, page: int, index: int) -> str:
    return rejected.record_id or f"page {page} record {index + 1}"


async def extract_collections(
    store: StoreClient,
    state: State,
    failures: FailureLog,
    run_id: int,
    filters: CollectionFilters,
    *,
    page_size: int,
    limit: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    generation: int | None = None,
    max_age: float = 3600.0,
) -> ExtractResult:
    """Stage every collection the filters select (at most ``limit`` valid ones).

    ``generation`` adds to an existing generation (a sync's second, by-id pass) instead of
    starting one; ``stop`` is checked between pages (each page is checkpointed first).
    ``resume`` goes on with a scan an earlier run left unfinished, if its pages are younger
    than ``max_age`` seconds.
    """
    progress = progress or NoProgress()
    signature = filters_signature(filters, limit)
    saved: dict[str, Any] = (state.checkpoints.get(COLLECTIONS) if resume else None) or {}
    additive = False
    # A finished scan is read again, for the store may have changed since, and a plan is made
    # from the store as it is; so is an unfinished one whose pages are too old to trust.
    young = time.time() - float(saved.get("started_at", 0)) < max_age
    continued = saved.get("signature") == signature and not saved.get("done") and young
    # Counted every time, on a resume too: the store proves it takes the key before any write.
    counted = await store.count_collections(filters)
    if continued:
        generation, start, expected = saved["generation"], saved["next_page"], counted
        started_at = float(saved["started_at"])
        log.info("collsync.extract.resumed", generation=generation, next_page=start)
    else:
        start, started_at = 1, time.time()
        additive = generation is not None  # the generation holds other records: no count check
        generation = generation if generation is not None else state.staging.next_generation()
        expected = counted
    wanted = expected if limit is None else min(expected, limit)
    progress.start("extract", wanted)
    rejected = 0
    for attempt in (1, 2):
        rejected += await _scan(
            store,
            state,
            failures,
            run_id,
            filters,
            generation,
            start,
            page_size,
            limit,
            expected,
            signature,
            started_at,
            progress,
            stop,
        )
        staged = state.staging.count(generation)
        if limit is not None or additive or staged == expected:
            break
        if attempt == 1:  # the store changed under the scan: once more, from the start
            log.warning(
                "collsync.extract.count_mismatch", expected=expected, staged=staged, action="rescan"
            )
            expected, start = await store.count_collections(filters), 1
    staged = state.staging.count(generation)
    mismatch = limit is None and not additive and staged != expected
    if mismatch:
        failures.record(
            Failure(
                "collections",
                "extract.count",
                "count_mismatch",
                f"the store counts {expected} collections but {staged} were read; "
                "the store changed during the scan, run again",
            )
        )
    else:
        failures.resolve("collections", ["extract.count"])
    state.checkpoints.set(
        COLLECTIONS,
        {
            "signature": signature,
            "generation": generation,
            "next_page": 1,
            "expected": staged,
            "done": True,
        },
        run_id,
    )
    log.info(
        "collsync.extract.done",
        generation=generation,
        expected=expected,
        staged=staged,
        rejected=rejected,
    )
    return ExtractResult(generation, expected, staged, rejected, continued, mismatch)


async def _scan(
    store: StoreClient,
    state: State,
    failures: FailureLog,
    run_id: int,
    filters: CollectionFilters,
    generation: int,
    start: int,
    page_size: int,
    limit: int | None,
    expected: int,
    signature: str,
    started_at: float,
    progress: Progress,
    stop: asyncio.Event | None = None,
) -> int:
    rejected_total = 0
    taken = (start - 1) * page_size
    async for page in store.iter_collections(filters, page_size=page_size, start_page=start):
        rows = []
        for index, (record, raw) in enumerate(zip(page.records, page.raw, strict=True)):
            if limit is not None and taken >= limit:
                break
            rows.append(_staged(record, raw, (page.number - 1) * page_size + index))
            taken += 1
        for index, bad in enumerate(page.rejected):
            rejected_total += 1
            record_id = _rejected_id(bad, page.number, index)
            failures.record(
                Failure(
                    record_id,
                    "extract",
                    "invalid_record",
                    f"store record {record_id}: {bad.reason}",
                    raw=bad.raw,
                )
            )
            if bad.record_id:  # keep it staged (invalid) so the count check adds up
                rows.append(
                    StagedRecord(
                        source_id=bad.record_id,
                        raw=bad.raw,
                        content_hash=_raw_hash(bad.raw),
                        valid=False,
                        position=(page.number - 1) * page_size + 1_000_000 + index,
                    )
                )
        with state.transaction():
            state.staging.stage_collections(rows, generation)
            state.checkpoints.set(
                COLLECTIONS,
                {
                    "signature": signature,
                    "generation": generation,
                    "next_page": page.number + 1,
                    "expected": expected,
                    "done": False,
                    "started_at": started_at,
                },
                run_id,
            )
        progress.advance("extract", sum(r.valid for r in rows))
        if limit is not None and taken >= limit:
            break
        if stop is not None and stop.is_set():
            raise InterruptedRunError()
    return rejected_total


async def extract_items_from_store(
    store: StoreClient,
    state: State,
    failures: FailureLog,
    run_id: int,
    generation: int,
    *,
    page_size: int,
    resume: bool = False,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """One scan of the products API, inverted into collection -> products rows."""
    progress = progress or NoProgress()
    saved = state.checkpoints.get(PRODUCTS) if resume else None
    start = 1
    if saved and saved.get("generation") == generation:
        if saved.get("done"):
            return int(saved.get("rows", 0))
        start = int(saved["next_page"])
    progress.start("products", None)  # the products API documents no count
    rows_total = int(saved.get("rows", 0)) if saved and start > 1 else 0
    async for page in store.iter_products(page_size=page_size, start_page=start):
        rows = [
            Membership(str(cid), p.sku, p.id, p.name or "")
            for p in page.records
            for cid in p.collection_ids
        ]
        for product in page.records:
            for entry in product.bad_collection_ids:
                failures.record(
                    Failure(
                        f"{product.id}/{entry}",
                        "extract.products",
                        "invalid_membership",
                        f"store product {product.id} (sku {product.sku}): its collection list holds"
                        f" {entry!r}, not a collection id (a GUID); its other collections are kept",
                        raw={"product": product.id, "sku": product.sku, "entry": entry},
                    )
                )
        for bad in page.rejected:
            record_id = bad.record_id or f"products page {page.number}"
            failures.record(
                Failure(
                    record_id,
                    "extract.products",
                    "invalid_product",
                    f"store product {record_id}: {bad.reason}",
                    raw=bad.raw,
                )
            )
        rows_total += len(rows)
        with state.transaction():
            state.staging.stage_items(rows, generation)
            state.checkpoints.set(
                PRODUCTS,
                {
                    "generation": generation,
                    "next_page": page.number + 1,
                    "rows": rows_total,
                    "done": False,
                },
                run_id,
            )
        progress.advance("products", page.size)
        if stop is not None and stop.is_set():
            raise InterruptedRunError()
    state.checkpoints.set(
        PRODUCTS,
        {"generation": generation, "next_page": 1, "rows": rows_total, "done": True},
        run_id,
    )
    return rows_total


ITEMS_COLUMNS = ("collection", "sku")
"""The columns an ``[items] path`` CSV must have (``note`` is optional)."""
SKU_MAP_COLUMNS = ("sku", "product_pk")
"""The columns a ``[products] path`` SKU map must have."""


def extract_items_from_file(state: State, failures: FailureLog, generation: int, path: Path) -> int:
    """Membership from a CSV with columns collection (id or slug), sku, note."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"items.path: cannot read {path}: {exc.strerror or exc}") from None
    by_slug = state.staging.ids_by_slug(generation)
    ids = set(by_slug.values())
    rows: list[Membership] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = set(ITEMS_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(
                f"items.path: {path} lacks the column(s) {', '.join(sorted(missing))}"
                " (expected collection, sku, note)"
            )
        for line, row in enumerate(reader, start=2):
            key, sku = (row.get("collection") or "").strip(), (row.get("sku") or "").strip()
            collection_id = key if key in ids else by_slug.get(key)
            if not key or not sku:
                failures.record(
                    Failure(
                        f"{path.name}:{line}",
                        "extract.items",
                        "invalid_item",
                        f"{path.name} line {line}: collection and sku are required",
                        raw=row,
                    )
                )
                continue
            if collection_id is None:
                continue  # a collection outside this run's selection
            rows.append(Membership(collection_id, sku, note=(row.get("note") or "").strip()))
    state.staging.stage_items(rows, generation)
    return len(rows)


def load_sku_map(state: State, failures: FailureLog, path: Path) -> int:
    """Read ``sku,product_pk`` into the product map; a bad line is a recorded failure."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"products.path: cannot read {path}: {exc.strerror or exc}") from None
    pairs: dict[str, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = set(SKU_MAP_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(
                f"products.path: {path} lacks the column(s) "
                f"{', '.join(sorted(missing))} (expected sku, product_pk)"
            )
        for line, row in enumerate(reader, start=2):
            sku, pk = (row.get("sku") or "").strip(), (row.get("product_pk") or "").strip()
            if not sku or not pk.isdigit():
                failures.record(
                    Failure(
                        f"{path.name}:{line}",
                        "products",
                        "invalid_sku_map_line",
                        f"{path.name} line {line}: expected a sku and a numeric "
                        f"product_pk, got {sku!r}, {pk!r}",
                        raw=row,
                    )
                )
                continue
            pairs[sku] = int(pk)
    return state.ids.replace_products(pairs.items())
