"""Run-time control of a sandbox service: fault knobs and the request log.

Mounted under ``/__sandbox__/`` on both services; these requests are neither faulted nor logged.

- ``GET /__sandbox__/faults`` -> the knobs; ``PATCH`` with a JSON object changes some of them.
- ``GET /__sandbox__/requests`` -> counts (``?entries=1`` adds every request); ``DELETE`` clears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request

    from collsync.sandbox.faults import FaultInjector

PREFIX = "/__sandbox__"


def control_routes(injector: FaultInjector) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                changes = json.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of knob -> value")
                injector.faults.update(changes)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse(injector.faults.to_dict())

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            injector.log.clear()
            return Response(status_code=204)
        body = injector.log.summary()
        if request.query_params.get("entries"):
            body["entries"] = [e.to_dict() for e in injector.log.entries]
        return JSONResponse(body)

    return [
        Route(f"{PREFIX}/faults", faults, methods=["GET", "PATCH"]),
        Route(f"{PREFIX}/requests", requests, methods=["GET", "DELETE"]),
    ]
