"""The Prometheus text file a sync leaves for the node exporter's textfile collector.

Written with ``prometheus_client``'s own registry and ``write_to_textfile``: the format and its
escaping are the library's, the file is replaced atomically (the collector never reads half of
it) and takes the mode the umask gives, so a collector running as another user reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

ACTIONS = (
    "create",
    "recreate",
    "update",
    "delete",
    "items_added",
    "items_removed",
    "unchanged",
    "failed",
    "adopted",
)


def write_metrics(
    path: Path, document: dict[str, Any], last_success: float | None, acknowledged: int | None
) -> None:
    """Write what the sync summary ``document`` says, as gauges, to ``path``."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()

    def gauge(name: str, help_text: str, value: float | None) -> None:
        if value is not None:
            Gauge(name, help_text, registry=registry).set(value)

    gauge(
        "collsync_last_run_timestamp_seconds",
        "When the last sync finished (any outcome).",
        datetime.fromisoformat(document["finished_at"]).timestamp(),
    )
    gauge(
        "collsync_last_success_timestamp_seconds",
        "When a sync last finished its work (exit code 0 or 3).",
        last_success,
    )
    gauge("collsync_last_run_exit_code", "Exit code of the last sync.", document["exit_code"])
    gauge(
        "collsync_last_run_duration_seconds",
        "How long the last sync took.",
        document["duration_seconds"],
    )
    operations = Gauge(
        "collsync_last_run_operations",
        "What the last sync did, by action.",
        ["action"],
        registry=registry,
    )
    for action in ACTIONS:
        operations.labels(action=action).set(document["counts"].get(action, 0))
    gauge(
        "collsync_open_failures",
        "Records that failed, are not resolved, and nobody acknowledged.",
        document["open_failures"],
    )
    gauge(
        "collsync_acknowledged_failures",
        "Records that failed and that a person acknowledged (collsync failures --ack).",
        acknowledged,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
