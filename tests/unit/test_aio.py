"""Running a command's coroutine: the garbage collector's settings are the command's own."""

from __future__ import annotations

import gc

import pytest

from collsync import aio


async def _settings() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_a_run_collects_less_often_and_leaves_the_defaults_as_it_found_them() -> None:
    before = gc.get_threshold()

    during, frozen = aio.run(_settings())

    assert during[0] == aio.YOUNG_COLLECTION_EVERY > before[0]
    assert during[1:] == before[1:]
    assert frozen > 0  # the modules loaded before the run are out of the full passes
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_run_that_fails_leaves_the_defaults_too() -> None:
    before = gc.get_threshold()

    async def failing() -> None:
        raise LookupError("no such collection")

    with pytest.raises(LookupError):
        aio.run(failing())

    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
