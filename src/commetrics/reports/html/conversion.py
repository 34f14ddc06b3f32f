"""The report's conversion sections: per conversion, its rates table and chart, curves and timing.

Plain HTML and inline SVG like the rest of the report; every data string is escaped. The rates
come decoded by :mod:`.conversion_data`; the charts are drawn by :mod:`.conversion_charts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import DASH, count, days, escape, pct, records, signed_pp, slug, to_float, to_text, unique
from .conversion_charts import cohort_curves, curves_chart, rates_chart
from .conversion_data import SMALL_N, Cell, ConversionSection, decode_cells, distinct_windows

__all__ = ["SMALL_N", "ConversionSection", "render_conversion"]


def _quantile_label(value: Any) -> str | None:
    """A quantile as a percentage label, e.g. ``0.1`` → ``10%`` (``None`` when missing)."""
    number = to_float(value)
    if number is None:
        return None
    return f"{number * 100:g}%"


def _rates_table(section: ConversionSection, cells: Sequence[Cell]) -> str:
    """The table of rates per cohort and window."""
    if not cells:
        return '<p class="empty">No rates: the table is empty.</p>\n'
    compare = any(c.reference is not None for c in cells)
    references = unique(c.reference for c in cells)
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
    out = ['<div class="scroll"><table class="rates">', f"<caption>{escape(caption)}</caption>",
           "<thead><tr>" + "".join(headers) + "</tr></thead>", "<tbody>"]
    previous: int | str | None = "start"
    for cell in cells:
        classes = [cell.status] if cell.status in ("in-progress", "suppressed") else []
        if previous != "start" and cell.window != previous:
            classes.append("group-start")
        previous = cell.window
        class_attr = f' class="{" ".join(classes)}"' if classes else ""
        cohort = escape(cell.cohort)
        if cell.small and cell.status == "ok":
            cohort += ' <span class="badge small" title="fewer than 30 eligible members">small n</span>'
        if cell.is_reference:
            cohort += ' <span class="badge ref">reference</span>'
        window = DASH if cell.window is None else f"{cell.window:,}"
        if cell.status == "suppressed":
            rate = '<span class="badge suppressed">suppressed</span>'
            interval = ""
            n = "suppressed"
        elif cell.status == "in-progress":
            rate = '<span class="badge progress">in progress</span>'
            interval = DASH
            n = f"{count(cell.converters)} / {count(cell.eligible)}"
        elif cell.status == "empty":
            rate = DASH
            interval = DASH
            n = f"{count(cell.converters)} / {count(cell.eligible)}"
        else:
            rate = escape(pct(cell.rate))
            interval = (f"{escape(pct(cell.ci_low))} – {escape(pct(cell.ci_high))}"
                        if cell.ci_low is not None and cell.ci_high is not None else DASH)
            n = f"{count(cell.converters)} / {count(cell.eligible)}"
        in_progress = "suppressed" if cell.suppressed and cell.in_progress is None else count(cell.in_progress)
        row = [
            f'<th scope="row">{cohort}</th>',
            f'<td class="num">{window}</td>',
            f'<td class="num">{rate}</td>',
            f'<td class="num">{interval}</td>',
            f'<td class="num">{n}</td>',
            f'<td class="num">{in_progress}</td>',
            f'<td class="num">{count(cell.existing)}</td>',
        ]
        if compare:
            row.append(f'<td class="num">{_diff_text(cell)}</td>')
        out.append(f"<tr{class_attr}>" + "".join(row) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _diff_text(cell: Cell) -> str:
    """The difference cell: the reference marker, the difference with its interval, or a dash."""
    if cell.reference is None:
        return DASH
    if cell.is_reference:
        return '<span class="badge ref">reference</span>'
    if cell.diff is None:
        return DASH
    text = f"{signed_pp(cell.diff)} pp"
    if cell.diff_low is not None and cell.diff_high is not None:
        text += f" ({signed_pp(cell.diff_low)} to {signed_pp(cell.diff_high)})"
    return escape(text)


def _timing_table(section: ConversionSection) -> str:
    """Time to conversion per cohort: the converters' median and the Kaplan–Meier median and quantile."""
    timing = section.timing
    if timing is None or len(timing) == 0:
        return '<p class="empty">No time-to-conversion data.</p>\n'
    every = "median_days_all_converters" in timing.columns  # over every converter, whatever the windows
    columns = ("cohort", "eligible", "converters", "median_days_converters",
               *(("all_converters", "median_days_all_converters") if every else ()), "km_median_days", "km_quantile",
               "km_quantile_days")
    rows = records(timing, columns)
    quantiles = unique(_quantile_label(r["km_quantile"]) for r in rows)
    shared = quantiles[0] if len(quantiles) == 1 else None
    quantile_header = f"Days until {shared} converted (KM)" if shared else "Days until the lower quantile (KM)"
    headers = ("Cohort", "Eligible", "Converters", "Median days (converters only)",
               *(("Median days (all converters)",) if every else ()), "Median days (KM)", quantile_header)
    out = ['<div class="scroll"><table class="timing">',
           "<caption>Days from anchor to conversion. The converters-only median ignores members who have not "
           "converted and converters after the longest window"
           + ("; the all-converters median counts every first conversion up to the as-of date, whatever the "
              "windows" if every else "") +
           "; the Kaplan–Meier (KM) figures account for members who have not converted and read “not reached” "
           "when the curve never gets there.</caption>",
           "<thead><tr>" + "".join(
               ('<th scope="col">' if i == 0 else '<th scope="col" class="num">') + f"{escape(h)}</th>"
               for i, h in enumerate(headers)
           ) + "</tr></thead>", "<tbody>"]
    for row in rows:
        suppressed = to_float(row["eligible"]) is None or to_float(row["converters"]) is None
        cohort = to_text(row["cohort"]) or "all"
        quantile_days = days(row["km_quantile_days"])
        label = _quantile_label(row["km_quantile"])
        if shared is None and label is not None:
            quantile_days = f"{quantile_days} (at {label})"
        cells = [
            f'<th scope="row">{escape(cohort)}</th>',
            f'<td class="num">{"suppressed" if to_float(row["eligible"]) is None else count(row["eligible"])}</td>',
            f'<td class="num">{"suppressed" if to_float(row["converters"]) is None else count(row["converters"])}</td>',
            f'<td class="num">{escape(days(row["median_days_converters"]))}</td>',
            *([f'<td class="num">{_all_converters_median(row)}</td>'] if every else []),
            f'<td class="num">{escape(days(row["km_median_days"]))}</td>',
            f'<td class="num">{escape(quantile_days)}</td>',
        ]
        out.append(('<tr class="suppressed">' if suppressed else "<tr>") + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _all_converters_median(row: dict[str, Any]) -> str:
    """The median over every converter, or ``suppressed`` when they are fewer than the smallest cell."""
    return "suppressed" if to_float(row["all_converters"]) is None else escape(days(row["median_days_all_converters"]))


def render_conversion(index: int, section: ConversionSection) -> str:
    """One conversion: rates table, rates chart, curves chart and timing table."""
    cells = decode_cells(section.table)
    cohorts = unique(c.cohort for c in cells)
    curves = cohort_curves(section, cohorts)
    colours = {cohort: i for i, cohort in enumerate(cohorts + [c.cohort for c in curves if c.cohort not in cohorts])}
    windows = distinct_windows(cells)
    who = "All members" if section.by is None else f"Cohorts by <code>{escape(section.by)}</code>"
    window_text = ", ".join(f"{w:,}" for w in windows if w is not None)
    lead = who + (f" · windows of {window_text} days" if window_text else "")
    out = [
        f'<section class="conversion" id="{slug(index, "section")}">',
        f"<h2>{escape(section.name)}</h2>",
        f"<p>{escape(section.description)}</p>" if section.description else "",
        f'<p class="lead">{lead}</p>',
        "<h3>Conversion rates</h3>",
        _rates_table(section, cells),
        rates_chart(index, section, cells, colours),
        "<h3>Cumulative conversion</h3>",
        curves_chart(index, section, curves, windows, colours),
        "<h3>Time to conversion</h3>",
        _timing_table(section),
        "</section>",
    ]
    return "\n".join(part for part in out if part) + "\n"
