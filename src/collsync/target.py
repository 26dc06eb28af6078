"""The Akinon Commerce client: session or token auth, the user-collection endpoints, DRF paging.

Session mode logs in with email and password (``POST /users/login/``), keeps the session cookie
and sends ``X-CSRFToken`` on every non-GET request; token mode sends ``Authorization: Token``.
A 401 logs in again once (session mode) and repeats the request: a 401 proves nothing was done.

DRF error bodies (``{"detail": ...}``, ``{"field": ["..."]}``) become exceptions that keep the
field messages, quoted in failures and never read to decide: what is retried or adopted is
decided by the status code and by what Akinon holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collsync.akinon_auth import LOGIN, AkinonAuth, field_messages, summary
from collsync.errors import (
    AuthenticationError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServiceError,
)
from collsync.http import Limits, ServiceClient, decode_json
from collsync.logging import get_logger
from collsync.values import Status

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import httpx

    from collsync.config import Config

log = get_logger("collsync.target")

M = TypeVar("M", bound=BaseModel)

COLLECTIONS = "/wishlists/user-collections/"
ITEMS = "/wishlists/user-collection-items/"
PUBLIC = "/wishlists/user-collection/"


class Product(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    pk: int
    sku: str | None = None
    name: str | None = None


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    pk: int
    note: str | None = None
    product: Product
    created_date: str | None = None


class Collection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    pk: int
    name: str
    slug: str
    status: Status
    items: tuple[Item, ...] = Field(default=())
    public_url: str | None = None


class CollectionPage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    count: int
    next: str | None = None
    previous: str | None = None
    results: tuple[Collection, ...]


class _Present(BaseModel):
    """Something listed, read for its presence only."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Listed(BaseModel):
    """A collection in a create answer, its items counted but not read: the answer lists a page
    of the account's collections with every item's full product record, and a new one has none."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pk: int
    name: str
    slug: str
    status: Status
    items: tuple[_Present, ...] = ()
    public_url: str | None = None


class _CreateAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    results: tuple[_Listed, ...]


def _pk_or_zero(record: dict[str, Any]) -> int:
    pk = record.get("pk")
    return pk if isinstance(pk, int) else 0


class AkinonClient(ServiceClient):
    """Async client of the Akinon Commerce user-collections API."""

    service = "akinon"

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        session_cookie: str = "osessionid",
        page_size: int = 100,
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, limits=limits, transport=transport)
        self.auth = AkinonAuth(
            self._client.build_request,
            email=email,
            password=password,
            token=token,
            session_cookie=session_cookie,
            referer=str(self.base_url),
        )
        self.page_size = page_size

    @classmethod
    def from_config(
        cls, config: Config, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> AkinonClient:
        target = config.target
        limits = Limits(
            concurrency=config.run.concurrency,
            rate_limit=target.rate_limit,
            timeout=target.timeout,
            attempts=config.run.max_attempts,
        )
        return cls(
            str(target.url),
            email=target.email if target.password is not None else None,
            password=target.password.get_secret_value() if target.password else None,
            token=target.token.get_secret_value() if target.token else None,
            session_cookie=target.session_cookie,
            page_size=target.page_size,
            limits=limits,
            transport=transport,
        )

    # -- authentication -------------------------------------------------------------------------

    async def login(self) -> None:
        """Log in now (session mode; a token needs none): ``check`` proves the credentials, and
        a run's first request would log in anyway."""
        if not self.auth.session_mode:
            return
        response = await self.send(
            "POST",
            LOGIN,
            endpoint=f"POST {LOGIN}",
            idempotent=True,  # logging in twice is harmless
            json_body={"email": self.auth.email, "password": self.auth.password},
        )
        self.auth.accept_login(response)

    # -- the request ----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200,),
        parse: Callable[[httpx.Response], Any] | None = None,
    ) -> Any:
        """Send an authenticated request; return the JSON body (``None`` for 204), or what
        ``parse`` makes of an expected answer."""
        # PATCH sets absolute values: resending it is harmless. A DELETE whose answer is lost is
        # not resent blind: the journal reads Akinon first (gone = done).
        response = await self.send(
            method,
            path,
            endpoint=endpoint,
            idempotent=method in ("GET", "PATCH"),
            json_body=json_body,
            params=params,
            auth=self.auth,
        )
        return self._read(response, endpoint=endpoint, expect=expect, parse=parse)

    def _read(
        self,
        response: httpx.Response,
        *,
        endpoint: str,
        expect: tuple[int, ...],
        parse: Callable[[httpx.Response], Any] | None = None,
    ) -> Any:
        status = response.status_code
        where: dict[str, Any] = {"service": self.service, "endpoint": endpoint, "status": status}
        if status == 204 and 204 in expect:
            return None
        if status in expect and parse is not None:
            return parse(response)
        body = decode_json(response, service=self.service, endpoint=endpoint)
        if status in expect:
            return body
        fields = field_messages(body)
        message = summary(fields) or f"HTTP {status}"
        if status in (401, 403):
            raise AuthenticationError(message, body=body, **where)
        if status == 404:
            raise NotFoundError(message, body=body, **where)
        if 400 <= status < 500:
            raise RejectedError(message, fields=fields, body=body, **where)
        raise ProtocolError(f"unexpected HTTP {status}", body=body, **where)

    def _model(self, model: Callable[[Any], Any], body: Any, endpoint: str) -> Any:
        try:
            return model(body)
        except ValidationError as exc:
            raise self._shape_error(exc, endpoint) from None

    def _shape_error(self, exc: ValidationError, endpoint: str) -> ProtocolError:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return ProtocolError(
            f"unexpected answer shape at {where or 'top level'}: {first['msg']}",
            service=self.service,
            endpoint=endpoint,
        )

    def _validated(self, model: type[M], endpoint: str) -> Callable[[httpx.Response], M]:
        """Reads an answer into ``model`` straight from its bytes: pydantic's own JSON parser
        skips the fields we do not keep (full product records) instead of building them."""

        def parse(response: httpx.Response) -> M:
            try:
                return model.model_validate_json(response.content)
            except ValidationError as exc:
                if exc.errors()[0]["type"] != "json_invalid":
                    raise self._shape_error(exc, endpoint) from None
            # Not JSON to pydantic's strict parser: the standard one may read it, or say why not.
            body = decode_json(response, service=self.service, endpoint=endpoint)
            validated: M = self._model(model.model_validate, body, endpoint)
            return validated

        return parse

    # -- collections ----------------------------------------------------------------------------

    async def list_page(
        self,
        page: int = 1,
        *,
        page_size: int | None = None,
        search: str | None = None,
        product_id: int | None = None,
    ) -> CollectionPage:
        params: dict[str, Any] = {"page": page, "page_size": page_size or self.page_size}
        if search is not None:
            params["search"] = search
        if product_id is not None:
            params["product_id"] = product_id
        endpoint = f"GET {COLLECTIONS}"
        page_model: CollectionPage = await self.request(
            "GET",
            COLLECTIONS,
            endpoint=endpoint,
            params=params,
            parse=self._validated(CollectionPage, endpoint),
        )
        return page_model

    async def iter_collections(
        self,
        *,
        search: str | None = None,
        product_id: int | None = None,
        on_count: Callable[[int], None] | None = None,
    ) -> AsyncIterator[Collection]:
        """Every collection of the account, each once, whatever the server's page-size cap.

        The first page tells the count and the page size the server really used; the remaining
        pages are then fetched a window at a time, ``concurrency`` pages at once (so memory does
        not grow with the account). Pages are numbered, so a list that changes while it is read
        shifts under the reader: when any page reports another count, or fewer collections came
        than counted, the list is read once more, sequentially, and what was missed is yielded.
        A list that keeps changing can still hide a collection, so callers confirm an absence
        (``get_collection``) before acting on it.
        """
        first = await self.list_page(1, search=search, product_id=product_id)
        if on_count is not None:
            on_count(first.count)
        seen: set[int] = set()
        counts = {first.count}
        for collection in first.results:
            seen.add(collection.pk)
            yield collection
        if first.next is not None and first.results:
            served = len(first.results)  # the cap may be below what we asked for
            last = math.ceil(first.count / served)
            window = max(1, self.limits.concurrency)
            for start in range(2, last + 1, window):
                numbers = range(start, min(start + window, last + 1))
                pages = await asyncio.gather(
                    *(self._page_or_none(n, search, product_id) for n in numbers)
                )
                for page in pages:
                    if page is None:
                        counts.add(-1)  # the list shrank while it was read
                        continue
                    counts.add(page.count)
                    for collection in page.results:
                        if collection.pk not in seen:
                            seen.add(collection.pk)
                            yield collection
        if len(counts) > 1 or len(seen) < first.count:
            log.warning("collsync.target.list_moved", counts=sorted(counts), read=len(seen))
            number: int | None = 1
            while number is not None:
                page = await self.list_page(number, search=search, product_id=product_id)
                for collection in page.results:
                    if collection.pk not in seen:
                        seen.add(collection.pk)
                        yield collection
                number = number + 1 if page.next else None

    async def _page_or_none(
        self, number: int, search: str | None, product_id: int | None
    ) -> CollectionPage | None:
        try:
            return await self.list_page(number, search=search, product_id=product_id)
        except NotFoundError:  # "Invalid page.": past the end
            return None

    async def list_collections(
        self, *, search: str | None = None, product_id: int | None = None
    ) -> list[Collection]:
        return [c async for c in self.iter_collections(search=search, product_id=product_id)]

    async def create_collection(self, name: str, status: Status = "private") -> Collection:
        """Create a collection. Accepts the documented list envelope and a plain object."""
        endpoint = f"POST {COLLECTIONS}"
        created: Collection = await self.request(
            "POST",
            COLLECTIONS,
            endpoint=endpoint,
            json_body={"name": name, "status": status},
            expect=(200, 201),
            parse=lambda response: self._created(response, name, endpoint),
        )
        return created

    def _created(self, response: httpx.Response, name: str, endpoint: str) -> Collection:
        """The new collection: the newest of that name in the envelope, which lists the
        account's collections."""
        with contextlib.suppress(ValidationError):
            listed = _CreateAnswer.model_validate_json(response.content).results
            heads = [c for c in listed if c.name == name]
            if not heads:
                raise self._not_listed(name, endpoint)
            head = max(heads, key=lambda c: c.pk)
            if not head.items:  # new, as expected: nothing more to read
                return Collection(**head.model_dump(exclude={"items"}))
        # A collection with items (not the new one after all), a plain object, or an envelope
        # with something odd: the one collection is read whole, leniently.
        body = decode_json(response, service=self.service, endpoint=endpoint)
        if isinstance(body, dict) and "results" in body:
            # Only the new collection is validated: the others are not needed, and one that does
            # not fit the document must not fail this create.
            results = body["results"] if isinstance(body["results"], list) else []
            raw = [r for r in results if isinstance(r, dict) and r.get("name") == name]
            if not raw:
                raise self._not_listed(name, endpoint)
            newest: Collection = self._model(
                Collection.model_validate, max(raw, key=_pk_or_zero), endpoint
            )
            return newest
        created: Collection = self._model(Collection.model_validate, body, endpoint)
        return created

    def _not_listed(self, name: str, endpoint: str) -> ProtocolError:
        return ProtocolError(
            f"the create answer does not list a collection named {name!r}",
            service=self.service,
            endpoint=endpoint,
        )

    async def get_collection(self, pk: int) -> Collection:
        endpoint = "GET /wishlists/user-collections/{pk}/"
        collection: Collection = await self.request(
            "GET",
            f"{COLLECTIONS}{pk}/",
            endpoint=endpoint,
            parse=self._validated(Collection, endpoint),
        )
        return collection

    async def update_collection(
        self, pk: int, *, name: str | None = None, status: Status | None = None
    ) -> Collection:
        changes = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
        endpoint = "PATCH /wishlists/user-collections/{pk}/"
        collection: Collection = await self.request(
            "PATCH",
            f"{COLLECTIONS}{pk}/",
            endpoint=endpoint,
            json_body=changes,
            parse=self._validated(Collection, endpoint),
        )
        return collection

    async def delete_collection(self, pk: int) -> None:
        endpoint = "DELETE /wishlists/user-collections/{pk}/"
        await self.request("DELETE", f"{COLLECTIONS}{pk}/", endpoint=endpoint, expect=(204, 200))

    # -- items ----------------------------------------------------------------------------------

    async def add_item(self, collection_pk: int, product_pk: int, note: str = "") -> Item:
        """Add a product. A refusal is a :class:`RejectedError` whatever it says (one for a
        product already there too: whether it is, the collection tells, not the wording)."""
        endpoint = f"POST {ITEMS}"
        item: Item = await self.request(
            "POST",
            ITEMS,
            endpoint=endpoint,
            json_body={
                "product_id": product_pk,
                "usercollection_id": collection_pk,
                "note": note,
            },
            expect=(200, 201),
            parse=self._validated(Item, endpoint),
        )
        return item

    async def remove_item(self, item_pk: int) -> None:
        endpoint = "DELETE /wishlists/user-collection-items/{pk}/"
        await self.request("DELETE", f"{ITEMS}{item_pk}/", endpoint=endpoint, expect=(204, 200))

    async def get_public(self, slug: str) -> Collection:
        """A public collection by slug (no authentication needed; 404 when private)."""
        endpoint = "GET /wishlists/user-collection/{slug}/"
        response = await self.send("GET", f"{PUBLIC}{slug}/", endpoint=endpoint, idempotent=True)
        collection: Collection = self._read(
            response, endpoint=endpoint, expect=(200,), parse=self._validated(Collection, endpoint)
        )
        return collection


__all__ = [
    "AkinonClient",
    "Collection",
    "CollectionPage",
    "Item",
    "Product",
    "ServiceError",
]
