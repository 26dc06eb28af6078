"""Fault injection and the request log shared by both sandbox services.

Every sandbox endpoint runs through :meth:`FaultInjector.serve`, which applies the configured faults
(latency, server errors, 429s, a requests-per-second limit, targeted failures), calls the handler,
may lose the response of a committed write, and logs the request so tests can count writes.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send


class ResponseLost(Exception):
    """Raised after a committed write whose response must never reach the client."""


@dataclass(slots=True)
class Faults:
    """Fault knobs; every field can be set at start and changed at run time."""

    latency: float = 0.0
    """Seconds from a request's arrival to its answer (or longer, if handling takes longer)."""
    error_rate: float = 0.0
    """Fraction of requests answered with a server error (before any change is made)."""
    throttle_rate: float = 0.0
    """Fraction of requests answered 429 with ``Retry-After``."""
    retry_after: float = 1.0
    """The ``Retry-After`` value sent with a random 429."""
    drop_write_rate: float = 0.0
    """Fraction of writes that commit but whose response is lost (connection dropped)."""
    session_expiry: int | None = None
    """Akinon only: a session or token stops working after this many authenticated requests."""
    rate_limit: float | None = None
    """Requests per second accepted; requests over it are answered 429."""
    fail_containing: dict[str, int] = field(default_factory=dict)
    """Request-body substring -> how many more times a write containing it gets a server error."""
    seed: int = 0
    """Seed of the random draws, so a fault pattern can be replayed."""

    def update(self, changes: dict[str, Any]) -> None:
        """Change some knobs, all or none: a bad value leaves every knob as it was."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(unknown)}; known: {sorted(known)}")
        candidate = replace(self, **{k: _typed(k, v) for k, v in changes.items()})
        candidate._check()
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def _check(self) -> None:
        for name in ("error_rate", "throttle_rate", "drop_write_rate"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.latency < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency!r}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be > 0 or null, got {self.rate_limit!r}")
        if self.session_expiry is not None and self.session_expiry < 1:
            raise ValueError(f"session_expiry must be >= 1 or null, got {self.session_expiry!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FLOATS = {"latency", "error_rate", "throttle_rate", "retry_after", "drop_write_rate"}


def _typed(name: str, value: Any) -> Any:
    """Check a knob's type (JSON gives strings and bools where numbers belong)."""
    if name in _FLOATS or name == "rate_limit":
        if value is None and name == "rate_limit":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if name in ("session_expiry", "seed"):
        if value is None and name == "session_expiry":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return value
    if name == "fail_containing":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool)
            for k, n in value.items()
        ):
            raise ValueError(f"{name} must map text to a count, got {value!r}")
        return dict(value)
    return value


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    service: str
    method: str
    path: str
    endpoint: str
    status: int
    write: bool
    fault: str | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Every request a sandbox service answered (or dropped), in order."""

    def __init__(self) -> None:
        self.entries: list[LoggedRequest] = []

    def record(self, entry: LoggedRequest) -> None:
        self.entries.append(entry)

    def clear(self) -> None:
        self.entries.clear()

    def counts(self) -> dict[str, int]:
        """Requests per endpoint label, e.g. ``{"POST /wishlists/user-collections/": 3}``."""
        return dict(Counter(e.endpoint for e in self.entries))

    def writes(self) -> int:
        """Requests that asked to change something (whatever their outcome)."""
        return sum(1 for e in self.entries if e.write)

    def summary(self) -> dict[str, Any]:
        return {
            "total": len(self.entries),
            "writes": self.writes(),
            "by_endpoint": self.counts(),
            "by_status": {str(k): v for k, v in Counter(e.status for e in self.entries).items()},
            "faults": dict(Counter(e.fault for e in self.entries if e.fault)),
        }


class _TokenBucket:
    def __init__(self) -> None:
        self.tokens = 0.0
        self.stamp = time.monotonic()
        self.rate: float | None = None

    def take(self, rate: float) -> float:
        """Take a token; return 0 when granted, else seconds until one is available."""
        now = time.monotonic()
        if self.rate != rate:  # (re)configured: start full
            self.rate, self.tokens, self.stamp = rate, max(1.0, rate), now
        self.tokens = min(max(1.0, rate), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


class FaultInjector:
    """Applies :class:`Faults` to the requests of one service and logs them."""

    def __init__(self, service: str, faults: Faults | None = None) -> None:
        self.service = service
        self.faults = faults or Faults()
        self.faults._check()
        self.log = RequestLog()
        self._rng = random.Random(self.faults.seed)
        self._seed = self.faults.seed
        self._bucket = _TokenBucket()

    def _roll(self, rate: float) -> bool:
        if self._seed != self.faults.seed:  # seed changed at run time: restart the sequence
            self._seed = self.faults.seed
            self._rng = random.Random(self._seed)
        return rate > 0 and self._rng.random() < rate

    def _targeted(self, body: bytes) -> str | None:
        for needle, remaining in self.faults.fail_containing.items():
            if remaining > 0 and needle.encode() in body:
                self.faults.fail_containing[needle] = remaining - 1
                return needle
        return None

    async def serve(
        self,
        request: Request,
        *,
        endpoint: str,
        write: bool,
        handler: Callable[[Request], Awaitable[Response]],
        server_error: Callable[[], Response],
        throttled: Callable[[float], Response],
    ) -> Response:
        """Run ``handler`` under the configured faults and log the outcome."""
        faults = self.faults
        fault: str | None = None
        response: Response | None = None
        arrived = time.monotonic()
        # Read the whole request first, as a real server does: a client that gives up while the
        # server is busy does not stop the server from applying its write.
        body = await request.body()
        if faults.rate_limit is not None:
            wait = self._bucket.take(float(faults.rate_limit))
            if wait > 0:
                fault, response = "rate_limit", throttled(wait)
        if response is None and self._roll(faults.throttle_rate):
            fault, response = "throttle", throttled(faults.retry_after)
        if response is None and self._roll(faults.error_rate):
            fault, response = "error", server_error()
        targeted = write and bool(faults.fail_containing)
        if response is None and targeted and self._targeted(body):
            fault, response = "targeted_error", server_error()
        if response is None:
            response = await handler(request)
            committed = write and response.status_code < 400 and not _is_error_body(response)
            if committed and self._roll(faults.drop_write_rate):
                fault, response = "response_lost", LostResponse(response)
        if faults.latency > 0:
            # The answer leaves ``latency`` after the request arrived: handling it is part of
            # that time, as with a real service, not added to it.
            await asyncio.sleep(arrived + faults.latency - time.monotonic())
        self.log.record(
            LoggedRequest(
                service=self.service,
                method=request.method,
                path=request.url.path,
                endpoint=endpoint,
                status=response.status_code,
                write=write,
                fault=fault,
                at=time.time(),
            )
        )
        return response


def _is_error_body(response: Response) -> bool:
    # Commerscale reports errors with HTTP 200 and an {"error": ...} body.
    return bool(getattr(response, "body", b"")[:9] == b'{"error":')


def retry_after_header(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds, as HTTP defines it (at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class LostResponse(Response):
    """Starts the real response, then drops the connection before the body is sent.

    Served by uvicorn, the client sees the headers and then a closed connection; in-process,
    :class:`ResponseLost` propagates and :class:`collsync.sandbox.transport.SandboxTransport`
    turns it into the same ``httpx.RemoteProtocolError`` a client would get over the network.
    """

    def __init__(self, committed: Response) -> None:
        super().__init__(content=committed.body, status_code=committed.status_code)
        self.raw_headers = committed.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        raise ResponseLost(f"response to a committed write dropped (status {self.status_code})")
