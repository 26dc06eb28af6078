"""The run lock holds across PID namespaces and host names, as two pods on one volume have."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .conftest import ENV, Sandbox

COLLECTIONS = "/wishlists/user-collections/"


def in_a_pod(sandbox: Sandbox, hostname: str) -> list[str]:
    """``collsync sync`` as PID 1 of a PID namespace of its own, under its own host name."""
    return [
        "unshare",
        "--pid",
        "--fork",
        "--uts",
        "--kill-child",
        "sh",
        "-c",
        f'hostname {hostname} && exec "$0" -m collsync sync -c "$1"',
        sys.executable,
        str(sandbox.config),
    ]


def run_in_a_pod(
    sandbox: Sandbox, hostname: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        in_a_pod(sandbox, hostname),
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("new PID and UTS namespaces need root and unshare (CI runs as root)")
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--uts", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"namespaces are not allowed here: {probe.stderr.strip()}")


@pytest.mark.usefixtures("namespaces")
def test_a_second_pod_exits_75_while_the_first_runs_and_runs_at_once_after_it_dies(
    sandbox: Sandbox,
) -> None:
    sandbox.faults(latency=0.1)
    first = subprocess.Popen(
        in_a_pod(sandbox, "pod-a"),
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(
            e.path == COLLECTIONS and e.method == "POST" for e in sandbox.commerce_log.entries
        ):
            assert first.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = run_in_a_pod(sandbox, "pod-b", timeout=60)
        assert second.returncode == 75, second.stderr
        assert "(pid 1 on pod-a" in second.stderr  # the holder as it saw itself
    finally:
        first.send_signal(signal.SIGKILL)  # an OOM-killed pod: the kernel frees its lock
        first.wait(timeout=10)
    sandbox.faults(latency=0.0)
    started = time.monotonic()
    third = run_in_a_pod(sandbox, "pod-c", timeout=120)
    assert third.returncode == 0, third.stderr
    assert time.monotonic() - started < 60
    assert sandbox.migrated() == sandbox.expected()
