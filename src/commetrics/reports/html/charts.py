"""The report's charts: Vega-Lite specifications built with Altair, rendered to inline SVG by vl-convert.

A chart is a *spec* first (:func:`interval_spec`, :func:`curves_spec`: plain Vega-Lite JSON that the
dashboard can hand to vega-embed as it is) and an SVG second (:func:`figure`): vl-convert runs Vega
in-process, offline, so the report stays one file with no script and no network. Axes are
labelled, ticks are formatted with as many decimals as they need (``.2~%``: 2.5% stays 2.5%, 2% stays
2%), money axes carry their currency.

The SVG gets ``role="img"``, a ``<title>`` and a ``<desc>`` that say in words what the marks show
(Vega's own ARIA attributes are taken out: one description per chart reads better than one per mark).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PALETTE", "curves_spec", "figure", "interval_spec", "svg"]

#: Okabe–Ito colours (yellow left out: too pale on white), safe for the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

#: Tick formats per kind of value (d3-format; ``~`` drops insignificant zeros, so ticks are exact).
FORMATS = {"rate": ".2~%", "points": ".1~f", "money": ",.3~s", "number": ",.3~r", "days": ",~r"}
#: Signed tick labels (differences): +5, 0, −2.5.
_SIGNED = "(datum.value > 0 ? '+' : '') + format(datum.value, '.1~f')"

_CONFIG: dict[str, Any] = {
    "font": "Liberation Sans, Arial, Helvetica, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelColor": "#1b1f24", "titleColor": "#1b1f24",
             "labelLimit": 260, "gridColor": "#e6e9ec", "domainColor": "#59636e", "tickColor": "#59636e",
             "titleFontWeight": "normal"},
    "legend": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 220, "orient": "bottom",
               "direction": "horizontal", "columns": 4, "titleFontWeight": "normal"},
}


#: Whether Altair checks each spec against the Vega-Lite schema as it is built: half the time of drawing a chart,
#: for specs made by the two functions below from numbers alone — the tests check them (``test_report_html.py``).
VALIDATE = False


def _alt() -> Any:
    import altair as alt  # loads only when a report is drawn

    return alt


def interval_spec(rows: Sequence[Mapping[str, Any]], *, x_title: str, kind: str = "rate", y_title: str = "",
                  group_title: str = "", width: int = 520, zero: bool = False) -> dict[str, Any]:
    """Dots with 95% intervals, one row per ``label`` (and, with ``group``, one dot per group within a row).

    ``rows``: ``label``, ``value``, ``low``, ``high`` (``None`` for no interval) and optionally ``group``
    and ``hollow`` (a small group, drawn as an open circle). ``kind`` picks the tick format. ``zero``
    draws the line at 0 (differences)."""
    alt = _alt()
    scale_by = 100.0 if kind == "points" else 1.0  # differences of shares are drawn in percentage points

    def scaled(value: Any) -> float | None:
        return None if value is None else float(value) * scale_by

    records = [{"label": str(r["label"]), "value": scaled(r["value"]), "low": scaled(r.get("low")),
                "high": scaled(r.get("high")), "group": str(r.get("group", "")), "hollow": bool(r.get("hollow", False))}
               for r in rows]
    labels = list(dict.fromkeys(r["label"] for r in records))
    groups = list(dict.fromkeys(r["group"] for r in records))
    grouped = len(groups) > 1
    data = alt.Data(values=records)
    band = 22 if not grouped else 10 * len(groups) + 8
    y = alt.Y("label:N", sort=labels, title=y_title or None, axis=alt.Axis(labelLimit=260))
    x_axis = (alt.Axis(labelExpr=_SIGNED, tickCount=6, labelFlush=False) if kind == "points"
              else alt.Axis(format=FORMATS[kind], tickCount=6, labelFlush=False))
    domain_values = [v for r in records for v in (r["value"], r["low"], r["high"]) if v is not None]
    scale = alt.Scale(zero=True, nice=True) if domain_values else alt.Scale()
    colour = (alt.Color("group:N", sort=groups, title=group_title or None,
                        scale=alt.Scale(domain=groups, range=list(PALETTE[: len(groups)])))
              if grouped else alt.value(PALETTE[0]))
    offset = {"yOffset": alt.YOffset("group:N", sort=groups)} if grouped else {}
    base = alt.Chart(data)
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title=x_title, axis=x_axis, scale=scale), x2="high:Q", y=y, color=colour, **offset
    ).transform_filter("datum.low != null && datum.high != null")
    dots = base.mark_point(size=60, strokeWidth=2, opacity=1).encode(
        x=alt.X("value:Q", title=x_title, axis=x_axis, scale=scale), y=y, color=colour,
        fill=alt.condition("datum.hollow", alt.value("white"),
                           alt.Color("group:N", sort=groups, title=group_title or None,
                                     scale=alt.Scale(domain=groups, range=list(PALETTE[: len(groups)])))
                           if grouped else alt.value(PALETTE[0])),
        **offset)
    layers = [rule, dots]
    if zero:
        layers.insert(0, alt.Chart(alt.Data(values=[{"zero": 0}])).mark_rule(color="#1b1f24", strokeWidth=1)
                      .encode(x="zero:Q"))
    chart = alt.layer(*layers).properties(width=width, height=band * len(labels))
    spec: dict[str, Any] = chart.configure(**_CONFIG).to_dict(validate=VALIDATE)
    return spec


def curves_spec(points: Sequence[Mapping[str, Any]], *, windows: Sequence[int], width: int = 520,
                height: int = 220) -> dict[str, Any]:
    """Cumulative share converted by day since the anchor, one step line per ``cohort``; dashed rules mark the
    windows. ``points``: ``cohort``, ``day``, ``cumulative``."""
    alt = _alt()
    cohorts = list(dict.fromkeys(str(p["cohort"]) for p in points))
    data = alt.Data(values=[{"cohort": str(p["cohort"]), "day": p["day"], "cumulative": p["cumulative"]}
                            for p in points])
    lines = alt.Chart(data).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("day:Q", title="Days since the anchor", axis=alt.Axis(format=FORMATS["days"], tickCount=8)),
        y=alt.Y("cumulative:Q", title="Share converted", axis=alt.Axis(format=FORMATS["rate"], tickCount=5)),
        color=alt.Color("cohort:N", sort=cohorts, title=None,
                        scale=alt.Scale(domain=cohorts, range=list(PALETTE[: max(1, min(len(cohorts), 7))]))),
        strokeDash=alt.StrokeDash("cohort:N", sort=cohorts, legend=None,
                                  scale=alt.Scale(domain=cohorts, range=[[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]])),
    )
    marks = alt.Chart(alt.Data(values=[{"day": w, "label": f"{w:,} days"} for w in windows])).mark_rule(
        strokeDash=[4, 3], color="#8c959f").encode(x="day:Q")
    chart = alt.layer(marks, lines).properties(width=width, height=height)
    spec: dict[str, Any] = chart.configure(**_CONFIG).to_dict(validate=VALIDATE)
    return spec


def svg(spec: Mapping[str, Any], *, title: str, description: str, ident: str) -> str:
    """The spec drawn as inline SVG with ``role="img"``, a title and a description (``ident`` makes their ids)."""
    import vl_convert

    drawn = vl_convert.vegalite_to_svg(dict(spec))
    drawn = re.sub(r'\s(xmlns(:xlink)?|version)="[^"]*"', "", drawn, count=3)  # inline SVG needs none of these
    # One description for the chart instead of Vega's ARIA tree (``config.aria = false`` would drop the legends).
    drawn = re.sub(r'\s(role|aria-roledescription|aria-label|aria-hidden|aria-description)="[^"]*"', "", drawn)
    head_end = drawn.index(">") + 1
    head = drawn[:head_end].replace("<svg", f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc"', 1)
    return (f'{head}<title id="{ident}-title">{html.escape(title)}</title>'
            f'<desc id="{ident}-desc">{html.escape(description)}</desc>{drawn[head_end:]}')


def figure(spec: Mapping[str, Any], *, title: str, description: str, ident: str, caption: str = "") -> str:
    """A ``<figure>`` holding the chart and, optionally, a caption."""
    text = f"\n<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure class="chart">\n{svg(spec, title=title, description=description, ident=ident)}{text}\n'
            "</figure>\n")
