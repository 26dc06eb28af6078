"""Progress as log lines: a few lines a stage, with a rate and the time left."""

from __future__ import annotations

from structlog.testing import capture_logs

from collsync.commands.progress import ProgressLines


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_few_seconds_and_one_at_the_end_of_a_stage() -> None:
    clock = Clock()
    progress = ProgressLines(every=5.0, clock=clock)
    with capture_logs() as events:
        progress.start("load", 80)
        for _ in range(80):
            clock.now += 0.25  # 4 a second: 20 s for the stage
            progress.advance("load")
    lines = [e for e in events if e["event"] == "collsync.progress"]
    assert [line["done"] for line in lines] == [20, 40, 60, 80]  # every 5 s; the last, the end
    first = lines[0]
    assert (first["stage"], first["total"], first["per_s"], first["eta_s"]) == ("load", 80, 4.0, 15)
    assert lines[-1]["eta_s"] == 0


def test_a_stage_of_unknown_size_reports_what_it_did() -> None:
    clock = Clock()
    progress = ProgressLines(every=5.0, clock=clock)
    with capture_logs() as events:
        progress.start("extract", None)
        clock.now += 6
        progress.advance("extract", 300)
        progress.advance("unknown-stage")  # never started: ignored
    [line] = events
    assert (line["done"], line["total"], line["per_s"], line["eta_s"]) == (300, None, 50.0, None)
