"""Running a command's coroutine: on uvloop where it is installed, with fewer garbage
collections."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

T = TypeVar("T")

# The youngest generation is collected each time this many more objects have been allocated
# than freed (Python's default is 700). A run's requests in flight and answers being read cross
# 700 often; collecting that often cost the cold benchmark 0.33 s of its 8.6 s of CPU
# (bench/RESULTS.md), and 0.04 s at 10,000.
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


_lock = threading.Lock()
_inside = 0  # runs now inside fewer_collections(): the first changes the settings, the last
_saved: tuple[tuple[int, int, int], bool] | None = None  # restores these (threshold, froze)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """While inside: what exists already (the modules, mostly) is left out of the garbage
    collector's full passes, and the youngest generation is collected less often.

    Both are undone on the way out, so that a process running several commands (the tests, the
    demo) keeps its own settings between them: a freeze the process made itself stays, and so
    does automatic collection turned off.
    """
    global _inside, _saved
    with _lock:
        _inside += 1
        if _inside == 1:
            threshold, froze = gc.get_threshold(), gc.get_freeze_count() == 0
            _saved = (threshold, froze)
            if froze:
                gc.freeze()
            if gc.isenabled() and threshold[0]:
                gc.set_threshold(max(threshold[0], YOUNG_COLLECTION_EVERY), *threshold[1:])
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                assert _saved is not None  # written by the first run in
                threshold, froze = _saved
                _saved = None
                gc.set_threshold(*threshold)
                if froze:
                    gc.unfreeze()
