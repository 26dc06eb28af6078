"""The Commerscale store sandbox: an in-memory stand-in for the store's collections RPC API.

Like the documented service, it takes every call as a ``POST`` with the API key in the body, answers
application errors as HTTP 200 ``{"error": {"code", "message"}}``, and returns records as stored.
"""

from __future__ import annotations

import ast
import bisect
import hmac
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collsync.sandbox.control import control_routes
from collsync.sandbox.data import CREATEDON_FORMAT, STORE_API_KEY, SeedSpec, StoreSeed, generate
from collsync.sandbox.faults import FaultInjector, Faults, retry_after_header

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable, Iterator, Sequence

    from starlette.requests import Request

Record = dict[str, Any]

API = "/api/v1/products"
MAX_LENGTH = 255
MAX_PAGE_SIZE = 1000
FIELDS = ("name", "slug", "description", "seopagetitle", "seometakeywords", "seopagedescription")
REQUIRED = ("name", "slug")
_DATES = {"createdon_min": "date", "createdon_max": "date"}
COLLECTION_FILTERS = {"id": "guid", "name": "text", "slug": "text", **_DATES}
PRODUCT_FILTERS = {"id": "guid", "sku": "text", "name": "text"}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WHOLE = re.compile(r"[0-9]{1,18}")
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class StoreError(Exception):
    """An application error, answered as HTTP 200 with an error body (500 unless said)."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad_filter(name: object, detail: str) -> StoreError:
    return StoreError(f"Invalid filter value for '{name}': {detail}")


def _bad_data(index: int, detail: str) -> StoreError:
    return StoreError(f"Invalid data: data[{index}]: {detail}")


class StoreJSON(JSONResponse):
    """Compact UTF-8 JSON: the fault layer spots an error body by its ``{"error":`` start."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # an unpaired surrogate: sent as its escape, as PHP would
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(code: int, message: str) -> Response:
    return StoreJSON({"error": {"code": code, "message": message}})


@dataclass(frozen=True, slots=True)
class Query:
    """Parsed filters: field -> accepted values (ids lower-cased), and inclusive date bounds."""

    exact: dict[str, frozenset[str]]
    created_min: str | None = None
    created_max: str | None = None

    def matches(self, record: Record) -> bool:
        for name, accepted in self.exact.items():
            value = record.get(name)
            if name == "id" and isinstance(value, str):
                value = value.lower()
            if not isinstance(value, str) or value not in accepted:
                return False
        created = _createdon(record)
        if self.created_min is not None and created < self.created_min:
            return False
        return self.created_max is None or created <= self.created_max


def _createdon(record: Record) -> str:
    return str(record.get("createdon", ""))


def _sort_key(record: Record) -> tuple[str, str]:
    return _createdon(record), str(record.get("id", ""))


def _id_of(record: Record) -> str:
    return str(record.get("id", "")).lower()


class StoreState:
    """Collections (kept sorted by createdon, then id) and products, built from a seed.

    The seed's records are copied, so the seed itself is never changed.
    """

    def __init__(self, seed: StoreSeed, *, clock: Callable[[], datetime] | None = None) -> None:
        self.collection_field = seed.collection_field
        self._clock = clock or (lambda: datetime.now(UTC))
        self._collections: list[Record] = sorted((dict(c) for c in seed.collections), key=_sort_key)
        self._by_id: dict[str, Record] = {_id_of(r): r for r in self._collections}
        self._slugs: Counter[str] = Counter(
            r["slug"] for r in self._collections if isinstance(r.get("slug"), str)
        )
        self.products: list[Record] = [dict(p) for p in seed.products]
        for product in self.products:  # own lists, since a delete edits them
            if isinstance(product.get(self.collection_field), list):
                product[self.collection_field] = list(product[self.collection_field])

    @property
    def collections(self) -> Sequence[Record]:
        """Every collection in answer order (read-only by convention)."""
        return self._collections

    def collection(self, collection_id: str) -> Record | None:
        return self._by_id.get(collection_id.lower())

    def _window(self, query: Query) -> tuple[int, int]:
        """Index range of the date bounds, found by bisection since the list is sorted by date."""
        rows = self._collections
        lo, hi = 0, len(rows)
        if query.created_min is not None:
            lo = bisect.bisect_left(rows, query.created_min, key=_createdon)
        if query.created_max is not None:
            hi = bisect.bisect_right(rows, query.created_max, key=_createdon)
        return lo, max(lo, hi)

    def _matching(self, query: Query) -> Iterator[Record]:
        ids = query.exact.get("id")
        if ids is not None:  # a handful of ids: look them up rather than scan
            found = (self._by_id[i] for i in ids if i in self._by_id)
            return iter(sorted((r for r in found if query.matches(r)), key=_sort_key))
        lo, hi = self._window(query)
        rows = self._collections
        return (rows[i] for i in range(lo, hi) if query.matches(rows[i]))

    def page_collections(self, query: Query, offset: int, limit: int) -> list[Record]:
        if not query.exact:
            lo, hi = self._window(query)
            return self._collections[lo + offset : min(hi, lo + offset + limit)]
        return list(islice(self._matching(query), offset, offset + limit))

    def count_collections(self, query: Query) -> int:
        if not query.exact:
            lo, hi = self._window(query)
            return hi - lo
        return sum(1 for _ in self._matching(query))

    def page_products(self, query: Query, offset: int, limit: int) -> list[Record]:
        return list(islice(filter(query.matches, self.products), offset, offset + limit))

    def count_products(self, query: Query) -> int:
        return sum(1 for _ in filter(query.matches, self.products))

    def create(self, items: Sequence[dict[str, str]]) -> list[Record]:
        self._check_slugs([(i, item.get("slug"), None) for i, item in enumerate(items)])
        createdon = self._clock().strftime(CREATEDON_FORMAT)
        created = []
        for item in items:
            record: Record = {"id": str(uuid.uuid4())}
            record.update({name: item.get(name, "") for name in FIELDS})
            record.update(author="", createdon=createdon)
            self._insert(record)
            created.append(record)
        return created

    def update(self, items: Sequence[dict[str, str]]) -> list[Record]:
        records = [self._require(i, item["id"]) for i, item in enumerate(items)]
        self._check_slugs([(i, item.get("slug"), records[i]) for i, item in enumerate(items)])
        for record, item in zip(records, items, strict=True):
            self._unindex_slug(record)
            record.update({name: item[name] for name in FIELDS if name in item})
            self._index_slug(record)
        return records

    def delete(self, ids: Iterable[str]) -> None:
        records = [self._require(None, i) for i in dict.fromkeys(ids)]
        for record in records:
            self._remove(record)
        gone = {_id_of(r) for r in records}
        for product in self.products:
            linked = product.get(self.collection_field)
            if isinstance(linked, list):
                product[self.collection_field] = [
                    c for c in linked if not (isinstance(c, str) and c.lower() in gone)
                ]

    def _require(self, index: int | None, collection_id: str) -> Record:
        record = self._by_id.get(collection_id.lower())
        if record is None:
            where = "Invalid data" if index is None else f"Invalid data: data[{index}]"
            raise StoreError(f"{where}: unknown collection id '{collection_id}'")
        return record

    def _check_slugs(self, wanted: list[tuple[int, str | None, Record | None]]) -> None:
        """A new slug must be used by no other record, nor twice in the batch."""
        seen: set[str] = set()
        for index, slug, own in wanted:
            if slug is None or (own is not None and own.get("slug") == slug):
                continue
            if self._slugs[slug] > 0 or slug in seen:
                raise _bad_data(index, f"slug '{slug}' is already used")
            seen.add(slug)

    def _insert(self, record: Record) -> None:
        bisect.insort_right(self._collections, record, key=_sort_key)
        self._by_id[_id_of(record)] = record
        self._index_slug(record)

    def _remove(self, record: Record) -> None:
        rows = self._collections
        index = bisect.bisect_left(rows, _sort_key(record), key=_sort_key)
        if index < len(rows) and rows[index] is record:
            del rows[index]
        else:  # only if a seed record's sort key is not unique
            rows.remove(record)
        del self._by_id[_id_of(record)]
        self._unindex_slug(record)

    def _index_slug(self, record: Record) -> None:
        if isinstance(record.get("slug"), str):
            self._slugs[record["slug"]] += 1

    def _unindex_slug(self, record: Record) -> None:
        slug = record.get("slug")
        if isinstance(slug, str) and self._slugs[slug] > 0:
            self._slugs[slug] -= 1


def parse_body(raw: bytes) -> dict[str, Any]:
    """JSON, or the single-quoted pseudo-JSON of the vendor's examples, which the store accepts."""
    try:
        text = raw.decode("utf-8")
        try:
            body = json.loads(text)
        except ValueError:
            body = ast.literal_eval(text)
        # Python-only values (sets, bytes) and lone surrogates are not JSON text either.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise StoreError("Invalid JSON") from None
    if not isinstance(body, dict):
        raise StoreError("Invalid JSON")
    return body


def check_api_key(body: dict[str, Any], api_key: str) -> None:
    auth = body.get("authentication")
    given = auth.get("apiKey") if isinstance(auth, dict) else None
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), api_key.encode()):
        raise StoreError("Invalid API key", 401)


def _only(body: dict[str, Any], *allowed: str) -> None:
    for key in body:
        if key != "authentication" and key not in allowed:
            raise StoreError(f"Unknown parameter '{key}'")


def _values(name: str, value: object, *, guid: bool) -> frozenset[str]:
    if not isinstance(value, list):
        raise _bad_filter(name, f"expected an array, got {value!r}")
    accepted = set()
    for item in value:
        if not isinstance(item, str):
            raise _bad_filter(name, f"expected strings, got {item!r}")
        if guid and not _GUID.fullmatch(item):
            raise _bad_filter(name, f"{item!r} is not a GUID")
        if len(item) > MAX_LENGTH:
            raise _bad_filter(name, f"a value is longer than {MAX_LENGTH} characters")
        accepted.add(item.lower() if guid else item)
    return frozenset(accepted)


def _date(name: str, value: object) -> str:
    """A bound as a ``createdon`` string; a bare date means midnight."""
    if isinstance(value, str):
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                return datetime.strptime(value, fmt).isoformat(sep=" ", timespec="seconds")
            except ValueError:
                continue
    raise _bad_filter(name, f"expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, got {value!r}")


def parse_filters(raw: object, kinds: dict[str, str]) -> Query:
    if raw is None:
        return Query({})
    if not isinstance(raw, dict):
        raise StoreError(f"Invalid filters: expected an object, got {raw!r}")
    exact: dict[str, frozenset[str]] = {}
    bounds: dict[str, str] = {}
    for name, value in raw.items():
        kind = kinds.get(name)
        if kind is None:
            raise StoreError(f"Unknown filter '{name}'")
        if kind == "date":
            bounds[name] = _date(name, value)
        else:
            exact[name] = _values(name, value, guid=kind == "guid")
    return Query(exact, bounds.get("createdon_min"), bounds.get("createdon_max"))


def _whole(raw: dict[str, Any], name: str, default: int) -> int:
    value = raw.get(name, default)
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreError(f"Invalid pagination value for '{name}': expected a number >= 1")
    return value


def parse_pagination(raw: object) -> tuple[int, int]:
    """``(offset, limit)``; a page size over the documented maximum is capped, not refused."""
    if raw is None:
        return 0, MAX_PAGE_SIZE
    if not isinstance(raw, dict):
        raise StoreError(f"Invalid pagination: expected an object, got {raw!r}")
    for key in raw:
        if key not in ("pageNumber", "pageSize"):
            raise StoreError(f"Unknown pagination parameter '{key}'")
    size = min(_whole(raw, "pageSize", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    return (_whole(raw, "pageNumber", 1) - 1) * size, size


def _data_item(index: int, item: object, *, update: bool) -> dict[str, str]:
    if not isinstance(item, dict):
        raise _bad_data(index, "expected an object")
    allowed = ("id", *FIELDS) if update else FIELDS
    values: dict[str, str] = {}
    for key, value in item.items():
        if key not in allowed:
            raise _bad_data(index, f"unknown property '{key}'")
        if not isinstance(value, str):
            raise _bad_data(index, f"'{key}' must be a string")
        if len(value) > MAX_LENGTH:
            raise _bad_data(index, f"'{key}' is longer than {MAX_LENGTH} characters")
        values[key] = value
    for key in REQUIRED:
        if (not update or key in values) and not values.get(key, "").strip():
            raise _bad_data(index, f"'{key}' is required")
    if update and not _GUID.fullmatch(values.get("id", "")):
        raise _bad_data(index, "'id' is required and must be a GUID")
    return values


def parse_data(body: dict[str, Any], *, update: bool) -> list[dict[str, str]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise StoreError("Invalid data: 'data' must be an array of objects")
    return [_data_item(i, item, update=update) for i, item in enumerate(data)]


def parse_delete_ids(body: dict[str, Any]) -> list[str]:
    """Ids from the documented ``filter: [{id: [...]}]``, or from ``filters: {id: [...]}``."""
    listed, extra = body.get("filter") or [], body.get("filters")
    if not isinstance(listed, list):
        raise StoreError("Invalid filter: expected an array of objects")
    ids: list[str] = []
    for group in [*listed, *([] if extra is None else [extra])]:
        if not isinstance(group, dict) or set(group) - {"id"}:
            raise StoreError(f"Invalid filter: expected {{'id': [...]}}, got {group!r}")
        value = group.get("id")
        # The doc's filter table types the delete id as a single GUID, its example as an array.
        ids.extend(_values("id", [value] if isinstance(value, str) else value, guid=True))
    if not ids:
        raise StoreError("Missing filter 'id': give the ids of the collections to delete")
    return ids


Operation = Callable[[StoreState, dict[str, Any]], object]


def _getter(
    filters: dict[str, str], page: Callable[[StoreState, Query, int, int], Any]
) -> Operation:
    def get(state: StoreState, body: dict[str, Any]) -> object:
        _only(body, "filters", "pagination")
        query = parse_filters(body.get("filters"), filters)
        return page(state, query, *parse_pagination(body.get("pagination")))

    return get


def _counter(filters: dict[str, str], count: Callable[[StoreState, Query], int]) -> Operation:
    def count_(state: StoreState, body: dict[str, Any]) -> object:
        _only(body, "filters", "pagination")  # pagination is tolerated, and ignored
        return {"count": str(count(state, parse_filters(body.get("filters"), filters)))}

    return count_


def _create(state: StoreState, body: dict[str, Any]) -> object:
    _only(body, "data")
    return state.create(parse_data(body, update=False))


def _update(state: StoreState, body: dict[str, Any]) -> object:
    _only(body, "data")
    return state.update(parse_data(body, update=True))


def _delete(state: StoreState, body: dict[str, Any]) -> object:
    _only(body, "filter", "filters")
    state.delete(parse_delete_ids(body))
    return {"success": "true"}


# path -> (operation, whether it writes)
OPERATIONS: dict[str, tuple[Operation, bool]] = {
    f"{API}/collections/get": (_getter(COLLECTION_FILTERS, StoreState.page_collections), False),
    f"{API}/collections/count": (_counter(COLLECTION_FILTERS, StoreState.count_collections), False),
    f"{API}/collections/create": (_create, True),
    f"{API}/collections/update": (_update, True),
    f"{API}/collections/delete": (_delete, True),
    f"{API}/get": (_getter(PRODUCT_FILTERS, StoreState.page_products), False),
}


@dataclass(frozen=True, slots=True)
class StoreSandbox:
    """What a test or the CLI needs to reach behind the API: faults, log, data, key."""

    injector: FaultInjector
    data: StoreState
    api_key: str


def _server_error() -> Response:
    return error_response(500, "Internal server error")


def _throttled(wait: float) -> Response:
    return PlainTextResponse("Too Many Requests", status_code=429, headers=retry_after_header(wait))


async def _unknown_handler(request: Request) -> Response:
    return error_response(404, f"Unknown handler: {request.url.path}")


def _handler(
    operation: Operation, state: StoreState, api_key: str
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        try:
            body = parse_body(await request.body())
            check_api_key(body, api_key)
            return StoreJSON(operation(state, body))
        except StoreError as exc:
            return error_response(exc.code, exc.message)

    return handle


def create_store_app(
    seed: StoreSeed | None = None, *, faults: Faults | None = None, api_key: str = STORE_API_KEY
) -> Starlette:
    """The store's RPC API over a fresh in-memory copy of ``seed`` (default: the standard seed)."""
    state = StoreState(seed if seed is not None else generate(SeedSpec()).store)
    injector = FaultInjector("store", faults)
    handlers = {
        path: (_handler(op, state, api_key), write) for path, (op, write) in OPERATIONS.items()
    }

    async def dispatch(request: Request) -> Response:
        path = request.url.path
        handler, write = handlers.get(path, (_unknown_handler, False))
        if request.method != "POST":  # every documented handler is a POST
            handler, write = _unknown_handler, False
        return await injector.serve(
            request,
            endpoint=f"{request.method} {path}",
            write=write,
            handler=handler,
            server_error=_server_error,
            throttled=_throttled,
        )

    app = Starlette(
        routes=[*control_routes(injector), Route("/api/{rest:path}", dispatch, methods=_ANY_METHOD)]
    )
    app.state.sandbox = StoreSandbox(injector=injector, data=state, api_key=api_key)
    return app
