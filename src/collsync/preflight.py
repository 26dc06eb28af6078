"""What ``collsync check`` looks at before a run needs it: files, folders, both services.

Every problem is named by the config key it comes from, and all are found in one pass: an
operator setting up a timer fixes them together instead of one failed run at a time. Nothing
is written: a folder is judged writable by ``access(2)``, which also sees a read-only mount.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collsync.errors import AuthenticationError, CollsyncError, ServiceError
from collsync.pipeline.extract import ITEMS_COLUMNS, SKU_MAP_COLUMNS
from collsync.pipeline.scope import config_filters
from collsync.source import StoreClient
from collsync.target import AkinonClient

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.config import Config


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    """The config key at fault, like ``products.path``; empty when ``message`` names it."""
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


def file_problems(config: Config) -> list[Problem]:
    """The files the config names that a run reads, and the places it writes."""
    problems: list[Problem] = []
    if config.products.resolve == "sku-map" and config.products.path is not None:
        problems += _csv_problems("products.path", config.products.path, SKU_MAP_COLUMNS)
    if config.items.from_ == "file" and config.items.path is not None:
        problems += _csv_problems("items.path", config.items.path, ITEMS_COLUMNS)
    problems += _writable("state.path", config.state.path)
    for key, path in (
        ("sync.summary_file", config.sync.summary_file),
        ("sync.metrics_file", config.sync.metrics_file),
    ):
        if path is not None:
            problems += _writable(key, path)
    return problems


def _csv_problems(key: str, path: Path, columns: tuple[str, ...]) -> list[Problem]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except OSError as exc:
        return [Problem(key, f"cannot read {path} ({exc.strerror or exc})")]
    except (UnicodeDecodeError, csv.Error) as exc:
        return [Problem(key, f"{path} is not a UTF-8 CSV file ({exc})")]
    missing = set(columns) - {name.strip() for name in header}
    if missing:
        return [
            Problem(
                key,
                f"{path} lacks the column(s) {', '.join(sorted(missing))} (its header "
                f"is {','.join(header) or 'empty'})",
            )
        ]
    return []


def _writable(key: str, path: Path) -> list[Problem]:
    """Whether a run can create or replace ``path`` (and its folder, for temporary files)."""
    if path.is_dir():
        return [Problem(key, f"{path} is a folder; name a file in it")]
    folder = path.parent
    while not folder.exists():  # the run creates missing folders: the first existing one counts
        folder = folder.parent
    if not folder.is_dir():
        return [Problem(key, f"{folder} is a file, not a folder")]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [Problem(key, f"cannot write in {folder} ({_why(folder)})")]
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return [Problem(key, f"cannot write {path} ({_why(path)})")]
    return []


def _why(path: Path) -> str:
    statvfs = os.statvfs(path)
    if statvfs.f_flag & os.ST_RDONLY:
        return "a read-only filesystem; under systemd, StateDirectory= or ReadWritePaths="
    return "permission denied for this user"


async def service_problems(config: Config) -> tuple[dict[str, Any], list[Problem]]:
    """Reach the store (count, products API) and log in to Akinon; what was found, and what
    failed, each service on its own."""
    found: dict[str, Any] = {}
    problems: list[Problem] = []
    try:
        async with StoreClient.from_config(config) as store:
            found["store_collections"] = await store.count_collections(config_filters(config))
            if config.items.from_ == "store":  # the products API must answer too (no count)
                found["store_products"] = (await store.get_products(1, 1)).size
    except AuthenticationError as exc:
        problems.append(Problem("source.api_key", exc.reason))
    except ServiceError as exc:
        problems.append(Problem("source.url", str(exc)))
    except CollsyncError as exc:  # a config error already names its key
        problems.append(Problem("", str(exc)))
    try:
        async with AkinonClient.from_config(config) as akinon:
            await akinon.login()
            found["akinon_collections"] = (await akinon.list_page(1, page_size=1)).count
    except AuthenticationError as exc:
        key = "target.token" if config.target.password is None else "target.email/password"
        problems.append(Problem(key, exc.reason))
    except ServiceError as exc:
        problems.append(Problem("target.url", str(exc)))
    except CollsyncError as exc:
        problems.append(Problem("", str(exc)))
    return found, problems
