"""The report's community health section: the figures of ``commetrics metrics``, support deflection among them."""

from __future__ import annotations

import pandas as pd

from ..labels import words
from .common import DASH, count, escape, pct, records, term, to_float, to_text

__all__ = ["render_community"]

_PROPORTIONS = {"activation_rate", "contributor_share", "accepted_answer_rate"}


def render_community(metrics: pd.DataFrame, *, cost_per_ticket: float, currency: str) -> str:
    """Each figure with its numerator and denominator; accepted answers priced as support tickets avoided."""
    rows = []
    deflection = ""
    for r in records(metrics, ("metric", "value", "numerator", "denominator", "definition", "suppressed")):
        name = to_text(r["metric"]) or ""
        hidden = bool(r["suppressed"]) if to_text(r["suppressed"]) is not None else False
        value = to_float(r["value"])
        if hidden or value is None:
            shown = "hidden"
        elif name in _PROPORTIONS:
            shown = pct(value)
        else:
            shown = f"{value:,.2f}"
        label = words(name.split("[")[0]).capitalize() + (f" ({name.split('[')[1].rstrip(']')})" if "[" in name
                                                           else "")
        rows.append(f'<tr><th scope="row">{escape(label)}</th><td class="num">{escape(shown)}</td>'
                    f'<td class="num">{"hidden" if hidden else count(r["numerator"])}</td>'
                    f'<td class="num">{"hidden" if hidden else count(r["denominator"])}</td>'
                    f"<td>{escape(to_text(r['definition']) or DASH)}</td></tr>")
        answers = to_float(r["numerator"])
        if name == "accepted_answer_rate" and not hidden and answers is not None and cost_per_ticket:
            deflection = (f"<p>{term('Support deflection', 'deflection')}: {count(answers)} accepted community "
                          f"answers × {escape(currency)} {cost_per_ticket:,.0f} per ticket = "
                          f"<strong>{escape(currency)} {answers * cost_per_ticket:,.0f}</strong> of support work, if "
                          "each would otherwise have been a ticket (summary.cost_per_ticket).</p>")
    table = ('<div class="scroll"><table class="community"><caption>Each figure with what it is made of.</caption>'
             '<thead><tr><th scope="col">Figure</th><th scope="col" class="num">Value</th>'
             '<th scope="col" class="num">Numerator</th><th scope="col" class="num">Denominator</th>'
             f'<th scope="col">Definition</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    return (f'<section class="community" id="community"><h2>Community health</h2>\n{deflection}\n{table}\n'
            "</section>\n")
