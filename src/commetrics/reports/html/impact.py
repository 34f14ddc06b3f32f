"""The report's impact section: renewal by participation, raw beside adjusted, balance, NPS and CSAT.

Plain HTML and inline SVG like the rest of the report; every data string is escaped. The words are
the analysis's own: "adjusted association", never "effect" or "caused".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .common import DASH, MINUS, escape, pct, records, signed_pp, to_float, to_text
from .svg import nice_step, num, text_width, x_grid

__all__ = ["ImpactSection", "render_impact"]

#: Raw in grey, adjusted in blue (the headline), the explanations in lighter blues (Okabe–Ito).
ESTIMATE_COLOURS = {"raw": "#7F7F7F", "adjusted": "#0072B2", "ipw": "#56B4E9", "matched": "#56B4E9"}
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


def _signed_ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """An axis from below ``low`` to above ``high`` that always shows 0, with round ticks."""
    low, high = min(low, 0.0), max(high, 0.0)
    step = nice_step(high - low or 0.01)
    start, stop = math.floor(low / step - 1e-9) * step, math.ceil(high / step + 1e-9) * step
    ticks = [start + i * step for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def _difference_chart(rows: Sequence[tuple[str, str, dict[str, float]]]) -> str:
    """Each estimate of the engaged-minus-not-engaged renewal difference as a dot with its 95%
    interval on one signed axis in percentage points, with the zero line."""
    shown = [(key, label, e) for key, label, e in rows
             if all(to_float(e.get(k)) is not None for k in ("estimate", "ci_low", "ci_high"))]
    if not shown:
        return ""
    start, stop, ticks = _signed_ticks(min(e["ci_low"] for _, _, e in shown), max(e["ci_high"] for _, _, e in shown))
    left = 20 + max(text_width(label) for _, label, _ in shown)
    inner, row_h, top = 380.0, 30.0, 12.0
    bottom = top + row_h * len(shown)
    width, height = left + inner + 24, bottom + 34

    def sx(value: float) -> float:
        return left + inner * (max(start, min(value, stop)) - start) / (stop - start)

    sentences = [f"{label}: {signed_pp(e['estimate'])} points (95% interval {signed_pp(e['ci_low'])} to "
                 f"{signed_pp(e['ci_high'])})" for _, label, e in shown]
    out = [f'<svg class="impact-chart" width="{num(width)}" height="{num(height)}" '
           f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="impact-title impact-desc">',
           '<title id="impact-title">Renewal rate difference, engaged minus not engaged, raw and adjusted, in '
           "percentage points with 95% intervals</title>",
           f'<desc id="impact-desc">{escape("; ".join(sentences))}</desc>']
    decimals = 0 if (ticks[1] - ticks[0]) * 100 >= 1 - 1e-9 else 1

    def tick(value: float) -> str:
        points = round(value * 100, decimals)
        return "0" if points == 0 else f"{points:+.{decimals}f}".replace("-", MINUS)

    out += x_grid([(sx(t), tick(t)) for t in ticks], top - 4, bottom)
    out.append(f'<line class="axis" x1="{num(sx(0.0))}" y1="{num(top - 4)}" x2="{num(sx(0.0))}" '
               f'y2="{num(bottom)}" stroke-width="1.5"/>')
    for row, (key, label, e) in enumerate(shown):
        y = top + row * row_h + row_h / 2
        colour = ESTIMATE_COLOURS.get(key, "#0072B2")
        weight = ' font-weight="bold"' if key == "adjusted" else ""
        out.append(f'<text x="{num(left - 8)}" y="{num(y + 4)}" text-anchor="end" font-size="12"{weight}>'
                   f"{escape(label)}</text>")
        out.append(f"<g><title>{escape(sentences[row])}</title>"
                   f'<line x1="{num(sx(e["ci_low"]))}" y1="{num(y)}" x2="{num(sx(e["ci_high"]))}" y2="{num(y)}" '
                   f'stroke="{colour}" stroke-width="2"/>'
                   f'<circle cx="{num(sx(e["estimate"]))}" cy="{num(y)}" r="4.5" fill="{colour}"/></g>')
    out.append(f'<line class="axis" x1="{num(left)}" y1="{num(bottom)}" x2="{num(left + inner)}" '
               f'y2="{num(bottom)}"/>')
    out.append("</svg>")
    return ('<figure class="chart">\n' + "\n".join(out) + "\n<figcaption>Percentage points; the raw difference "
            "compares everyone, the adjusted ones compare accounts alike in the covariates.</figcaption>\n</figure>\n")


def _rate_table(frame: pd.DataFrame, caption: str, count: str, rate: str, rate_label: str, *, percent: bool = True
                ) -> str:
    """Per participation level: how many, the rate (or score) and its 95% interval."""
    head = (f'<th scope="col">Level</th><th scope="col" class="num">{escape(count.capitalize())}</th>'
            f'<th scope="col" class="num">{escape(rate_label)}</th><th scope="col" class="num">95% interval</th>')
    out = [f'<table class="impact-levels"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>']
    for r in records(frame, ("level", count, rate, "ci_low", "ci_high", "suppressed")):
        value, low, high = to_float(r[rate]), to_float(r["ci_low"]), to_float(r["ci_high"])
        if r["suppressed"] is not None and bool(r["suppressed"]):
            out.append(f'<tr class="suppressed"><th scope="row">{escape(to_text(r["level"]) or DASH)}</th>'
                       '<td class="num" colspan="3"><span class="badge suppressed">suppressed</span></td></tr>')
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

        rows.append(f'<tr><th scope="row">{escape(to_text(r["covariate"]) or DASH)}</th>'
                    f'<td class="num">{escape(smd(before))}</td><td{flag}>{escape(smd(after))}</td></tr>')
    return ('<table class="balance"><caption>Balance of the covariates: standardised mean differences, engaged '
            f"minus not engaged (target: below {SMD_TARGET} in size after weighting)</caption>"
            '<thead><tr><th scope="col">Covariate</th><th scope="col" class="num">Before</th>'
            f'<th scope="col" class="num">After weighting</th></tr></thead><tbody>{"".join(rows)}</tbody></table>\n')


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
    whom = "for the engaged (ATT)" if result["estimand"] == "att" else "for everyone alike (ATE)"
    out = [f"<p>Raw difference, {escape(subject)}: <strong>{signed_pp(raw['difference'])} points</strong> "
           f"({signed_pp(raw['ci_low'])} to {signed_pp(raw['ci_high'])}).</p>"]
    if result["headline"]:
        out.append(f"<p>Adjusted for {escape(covariates)}, {escape(whom)}: <strong>{signed_pp(adjusted['estimate'])} "
                   f"points</strong> ({signed_pp(adjusted['ci_low'])} to {signed_pp(adjusted['ci_high'])}) — an "
                   f"adjusted association, not proof that taking part causes {escape(outcome)}. The gap between the "
                   "two figures is the selection: people who take part differ in the covariates.</p>")
    else:
        out.append(_guards(result, "the adjusted difference"))
    out.append(f"<p>Whom the answer describes: {escape(result['population'])}.</p>")
    out += [f"<p>{escape(note)}</p>" for note in result.get("notes") or []]
    if result["headline"]:
        for key in ("sensitivity", "e_value"):
            if result.get(key):
                out.append(f"<p>{escape(result[key])}</p>")
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
           _rate_table(r["levels"], "Renewal rate by participation level (Wilson intervals)", "renewals", "rate",
                       "Renewal rate"),
           *_adjusted_paragraph(r, subject="engaged minus not engaged",
                                covariates=", ".join(r["covariates"]) or "no covariates", outcome="renewal")]
    rows = [("raw", "Raw difference", {"estimate": raw["difference"], "ci_low": raw["ci_low"],
                                       "ci_high": raw["ci_high"]})]
    if r["headline"]:
        rows.append(("adjusted", "Adjusted (doubly robust)", r["adjusted"]))
        if r.get("ipw"):
            rows.append(("ipw", "Weighted (IPW)", r["ipw"]))
        if r.get("matched"):
            rows.append(("matched", f"Matched pairs ({r['matched_pairs']:,})", r["matched"]))
    out += [_difference_chart(rows), _balance_table(r["balance"])]
    overlap, ess = r["overlap"], r["ess"]
    out.append(f"<p>Overlap: {pct(overlap['share_outside'])} of renewals have a propensity outside 0.05–0.95; the "
               f"effective sample sizes after weighting are {ess['engaged']:,.0f} engaged and "
               f"{ess['not_engaged']:,.0f} not engaged.</p>")
    if r.get("left_out_missing_covariates"):
        out.append(f"<p>{r['left_out_missing_covariates']:,} renewals with a missing covariate are left out of the "
                   "adjusted figures.</p>")
    return out


def _survey(result: dict[str, Any]) -> list[str]:
    kind = str(result["kind"])
    nps = kind == "nps"
    rho, ordinal = result["spearman"], result["ordinal"]
    out = [f"<h3>{escape(kind.upper())} by participation level</h3>",
           _rate_table(result["levels"], f"{kind.upper()} by participation before each answer (scale "
                       f"{result['scale']})", "answers", kind, kind.upper(), percent=not nps),
           _rate_table(result["response"], "Who answers: share of members who answered in the last year",
                       "members", "response_rate", "Response rate")]
    if rho is None:  # withheld: the answers come from too few people
        return [*out, "<p>The correlation and the ordinal model are withheld: the answers come from too few "
                      "members to publish.</p>"]
    model = (f"Ordinal logit controlling for {escape(ordinal['controls'])}: the odds of a higher score "
             f"×{ordinal['odds_ratio']:.2f} ({ordinal['ci_low']:.2f} to {ordinal['ci_high']:.2f}) per unit of "
             "ln(1 + activities) — an association." if ordinal is not None else
             "No ordinal model: every answer gives the same score, or every member took part alike.")
    defined = rho["rho"] is not None and rho["rho"] == rho["rho"]  # NaN: every score or participation alike
    correlation = (f"Spearman correlation of participation with the score: {rho['rho']:.3f} ({rho['ci_low']:.3f} to "
                   f"{rho['ci_high']:.3f}) over {result['answers']:,} answers." if defined else
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
    out = ['<section class="impact" id="impact">', "<h2>Impact on renewal and satisfaction</h2>",
           "<h3>Renewal of engaged and not engaged customers</h3>", *_renewal(section)]
    for result in section.surveys:
        out += _survey(result)
    out += [f'<p class="empty">{escape(note)}</p>' for note in section.notes]
    out.append("</section>")
    return "\n".join(part for part in out if part) + "\n"
