"""The one place collsync touches the network: an httpx transport that sends through aiohttp.

Clients build ``httpx.Request`` objects and get ``httpx.Response`` objects back, as with any
httpx transport (tests inject ``httpx.MockTransport`` or the sandbox's ASGI transport instead).
Underneath, aiohttp does the HTTP/1.1: its C parser and plain asyncio streams cost less than
half the CPU of httpx's own transport (httpcore, h11 and anyio) for each request, which is what
bounds a migration's CPU. aiohttp's errors are translated here, once, into httpx's, by what they
prove about the request: a failure to connect means it never left, anything after that means
it may have been applied. (httpx-aiohttp maps a dropped connection to ``ConnectTimeout``,
"never sent", which would let a write be sent twice; hence this module.)

Nothing is sent again here: aiohttp would resend a GET, PUT or DELETE once, unpaced and
uncounted, when the connection drops; collsync's retries decide instead (collsync.http). Cookies
are not kept (collsync sends the session it holds), redirects are not followed and answers are
decoded by httpx, as with httpx's own transport.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import ssl

    import aiohttp

_CHUNK = 64 * 1024
_BUFFERED = 64 * 1024  # asyncio's write buffer: a body up to this size never waits on a drain


def _translated(exc: BaseException) -> httpx.TransportError:
    """The httpx error saying what ``exc`` (aiohttp's, or asyncio's) proves about the request."""
    import aiohttp

    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # no connection in time: never sent
        return httpx.ConnectTimeout(message)
    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: never sent
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(message)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message)
    # A hang-up, a truncated body, or an answer that is not HTTP (ClientResponseError)
    if isinstance(
        exc,
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
    ):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):
        return httpx.ReadError(message)
    return httpx.TransportError(message)


def _proxy_settings(proxy: str | None) -> tuple[str | None, dict[str, str]]:
    """aiohttp's proxy URL and headers: credentials in the URL become Proxy-Authorization."""
    if proxy is None:
        return None, {}
    url = httpx.URL(proxy)
    if not url.username:
        return proxy, {}
    credentials = f"{url.username}:{url.password}".encode()
    headers = {"Proxy-Authorization": "Basic " + base64.b64encode(credentials).decode()}
    return str(url.copy_with(username=None, password=None)), headers


def _total(timeout: dict[str, float | None], body: bytes) -> float | None:
    """A bound on the whole exchange when the body could wait on the service: aiohttp has no
    write timeout, and a service that stops reading would otherwise hold the request forever.
    A body the socket's buffers take at once cannot wait (and a timer for each request costs)."""
    if len(body) <= _BUFFERED:
        return None
    parts = [timeout.get(k) for k in ("pool", "connect", "write", "read")]
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Up to ``connections`` kept-alive connections through one aiohttp session, verifying TLS
    with ``ssl_context`` (aiohttp's default when None).

    The session is opened at the first request (aiohttp binds it to the running event loop).
    """

    def __init__(
        self, *, connections: int, ssl_context: ssl.SSLContext | None, proxy: str | None = None
    ) -> None:
        self._connections = connections
        self._ssl_context = ssl_context
        self._proxy, self._proxy_headers = _proxy_settings(proxy)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp  # only when something is sent: --help and config errors do not pay for it

        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            ssl=self._ssl_context or True,  # True: aiohttp's own verifying context
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes, so that answers read the same either way
            trust_env=False,  # the proxy is chosen by collsync.http, as for every transport
            skip_auto_headers=("Content-Type",),  # no invented content type for a bare body
        )
        session._retry_connection = False  # no silent resend (see above); tested
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp
        from yarl import URL

        if self._session is None:
            if self._closed:
                raise RuntimeError("the transport is closed")
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        if self._proxy_headers and request.url.scheme == "http":
            # aiohttp sends proxy_headers only on a CONNECT, that is for https targets
            headers += self._proxy_headers.items()
        try:
            async with self._session.request(
                request.method,
                URL(str(request.url), encoded=True),  # exactly as httpx quoted it
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=_total(timeout, request.content),
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
                proxy=self._proxy,
                proxy_headers=self._proxy_headers or None,
                read_bufsize=_CHUNK,
            ) as answer:
                body = await answer.read()
                status, raw, reason = answer.status, answer.raw_headers, answer.reason
                spoken = answer.version
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translated(exc) from exc
        version = f"HTTP/{spoken.major}.{spoken.minor}".encode() if spoken else b"HTTP/1.1"
        extensions: dict[str, Any] = {"http_version": version}
        if reason:
            extensions["reason_phrase"] = reason.encode()
        return httpx.Response(
            status,
            headers=list(raw),
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
