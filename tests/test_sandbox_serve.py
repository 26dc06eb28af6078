"""``collsync sandbox serve`` started as a user would, answering curl requests from the docs."""

from __future__ import annotations

import ast
import contextlib
import csv
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collsync.commands.sandbox import _check_port_free
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD, STORE_API_KEY

from .sandbox.store_examples import COUNT_ALL, DOC_API_KEY, GET_ALL

SANDBOX_PACKAGE = Path(__file__).resolve().parents[1] / "src" / "collsync" / "sandbox"


@dataclass
class Served:
    store: str
    commerce: str
    process: subprocess.Popen[str]
    banner: str


@contextlib.contextmanager
def serving(tmp_path: Path, *options: str) -> Iterator[Served]:
    """``collsync sandbox serve`` on free ports, once its banner says it listens."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collsync",
            "sandbox",
            "serve",
            "--store-port",
            "0",
            "--commerce-port",
            "0",
            "--collections",
            "25",
            "--data-dir",
            str(tmp_path / "data"),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner = []
    assert process.stdout is not None
    for line in process.stdout:
        banner.append(line)
        if line.startswith("Ctrl+C"):
            break
    text = "".join(banner)
    urls = re.findall(r"http://127\.0\.0\.1:\d+", text)
    assert len(urls) >= 2, text + (process.stderr.read() if process.stderr else "")
    try:
        yield Served(store=urls[0], commerce=urls[1], process=process, banner=text)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as sandbox:
        yield sandbox


def curl(*args: str) -> str:
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="needs curl")
def test_serve_answers_curl_requests_copied_from_the_documents(
    served: Served, tmp_path: Path
) -> None:
    # The store: the document's requests, pasted as printed (single quotes, tabs).
    count = json.loads(
        curl(
            f"{served.store}{COUNT_ALL.path}",
            "-d",
            COUNT_ALL.request.replace(DOC_API_KEY, STORE_API_KEY),
        )
    )
    assert count == {"count": "25"}
    records = json.loads(
        curl(
            f"{served.store}{GET_ALL.path}",
            "-d",
            GET_ALL.request.replace(DOC_API_KEY, STORE_API_KEY),
        )
    )
    assert len(records) == 25
    assert set(records[0]) == set(GET_ALL.expected()[0])
    refused = json.loads(curl(f"{served.store}{COUNT_ALL.path}", "-d", COUNT_ALL.request))
    assert refused["error"]["code"] == 401

    # Akinon: log in with a cookie jar, then write with the CSRF header, as a browser would.
    jar = tmp_path / "cookies.txt"
    login = json.loads(
        curl(
            f"{served.commerce}/users/login/",
            "-c",
            str(jar),
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps({"email": AKINON_EMAIL, "password": AKINON_PASSWORD}),
        )
    )
    assert set(login) == {"key"}
    csrf = next(
        line.split("\t")[-1].strip()
        for line in jar.read_text().splitlines()
        if "\tcsrftoken\t" in line
    )
    created = json.loads(
        curl(
            f"{served.commerce}/wishlists/user-collections/",
            "-b",
            str(jar),
            "-H",
            "Content-Type: application/json",
            "-H",
            f"X-CSRFToken: {csrf}",
            "-d",
            '{"name": "Test Collection", "status": "public"}',
        )
    )
    assert created["results"][0]["name"] == "Test Collection"
    assert created["results"][0]["public_url"].startswith(
        "/wishlists/user-collection/test-collection-"
    )
    listed = json.loads(
        curl(
            f"{served.commerce}/wishlists/user-collections/",
            "-H",
            f"Authorization: Token {login['key']}",
        )
    )
    assert listed["count"] == 1
    counts = json.loads(curl(f"{served.commerce}/__sandbox__/requests"))
    assert counts["writes"] == 1


def test_serve_writes_the_sku_map_and_stops_cleanly_on_ctrl_c(
    served: Served, tmp_path: Path
) -> None:
    with (tmp_path / "data" / "sku-map.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert set(rows[0]) == {"sku", "product_pk"}
    assert f"export STORE_API_KEY={STORE_API_KEY}" in served.banner
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 0
    assert served.process.stderr is not None
    assert "Traceback" not in served.process.stderr.read()


def test_ctrl_c_with_a_request_still_waiting_stops_without_a_traceback(tmp_path: Path) -> None:
    with serving(tmp_path, "--latency", "5") as sandbox:
        body = json.dumps({"authentication": {"apiKey": STORE_API_KEY}}).encode()
        waiting = threading.Thread(
            target=_answer_or_error, args=(f"{sandbox.store}{COUNT_ALL.path}", body), daemon=True
        )
        waiting.start()
        time.sleep(0.5)  # the request has arrived and waits out its latency

        sandbox.process.send_signal(signal.SIGINT)

        assert sandbox.process.wait(timeout=15) == 0
        assert sandbox.process.stderr is not None
        assert "Traceback" not in sandbox.process.stderr.read()


def _answer_or_error(url: str, body: bytes) -> None:
    with contextlib.suppress(OSError):  # cut short when the sandbox stops: expected here
        urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10).read()


def test_a_busy_port_is_a_clear_usage_error(served: Served, tmp_path: Path) -> None:
    busy = served.store.rsplit(":", 1)[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "collsync",
            "sandbox",
            "serve",
            "--store-port",
            busy,
            "--data-dir",
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"--store-port {busy}: the port is in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_whose_last_server_just_stopped_is_free() -> None:
    # A server that closed its side of a connection first leaves it in TIME_WAIT for a minute;
    # the server binds with SO_REUSEADDR, so the check must too.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end waits in TIME_WAIT
        client.close()
    _check_port_free("--store-port", port)  # no ConfigError
    with socket.create_server(("127.0.0.1", port)):  # and the server can bind it indeed
        pass


def test_the_sandbox_imports_nothing_else_from_collsync() -> None:
    # The stand-ins must follow the vendors' documents, never bend to fit our client.
    for path in SANDBOX_PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name == "collsync" or name.startswith("collsync."):
                    assert name.startswith("collsync.sandbox"), f"{path.name} imports {name}"


def test_the_same_port_for_both_services_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "collsync",
            "sandbox",
            "serve",
            "--store-port",
            "8799",
            "--commerce-port",
            "8799",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "both 8799" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing written before the check
