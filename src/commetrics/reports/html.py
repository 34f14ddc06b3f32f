"""A self-contained HTML report of community conversion rates.

One file, no network: the CSS is inline, the charts are SVG drawn here, and there is no script.
A ``Content-Security-Policy`` meta tag forbids the browser from loading anything else, so the page
opens offline and stays inert even if data were to smuggle markup past the escaping.

Every string taken from the data (titles, conversion and cohort names, notes) goes through
:func:`html.escape`. The output is deterministic: the same :class:`ReportData` gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .html_attribution import AttributionSection
    from .html_impact import ImpactSection
    from .html_scores import ScoresSection

__all__ = ["ConversionSection", "ReportData", "render_html"]


@dataclass(frozen=True)
class ConversionSection:
    """The results of one conversion, ready to render.

    Attributes
    ----------
    name
        The conversion's name, e.g. ``"trial_after_join"``.
    description
        One sentence saying what the conversion is.
    by
        The cohort key (e.g. ``"entry_path"``, ``"join_month"``), or ``None`` for all members.
    table
        One row per cohort × window with the columns ``cohort``, ``window_days``, ``eligible``,
        ``in_progress``, ``converters``, ``rate``, ``ci_low``, ``ci_high``, ``existing_customers``,
        ``small`` and, for comparisons, ``reference``, ``diff``, ``diff_low``, ``diff_high``.
        Suppressed cells carry NaN in ``eligible``/``converters``.
    curves
        Cumulative conversion curves: ``cohort``, ``day``, ``cumulative``, ``ci_low``, ``ci_high``.
    timing
        Time to conversion per cohort: ``cohort``, ``eligible``, ``converters``,
        ``median_days_converters``, ``km_median_days``, ``km_quantile``, ``km_quantile_days``
        (``math.inf`` means not reached).
    """

    name: str
    description: str
    by: str | None
    table: pd.DataFrame
    curves: pd.DataFrame
    timing: pd.DataFrame


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


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------

#: Okabe–Ito colours (yellow left out: too pale on white), safe for the common colour-vision deficiencies.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Dash patterns used once the palette has been used up, so that every cohort stays distinguishable.
_DASHES = ("", "6 3", "2 2", "8 3 2 3")
#: Above this many cohorts the curves' 95% bands are left out: overlapping, they only make mud.
_MAX_BANDS = 4
#: The n below which a cell is flagged as small when the table has no ``small`` column.
_SMALL_N = 30
_DASH = "—"
_MINUS = "−"


def _e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _float(value: Any) -> float | None:
    """A value as a float, or ``None`` when missing (None, NaN, NA, NaT) or not a number."""
    if value is None or isinstance(value, str):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def _text(value: Any) -> str | None:
    """A value as a string, or ``None`` when missing."""
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            if bool(pd.isna(value)):
                return None
        except (TypeError, ValueError):
            pass
    return str(value)


def _count(value: Any) -> str:
    """An integer count with thousands separators (a dash when missing)."""
    number = _float(value)
    if number is None:
        return _DASH
    if math.isinf(number):
        return "∞"
    return f"{round(number):,}"


def _pct(value: float | None, decimals: int = 1) -> str:
    """A proportion as a percentage with one decimal, e.g. ``0.1234`` → ``12.3%``."""
    if value is None or math.isinf(value):
        return _DASH
    return f"{value * 100:,.{decimals}f}%"


def _signed_pp(value: float) -> str:
    """A difference of proportions in percentage points with an explicit sign."""
    points = value * 100
    if round(points, 1) == 0:
        return "0.0"
    sign = "+" if points > 0 else _MINUS
    return f"{sign}{abs(points):,.1f}"


def _days(value: Any) -> str:
    """A number of days (``not reached`` for infinity, a dash when missing)."""
    number = _float(value)
    if number is None:
        return _DASH
    if math.isinf(number):
        return "not reached"
    return f"{number:,.1f}"


def _quantile_label(value: Any) -> str | None:
    """A quantile as a percentage label, e.g. ``0.1`` → ``10%`` (``None`` when missing)."""
    number = _float(value)
    if number is None:
        return None
    return f"{number * 100:g}%"


def _timestamp(value: datetime) -> str:
    """A datetime in UTC as ``YYYY-MM-DD HH:MM UTC`` (naive values are taken to be UTC)."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime) -> str:
    """A datetime in UTC as ISO 8601, for ``<time datetime=…>``."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat()


def _num(value: float) -> str:
    """An SVG coordinate: one decimal, no trailing ``.0`` noise, never ``-0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _nice_step(span: float, target_ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about ``target_ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def _ticks(upper: float, target_ticks: int = 5) -> tuple[float, list[float]]:
    """The axis maximum (rounded up to a step) and the ticks from 0 to it."""
    step = _nice_step(upper, target_ticks)
    count = max(1, math.ceil(upper / step - 1e-9))
    return step * count, [step * i for i in range(count + 1)]


def _pct_tick(value: float, step: float) -> str:
    """A percentage tick label with as many decimals as the step needs."""
    decimals = 0 if step * 100 >= 1 - 1e-9 else (1 if step * 1000 >= 1 - 1e-9 else 2)
    return f"{value * 100:.{decimals}f}%"


def _day_tick(value: float) -> str:
    """A day tick label."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def _text_width(text: str, size: float = 12.0) -> float:
    """A rough rendered width of ``text`` in pixels (no font metrics are available offline)."""
    return len(text) * size * 0.62


def _shorten(text: str, limit: int = 28) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slug(index: int, suffix: str) -> str:
    """A deterministic element id that never contains data."""
    return f"c{index}-{suffix}"


def _unique(values: Iterable[Any]) -> list[str]:
    """The distinct non-missing values as strings, in order of first appearance."""
    seen: dict[str, None] = {}
    for value in values:
        text = _text(value)
        if text is not None and text not in seen:
            seen[text] = None
    return list(seen)


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column's values as a list (``None`` for every row when the column is absent)."""
    if name in frame.columns:
        return list(frame[name].tolist())
    return [None] * len(frame)


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts over ``columns`` (missing columns give ``None``)."""
    values = {name: _column(frame, name) for name in columns}
    return [{name: values[name][i] for name in columns} for i in range(len(frame))]


# --------------------------------------------------------------------------------------------
# Cells of the rates table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """One cohort × window of the rates table, decoded from a row."""

    cohort: str
    window: int | None
    eligible: float | None
    in_progress: float | None
    converters: float | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    existing: float | None
    small: bool
    reference: str | None
    diff: float | None
    diff_low: float | None
    diff_high: float | None

    @property
    def suppressed(self) -> bool:
        """Privacy suppression: the counts were withheld."""
        return self.eligible is None or self.converters is None

    @property
    def status(self) -> str:
        """``suppressed``, ``in-progress`` (nothing mature yet), ``empty`` (nobody) or ``ok``."""
        if self.suppressed:
            return "suppressed"
        if self.eligible == 0:
            return "in-progress" if (self.in_progress or 0) > 0 else "empty"
        return "ok" if self.rate is not None else "empty"

    @property
    def is_reference(self) -> bool:
        """Whether this row is the cohort the others are compared against."""
        return self.reference is not None and self.reference == self.cohort


_TABLE_COLUMNS = (
    "cohort", "window_days", "eligible", "in_progress", "converters", "rate", "ci_low", "ci_high",
    "existing_customers", "small", "reference", "diff", "diff_low", "diff_high",
)


def _cells(table: pd.DataFrame) -> list[_Cell]:
    """The rows of a section's table, ordered by window, then by cohort as they first appear."""
    cells: list[_Cell] = []
    for row in _records(table, _TABLE_COLUMNS):
        window = _float(row["window_days"])
        eligible = _float(row["eligible"])
        small_raw = row["small"]
        small = bool(small_raw) if _text(small_raw) is not None else eligible is not None and 0 < eligible < _SMALL_N
        cells.append(_Cell(
            cohort=_text(row["cohort"]) or "all",
            window=None if window is None else round(window),
            eligible=eligible,
            in_progress=_float(row["in_progress"]),
            converters=_float(row["converters"]),
            rate=_float(row["rate"]),
            ci_low=_float(row["ci_low"]),
            ci_high=_float(row["ci_high"]),
            existing=_float(row["existing_customers"]),
            small=small,
            reference=_text(row["reference"]),
            diff=_float(row["diff"]),
            diff_low=_float(row["diff_low"]),
            diff_high=_float(row["diff_high"]),
        ))
    order = {cohort: i for i, cohort in enumerate(_unique(c.cohort for c in cells))}
    return sorted(cells, key=lambda c: (c.window is None, c.window or 0, order[c.cohort]))


def _windows(cells: Sequence[_Cell]) -> list[int | None]:
    """The distinct windows of the cells, in ascending order."""
    seen: dict[int | None, None] = {}
    for cell in cells:
        seen.setdefault(cell.window, None)
    return list(seen)


def _window_label(window: int | None) -> str:
    return "window unknown" if window is None else f"{window:,}-day window"


def _cell_summary(cell: _Cell, by: str | None) -> str:
    """A plain-text description of one cell, for SVG titles."""
    who = cell.cohort if by is None else f"{by} = {cell.cohort}"
    where = f"{who}, {_window_label(cell.window)}"
    if cell.status == "suppressed":
        return f"{where}: suppressed"
    if cell.status == "in-progress":
        return f"{where}: in progress ({_count(cell.in_progress)} members not yet through the window)"
    if cell.status == "empty":
        return f"{where}: no eligible members"
    text = (f"{where}: {_pct(cell.rate)} (95% CI {_pct(cell.ci_low)} to {_pct(cell.ci_high)}), "
            f"{_count(cell.converters)} of {_count(cell.eligible)} converted")
    if cell.in_progress:
        text += f", {_count(cell.in_progress)} in progress"
    if cell.small:
        text += ", small cohort"
    return text


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
        f"<h1>{_e(report.title)}</h1>\n"
        "<dl>\n"
        f"<dt>Workspace</dt><dd>{_e(report.workspace)}</dd>\n"
        f'<dt>Data as of</dt><dd><time datetime="{_e(_iso(report.as_of))}">{_e(_timestamp(report.as_of))}</time></dd>\n'
        f'<dt>Generated at</dt><dd><time datetime="{_e(_iso(report.generated_at))}">'
        f"{_e(_timestamp(report.generated_at))}</time></dd>\n"
        f"<dt>Time zone</dt><dd>{_e(report.timezone)}</dd>\n"
        "</dl>\n"
        "</header>\n"
    )


def _nav(report: ReportData) -> str:
    """A table of contents linking to the sections (in-page links only)."""
    items = ['<li><a href="#definitions">Definitions</a></li>']
    for index, section in enumerate(report.sections, start=1):
        label = f"{section.name} · by {section.by}" if section.by else f"{section.name} · all members"
        items.append(f'<li><a href="#{_slug(index, "section")}">{_e(label)}</a></li>')
    for index, attribution in enumerate(report.attribution, start=1):
        label = f"Attributed value by {attribution.by}" + (
            f" ({attribution.currency})" if len(report.attribution) > 1 else "")
        items.append(f'<li><a href="#attribution-{index}">{_e(label)}</a></li>')
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
        return ", ".join(parts) if parts else _DASH
    text = _text(value)
    return _DASH if text is None or text == "" else text


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
            window_text = ", ".join(_count(w) for w in windows) or _DASH
        else:
            window_text = _listing(windows)
        cells = [
            f'<th scope="row"><code>{_e(_listing(definition.get("name")))}</code></th>',
            f"<td>{_e(_listing(definition.get('description')))}</td>",
            f"<td>{_e(_listing(definition.get('owner')))}</td>",
            f"<td>{_e(_listing(definition.get('outcomes')))}</td>",
            f"<td>{_e(_listing(definition.get('anchor')))}</td>",
            f'<td class="num">{_e(window_text)}</td>',
            f"<td>{_e(_listing(definition.get('unit')))}</td>",
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    out.append("</section>")
    return "\n".join(out) + "\n"


def _rates_table(section: ConversionSection, cells: Sequence[_Cell]) -> str:
    """The table of rates per cohort and window."""
    if not cells:
        return '<p class="empty">No rates: the table is empty.</p>\n'
    compare = any(c.reference is not None for c in cells)
    references = _unique(c.reference for c in cells)
    headers = [
        ('<th scope="col">Cohort</th>'),
        ('<th scope="col" class="num">Window (days)</th>'),
        ('<th scope="col" class="num">Rate</th>'),
        ('<th scope="col" class="num">95% CI (Wilson)</th>'),
        ('<th scope="col" class="num">Converters / eligible</th>'),
        ('<th scope="col" class="num">In progress</th>'),
        ('<th scope="col" class="num">Existing customers</th>'),
    ]
    if compare:
        headers.append('<th scope="col" class="num">Difference vs reference (pp, 95% CI)</th>')
    caption = (
        "Conversion rate = converters ÷ eligible members (anchors whose window has fully elapsed). "
        "“In progress” counts members whose window is still open; they are not failures. "
        "Existing customers had converted before the anchor and are excluded."
    )
    if compare:
        caption += (" Differences are in percentage points against the reference cohort "
                    f"({', '.join(references)}), with Newcombe 95% intervals.")
    out = ['<div class="scroll"><table class="rates">', f"<caption>{_e(caption)}</caption>",
           "<thead><tr>" + "".join(headers) + "</tr></thead>", "<tbody>"]
    previous: int | str | None = "start"
    for cell in cells:
        classes = [cell.status] if cell.status in ("in-progress", "suppressed") else []
        if previous != "start" and cell.window != previous:
            classes.append("group-start")
        previous = cell.window
        class_attr = f' class="{" ".join(classes)}"' if classes else ""
        cohort = _e(cell.cohort)
        if cell.small and cell.status == "ok":
            cohort += ' <span class="badge small" title="fewer than 30 eligible members">small n</span>'
        if cell.is_reference:
            cohort += ' <span class="badge ref">reference</span>'
        window = _DASH if cell.window is None else f"{cell.window:,}"
        if cell.status == "suppressed":
            rate = '<span class="badge suppressed">suppressed</span>'
            interval = ""
            n = "suppressed"
        elif cell.status == "in-progress":
            rate = '<span class="badge progress">in progress</span>'
            interval = _DASH
            n = f"{_count(cell.converters)} / {_count(cell.eligible)}"
        elif cell.status == "empty":
            rate = _DASH
            interval = _DASH
            n = f"{_count(cell.converters)} / {_count(cell.eligible)}"
        else:
            rate = _e(_pct(cell.rate))
            interval = (f"{_e(_pct(cell.ci_low))} – {_e(_pct(cell.ci_high))}"
                        if cell.ci_low is not None and cell.ci_high is not None else _DASH)
            n = f"{_count(cell.converters)} / {_count(cell.eligible)}"
        in_progress = "suppressed" if cell.suppressed and cell.in_progress is None else _count(cell.in_progress)
        row = [
            f'<th scope="row">{cohort}</th>',
            f'<td class="num">{window}</td>',
            f'<td class="num">{rate}</td>',
            f'<td class="num">{interval}</td>',
            f'<td class="num">{n}</td>',
            f'<td class="num">{in_progress}</td>',
            f'<td class="num">{_count(cell.existing)}</td>',
        ]
        if compare:
            row.append(f'<td class="num">{_diff_text(cell)}</td>')
        out.append(f"<tr{class_attr}>" + "".join(row) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _diff_text(cell: _Cell) -> str:
    """The difference cell: the reference marker, the difference with its interval, or a dash."""
    if cell.reference is None:
        return _DASH
    if cell.is_reference:
        return '<span class="badge ref">reference</span>'
    if cell.diff is None:
        return _DASH
    text = f"{_signed_pp(cell.diff)} pp"
    if cell.diff_low is not None and cell.diff_high is not None:
        text += f" ({_signed_pp(cell.diff_low)} to {_signed_pp(cell.diff_high)})"
    return _e(text)


def _timing_table(section: ConversionSection) -> str:
    """Time to conversion per cohort: the converters' median and the Kaplan–Meier median and quantile."""
    timing = section.timing
    if timing is None or len(timing) == 0:
        return '<p class="empty">No time-to-conversion data.</p>\n'
    columns = ("cohort", "eligible", "converters", "median_days_converters", "km_median_days", "km_quantile",
               "km_quantile_days")
    rows = _records(timing, columns)
    quantiles = _unique(_quantile_label(r["km_quantile"]) for r in rows)
    shared = quantiles[0] if len(quantiles) == 1 else None
    quantile_header = f"Days until {shared} converted (KM)" if shared else "Days until the lower quantile (KM)"
    headers = ("Cohort", "Eligible", "Converters", "Median days (converters only)", "Median days (KM)",
               quantile_header)
    out = ['<div class="scroll"><table class="timing">',
           "<caption>Days from anchor to conversion. The converters-only median ignores members who have not "
           "converted; the Kaplan–Meier (KM) figures account for them and read “not reached” when the curve never "
           "gets there.</caption>",
           "<thead><tr>" + "".join(
               ('<th scope="col">' if i == 0 else '<th scope="col" class="num">') + f"{_e(h)}</th>"
               for i, h in enumerate(headers)
           ) + "</tr></thead>", "<tbody>"]
    for row in rows:
        suppressed = _float(row["eligible"]) is None or _float(row["converters"]) is None
        cohort = _text(row["cohort"]) or "all"
        quantile_days = _days(row["km_quantile_days"])
        label = _quantile_label(row["km_quantile"])
        if shared is None and label is not None:
            quantile_days = f"{quantile_days} (at {label})"
        cells = [
            f'<th scope="row">{_e(cohort)}</th>',
            f'<td class="num">{"suppressed" if _float(row["eligible"]) is None else _count(row["eligible"])}</td>',
            f'<td class="num">{"suppressed" if _float(row["converters"]) is None else _count(row["converters"])}</td>',
            f'<td class="num">{_e(_days(row["median_days_converters"]))}</td>',
            f'<td class="num">{_e(_days(row["km_median_days"]))}</td>',
            f'<td class="num">{_e(quantile_days)}</td>',
        ]
        out.append(('<tr class="suppressed">' if suppressed else "<tr>") + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _x_grid(ticks: Sequence[tuple[float, str]], top: float, bottom: float) -> list[str]:
    """Vertical grid lines from ``top`` to ``bottom`` at each ``(x, label)``, labelled under the axis."""
    out = []
    for x, label in ticks:
        out.append(f'<line class="grid" x1="{_num(x)}" y1="{_num(top)}" x2="{_num(x)}" y2="{_num(bottom)}"/>')
        out.append(f'<text class="muted" x="{_num(x)}" y="{_num(bottom + 16)}" text-anchor="middle" '
                   f'font-size="11">{_e(label)}</text>')
    return out


def _style(index: int) -> tuple[str, str]:
    """The colour and dash pattern of the ``index``-th cohort."""
    return _PALETTE[index % len(_PALETTE)], _DASHES[(index // len(_PALETTE)) % len(_DASHES)]


def _rates_chart(index: int, section: ConversionSection, cells: Sequence[_Cell], colours: dict[str, int]) -> str:
    """Dots with Wilson intervals, one panel per window, cohorts down the side (shared across panels)."""
    if not cells:
        return ""
    windows = _windows(cells)
    cohorts = _unique(c.cohort for c in cells)
    by_key = {(c.cohort, c.window): c for c in cells}
    highs = [v for c in cells if c.status == "ok" for v in (c.ci_high, c.rate) if v is not None]
    upper, ticks = _ticks(min(1.0, max(highs)) if highs and max(highs) > 0 else 0.1)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else upper

    font = 12.0
    labels = [_shorten(c) for c in cohorts]
    left = 20 + max(_text_width(label, font) for label in labels)
    panel_w, gap, row_h, top, bottom = 260.0, 28.0, 26.0, 44.0, 40.0
    width = left + len(windows) * panel_w + (len(windows) - 1) * gap + 16
    height = top + len(cohorts) * row_h + bottom
    who = "all members" if section.by is None else f"cohorts by {section.by}"
    title = f"{section.name}: conversion rate by cohort with 95% Wilson intervals, {who}, one panel per window"
    desc = "; ".join(_cell_summary(c, section.by) for c in cells)
    title_id, desc_id = _slug(index, "rates-title"), _slug(index, "rates-desc")
    out = [
        f'<svg class="rates-chart" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{_e(title)}</title>',
        f'<desc id="{desc_id}">{_e(desc)}</desc>',
    ]
    # Cohort labels, shared by all panels.
    for row, (cohort, label) in enumerate(zip(cohorts, labels, strict=True)):
        y = top + row * row_h + row_h / 2
        out.append(f'<text x="{_num(left - 8)}" y="{_num(y + 4)}" text-anchor="end" font-size="{_num(font)}">'
                   f"<title>{_e(cohort)}</title>{_e(label)}</text>")
    for panel, window in enumerate(windows):
        x0 = left + panel * (panel_w + gap)
        inner = panel_w - 10

        def sx(value: float, x0: float = x0, inner: float = inner) -> float:
            return x0 + inner * max(0.0, min(value, upper)) / upper

        plot_bottom = top + len(cohorts) * row_h
        out.append(f'<g class="panel" aria-label="{_e(_window_label(window))}">')
        out.append(f'<text x="{_num(x0 + inner / 2)}" y="{_num(top - 22)}" text-anchor="middle" '
                   f'font-size="13" font-weight="600">{_e(_window_label(window))}</text>')
        out += _x_grid([(sx(tick), _pct_tick(tick, step)) for tick in ticks], top - 6, plot_bottom)
        out.append(f'<line class="axis" x1="{_num(x0)}" y1="{_num(plot_bottom)}" x2="{_num(x0 + inner)}" '
                   f'y2="{_num(plot_bottom)}"/>')
        for row, cohort in enumerate(cohorts):
            y = top + row * row_h + row_h / 2
            cell = by_key.get((cohort, window))
            if cell is None:
                continue
            colour, _ = _style(colours.get(cohort, 0))
            summary = _e(_cell_summary(cell, section.by))
            if cell.status == "ok" and cell.rate is not None:
                parts = [f"<g><title>{summary}</title>"]
                if cell.ci_low is not None and cell.ci_high is not None:
                    a, b = sx(cell.ci_low), sx(cell.ci_high)
                    parts.append(f'<line x1="{_num(a)}" y1="{_num(y)}" x2="{_num(b)}" y2="{_num(y)}" '
                                 f'stroke="{colour}" stroke-width="2"/>')
                    for x in (a, b):
                        parts.append(f'<line x1="{_num(x)}" y1="{_num(y - 5)}" x2="{_num(x)}" y2="{_num(y + 5)}" '
                                     f'stroke="{colour}" stroke-width="2"/>')
                fill = "#fff" if cell.small else colour
                parts.append(f'<circle cx="{_num(sx(cell.rate))}" cy="{_num(y)}" r="4.5" fill="{fill}" '
                             f'stroke="{colour}" stroke-width="2"/>')
                parts.append("</g>")
                out.append("".join(parts))
            else:
                word = {"suppressed": "suppressed", "in-progress": "in progress"}.get(cell.status, "no members")
                css = "prog" if cell.status == "in-progress" else "muted"
                out.append(f'<text class="{css}" x="{_num(x0 + 4)}" y="{_num(y + 4)}" font-size="11" '
                           f'font-style="italic"><title>{summary}</title>{word}</text>')
        out.append("</g>")
    legend_y = height - 8
    out.append(f'<g class="legend"><circle cx="{_num(left)}" cy="{_num(legend_y - 4)}" r="4.5" fill="#59636e" '
               f'stroke="#59636e" stroke-width="2"/>'
               f'<text class="muted" x="{_num(left + 10)}" y="{_num(legend_y)}" font-size="11">'
               "rate with 95% interval</text>"
               f'<circle cx="{_num(left + 160)}" cy="{_num(legend_y - 4)}" r="4.5" fill="#fff" stroke="#59636e" '
               f'stroke-width="2"/><text class="muted" x="{_num(left + 170)}" y="{_num(legend_y)}" font-size="11">'
               f"small cohort (n &lt; {_SMALL_N})</text></g>")
    out.append("</svg>")
    return '<figure class="chart">\n' + "\n".join(out) + "\n</figure>\n"


@dataclass(frozen=True)
class _Curve:
    cohort: str
    points: list[tuple[float, float, float | None, float | None]]  # day, cumulative, ci_low, ci_high


def _curves(section: ConversionSection, cohort_order: Sequence[str]) -> list[_Curve]:
    """The curves per cohort (sorted by day, starting from 0 at day 0), in the table's cohort order."""
    frame = section.curves
    if frame is None or len(frame) == 0:
        return []
    grouped: dict[str, list[tuple[float, float, float | None, float | None]]] = {}
    for row in _records(frame, ("cohort", "day", "cumulative", "ci_low", "ci_high")):
        day, value = _float(row["day"]), _float(row["cumulative"])
        if day is None or value is None or math.isinf(day) or math.isinf(value):
            continue
        cohort = _text(row["cohort"]) or "all"
        grouped.setdefault(cohort, []).append((day, value, _float(row["ci_low"]), _float(row["ci_high"])))
    order = list(cohort_order) + sorted(c for c in grouped if c not in cohort_order)
    curves = []
    for cohort in order:
        points = grouped.get(cohort)
        if not points:
            continue
        points.sort(key=lambda p: (p[0], p[1]))
        if points[0][0] > 0:
            points.insert(0, (0.0, 0.0, 0.0, 0.0))
        curves.append(_Curve(cohort, points))
    return curves


def _step_path(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path of a right-continuous step function through ``points`` (already scaled)."""
    x, y = points[0]
    parts = [f"M{_num(x)},{_num(y)}"]
    for nx, ny in points[1:]:
        parts.append(f"H{_num(nx)}V{_num(ny)}")
    return "".join(parts)


def _curves_chart(index: int, section: ConversionSection, curves: Sequence[_Curve], windows: Sequence[int | None],
                  colours: dict[str, int]) -> str:
    """Cumulative conversion step curves per cohort with shaded 95% bands and the windows marked."""
    if not curves:
        return '<p class="empty">No cumulative conversion curves.</p>\n'
    bands = len(curves) <= _MAX_BANDS
    max_day = max(p[0] for c in curves for p in c.points)
    marked = [w for w in windows if w is not None and w > 0]
    x_upper, x_ticks = _ticks(max(max_day, *marked) if marked else max_day or 1.0, 6)
    highs = [v for c in curves for p in c.points for v in (p[1], p[3]) if v is not None and math.isfinite(v)]
    y_upper, y_ticks = _ticks(min(1.0, max(highs)) if highs and max(highs) > 0 else 0.1)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else y_upper

    font = 12.0
    labels = [_shorten(c.cohort) for c in curves]
    left, top, plot_w, plot_h = 56.0, 24.0, 620.0, 300.0
    legend_x = left + plot_w + 24
    legend_w = 40 + max(_text_width(label, font) for label in labels)
    width = legend_x + legend_w + 8
    height = max(top + plot_h + 48, top + 20 * len(curves) + 24)

    def sx(day: float) -> float:
        return left + plot_w * max(0.0, min(day, x_upper)) / x_upper

    def sy(value: float) -> float:
        return top + plot_h - plot_h * max(0.0, min(value, y_upper)) / y_upper

    who = "all members" if section.by is None else f"cohorts by {section.by}"
    title = f"{section.name}: cumulative share converted by days since the anchor, {who}" + (
        ", with 95% bands" if bands else "")
    desc_parts = []
    for curve in curves:
        last = curve.points[-1]
        desc_parts.append(f"{curve.cohort}: {_pct(last[1])} by day {_day_tick(last[0])}")
    title_id, desc_id = _slug(index, "curves-title"), _slug(index, "curves-desc")
    out = [
        f'<svg class="curves-chart" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{_e(title)}</title>',
        f'<desc id="{desc_id}">{_e("; ".join(desc_parts))}</desc>',
    ]
    bottom = top + plot_h
    for tick in y_ticks:
        y = sy(tick)
        out.append(f'<line class="grid" x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_w)}" y2="{_num(y)}"/>')
        out.append(f'<text class="muted" x="{_num(left - 6)}" y="{_num(y + 4)}" text-anchor="end" font-size="11">'
                   f"{_e(_pct_tick(tick, y_step))}</text>")
    for tick in x_ticks:
        x = sx(tick)
        out.append(f'<line class="axis" x1="{_num(x)}" y1="{_num(bottom)}" x2="{_num(x)}" y2="{_num(bottom + 4)}"/>')
        out.append(f'<text class="muted" x="{_num(x)}" y="{_num(bottom + 17)}" text-anchor="middle" font-size="11">'
                   f"{_e(_day_tick(tick))}</text>")
    for window in marked:
        x = sx(window)
        out.append(f'<g><title>{_e(_window_label(window))}</title><line class="window-line" x1="{_num(x)}" '
                   f'y1="{_num(top)}" x2="{_num(x)}" y2="{_num(bottom)}"/>'
                   f'<text class="muted" x="{_num(x - 3)}" y="{_num(top + 10)}" text-anchor="end" font-size="10">'
                   f"{window:,} d</text></g>")
    out.append(f'<line class="axis" x1="{_num(left)}" y1="{_num(top)}" x2="{_num(left)}" y2="{_num(bottom)}"/>')
    out.append(f'<line class="axis" x1="{_num(left)}" y1="{_num(bottom)}" x2="{_num(left + plot_w)}" '
               f'y2="{_num(bottom)}"/>')
    out.append(f'<text class="muted" x="{_num(left + plot_w / 2)}" y="{_num(bottom + 36)}" text-anchor="middle" '
               'font-size="12">days since anchor</text>')
    out.append(f'<text class="muted" x="14" y="{_num(top + plot_h / 2)}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {_num(top + plot_h / 2)})">converted</text>')
    for row, (curve, label) in enumerate(zip(curves, labels, strict=True)):
        colour, dash = _style(colours.get(curve.cohort, row))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        group = [f'<g class="curve"><title>{_e(curve.cohort)}</title>']
        band = [(p[0], p[2], p[3]) for p in curve.points if p[2] is not None and p[3] is not None]
        if bands and len(band) >= 2:
            upper_path = _step_path([(sx(d), sy(high)) for d, _, high in band])
            lower = [(sx(d), sy(low)) for d, low, _ in band]
            # Back along the lower bound, right to left: on [x_i, x_(i+1)) the step sits at y_i.
            back = [f"L{_num(lower[-1][0])},{_num(lower[-1][1])}"]
            back.extend(f"V{_num(y)}H{_num(x)}" for x, y in reversed(lower[:-1]))
            group.append(f'<path d="{upper_path}{"".join(back)}Z" fill="{colour}" fill-opacity="0.12" stroke="none"/>')
        line = _step_path([(sx(p[0]), sy(p[1])) for p in curve.points])
        group.append(f'<path d="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        group.append("</g>")
        out.append("".join(group))
        ly = top + 8 + row * 20
        out.append(f'<g class="legend-item"><title>{_e(curve.cohort)}</title>'
                   f'<line x1="{_num(legend_x)}" y1="{_num(ly)}" x2="{_num(legend_x + 26)}" y2="{_num(ly)}" '
                   f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
                   f'<text x="{_num(legend_x + 32)}" y="{_num(ly + 4)}" font-size="{_num(font)}">'
                   f"{_e(label)}</text></g>")
    out.append("</svg>")
    caption = ("Step lines: share of members converted by each day since the anchor; dashed verticals mark the "
               "windows. " + ("Shaded: 95% pointwise intervals." if bands else
                              f"Intervals are left out with more than {_MAX_BANDS} cohorts."))
    return ('<figure class="chart">\n' + "\n".join(out) + f"\n<figcaption>{_e(caption)}</figcaption>\n"
            "</figure>\n")


def _section(index: int, section: ConversionSection) -> str:
    """One conversion: rates table, rates chart, curves chart and timing table."""
    cells = _cells(section.table)
    cohorts = _unique(c.cohort for c in cells)
    curves = _curves(section, cohorts)
    colours = {cohort: i for i, cohort in enumerate(cohorts + [c.cohort for c in curves if c.cohort not in cohorts])}
    windows = _windows(cells)
    who = "All members" if section.by is None else f"Cohorts by <code>{_e(section.by)}</code>"
    window_text = ", ".join(f"{w:,}" for w in windows if w is not None)
    lead = who + (f" · windows of {window_text} days" if window_text else "")
    out = [
        f'<section class="conversion" id="{_slug(index, "section")}">',
        f"<h2>{_e(section.name)}</h2>",
        f"<p>{_e(section.description)}</p>" if section.description else "",
        f'<p class="lead">{lead}</p>',
        "<h3>Conversion rates</h3>",
        _rates_table(section, cells),
        _rates_chart(index, section, cells, colours),
        "<h3>Cumulative conversion</h3>",
        _curves_chart(index, section, curves, windows, colours),
        "<h3>Time to conversion</h3>",
        _timing_table(section),
        "</section>",
    ]
    return "\n".join(part for part in out if part) + "\n"


def _notes(notes: Sequence[str]) -> str:
    """The notes, plus how to read the report."""
    out = ['<section id="notes">', "<h2>Notes</h2>"]
    if notes:
        out.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>")
    out.append("<h3>Reading this report</h3>")
    out.append(
        "<ul>"
        "<li>Rates count only members whose window has fully elapsed. Members still inside their window are shown "
        "as <em>in progress</em>: they have not failed to convert, it is too early to tell.</li>"
        f"<li>Cells with fewer than {_SMALL_N} eligible members are flagged <em>small n</em>; their intervals "
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
        f"<title>{_e(report.title)} — {_e(report.workspace)}</title>\n",
        f"<style>{_CSS}</style>\n",
        "</head>\n<body>\n",
        _header(report),
        _nav(report),
        "<main>\n",
        _definitions(report.definitions),
    ]
    for index, section in enumerate(report.sections, start=1):
        parts.append(_section(index, section))
    if not report.sections:
        parts.append('<p class="empty">No conversion results.</p>\n')
    if report.attribution:
        from .html_attribution import render_attribution

        for index, attribution in enumerate(report.attribution, start=1):
            parts.append(render_attribution(attribution, index))
    if report.scores is not None:
        from .html_scores import render_scores

        parts.append(render_scores(report.scores))
    if report.impact is not None:
        from .html_impact import render_impact

        parts.append(render_impact(report.impact))
    parts.append(_notes(report.notes))
    parts.append("</main>\n")
    parts.append(f"<footer>Made by commetrics from workspace {_e(report.workspace)}, data as of "
                 f"{_e(_timestamp(report.as_of))}.</footer>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)
