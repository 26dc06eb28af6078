"""``collsync export-map``: source slug -> Akinon slug and public URL, for SEO redirects."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import TYPE_CHECKING, Any

import click

from collsync.commands.options import config_option, logging_options
from collsync.config import load_config
from collsync.state import State
from collsync.text import shown, shown_all, spreadsheet_safe

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.config import Config

COLUMNS = ("source_id", "source_slug", "akinon_pk", "akinon_slug", "public_url")


def map_rows(state: State) -> list[dict[str, Any]]:
    return [{column: getattr(entry, column) for column in COLUMNS} for entry in state.ids.entries()]


async def _as_on_akinon(
    config: Config, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows whose collection Akinon still holds, with its slug and public URL as they are
    now (a collection made private has none), and the rows whose collection is gone."""
    from collsync.target import AkinonClient  # only --verify needs the HTTP stack

    async with AkinonClient.from_config(config) as akinon:
        current = {c.pk: c async for c in akinon.iter_collections()}
    kept, gone = [], []
    for row in rows:
        found = current.get(row["akinon_pk"])
        if found is None:
            gone.append(row)
            continue
        public = found.public_url if found.status == "public" else None
        kept.append({**row, "akinon_slug": found.slug, "public_url": public})
    return kept, gone


def _nginx_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bucket_size(rows: list[dict[str, Any]], old_prefix: str) -> int:
    longest = max((len(f"{old_prefix}/{r['source_slug']}".encode()) for r in rows), default=0)
    size = 128
    while size < 2 * longest + 32:  # a bucket must hold a few keys, each rounded up to words
        size *= 2
    return size


def _max_size(entries: int) -> int:
    size = 2048  # nginx's default; a larger map needs a larger table
    while size < 2 * entries:
        size *= 2
    return size


def render_nginx(rows: list[dict[str, Any]], old_prefix: str, base_url: str) -> str:
    public = [r for r in rows if r["public_url"]]
    lines = [
        "# collsync redirect map: old store collection URLs -> Akinon public collections.",
        f"# {len(public)} public collection(s); {len(rows) - len(public)} private one(s) have",
        "# no public URL and are left out. Include this file in the http {} block, then in",
        "# the server {} of the old store:",
        "#     if ($collsync_redirect) { return 301 $collsync_redirect; }",
        "# The map can outgrow nginx's default hash sizes; if your http {} block sets",
        "# map_hash_bucket_size or map_hash_max_size already, keep the larger values.",
        f"map_hash_bucket_size {_bucket_size(public, old_prefix)};",
        f"map_hash_max_size {_max_size(len(public))};",
        "map $uri $collsync_redirect {",
        '    default "";',
    ]
    for row in public:
        old = f"{old_prefix.rstrip('/')}/{row['source_slug']}"
        new = base_url.rstrip("/") + row["public_url"]
        lines.append(f"    {_nginx_string(old)} {_nginx_string(new)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


@click.command("export-map")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "nginx"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=str, dir_okay=False),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--old-prefix",
    default="/collections",
    show_default=True,
    help="nginx: the path under which the old store served collections.",
)
@click.option("--base-url", help="nginx: the storefront URL to redirect to (default: target.url).")
@click.option(
    "--verify",
    is_flag=True,
    help="Read Akinon back first (needs the credentials): leave out, and name, what no longer "
    "exists there, and take each collection's slug and URL as Akinon has them now.",
)
@logging_options
def export_map(
    config_path: Path,
    fmt: str,
    output: str | None,
    old_prefix: str,
    base_url: str | None,
    verify: bool,
) -> None:
    """Export the map of migrated collections: old slug -> Akinon slug and public URL.

    \b
    Example:
      collsync export-map -c config/store.toml --format csv -o redirects.csv
      collsync export-map -c config/store.toml --format nginx --old-prefix /collections
    """
    config = load_config(config_path, offline=not verify)
    state = State.open(config.state.path)
    try:
        rows = map_rows(state)
    finally:
        state.close()
    if verify:
        rows, gone = asyncio.run(_as_on_akinon(config, rows))
        for row in gone:
            click.echo(
                f"left out: {shown(row['source_slug'])} (Akinon pk {row['akinon_pk']}) is no "
                "longer on Akinon; the next sync settles it",
                err=True,
            )
    if fmt == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "nginx":
        text = render_nginx(rows, old_prefix, base_url or str(config.target.url))
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: spreadsheet_safe(shown_all(v)) for k, v in row.items()} for row in rows
        )
        text = buffer.getvalue()
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"{len(rows)} collection(s) written to {output}", err=True)
    else:
        click.echo(text, nl=False)
