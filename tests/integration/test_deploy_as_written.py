"""The README's crontab line and systemd unit, run as written against the sandbox.

Each runs on a host laid out as the README tells the administrator to (config and secrets in
/etc/collsync, the state in /var/lib/collsync), with the config made from the shipped template:
a scheduled setup that would fail for a user fails here.
"""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from .conftest import ENV, Sandbox
from .host import Host, require_namespaces

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CRON_ENVIRONMENT = [
    "HOME=/var/lib/collsync",
    "LOGNAME=collsync",
    "SHELL=/bin/sh",
    "PATH=/usr/bin:/bin",
]


@pytest.fixture
def host(sandbox: Sandbox, tmp_path: Path) -> Host:
    """The administrator's part: the template filled in, the secrets file, the folders."""
    require_namespaces()
    made = Host(tmp_path / "host")
    template = (REPO / "config" / "store.example.toml").read_text(encoding="utf-8")
    config = template.replace('"https://store.example.com"', f'"{sandbox.store_url}"').replace(
        '"https://commerce.example.com"', f'"{sandbox.commerce_url}"'
    )
    assert config != template
    made.place("/etc/collsync/store.toml", config)
    made.place(
        "/etc/collsync/sku-map.csv", (sandbox.tmp / "sku-map.csv").read_text(encoding="utf-8")
    )
    made.place("/etc/collsync/secrets.env", secrets_file(ENV), mode=0o640)
    made.folder("/var/lib/collsync", 0o700)
    made.folder("/var/log/collsync", 0o750)
    return made


def secrets_file(values: dict[str, str]) -> str:
    """deploy/secrets.env.example with the sandbox's values, quoted as it shows."""
    lines = []
    for line in (DEPLOY / "secrets.env.example").read_text(encoding="utf-8").splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={shlex.quote(values[key])}" if key in values else line)
    assert all(f"{key}=" in "\n".join(lines) for key in values)
    return "\n".join(lines) + "\n"


def readme_block(after: str) -> str:
    """The first code block of the README after the line ``after``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    start = rest.index("```bash\n") + len("```bash\n")
    return rest[start : rest.index("```", start)]


def test_the_readme_cron_setup_runs_as_written(tmp_path: Path) -> None:
    require_namespaces()
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd")
    fresh = Host(tmp_path / "fresh")  # a machine with none of it yet
    lines = readme_block("### cron").splitlines()
    setup = [line for line in lines if not line.startswith("crontab ")]  # no cron daemon here
    assert len(setup) == len(lines) - 1
    done = fresh.run(["sh", "-ec", "\n".join(setup)], cwd=REPO)
    assert done.returncode == 0, done.stderr
    secrets = fresh.written("/etc/collsync/secrets.env")
    assert secrets.read_text() == (DEPLOY / "secrets.env.example").read_text()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o640
    assert stat.S_IMODE(fresh.written("/var/lib/collsync").stat().st_mode) == 0o700


def crontab_command() -> str:
    entries = [
        line
        for line in (DEPLOY / "crontab").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    [entry] = entries
    command = entry.split(None, 5)[5]
    assert "%" not in command  # cron would turn it into a newline
    return command


def test_the_crontab_line_syncs_and_mails_nothing_when_all_is_well(
    host: Host, sandbox: Sandbox
) -> None:
    done = host.run(["env", "-i", *CRON_ENVIRONMENT, "sh", "-c", crontab_command()])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # cron mails nothing
    log = host.written("/var/log/collsync/sync.jsonl").read_text(encoding="utf-8")
    *events, summary = [json.loads(line) for line in log.splitlines()]  # all JSON lines
    assert "collsync.run.finished" in {event["event"] for event in events}
    assert (summary["status"], summary["exit_code"]) == ("ok", 0)
    assert sandbox.migrated() == sandbox.expected()
    state = host.written("/var/lib/collsync/collsync.db")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_the_crontab_line_prints_one_line_to_mail_when_the_sync_fails(host: Host) -> None:
    host.place("/etc/collsync/secrets.env", secrets_file({**ENV, "AKINON_PASSWORD": "wrong"}))
    done = host.run(["env", "-i", *CRON_ENVIRONMENT, "sh", "-c", crontab_command()])
    [line] = (done.stdout + done.stderr).splitlines()
    assert line.startswith("collsync sync exited 1 ")
    assert "/var/log/collsync/sync.jsonl" in line
    log = host.written("/var/log/collsync/sync.jsonl").read_text(encoding="utf-8")
    assert "refused" in log
    assert "wrong" not in log  # the password is redacted


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "collsync-sync.service", encoding="utf-8")
    return parser


def systemd_environment(text: str) -> list[str]:
    """EnvironmentFile= as systemd reads it: KEY=value lines, quotes removed."""
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs.append(f"{key}={shlex.split(value)[0] if value else ''}")
    return pairs


def run_the_unit(host: Host, argv: list[str] | None = None) -> tuple[int, str]:
    """The service's ExecStart (or ``argv``) under its sandboxing: ProtectSystem=strict and
    PrivateTmp, writable only its StateDirectory, ReadWritePaths and /tmp."""
    service = unit()["Service"]
    assert service["ProtectSystem"] == "strict"
    writable = [f"/var/lib/{service['StateDirectory']}"] + [
        path.lstrip("-") for path in service.get("ReadWritePaths", "").split()
    ]
    secrets = (host.root / "files" / service["EnvironmentFile"].lstrip("/")).read_text()
    command = argv or shlex.split(service["ExecStart"])
    done = host.run(["env", "-i", *systemd_environment(secrets), *command], writable=writable)
    return done.returncode, done.stdout + done.stderr


def test_the_systemd_unit_runs_as_written_under_its_own_sandboxing(
    host: Host, sandbox: Sandbox
) -> None:
    code, output = run_the_unit(host)
    assert code == 0, output
    assert sandbox.migrated() == sandbox.expected()
    assert host.written("/var/lib/collsync/collsync.db").exists()


def test_check_names_a_state_the_unit_could_not_write(host: Host, sandbox: Sandbox) -> None:
    config = (host.root / "files/etc/collsync/store.toml").read_text()
    host.place(
        "/etc/collsync/store.toml",
        config.replace('path = "/var/lib/collsync/collsync.db"', 'path = "state/collsync.db"'),
    )
    check = ["/usr/local/bin/collsync", "check", "-c", "/etc/collsync/store.toml"]
    code, output = run_the_unit(host, check)
    assert code == 2
    assert "state.path: cannot write in /etc/collsync (a read-only filesystem" in output
    code, output = run_the_unit(host)
    assert code == 2, output
    assert "Traceback" not in output
    assert "state.path: " in output
    assert sandbox.migrated() == {}
