"""Shared HTTP plumbing for both clients: limits, retries, timing logs and error translation.

httpx exceptions and raw status codes are translated into :mod:`collsync.errors` here and nowhere
else. Retrying follows what is provably safe:

- a request that never reached the server (connect error, pool timeout) is retried, whatever it is;
- a 429 is retried after ``Retry-After`` (the server refused it, so nothing happened);
- a timeout, dropped connection or 5xx is retried only for idempotent requests; for a write it
  becomes :class:`~collsync.errors.OutcomeUnknownError` and the caller (the journal) decides.

Backoff maths (exponential, jitter, caps) is stamina's; ``stamina.set_testing`` makes tests instant.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import httpx
import stamina
from aiolimiter import AsyncLimiter

from collsync.errors import (
    OutcomeUnknownError,
    ProtocolError,
    ServiceError,
    ThrottledError,
    TransientError,
)
from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    # Fixed headers, or a function giving them at each attempt (they may change meanwhile).
    Headers = Mapping[str, str] | Callable[[], Mapping[str, str]] | None

T = TypeVar("T")

log = get_logger("collsync.http")

# Never sent: the request provably did not reach the server.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
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


def _limiter(rate: float | None, burst: float = 1.0) -> AsyncLimiter | None:
    """An aiolimiter bucket for ``rate`` requests a second holding ``burst`` seconds' worth."""
    if not rate:
        return None
    capacity = max(1.0, rate * burst)  # the bucket must hold at least one whole request
    return AsyncLimiter(capacity, capacity / rate)


class AdaptiveRate:
    """Requests per second that follow what the service accepts (AIMD).

    No pacing until the service first answers 429 (or up to the configured ceiling). Each 429
    multiplies the rate by ``decrease`` (at most once per ``cooldown``: a burst of 429s is one
    signal); each second without one adds ``increase`` back, up to the ceiling. The pacing itself
    is aiolimiter's, with a small bucket so a lowered rate is not undone by a burst.
    """

    decrease = 0.9
    increase = 3.0
    cooldown = 1.0
    floor = 0.5

    def __init__(self, ceiling: float | None) -> None:
        self.ceiling = ceiling
        self.rate: float | None = ceiling
        self._limiter = _limiter(ceiling)
        self._sent: list[float] = []
        self._last_change = time.monotonic()

    async def acquire(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()
        now = time.monotonic()
        self._sent.append(now)
        if len(self._sent) > 4096:
            del self._sent[:2048]
        if self.rate is not None and now - self._last_change >= 1.0:
            grown = self.rate + self.increase * (now - self._last_change)
            self._set(min(grown, self.ceiling) if self.ceiling else grown, now)

    def throttled(self) -> None:
        now = time.monotonic()
        if self.rate is not None and now - self._last_change < self.cooldown:
            return
        recent = sum(1 for t in self._sent if now - t <= 1.0)
        current = min(self.rate, recent) if self.rate is not None else recent
        self._set(max(self.floor, current * self.decrease), now)
        log.info("collsync.http.rate_lowered", rate=round(self.rate or 0, 1))

    def _set(self, rate: float, now: float) -> None:
        self.rate = rate
        self._limiter = _limiter(rate, burst=0.1)
        self._last_change = now


class _Unsent(TransientError):
    """Internal: failed before reaching the server; always safe to retry."""


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


class ServiceClient:
    """One service's ``httpx.AsyncClient`` with its limits; subclasses speak the protocol."""

    service = "service"

    def __init__(
        self,
        base_url: str,
        *,
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=self.limits.timeout,
            headers=headers,
            limits=httpx.Limits(max_connections=self.limits.concurrency),
            follow_redirects=False,
        )
        self._slots = asyncio.Semaphore(self.limits.concurrency)
        self.pace = AdaptiveRate(self.limits.rate_limit)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

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
        headers: Headers = None,
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
        headers: Headers = None,
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
        headers: Headers = None,
        read: Callable[[httpx.Response], T] | None = None,
    ) -> T | httpx.Response:
        """Send with retries and return ``read(response)`` (the response itself by default).

        ``read`` runs inside the retry loop, so it may raise :class:`TransientError` for an answer
        that only looks successful (Commerscale's HTTP 200 error bodies). Raises
        :class:`ThrottledError`, :class:`TransientError` or :class:`OutcomeUnknownError` when the
        retries run out or retrying is not safe.
        """

        def retry_hook(exc: Exception) -> bool | float:
            if isinstance(exc, _Unsent):
                return True
            if isinstance(exc, ThrottledError):
                if exc.retry_after is None:
                    return True
                # A hint longer than we are willing to wait ends the retries: the record fails
                # now and a later run picks it up, instead of a cron job sleeping for hours.
                return exc.retry_after if exc.retry_after <= self.limits.retry_after_max else False
            return isinstance(exc, TransientError) and not isinstance(exc, OutcomeUnknownError)

        try:
            async for attempt in stamina.retry_context(
                on=retry_hook,
                attempts=self.limits.attempts,
                timeout=None,
                wait_initial=self.limits.wait_initial,
                wait_max=self.limits.wait_max,
            ):
                with attempt:
                    response = await self._send_once(
                        method,
                        path,
                        endpoint=endpoint,
                        idempotent=idempotent,
                        json_body=json_body,
                        content=content,
                        params=params,
                        headers=headers,
                    )
                    return read(response) if read is not None else response
        except _Unsent as exc:
            raise TransientError(exc.reason, service=self.service, endpoint=endpoint) from exc
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        idempotent: bool,
        json_body: Any,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Headers,
    ) -> httpx.Response:
        where: dict[str, Any] = {"service": self.service, "endpoint": endpoint}
        # Computed at each attempt: a login by another task may have changed cookie and CSRF.
        sent = dict(headers() if callable(headers) else (headers or {}))
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode()
            sent = {"Content-Type": "application/json", **sent}
        async with self._slots:
            await self.pace.acquire()
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method, path, content=content, params=params, headers=sent
                )
            except _UNSENT as exc:
                _log_failure(method, path, started, exc, where)
                raise _Unsent(f"could not connect: {exc!r}", **where) from exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                _log_failure(method, path, started, exc, where)
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection lost"
                if idempotent:
                    raise TransientError(f"{kind}: {exc!r}", **where) from exc
                raise OutcomeUnknownError(
                    f"{kind} after the request was sent; it may have been applied", **where
                ) from exc
            except httpx.HTTPError as exc:
                raise ProtocolError(f"HTTP failure: {exc!r}", **where) from exc
        log.debug(
            "collsync.http.request",
            method=method,
            path=path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            **where,
        )
        if response.status_code == 429:
            self.pace.throttled()  # slow down for everyone; this request waits Retry-After
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise ThrottledError("throttled (429)", retry_after=retry_after, status=429, **where)
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


def _log_failure(
    method: str, path: str, started: float, exc: Exception, where: dict[str, Any]
) -> None:
    log.debug(
        "collsync.http.request_failed",
        method=method,
        path=path,
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
