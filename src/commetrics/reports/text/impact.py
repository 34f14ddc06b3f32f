"""The impact analyses in the terminal: raw beside adjusted, the guards that withhold a headline, diagnostics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ...results import Diagnostic, Result
from ..format import HIDDEN, count, money, percent, points
from . import RENDERERS
from .tables import render_frames

__all__ = ["render_adjusted", "render_blocking"]

SMD_TITLE = "Balance: standardised mean differences (target |SMD| < 0.1 after weighting)"


def label_hidden(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A published table for the terminal: ``column`` reads "hidden" on suppressed rows; the flag is dropped."""
    if "suppressed" not in frame.columns:
        return frame
    hidden = frame["suppressed"].to_numpy(bool)
    shown = frame.drop(columns="suppressed")
    if hidden.any():
        shown = shown.astype({column: object})
        shown.loc[hidden, column] = HIDDEN
    return shown


def render_blocking(diagnostics: Sequence[Diagnostic], what: str) -> str:
    """Why ``what`` (the figure a command leads with) is not an answer, one guard per item; "" when none."""
    if not diagnostics:
        return ""
    lines = [f"No headline: {what} cannot be trusted on this data."]
    for d in diagnostics:
        lines += [f"  - {d.message}", f"    What to do: {d.advice}"]
    return "\n".join(lines) + "\n"


def render_adjusted(result: Mapping[str, Any], *, groups: str, covariates: Sequence[str],
                    warnings: Sequence[Diagnostic] = ()) -> str:
    """The raw and adjusted differences of a comparison, with its guards, population and sensitivity.

    ``result`` holds ``raw``, ``adjusted``, ``estimand``, ``headline``, ``guards``, ``population``,
    ``ipw``, ``matched``, ``sensitivity``, ``e_value``, ``refutations`` (renewal, exposure, and the
    engaged-vs-other comparison of NPS/CSAT); ``groups`` names the comparison. When a guard tripped,
    the adjusted figure is not printed as an answer: the checks that failed and what to do come instead.
    ``warnings`` (the Result's warnings about this figure) are printed right under it, and the figure is
    marked "read with care".
    """
    raw, adjusted = result.get("raw"), result.get("adjusted")
    if raw is None or adjusted is None:
        return "  raw and adjusted differences withheld (see below)\n"
    lines = [f"  raw difference    {points(raw['difference'])} points ({points(raw['ci_low'])} to "
             f"{points(raw['ci_high'])}), {groups}"]
    estimand = "for the treated (ATT)" if result["estimand"] == "att" else "for everyone alike (ATE)"
    if result["headline"]:
        lines.append(f"  adjusted          {points(adjusted['estimate'])} points ({points(adjusted['ci_low'])} to "
                     f"{points(adjusted['ci_high'])}) — an adjusted association {estimand}, controlling for "
                     f"{', '.join(covariates) or 'nothing'} (doubly robust, cross-fitted)"
                     + (" — READ WITH CARE (see below)" if warnings else ""))
        for key, label in (("ipw", "weighted (IPW)"), ("matched", "matched pairs")):
            e = result.get(key)
            if e is not None:
                lines.append(f"  {label:<17} {points(e['estimate'])} points ({points(e['ci_low'])} to "
                             f"{points(e['ci_high'])})")
    else:
        lines.append("  adjusted          no headline: the adjusted comparison cannot be trusted on this data.")
        for guard in result["guards"]:
            lines += [f"    - {guard['message']}", f"      What to do: {guard['advice']}"]
        lines.append("    (`--json` keeps the untrusted figures for analysts, marked headline: false.)")
    for warning in warnings:
        lines += [f"    ! {warning.message}", f"      What to do: {warning.advice}"]
    lines.append(f"  Who the answer describes: {result['population']}.")
    lines += [f"  Note: {note}" for note in result.get("notes") or []]
    if result["headline"]:
        if result.get("sensitivity"):
            lines.append(f"  Robustness: {result['sensitivity']}")
        if result.get("e_value"):
            lines.append(f"  E-value: {result['e_value']}")
    for check in result.get("refutations") or []:
        lines.append(f"  Refutation ({check['name'].replace('_', ' ')}): {'passed' if check['passed'] else 'FAILED'}"
                     f" — {check['sentence']}")
    return "\n".join(lines) + "\n"


def _balance(result: Mapping[str, Any]) -> str:
    balance = result.get("balance")
    if balance is None or not len(balance) or "smd_after" not in balance:
        return ""
    return render_frames([(SMD_TITLE, balance[["covariate", "smd_before", "smd_after"]].round(3))])


def warnings_about(result: Result, about: str = "headline") -> list[Diagnostic]:
    """The Result's warnings about one figure (shown beside it; the footer repeats none of them)."""
    return [d for d in result.diagnostics if d.severity == "warning" and d.about == about]


def _renewal(result: Result, **_: Any) -> str:
    return (render_frames([("Renewal rate by participation level (95% Wilson intervals)", result["levels"].round(3))])
            + f"{result['renewals']:,} decided renewals ({result['engaged']:,} engaged):\n"
            + render_adjusted(result, groups="engaged minus not engaged", covariates=result["covariates"],
                              warnings=warnings_about(result))
            + _balance(result))


def _exposure(result: Result, **_: Any) -> str:
    p = result.params
    exposure, outcome = p["exposure"], p["outcome"]
    exposed = (f", {result['exposed']:,} with {exposure} in the {p['exposure_days']} days before the landmark"
               if result["exposed"] is not None else
               f" (how many had {exposure} in the {p['exposure_days']} days before the landmark is hidden)")
    rates = f"  rate: exposed {percent(result['rate_exposed'], missing=HIDDEN)}, not exposed " \
            f"{percent(result['rate_unexposed'], missing=HIDDEN)}\n"
    return (f"{count(result['members'])} eligible members{exposed}; {outcome} within {p['window_days']} days after "
            "it:\n" + rates + render_adjusted(result, groups="exposed minus not exposed",
                                              covariates=result.get("covariates") or [],
                                              warnings=warnings_about(result))
            + _balance(result))


def _survey(result: Result, **_: Any) -> str:
    kind = result.analysis.removeprefix("impact.")
    out = render_frames([
        (f"{kind.upper()} by participation level (activities in the {result['window_days']} days before each "
         f"answer; scale {result['scale']}; 95% intervals)", label_hidden(result["levels"].round(3), "answers")),
        ("Who answers: members by participation over the last year" + _response_words(result.get("response_test")),
         label_hidden(result["response"].round(3), "members")),
    ])
    ordinal, rho = result["ordinal"], result["spearman"]
    if ordinal is not None:
        out += (f"Ordinal logit (controls: {ordinal['controls']}): odds of a higher score x{ordinal['odds_ratio']:.2f} "
                f"({ordinal['ci_low']:.2f} to {ordinal['ci_high']:.2f}) per unit of ln(1 + activities) — an "
                "adjusted association.\n")
    if rho is not None and rho["rho"] is not None and rho["rho"] == rho["rho"]:  # None or NaN: not defined
        out += (f"Spearman correlation of participation with the score: {rho['rho']:.3f} ({rho['ci_low']:.3f} to "
                f"{rho['ci_high']:.3f}), over {result['answers']:,} answers of {result['members']:,} members — an "
                "association, not proof that taking part raises scores.\n")
    comparison = result.get("comparison")
    if comparison and comparison.get("reason"):
        out += f"Engaged against other members: not compared. {comparison['reason']}\n"
    elif comparison:
        out += (f"Engaged ({comparison['engaged_level']} level or above) against other members, on each member's "
                f"latest answer, in {comparison['scale']}:\n"
                + render_adjusted(comparison, groups="engaged minus not engaged", covariates=comparison["covariates"],
                                  warnings=warnings_about(result, "comparison")))
    return out


def _response_words(test: Mapping[str, Any] | None) -> str:
    """What the response rates per level say, for the table's title."""
    if not test or test.get("differs") is None:
        return ""
    if test["differs"]:
        return f" (response rates differ by level, chi-square p = {test['p']:.2g}: read each score with that in mind)"
    return f" (no clear difference in response rates by level, chi-square p = {test['p']:.2g})"


def _retention(result: Result, **_: Any) -> str:
    rank = result["logrank"]
    out = render_frames([
        (f"Retention by participation level in the first {result['landmark_days']} days (Kaplan–Meier, from then)",
         result["levels"].round(3)),
        ("Cox model of churn: hazard ratios (below 1: fewer churn), adjusted for the covariates",
         result["cox"].round(3)),
    ])
    if rank["chi2"] is None or rank["chi2"] != rank["chi2"]:
        out += "Log-rank test across levels: not computed — every account is in one level.\n"
    else:
        out += f"Log-rank test across levels: chi-square {rank['chi2']:.2f} on {rank['df']} df, p = {rank['p']:.2g}.\n"
    out += render_blocking(result.blocking(), "the Cox model's hazard ratios")
    for group in result["cox_left_out"]:
        out += (f"Left out of the Cox model ({group['accounts']:,} accounts): {group['group']} has no churn, so its "
                "hazard ratio cannot be estimated.\n")
    return out


def _upsell(result: Result, **_: Any) -> str:
    rate, value = result["expansion_rate"], result["expansion_value"]
    out = (f"{result['matched']:,} of {result['participants']:,} participating accounts matched "
           f"({result['distinct_controls']:,} distinct controls); expansion within {result['horizon_days']} days of "
           "the date each started to participate:\n"
           f"  expanded: participants {percent(rate['participants'])}, matched {percent(rate['controls'])}; "
           f"difference {points(rate['difference'])} points ({points(rate['ci_low'])} to {points(rate['ci_high'])})\n"
           f"  expansion value per account: {money(value['participants'])} vs {money(value['controls'])}; "
           f"difference {value['difference']:+,.0f} ({value['ci_low']:+,.0f} to {value['ci_high']:+,.0f})\n")
    if len(result["balance"]):
        out += render_frames([("Balance of the matched accounts (standardised mean differences)",
                               result["balance"].round(3))])
    return out + render_blocking(result.blocking(), "the matched difference")


def _experiment(result: Result, **_: Any) -> str:
    srm = result["srm"]
    counts = ", ".join(f"{v}: {count(n)}" for v, n in srm["counts"].items())
    out = (f"Sample-ratio check: {counts}; "
           + ("chi-square withheld" if srm["p"] is None else f"chi-square p = {srm['p']:.3g}")
           + (" — MISMATCH: assignment or exposure logging is broken; do not trust the comparison."
              if srm["mismatch"] else " (no mismatch).") + "\n")
    comparisons = result["comparisons"].round(4)
    out += render_frames([
        (f"Conversion within {result.params['window_days']} days of exposure, per variant (95% Wilson intervals; "
         "units whose window has not elapsed are left out)", label_hidden(result["variants"].round(4), "analysed")),
        (f"Against {result['control']}: difference (Newcombe interval), z-test p, Holm-adjusted p; CUPED on prior "
         "activity where available", label_hidden(comparisons, "difference") if len(comparisons) else comparisons),
    ])
    mde = result["minimum_detectable_effect"]
    return out + ("Minimum detectable effect at this size (80% power, 5% two-sided): "
                  + ("withheld." if mde is None else f"{100 * mde:.1f} percentage points.") + "\n")


def _campaign(result: Result, **_: Any) -> str:
    control = str(result["control"])  # a control arm's name, or "(accounts never reached)", bracketed already
    compared = control if control == "(accounts never reached)" else f"({control})"
    out = (f"Campaign {result['campaign']}: {result['accounts_reached']:,} accounts reached ({result['cohorts']} start "
           f"months) against {result['accounts_compared']:,} {compared}, {result['months']}; "
           f"{result['measure']} of {', '.join(result['outcomes'])} per account and month.\n")
    out += render_frames([("Event study: reached minus comparison, by months since the start (−1 is the reference; "
                           "95% intervals)", result["event_times"].round(3))])
    for label, key in (("Event study, average after the start", "event_study"), ("Two-way fixed-effects DiD", "did")):
        e = result[key]
        out += f"{label}: {e['estimate']:+.3f} ({e['ci_low']:+.3f} to {e['ci_high']:+.3f}), p = {e['p']:.3g}.\n"
    out += str(result["pre_trend_sentence"]) + "\n"
    out += render_blocking(result.blocking(), "the campaign's difference-in-differences")
    wording = str(result["wording"])
    return out + (f"This is an {wording}.\n" if not wording.startswith("not credible") else
                  f"Read with care: {wording}.\n")


def _feedback(result: Result, limit: int = 20, **_: Any) -> str:
    table = result["contributors"]
    return render_frames([("Feedback contributors (members with consent), shipped first",
                           table.head(limit).round(0))]) + (
        f"{len(table):,} contributors with consent; {result['withheld_without_consent']:,} without consent are not "
        "listed.\n")


def _plan(result: Result, **_: Any) -> str:
    baseline, alpha, power = result["baseline"], result["alpha"], result["power"]
    if "target" in result:
        return (f"To detect {percent(baseline)} -> {percent(result['target'])} with {100 * power:.0f}% power at a "
                f"two-sided {alpha:g}: {result['units_per_arm']:,} units per arm (pooled normal; "
                f"{result['units_per_arm_arcsine']:,} by Cohen's h).\n")
    mde = result["minimum_detectable_effect"]
    return (f"With {result['units_per_arm']:,} units per arm and a {percent(baseline)} baseline, the smallest increase "
            f"detected with {100 * power:.0f}% power is {100 * mde:.2f} percentage points "
            f"(to {100 * (baseline + mde):.2f}%).\n")


for _name, _renderer in (("impact.renewal", _renewal), ("impact.exposure", _exposure), ("impact.nps", _survey),
                         ("impact.csat", _survey), ("impact.retention", _retention), ("impact.upsell", _upsell),
                         ("impact.experiment", _experiment), ("impact.campaign", _campaign),
                         ("impact.feedback", _feedback), ("impact.plan", _plan)):
    RENDERERS.register(_name, _renderer)
