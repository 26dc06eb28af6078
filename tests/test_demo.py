"""``collsync demo``: the README's main job, run as a user would run it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_migrates_reruns_with_no_writes_and_shows_a_change(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "collsync",
            "demo",
            "--collections",
            "40",
            "--dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"create\s+│\s+40\s+│\s+40\s+│", out), out
    assert "Verified 40 of 40 collections" in out
    assert "Write requests sent to Akinon by the second run: 0" in out
    assert "1 to update" in out
    assert "(yenilendi)" in out
    assert "Sample public URL http://127.0.0.1:" in out
    assert (tmp_path / "demo" / "state.db").exists()
    assert "Traceback" not in done.stderr
    # the config it leaves behind holds no secret, only references
    config = (tmp_path / "demo" / "collsync.toml").read_text(encoding="utf-8")
    assert "sandbox-password" not in config
    assert "${AKINON_PASSWORD}" in config
