"""The report's attribution section: attributed value per touchpoint class, models side by side.

Like the rest of the report it is plain HTML and inline SVG; every data string is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ...metrics.attribution import ATTRIBUTION_MODELS
from ..labels import words
from .charts import figure, interval_spec
from .common import DASH, escape, records, term, to_float, to_text

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
    currency = f", in {section.currency}" if section.currency else ""
    out = ['<div class="scroll"><table class="attribution">',
           f"<caption>Revenue credited to each {escape(words(section.by))} by each "
           f"{term('model', 'models')}{escape(currency)}, with its {term('95% interval', 'interval')} below "
           f"({section.replicates} {term('bootstrap', 'bootstrap')} resamples of the journeys). Every column adds up "
           "to the same total: the models differ only in how they split it.</caption>"
           if section.replicates else
           f"<caption>Revenue credited to each {escape(words(section.by))} by each {term('model', 'models')}"
           f"{escape(currency)}. Every column adds up to the same total.</caption>",
           "<thead><tr>" + f'<th scope="col">{escape(words(section.by).capitalize())}</th>'
           + "".join(f'<th scope="col" class="num">{escape(model_labels().get(m, m))}</th>' for m in models)
           + "</tr></thead>", "<tbody>"]
    for cls in classes:
        row = [f'<th scope="row">{escape(words(cls))}</th>']
        hidden = False
        for model in models:
            cell = cells.get((model, cls), {})
            if cell.get("suppressed"):
                hidden = True
                row.append('<td class="num muted">hidden</td>')
                continue
            text = f"<strong>{escape(_money(cell.get('value'), None))}</strong>"
            low, high = cell.get("value_low"), cell.get("value_high")
            if low is not None and high is not None:
                text += f'<span class="ci">{escape(_money(low, None))}–{escape(_money(high, None))}</span>'
            row.append(f'<td class="num">{text}</td>')
        out.append(('<tr class="hidden">' if hidden else "<tr>") + "".join(row) + "</tr>")
    totals = [section.total(m, "value", cells) for m in models]
    out.append('</tbody><tfoot><tr><th scope="row">Total credited</th>'
               + "".join(f'<td class="num">{escape(_money(t, None)) if t is not None else "hidden"}'
                         "</td>" for t in totals)
               + "</tr></tfoot></table></div>")
    if section.hidden_rows:
        out.append(f'<p class="muted">Each {escape(words(section.by))} that fewer converting people than the privacy '
                   f"threshold had touched is {term('hidden', 'hidden')} in every model, with enough others that the "
                   "totals do not reveal it.</p>")
    return "\n".join(out) + "\n"


def _chart(section: AttributionSection, models: Sequence[str], classes: Sequence[str],
           cells: dict[tuple[str, str], dict[str, float | None]], index: int) -> str:
    """One row per class; in it, one dot per model with its bootstrap interval."""
    rows = [{"label": words(cls), "group": model_labels().get(m, m), "value": cell["value"],
             "low": cell.get("value_low"), "high": cell.get("value_high")}
            for cls in classes for m in models
            if (cell := cells.get((m, cls), {})).get("value") is not None]
    if not rows or max(float(r["value"] or 0.0) for r in rows) <= 0:
        return '<p class="empty">No chart: no revenue was credited to any class.</p>\n'
    currency = f" ({section.currency})" if section.currency else ""
    desc = "; ".join(f"{cls}: " + ", ".join(
        f"{model_labels().get(m, m)} {_money(cells.get((m, cls), {}).get('value'), section.currency)}" for m in models)
        for cls in classes)
    return figure(interval_spec(rows, x_title=f"Credited revenue{currency}", kind="money", group_title="Model",
                                width=560),
                  title=f"Credited revenue by {words(section.by)}, one dot per model with its 95% interval",
                  description=desc, ident=f"a{index}")


def render_attribution(section: AttributionSection, index: int = 1) -> str:
    """The attribution section: caveat, models side by side (table and chart), what was left out."""
    models, classes, cells = _layout(section)
    attributed = section.total(models[0], "conversions", cells) if models else 0.0
    value = section.total(models[0], "value", cells) if models else 0.0
    journeys = "of the account's members" if section.unit == "account" else "of the member"
    what = (f"{attributed:,.0f} {escape(', '.join(words(o) for o in section.outcomes))} conversions worth "
            f"{escape(_money(value, section.currency))}" if attributed is not None and value is not None else
            f"the {escape(', '.join(section.outcomes))} conversions (their total is withheld: too few people)")
    out = [f'<section class="attribution" id="attribution-{index}">',
           f"<h2>Revenue credited to community {escape(words(section.by))}s"
           f"{f' ({escape(section.currency)})' if section.currency else ''}</h2>",
           f'<p class="caveat"><strong>Credit allocation, not cause.</strong> {term("Attribution", "attribution")} '
           f"splits the credit for {what} over the community touches {escape(journeys)} in the "
           f"{section.lookback_days:,} days before each one. They say where credit can go, not what the "
           "community caused: the models split the same total differently, which is why they are shown side by "
           "side. Where they agree, the split is robust to the choice of model.</p>"]
    credited = [v for (m, _), cell in cells.items() if (v := cell.get("value")) is not None]
    if credited and not any(credited):  # nothing to split: one line, no caveat about a split that is not there
        return "\n".join([*out[:2], f'<p class="empty">No revenue to credit: the conversions after a community touch '
                                     f"carry no value (no {escape(', '.join(words(o) for o in section.outcomes))} "
                                     "with an amount).</p>", "</section>"]) + "\n"
    if not classes:
        out.append('<p class="empty">No conversion had a community touch in the lookback.</p>')
    else:
        out.append(_table(section, models, classes, cells))
        out.append(_chart(section, models, classes, cells, index))
    if section.conversions_without_touch is None:
        out.append("<p>Not credited: how many conversions had no community touch in the lookback is hidden (fewer "
                   "people than the privacy threshold).</p>")
    else:
        out.append(f"<p>Not credited: {section.conversions_without_touch:,} conversions worth "
                   f"{escape(_money(section.value_without_touch, section.currency))} had no community touch in the "
                   "lookback.</p>")
    shown = [m for m in model_labels() if m in set(section.result["model"])] if len(section.result) else []
    described = " ".join(f"{ATTRIBUTION_MODELS.get(m).label}: {ATTRIBUTION_MODELS.get(m).description}" for m in shown)
    out.append(f"<details><summary>How the models split credit</summary><p>{escape(described)} Here the "
               f"position-based model gives {section.first_touch_share:.0%} to the first touch and "
               f"{section.last_touch_share:.0%} to the last; time decay halves a touch's weight every "
               f"{section.half_life_days:g} days before the conversion.</p></details>")
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
