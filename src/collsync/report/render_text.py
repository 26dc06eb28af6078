"""The plain-text report formats: a rich terminal table, CSV rows and a markdown document."""

from __future__ import annotations

import csv
import re
from io import StringIO
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from collsync.report.render_common import (
    ACTION_HELP,
    ARROW,
    ORIGIN_HELP,
    action_counts,
    akinon_parts,
    change_lines,
    dropped_fields_left,
    existing_rows,
    field_parts,
    field_text,
    item_parts,
    item_split,
    item_text,
    kind_label,
    mode_line,
    no_changes_line,
    notices,
    origin_split,
    plan_line,
    plural,
)
from collsync.text import spreadsheet_safe

if TYPE_CHECKING:
    from collsync.report.model import Change, DiffReport

CSV_COLUMNS = (
    "action",
    "origin",
    "source_id",
    "source_slug",
    "akinon_pk",
    "akinon_slug",
    "kind",
    "field",
    "old",
    "new",
    "sku",
    "product_pk",
    "note",
)
ACTION_STYLES = {"create": "green", "recreate": "cyan", "update": "yellow", "delete": "red"}
ORIGIN_STYLES = {"source": "blue", "drift": "magenta", "rollback": "cyan"}


# -- table ---------------------------------------------------------------------------------


def render_table(report: DiffReport, *, color: bool, width: int) -> str:
    out = StringIO()
    console = Console(
        file=out,
        force_terminal=color,
        color_system="auto" if color else None,
        width=width,
        highlight=False,  # names are data: no guessing at numbers or URLs to colour
        emoji=False,
        markup=False,
    )
    console.print(
        Text.assemble(
            ("collsync diff", "bold"), f"  {report.source_url} {ARROW} {report.target_url}"
        )
    )
    console.print(Text(f"generated {report.generated_at}", style="dim"))
    console.print(Text(mode_line(report), style="dim"))
    for line, severity in notices(report):
        console.print(Text(line, style="bold red" if severity == "stop" else "yellow"))
    console.print()
    if report.has_changes:
        console.print(Text(plan_line(report), style="bold"))
        console.print(_summary_grid(report))
        if report.changes:
            console.print(_changes_table(report, width))
        if report.existing:
            console.print(_existing_table(report))
    else:
        console.print(Text(no_changes_line(report), style="bold green"))
        console.print(f"{plural(report.unchanged, 'collection')} unchanged.")
    if report.not_carried or dropped_fields_left(report):
        console.print()
        console.print(_not_carried_block(report))
    # rich pads every cell to the column width; trailing blanks only get in the way of a diff
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def _summary_grid(report: DiffReport) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(style="dim")
    for line in action_counts(report):
        style = ACTION_STYLES[line.action] if line.collections else "dim"
        grid.add_row(
            Text(f"  {line.action}", style=style),
            str(line.collections),
            origin_split(line),
            item_split(line),
            ACTION_HELP[line.action],
        )
    grid.add_row(Text("  unchanged", style="dim"), str(report.unchanged), "", "", "")
    grid.add_row(
        Text("  not carried", style="dim"),
        str(len(report.not_carried)),
        "",
        "",
        "listed below" if report.not_carried else "",
    )
    return grid


def _changes_table(report: DiffReport, width: int) -> Table:
    collection_width, akinon_width, changes_width = _column_widths(report, width)
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="origin: " + "; ".join(f"{o} = {h}" for o, h in ORIGIN_HELP.items()),
        caption_justify="left",
        caption_style="dim",
    )
    table.add_column("action", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("collection (source slug)", overflow="fold", width=collection_width)
    table.add_column("Akinon", no_wrap=True, overflow="ellipsis", width=akinon_width)
    table.add_column("changes", overflow="fold", width=changes_width)
    for change in report.changes:
        pk, slug = akinon_parts(change)
        table.add_row(
            Text(change.action, style=ACTION_STYLES.get(change.action, "")),
            Text(change.origin, style=ORIGIN_STYLES.get(change.origin, "")),
            Text.assemble((change.name, "bold"), "\n", (change.source_slug, "dim")),
            Text(f"{pk}\n{slug}" if slug else pk),
            _change_cell(change, changes_width),
            end_section=True,
        )
    return table


def _column_widths(report: DiffReport, width: int) -> tuple[int, int, int]:
    """Widths of the collection, Akinon and changes columns, fitted into ``width``.

    A source slug is what people search for and copy, so it stays whole when the width allows;
    then ``old → new`` gets the room. The Akinon slug (server-made, with a long random suffix)
    gets what is left and is cut short: its pk identifies the collection.
    """
    action = max(len("action"), *(len(c.action) for c in report.changes))
    # origin is 6 cells; the padding and gaps around five columns take 14 more
    room = width - action - 6 - 14
    slug = max(cell_len(c.source_slug) for c in report.changes)
    name = max(cell_len(line) for c in report.changes for line in c.name.splitlines() or [""])
    akinon_natural = max(cell_len(s or "") for c in report.changes for s in akinon_parts(c))
    changes_natural = max(cell_len(line) for c in report.changes for line in change_lines(c))

    akinon = min(akinon_natural, max(8, room // 6))
    changes_min = min(changes_natural, 32)
    collection = max(12, min(max(slug, name), max(slug, 24), room - akinon - changes_min))
    changes = max(12, min(changes_natural, room - collection - akinon))
    akinon = max(akinon, min(akinon_natural, room - collection - changes))
    return collection, akinon, changes


def _change_cell(change: Change, width: int) -> Text:
    """One line per atomic change: fields first, then items added, then items removed."""
    lines: list[Text] = []
    for f in change.fields:
        label, old, new = field_parts(f)
        line = Text.assemble((f"{label}: ", "dim"))
        if old is not None:
            line.append(old, style="red")
            # old and new on lines of their own read better than one wrapped at random
            long = cell_len(field_text(f)) > width
            line.append(f"\n  {ARROW} " if long else f" {ARROW} ")
        line.append(new, style="green")
        lines.append(line)
    lines += [Text(item_text(i, "+"), style="green") for i in change.items_added]
    lines += [Text(item_text(i, "-"), style="red") for i in change.items_removed]
    if not lines:
        lines.append(Text(change_lines(change)[0], style="dim"))
    return Text("\n").join(lines)


def _existing_table(report: DiffReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Already on Akinon, not mapped")
    for column in ("source slug", "name", "Akinon"):
        table.add_column(column, overflow="fold")
    for row in existing_rows(report):
        table.add_row(*row)
    return table


def _not_carried_block(report: DiffReport) -> Group:
    parts: list[Table | Text] = [Text("Will not carry over", style="bold")]
    if report.not_carried:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("kind", no_wrap=True)
        table.add_column("record", overflow="fold")
        table.add_column("reason")
        for entry in report.not_carried:
            table.add_row(kind_label(entry), entry.record, entry.reason)
        parts.append(table)
    dropped = dropped_fields_left(report)
    if dropped:
        parts.append(Text("source fields Akinon cannot hold: " + _dropped_text(dropped)))
    return Group(*parts)


def _dropped_text(dropped: dict[str, int]) -> str:
    return ", ".join(f"{name} ({plural(count, 'collection')})" for name, count in dropped.items())


# -- csv -----------------------------------------------------------------------------------


def render_csv(report: DiffReport) -> str:
    """One row per atomic change, so a spreadsheet filter on any column shows whole changes."""
    out = StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for change in report.changes:
        writer.writerows(
            {key: spreadsheet_safe(value) for key, value in row.items()}
            for row in _csv_rows(change)
        )
    return out.getvalue()


def _csv_rows(change: Change) -> list[dict[str, str | int]]:
    base: dict[str, str | int] = {
        "action": change.action,
        "origin": change.origin,
        "source_id": change.source_id,
        "source_slug": change.source_slug,
        "akinon_pk": "" if change.akinon_pk is None else change.akinon_pk,
        "akinon_slug": change.akinon_slug or "",
    }
    rows: list[dict[str, str | int]] = []
    # the collection itself appears or goes: its own row, so kind=collection lists every one
    if change.action in ("create", "recreate"):
        rows.append({**base, "kind": "collection", "new": change.name})
    elif change.action == "delete":
        rows.append({**base, "kind": "collection", "old": change.name})
    for f in change.fields:
        rows.append(
            {**base, "kind": "field", "field": f.field, "old": f.old or "", "new": f.new or ""}
        )
    for kind, items in (("item_added", change.items_added), ("item_removed", change.items_removed)):
        rows += [
            {
                **base,
                "kind": kind,
                "sku": i.sku or "",
                "product_pk": i.product_pk or "",
                "note": i.note,
            }
            for i in items
        ]
    if not rows:  # an update with nothing in it still names its collection
        rows.append({**base, "kind": "collection", "old": change.name, "new": change.name})
    return rows


# -- markdown ------------------------------------------------------------------------------

# Backslash escapes any ASCII punctuation in CommonMark; these are the ones that change rendering.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")
# only an ampersand that would start an entity (``&lt;``) needs escaping; "Ev & Yaşam" stays as is
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")


def md_text(value: str) -> str:
    """Text for a GitHub table cell: markdown and HTML inert, pipes escaped, lines kept."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _MD_ENTITY.sub("&amp;", value))
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def md_code(value: str) -> str:
    """An identifier (slug, SKU) as a code span, readable and copyable as it is."""
    if not value:
        return ""
    flat = " ".join(value.splitlines()).replace("|", "\\|")
    # a fence one backtick longer than any run inside, padded so edge backticks survive
    fence = "`" * (max((len(r) for r in re.findall("`+", flat)), default=0) + 1)
    pad = " " if "`" in flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def render_markdown(report: DiffReport) -> str:
    out = [
        "# collsync diff",
        "",
        f"{md_code(report.source_url)} {ARROW} {md_code(report.target_url)}, "
        f"generated {md_text(report.generated_at)}",
        "",
    ]
    if report.has_changes:
        out += [f"**{plan_line(report)}**", ""]
    else:
        out += [f"**{no_changes_line(report)}**", ""]  # collsync's own words: code spans kept
    out += [mode_line(report), ""]
    for line, severity in notices(report):
        out += [f"**{md_text(line)}**" if severity == "stop" else md_text(line), ""]
    out += _md_summary(report)
    if report.changes:
        out += _md_changes(report)
    if report.existing:
        out += ["## Already on Akinon, not mapped", "", "| Source slug | Name | Akinon |"]
        out += ["| --- | --- | --- |"]
        out += [
            f"| {md_code(slug)} | {md_text(name)} | {pks} |"
            for slug, name, pks in existing_rows(report)
        ]
        out.append("")
    out += _md_not_carried(report)
    return "\n".join(out) + "\n"


def _md_summary(report: DiffReport) -> list[str]:
    rollback = report.summary["rollback"] > 0  # a column only where a rollback is planned
    out = [
        "## Summary",
        "",
        "| Action | Collections | Source | Drift |"
        + (" Rollback |" if rollback else "")
        + " Items added | Items removed |",
        "| --- | ---: | ---: | ---: |" + (" ---: |" if rollback else "") + " ---: | ---: |",
    ]
    for line in action_counts(report):
        out.append(
            f"| {line.action} | {line.collections} | {line.source} | {line.drift} "
            + (f"| {line.rollback} " if rollback else "")
            + f"| {line.items_added} | {line.items_removed} |"
        )
    out += [
        "",
        f"Unchanged: {plural(report.unchanged, 'collection')}. "
        f"Will not carry over: {len(report.not_carried)}.",
        "",
        "Origin: " + "; ".join(f"`{o}` = {h}" for o, h in ORIGIN_HELP.items()) + ".",
        "",
    ]
    return out


def _md_changes(report: DiffReport) -> list[str]:
    out = [
        "## Changes",
        "",
        "| Action | Origin | Collection | Source slug | Akinon | Changes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for change in report.changes:
        pk, slug = akinon_parts(change)
        akinon = f"{pk} {md_code(slug)}" if slug else pk
        out.append(
            f"| {change.action} | {change.origin} | {md_text(change.name)} "
            f"| {md_code(change.source_slug)} | {akinon} | {'<br>'.join(_md_lines(change))} |"
        )
    out.append("")
    return out


def _md_lines(change: Change) -> list[str]:
    lines = []
    for f in change.fields:
        label, old, new = field_parts(f)
        if old is None:
            lines.append(f"{label}: {md_text(new)}")
        else:
            lines.append(f"{label}: {md_text(old)} {ARROW} {md_text(new)}")
    for sign, items in (("+", change.items_added), ("-", change.items_removed)):
        for i in items:
            sku, rest = item_parts(i)
            ref = f"{md_code(sku)} {rest}" if sku else rest
            note = f' "{md_text(i.note)}"' if i.note else ""
            lines.append(f"{sign} {ref}{note}")
    return lines or [md_text(change_lines(change)[0])]


def _md_not_carried(report: DiffReport) -> list[str]:
    dropped = dropped_fields_left(report)
    out = ["## Will not carry over", ""]
    if not report.not_carried and not dropped:
        return [*out, "Everything in the store carries over.", ""]
    if report.not_carried:
        out += ["| Kind | Record | Reason |", "| --- | --- | --- |"]
        out += [
            f"| {kind_label(n)} | {md_code(n.record)} | {md_text(n.reason)} |"
            for n in report.not_carried
        ]
        out.append("")
    if dropped:
        out += [f"Source fields Akinon cannot hold: {md_text(_dropped_text(dropped))}.", ""]
    return out
