"""Reading the Akinon account back into the state, while the store is being read."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from collsync.logging import get_logger
from collsync.pipeline.models import ActualCollection, ActualItem

if TYPE_CHECKING:
    from collsync.pipeline.extract import Progress
    from collsync.state import State
    from collsync.target import AkinonClient, Collection

log = get_logger("collsync.run")

WINDOW = 2000
"""Collections read ahead of :meth:`ReadBack.save` at most (memory stays flat)."""


def actual_of(collection: Collection) -> ActualCollection:
    """An Akinon collection as the planner sees it."""
    return ActualCollection(
        pk=collection.pk,
        name=collection.name,
        slug=collection.slug,
        status=collection.status,
        public_url=collection.public_url,
        items=tuple(
            ActualItem(i.pk, i.product.pk, i.note or "", i.product.sku) for i in collection.items
        ),
    )


def _stopped() -> asyncio.CancelledError:
    return asyncio.CancelledError("the Akinon read-back was stopped before it finished")


class ReadBack:
    """Every collection of the Akinon account, fetched from the moment this is made.

    Its round trips (login, first page, the others) overlap the store's instead of following
    them; what it has read waits in a bounded queue until :meth:`save` writes it. Writing waits
    for ``save``, called once the store's extraction has committed: the state has one
    connection, and the read-back copy is replaced in one transaction of its own.
    """

    def __init__(self, akinon: AkinonClient, progress: Progress) -> None:
        self._read: asyncio.Queue[Collection | BaseException | None] = asyncio.Queue(maxsize=WINDOW)
        self._task = asyncio.create_task(self._fetch(akinon, progress))

    async def _fetch(self, akinon: AkinonClient, progress: Progress) -> None:
        on_count = lambda total: progress.start("read-back", total)  # noqa: E731
        ended = False
        try:
            async for collection in akinon.iter_collections(on_count=on_count):
                await self._read.put(collection)
                progress.advance("read-back")
            await self._read.put(None)
            ended = True
        except Exception as exc:  # raised again by save(), in the run's own task
            await self._read.put(exc)
            ended = True
        finally:
            # Stopped from outside: tell a waiting save(). The queue is not full when save()
            # waits on it; when it is full, save() finds the task done once it has drained it.
            if not ended and not self._read.full():
                self._read.put_nowait(_stopped())

    async def _next(self) -> Collection | BaseException | None:
        if self._read.empty() and self._task.done():
            return _stopped()  # ended without a word, and none is coming
        return await self._read.get()

    async def save(self, state: State) -> int:
        """Replace the state's copy of the account with what was read; the count written."""
        count = 0
        with state.transaction():
            state.readback.clear()
            while (collection := await self._next()) is not None:
                if isinstance(collection, BaseException):
                    raise collection
                state.readback.insert(actual_of(collection))
                count += 1
        log.info("collsync.run.read_back", collections=count)
        return count

    async def close(self) -> None:
        """Stop reading if it has not finished (the run failed before :meth:`save`), and wait
        for it to stop: the clients close after this."""
        self._task.cancel()
        await asyncio.wait({self._task})
