"""The report's conversion sections: one per conversion, compact whatever the community's size.

A conversion opens with its all-members rates in one line and the comparison with non-members, then
its cumulative conversion chart; each cohort breakdown is a matrix (cohorts down, windows across)
beside a chart of the longest window. The full counts (eligible, converters, in progress, existing
customers, differences) and the time to conversion sit in a ``<details>`` element — on the page for
whoever wants them, opened when the report is printed. A breakdown whose every cell is hidden, an
empty table, or a chart with nothing to draw becomes one line that says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..labels import cohort_key, words
from .charts import curves_spec, figure, interval_spec
from .common import DASH, count, days, escape, pct, records, signed_pp, term, to_float, to_text, unique
from .conversion_data import SMALL_N, Cell, ConversionSection, decode_cells, distinct_windows

__all__ = ["SMALL_N", "ConversionGroup", "ConversionSection", "render_conversion"]

#: The cohort label of the non-member baseline (``metrics.conversion.BASELINE_LABEL``).
BASELINE = "CRM contacts who never joined"


@dataclass(frozen=True)
class ConversionGroup:
    """One conversion: its words, its definition and one :class:`ConversionSection` per breakdown (the first
    for all members). ``notes`` say what was rolled up or hidden."""

    name: str
    label: str
    description: str
    definition: dict[str, Any]
    parts: list[ConversionSection]
    notes: list[str] = field(default_factory=list)


def _cohort(text: str) -> str:
    return "Non-members" if text == BASELINE else words(text)


def _rate_cell(cell: Cell | None) -> str:
    if cell is None:
        return f'<td class="num">{DASH}</td>'
    if cell.suppressed or (cell.status == "ok" and cell.rate is None):
        return '<td class="num muted">hidden</td>'
    if cell.status == "in-progress":
        return '<td class="num prog">in progress</td>'
    if cell.status == "empty":
        return f'<td class="num">{DASH}</td>'
    interval = (f'<span class="ci">{escape(pct(cell.ci_low))}–{escape(pct(cell.ci_high))}</span>'
                if cell.ci_low is not None and cell.ci_high is not None else "")
    small = ' class="num small-n" title="fewer than 30 eligible members: a wide interval"' if cell.small \
        else ' class="num"'
    return f"<td{small}><strong>{escape(pct(cell.rate))}</strong>{interval}</td>"


def _all_hidden(cells: Sequence[Cell], cohort: str) -> bool:
    return all(x.suppressed or (x.status == "ok" and x.rate is None) for x in cells if x.cohort == cohort)


def _matrix(cells: Sequence[Cell], caption: str) -> str:
    """Cohorts down, windows across: each cell the rate over its 95% interval. Cohorts whose every cell is
    hidden are left to one line under the table."""
    windows = [w for w in distinct_windows(cells) if w is not None]
    cohorts = [c for c in unique(c.cohort for c in cells) if not _all_hidden(cells, c)]
    by_key = {(c.cohort, c.window): c for c in cells}
    head = "".join(f'<th scope="col" class="num">{w:,} days</th>' for w in windows)
    rows = []
    for cohort in cohorts:
        tds = "".join(_rate_cell(by_key.get((cohort, w))) for w in windows)
        rows.append(f'<tr><th scope="row">{escape(_cohort(cohort))}</th>{tds}</tr>')
    return (f'<table class="matrix"><caption>{caption}</caption><thead><tr><th scope="col">Cohort</th>{head}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>\n')


def _counts_table(cells: Sequence[Cell]) -> str:
    """Every figure of every cell: the table for whoever checks the numbers."""
    compare = any(c.reference is not None for c in cells)
    currency = next((c.currency for c in cells if c.currency is not None), None)
    revenue = currency is not None or any(c.revenue is not None for c in cells)
    headers = ["Cohort", "Window (days)", "Rate", "95% interval", "Converters / eligible", "In progress",
               "Existing customers"] + (["Difference vs reference (points)"] if compare else []) + (
                   ["Revenue of converters (per eligible member)"] if revenue else [])
    num = ' class="num"'
    out = ['<div class="scroll"><table class="rates">',
           "<thead><tr>" + "".join(f'<th scope="col"{"" if i == 0 else num}>{h}</th>'
                                   for i, h in enumerate(headers)) + "</tr></thead><tbody>"]
    for cell in cells:
        if cell.suppressed:
            figures = ["hidden", "", "hidden", "hidden" if cell.in_progress is None else count(cell.in_progress),
                       count(cell.existing)]
        elif cell.status == "in-progress":
            figures = ["in progress", DASH, f"{count(cell.converters)} / {count(cell.eligible)}",
                       count(cell.in_progress), count(cell.existing)]
        else:
            interval = (f"{pct(cell.ci_low)} – {pct(cell.ci_high)}" if cell.ci_low is not None
                        and cell.ci_high is not None else DASH)
            figures = [pct(cell.rate) if cell.rate is not None else "hidden", interval,
                       f"{count(cell.converters)} / {count(cell.eligible)}", count(cell.in_progress),
                       count(cell.existing)]
        row = [f'<th scope="row">{escape(_cohort(cell.cohort))}</th>', f'<td class="num">{cell.window or DASH}</td>']
        row += [f'<td class="num">{escape(f)}</td>' for f in figures]
        if compare:
            row.append(f'<td class="num">{_diff_text(cell)}</td>')
        if revenue:  # one column, the share per eligible member beneath, so the table fits a laptop's width
            total, each = _money(cell.revenue, currency, cell), _money(cell.revenue_per_eligible, currency, cell,
                                                                          cents=True)
            beneath = f'<span class="ci">{escape(each)} each</span>' if each not in ("hidden", DASH) else ""
            row.append(f'<td class="num"><strong>{escape(total)}</strong>{beneath}</td>')
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _money(value: float | None, currency: str | None, cell: Cell, *, cents: bool = False) -> str:
    """Revenue of a cell: hidden with its converters, a dash where nobody is eligible yet."""
    if cell.suppressed:
        return "hidden"
    if value is None:
        return DASH
    amount = f"{value:,.2f}" if cents else f"{value:,.0f}"
    return f"{currency} {amount}" if currency else amount


def _diff_text(cell: Cell) -> str:
    if cell.reference is None:
        return DASH
    if cell.is_reference:
        return "reference"
    if cell.diff is None:
        return DASH if not cell.suppressed else "hidden"
    text = f"{signed_pp(cell.diff)}"
    if cell.diff_low is not None and cell.diff_high is not None:
        text += f" ({signed_pp(cell.diff_low)} to {signed_pp(cell.diff_high)})"
    return escape(text)


def _timing_table(section: ConversionSection) -> str:
    timing = section.timing
    if timing is None or len(timing) == 0:
        return ""
    every = "median_days_all_converters" in timing.columns  # over every converter, whatever the windows
    rows = records(timing, ("cohort", "eligible", "converters", "median_days_converters",
                            *(("all_converters", "median_days_all_converters") if every else ()), "km_median_days",
                            "km_quantile", "km_quantile_days", "suppressed"))
    quantile = next((q for r in rows if (q := to_float(r["km_quantile"])) is not None), 0.1)
    out = ['<div class="scroll"><table class="timing">',
           "<caption>Days from anchor to conversion. The converters-only median ignores members who have not "
           "converted and converters after the longest window"
           + ("; the all-converters median counts every first conversion up to the as-of date, whatever the "
              "windows" if every else "")
           + f"; the {term('Kaplan–Meier', 'kaplan-meier')} figures use the members who have not converted too "
           "and read “not reached” when the curve never gets there.</caption>",
           '<thead><tr><th scope="col">Cohort</th><th scope="col" class="num">Converters</th>'
           '<th scope="col" class="num">Median days (converters only)</th>'
           + ('<th scope="col" class="num">Median days (all converters)</th>' if every else "")
           + '<th scope="col" class="num">Median days (Kaplan–Meier)</th>'
           f'<th scope="col" class="num">Days until {quantile * 100:g}% converted</th></tr></thead><tbody>']
    for r in rows:
        hidden = bool(r["suppressed"]) if to_text(r["suppressed"]) is not None else to_float(r["converters"]) is None
        cohort = f'<th scope="row">{escape(_cohort(to_text(r["cohort"]) or "all"))}</th>'
        if hidden:
            out.append(f'<tr>{cohort}<td class="num muted" colspan="{5 if every else 4}">hidden</td></tr>')
            continue
        out.append(f'<tr>{cohort}<td class="num">{count(r["converters"])}</td>'
                   f'<td class="num">{escape(days(r["median_days_converters"]))}</td>'
                   + (f'<td class="num">{_all_converters_median(r)}</td>' if every else "")
                   + f'<td class="num">{escape(days(r["km_median_days"]))}</td>'
                   f'<td class="num">{escape(days(r["km_quantile_days"]))}</td></tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _all_converters_median(row: dict[str, Any]) -> str:
    """The median over every converter, or ``hidden`` when they are fewer than the smallest cell."""
    return "hidden" if to_float(row["all_converters"]) is None else escape(days(row["median_days_all_converters"]))


def _details(section: ConversionSection, cells: Sequence[Cell], what: str) -> str:
    return (f"<details><summary>Every figure: {escape(what)}</summary>\n{_counts_table(cells)}"
            f"{_timing_table(section)}</details>\n")


def _window_line(cells: Sequence[Cell]) -> str:
    parts = []
    for cell in cells:
        if cell.status == "ok" and cell.rate is not None:
            parts.append(f"<strong>{escape(pct(cell.rate))}</strong> within {cell.window:,} days")
        elif cell.status == "in-progress":
            parts.append(f"in progress at {cell.window:,} days")
        elif cell.suppressed:
            parts.append(f"hidden at {cell.window:,} days")
    return " · ".join(parts)


def _all_members(group: ConversionGroup, section: ConversionSection, ident: str) -> list[str]:
    cells = decode_cells(section.table)
    members = [c for c in cells if c.cohort == "all"]
    baseline = [c for c in cells if c.cohort == BASELINE]
    if not cells:
        return ['<p class="empty">No rates yet: nobody has reached an anchor of this conversion.</p>']
    out = [f'<p class="headline">All members: {_window_line(members) or "every figure hidden"}.</p>']
    compared = [c for c in members if c.diff is not None and c.rate is not None]
    if compared and baseline:
        row = compared[-1]
        base = next((b for b in baseline if b.window == row.window), None)
        base_rate = pct(base.rate) if base is not None and base.rate is not None else "hidden"
        interval = (f" ({term('95% interval', 'interval')} {signed_pp(row.diff_low)} to "
                    f"{signed_pp(row.diff_high)})" if row.diff_low is not None and row.diff_high is not None else "")
        out.append(f'<p id="{ident}-vs">Against non-members (CRM contacts who never joined) within {row.window:,} '
                   f"days: members {escape(pct(row.rate))}, non-members {escape(base_rate)} — a difference of "
                   f"<strong>{signed_pp(row.diff or 0.0)} {term('points', 'points')}</strong>{interval}.</p>")
    curve: list[tuple[str, float, float]] = []
    for r in records(section.curves, ("cohort", "day", "cumulative")) if section.curves is not None else []:
        day, value = to_float(r["day"]), to_float(r["cumulative"])
        if day is not None and value is not None and day != float("inf"):
            curve.append(("members" if r["cohort"] == "all" else _cohort(str(r["cohort"])), day, value))
    curve_points = [{"cohort": c, "day": d, "cumulative": v} for c, d, v in curve]
    windows = [w for w in distinct_windows(cells) if w is not None]
    if curve and any(v > 0 for _, _, v in curve):
        last = {c: (d, v) for c, d, v in curve}
        desc = "; ".join(f"{c}: {pct(v)} by day {d:,.0f}" for c, (d, v) in last.items())
        out.append(figure(curves_spec(curve_points, windows=windows, width=460, height=150),
                          title=f"{group.label}: share converted by days since the anchor", description=desc,
                          ident=f"{ident}-curves",
                          caption="Step lines: share converted by each day since the anchor (Kaplan–Meier); "
                                  "dashed lines mark the windows."))
    else:
        out.append('<p class="empty">No conversion curve: nobody has converted yet, or too few to show.</p>')
    out.append(_details(section, cells, "counts, differences and time to conversion, all members"))
    return out


def _breakdown(section: ConversionSection, ident: str, k_note: str) -> list[str]:
    cells = decode_cells(section.table)
    key = cohort_key(section.by)
    out = [f"<h3>By {escape(key)}</h3>"]
    if not cells:
        return [*out, f'<p class="empty">No cohorts by {escape(key)}: the table is empty.</p>']
    cohorts = unique(c.cohort for c in cells)
    shown = [c for c in cells if c.status == "ok" and c.rate is not None]
    if not shown:
        hidden = len([c for c in cohorts if _all_hidden(cells, c)])
        if hidden == len(cohorts):
            return [*out, f'<p class="empty">{hidden:,} cohort{"s" if hidden != 1 else ""} hidden to protect groups of '
                          f'{k_note} ({term("why", "hidden")}).</p>']
        return [*out, '<p class="empty">Every cohort is still in progress: no window has fully elapsed yet.</p>']
    windows = [w for w in distinct_windows(cells) if w is not None]
    chart_window = max((c.window for c in shown if c.window is not None), default=None)
    rows = [{"label": _cohort(c.cohort), "value": c.rate, "low": c.ci_low, "high": c.ci_high, "hollow": c.small}
            for c in shown if c.window == chart_window]
    caption = (f"{term('Rate', 'conversion-rate')} per {term('window', 'window')}; "
               f"{term('95% interval', 'interval')} below"
               + ("; non-members: CRM contacts who never joined" if BASELINE in unique(c.cohort for c in cells)
                  else ""))
    out.append(f'<p class="muted">Italics: fewer than {SMALL_N} eligible members, so a wide interval.</p>'
               if any(c.small for c in shown) else "")
    parts = [f'<div class="pair"><div class="scroll">{_matrix(cells, caption)}</div>']
    desc = "; ".join(f"{_cohort(c.cohort)}: {pct(c.rate)} ({pct(c.ci_low)} to {pct(c.ci_high)})"
                     for c in shown if c.window == chart_window)
    parts.append(figure(interval_spec(rows, x_title=f"Converted within {chart_window or 0:,} days", width=360),
                        title=f"Conversion rate within {chart_window or 0:,} days by {key}, with 95% intervals",
                        description=desc, ident=f"{ident}-rates",
                        caption="Dots: rates; lines: 95% intervals; open dots: fewer than 30 eligible.")
                 if any(r["value"] for r in rows) else
                 f'<p class="empty">No chart: nobody in these cohorts converted within {chart_window or 0:,} days.</p>')
    parts.append("</div>")
    out.append("".join(parts))
    gone = [c for c in cohorts if _all_hidden(cells, c)]
    if gone:
        out.append(f'<p class="note">{len(gone):,} more cohort{"s" if len(gone) != 1 else ""} hidden to protect groups '
                   f'of {k_note} ({term("why", "hidden")}): {escape(", ".join(_cohort(c) for c in gone))}.</p>')
    del windows
    out.append(_details(section, cells, f"counts and time to conversion by {key}"))
    return out


def render_conversion(index: int, group: ConversionGroup, *, k: int = 10) -> str:
    """One conversion: all members, the comparison with non-members, each breakdown; notes in one line each."""
    ident = f"c{index}"
    d = group.definition
    outcomes = ", ".join(words(o) for o in d.get("outcomes", []))
    anchor = "joining" if d.get("anchor") == "join" else words(d.get("anchor", ""))
    windows = ", ".join(f"{w:,}" for w in d.get("windows", []))
    unit = "accounts" if d.get("unit") == "account" else "people"
    out = [f'<section class="conversion" id="conversion-{escape(group.name)}">',
           f"<h2>{escape(group.label)}</h2>",
           f"<p>{escape(group.description)} <span class=\"muted\">Counts {escape(outcomes)} within {windows} days "
           f"after {escape(anchor)}, per {unit[:-1] if unit == 'accounts' else 'person'}.</span></p>"]
    parts = list(group.parts)
    if parts and parts[0].by is None:
        out += _all_members(group, parts.pop(0), ident)
    for number, section in enumerate(parts, start=1):
        out += _breakdown(section, f"{ident}-{number}", f"fewer than {k} members")
    out += [f'<p class="note">{escape(note)}</p>' for note in group.notes]
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
