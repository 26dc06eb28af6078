"""The Akinon Commerce sandbox: user collections over HTTP, answered as Django REST Framework does.

Routes (all behind the fault injector, labelled by template in the request log):

- ``POST /users/login/`` -> ``{"key"}`` plus the session and ``csrftoken`` cookies.
- ``GET|POST /wishlists/user-collections/`` -> DRF page / create (201, list envelope by default).
- ``GET|PATCH|DELETE /wishlists/user-collections/{pk}/``, owner-scoped (404 otherwise).
- ``POST /wishlists/user-collection-items/`` and ``DELETE /wishlists/user-collection-items/{pk}/``.
- ``GET /wishlists/user-collection/{slug}/`` -> a public collection, no authentication.

Authentication is DRF's ``TokenAuthentication`` then ``SessionAuthentication``: a bad ``Token``
header is refused outright; a session needs ``X-CSRFToken`` equal to the ``csrftoken`` cookie on
unsafe methods. Adding an item to someone else's collection answers 400 on ``usercollection_id``, as
a related field limited to the user's own collections would. Login and the public endpoint look at
no credentials. Where the document is silent, DRF's and Django's defaults decide: names and notes
are trimmed, ``search`` needs every whitespace-separated term in the name (case-insensitively), and
a known path without its trailing slash is redirected (301, ``APPEND_SLASH``).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, compile_path

from collsync.sandbox.commerce_state import (
    NAME_MAX_LENGTH,
    PRIVATE,
    STATUSES,
    Collection,
    CommerceState,
    Login,
    Selection,
)
from collsync.sandbox.control import control_routes
from collsync.sandbox.data import CommerceSeed, SeedSpec, generate
from collsync.sandbox.faults import FaultInjector, Faults, retry_after_header

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

__all__ = ["CommerceSandbox", "CommerceState", "create_commerce_app"]

LOGIN = "/users/login/"
COLLECTIONS = "/wishlists/user-collections/"
COLLECTION = "/wishlists/user-collections/{pk}/"
ITEMS = "/wishlists/user-collection-items/"
ITEM = "/wishlists/user-collection-items/{pk}/"
PUBLIC_COLLECTION = "/wishlists/user-collection/{slug}/"

CSRF_COOKIE = "csrftoken"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes take every method so that DRF's ordering holds: authentication first, then 405.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_SESSION_AGE = 14 * 24 * 3600  # Django's SESSION_COOKIE_AGE
_CSRF_AGE = 52 * 7 * 24 * 3600  # Django's CSRF_COOKIE_AGE
_CSRF_CHARS = string.ascii_letters + string.digits
_DECIMAL_TAIL = re.compile(r"\.0*\s*$")  # DRF's IntegerField accepts "12.0"

_NOT_FOUND_HTML = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    "  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
_SERVER_ERROR_HTML = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n'
    "<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
)


ALREADY_IN_COLLECTION = "This product is already in the collection."
"""DRF's answer to a product added twice (an install may translate it)."""


@dataclass(frozen=True, slots=True)
class CommerceSandbox:
    """What ``app.state.sandbox`` holds: the fault injector and the storefront data."""

    injector: FaultInjector
    data: CommerceState


class _Reply(Exception):
    """Ends a request early with ``response`` (DRF raises APIException subclasses the same way)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _detail(message: str, status: int, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(_json({"detail": message}, status, headers))


def _not_found() -> _Reply:
    return _detail("Not found.", 404)


def _unauthenticated(message: str) -> _Reply:
    return _detail(message, 401, {"WWW-Authenticate": "Token"})


def _server_error() -> Response:
    return HTMLResponse(_SERVER_ERROR_HTML, status_code=500)


def _throttled(wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    unit = "second" if seconds == 1 else "seconds"  # DRF picks the singular for 1
    message = f"Request was throttled. Expected available in {seconds} {unit}."
    return _json({"detail": message}, 429, retry_after_header(wait))


# -- request bodies and fields, with DRF's parsers and messages ------------------------------------


async def _request_data(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    data: Any
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _detail(f"JSON parse error - {exc}", 400) from None
    elif media_type == "application/x-www-form-urlencoded":
        data = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        raise _detail(f'Unsupported media type "{content_type}" in request.', 415)
    if data is None:
        raise _Reply(_json({"non_field_errors": ["No data provided"]}, 400))
    if not isinstance(data, dict):
        message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
        raise _Reply(_json({"non_field_errors": [message]}, 400))
    return data


class _Fields:
    """Reads serializer fields from request data, collecting DRF's error messages per field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def check(self) -> None:
        if self.errors:
            raise _Reply(_json(self.errors, 400))

    def _present(self, name: str, required: bool) -> bool:
        if name in self.data and self.data[name] is not None:
            return True
        if name in self.data:
            self.error(name, "This field may not be null.")
        elif required:
            self.error(name, "This field is required.")
        return False

    def char(
        self, name: str, *, required: bool, blank: bool = False, max_length: int | None = None
    ) -> str | None:
        """A trimmed string (DRF's ``CharField``); None when absent or invalid."""
        if not self._present(name, required):
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(name, "Not a valid string.")
            return None
        text = str(value).strip()
        if not text and not blank:
            self.error(name, "This field may not be blank.")
        elif "\x00" in text:
            self.error(name, "Null characters are not allowed.")
        elif max_length is not None and len(text) > max_length:
            self.error(name, f"Ensure this field has no more than {max_length} characters.")
        else:
            return text
        return None

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        if not self._present(name, required=False):
            return None
        value = self.data[name]
        if str(value) not in choices:
            self.error(name, f'"{value}" is not a valid choice.')
            return None
        return str(value)

    def integer(self, name: str) -> int | None:
        """A required integer (DRF's ``IntegerField``); None when absent or invalid."""
        if not self._present(name, required=True):
            return None
        try:
            return int(_DECIMAL_TAIL.sub("", str(self.data[name])))
        except ValueError:
            self.error(name, "A valid integer is required.")
            return None

    def missing_pk(self, name: str) -> None:
        self.error(name, f'Invalid pk "{self.data[name]}" - object does not exist.')


# -- paging, as DRF's PageNumberPagination ---------------------------------------------------------


def _positive_int(text: str | None, cutoff: int) -> int | None:
    try:
        value = int(text) if text is not None else 0
    except ValueError:
        return None
    return min(value, cutoff) if value > 0 else None


def _page_number(text: str, pages: int) -> int:
    if text == "last":
        return pages
    try:
        number = int(text)
    except ValueError:
        raise _detail("Invalid page.", 404) from None
    if number < 1 or number > pages:
        raise _detail("Invalid page.", 404)
    return number


def _with_page(url: str, page: int) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop("page", None)
    if page > 1:  # DRF drops the parameter for the link to page 1
        params["page"] = [str(page)]
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment)
    )


def _search_terms(text: str) -> list[str]:
    return text.replace("\x00", "").replace(",", " ").split()


def _product_filter(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise _Reply(_json({"product_id": ["Enter a number."]}, 400)) from None


def _path_pk(request: Request) -> int:
    # A pk that is not a number finds nothing, as Django's lookup answers.
    try:
        return int(request.path_params["pk"])
    except ValueError:
        raise _not_found() from None


class _CommerceService:
    """The request handlers, over one storefront and one fault injector."""

    def __init__(
        self,
        state: CommerceState,
        injector: FaultInjector,
        *,
        page_size: int,
        max_page_size: int,
        session_cookie: str,
        create_response: Literal["envelope", "object"],
    ) -> None:
        self.state = state
        self.injector = injector
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.session_cookie = session_cookie
        self.create_response = create_response

    def routes(self) -> list[Route]:
        return [
            self._route(LOGIN, {"POST": self.login}, auth=False, writes=False),
            self._route(COLLECTIONS, {"GET": self.list_collections, "POST": self.create}),
            self._route(
                COLLECTION, {"GET": self.retrieve, "PATCH": self.update, "DELETE": self.destroy}
            ),
            self._route(ITEMS, {"POST": self.add_item}),
            self._route(ITEM, {"DELETE": self.remove_item}),
            self._route(PUBLIC_COLLECTION, {"GET": self.public}, auth=False, writes=False),
            Route("/{path:path}", self.unrouted, methods=_ALL_METHODS),
        ]

    def _route(
        self,
        template: str,
        handlers: dict[str, Callable[[Request, str], Awaitable[Response]]],
        *,
        auth: bool = True,
        writes: bool = True,
    ) -> Route:
        async def dispatch(request: Request) -> Response:
            try:
                user = self._authenticate(request) if auth else ""
                method = "GET" if request.method == "HEAD" else request.method
                if method not in handlers:
                    allow = ", ".join([*handlers, *(["HEAD"] if "GET" in handlers else [])])
                    message = f'Method "{request.method}" not allowed.'
                    raise _detail(message, 405, {"Allow": allow})
                return await handlers[method](request, user)
            except _Reply as reply:
                return reply.response

        async def endpoint(request: Request) -> Response:
            return await self.injector.serve(
                request,
                endpoint=f"{request.method} {template}",
                write=writes and request.method not in _SAFE_METHODS,
                handler=dispatch,
                server_error=_server_error,
                throttled=_throttled,
            )

        return Route(template, endpoint, methods=_ALL_METHODS)

    # -- authentication -------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str:
        """The user's email, or a 401/403 reply; each accepted request counts against expiry."""
        login = self._token_login(request)
        if login is not None:
            return login.email
        login = self.state.by_session(request.cookies.get(self.session_cookie, ""))
        # An unknown or expired session is just anonymous to Django.
        if login is None or not self.state.use(login, self.injector.faults.session_expiry):
            raise _unauthenticated("Authentication credentials were not provided.")
        if request.method not in _SAFE_METHODS:
            _check_csrf(request)
        return login.email

    def _token_login(self, request: Request) -> Login | None:
        words = request.headers.get("authorization", "").split()
        if not words or words[0].lower() != "token":
            return None  # not ours: DRF moves on to the session
        if len(words) == 1:
            raise _unauthenticated("Invalid token header. No credentials provided.")
        if len(words) > 2:
            raise _unauthenticated("Invalid token header. Token string should not contain spaces.")
        login = self.state.by_token(words[1])
        if login is None or not self.state.use(login, self.injector.faults.session_expiry):
            raise _unauthenticated("Invalid token.")
        return login

    # -- handlers -------------------------------------------------------------------------------

    async def login(self, request: Request, _user: str) -> Response:
        fields = _Fields(await _request_data(request))
        email = fields.char("email", required=True)
        password = fields.char("password", required=True)
        fields.check()
        login = self.state.login(email or "", password or "")
        if login is None:
            message = "Unable to log in with provided credentials."
            raise _Reply(_json({"non_field_errors": [message]}, 400))
        response = _json({"key": login.token})
        response.set_cookie(
            self.session_cookie, login.session_id, max_age=_SESSION_AGE, httponly=True
        )
        # Django rotates the CSRF secret at login; the cookie stays readable by scripts.
        csrf = "".join(secrets.choice(_CSRF_CHARS) for _ in range(64))
        response.set_cookie(CSRF_COOKIE, csrf, max_age=_CSRF_AGE)
        return response

    async def list_collections(self, request: Request, user: str) -> Response:
        params = request.query_params
        product_pk = _product_filter(params.get("product_id", ""))
        selection = self.state.select(user, _search_terms(params.get("search", "")), product_pk)
        size = _positive_int(params.get("page_size"), self.max_page_size) or self.page_size
        return _json(self._page(request, selection, params.get("page", "1"), size))

    def _page(self, request: Request, selection: Selection, page: str, size: int) -> dict[str, Any]:
        pages = max(1, math.ceil(selection.count / size))
        number = _page_number(page, pages)
        url = str(request.url)
        results = selection.window((number - 1) * size, size)
        return {
            "count": selection.count,
            "next": _with_page(url, number + 1) if number < pages else None,
            "previous": _with_page(url, number - 1) if number > 1 else None,
            "results": [self.state.collection_body(c) for c in results],
        }

    async def create(self, request: Request, user: str) -> Response:
        fields = _Fields(await _request_data(request))
        name = fields.char("name", required=True, max_length=NAME_MAX_LENGTH)
        status = fields.choice("status", STATUSES)
        fields.check()
        collection = self.state.create_collection(user, name or "", status or PRIVATE)
        if self.create_response == "object":
            return _json(self.state.collection_body(collection), 201)
        # The documented answer: the owner's first page, the new collection first.
        return _json(self._page(request, self.state.select(user), "1", self.page_size), 201)

    def _owned(self, request: Request, user: str) -> Collection:
        collection = self.state.owned(user, _path_pk(request))
        if collection is None:
            raise _not_found()
        return collection

    async def retrieve(self, request: Request, user: str) -> Response:
        return _json(self.state.collection_body(self._owned(request, user)))

    async def update(self, request: Request, user: str) -> Response:
        collection = self._owned(request, user)
        fields = _Fields(await _request_data(request))
        name = fields.char("name", required=False, max_length=NAME_MAX_LENGTH)
        status = fields.choice("status", STATUSES)
        fields.check()
        self.state.update_collection(collection, name=name, status=status)
        return _json(self.state.collection_body(collection))

    async def destroy(self, request: Request, user: str) -> Response:
        self.state.delete_collection(self._owned(request, user))
        return Response(status_code=204)

    async def add_item(self, request: Request, user: str) -> Response:
        fields = _Fields(await _request_data(request))
        product_pk = fields.integer("product_id")
        if product_pk is not None and product_pk not in self.state.products:
            fields.missing_pk("product_id")
        collection_pk = fields.integer("usercollection_id")
        collection = None if collection_pk is None else self.state.owned(user, collection_pk)
        if collection_pk is not None and collection is None:
            fields.missing_pk("usercollection_id")
        note = fields.char("note", required=False, blank=True)
        fields.check()
        if collection is None or product_pk is None:  # unreachable: check() raised
            raise _not_found()
        if product_pk in collection.items:
            raise _Reply(_json({"non_field_errors": [ALREADY_IN_COLLECTION]}, 400))
        item = self.state.add_item(collection, product_pk, note or "")
        return _json(self.state.item_body(item), 201)

    async def remove_item(self, request: Request, user: str) -> Response:
        item = self.state.owned_item(user, _path_pk(request))
        if item is None:
            raise _not_found()
        self.state.remove_item(item)
        return Response(status_code=204)

    async def public(self, request: Request, _user: str) -> Response:
        collection = self.state.public(request.path_params["slug"])
        if collection is None:
            raise _not_found()
        return _json(self.state.collection_body(collection))

    async def unrouted(self, request: Request) -> Response:
        async def answer(request: Request) -> Response:
            path = request.url.path
            # Django's APPEND_SLASH: a known path without its slash is redirected, not refused.
            if not path.endswith("/") and _routed(path + "/"):
                query = request.url.query
                return RedirectResponse(path + "/" + (f"?{query}" if query else ""), 301)
            return HTMLResponse(_NOT_FOUND_HTML, status_code=404)

        return await self.injector.serve(
            request,
            endpoint=f"{request.method} (no route)",
            write=False,
            handler=answer,
            server_error=_server_error,
            throttled=_throttled,
        )


def _check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    header = request.headers.get("x-csrftoken")
    if not cookie:
        raise _detail("CSRF Failed: CSRF cookie not set.", 403)
    if not header:
        raise _detail("CSRF Failed: CSRF token missing.", 403)
    if header != cookie:
        raise _detail("CSRF Failed: CSRF token incorrect.", 403)


_ROUTE_PATTERNS = [
    compile_path(t)[0] for t in (LOGIN, COLLECTIONS, COLLECTION, ITEMS, ITEM, PUBLIC_COLLECTION)
]


def _routed(path: str) -> bool:
    return any(pattern.match(path) for pattern in _ROUTE_PATTERNS)


def create_commerce_app(
    seed: CommerceSeed | None = None,
    *,
    faults: Faults | None = None,
    page_size: int = 20,
    max_page_size: int = 100,
    session_cookie: str = "osessionid",
    create_response: Literal["envelope", "object"] = "envelope",
    slug_seed: int = 0,
) -> Starlette:
    """The Akinon Commerce sandbox as an ASGI app; ``seed=None`` uses ``generate(SeedSpec())``."""
    if page_size < 1 or max_page_size < 1:
        raise ValueError(f"page sizes must be >= 1, got {page_size} and {max_page_size}")
    if create_response not in ("envelope", "object"):
        raise ValueError(f'create_response must be "envelope" or "object", not {create_response!r}')
    state = CommerceState(
        seed if seed is not None else generate(SeedSpec()).commerce, slug_seed=slug_seed
    )
    injector = FaultInjector("commerce", faults)
    service = _CommerceService(
        state,
        injector,
        page_size=page_size,
        max_page_size=max_page_size,
        session_cookie=session_cookie,
        create_response=create_response,
    )
    app = Starlette(routes=[*control_routes(injector), *service.routes()])
    app.state.sandbox = CommerceSandbox(injector=injector, data=state)
    return app
