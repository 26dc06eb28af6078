"""The HTML report: one self-contained page (inline CSS, SVG and JS; nothing is fetched)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from collsync.report.model import ORIGINS
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
    item_parts,
    kind_label,
    mode_line,
    no_changes_line,
    notices,
    plan_line,
    plural,
)

if TYPE_CHECKING:
    from collsync.report.model import Change, DiffReport, ItemChange

SECTIONS = (
    ("summary", "Summary"),
    ("chart", "Charts"),
    ("changes", "Changes"),
    ("not-carried", "Will not carry over"),
)

# The policy makes the browser itself refuse any fetch, should a value ever slip through unescaped.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

CSS = """
:root { --fg: #1d2329; --muted: #5b6670; --bg: #fff; --panel: #f5f7f9; --line: #dde3e8;
  --create: #1f7a3a; --recreate: #0b7285; --update: #a15c00; --delete: #b3261e;
  --source: #1c5fb8; --drift: #8e3bb0; --rollback: #5b4a00; --add: #1f7a3a;
  --remove: #b3261e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e8eb; --muted: #9aa6b0; --bg: #14181c; --panel: #1d2328; --line: #303a42;
    --create: #5cc27a; --recreate: #4cc3d4; --update: #e0a040; --delete: #f07a70;
    --source: #72a7f0; --drift: #c88ae6; --rollback: #d8c35a; --add: #5cc27a;
    --remove: #f07a70; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; color: var(--fg); background: var(--bg); font: 15px/1.5 system-ui,
  -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 12px; }
.route { color: var(--muted); margin: 0 0 12px; overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 8px; padding: 10px 0;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; background: var(--bg);
  z-index: 2; }
nav a { color: var(--source); text-decoration: none; padding: 4px 10px; border-radius: 6px;
  background: var(--panel); }
nav a:hover, nav a:focus { text-decoration: underline; }
section { padding: 20px 0 8px; scroll-margin-top: 56px; }
.plan { font-weight: 600; font-size: 1.05rem; }
.ok { color: var(--create); font-weight: 600; font-size: 1.1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px;
  margin: 12px 0 16px; }
.card { background: var(--panel); border-radius: 8px; padding: 10px 14px;
  border-left: 4px solid var(--line); }
.card b { display: block; font-size: 1.6rem; line-height: 1.2; }
.card span { color: var(--muted); font-size: .9rem; }
.card.create { border-color: var(--create); } .card.recreate { border-color: var(--recreate); }
.card.update { border-color: var(--update); } .card.delete { border-color: var(--delete); }
.card.zero { opacity: .6; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px;
  border-bottom: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.summary { width: auto; min-width: 60%; }
#changes-table thead th { position: sticky; top: 48px; z-index: 1; }
#changes-table tbody tr:hover { background: var(--panel); }
code { font: .88em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  overflow-wrap: anywhere; }
.name { font-weight: 600; white-space: pre-wrap; overflow-wrap: anywhere; }
.sid { color: var(--muted); font-size: .8rem; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .85rem;
  font-weight: 600; color: #fff; background: var(--muted); }
.badge.create { background: var(--create); } .badge.recreate { background: var(--recreate); }
.badge.update { background: var(--update); } .badge.delete { background: var(--delete); }
.badge.source { background: var(--source); } .badge.drift { background: var(--drift); }
.badge.rollback { background: var(--rollback); }
.guard { font-weight: 600; color: var(--update); } .guard.refused { color: var(--delete); }
ul.delta { list-style: none; margin: 0; padding: 0; }
ul.delta li { white-space: pre-wrap; overflow-wrap: anywhere; }
.label { color: var(--muted); }
del { color: var(--remove); } ins { color: var(--add); text-decoration: none; font-weight: 600; }
li.add { color: var(--add); } li.remove { color: var(--remove); }
.legend, .muted { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 24px;
  align-items: start; }
figure { margin: 0; background: var(--panel); border-radius: 8px; padding: 12px 16px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: var(--fg); font: 13px system-ui, sans-serif; }
svg .track { fill: var(--line); }
svg .create { fill: var(--create); } svg .recreate { fill: var(--recreate); }
svg .update { fill: var(--update); } svg .delete { fill: var(--delete); }
svg .source { fill: var(--source); } svg .drift { fill: var(--drift); }
svg .rollback { fill: var(--rollback); }
svg .add { fill: var(--add); } svg .remove { fill: var(--remove); }
.search { display: flex; align-items: center; gap: 10px; margin-bottom: 10px; }
.search input { flex: 0 1 420px; font: inherit; padding: 6px 10px; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg); }
footer { color: var(--muted); font-size: .85rem; padding-bottom: 32px; }
@media (max-width: 800px) {
  .scroll { overflow-x: auto; } #changes-table thead th { position: static; }
  table.summary .help { display: none; }
}
@media print { nav, .search { display: none; } #changes-table thead th { position: static; } }
"""

# Filters the changes table as one types; without JS the box stays hidden and every row shows.
# Folding case and accents lets "cocuk" find "Çocuk" and "istanbul" find "İstanbul".
JS = """
(function () {
  var box = document.getElementById("search");
  var table = document.getElementById("changes-table");
  if (!box || !table) { return; }
  var input = document.getElementById("q");
  var count = document.getElementById("shown");
  var none = document.getElementById("no-match");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  function fold(s) {
    return s.toLocaleLowerCase("tr").normalize("NFD")
      .replace(/[\\u0300-\\u036f]/g, "").replace(/\\u0131/g, "i");
  }
  var texts = rows.map(function (r) { return fold(r.textContent); });
  function filter() {
    var terms = fold(input.value).split(/\\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row, i) {
      var hit = terms.every(function (t) { return texts[i].indexOf(t) !== -1; });
      row.hidden = !hit;
      if (hit) { shown += 1; }
    });
    count.textContent = terms.length ? shown + " of " + rows.length + " shown" : "";
    none.hidden = shown !== 0;
  }
  box.hidden = false;
  input.addEventListener("input", filter);
  filter();
})();
"""


def render_html(report: DiffReport) -> str:
    changes = len(report.changes)
    title = "collsync diff: " + (plural(changes, "change") if changes else "no changes")
    counts = {"changes": changes, "not-carried": len(report.not_carried)}
    nav = " ".join(
        f'<a href="#{sid}">{escape(label)}'
        + (f" ({counts[sid]})" if sid in counts else "")
        + "</a>"
        for sid, label in SECTIONS
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<header>",
            "<h1>collsync diff</h1>",
            f'<p class="route">Store <code>{escape(report.source_url)}</code> {ARROW} Akinon '
            f"<code>{escape(report.target_url)}</code> · generated "
            f"<time>{escape(report.generated_at)}</time></p>",
            f'<nav aria-label="Sections">{nav}</nav>',
            "</header>",
            "<main>",
            _summary(report),
            _charts(report),
            _changes(report),
            _existing(report),
            _not_carried(report),
            "</main>",
            "<footer>Made by collsync. Nothing has been written to Akinon: this is a plan to "
            "review.</footer>",
            f"<script>{JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _summary(report: DiffReport) -> str:
    lines = action_counts(report)
    rollback = report.summary["rollback"] > 0  # a column only where a rollback is planned
    headline = (
        f'<p class="plan">{escape(plan_line(report))}</p>'
        if report.has_changes
        else f'<p class="ok">{escape(no_changes_line(report))}</p>'
    )
    headline += f'\n<p class="muted">{escape(mode_line(report))}</p>'
    for line, severity in notices(report):
        css = "guard refused" if severity == "stop" else "guard"
        headline += f'\n<p class="{css}">{escape(line)}</p>'
    cards = [
        f'<div class="card {line.action}{"" if line.collections else " zero"}">'
        f"<b>{line.collections}</b>"
        f"<span>to {line.action}</span></div>"
        for line in lines
    ]
    cards.append(f'<div class="card"><b>{report.unchanged}</b><span>unchanged</span></div>')
    cards.append(
        f'<div class="card"><b>{len(report.not_carried)}</b><span>will not carry over</span></div>'
    )
    rows = "".join(
        f'<tr><td><span class="badge {line.action}">{line.action}</span></td>'
        f'<td class="n">{line.collections}</td><td class="n">{line.source}</td>'
        f'<td class="n">{line.drift}</td>'
        + (f'<td class="n">{line.rollback}</td>' if rollback else "")
        + f'<td class="n">{line.items_added}</td>'
        f'<td class="n">{line.items_removed}</td>'
        f'<td class="muted help">{escape(ACTION_HELP[line.action])}</td></tr>'
        for line in lines
    )
    legend = "; ".join(f"<b>{o}</b>: {escape(h)}" for o, h in ORIGIN_HELP.items())
    return (
        '<section id="summary">\n<h2>Summary</h2>\n'
        f"{headline}\n"
        f'<div class="cards">{"".join(cards)}</div>\n'
        '<div class="scroll"><table class="summary"><thead><tr><th>Action</th>'
        '<th class="n">Collections</th><th class="n">Source</th><th class="n">Drift</th>'
        + ('<th class="n">Rollback</th>' if rollback else "")
        + '<th class="n">Items added</th><th class="n">Items removed</th><th class="help"></th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>\n"
        f'<p class="legend">Origin: {legend}.</p>\n</section>'
    )


def _bar_chart(caption: str, bars: list[tuple[str, int, str]]) -> str:
    """Horizontal bars drawn in SVG, with the counts written out so no hover is needed."""
    label_w, bar_w, row_h, width = 96, 220, 28, 380
    top = max((value for _, value, _ in bars), default=0) or 1
    height = row_h * len(bars) + 4
    parts = []
    for n, (label, value, css) in enumerate(bars):
        y = 4 + n * row_h
        length = round(bar_w * value / top)
        parts.append(
            f'<text x="0" y="{y + 15}">{escape(label)}</text>'
            f'<rect class="track" x="{label_w}" y="{y + 2}" width="{bar_w}" height="16" rx="3"/>'
            f'<rect class="{css}" x="{label_w}" y="{y + 2}" width="{length}" height="16" rx="3">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{value}</text>'
        )
    return (
        f"<figure><figcaption>{escape(caption)}</figcaption>"
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(caption)}">'
        f"{''.join(parts)}</svg></figure>"
    )


def _charts(report: DiffReport) -> str:
    summary = report.summary
    by_action = [(line.action, line.collections, line.action) for line in action_counts(report)]
    by_origin = [(origin, summary[origin], origin) for origin in ORIGINS]
    items = [
        ("added", summary["items_added"], "add"),
        ("removed", summary["items_removed"], "remove"),
    ]
    return (
        '<section id="chart">\n<h2>Charts</h2>\n<div class="charts">'
        + _bar_chart("Collections by action", by_action)
        + _bar_chart("Collections by origin", by_origin)
        + _bar_chart("Items", items)
        + "</div>\n</section>"
    )


def _existing(report: DiffReport) -> str:
    if not report.existing:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(slug)}</code></td><td>{escape(name)}</td><td>{escape(pks)}</td>"
        "</tr>"
        for slug, name, pks in existing_rows(report)
    )
    return (
        '<section id="existing">\n<h2>Already on Akinon, not mapped</h2>\n'
        '<div class="scroll"><table><thead><tr><th>Source slug</th><th>Name</th>'
        f"<th>Akinon</th></tr></thead><tbody>{rows}</tbody></table></div>\n</section>"
    )


def _changes(report: DiffReport) -> str:
    if not report.changes:
        return (
            '<section id="changes">\n<h2>Changes</h2>\n'
            f'<p class="ok">{escape(no_changes_line(report))}</p>\n'
            f'<p class="muted">{plural(report.unchanged, "collection")} unchanged.</p>\n'
            "</section>"
        )
    rows = "\n".join(_change_row(c) for c in report.changes)
    return (
        '<section id="changes">\n<h2>Changes</h2>\n'
        '<div class="search" id="search" hidden><label for="q">Filter</label>'
        '<input id="q" type="search" autocomplete="off" '
        'placeholder="name, slug, SKU, pk, action or origin"> '
        '<span id="shown" class="muted" aria-live="polite"></span></div>\n'
        '<div class="scroll"><table id="changes-table"><thead><tr><th>Action</th><th>Origin</th>'
        "<th>Collection (source)</th><th>Akinon</th><th>Changes</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody></table></div>\n"
        '<p id="no-match" class="muted" hidden>No change matches the filter.</p>\n'
        "</section>"
    )


def _change_row(change: Change) -> str:
    action, origin = escape(change.action), escape(change.origin)
    pk, slug = akinon_parts(change)
    akinon = f"{pk}<br><code>{escape(slug)}</code>" if slug else pk
    return (
        f'<tr><td><span class="badge {action}">{action}</span></td>'
        f'<td><span class="badge {origin}">{origin}</span></td>'
        f'<td><div class="name">{escape(change.name)}</div>'
        f"<code>{escape(change.source_slug)}</code>"
        f'<div class="sid">{escape(change.source_id)}</div></td>'
        f"<td>{akinon}</td>"
        f'<td><ul class="delta">{_delta(change)}</ul></td></tr>'
    )


def _delta(change: Change) -> str:
    parts = []
    for f in change.fields:
        label, old, new = field_parts(f)
        before = "" if old is None else f"<del>{escape(old)}</del> {ARROW} "
        parts.append(
            f'<li class="field"><span class="label">{escape(label)}:</span> '
            f"{before}<ins>{escape(new)}</ins></li>"
        )
    parts += [_item("add", "+", i) for i in change.items_added]
    parts += [_item("remove", "-", i) for i in change.items_removed]
    if not parts:
        parts.append(f'<li class="muted">{escape(change_lines(change)[0])}</li>')
    return "".join(parts)


def _item(css: str, sign: str, item: ItemChange) -> str:
    sku, rest = item_parts(item)
    ref = f"<code>{escape(sku)}</code> {rest}" if sku else rest
    note = f" “{escape(item.note)}”" if item.note else ""
    return f'<li class="{css}">{sign} {ref}{note}</li>'


def _not_carried(report: DiffReport) -> str:
    dropped = dropped_fields_left(report)
    body = []
    if report.not_carried:
        rows = "\n".join(
            f"<tr><td>{escape(kind_label(n))}</td><td><code>{escape(n.record)}</code></td>"
            f"<td>{escape(n.reason)}</td></tr>"
            for n in report.not_carried
        )
        body.append(
            '<div class="scroll"><table><thead><tr><th>Kind</th><th>Record</th><th>Reason</th>'
            f"</tr></thead><tbody>\n{rows}\n</tbody></table></div>"
        )
    if dropped:
        fields = ", ".join(
            f"<code>{escape(name)}</code> ({plural(count, 'collection')})"
            for name, count in dropped.items()
        )
        body.append(f"<p>Source fields Akinon cannot hold: {fields}.</p>")
    if not body:
        body.append('<p class="muted">Everything in the store carries over.</p>')
    return (
        '<section id="not-carried">\n<h2>Will not carry over</h2>\n'
        + "\n".join(body)
        + ("\n</section>")
    )
