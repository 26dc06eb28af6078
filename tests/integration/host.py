"""A host laid out as the deploy examples assume, in a mount namespace of the test's own.

``/etc``, ``/var`` and ``/usr/local`` are overlaid for the one command run in the namespace, so
the examples' paths (``/etc/collsync/store.toml``, ``/var/lib/collsync``,
``/usr/local/bin/collsync``...) exist exactly as written and vanish with it; what the command
wrote stays readable in the overlays' upper folders. ``protect`` reproduces systemd's
``ProtectSystem=strict``: everything read-only but the folders given (and ``/tmp``, writable as
``PrivateTmp``'s is). Needs
root and ``unshare``; the command runs as root (the interpreter lives in root's home here), so
a file's owner is not what this checks, its place is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

OVERLAID = ("/etc", "/var", "/usr/local")

SETUP = """
set -eu
root=$1; shift
mount --make-rprivate /
for top in /etc /var /usr/local; do
    name=$(printf %s "$top" | tr / _)
    mkdir -p "$root/upper$name" "$root/work$name"
    mount -t overlay overlay \
        -o "lowerdir=$top,upperdir=$root/upper$name,workdir=$root/work$name" "$top"
done
cp -R "$root/files/." /
mkdir -p /usr/local/bin
ln -sf "$COLLSYNC_BINARY" /usr/local/bin/collsync
unset COLLSYNC_BINARY
if [ -n "${WRITABLE+set}" ]; then  # ProtectSystem=strict
    for place in $WRITABLE; do
        if [ -d "$place" ]; then mount --bind "$place" "$place"; fi
    done
    mount --bind /tmp /tmp  # writable, as PrivateTmp's is (and the checkout may live there)
    mount -o remount,bind,ro /
    for top in /etc /var /usr/local; do mount -o remount,bind,ro "$top"; done
    unset WRITABLE
fi
exec "$@"
"""


def collsync_binary() -> str:
    """The installed ``collsync`` script of this interpreter (not a shim that needs $HOME)."""
    beside = Path(sys.executable).with_name("collsync")
    found = str(beside) if beside.exists() else shutil.which("collsync")
    assert found, "collsync is not installed (pip install -e '.[test]')"
    return found


def require_namespaces() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace needs root and unshare (CI runs as root)")
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount --make-rprivate / && mount -t tmpfs t /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces are not allowed here: {probe.stderr.strip()}")


@dataclass
class Host:
    root: Path
    """A folder of the test's, outside the namespace."""
    made: list[str] = field(default_factory=list)

    def place(self, path: str, text: str, mode: int = 0o644) -> None:
        """A file at ``path`` on the host (under one of :data:`OVERLAID`)."""
        assert path.startswith(tuple(f"{top}/" for top in OVERLAID)), path
        target = self.root / "files" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(mode)

    def folder(self, path: str, mode: int = 0o755) -> None:
        """A folder the administrator made, as the README says to."""
        target = self.root / "files" / path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(mode)

    def written(self, path: str) -> Path:
        """Where a file the command wrote at ``path`` can be read after it ended."""
        top = next(t for t in OVERLAID if path.startswith(f"{t}/"))
        return self.root / ("upper" + top.replace("/", "_")) / path[len(top) + 1 :]

    def run(
        self,
        argv: list[str],
        *,
        writable: list[str] | None = None,
        timeout: float = 180,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` in a namespace where the host's files are in place (``writable``: and the
        system read-only but those folders), from ``cwd``."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "COLLSYNC_BINARY": collsync_binary(),
        }
        if writable is not None:
            env["WRITABLE"] = " ".join(writable)
        (self.root / "files").mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            ["unshare", "--mount", "sh", "-c", SETUP, "setup", str(self.root), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
