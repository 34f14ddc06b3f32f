"""The conversion section's charts: rates with their intervals per window, and cumulative conversion curves.

Both are inline SVG with a ``<title>`` and a ``<desc>`` that say in words what the marks show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .common import escape, pct, records, slug, to_float, to_text, unique
from .conversion_data import SMALL_N, Cell, ConversionSection, cell_summary, distinct_windows, window_label
from .svg import axis_ticks, day_tick, num, pct_tick, shorten, style, text_width, x_grid

__all__ = ["Curve", "cohort_curves", "curves_chart", "rates_chart"]

#: Above this many cohorts the curves' 95% bands are left out: overlapping, they only make mud.
_MAX_BANDS = 4


def rates_chart(index: int, section: ConversionSection, cells: Sequence[Cell], colours: dict[str, int]) -> str:
    """Dots with Wilson intervals, one panel per window, cohorts down the side (shared across panels)."""
    if not cells:
        return ""
    windows = distinct_windows(cells)
    cohorts = unique(c.cohort for c in cells)
    by_key = {(c.cohort, c.window): c for c in cells}
    highs = [v for c in cells if c.status == "ok" for v in (c.ci_high, c.rate) if v is not None]
    upper, ticks = axis_ticks(min(1.0, max(highs)) if highs and max(highs) > 0 else 0.1)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else upper

    font = 12.0
    labels = [shorten(c) for c in cohorts]
    left = 20 + max(text_width(label, font) for label in labels)
    panel_w, gap, row_h, top, bottom = 260.0, 28.0, 26.0, 44.0, 40.0
    width = left + len(windows) * panel_w + (len(windows) - 1) * gap + 16
    height = top + len(cohorts) * row_h + bottom
    who = "all members" if section.by is None else f"cohorts by {section.by}"
    title = f"{section.name}: conversion rate by cohort with 95% Wilson intervals, {who}, one panel per window"
    desc = "; ".join(cell_summary(c, section.by) for c in cells)
    title_id, desc_id = slug(index, "rates-title"), slug(index, "rates-desc")
    out = [
        f'<svg class="rates-chart" width="{num(width)}" height="{num(height)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]
    # Cohort labels, shared by all panels.
    for row, (cohort, label) in enumerate(zip(cohorts, labels, strict=True)):
        y = top + row * row_h + row_h / 2
        out.append(f'<text x="{num(left - 8)}" y="{num(y + 4)}" text-anchor="end" font-size="{num(font)}">'
                   f"<title>{escape(cohort)}</title>{escape(label)}</text>")
    for panel, window in enumerate(windows):
        x0 = left + panel * (panel_w + gap)
        inner = panel_w - 10

        def sx(value: float, x0: float = x0, inner: float = inner) -> float:
            return x0 + inner * max(0.0, min(value, upper)) / upper

        plot_bottom = top + len(cohorts) * row_h
        out.append(f'<g class="panel" aria-label="{escape(window_label(window))}">')
        out.append(f'<text x="{num(x0 + inner / 2)}" y="{num(top - 22)}" text-anchor="middle" '
                   f'font-size="13" font-weight="600">{escape(window_label(window))}</text>')
        out += x_grid([(sx(tick), pct_tick(tick, step)) for tick in ticks], top - 6, plot_bottom)
        out.append(f'<line class="axis" x1="{num(x0)}" y1="{num(plot_bottom)}" x2="{num(x0 + inner)}" '
                   f'y2="{num(plot_bottom)}"/>')
        for row, cohort in enumerate(cohorts):
            y = top + row * row_h + row_h / 2
            cell = by_key.get((cohort, window))
            if cell is None:
                continue
            colour, _ = style(colours.get(cohort, 0))
            summary = escape(cell_summary(cell, section.by))
            if cell.status == "ok" and cell.rate is not None:
                parts = [f"<g><title>{summary}</title>"]
                if cell.ci_low is not None and cell.ci_high is not None:
                    a, b = sx(cell.ci_low), sx(cell.ci_high)
                    parts.append(f'<line x1="{num(a)}" y1="{num(y)}" x2="{num(b)}" y2="{num(y)}" '
                                 f'stroke="{colour}" stroke-width="2"/>')
                    for x in (a, b):
                        parts.append(f'<line x1="{num(x)}" y1="{num(y - 5)}" x2="{num(x)}" y2="{num(y + 5)}" '
                                     f'stroke="{colour}" stroke-width="2"/>')
                fill = "#fff" if cell.small else colour
                parts.append(f'<circle cx="{num(sx(cell.rate))}" cy="{num(y)}" r="4.5" fill="{fill}" '
                             f'stroke="{colour}" stroke-width="2"/>')
                parts.append("</g>")
                out.append("".join(parts))
            else:
                word = {"suppressed": "suppressed", "in-progress": "in progress"}.get(cell.status, "no members")
                css = "prog" if cell.status == "in-progress" else "muted"
                out.append(f'<text class="{css}" x="{num(x0 + 4)}" y="{num(y + 4)}" font-size="11" '
                           f'font-style="italic"><title>{summary}</title>{word}</text>')
        out.append("</g>")
    legend_y = height - 8
    out.append(f'<g class="legend"><circle cx="{num(left)}" cy="{num(legend_y - 4)}" r="4.5" fill="#59636e" '
               f'stroke="#59636e" stroke-width="2"/>'
               f'<text class="muted" x="{num(left + 10)}" y="{num(legend_y)}" font-size="11">'
               "rate with 95% interval</text>"
               f'<circle cx="{num(left + 160)}" cy="{num(legend_y - 4)}" r="4.5" fill="#fff" stroke="#59636e" '
               f'stroke-width="2"/><text class="muted" x="{num(left + 170)}" y="{num(legend_y)}" font-size="11">'
               f"small cohort (n &lt; {SMALL_N})</text></g>")
    out.append("</svg>")
    return '<figure class="chart">\n' + "\n".join(out) + "\n</figure>\n"


@dataclass(frozen=True)
class Curve:
    """One cohort's cumulative conversion curve, as ``(day, cumulative, ci_low, ci_high)`` points."""

    cohort: str
    points: list[tuple[float, float, float | None, float | None]]  # day, cumulative, ci_low, ci_high


def cohort_curves(section: ConversionSection, cohort_order: Sequence[str]) -> list[Curve]:
    """The curves per cohort (sorted by day, starting from 0 at day 0), in the table's cohort order."""
    frame = section.curves
    if frame is None or len(frame) == 0:
        return []
    grouped: dict[str, list[tuple[float, float, float | None, float | None]]] = {}
    for row in records(frame, ("cohort", "day", "cumulative", "ci_low", "ci_high")):
        day, value = to_float(row["day"]), to_float(row["cumulative"])
        if day is None or value is None or math.isinf(day) or math.isinf(value):
            continue
        cohort = to_text(row["cohort"]) or "all"
        grouped.setdefault(cohort, []).append((day, value, to_float(row["ci_low"]), to_float(row["ci_high"])))
    order = list(cohort_order) + sorted(c for c in grouped if c not in cohort_order)
    curves = []
    for cohort in order:
        points = grouped.get(cohort)
        if not points:
            continue
        points.sort(key=lambda p: (p[0], p[1]))
        if points[0][0] > 0:
            points.insert(0, (0.0, 0.0, 0.0, 0.0))
        curves.append(Curve(cohort, points))
    return curves


def _step_path(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path of a right-continuous step function through ``points`` (already scaled)."""
    x, y = points[0]
    parts = [f"M{num(x)},{num(y)}"]
    for nx, ny in points[1:]:
        parts.append(f"H{num(nx)}V{num(ny)}")
    return "".join(parts)


def curves_chart(index: int, section: ConversionSection, curves: Sequence[Curve], windows: Sequence[int | None],
                  colours: dict[str, int]) -> str:
    """Cumulative conversion step curves per cohort with shaded 95% bands and the windows marked."""
    if not curves:
        timing = section.timing
        hidden = int(timing["suppressed"].sum()) if "suppressed" in timing.columns else 0
        if hidden:
            return (f'<p class="empty">The cumulative conversion curves of {hidden} cohort{"s" if hidden != 1 else ""} '
                    "are hidden to protect groups of fewer than the privacy threshold (their eligible people or "
                    "their converters); no other cohort has a curve.</p>\n")
        return '<p class="empty">No cumulative conversion curves: nobody is eligible yet.</p>\n'
    bands = len(curves) <= _MAX_BANDS
    max_day = max(p[0] for c in curves for p in c.points)
    marked = [w for w in windows if w is not None and w > 0]
    x_upper, x_ticks = axis_ticks(max(max_day, *marked) if marked else max_day or 1.0, 6)
    highs = [v for c in curves for p in c.points for v in (p[1], p[3]) if v is not None and math.isfinite(v)]
    y_upper, y_ticks = axis_ticks(min(1.0, max(highs)) if highs and max(highs) > 0 else 0.1)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else y_upper

    font = 12.0
    labels = [shorten(c.cohort) for c in curves]
    left, top, plot_w, plot_h = 56.0, 24.0, 620.0, 300.0
    legend_x = left + plot_w + 24
    legend_w = 40 + max(text_width(label, font) for label in labels)
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
        desc_parts.append(f"{curve.cohort}: {pct(last[1])} by day {day_tick(last[0])}")
    title_id, desc_id = slug(index, "curves-title"), slug(index, "curves-desc")
    out = [
        f'<svg class="curves-chart" width="{num(width)}" height="{num(height)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape("; ".join(desc_parts))}</desc>',
    ]
    bottom = top + plot_h
    for tick in y_ticks:
        y = sy(tick)
        out.append(f'<line class="grid" x1="{num(left)}" y1="{num(y)}" x2="{num(left + plot_w)}" y2="{num(y)}"/>')
        out.append(f'<text class="muted" x="{num(left - 6)}" y="{num(y + 4)}" text-anchor="end" font-size="11">'
                   f"{escape(pct_tick(tick, y_step))}</text>")
    for tick in x_ticks:
        x = sx(tick)
        out.append(f'<line class="axis" x1="{num(x)}" y1="{num(bottom)}" x2="{num(x)}" y2="{num(bottom + 4)}"/>')
        out.append(f'<text class="muted" x="{num(x)}" y="{num(bottom + 17)}" text-anchor="middle" font-size="11">'
                   f"{escape(day_tick(tick))}</text>")
    for window in marked:
        x = sx(window)
        out.append(f'<g><title>{escape(window_label(window))}</title><line class="window-line" x1="{num(x)}" '
                   f'y1="{num(top)}" x2="{num(x)}" y2="{num(bottom)}"/>'
                   f'<text class="muted" x="{num(x - 3)}" y="{num(top + 10)}" text-anchor="end" font-size="10">'
                   f"{window:,} d</text></g>")
    out.append(f'<line class="axis" x1="{num(left)}" y1="{num(top)}" x2="{num(left)}" y2="{num(bottom)}"/>')
    out.append(f'<line class="axis" x1="{num(left)}" y1="{num(bottom)}" x2="{num(left + plot_w)}" '
               f'y2="{num(bottom)}"/>')
    out.append(f'<text class="muted" x="{num(left + plot_w / 2)}" y="{num(bottom + 36)}" text-anchor="middle" '
               'font-size="12">days since anchor</text>')
    out.append(f'<text class="muted" x="14" y="{num(top + plot_h / 2)}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {num(top + plot_h / 2)})">converted</text>')
    for row, (curve, label) in enumerate(zip(curves, labels, strict=True)):
        colour, dash = style(colours.get(curve.cohort, row))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        group = [f'<g class="curve"><title>{escape(curve.cohort)}</title>']
        band = [(p[0], p[2], p[3]) for p in curve.points if p[2] is not None and p[3] is not None]
        if bands and len(band) >= 2:
            upper_path = _step_path([(sx(d), sy(high)) for d, _, high in band])
            lower = [(sx(d), sy(low)) for d, low, _ in band]
            # Back along the lower bound, right to left: on [x_i, x_(i+1)) the step sits at y_i.
            back = [f"L{num(lower[-1][0])},{num(lower[-1][1])}"]
            back.extend(f"V{num(y)}H{num(x)}" for x, y in reversed(lower[:-1]))
            group.append(f'<path d="{upper_path}{"".join(back)}Z" fill="{colour}" fill-opacity="0.12" stroke="none"/>')
        line = _step_path([(sx(p[0]), sy(p[1])) for p in curve.points])
        group.append(f'<path d="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        group.append("</g>")
        out.append("".join(group))
        ly = top + 8 + row * 20
        out.append(f'<g class="legend-item"><title>{escape(curve.cohort)}</title>'
                   f'<line x1="{num(legend_x)}" y1="{num(ly)}" x2="{num(legend_x + 26)}" y2="{num(ly)}" '
                   f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
                   f'<text x="{num(legend_x + 32)}" y="{num(ly + 4)}" font-size="{num(font)}">'
                   f"{escape(label)}</text></g>")
    out.append("</svg>")
    caption = ("Step lines: share of members converted by each day since the anchor; dashed verticals mark the "
               "windows. " + ("Shaded: 95% pointwise intervals." if bands else
                              f"Intervals are left out with more than {_MAX_BANDS} cohorts."))
    return ('<figure class="chart">\n' + "\n".join(out) + f"\n<figcaption>{escape(caption)}</figcaption>\n"
            "</figure>\n")
