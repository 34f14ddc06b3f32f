"""A self-contained HTML report of community conversion rates: the page around the sections.

One file, no network: the CSS is inline, the charts are SVG drawn here, and there is no script.
A ``Content-Security-Policy`` meta tag forbids the browser from loading anything else, so the page
opens offline and stays inert even if data were to smuggle markup past the escaping.

Every string taken from the data (titles, conversion and cohort names, notes) goes through
:func:`html.escape`. The output is deterministic: the same :class:`ReportData` gives the same bytes.

This module writes the document (head, styles, contents, definitions, notes); the sections are
rendered by :mod:`.conversion`, :mod:`.attribution`, :mod:`.scores` and :mod:`.impact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .attribution import AttributionSection, render_attribution
from .common import DASH, count, escape, slug, to_text
from .conversion import SMALL_N, ConversionSection, render_conversion
from .impact import ImpactSection, render_impact
from .scores import ScoresSection, render_scores

__all__ = ["ReportData", "render_html"]


@dataclass(frozen=True)
class ReportData:
    """Everything the HTML report shows.

    Attributes
    ----------
    title
        The report's title.
    workspace
        The workspace the numbers come from.
    as_of
        The "data as of" instant (timezone-aware, UTC).
    generated_at
        When the report was made (timezone-aware, UTC).
    timezone
        The reporting time zone's name; a label only.
    definitions
        One dict per conversion with ``name``, ``description``, ``owner``, ``outcomes`` (list),
        ``anchor``, ``windows`` (list of days) and ``unit``.
    sections
        One :class:`ConversionSection` per conversion.
    notes
        Free-text notes shown at the end (e.g. "Staff excluded").
    attribution
        Attribution sections (one per currency of the attributed values), after the conversions.
    scores
        Engagement tiers, health bands and the validation of health, or ``None``.
    impact
        Renewal, NPS and CSAT by participation, raw and adjusted, or ``None``.
    """

    title: str
    workspace: str
    as_of: datetime
    generated_at: datetime
    timezone: str
    definitions: list[dict[str, Any]]
    sections: list[ConversionSection]
    notes: list[str] = field(default_factory=list)
    attribution: list[AttributionSection] = field(default_factory=list)
    scores: ScoresSection | None = None
    impact: ImpactSection | None = None


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
:root { --ink: #1b1f24; --muted: #59636e; --rule: #d0d7de; --soft: #f6f8fa; --warn: #9a6700;
  --warn-bg: #fff8c5; --prog: #0550ae; --prog-bg: #ddf4ff; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; line-height: 1.45; }
body { margin: 0 auto; padding: 24px 32px 48px; max-width: 1200px; font-size: 15px; }
h1 { font-size: 1.75rem; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 40px 0 4px; padding-top: 12px; border-top: 2px solid var(--ink); }
h3 { font-size: 1.05rem; margin: 24px 0 8px; }
p, dl, ul { margin: 6px 0 12px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
  background: var(--soft); padding: 0 3px; border-radius: 3px; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; color: var(--muted); }
header dt { font-weight: 600; }
header dd { margin: 0; color: var(--ink); }
nav ol { margin: 4px 0 0; padding-left: 22px; }
a { color: var(--prog); }
.lead { color: var(--muted); margin-top: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9rem; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; caption-side: top; }
th, td { border-bottom: 1px solid var(--rule); padding: 4px 10px; vertical-align: top; text-align: left; }
thead th { border-bottom: 2px solid var(--ink); background: var(--soft); vertical-align: bottom; }
thead th.num { white-space: normal; }
tbody th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group-start > * { border-top: 2px solid var(--rule); }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 600; padding: 0 6px; border-radius: 9px;
  border: 1px solid currentColor; white-space: nowrap; }
.badge.progress { color: var(--prog); background: var(--prog-bg); }
.badge.small { color: var(--warn); background: var(--warn-bg); }
.badge.suppressed, .badge.ref { color: var(--muted); background: var(--soft); }
tr.in-progress > * { background: var(--prog-bg); }
tr.suppressed > * { color: var(--muted); }
td.warn { color: var(--warn); background: var(--warn-bg); font-weight: 600; }
.guards { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 4px 12px; margin: 8px 0 16px; }
.guards ul { margin: 4px 0 8px; padding-left: 20px; }
.chart { margin: 8px 0 20px; }
.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 4px; }
svg text { font-family: inherit; fill: var(--ink); }
svg .axis { stroke: var(--ink); stroke-width: 1; }
svg .grid { stroke: #e6e9ec; stroke-width: 1; }
svg .window-line { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 4 3; }
svg .muted { fill: var(--muted); }
svg .prog { fill: var(--prog); }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85rem; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  nav { display: none; }
  section.conversion > h2 { break-before: page; }
  h2, h3 { break-after: avoid; }
  table, .chart, tr { break-inside: avoid; }
  .scroll { overflow: visible; }
  thead th, tr.in-progress > *, .badge { background: none !important; }
  a { color: inherit; text-decoration: none; }
}
"""


def _header(report: ReportData) -> str:
    """The page header: title and where and when the numbers come from."""
    return (
        "<header>\n"
        f"<h1>{escape(report.title)}</h1>\n"
        "<dl>\n"
        f"<dt>Workspace</dt><dd>{escape(report.workspace)}</dd>\n"
        f'<dt>Data as of</dt><dd><time datetime="{escape(_iso(report.as_of))}">'
        f"{escape(_timestamp(report.as_of))}</time></dd>\n"
        f'<dt>Generated at</dt><dd><time datetime="{escape(_iso(report.generated_at))}">'
        f"{escape(_timestamp(report.generated_at))}</time></dd>\n"
        f"<dt>Time zone</dt><dd>{escape(report.timezone)}</dd>\n"
        "</dl>\n"
        "</header>\n"
    )


def _nav(report: ReportData) -> str:
    """A table of contents linking to the sections (in-page links only)."""
    items = ['<li><a href="#definitions">Definitions</a></li>']
    for index, section in enumerate(report.sections, start=1):
        label = f"{section.name} · by {section.by}" if section.by else f"{section.name} · all members"
        items.append(f'<li><a href="#{slug(index, "section")}">{escape(label)}</a></li>')
    for index, attribution in enumerate(report.attribution, start=1):
        label = f"Attributed value by {attribution.by}" + (
            f" ({attribution.currency})" if len(report.attribution) > 1 else "")
        items.append(f'<li><a href="#attribution-{index}">{escape(label)}</a></li>')
    if report.scores is not None:
        items.append('<li><a href="#scores">Engagement and health scores</a></li>')
    if report.impact is not None:
        items.append('<li><a href="#impact">Impact on renewal and satisfaction</a></li>')
    items.append('<li><a href="#notes">Notes</a></li>')
    return '<nav aria-label="Contents">\n<strong>Contents</strong>\n<ol>\n' + "\n".join(items) + "\n</ol>\n</nav>\n"


def _listing(value: Any) -> str:
    """A definition field as text: lists joined with commas, missing as a dash."""
    if isinstance(value, list | tuple | set | frozenset):
        parts = [str(v) for v in (sorted(value, key=str) if isinstance(value, set | frozenset) else value)]
        return ", ".join(parts) if parts else DASH
    text = to_text(value)
    return DASH if text is None or text == "" else text


def _definitions(definitions: Sequence[dict[str, Any]]) -> str:
    """The definitions table: what each conversion counts."""
    out = ['<section id="definitions">', "<h2>Definitions</h2>"]
    if not definitions:
        out.append('<p class="empty">No conversions are defined.</p>')
        out.append("</section>")
        return "\n".join(out) + "\n"
    out.append('<div class="scroll"><table>')
    out.append("<caption>What each conversion counts: a member converts when an outcome follows the anchor "
               "within the window.</caption>")
    headers = ("Conversion", "Description", "Owner", "Outcomes", "Anchor", "Windows (days)", "Unit")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in headers) + "</tr></thead>")
    out.append("<tbody>")
    for definition in definitions:
        windows = definition.get("windows")
        if isinstance(windows, list | tuple):
            window_text = ", ".join(count(w) for w in windows) or DASH
        else:
            window_text = _listing(windows)
        cells = [
            f'<th scope="row"><code>{escape(_listing(definition.get("name")))}</code></th>',
            f"<td>{escape(_listing(definition.get('description')))}</td>",
            f"<td>{escape(_listing(definition.get('owner')))}</td>",
            f"<td>{escape(_listing(definition.get('outcomes')))}</td>",
            f"<td>{escape(_listing(definition.get('anchor')))}</td>",
            f'<td class="num">{escape(window_text)}</td>',
            f"<td>{escape(_listing(definition.get('unit')))}</td>",
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    out.append("</section>")
    return "\n".join(out) + "\n"


def _notes(notes: Sequence[str]) -> str:
    """The notes, plus how to read the report."""
    out = ['<section id="notes">', "<h2>Notes</h2>"]
    if notes:
        out.append("<ul>" + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>")
    out.append("<h3>Reading this report</h3>")
    out.append(
        "<ul>"
        "<li>Rates count only members whose window has fully elapsed. Members still inside their window are shown "
        "as <em>in progress</em>: they have not failed to convert, it is too early to tell.</li>"
        f"<li>Cells with fewer than {SMALL_N} eligible members are flagged <em>small n</em>; their intervals "
        "are wide.</li>"
        "<li>Intervals are 95% Wilson score intervals; differences use Newcombe’s method.</li>"
        "<li><em>Suppressed</em> cells were withheld for privacy.</li>"
        "</ul>"
    )
    out.append("</section>")
    return "\n".join(out) + "\n"


def render_html(report: ReportData) -> str:
    """Render a report as one self-contained HTML5 page.

    Parameters
    ----------
    report
        The numbers and labels to show.

    Returns
    -------
    str
        The page. It loads nothing from anywhere (inline CSS and SVG, no script) and the same
        ``report`` always gives the same string.
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
        _nav(report),
        "<main>\n",
        _definitions(report.definitions),
    ]
    for index, section in enumerate(report.sections, start=1):
        parts.append(render_conversion(index, section))
    if not report.sections:
        parts.append('<p class="empty">No conversion results.</p>\n')
    if report.attribution:
        for index, attribution in enumerate(report.attribution, start=1):
            parts.append(render_attribution(attribution, index))
    if report.scores is not None:
        parts.append(render_scores(report.scores))
    if report.impact is not None:
        parts.append(render_impact(report.impact))
    parts.append(_notes(report.notes))
    parts.append("</main>\n")
    parts.append(f"<footer>Made by commetrics from workspace {escape(report.workspace)}, data as of "
                 f"{escape(_timestamp(report.as_of))}.</footer>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)
