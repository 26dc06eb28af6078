"""Akinon's authentication, as an httpx auth flow.

Session mode logs in with email and password (``POST /users/login/``), then sends the session
cookie on every request and ``X-CSRFToken`` (with a ``Referer``) on every non-GET one; an
install that answers the login with its token only, or a configured token, is sent as
``Authorization: Token``. A 401, or a 403 that names CSRF, proves the request was not carried
out: the flow logs in again (once for all the requests that notice at the same time) and sends
the request again. A flow never sends a request more than ``RELOGINS`` times more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from collsync.errors import AuthenticationError, ConfigError, NotSentError, ProtocolError
from collsync.logging import get_logger, register_secret

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

log = get_logger("collsync.target")

LOGIN = "/users/login/"
RELOGINS = 3
"""Logins one request may trigger: its own session may expire, then a fresh one under load."""


@dataclass(frozen=True, slots=True)
class _Session:
    cookie: str
    """The ``Cookie`` header: session id and CSRF cookie."""
    csrf: str | None


def session_refused(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 403 and b"CSRF" in response.content[:300]


def field_messages(body: Any) -> dict[str, list[str]]:
    """DRF's error body as ``field -> messages`` (``detail`` and ``non_field_errors`` too)."""
    if not isinstance(body, dict):
        return {}
    fields: dict[str, list[str]] = {}
    for key, value in body.items():
        if isinstance(value, list):
            fields[key] = [str(v) for v in value]
        elif isinstance(value, str):
            fields[key] = [value]
    return fields


def summary(fields: dict[str, list[str]]) -> str:
    return "; ".join(
        (" ".join(msgs) if key in ("detail", "non_field_errors") else f"{key}: {' '.join(msgs)}")
        for key, msgs in fields.items()
    )


class AkinonAuth(httpx.Auth):
    """The credentials of one Akinon account, and the session they open."""

    def __init__(
        self,
        build: Callable[..., httpx.Request],
        *,
        email: str | None,
        password: str | None,
        token: str | None,
        session_cookie: str = "osessionid",
        referer: str = "",
    ) -> None:
        if token is None and (email is None or password is None):
            raise ValueError("Akinon needs email and password, or a token")
        self._build = build
        """Builds a request as the client would (its base URL and headers)."""
        self.email, self.password, self._token = email, password, token
        self._session_cookie = session_cookie
        self._referer = referer
        self._session: _Session | None = None
        self._lock = asyncio.Lock()
        self.logins = 0
        """Bumped at every login: concurrent refusals log in only once."""
        register_secret(password)
        register_secret(token)

    @property
    def session_mode(self) -> bool:
        return self.email is not None and self.password is not None

    def login_request(self) -> httpx.Request:
        return self._build(
            "POST",
            LOGIN,
            json={"email": self.email, "password": self.password},
            extensions={"collsync_endpoint": f"POST {LOGIN}"},
        )

    def accept_login(self, response: httpx.Response) -> None:
        """Take the session (or token) a login answer gives; raise what a refusal means."""
        endpoint = f"POST {LOGIN}"
        where: dict[str, Any] = {"service": "akinon", "endpoint": endpoint}
        if response.status_code in (404, 405) or "json" not in response.headers.get(
            "Content-Type", ""
        ):
            raise ConfigError(
                f"target.url: {response.request.url} answered HTTP {response.status_code} "
                f"({response.headers.get('Content-Type', 'no type')}), not an Akinon login: "
                "check target.url"
            )
        try:
            body = response.json()
        except ValueError:
            raise ProtocolError(
                f"the login answer is not JSON (HTTP {response.status_code})", **where
            ) from None
        if response.status_code in (400, 401, 403):
            fields = field_messages(body)
            raise AuthenticationError(
                f"login as {self.email} refused: {summary(fields) or response.status_code}",
                status=response.status_code,
                **where,
            )
        if response.status_code != 200 or not isinstance(body, dict) or "key" not in body:
            raise ProtocolError(
                f"unexpected login answer (HTTP {response.status_code})",
                status=response.status_code,
                **where,
            )
        register_secret(str(body["key"]))
        session = response.cookies.get(self._session_cookie)
        csrf = response.cookies.get("csrftoken")
        register_secret(session)
        register_secret(csrf)
        if session is None:  # some installs answer with the token only; it serves as well
            self._token, self._session = str(body["key"]), None
        else:
            cookie = f"{self._session_cookie}={session}"
            self._session = _Session(cookie if not csrf else f"{cookie}; csrftoken={csrf}", csrf)
        self.logins += 1
        log.info("collsync.target.logged_in", email=self.email, logins=self.logins)

    @property
    def csrf_token(self) -> str | None:
        return self._session.csrf if self._session else None

    def _apply(self, request: httpx.Request) -> None:
        if self._session is None:
            if self._token:
                request.headers["Authorization"] = f"Token {self._token}"
            return
        request.headers["Cookie"] = self._session.cookie
        if request.method != "GET" and self._session.csrf:
            request.headers["X-CSRFToken"] = self._session.csrf
            request.headers["Referer"] = self._referer  # Django checks it over HTTPS

    def _logged_in(self) -> bool:
        return self._session is not None or self._token is not None

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for attempt in range(RELOGINS + 1):
            seen = self.logins
            if self.session_mode and (attempt or not self._logged_in()):
                async with self._lock:
                    if self.logins == seen:  # nobody logged in meanwhile: log in
                        answer = yield self.login_request()
                        await answer.aread()
                        self._accept_relogin(answer)
                if attempt:
                    log.info("collsync.target.session_expired", path=request.url.path)
            self._apply(request)
            response = yield request
            await response.aread()  # a CSRF refusal is told by its body
            if not self.session_mode or not session_refused(response):
                return

    def _accept_relogin(self, response: httpx.Response) -> None:
        """A login within a request: refused for now (429, 5xx) is no answer about the request,
        which was not carried out, so it may be sent again as it is."""
        if response.status_code == 429 or response.status_code >= 500:
            raise NotSentError(
                f"logging in again was refused for now (HTTP {response.status_code}); the "
                "request was not carried out",
                service="akinon",
                endpoint=f"POST {LOGIN}",
                status=response.status_code,
            )
        self.accept_login(response)
