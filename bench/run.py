"""collsync benchmark: the sandbox on loopback, collsync run as a user runs it, measured.

    python bench/run.py                       # every scenario at full size (several minutes)
    python bench/run.py --scale 0.1           # the same, a tenth of the data
    python bench/run.py --only cold,noop      # some scenarios
    python bench/run.py --python before=/tmp/old/bin/python --python after=python3
                                              # two versions, side by side, scenario by scenario

Each scenario starts ``collsync sandbox serve`` (its own process) with a latency and a seeded
store, runs ``collsync migrate`` or ``collsync sync`` in a subprocess, and reads the sandbox's
request log. The lower bound is (necessary requests) x latency / concurrency, or requests / rate
limit; efficiency is bound / wall time. CPU seconds and peak RSS are the collsync process's own,
from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = {
    "STORE_API_KEY": "sandbox-store-key",
    "AKINON_EMAIL": "migrator@example.com",
    "AKINON_PASSWORD": "sandbox-password",
}
CONFIG = """
[source]
url = "{store}"
api_key = "${{STORE_API_KEY}}"
page_size = 1000

[products]
resolve = "sku-map"
path = "{data}/sku-map.csv"

[target]
url = "{commerce}"
email = "${{AKINON_EMAIL}}"
password = "${{AKINON_PASSWORD}}"
page_size = 100

[state]
path = "{data}/state.db"

[run]
concurrency = {concurrency}
"""


@dataclass
class Scenario:
    name: str
    collections: int
    items: int
    latency: float
    concurrency: int
    command: list[str]
    rate_limit: float | None = None
    prepare: list[list[str]] = field(default_factory=list)
    """Commands run before the measured one (e.g. the migration a no-op rerun repeats)."""
    change: float = 0.0
    """Fraction of new store collections created between prepare and the measured run."""
    throttle_rate: float = 0.0
    """Fraction of requests the sandbox answers 429 at random, with Retry-After: 1."""


@dataclass
class Result:
    scenario: Scenario
    version: str
    exit_code: int
    wall: float
    cpu: float
    peak_rss_mb: float
    requests: dict[str, int]
    necessary: int
    bound: float
    throttled: int
    accepted_rate: float | None = None
    """Rate-limited scenario: Akinon requests answered (not 429) per second while loading."""
    http_floor_ms: dict[str, float] | None = None
    """Cold scenario: CPU ms per request of each transport alone, same sandbox (floor.py)."""
    speed_ms: float = 0.0
    """The machine's speed during the run: :class:`SpeedProbe`."""
    speed_samples: int = 0
    quick_s: dict[str, float] | None = None
    """No-op scenario: wall seconds of ``--help`` and ``status`` (:func:`quick_commands`)."""

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def efficiency(self) -> float:
        return self.bound / self.wall if self.wall else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=60) as answer:  # loopback only
        text = answer.read()
    return json.loads(text) if text else None


class Sandbox:
    def __init__(self, scenario: Scenario, workdir: Path) -> None:
        self.store, self.commerce = free_port(), free_port()
        products = max(500, scenario.collections // 2)
        args = [
            sys.executable,
            "-m",
            "collsync",
            "sandbox",
            "serve",
            "--store-port",
            str(self.store),
            "--commerce-port",
            str(self.commerce),
            "--collections",
            str(scenario.collections),
            "--items",
            str(scenario.items),
            "--products",
            str(products),
            "--data-dir",
            str(workdir),
            "--latency",
            str(scenario.latency),
            "--page-size-cap",
            "100",
            "--log-level",
            "warning",
        ]
        if scenario.rate_limit:
            args += ["--rate-limit", str(scenario.rate_limit)]
        if scenario.throttle_rate:
            args += ["--throttle-rate", str(scenario.throttle_rate), "--retry-after", "1"]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("Ctrl+C"):
                break
        else:
            raise RuntimeError(f"sandbox did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.store}"

    @property
    def commerce_url(self) -> str:
        return f"http://127.0.0.1:{self.commerce}"

    def requests(self, entries: bool = False) -> dict[str, Any]:
        query = "?entries=1" if entries else ""
        store = get_json(f"{self.store_url}/__sandbox__/requests")
        commerce = get_json(f"{self.commerce_url}/__sandbox__/requests{query}")
        return {"store": store, "commerce": commerce}

    def clear(self) -> None:
        for url in (self.store_url, self.commerce_url):
            get_json(f"{url}/__sandbox__/requests", method="DELETE")

    def create_collections(self, count: int) -> None:
        for start in range(0, count, 100):
            batch = [
                {"name": f"Bench Yeni {n}", "slug": f"bench-yeni-{n}"}
                for n in range(start, min(count, start + 100))
            ]
            get_json(
                f"{self.store_url}/api/v1/products/collections/create",
                method="POST",
                body={"authentication": {"apiKey": ENV["STORE_API_KEY"]}, "data": batch},
            )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_command(argv: list[str], python: str = sys.executable) -> tuple[int, float, float, float]:
    """Exit code, wall seconds, CPU seconds and peak RSS (MB) of one collsync command, run by
    ``python`` (a version of collsync installed in another environment)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [python, "-m", "collsync", *argv],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if process.stderr is not None:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_collsync(
    args: list[str], config: Path, python: str = sys.executable
) -> tuple[int, float, float, float]:
    """:func:`run_command` for a run with ``config``, logging only errors."""
    return run_command([*args, "-c", str(config), "--log-level", "error"], python)


def _fixed_work() -> int:
    """Dicts, strings and calls, as collsync's own Python work is made of (about 40 ms: long
    enough that waking an idle core, which a short piece pays in full, is a small part of it)."""
    total = 0
    for n in range(150_000):
        record = {"pk": n, "name": f"item {n}"}
        total += len(record["name"]) + record["pk"] % 7
    return total


class SpeedProbe:
    """The machine's speed while a command runs: the CPU milliseconds of :func:`_fixed_work`,
    timed on a thread of this process as the command starts and every two seconds after
    (about 2% of one core), median; ``samples`` says how many.

    This machine's speed drifts by half within an hour, and every CPU figure moves with it; a
    figure without the speed it was taken at compares with nothing."""

    def __init__(self, every: float = 2.0) -> None:
        self._every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            started = time.thread_time()
            _fixed_work()
            self.samples.append(1000 * (time.thread_time() - started))
            if self._stop.wait(self._every):
                return

    def __enter__(self) -> SpeedProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples)


def startup_cost(python: str = sys.executable) -> tuple[float, float]:
    """Wall and CPU seconds every run pays before its first request: the interpreter and
    collsync's imports, measured as ``collsync migrate --help`` (best of three)."""
    runs = [run_command(["migrate", "--help"], python) for _ in range(3)]
    return min((wall, cpu) for _code, wall, cpu, _rss in runs)


def quick_commands(python: str, config: Path) -> dict[str, float]:
    """Wall seconds (best of five) of the commands a person types and waits for: ``--help``,
    and ``status`` on the state a run left."""
    timings = {}
    for name, argv in (("--help", ["--help"]), ("status", ["status", "-c", str(config)])):
        timings[name] = min(run_command(argv, python)[1] for _ in range(5))
    return timings


def http_floor(sandbox: Sandbox, requests: int, concurrency: int, transport: str) -> float:
    """CPU milliseconds per request of a bare httpx client (``httpx``) or of collsync's client on
    it (``collsync``), sending the same calls to the same sandbox (floor.py)."""
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("floor.py")),
            sandbox.store_url,
            "--api-key",
            ENV["STORE_API_KEY"],
            "--requests",
            str(requests),
            "--concurrency",
            str(concurrency),
            "--transport",
            transport,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout)
    return 1000 * float(measured["cpu"]) / int(measured["requests"])


RETRY_AFTER_S = 1.0


def lower_bound(scenario: Scenario, requests: dict[str, int]) -> float:
    """Necessary requests x latency / concurrency (or / rate limit)."""
    necessary = sum(requests.values())
    if scenario.rate_limit:
        akinon = sum(n for k, n in requests.items() if k.startswith("akinon"))
        return akinon / scenario.rate_limit
    return necessary * scenario.latency / scenario.concurrency


def necessary_requests(
    read: int, on_akinon: int, new: int, items_each: int, products: int
) -> dict[str, int]:
    """What a perfect client sends: one count, the pages, one login, the writes, and the reads
    that verify the writes (the account's pages, or one read per collection when fewer)."""
    after = on_akinon + new
    return {
        "store count": 1,
        "store collection pages": read // 1000 + 1,
        "store product pages": products // 1000 + 1,
        "akinon login": 1,
        "akinon read-back pages": max(1, math.ceil(on_akinon / 100)),
        "akinon creates": new,
        "akinon item adds": new * items_each,
        "akinon verify reads": min(new, max(1, math.ceil(after / 100))) if new else 0,
    }


def measure(
    scenario: Scenario, sandbox: Sandbox, config: Path, version: str, python: str
) -> Result:
    for command in scenario.prepare:
        code, *_ = run_collsync(command, config, python)
        if code not in (0, 3):
            raise RuntimeError(f"{scenario.name}: preparing with {command} exited {code}")
    existing = scenario.collections if scenario.prepare else 0
    new = 0 if scenario.prepare else scenario.collections
    if scenario.change:
        sandbox.create_collections(int(scenario.collections * scenario.change))
        new = int(scenario.collections * scenario.change)
    sandbox.clear()
    with SpeedProbe() as speed:
        code, wall, cpu, rss = run_collsync(scenario.command, config, python)
    log = sandbox.requests(entries=bool(scenario.rate_limit))
    requests = {
        f"store {k.split('/api/v1/products/')[-1]}": v
        for k, v in log["store"]["by_endpoint"].items()
    }
    requests |= {f"akinon {k}": v for k, v in log["commerce"]["by_endpoint"].items()}
    throttled = int(log["commerce"]["by_status"].get("429", 0)) + int(
        log["store"]["by_status"].get("429", 0)
    )
    products = max(500, scenario.collections // 2)
    read = new if scenario.change else scenario.collections
    items_each = 0 if scenario.change else scenario.items  # new store collections have no items
    needed = necessary_requests(
        read,
        existing,
        new if "migrate" in scenario.command or scenario.change else 0,
        items_each,
        products,
    )
    return Result(
        scenario,
        version,
        code,
        wall,
        cpu,
        rss,
        requests,
        sum(needed.values()),
        # a refused request must wait its Retry-After (1 s) in one of the lanes
        lower_bound(scenario, needed)
        + (throttled * RETRY_AFTER_S / scenario.concurrency if scenario.throttle_rate else 0.0),
        throttled,
        accepted_rate(log["commerce"].get("entries")),
        speed_ms=speed.median_ms,
        speed_samples=len(speed.samples),
    )


def accepted_rate(entries: list[dict[str, Any]] | None) -> float | None:
    """Akinon requests answered per second, from the first write to the last request."""
    if not entries:
        return None
    writes = [e["at"] for e in entries if e["method"] == "POST" and "wishlists" in e["path"]]
    if len(writes) < 2:
        return None
    start, end = min(writes), max(e["at"] for e in entries)
    answered = sum(1 for e in entries if e["at"] >= start and e["status"] != 429)
    return answered / (end - start) if end > start else None


def scenarios(scale: float) -> list[Scenario]:
    def size(n: int) -> int:
        return max(10, int(n * scale))

    migrate, sync = ["migrate"], ["sync"]
    return [
        Scenario("cold", size(1000), 10, 0.05, 16, migrate),
        Scenario("naive (concurrency 1)", size(1000), 10, 0.05, 1, migrate),
        Scenario("noop rerun", size(1000), 10, 0.05, 16, migrate, prepare=[migrate]),
        Scenario(
            "incremental sync 5%", size(1000), 10, 0.05, 16, sync, prepare=[migrate], change=0.05
        ),
        Scenario("rate-limited target", size(500), 5, 0.0, 16, migrate, rate_limit=100),
        Scenario("no 429s (300 x 5, reference)", size(300), 5, 0.05, 16, migrate),
        Scenario(
            "random 429s 5% (Retry-After 1 s)", size(300), 5, 0.05, 16, migrate, throttle_rate=0.05
        ),
        Scenario("large store 10k (memory)", size(10_000), 5, 0.0, 16, migrate),
        Scenario("large store 100k (memory)", size(100_000), 5, 0.0, 16, migrate),
    ]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = cpu
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(results: list[Result], startup: dict[str, tuple[float, float]] | None = None) -> str:
    head = (
        "| scenario | version | collections | exit | requests | necessary | 429s | bound s "
        "| wall s | efficiency | CPU s | CPU ms/request | peak RSS MB | requests/s | speed ms |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in results:
        s = r.scenario
        lines.append(
            f"| {s.name} | {r.version} | {s.collections:,} x {s.items} | {r.exit_code} "
            f"| {r.total:,} | "
            f"{r.necessary:,} | {r.throttled} | {r.bound:.2f} | {r.wall:.2f} | "
            f"{r.efficiency:.2f} | {r.cpu:.2f} | {1000 * r.cpu / max(1, r.total):.2f} | "
            f"{r.peak_rss_mb:.0f} | {r.total / r.wall:.0f} | {r.speed_ms:.1f} |"
        )
    lines.append("")
    lines.extend(findings(results, startup))
    lines.append("")
    lines.append("Requests by kind:")
    for r in results:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.requests.items()))
        lines.append(f"- {r.scenario.name} ({r.version}): {kinds}")
    return "\n".join(lines)


def findings(
    results: list[Result], startup: dict[str, tuple[float, float]] | None = None
) -> list[str]:
    """The measured ratios the targets speak of, for the scenarios that ran."""
    lines = []
    for version, (wall, cpu) in (startup or {}).items():
        lines.append(
            f"- {version}: start-up, paid by every run before its first request (the "
            f"interpreter and imports: `collsync migrate --help`, best of three): {wall:.2f} s "
            f"wall, {cpu:.2f} s CPU."
        )
        for r in results:
            if r.version != version:
                continue
            if r.scenario.name.startswith(("cold", "noop")):
                lines.append(
                    f"- {version}: {r.scenario.name} without start-up: {r.wall - wall:.2f} s "
                    f"wall against a bound of {r.bound:.2f} s; "
                    f"{1000 * (r.cpu - cpu) / max(1, r.total):.2f} ms CPU per request."
                )
            if r.scenario.name.startswith("noop"):
                target = wall + 3 * r.scenario.latency + 0.5
                lines.append(
                    f"- {version}: noop rerun {r.wall:.2f} s against start-up + 3 dependent round "
                    f"trips + 0.5 s = {target:.2f} s ({'met' if r.wall <= target else 'NOT met'})."
                )
            if r.quick_s:
                lines.append(
                    f"- {version}: `collsync --help` {r.quick_s['--help']:.2f} s, "
                    f"`collsync status` {r.quick_s['status']:.2f} s (best of five)."
                )
    for r in results:
        if r.http_floor_ms is not None:
            lines.append(
                f"- HTTP floor: a bare httpx client sending the same calls to the same sandbox "
                f"costs {r.http_floor_ms['httpx']:.2f} ms CPU per request; collsync's client on "
                f"it (lanes, pacing, retries) {r.http_floor_ms['collsync']:.2f} ms "
                "(bench/floor.py)."
            )
    for version in dict.fromkeys(r.version for r in results):
        lines += _ratios([r for r in results if r.version == version], version)
    if results:
        speeds = sorted(r.speed_ms for r in results)
        lines.append(
            f"- Machine speed: a fixed piece of Python work (`SpeedProbe`, median while each "
            f"run ran) took {speeds[0]:.1f}-{speeds[-1]:.1f} ms CPU; CPU figures taken at "
            f"different speeds do not compare, and a run shorter than a few seconds has one or "
            f"two samples."
        )
    return lines


def _ratios(results: list[Result], version: str) -> list[str]:
    """One version's speed-up, rate, extra requests and memory by store size."""
    lines = []
    by_name = {r.scenario.name.split(" (")[0]: r for r in results}
    cold, naive = by_name.get("cold"), by_name.get("naive")
    if cold and naive and cold.scenario.collections == naive.scenario.collections:
        lines.append(
            f"- {version}: speed-up of concurrency {cold.scenario.concurrency} over one request "
            f"at a time: {naive.wall / cold.wall:.1f}x (the same migration, {naive.wall:.1f} s "
            f"vs {cold.wall:.1f} s)."
        )
    rate = by_name.get("rate-limited target")
    if rate and rate.scenario.rate_limit and rate.accepted_rate:
        limit = rate.scenario.rate_limit
        lines.append(
            f"- {version}: rate-limited target: {rate.accepted_rate:.1f} requests/s answered "
            f"while loading ({100 * rate.accepted_rate / limit:.0f}% of the {limit:g}/s limit); "
            f"{100 * rate.throttled / max(1, rate.total):.1f}% of requests answered 429."
        )
    for r in results:
        if r.total > r.necessary:
            lines.append(
                f"- {version}: {r.scenario.name}: {r.total - r.necessary} requests above necessary."
            )
    large = [r for r in results if r.scenario.name.startswith("large store")]
    if len(large) > 1:
        sizes = ", ".join(f"{r.peak_rss_mb:.0f} MB at {r.scenario.collections:,}" for r in large)
        lines.append(f"- {version}: peak RSS by store size: {sizes}.")
    return lines


def measure_in_sandbox(scenario: Scenario, version: str, python: str) -> Result:
    """One scenario for one version, in a sandbox and a state of its own."""
    with tempfile.TemporaryDirectory(prefix="collsync-bench-") as tmp:
        workdir = Path(tmp)
        sandbox = Sandbox(scenario, workdir)
        try:
            config = workdir / "bench.toml"
            config.write_text(
                CONFIG.format(
                    store=sandbox.store_url,
                    commerce=sandbox.commerce_url,
                    data=workdir,
                    concurrency=scenario.concurrency,
                )
            )
            result = measure(scenario, sandbox, config, version, python)
            if scenario.name == "cold" and python == sys.executable:
                requests = max(200, min(2000, result.total))
                result.http_floor_ms = {
                    transport: http_floor(sandbox, requests, scenario.concurrency, transport)
                    for transport in ("collsync", "httpx")
                }
            if scenario.name.startswith("noop"):
                result.quick_s = quick_commands(python, config)
        finally:
            sandbox.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--only", help="comma-separated scenario names (prefixes)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--python",
        action="append",
        metavar="NAME=PYTHON",
        help="a version of collsync to measure: its name, and the Python it is installed for "
        "(repeat for several, run side by side; default: this Python's)",
    )
    args = parser.parse_args(argv)
    versions = (
        dict(v.split("=", 1) for v in args.python) if args.python else {"this": sys.executable}
    )
    chosen = scenarios(args.scale)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        chosen = [s for s in chosen if any(s.name.startswith(w) for w in wanted)]
    startup = {version: startup_cost(python) for version, python in versions.items()}
    results = []
    for scenario in chosen:
        for version, python in versions.items():  # versions alternate: the machine drifts
            result = measure_in_sandbox(scenario, version, python)
            results.append(result)
            print(
                f"{scenario.name} ({version}): {result.wall:.2f}s, exit {result.exit_code}",
                file=sys.stderr,
            )
    print(f"Machine: {machine()}\n")
    print(table(results, startup))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "scenario": r.scenario.name,
                        "version": r.version,
                        "exit_code": r.exit_code,
                        "wall": r.wall,
                        "cpu": r.cpu,
                        "peak_rss_mb": r.peak_rss_mb,
                        "requests": r.requests,
                        "necessary": r.necessary,
                        "bound": r.bound,
                        "accepted_rate": r.accepted_rate,
                        "efficiency": r.efficiency,
                        "throttled": r.throttled,
                        "http_floor_ms": r.http_floor_ms,
                        "speed_ms": r.speed_ms,
                        "speed_samples": r.speed_samples,
                        "quick_s": r.quick_s,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    return 0 if all(r.exit_code == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
