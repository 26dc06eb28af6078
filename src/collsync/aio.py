"""Running a command's coroutine: on uvloop where it is installed, with fewer garbage
collections."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

T = TypeVar("T")

# Allocations between two collections of the youngest generation (Python's default is 700). A
# run makes a few objects a request that die young, by reference counting; collecting every
# 700 of them cost the cold benchmark 0.33 s of its 8.6 s of CPU (bench/RESULTS.md).
YOUNG_COLLECTION_EVERY = 10_000


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, on uvloop when it is available: a request then costs less CPU.

    uvloop is a dependency everywhere it builds (not on Windows); the standard loop does the
    same work, only slower.
    """
    with fewer_collections():
        try:
            import uvloop
        except ImportError:
            return asyncio.run(main)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """While inside: what exists already (the modules, mostly) is left out of the garbage
    collector's full passes, and the youngest generation is collected less often.

    Both are undone on the way out, so that a process running several commands (the tests, the
    demo) keeps Python's defaults between them.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
