"""The Commerscale store client: typed RPC calls, paging, and parsing that never drops a page.

Every call is ``POST /api/v1/products/<handler>`` with the API key in the JSON body. The store
answers HTTP 200 even for errors, so every body is checked for ``{"error": {...}}``:

- ``401`` -> :class:`AuthenticationError` with the vendor's message;
- ``404`` (unknown handler) -> :class:`ConfigError` naming the URL: ``source.url`` is wrong;
- ``500`` -> :class:`RejectedError` when the message blames the request (a filter, the data, the
  JSON), else a transient error, retried for reads and "outcome unknown" for writes.

A record that does not parse does not stop its page: it comes back as :class:`Rejected` with its raw
JSON and the reason, for the pipeline to record.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collsync.errors import (
    AuthenticationError,
    ConfigError,
    OutcomeUnknownError,
    ProtocolError,
    RejectedError,
    TransientError,
)
from collsync.http import Limits, ServiceClient, decode_json
from collsync.logging import register_secret
from collsync.text import escape_surrogates, unpaired_surrogate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    import httpx

    from collsync.config import Config

CREATEDON_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 1000
MAX_TEXT = 255
API_PREFIX = "/api/v1/products"

R = TypeVar("R", bound=BaseModel)
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class CollectionRecord(BaseModel):
    """A store collection as ``collections/get`` returns it."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    slug: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    description: str = ""
    seopagetitle: str = ""
    seometakeywords: str = ""
    seopagedescription: str = ""
    author: str = ""
    createdon: datetime

    @field_validator("createdon", mode="before")
    @classmethod
    def _vendor_datetime(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.strptime(value, CREATEDON_FORMAT)
            except ValueError:
                raise ValueError(f"{value!r} is not a date like 2016-10-03 16:03:21") from None
        return value

    @field_validator(
        "description",
        "seopagetitle",
        "seometakeywords",
        "seopagedescription",
        "author",
        mode="before",
    )
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class ProductRecord(BaseModel):
    """A store product; ``collection_ids`` comes from the configured collection field."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    sku: Annotated[str, Field(min_length=1)]
    name: str = ""
    collection_ids: tuple[uuid.UUID, ...] = ()
    bad_collection_ids: tuple[str, ...] = ()
    """Entries of the collection field that are not collection ids (a legacy id, a number),
    as text: each is one failure, and the product keeps its other collections."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the store returned that cannot be used as it is."""

    raw: Any
    reason: str

    @property
    def record_id(self) -> str | None:
        value = self.raw.get("id") if isinstance(self.raw, dict) else None
        return None if value is None else escape_surrogates(str(value))


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of records; ``size`` counts everything the store sent, parsed or not."""

    number: int
    records: tuple[R, ...]
    rejected: tuple[Rejected, ...] = field(default=())
    raw: tuple[dict[str, Any], ...] = field(default=())
    """The store's own JSON of each parsed record, in the same order as ``records``."""

    @property
    def size(self) -> int:
        return len(self.records) + len(self.rejected)


class CollectionFilters(BaseModel):
    """The documented ``collections/get`` filters, checked before anything is sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: tuple[uuid.UUID, ...] = ()
    name: tuple[Text, ...] = ()
    slug: tuple[Text, ...] = ()
    createdon_min: datetime | date | None = None
    createdon_max: datetime | date | None = None
    """Inclusive bounds; a bare date stands for the whole of that day."""

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        for key in ("id", "name", "slug"):
            values = getattr(self, key)
            if values:
                wire[key] = [str(v) for v in values]
        # A bare date is a whole day, as a person means it: the store reads one as its
        # midnight, so the upper bound is that day's last second (createdon has whole seconds).
        if self.createdon_min is not None:
            wire["createdon_min"] = _created(self.createdon_min, end_of_day=False)
        if self.createdon_max is not None:
            wire["createdon_max"] = _created(self.createdon_max, end_of_day=True)
        return wire


def _created(value: date, *, end_of_day: bool) -> str:
    """A ``createdon`` bound: a timestamp as given, a date at its first or last second."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.max.time() if end_of_day else datetime.min.time())
    return value.strftime(CREATEDON_FORMAT)


class ProductFilters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: tuple[str, ...] = ()
    sku: tuple[Text, ...] = ()
    name: tuple[Text, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.model_dump().items() if v}


class CollectionData(BaseModel):
    """What ``collections/create`` and ``update`` accept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID | None = None
    name: Text
    slug: Text
    description: Text = ""
    seopagetitle: Text = ""
    seopagedescription: Text = ""
    seometakeywords: Text = ""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{key}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_records(
    model: type[R],
    raw: list[Any],
    number: int,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Page[R]:
    """Parse one page; bad records become :class:`Rejected` instead of failing the page."""
    records: list[R] = []
    raws: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for item in raw:
        if not isinstance(item, dict):
            rejected.append(Rejected(item, f"expected an object, got {type(item).__name__}"))
            continue
        key = unpaired_surrogate(item)
        if key is not None:
            reason = f"{escape_surrogates(key)}: text with an unpaired surrogate, not valid Unicode"
            rejected.append(Rejected(item, reason))
            continue
        try:
            records.append(model.model_validate({**item, **adapt(item)} if adapt else item))
            raws.append(item)
        except ValidationError as exc:
            rejected.append(Rejected(item, _describe(exc)))
    return Page(number, tuple(records), tuple(rejected), tuple(raws))


class StoreClient(ServiceClient):
    """Async client of the Commerscale store's collections and products RPC API."""

    service = "store"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        collection_field: str = "collections",
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(base_url, limits=limits, transport=transport, clock=clock, sleep=sleep)
        register_secret(api_key)
        self._api_key = api_key
        self._collection_field = collection_field

    @classmethod
    def from_config(
        cls, config: Config, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> StoreClient:
        source = config.source
        limits = Limits(
            concurrency=source.concurrency,
            rate_limit=source.rate_limit,
            timeout=source.timeout,
            attempts=config.run.max_attempts,
        )
        return cls(
            str(source.url),
            source.api_key.get_secret_value(),
            collection_field=config.items.collection_field,
            limits=limits,
            transport=transport,
        )

    # -- the RPC call ---------------------------------------------------------------------------

    async def call(self, handler: str, payload: dict[str, Any] | None = None) -> Any:
        """``POST /api/v1/products/<handler>`` and return the checked JSON answer."""
        path = f"{API_PREFIX}/{handler}"
        endpoint = f"POST {path}"
        write = handler.rsplit("/", 1)[-1] in {"create", "update", "delete"}
        body = {"authentication": {"apiKey": self._api_key}, **(payload or {})}

        def read(response: httpx.Response) -> Any:
            return self._check(response, endpoint=endpoint, path=path, write=write)

        return await self.send(
            "POST", path, endpoint=endpoint, idempotent=not write, json_body=body, read=read
        )

    def _check(self, response: httpx.Response, *, endpoint: str, path: str, write: bool) -> Any:
        where: dict[str, Any] = {
            "service": self.service,
            "endpoint": endpoint,
            "status": response.status_code,
        }
        if response.status_code in (404, 405):
            # The store answers every RPC call with HTTP 200: this URL is not its API.
            raise ConfigError(
                f"source.url: {self.where(path)} answered HTTP "
                f"{response.status_code}; "
                "it is not a store RPC handler: check source.url"
            )
        data = decode_json(response, service=self.service, endpoint=endpoint)
        if response.status_code != 200:
            raise ProtocolError(f"unexpected HTTP {response.status_code}", body=data, **where)
        if not (isinstance(data, dict) and "error" in data):
            return data
        error = data["error"] if isinstance(data["error"], dict) else {"message": data["error"]}
        code, message = str(error.get("code", "")), str(error.get("message", "")).strip()
        if code == "401":
            raise AuthenticationError(f"the store refused the API key: {message}", **where)
        if code == "404":
            raise ConfigError(
                f"source.url: {self.where(path)} is not a store RPC "
                f"handler (the store answered: {message or 'not found'}); check source.url"
            )
        # Decided on the code and on what the request was, never on the message's wording (it
        # is not documented, and may be localised): the message is only quoted.
        if code.isdigit() and 500 <= int(code) < 600:
            cls = OutcomeUnknownError if write else TransientError
            raise cls(f"store error {code}: {message}", body=data, **where)
        if code.isdigit() and 400 <= int(code) < 500:
            raise RejectedError(
                f"the store rejected the request ({code}): {message}", body=data, **where
            )
        raise ProtocolError(f"unknown error body {error!r}", body=data, **where)

    # -- collections ----------------------------------------------------------------------------

    async def count_collections(self, filters: CollectionFilters | None = None) -> int:
        payload = {"filters": filters.to_wire()} if filters and filters.to_wire() else {}
        return _parse_count(await self.call("collections/count", payload), "collections/count")

    async def get_collections(
        self,
        page: int = 1,
        page_size: int = MAX_PAGE_SIZE,
        filters: CollectionFilters | None = None,
    ) -> Page[CollectionRecord]:
        raw = await self.call("collections/get", _page_payload(page, page_size, filters))
        return parse_records(CollectionRecord, _expect_list(raw, "collections/get"), page)

    def iter_collections(
        self,
        filters: CollectionFilters | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        start_page: int = 1,
    ) -> AsyncIterator[Page[CollectionRecord]]:
        """Pages from ``start_page`` on; stops on a short or empty page."""
        return self._pages(self.get_collections, filters, page_size, start_page)

    async def create_collections(self, data: Sequence[CollectionData]) -> list[CollectionRecord]:
        payload = {"data": [d.model_dump(exclude={"id"}) for d in data]}
        return self._written(await self.call("collections/create", payload), "collections/create")

    async def update_collections(self, data: Sequence[CollectionData]) -> list[CollectionRecord]:
        if any(d.id is None for d in data):
            raise ValueError("update needs the id of every collection")
        payload = {"data": [{**d.model_dump(mode="json")} for d in data]}
        return self._written(await self.call("collections/update", payload), "collections/update")

    async def delete_collections(self, ids: Sequence[uuid.UUID | str]) -> None:
        checked = [str(uuid.UUID(str(i))) for i in ids]
        answer = await self.call("collections/delete", {"filter": [{"id": checked}]})
        if not (isinstance(answer, dict) and str(answer.get("success")).lower() == "true"):
            raise ProtocolError(
                f"delete answered {answer!r}",
                service=self.service,
                endpoint=f"POST {API_PREFIX}/collections/delete",
            )

    # -- products -------------------------------------------------------------------------------

    async def get_products(
        self, page: int = 1, page_size: int = MAX_PAGE_SIZE, filters: ProductFilters | None = None
    ) -> Page[ProductRecord]:
        raw = _expect_list(await self.call("get", _page_payload(page, page_size, filters)), "get")
        field_name = self._collection_field

        def adapt(item: dict[str, Any]) -> dict[str, Any]:
            ids = item.get(field_name)
            if not isinstance(ids, list):  # not a list at all: the product's own validation says
                return {"collection_ids": ids if ids is not None else ()}
            good = [entry for entry in ids if _is_guid(entry)]
            bad = [_as_text(entry) for entry in ids if not _is_guid(entry)]
            return {"collection_ids": good, "bad_collection_ids": bad}

        return parse_records(ProductRecord, raw, page, adapt=adapt)

    def iter_products(
        self,
        filters: ProductFilters | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        start_page: int = 1,
    ) -> AsyncIterator[Page[ProductRecord]]:
        return self._pages(self.get_products, filters, page_size, start_page)

    # -- helpers --------------------------------------------------------------------------------

    async def _pages(
        self, get: Any, filters: Any, page_size: int, start: int
    ) -> AsyncIterator[Any]:
        page_size = _check_page_size(page_size)
        number = start
        previous: list[Any] | None = None
        while True:
            page = await get(number, page_size, filters)
            ids = [r.id for r in page.records] + [r.record_id for r in page.rejected]
            if previous is not None and ids and ids == previous:
                # A store that ignores pageNumber would otherwise be read forever.
                raise ProtocolError(
                    f"page {number} repeats page {number - 1}: the store ignores pagination",
                    service=self.service,
                    endpoint=f"POST {API_PREFIX}/...get",
                )
            previous = ids
            if page.size:
                yield page
            if page.size < page_size:
                return
            number += 1

    def _written(self, raw: Any, handler: str) -> list[CollectionRecord]:
        page = parse_records(CollectionRecord, _expect_list(raw, handler), 1)
        if page.rejected:
            raise ProtocolError(
                f"unreadable answer: {page.rejected[0].reason}",
                service=self.service,
                endpoint=f"POST {API_PREFIX}/{handler}",
            )
        return list(page.records)


def _as_text(entry: Any) -> str:
    return escape_surrogates(entry if isinstance(entry, str) else json.dumps(entry))


def _is_guid(entry: Any) -> bool:
    if not isinstance(entry, str):
        return False
    try:
        uuid.UUID(entry)
    except ValueError:
        return False
    return True


def _check_page_size(page_size: int) -> int:
    # The store silently caps pages at 1000: asking for more would make a full page look short.
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    return page_size


def _page_payload(page: int, page_size: int, filters: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "pagination": {"pageNumber": str(page), "pageSize": str(_check_page_size(page_size))}
    }
    if filters is not None and filters.to_wire():
        payload["filters"] = filters.to_wire()
    return payload


def _expect_list(raw: Any, handler: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ProtocolError(
            f"expected a list of records, got {type(raw).__name__}",
            service="store",
            endpoint=f"POST {API_PREFIX}/{handler}",
        )
    return raw


def _parse_count(raw: Any, handler: str) -> int:
    value = raw.get("count") if isinstance(raw, dict) else None
    try:
        count = int(str(value))
    except ValueError:
        raise ProtocolError(
            f'expected {{"count": "<n>"}}, got {raw!r}'[:200],
            service="store",
            endpoint=f"POST {API_PREFIX}/{handler}",
        ) from None
    if count < 0:
        raise ProtocolError(
            f"negative count {count}", service="store", endpoint=f"POST {API_PREFIX}/{handler}"
        )
    return count
