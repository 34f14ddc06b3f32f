"""The report's page: a self-contained HTML document around the summary and the sections.

One file, no network: the CSS is inline, the charts are inline SVG (:mod:`.charts`), and there is no
script. A ``Content-Security-Policy`` meta tag forbids the browser from loading anything else, so the
page opens offline and stays inert even if data were to smuggle markup past the escaping.

Every string taken from the data (titles, conversion and cohort names, notes) goes through
:func:`html.escape`. The output is deterministic: the same :class:`ReportData` gives the same bytes.

Order: what the community is worth first (the summary cards), then the sections in the order a budget
conversation needs them — renewal and satisfaction, attributed revenue, conversions, the behaviours
associated with conversion, community health, scores — then definitions, notes (with every section left
out and why) and the glossary that every technical term links to.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ..labels import GLOSSARY
from ..summary import Summary
from .attribution import AttributionSection, render_attribution
from .common import DASH, count, escape, term, to_text
from .community import render_community
from .conversion import SMALL_N, ConversionGroup, render_conversion
from .drivers import DriversSection, render_drivers
from .impact import ImpactSection, render_impact
from .scores import ScoresSection, render_scores
from .summary import render_summary

__all__ = ["STYLE", "ReportData", "label_cells", "render_html", "render_summary_page"]


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML report shows.

    Attributes
    ----------
    title, workspace, timezone
        The report's title, the workspace the numbers come from, the reporting time zone (a label).
    as_of, generated_at
        The "data as of" instant and when the report was made (timezone-aware, UTC).
    definitions
        One dict per conversion with ``name``, ``label``, ``description``, ``owner``, ``outcomes``,
        ``anchor``, ``windows`` and ``unit``.
    conversions
        One :class:`ConversionGroup` per conversion shown.
    summary
        The cards that open the report (:mod:`commetrics.reports.summary`), or ``None``.
    notes
        Free-text notes shown at the end.
    omitted
        One line per section left out, saying why (no data, too few people ...).
    attribution, scores, impact, drivers, community
        The other sections (``community``: the ``metrics`` table of ``commetrics metrics``).
    k
        The privacy threshold (``privacy.min_cell_size``), for the sentences about hidden groups.
    """

    title: str
    workspace: str
    as_of: datetime
    generated_at: datetime
    timezone: str
    definitions: list[dict[str, Any]]
    conversions: list[ConversionGroup] = field(default_factory=list)
    summary: Summary | None = None
    notes: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)
    attribution: list[AttributionSection] = field(default_factory=list)
    scores: ScoresSection | None = None
    impact: ImpactSection | None = None
    drivers: DriversSection | None = None
    community: pd.DataFrame | None = None
    cost_per_ticket: float = 0.0
    currency: str = "USD"
    k: int = 10


def _timestamp(value: datetime) -> str:
    """A datetime in UTC as ``YYYY-MM-DD HH:MM UTC`` (naive values are taken to be UTC)."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime) -> str:
    """A datetime in UTC as ISO 8601, for ``<time datetime=…>``."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat()


# --------------------------------------------------------------------------------------------
# Page parts
# --------------------------------------------------------------------------------------------

_CSS = """
:root { --ink: #1b1f24; --muted: #57606a; --rule: #d0d7de; --soft: #f6f8fa; --warn: #7d4e00;
  --warn-bg: #fff8c5; --prog: #0550ae; --prog-bg: #ddf4ff; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; line-height: 1.45; }
body { margin: 0 auto; padding: 16px 32px 40px; max-width: 1240px; font-size: 15px; }
p, li, dd, caption { overflow-wrap: break-word; }
h1 { font-size: 1.6rem; margin: 0 0 2px; }
h2 { font-size: 1.3rem; margin: 32px 0 6px; padding-top: 10px; border-top: 2px solid var(--ink); }
h3 { font-size: 1.05rem; margin: 18px 0 6px; }
p, dl, ul { margin: 6px 0 10px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
  background: var(--soft); padding: 0 3px; border-radius: 3px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 12px 0 0; font-size: 0.9rem; }
nav ul { display: flex; flex-wrap: wrap; gap: 2px 14px; list-style: none; padding: 0; margin: 2px 0 0; }
a { color: var(--prog); }
a.term { color: inherit; text-decoration: underline dotted; text-underline-offset: 2px; }
.muted, .lead { color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; }
#summary h2 { border-top: none; margin-top: 12px; padding-top: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 340px), 1fr)); gap: 10px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 8px 14px 10px; background: #fff; }
.card h3 { margin: 0; font-size: 0.95rem; color: var(--muted); font-weight: 600; }
.card .figure { font-size: 1.6rem; font-weight: 700; margin: 0; line-height: 1.25; }
.card .detail { margin: 0 0 4px; color: var(--muted); font-size: 0.85rem; }
.card p { margin: 0; font-size: 0.88rem; }
.omitted { color: var(--muted); font-size: 0.88rem; padding-left: 18px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.88rem; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; caption-side: top; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 8px; vertical-align: top; text-align: left; }
thead th { border-bottom: 2px solid var(--ink); background: var(--soft); vertical-align: bottom; }
tbody th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.num strong { display: block; font-weight: 600; }
td.num .ci { display: block; color: var(--muted); font-size: 0.8rem; }
table.attribution td.num .ci { white-space: normal; }
table.attribution th { min-width: 5em; }
td.small-n strong { font-style: italic; font-weight: 600; }
td.prog { color: var(--prog); }
td.warn { color: var(--warn); background: var(--warn-bg); font-weight: 600; }
.pair { display: flex; flex-wrap: wrap; gap: 4px 28px; align-items: flex-start; }
.pair > * { min-width: 0; max-width: 100%; }
.guards { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 4px 12px; margin: 8px 0 12px; }
.guards ul { margin: 4px 0 8px; padding-left: 20px; }
.chart { margin: 6px 0 12px; max-width: 100%; }
.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.82rem; margin-top: 2px; }
details { margin: 4px 0 10px; }
summary { cursor: pointer; color: var(--prog); font-size: 0.9rem; }
.empty, .note { color: var(--muted); }
.empty { font-style: italic; }
dl.glossary { columns: 2 26em; column-gap: 32px; font-size: 0.88rem; margin: 0; }
dl.glossary div { break-inside: avoid; margin: 0 0 6px; }
dl.glossary dt { font-weight: 600; display: inline; }
dl.glossary dt::after { content: ": "; }
dl.glossary dd { margin: 0; display: inline; }
dl.glossary :target { background: var(--warn-bg); }
footer { margin-top: 32px; color: var(--muted); font-size: 0.85rem; }
@media (max-width: 700px) {
  body { padding: 12px 12px 32px; font-size: 14px; }
  th, td { padding: 3px 5px; }
  .scroll table, .scroll caption, .scroll thead, .scroll tbody, .scroll tfoot, .scroll tr, .scroll th,
  .scroll td { display: block; }
  .scroll table { width: 100%; }
  .scroll thead { display: none; }
  .scroll tr { border-bottom: 1px solid var(--rule); padding: 4px 0; }
  .scroll th, .scroll td, .scroll td.num { border: none; padding: 1px 0; text-align: left; white-space: normal; }
  .scroll td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  td.num strong, td.num .ci { display: inline; }
  td.num .ci::before { content: " "; }
}
@page { margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 10pt; }
  nav, summary { display: none; }
  #summary { break-after: page; }
  h2, h3 { break-after: avoid; }
  table, .chart, tr, .card { break-inside: avoid; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


#: The report's stylesheet, which the dashboard serves too (its pages draw the report's sections).
STYLE = _CSS


def _header(report: ReportData) -> str:
    """The page header: title, and where and when the numbers come from, in one line."""
    return (
        "<header>\n"
        f"<h1>{escape(report.title)}</h1>\n"
        f"<p>Workspace {escape(report.workspace)} · data as of "
        f'<time datetime="{escape(_iso(report.as_of))}">{escape(_timestamp(report.as_of))}</time> · generated '
        f'<time datetime="{escape(_iso(report.generated_at))}">{escape(_timestamp(report.generated_at))}</time> · '
        f"time zone {escape(report.timezone)}. Intervals are 95%; underlined words are explained in the "
        '<a href="#glossary">glossary</a>.</p>\n'
        "</header>\n"
    )


def _nav(report: ReportData) -> str:
    """The contents: one link per section (in-page links only)."""
    items = [("#summary", "Summary")] if report.summary is not None else []
    if report.impact is not None:
        items.append(("#impact", "Renewal and satisfaction"))
    for index, attribution in enumerate(report.attribution, start=1):
        items.append((f"#attribution-{index}", "Attributed revenue" + (
            f" ({attribution.currency})" if len(report.attribution) > 1 and attribution.currency else "")))
    items += [(f"#conversion-{group.name}", group.label) for group in report.conversions]
    if report.drivers is not None:
        items.append(("#drivers", "Behaviours associated with conversion"))
    if report.community is not None:
        items.append(("#community", "Community health"))
    if report.scores is not None:
        items.append(("#scores", "Scores"))
    items += [("#definitions", "Definitions"), ("#notes", "Notes"), ("#glossary", "Glossary")]
    links = "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for href, label in items)
    return f'<nav aria-label="Contents"><strong>Contents</strong><ul>{links}</ul></nav>\n'


def _listing(value: Any) -> str:
    """A definition field as text: lists joined with commas, missing as a dash."""
    if isinstance(value, list | tuple | set | frozenset):
        parts = [str(v) for v in (sorted(value, key=str) if isinstance(value, set | frozenset) else value)]
        return ", ".join(parts) if parts else DASH
    text = to_text(value)
    return DASH if text is None or text == "" else text


def _definitions(definitions: Sequence[dict[str, Any]]) -> str:
    """The definitions table: what each conversion counts, under its name in the config."""
    out = ['<section id="definitions">', "<h2>Definitions</h2>"]
    if not definitions:
        out.append('<p class="empty">No conversions are defined.</p></section>')
        return "\n".join(out) + "\n"
    out.append('<div class="scroll"><table>')
    out.append("<caption>What each conversion counts: a member converts when an outcome follows the anchor "
               "within the window. The name is the one to use in commetrics.toml and on the command line.</caption>")
    headers = ("Conversion", "Name", "Owner", "Outcomes", "Anchor", "Windows (days)", "Unit")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in headers) + "</tr></thead><tbody>")
    for definition in definitions:
        windows = definition.get("windows")
        window_text = ", ".join(count(w) for w in windows) if isinstance(windows, list | tuple) and windows else DASH
        cells = [
            f'<th scope="row">{escape(_listing(definition.get("label") or definition.get("name")))}</th>',
            f'<td><code>{escape(_listing(definition.get("name")))}</code></td>',
            f"<td>{escape(_listing(definition.get('owner')))}</td>",
            f"<td>{escape(_listing(definition.get('outcomes')))}</td>",
            f"<td>{escape(_listing(definition.get('anchor')))}</td>",
            f'<td class="num">{escape(window_text)}</td>',
            f"<td>{escape(_listing(definition.get('unit')))}</td>",
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div></section>")
    return "\n".join(out) + "\n"


def _notes(report: ReportData) -> str:
    """What was left out and why, the notes, and how to read the report."""
    out = ['<section id="notes">', "<h2>Notes</h2>"]
    if report.omitted:
        out.append("<h3>Not shown</h3><ul>" + "".join(f"<li>{escape(line)}</li>" for line in report.omitted)
                   + "</ul>")
    if report.notes:
        out.append("<ul>" + "".join(f"<li>{escape(note)}</li>" for note in report.notes) + "</ul>")
    out.append("<h3>Reading this report</h3>")
    out.append(
        "<ul>"
        f"<li>Rates count only members whose {term('window', 'window')} has fully elapsed; members still inside it "
        f"are {term('in progress', 'in-progress')}, not failures.</li>"
        f"<li>Rates of fewer than {SMALL_N} eligible members are in italics: their intervals are wide.</li>"
        f"<li>Every figure has its {term('95% interval', 'interval')}: {term('Wilson', 'wilson')} for rates, "
        f"{term('Newcombe', 'newcombe')} for differences of rates.</li>"
        f"<li><em>Hidden</em>: withheld to protect groups of fewer than {report.k} people "
        f"({term('why', 'hidden')}).</li>"
        "</ul>"
    )
    out.append("</section>")
    return "\n".join(out) + "\n"


def _glossary() -> str:
    """Every technical term the report links to, in plain words."""
    entries = "".join(f'<div><dt id="g-{key}">{escape(name)}</dt><dd>{escape(text)}</dd></div>'
                      for key, (name, text) in GLOSSARY.items())
    return f'<section id="glossary"><h2>Glossary</h2><dl class="glossary">{entries}</dl></section>\n'


def render_html(report: ReportData, *, print_version: bool = False) -> str:
    """Render a report as one self-contained HTML5 page.

    The page loads nothing from anywhere (inline CSS and SVG, no script) and the same ``report`` always
    gives the same string. ``print_version`` opens every ``<details>`` (the PDF shows every figure).
    """
    parts = [
        "<!DOCTYPE html>\n",
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'\">\n",
        '<meta name="generator" content="commetrics">\n',
        f"<title>{escape(report.title)} — {escape(report.workspace)}</title>\n",
        f"<style>{_CSS}</style>\n",
        "</head>\n<body>\n",
        _header(report),
        "<main>\n",
    ]
    if report.summary is not None:
        parts.append(render_summary(report.summary))
    parts.append(_nav(report))
    if report.impact is not None:
        parts.append(render_impact(report.impact))
    for index, attribution in enumerate(report.attribution, start=1):
        parts.append(render_attribution(attribution, index))
    for index, group in enumerate(report.conversions, start=1):
        parts.append(render_conversion(index, group, k=report.k))
    if report.drivers is not None:
        parts.append(render_drivers(report.drivers))
    if report.community is not None:
        parts.append(render_community(report.community, cost_per_ticket=report.cost_per_ticket,
                                      currency=report.currency))
    if report.scores is not None:
        parts.append(render_scores(report.scores))
    parts.append(_definitions(report.definitions))
    parts.append(_notes(report))
    parts.append(_glossary())
    parts.append("</main>\n")
    parts.append(f"<footer>Made by commetrics from workspace {escape(report.workspace)}, data as of "
                 f"{escape(_timestamp(report.as_of))}.</footer>\n")
    parts.append("</body>\n</html>\n")
    page = _label_cells("".join(parts))
    return page.replace("<details>", "<details open>") if print_version else page


_TABLE = re.compile(r"<table\b.*?</table>", re.S)
_CELL = re.compile(r"<(th|td)\b([^>]*)>")


def _label_cells(page: str) -> str:
    """Give every body cell of every table its column's heading as ``data-label``, so that on a narrow screen
    (where the CSS stacks a table's cells) each value still says what it is."""

    def label(match: re.Match[str]) -> str:
        table = match.group(0)
        if "<thead>" not in table:
            return table
        head, _, body = table.partition("</thead>")
        names = [html.unescape(re.sub(r"<[^>]+>", "", h)).strip()
                 for h in re.findall(r"<th\b[^>]*>(.*?)</th>", head.split("<thead>", 1)[1], re.S)]

        def row(row_match: re.Match[str]) -> str:
            position = 0

            def cell(cell_match: re.Match[str]) -> str:
                nonlocal position
                tag, attributes = cell_match.group(1), cell_match.group(2)
                name = names[position] if position < len(names) else ""
                span = re.search(r'colspan="(\d+)"', attributes)
                position += int(span.group(1)) if span else 1
                if tag == "th" or not name or "data-label" in attributes:
                    return cell_match.group(0)
                return f'<{tag}{attributes} data-label="{escape(name)}">'

            return _CELL.sub(cell, row_match.group(0))

        return head + "</thead>" + re.sub(r"<tr\b.*?</tr>", row, body, flags=re.S)

    return _TABLE.sub(label, page)


#: The same for any page that shows the report's tables (the dashboard's).
label_cells = _label_cells


def render_summary_page(summary: Summary, *, title: str = "What the community is worth") -> str:
    """The summary on a page of its own (``commetrics summary --out summary.html``), styled like the report."""
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'\">\n"
            f"<title>{escape(title)} — {escape(summary.workspace)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{escape(title)}</h1><p>Workspace {escape(summary.workspace)} · data as of "
            f"{escape(_timestamp(summary.as_of))}. Intervals are 95%.</p></header>\n<main>\n"
            f"{render_summary(summary, links=False)}</main>\n</body>\n</html>\n")
