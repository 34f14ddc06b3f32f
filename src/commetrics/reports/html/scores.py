"""The report's scores section: tiers and bands, and how well health foresaw renewals.

Plain HTML and inline SVG like the rest of the report; every data string is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..format import signed
from ..labels import words
from .charts import figure, interval_spec
from .common import DASH, escape, pct, records, term, to_float, to_text

__all__ = ["ScoresSection", "render_scores"]



@dataclass(frozen=True)
class ScoresSection:
    """Scores, ready to render.

    Attributes
    ----------
    tiers
        ``tier``, ``members`` (every non-staff member: an aggregate may count members without
        consent), lowest tier first.
    bands
        ``band``, ``accounts``, ``median_health``, lowest band first.
    validation
        :func:`commetrics.metrics.scores.validate_health` output, or ``None`` when there are too
        few decided renewals (then ``validation_note`` says why).
    lead_days
        How long before each renewal health was taken.
    """

    tiers: pd.DataFrame
    bands: pd.DataFrame
    validation: dict[str, Any] | None
    lead_days: int
    half_life_days: float
    validation_note: str = ""


def _counts_table(frame: pd.DataFrame, label: str, count: str, caption: str, extra: str | None = None) -> str:
    """A count per label with its share; ``caption`` is short (it is as wide as the table)."""
    if frame is None or not len(frame):
        return f'<p class="empty">{escape(caption)}: none yet.</p>\n'
    rows = records(frame, (label, count, "share", extra) if extra else (label, count, "share"))
    total = sum((to_float(r[count]) or 0.0) for r in rows)
    hidden = "suppressed" in frame and bool(frame["suppressed"].any())
    head = (f'<th scope="col">{escape(label.capitalize())}</th>'
            f'<th scope="col" class="num">{escape(count.capitalize())}</th>')
    head += '<th scope="col" class="num">Share</th>'
    if extra:
        head += f'<th scope="col" class="num">{escape(extra.replace("_", " ").capitalize())}</th>'
    out = [f'<table class="counts"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>']
    for r in rows:
        n = to_float(r[count])
        share = to_float(r["share"]) if "share" in frame else (n / total if total and n is not None else None)
        shown = f"{n:,.0f}" if n is not None else "hidden"
        cells = (f'<th scope="row">{escape(words(to_text(r[label]) or DASH))}</th><td class="num">{shown}</td>'
                 f'<td class="num">{escape(pct(share) if share is not None else DASH)}</td>')
        if extra:
            value = to_float(r[extra])
            cells += f'<td class="num">{escape(f"{value:.1f}" if value is not None else DASH)}</td>'
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    if hidden:
        out.append('<p class="muted">Groups of fewer people than the privacy threshold are '
                   f'{term("hidden", "hidden")}, with enough others that the total does not reveal them.</p>')
    return "\n".join(out) + "\n"


def _band_chart(bands: list[dict[str, Any]]) -> str:
    """Churn rate per band with its Wilson interval: it should fall from the first band to the last."""
    shown = [b for b in bands if b["renewals"] and to_float(b.get("churn_rate")) is not None]
    if not shown or all(not b["churn_rate"] for b in shown):
        return ('<p class="empty">No churn chart: no account in these bands churned at a decided renewal.</p>\n'
                if shown else "")
    desc = "; ".join(f"{b['band']}: {pct(b['churn_rate'])} of {b['renewals']:,} renewals churned "
                     f"(95% interval {pct(b['ci_low'])} to {pct(b['ci_high'])})" for b in shown)
    spec = interval_spec([{"label": words(b["band"]), "value": b["churn_rate"], "low": b["ci_low"],
                           "high": b["ci_high"]} for b in shown], x_title="Churned at renewal", width=420)
    return figure(spec, title="Churn rate per health band with 95% Wilson intervals", description=desc,
                  ident="bands")


def _weights_table(validation: dict[str, Any]) -> str:
    learned = validation.get("learned_weights")
    if not learned:
        return ""
    expert = validation["expert_weights"]
    rows = "".join(f'<tr><th scope="row">{escape(words(k))}</th><td class="num">{expert[k]:.0f}</td>'
                   f'<td class="num">{v:.0f}</td></tr>' for k, v in learned.items())
    return (f"<p>Learned weights come from a regularised logistic regression of non-renewal on the components, "
            f"fitted on the earlier renewals. On the latest {validation['holdout_renewals']:,} renewals the "
            f"configured weights reach AUC {validation['holdout_auc_expert']:.3f}, the learned ones "
            f"{validation['holdout_auc_learned']:.3f}.</p>\n"
            '<table class="weights"><caption>Component weights (points out of 100)</caption>'
            '<thead><tr><th scope="col">Component</th>'
            '<th scope="col" class="num">Configured</th><th scope="col" class="num">Learned</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>\n")


def render_scores(section: ScoresSection) -> str:
    """Tiers and bands, then the validation of health against later renewals."""
    out = ['<section class="scores" id="scores">', "<h2>Engagement and health scores</h2>",
           f"<p>{term('Engagement', 'tiers')}: points per activity, contributions above consumption, halving every "
           f"{section.half_life_days:g} days. {term('Health', 'health')}: the weighted 0–100 components of each "
           "account. Every member is counted here; only members with consent are ever listed or exported.</p>",
           '<div class="pair">',
           _counts_table(section.tiers, "tier", "members", "Members by engagement tier"),
           _counts_table(section.bands, "band", "accounts", "Accounts by health band", extra="median_health"),
           "</div>",
           '<p class="muted">Accounts are organisations, not people: bands are shown whatever the number of '
           "accounts in them.</p>",
           "<h3>Does health foresee renewals?</h3>"]
    v = section.validation
    if v is None:
        out.append(f'<p class="empty">{escape(section.validation_note)}</p>')
    else:
        out.append(
            f"<p>Health taken {section.lead_days} days before each of {v['renewals']:,} decided renewals "
            f"({v['churned']:,} churned), from the data known then: {term('AUC', 'auc')} for churn "
            f"<strong>{v['auc']:.3f}</strong> "
            f"(95% bootstrap interval {v['auc_low']:.3f} to {v['auc_high']:.3f}; 0.5 is a coin toss). Without the "
            f"community component it is {v['auc_without_community']:.3f}: the community adds "
            f"<strong>{signed(v['community_gain'], 3)}</strong> ({signed(v['community_gain_low'], 3)} to "
            f"{signed(v['community_gain_high'], 3)}).</p>")
        out.append(_band_chart(v["bands"]))
        out.append(_weights_table(v))
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
