"""Running a command's coroutine: the garbage collector's settings are the command's own."""

from __future__ import annotations

import gc
import threading

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


def test_a_freeze_the_process_made_itself_survives_a_run() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()

        aio.run(_settings())

        # still frozen (a few frozen objects may have been freed meanwhile), not thawed to 0
        assert gc.get_freeze_count() > 0.9 * frozen
    finally:
        gc.unfreeze()


def test_automatic_collection_turned_off_stays_off_during_a_run() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        during, _frozen = aio.run(_settings())

        assert during[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_runs_on_two_threads_at_once_leave_the_defaults_as_they_found_them() -> None:
    """The first run in is the first out: the last one out must still restore the defaults."""
    before = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[tuple[int, int, int], int]] = []

    async def first() -> None:
        first_in.set()
        second_in.wait(timeout=10)
        seen.append(await _settings())

    async def second() -> None:
        second_in.set()
        first_out.wait(timeout=10)
        seen.append(await _settings())

    def run_first() -> None:
        aio.run(first())
        first_out.set()

    threads = [
        threading.Thread(target=run_first),
        threading.Thread(target=aio.run, args=(second(),)),
    ]
    threads[0].start()
    assert first_in.wait(timeout=10)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=20)

    assert [during[0] for during, _frozen in seen] == [aio.YOUNG_COLLECTION_EVERY] * 2
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
