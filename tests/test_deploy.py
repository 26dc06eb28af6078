"""The deployment examples in deploy/ are the ones in the README, and they are valid."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize(
    "name", ["crontab", "collsync-sync.service", "collsync-sync.timer", "cronjob.yaml"]
)
def test_the_readme_shows_each_file_as_it_is(name: str) -> None:
    assert (DEPLOY / name).read_text(encoding="utf-8") in readme_blocks()


def test_the_crontab_line_is_well_formed() -> None:
    [line] = [x for x in (DEPLOY / "crontab").read_text().splitlines() if not x.startswith("#")]
    fields = line.split(None, 5)
    assert len(fields) == 6
    minute, hour, dom, month, dow, command = fields
    assert re.fullmatch(r"\*/\d+|\d+(,\d+)*|\*", minute)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in (hour, dom, month, dow))
    assert "collsync sync -c " in command
    assert "--json-logs" in command


def test_the_kubernetes_cronjob_never_overlaps_and_keeps_its_state() -> None:
    job = yaml.safe_load((DEPLOY / "cronjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"][:3] == ["sync", "-c", "/etc/collsync/store.toml"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes["state"]  # the state outlives the pod
    assert mounts["state"] == "/var/lib/collsync"
    assert pod["terminationGracePeriodSeconds"] >= 30  # room for the graceful stop


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    collsync = shutil.which("collsync")
    assert collsync is not None
    for name in ("collsync-sync.service", "collsync-sync.timer"):
        text = (DEPLOY / name).read_text()
        # verify checks that the binary exists; the secrets file is the admin's to create
        text = text.replace("/usr/local/bin/collsync", collsync).replace(
            "EnvironmentFile=/", "EnvironmentFile=-/"
        )
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "collsync-sync.service", "collsync-sync.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to parse" not in done.stderr
    assert "Unknown" not in done.stderr
