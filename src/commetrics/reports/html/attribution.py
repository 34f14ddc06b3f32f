"""The report's attribution section: attributed value per touchpoint class, models side by side.

Like the rest of the report it is plain HTML and inline SVG; every data string is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ...metrics.attribution import ATTRIBUTION_MODELS
from .common import DASH, escape, records, to_float, to_text
from .svg import axis_ticks, num, shorten, style, text_width, x_grid

__all__ = ["SUPPRESSED_BADGE", "AttributionSection", "model_labels", "render_attribution"]

def model_labels() -> dict[str, str]:
    """The registered attribution models in the order they are shown, with their labels."""
    return {name: model.label for name, model in ATTRIBUTION_MODELS.items()}


@dataclass(frozen=True)
class AttributionSection:
    """Attribution results, ready to render.

    Attributes
    ----------
    outcomes
        The outcome types attributed (e.g. purchase, renewal).
    by
        The touchpoint class (``program``, ``type``, ``channel`` or ``tag``).
    unit
        ``person`` or ``account`` journeys.
    lookback_days, half_life_days
        The lookback window and the time-decay half-life.
    currency
        The currency of the values, or ``None`` when not recorded.
    result
        :meth:`Engine.attribution` output: ``model``, ``class``, ``conversions``, ``value`` and,
        with intervals, ``value_low``/``value_high``; after
        :func:`commetrics.privacy.outputs.suppress_attribution`, also ``suppressed`` (hidden rows
        have no figures and are shown as suppressed).
    conversions_without_touch, value_without_touch
        Conversions (and their value) with no community touch in the lookback: not attributed.
        ``None`` when suppressed (fewer people than the privacy threshold).
    replicates
        Bootstrap replicates behind the intervals (0 when there are none).
    totals
        Per model the total ``conversions`` and ``value`` attributed (``suppress_attribution``'s
        ``attrs["totals"]``). ``None``: added up from the rows, unless rows are suppressed, when the
        total is withheld.
    """

    outcomes: list[str]
    by: str
    unit: str
    lookback_days: int
    half_life_days: float
    currency: str | None
    result: pd.DataFrame
    conversions_without_touch: int | None
    value_without_touch: float | None
    replicates: int
    totals: dict[str, dict[str, float]] | None = None
    first_touch_share: float = 0.4
    last_touch_share: float = 0.4

    @property
    def hidden_rows(self) -> bool:
        """Whether any row was suppressed for privacy."""
        return "suppressed" in self.result.columns and bool(self.result["suppressed"].fillna(False).any())

    def total(self, model: str, name: str, cells: dict[tuple[str, str], dict[str, float | None]]) -> float | None:
        """A model's total ``conversions`` or ``value``; ``None`` when it is withheld."""
        if self.totals is not None:
            return self.totals.get(model, {}).get(name)
        if self.hidden_rows:
            return None
        return sum((cell.get(name) or 0.0) for (m, _), cell in cells.items() if m == model)


#: The badge the report shows where a figure was withheld for privacy (styled by the CSS in ``page``).
SUPPRESSED_BADGE = '<span class="badge suppressed">suppressed</span>'


def _money(value: float | None, currency: str | None) -> str:
    """An amount rounded to whole units with thousands separators and the currency code."""
    if value is None:
        return DASH
    text = f"{round(value):,}"
    return f"{currency} {text}" if currency else text


def _money_tick(value: float) -> str:
    """A compact axis label: 12k, 1.5M."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.4g}{suffix}"
    return f"{value:,.0f}"


def _layout(section: AttributionSection) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, float | None]]]:
    """(models in display order, classes by descending Markov value (else the first model's), cells)."""
    rows = records(section.result, ("model", "class", "conversions", "value", "value_low", "value_high",
                                     "suppressed"))
    cells = {(str(r["model"]), to_text(r["class"]) or ""): {
        **{k: to_float(r[k]) for k in ("conversions", "value", "value_low", "value_high")},
        "suppressed": 1.0 if to_float(r["suppressed"]) else 0.0} for r in rows}
    present = {m for m, _ in cells}
    labels = model_labels()
    models = [m for m in labels if m in present] + sorted(present - set(labels))
    lead = "markov" if "markov" in present else (models[0] if models else "")
    classes = sorted({c for _, c in cells}, key=lambda c: (-(cells.get((lead, c), {}).get("value") or 0.0), c))
    return models, classes, cells


def _table(section: AttributionSection, models: Sequence[str], classes: Sequence[str],
           cells: dict[tuple[str, str], dict[str, float | None]]) -> str:
    interval = f" with its 95% interval ({section.replicates} bootstrap resamples of the journeys)" \
        if section.replicates else ""
    out = ['<div class="scroll"><table class="attribution">',
           f"<caption>Value attributed to each {escape(section.by)} by each model{escape(interval)}. Every column "
           "adds up to the same total: the models differ only in how they split it.</caption>",
           "<thead><tr>" + f'<th scope="col">{escape(section.by.capitalize())}</th>'
           + "".join(f'<th scope="col" class="num">{escape(model_labels().get(m, m))}</th>' for m in models)
           + "</tr></thead>", "<tbody>"]
    for cls in classes:
        row = [f'<th scope="row">{escape(cls)}</th>']
        hidden = False
        for model in models:
            cell = cells.get((model, cls), {})
            if cell.get("suppressed"):
                hidden = True
                row.append(f'<td class="num">{SUPPRESSED_BADGE}</td>')
                continue
            text = escape(_money(cell.get("value"), section.currency))
            low, high = cell.get("value_low"), cell.get("value_high")
            if low is not None and high is not None:
                text += (f'<br><span class="muted">{escape(_money(low, None))}–{escape(_money(high, None))}</span>')
            row.append(f'<td class="num">{text}</td>')
        out.append(('<tr class="suppressed">' if hidden else "<tr>") + "".join(row) + "</tr>")
    totals = [section.total(m, "value", cells) for m in models]
    out.append('</tbody><tfoot><tr><th scope="row">Total attributed</th>'
               + "".join(f'<td class="num">{escape(_money(t, section.currency)) if t is not None else SUPPRESSED_BADGE}'
                         "</td>" for t in totals)
               + "</tr></tfoot></table></div>")
    if section.hidden_rows:
        out.append(f'<p class="muted">Each {escape(section.by)} that fewer converting people than the privacy '
                   "threshold had touched is suppressed in every model, with enough others that the totals do not "
                   "reveal it.</p>")
    return "\n".join(out) + "\n"


def _chart(section: AttributionSection, models: Sequence[str], classes: Sequence[str],
           cells: dict[tuple[str, str], dict[str, float | None]], index: int) -> str:
    """One row per class; in it, one dot per model (with its interval when there is one)."""
    classes = [c for c in classes if any(cells.get((m, c), {}).get("value") is not None for m in models)]
    values = [v for cell in cells.values() for v in (cell.get("value"), cell.get("value_high")) if v is not None]
    if not classes or not models or not values or max(values) <= 0:
        return ""
    upper, ticks = axis_ticks(max(values))
    font = 12.0
    labels = [shorten(c) for c in classes]
    left = 20 + max(text_width(label, font) for label in labels)
    inner, lane, top = 420.0, 9.0, 16.0
    row_h = lane * len(models) + 12
    legend_w = 16 + max(text_width(model_labels().get(m, m), 11) for m in models) + 24
    width = left + inner + 24 + legend_w
    plot_bottom = top + row_h * len(classes)
    height = max(plot_bottom + 40, top + 20 * len(models) + 20)

    def sx(value: float) -> float:
        return left + inner * max(0.0, min(value, upper)) / upper

    title = f"Attributed value by {section.by}, one dot per model"
    desc = "; ".join(f"{cls}: " + ", ".join(
        f"{model_labels().get(m, m)} {_money(cells.get((m, cls), {}).get('value'), section.currency)}" for m in models)
        for cls in classes)
    out = [f'<svg class="attribution-chart" width="{num(width)}" height="{num(height)}" '
           f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="a{index}-title a{index}-desc">',
           f'<title id="a{index}-title">{escape(title)}</title>', f'<desc id="a{index}-desc">{escape(desc)}</desc>']
    out += x_grid([(sx(tick), _money_tick(tick)) for tick in ticks], top - 4, plot_bottom)
    for row, (cls, label) in enumerate(zip(classes, labels, strict=True)):
        y0 = top + row * row_h
        out.append(f'<text x="{num(left - 8)}" y="{num(y0 + row_h / 2 + 4)}" text-anchor="end" '
                   f'font-size="{num(font)}"><title>{escape(cls)}</title>{escape(label)}</text>')
        for lane_index, model in enumerate(models):
            cell = cells.get((model, cls), {})
            value = cell.get("value")
            if value is None:
                continue
            colour, _ = style(lane_index)
            y = y0 + 6 + lane * lane_index + lane / 2
            summary = f"{cls}, {model_labels().get(model, model)}: {_money(value, section.currency)}"
            parts = [f"<g><title>{escape(summary)}</title>"]
            low, high = cell.get("value_low"), cell.get("value_high")
            if low is not None and high is not None:
                parts.append(f'<line x1="{num(sx(low))}" y1="{num(y)}" x2="{num(sx(high))}" y2="{num(y)}" '
                             f'stroke="{colour}" stroke-width="1.5"/>')
            parts.append(f'<circle cx="{num(sx(value))}" cy="{num(y)}" r="3.5" fill="{colour}"/></g>')
            out.append("".join(parts))
    out.append(f'<line class="axis" x1="{num(left)}" y1="{num(plot_bottom)}" x2="{num(left + inner)}" '
               f'y2="{num(plot_bottom)}"/>')
    legend_x = left + inner + 24
    for lane_index, model in enumerate(models):
        colour, _ = style(lane_index)
        ly = top + 8 + lane_index * 20
        out.append(f'<g class="legend-item"><circle cx="{num(legend_x + 4)}" cy="{num(ly)}" r="4" fill="{colour}"/>'
                   f'<text x="{num(legend_x + 14)}" y="{num(ly + 4)}" font-size="11">'
                   f"{escape(model_labels().get(model, model))}</text></g>")
    out.append("</svg>")
    return '<figure class="chart">\n' + "\n".join(out) + "\n</figure>\n"


def render_attribution(section: AttributionSection, index: int = 1) -> str:
    """The attribution section: caveat, models side by side (table and chart), what was left out."""
    models, classes, cells = _layout(section)
    attributed = section.total(models[0], "conversions", cells) if models else 0.0
    value = section.total(models[0], "value", cells) if models else 0.0
    journeys = "of the account's members" if section.unit == "account" else "of the member"
    what = (f"{attributed:,.0f} {escape(', '.join(section.outcomes))} conversions worth "
            f"{escape(_money(value, section.currency))}" if attributed is not None and value is not None else
            f"the {escape(', '.join(section.outcomes))} conversions (their total is withheld: too few people)")
    out = [f'<section class="attribution" id="attribution-{index}">',
           f"<h2>Attributed value by {escape(section.by)}</h2>",
           '<p class="caveat"><strong>Credit allocation, not cause.</strong> These figures split the credit for '
           f"{what} over the community touches {escape(journeys)} in the "
           f"{section.lookback_days:,} days before each one. They say where credit can go, not what the "
           "community caused: the models split the same total differently, which is why they are shown side by "
           "side. Where they agree, the split is robust to the choice of model.</p>"]
    if not classes:
        out.append('<p class="empty">No conversion had a community touch in the lookback.</p>')
    else:
        out.append(_table(section, models, classes, cells))
        out.append(_chart(section, models, classes, cells, index))
    if section.conversions_without_touch is None:
        out.append("<p>Not attributed: the conversions that had no community touch in the lookback, "
                   f"{SUPPRESSED_BADGE} (fewer people than the privacy threshold).</p>")
    else:
        out.append(f"<p>Not attributed: {section.conversions_without_touch:,} conversions worth "
                   f"{escape(_money(section.value_without_touch, section.currency))} had no community touch in the "
                   "lookback.</p>")
    shown = [m for m in model_labels() if m in set(section.result["model"])] if len(section.result) else []
    described = " ".join(f"{ATTRIBUTION_MODELS.get(m).label}: {ATTRIBUTION_MODELS.get(m).description}" for m in shown)
    out.append(f"<p>Models. {escape(described)} Here the position-based model gives "
               f"{section.first_touch_share:.0%} to the first touch and {section.last_touch_share:.0%} to the last; "
               f"time decay halves a touch's weight every {section.half_life_days:g} days before the conversion.</p>")
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
