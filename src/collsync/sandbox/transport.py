"""In-process access to a sandbox service through httpx, with network-like failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from collsync.sandbox.faults import ResponseLost

if TYPE_CHECKING:
    from starlette.types import ASGIApp


class SandboxTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that reports a dropped response the way a socket would.

    Use it as ``httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store")``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ResponseLost as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()
