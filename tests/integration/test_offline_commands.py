"""Commands that read only the state need no secret: an empty environment is enough."""

from __future__ import annotations

import json
import subprocess

from click.testing import CliRunner

from collsync.cli import main

from .conftest import Sandbox
from .host import collsync_binary


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    """``collsync ARGS`` with nothing in its environment, as `env -i` gives."""
    return subprocess.run(
        [collsync_binary(), *args], env={}, capture_output=True, text=True, timeout=60
    )


def test_status_failures_and_export_map_run_with_an_empty_environment(sandbox: Sandbox) -> None:
    assert CliRunner().invoke(main, ["migrate", "-c", str(sandbox.config)]).exit_code == 0
    config = str(sandbox.config)
    status = offline("status", "-c", config, "--format", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["map"]["collections"] == 60
    failures = offline("failures", "-c", config)
    assert (failures.returncode, failures.stdout.strip()) == (0, "no open failures")
    redirects = offline("export-map", "-c", config, "--format", "csv")
    assert redirects.returncode == 0, redirects.stderr
    assert len(redirects.stdout.splitlines()) == 61  # a header and one line a collection


def test_a_command_that_reaches_a_service_names_every_missing_variable_at_once(
    sandbox: Sandbox,
) -> None:
    done = offline("sync", "-c", str(sandbox.config))
    assert done.returncode == 2
    for name in ("STORE_API_KEY", "AKINON_EMAIL", "AKINON_PASSWORD"):
        assert name in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 4
