"""The benchmark runs end to end at a tiny size, so it cannot rot (its targets live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs_and_reports_every_column(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--scale",
            "0.01",
            "--only",
            "cold,noop,rate",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| scenario | version | collections |" in done.stdout
    assert "`collsync --help`" in done.stdout  # timed with `status` in the no-op scenario
    assert "noop rerun without start-up:" in done.stdout
    assert "HTTP floor: a bare httpx client" in done.stdout
    results = {r["scenario"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"cold", "noop rerun", "rate-limited target"}
    cold, noop = results["cold"], results["noop rerun"]
    assert cold["requests"]["akinon POST /wishlists/user-collections/"] == 10
    assert cold["bound"] > 0
    assert cold["peak_rss_mb"] > 10
    assert cold["cpu"] > 0
    assert cold["http_floor_ms"]["collsync"] > 0
    assert cold["http_floor_ms"]["httpx"] > 0
    assert cold["speed_ms"] > 0
    assert "Machine speed: a fixed piece of Python work" in done.stdout
    # a rerun writes nothing
    assert not any(
        k.startswith(("akinon POST /wishlists", "akinon PATCH", "akinon DELETE"))
        for k in noop["requests"]
    )


def test_the_pacing_simulation_runs_every_service() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pacing.py"), "--seeds", "1", "--seconds", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = {
        line.split("|")[1].strip(): [cell.strip(" %") for cell in line.split("|")[2:-1]]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| service")
    }
    assert len(rows) == 25  # every service of both tables
    # a limit alone is followed closely: most of what it accepts, few 429s
    accepted, _, refused = rows["limit 100/s after a burst of 100, 300/s offered"]
    assert int(accepted) >= 90
    assert float(refused) < 5
    accepted_per_second, _, refused, _ = rows["limit 100/s"]
    assert float(accepted_per_second) > 90
    assert float(refused) < 5
    # random refusals do not slow 16 requests in flight (0.1 s each) to a crawl
    accepted_per_second, _, _, undone = rows["10% refused at random"]
    assert float(accepted_per_second) > 100
    assert int(undone) >= 1
