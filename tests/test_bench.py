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
    assert "| scenario | collections |" in done.stdout
    assert "noop rerun without start-up:" in done.stdout
    assert "HTTP floor: the transport alone" in done.stdout
    results = {r["scenario"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"cold", "noop rerun", "rate-limited target"}
    cold, noop = results["cold"], results["noop rerun"]
    assert cold["requests"]["akinon POST /wishlists/user-collections/"] == 10
    assert cold["bound"] > 0
    assert cold["peak_rss_mb"] > 10
    assert cold["cpu"] > 0
    assert cold["http_floor_ms"]["collsync"] > 0
    assert cold["http_floor_ms"]["httpx"] > 0
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
    rows = [line for line in done.stdout.splitlines() if line.startswith("| limit")]
    assert len(rows) == 8
    # a limit alone is followed closely: most of what it accepts, few 429s
    burst = next(r for r in rows if r.startswith("| limit 100/s after a burst of 100"))
    accepted, refused = int(burst.split("|")[2].strip(" %")), float(burst.split("|")[4].strip(" %"))
    assert accepted >= 90
    assert refused < 5
