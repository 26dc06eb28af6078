"""Serving sandbox apps on 127.0.0.1 with uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from collsync.sandbox.faults import ResponseLost

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from starlette.types import ASGIApp

HOST = "127.0.0.1"


class _QuietDrops(logging.Filter):
    """A dropped response is a fault we asked for, not an application error worth a traceback;
    nor is a request cut short by stopping the sandbox (uvicorn cancels what is still running
    when its graceful shutdown times out, and says so in a line of its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ResponseLost | asyncio.CancelledError)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_server(app: ASGIApp, port: int = 0, *, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port or free_port(),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return _SharedSignalServer(config)


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a daemon thread; yields its base URL."""
    server = uvicorn.Server(make_server(app, port).config)
    thread = threading.Thread(target=server.run, name="sandbox-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox server did not start on {HOST}:{server.config.port}")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


class _SharedSignalServer(uvicorn.Server):
    """Leaves signal handling to :func:`serve_all`, which stops all servers at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_all(
    servers: list[uvicorn.Server], on_ready: Callable[[], None] | None = None
) -> None:
    """Serve several apps until SIGINT or SIGTERM stops all of them.

    ``on_ready`` is called once every server is listening, so whatever it prints is true.
    """
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        serving = asyncio.gather(*(server.serve() for server in servers))
        while not all(server.started for server in servers):
            if serving.done():
                break  # a server failed to start: gather reports why
            await asyncio.sleep(0.01)
        else:
            if on_ready is not None:
                on_ready()
        await serving
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
