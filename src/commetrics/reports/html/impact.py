"""The report's impact section: renewal by participation, raw beside adjusted, balance, NPS and CSAT.

Plain HTML and inline SVG like the rest of the report; every data string is escaped. The words are
the analysis's own: "adjusted association", never "effect" or "caused".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..labels import words
from .charts import figure, interval_spec
from .common import DASH, MINUS, escape, pct, records, signed_pp, term, to_float, to_text

__all__ = ["ImpactSection", "render_impact"]

SMD_TARGET = 0.1


@dataclass(frozen=True)
class ImpactSection:
    """Impact results, ready to render.

    Attributes
    ----------
    renewal
        :func:`commetrics.metrics.impact.renewal_impact` output, or ``None`` when the store cannot
        answer it (then ``renewal_note`` says why).
    surveys
        :func:`commetrics.metrics.impact.survey_impact` outputs (NPS, CSAT) the store can answer.
    engaged_level
        The lowest participation level counted as engaged.
    window
        ``(start, end)`` days before the renewal in which participation is measured.
    notes
        Why a survey kind is not shown.
    """

    renewal: dict[str, Any] | None
    surveys: list[dict[str, Any]]
    engaged_level: str
    window: tuple[int, int]
    renewal_note: str = ""
    notes: list[str] = field(default_factory=list)


def _difference_chart(rows: Sequence[tuple[str, str, dict[str, float]]]) -> str:
    """Each estimate of the engaged-minus-not-engaged renewal difference as a dot with its 95% interval, in
    percentage points, with the zero line."""
    shown = [(key, label, e) for key, label, e in rows
             if all(to_float(e.get(k)) is not None for k in ("estimate", "ci_low", "ci_high"))]
    if not shown:
        return ""
    sentences = [f"{label}: {signed_pp(e['estimate'])} points (95% interval {signed_pp(e['ci_low'])} to "
                 f"{signed_pp(e['ci_high'])})" for _, label, e in shown]
    spec = interval_spec([{"label": label, "value": e["estimate"], "low": e["ci_low"], "high": e["ci_high"]}
                          for _, label, e in shown], x_title="Renewal rate, engaged minus not engaged (points)",
                         kind="points", zero=True, width=460)
    return figure(spec, title="Renewal rate difference, engaged minus not engaged, raw and adjusted, in percentage "
                  "points with 95% intervals", description="; ".join(sentences), ident="impact",
                  caption="The raw difference compares everyone; the adjusted ones compare accounts alike in the "
                          "covariates.")


def _rate_table(frame: pd.DataFrame, caption: str, count: str, rate: str, rate_label: str, *, percent: bool = True
                ) -> str:
    """Per participation level: how many, the rate (or score) and its 95% interval."""
    head = (f'<th scope="col">Level</th><th scope="col" class="num">{escape(count.capitalize())}</th>'
            f'<th scope="col" class="num">{escape(rate_label)}</th><th scope="col" class="num">95% interval</th>')
    out = [f'<table class="impact-levels"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>']
    for r in records(frame, ("level", count, rate, "ci_low", "ci_high", "suppressed")):
        value, low, high = to_float(r[rate]), to_float(r["ci_low"]), to_float(r["ci_high"])
        if r["suppressed"] is not None and bool(r["suppressed"]):
            out.append(f'<tr><th scope="row">{escape(to_text(r["level"]) or DASH)}</th>'
                       '<td class="num muted" colspan="3">hidden</td></tr>')
            continue

        def shown(v: float | None) -> str:
            if v is None:
                return DASH
            return pct(v) if percent else f"{v:.1f}".replace("-", MINUS)

        interval = f"{shown(low)} to {shown(high)}" if low is not None and high is not None else DASH
        n = to_float(r[count])
        out.append(f'<tr><th scope="row">{escape(to_text(r["level"]) or DASH)}</th>'
                   f'<td class="num">{escape(f"{n:,.0f}" if n is not None else DASH)}</td>'
                   f'<td class="num">{escape(shown(value))}</td><td class="num">{escape(interval)}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out) + "\n"


def _balance_table(balance: pd.DataFrame) -> str:
    """Standardised mean differences of each covariate before and after weighting (target below 0.1)."""
    rows = []
    for r in records(balance, ("covariate", "smd_before", "smd_after")):
        before, after = to_float(r["smd_before"]), to_float(r["smd_after"])
        flag = ' class="num warn"' if after is not None and abs(after) >= SMD_TARGET else ' class="num"'

        def smd(v: float | None) -> str:
            return DASH if v is None else f"{v:+.3f}".replace("-", MINUS)

        rows.append(f'<tr><th scope="row">{escape(words(to_text(r["covariate"]) or DASH))}</th>'
                    f'<td class="num">{escape(smd(before))}</td><td{flag}>{escape(smd(after))}</td></tr>')
    return ('<details><summary>Balance of the covariates</summary><table class="balance"><caption>'
            f"Balance of the {term('covariates', 'covariates')}: {term('standardised mean differences', 'smd')}, "
            f"engaged minus not engaged (target: below {SMD_TARGET} in size after weighting)</caption>"
            '<thead><tr><th scope="col">Covariate</th><th scope="col" class="num">Before</th>'
            f'<th scope="col" class="num">After weighting</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</details>\n")


def _guards(result: dict[str, Any], what: str) -> str:
    """Why ``what`` is not shown as an answer: each guard that tripped, with what to do."""
    items = "".join(f"<li>{escape(g['message'])} <em>What to do:</em> {escape(g['advice'])}</li>"
                    for g in result["guards"])
    return (f'<div class="guards" role="note"><p><strong>No adjusted headline:</strong> {escape(what)} cannot be '
            f"trusted on this data.</p><ul>{items}</ul></div>\n")


def _adjusted_paragraph(result: dict[str, Any], *, subject: str, covariates: str, outcome: str) -> list[str]:
    """The raw difference, then the adjusted one with the population it describes — or the guards that
    stopped it — and the sensitivity sentences."""
    raw, adjusted = result["raw"], result["adjusted"]
    whom = (f"for the engaged ({term('ATT', 'att')})" if result["estimand"] == "att"
            else f"for everyone alike ({term('ATE', 'att')})")
    out = [f"<p>Raw difference, {escape(subject)}: <strong>{signed_pp(raw['difference'])} points</strong> "
           f"({signed_pp(raw['ci_low'])} to {signed_pp(raw['ci_high'])}).</p>"]
    if result["headline"]:
        out.append(f"<p>{term('Adjusted', 'adjusted')} for {escape(covariates)}, {whom}: "
                   f"<strong>{signed_pp(adjusted['estimate'])} "
                   f"points</strong> ({signed_pp(adjusted['ci_low'])} to {signed_pp(adjusted['ci_high'])}) — an "
                   f"adjusted association, not proof that taking part causes {escape(outcome)}. The gap between the "
                   f"two figures is the {term('selection', 'selection-bias')}: people who take part differ in the "
                   "covariates.</p>")
    else:
        out.append(_guards(result, "the adjusted difference"))
    sure = [f"<p>Whom the answer describes: {escape(result['population'])}.</p>"]
    sure += [f"<p>{escape(note)}</p>" for note in result.get("notes") or []]
    if result["headline"]:
        sure += [f'<p>{escape(result[key])} ({term("what this means", "robustness")})</p>'
                 for key in ("sensitivity", "e_value") if result.get(key)]
    out.append("<details><summary>Whom it describes, and how sure it is</summary>" + "".join(sure) + "</details>")
    return out


def _renewal(section: ImpactSection) -> list[str]:
    r = section.renewal
    if r is None:
        return [f'<p class="empty">{escape(section.renewal_note)}</p>']
    raw = r["raw"]
    start, end = section.window
    out = [f"<p>Participation is counted from {start} to {end} days before each renewal, so it comes before the "
           f"outcome. Engaged means the <strong>{escape(section.engaged_level)}</strong> level or above: "
           f"{r['engaged']:,} of {r['renewals']:,} decided renewals.</p>",
           *_adjusted_paragraph(r, subject="engaged minus not engaged",
                                covariates=", ".join(words(c) for c in r["covariates"]) or "no covariates",
                                outcome="renewal")]
    rows = [("raw", "Raw difference", {"estimate": raw["difference"], "ci_low": raw["ci_low"],
                                       "ci_high": raw["ci_high"]})]
    if r["headline"]:
        rows.append(("adjusted", "Adjusted (doubly robust)", r["adjusted"]))
        if r.get("ipw"):
            rows.append(("ipw", "Weighted (IPW)", r["ipw"]))
        if r.get("matched"):
            rows.append(("matched", f"Matched pairs ({r['matched_pairs']:,})", r["matched"]))
    out += ['<div class="pair">' + _rate_table(r["levels"], "Renewal rate by participation level (Wilson "
                                               "intervals)", "renewals", "rate", "Renewal rate")
            + _difference_chart(rows) + "</div>", _balance_table(r["balance"])]
    overlap, ess = r["overlap"], r["ess"]
    out.append(f"<p class=\"muted\">{term('Overlap', 'overlap')}: {pct(overlap['share_outside'])} of renewals have a "
               f"{term('propensity', 'propensity')} outside 0.05–0.95; the {term('effective sample sizes', 'ess')} "
               f"after weighting are {ess['engaged']:,.0f} engaged and {ess['not_engaged']:,.0f} not engaged.</p>")
    if r.get("left_out_missing_covariates"):
        out.append(f"<p>{r['left_out_missing_covariates']:,} renewals with a missing covariate are left out of the "
                   "adjusted figures.</p>")
    return out


def _survey(result: dict[str, Any]) -> list[str]:
    kind = str(result["kind"])
    nps = kind == "nps"
    rho, ordinal = result["spearman"], result["ordinal"]
    out = [f'<h3 id="impact-{escape(kind)}">{term(kind.upper(), kind)} by participation level</h3>',
           _rate_table(result["levels"], f"{kind.upper()} by participation before each answer (scale "
                       f"{result['scale']})", "answers", kind, kind.upper(), percent=not nps),
           "<details><summary>Who answers</summary>"
           + _rate_table(result["response"], "Who answers: share of members who answered in the last year",
                         "members", "response_rate", "Response rate") + "</details>"]
    if rho is None:  # withheld: the answers come from too few people
        return [*out, "<p>The correlation and the ordinal model are withheld: the answers come from too few "
                      "members to publish.</p>"]
    model = (f"{term('Ordinal logit', 'ordinal')} controlling for {escape(ordinal['controls'])}: the odds of a "
             f"higher score ×{ordinal['odds_ratio']:.2f} ({ordinal['ci_low']:.2f} to {ordinal['ci_high']:.2f}) per "
             "unit of ln(1 + activities) — an association." if ordinal is not None else
             "No ordinal model: every answer gives the same score, or every member took part alike.")
    defined = rho["rho"] is not None and rho["rho"] == rho["rho"]  # NaN: every score or participation alike
    correlation = (f"{term('Spearman correlation', 'spearman')} of participation with the score: {rho['rho']:.3f} "
                   f"({rho['ci_low']:.3f} to {rho['ci_high']:.3f}) over {result['answers']:,} answers."
                   if defined else
                   "No Spearman correlation: every answer gives the same score, or every member took part alike.")
    out.append(f"<p>{correlation} {model}</p>")
    comparison = result.get("comparison")
    if comparison and not comparison.get("reason"):
        out.append(f"<p>Engaged members ({escape(comparison['engaged_level'])} level or above) against the others, "
                   f"on each member's latest answer, in {escape(comparison['scale'])}:</p>")
        out += _adjusted_paragraph(comparison, subject="engaged minus not engaged", covariates="tenure",
                                   outcome=f"a higher {kind.upper()}")
    elif comparison:
        out.append(f"<p>Engaged against other members: not compared. {escape(comparison['reason'])}</p>")
    return out


def render_impact(section: ImpactSection) -> str:
    """Renewal by participation with the raw and adjusted differences and balance, then NPS and CSAT."""
    out = ['<section class="impact" id="impact">', "<h2>Renewal and satisfaction by participation</h2>",
           '<h3 id="impact-renewal">Renewal of engaged and not engaged customers</h3>', *_renewal(section)]
    for result in section.surveys:
        out += _survey(result)
    out += [f'<p class="empty">{escape(note)}</p>' for note in section.notes]
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
