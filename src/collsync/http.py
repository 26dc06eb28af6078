"""Shared HTTP plumbing for both clients: one ``httpx.AsyncClient`` per service, with retries,
pacing and error translation.

httpx does the HTTP: its own transport, keep-alive connections up to the service's concurrency,
proxies and certificate stores from the environment (``HTTPS_PROXY``, ``NO_PROXY``,
``SSL_CERT_FILE``...), timeouts. httpx's exceptions and raw status codes are translated into
:mod:`collsync.errors` here and nowhere else. Retrying follows what is provably safe, and only
here (httpx itself never sends a request again):

- a request that never reached the server (connect error, connect or pool timeout) is retried,
  whatever it is;
- a 429 is retried after ``Retry-After`` (the server refused it, so nothing happened);
- a timeout, dropped connection or 5xx is retried only for idempotent requests; for a write it
  becomes :class:`~collsync.errors.OutcomeUnknownError` and the caller (the journal) decides.

Backoff maths (exponential, jitter, caps) is stamina's; ``stamina.set_testing`` makes tests instant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import httpx
import pydantic_core
import stamina

from collsync import __version__
from collsync.errors import (
    NotSentError,
    OutcomeUnknownError,
    ProtocolError,
    ServiceError,
    ThrottledError,
    TransientError,
)
from collsync.logging import debug_enabled, get_logger
from collsync.pacing import AdaptiveRate

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Mapping

    from stamina.instrumentation import RetryDetails

T = TypeVar("T")

log = get_logger("collsync.http")

# Never sent: the request provably did not reach the server.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """How hard one service may be driven."""

    concurrency: int = 8
    rate_limit: float | None = None
    """Requests per second; ``None`` for no limit."""
    timeout: float = 30.0
    attempts: int = 5
    wait_initial: float = 0.2
    wait_max: float = 10.0
    retry_after_max: float = 120.0
    """The longest ``Retry-After`` honoured; a longer one is reported instead of waited out."""


def retry_wait(exc: Exception, limits: Limits) -> bool | float:
    """Whether a failed request is sent again, and after how long (stamina's retry hook):
    ``True`` after the usual backoff, a number after that many seconds, ``False`` never."""
    if isinstance(exc, ThrottledError):
        if exc.retry_after is None:
            return True
        # A hint longer than we are willing to wait ends the retries: the record fails now and
        # a later run picks it up, instead of a cron job sleeping for hours.
        return exc.retry_after if exc.retry_after <= limits.retry_after_max else False
    if isinstance(exc, NotSentError):
        return True
    return isinstance(exc, TransientError) and not isinstance(exc, OutcomeUnknownError)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header; ``None`` when absent, unparsable or <= 0 (no hint)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return seconds if seconds > 0 else None


def _certificates() -> ssl.SSLContext:
    """The certificate store, as httpx reads it from the environment (``SSL_CERT_FILE``,
    ``SSL_CERT_DIR``, else certifi's), loaded once for all the lanes: loading it takes as long
    as dozens of requests."""
    return _store(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _store(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=True)


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing: a client sends only the session it was given."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class ServiceClient:
    """One service's ``httpx.AsyncClient`` with its limits; subclasses speak the protocol.

    ``transport`` replaces httpx's own (tests and the in-process sandbox); the environment's
    proxies then do not apply. ``clock`` and ``sleep`` pace requests (injected by tests).
    """

    service = "service"

    def __init__(
        self,
        base_url: str,
        *,
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        # Lanes: one client, of one connection, for each request in flight. A request waits
        # for a lane before its pacing turn (no turn is spent waiting for a connection), and
        # each client's pool looks after one connection only: httpcore checks every idle
        # connection of a pool on each request and answer (bench/RESULTS.md).
        self._clients = [
            httpx.AsyncClient(
                base_url=self.base_url,
                transport=transport,
                trust_env=True,
                verify=_certificates(),
                timeout=self.limits.timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                headers={"User-Agent": f"collsync/{__version__}"},
                cookies=_no_cookies(),
                event_hooks={"request": [_started], "response": [self._log_answer]},
            )
            for _ in range(max(1, self.limits.concurrency))
        ]
        self._client = self._clients[0]  # builds requests; any lane sends them
        self._lanes: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        for client in self._clients:
            self._lanes.put_nowait(client)
        self.pace = AdaptiveRate(
            self.limits.rate_limit, clock=clock, sleep=sleep, service=self.service
        )

    async def _log_answer(self, response: httpx.Response) -> None:
        """Every exchange at debug level, the logins an auth flow sends included."""
        if not debug_enabled():
            return
        request = response.request
        started = request.extensions.get("collsync_started", time.perf_counter())
        log.debug(
            "collsync.http.request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            service=self.service,
            endpoint=request.extensions.get("collsync_endpoint", request.url.path),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    def where(self, path: str) -> str:
        """The full address of ``path``, for messages."""
        relative = httpx.URL(path).raw_path.lstrip(b"/")
        return str(self.base_url.copy_with(raw_path=self.base_url.raw_path + relative))

    @overload
    async def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        idempotent: bool,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        auth: httpx.Auth | None = None,
        read: None = None,
    ) -> httpx.Response: ...

    @overload
    async def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        idempotent: bool,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        auth: httpx.Auth | None = None,
        read: Callable[[httpx.Response], T],
    ) -> T: ...

    async def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        idempotent: bool,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        auth: httpx.Auth | None = None,
        read: Callable[[httpx.Response], T] | None = None,
    ) -> T | httpx.Response:
        """Send with retries and return ``read(response)`` (the response itself by default).

        ``read`` runs inside the retry loop, so it may raise :class:`TransientError` for an answer
        that only looks successful (Commerscale's HTTP 200 error bodies). Raises
        :class:`ThrottledError`, :class:`TransientError` or :class:`OutcomeUnknownError` when the
        retries run out or retrying is not safe.
        """
        headers = {}
        if json_body is not None:
            content = pydantic_core.to_json(json_body)  # UTF-8, like ensure_ascii=False
            headers["Content-Type"] = "application/json"
        where: dict[str, Any] = {"service": self.service, "endpoint": endpoint}

        def retry_hook(exc: Exception) -> bool | float:
            return retry_wait(exc, self.limits)

        async def once() -> T | httpx.Response:
            request = self._client.build_request(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                extensions={"collsync_endpoint": endpoint},
            )
            response = await self._exchange(request, idempotent=idempotent, auth=auth, **where)
            return read(response) if read is not None else response

        async for attempt in stamina.retry_context(
            on=retry_hook,
            attempts=self.limits.attempts,
            timeout=None,
            wait_initial=self.limits.wait_initial,
            wait_max=self.limits.wait_max,
        ):
            with attempt:
                return await once()
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _exchange(
        self, request: httpx.Request, *, idempotent: bool, auth: httpx.Auth | None, **where: Any
    ) -> httpx.Response:
        """One send, its answer read whole; errors say what they prove about the request."""
        lane = await self._lanes.get()
        try:
            turn = await self.pace.acquire()
            started = time.perf_counter()
            try:
                response = await lane.send(request, auth=auth)
            except _UNSENT as exc:
                _log_failure(request, started, exc, where)
                raise NotSentError(f"could not connect: {exc!r}", **where) from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                _log_failure(request, started, exc, where)
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection lost"
                if idempotent:
                    raise TransientError(f"{kind}: {exc!r}", **where) from exc
                raise OutcomeUnknownError(
                    f"{kind} after the request was sent; it may have been applied", **where
                ) from exc
            except httpx.HTTPError as exc:
                raise ProtocolError(f"HTTP failure: {exc!r}", **where) from exc
        finally:
            self._lanes.put_nowait(lane)
        if response.status_code == 429:
            self.pace.throttled(turn)  # slow down for everyone; this one waits Retry-After
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise ThrottledError("throttled (429)", retry_after=retry_after, status=429, **where)
        self.pace.accepted(turn)
        if response.status_code >= 500:
            message = f"server error {response.status_code}"
            if idempotent:
                raise TransientError(message, status=response.status_code, **where)
            raise OutcomeUnknownError(
                f"{message} answering a write; it may have been applied",
                status=response.status_code,
                **where,
            )
        return response


async def _started(request: httpx.Request) -> None:
    request.extensions["collsync_started"] = time.perf_counter()


def _retry_scheduled(details: RetryDetails) -> None:
    """stamina's retries, told in collsync's words: which request, what happened, how long it
    waits."""
    exc = details.caused_by
    if isinstance(exc, ServiceError):
        what: dict[str, Any] = {
            "service": exc.service,
            "endpoint": exc.endpoint,
            "status": exc.status,
            "error": exc.reason,
        }
    else:
        what = {"error": f"{type(exc).__name__}: {exc}"}
    log.warning(
        "collsync.http.retry_scheduled",
        attempt=details.retry_num,
        wait_s=round(details.wait_for, 2),
        **what,
    )


stamina.instrumentation.set_on_retry_hooks([_retry_scheduled])


def _log_failure(
    request: httpx.Request, started: float, exc: Exception, where: dict[str, Any]
) -> None:
    log.debug(
        "collsync.http.request_failed",
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **where,
    )


def decode_json(response: httpx.Response, *, service: str, endpoint: str) -> Any:
    """The JSON body, or a :class:`ProtocolError` naming the endpoint and what came instead."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "unknown content type")
        snippet = response.text[:80].replace("\n", " ")
        kind = (
            "an HTML page"
            if "html" in content_type or snippet.lstrip().startswith("<")
            else ("invalid or truncated JSON")
        )
        raise ProtocolError(
            f"expected JSON, got {kind} (HTTP {response.status_code}, {content_type}): {snippet!r}",
            service=service,
            endpoint=endpoint,
            status=response.status_code,
        ) from None


__all__ = ["Limits", "ServiceClient", "ServiceError", "decode_json", "parse_retry_after"]
