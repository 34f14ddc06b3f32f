"""The summary: what the community is worth, in a few cards — first in the report and ``commetrics summary``.

Each :class:`Card` is one figure with its interval (or range), one plain sentence and the id of the
report section that holds the same figure: members against non-members (conversion), revenue
credited to community touchpoints (attribution), renewal adjusted for selection bias (impact), the
NPS gap by participation, support deflection, the programs with the most credited revenue and the
behaviours of a member's first days associated with conversion (drivers).

Where it sits: a function of the reports layer over the Engine's published Results, not an analysis
of its own. The report computes its sections' Results once and hands the same objects to
:func:`summarize`, so every number of the summary *is* the number of its section; ``commetrics
summary`` makes exactly the same Engine calls (:func:`summary_results`), so its ``--json`` agrees
too. An analysis ``summary`` in ``metrics`` would have had to run the other analyses from inside the
analyses layer, and the report would have computed everything twice.

Wording follows the statistics (``tests/test_summary.py`` enumerates the rules): a difference is
"associated with", never "caused by"; a difference whose 95% interval spans zero is "no clear
difference"; attribution is "credit allocation, not cause"; a guard that withholds an adjusted
figure leaves the raw one, said to be raw; a behaviour is "associated with" conversion, adjusted for the
others, never its cause.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..config import Config
from ..errors import NotEnoughDataError
from ..progress import Reporter
from ..results import Result, jsonable
from .format import count, is_missing, money, percent, points
from .labels import words

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["Card", "Omitted", "Summary", "SummaryResults", "build_summary", "direction", "drivers_conversion",
           "run_attribution", "run_conversion", "run_drivers", "summarize", "summary_results"]

#: The cohort label of the non-member baseline in a conversion's rates (``metrics.conversion.BASELINE_LABEL``).
BASELINE = "CRM contacts who never joined"


@dataclass(frozen=True)
class Card:
    """One headline: ``value`` (a number in words), ``detail`` (its interval or range), ``sentence`` and the
    report ``section`` that shows the same figure; ``figures`` holds the numbers as published."""

    key: str
    title: str
    value: str
    detail: str
    sentence: str
    section: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Omitted:
    """A card the data cannot fill, and why, in one line."""

    key: str
    title: str
    reason: str


@dataclass(frozen=True)
class Summary:
    """The cards, the ones left out with their reasons, and where the numbers come from."""

    workspace: str
    as_of: datetime
    cards: tuple[Card, ...]
    omitted: tuple[Omitted, ...] = ()
    #: when the figures are the store's read copy (another command was writing): the data as of which load
    freshness: str = ""

    def card(self, key: str) -> Card | None:
        return next((c for c in self.cards if c.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (``commetrics summary --json``): no NaN, dates in ISO 8601."""
        out: dict[str, Any] = jsonable({"workspace": self.workspace, "as_of": self.as_of,
                                        "cards": [asdict(c) for c in self.cards],
                                        "omitted": [asdict(o) for o in self.omitted],
                                        "freshness": self.freshness})
        return out


@dataclass
class SummaryResults:
    """The published Results the summary reads; ``reasons`` say why one is missing (not enough data)."""

    conversion: Result | None = None
    conversion_title: str = ""
    attribution: Result | None = None
    currency: str | None = None
    renewal: Result | None = None
    nps: Result | None = None
    community: Result | None = None
    drivers: Result | None = None
    reasons: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# The Engine calls (shared with the report, so the numbers are the same)
# ------------------------------------------------------------------------------------------------


def run_conversion(engine: Engine, name: str, key: str | None, moment: datetime) -> Result:
    """The conversion Result the report shows for ``name`` broken down by ``key`` (``None``: all members)."""
    return engine.conversion(name, by=[key] if key else [], as_of=moment, curves=True)


def run_attribution(engine: Engine, moment: datetime, currency: str | None) -> Result:
    """Every attribution model with bootstrap intervals, as the report shows it."""
    return engine.attribution("all", as_of=moment, ci=True, currency=currency)


def drivers_conversion(config: Config) -> str:
    """The conversion whose drivers the report and the summary show: ``drivers.conversion``, else
    ``summary.conversion``."""
    return config.drivers.conversion or config.summary.conversion


def run_drivers(engine: Engine, moment: datetime) -> Result:
    """The behaviours associated with :func:`drivers_conversion`, as the report shows them."""
    return engine.drivers(drivers_conversion(engine.config), as_of=moment)


def _try(reasons: dict[str, str], key: str, call: Any) -> Any:
    try:
        return call()
    except NotEnoughDataError as error:
        reasons[key] = str(error)
        return None


def _conversion_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    config = engine.config
    name = config.summary.conversion
    if name in config.conversions:
        out.conversion_title = config.conversions[name].title(name)
        out.conversion = _try(out.reasons, "conversion", lambda: run_conversion(engine, name, None, moment))
    else:
        out.reasons["conversion"] = (f"summary.conversion names {name!r}, which is not a conversion of "
                                     "commetrics.toml; set it to one of " + ", ".join(config.conversions) + ".")


def _attribution_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    from ..metrics.attribution import outcome_currencies

    outcomes = engine.config.attribution.outcomes
    currencies = outcome_currencies(engine.ibis(), outcomes, moment)
    if not currencies:
        out.reasons["attribution"] = f"No {', '.join(outcomes)} outcomes with a value in the store yet."
        return
    chosen = currencies[0] if len(currencies) == 1 else None
    out.currency = None if chosen == "(none)" else chosen
    if len(currencies) > 1:
        out.reasons["attribution"] = (f"Revenue is recorded in {len(currencies)} currencies "
                                      f"({', '.join(currencies)}); the report credits each apart.")
    else:
        out.attribution = _try(out.reasons, "attribution", lambda: run_attribution(engine, moment, None))


def _renewal_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    out.renewal = _try(out.reasons, "renewal", lambda: engine.impact("renewal", as_of=moment))


def _nps_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    out.nps = _try(out.reasons, "nps", lambda: engine.impact("nps", as_of=moment))


def _community_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    out.community = _try(out.reasons, "deflection", lambda: engine.community_metrics(as_of=moment))


def _drivers_part(engine: Engine, moment: datetime, out: SummaryResults) -> None:
    out.drivers = drivers_result(engine, moment, out.reasons)


#: The summary's parts: each runs the Engine calls of one card into a :class:`SummaryResults`. The dashboard
#: starts them side by side before it reads the summary, so that its Engines find them computed (or being
#: computed: an Engine waits for the same question asked by another one instead of computing it again).
SUMMARY_PARTS: dict[str, Callable[[Engine, datetime, SummaryResults], None]] = {
    "conversion": _conversion_part, "attribution": _attribution_part, "renewal": _renewal_part,
    "nps": _nps_part, "community": _community_part, "drivers": _drivers_part}


def summary_results(engine: Engine, moment: datetime) -> SummaryResults:
    """Run what the summary needs (:data:`SUMMARY_PARTS`, in turn), with the same calls as the report's sections."""
    out = SummaryResults()
    for part in SUMMARY_PARTS.values():
        part(engine, moment, out)
    return out


def drivers_result(engine: Engine, moment: datetime, reasons: dict[str, str]) -> Result | None:
    """:func:`run_drivers`, or ``None`` with the reason under ``reasons["drivers"]`` (a conversion that is not
    defined or counts accounts, outcomes the store does not hold, too few members)."""
    from ..errors import InputError

    name = drivers_conversion(engine.config)
    if name not in engine.config.conversions:
        reasons["drivers"] = (f"drivers.conversion names {name!r}, which is not a conversion of commetrics.toml; set "
                              "it to one of " + ", ".join(engine.config.conversions) + ".")
        return None
    try:
        return run_drivers(engine, moment)
    except NotEnoughDataError as error:
        reasons["drivers"] = str(error)
    except InputError as error:  # an account conversion: its members' behaviours are not the unit
        reasons["drivers"] = f"{error} Set drivers.conversion to a conversion of members."
    return None


# ------------------------------------------------------------------------------------------------
# Wording
# ------------------------------------------------------------------------------------------------


def direction(low: Any, high: Any) -> Literal["higher", "lower", "unclear"]:
    """``higher``/``lower`` when the 95% interval lies wholly above/below zero, else ``unclear``."""
    if is_missing(low) or is_missing(high):
        return "unclear"
    if float(low) > 0:
        return "higher"
    if float(high) < 0:
        return "lower"
    return "unclear"


def _interval(low: Any, high: Any, unit: str = "points") -> str:
    return f"95% interval {points(low)} to {points(high)} {unit}"


def _number(value: Any) -> float | None:
    return None if is_missing(value) else float(value)


# ------------------------------------------------------------------------------------------------
# The cards
# ------------------------------------------------------------------------------------------------


def _conversion(results: SummaryResults, name: str) -> Card | Omitted:
    title = "Members against non-members"
    result = results.conversion
    if result is None:
        return Omitted("conversion", title, results.reasons.get("conversion", "No conversion result."))
    rates: pd.DataFrame = result["rates"]
    what = results.conversion_title or words(name)
    missing = [d for d in result.diagnostics if d.name == "unknown_outcome"]
    outcomes = (result.get("definition") or {}).get("outcomes") or ()
    if missing and len(missing) >= len(outcomes) and not rates["converters"].fillna(0).any():
        return Omitted("conversion", title, f"{what}: the store holds no {', '.join(outcomes)} outcome yet, so there "
                       "is nothing to compare (set summary.conversion to a conversion this community records).")
    members = rates[rates["cohort"] == "all"]
    baseline = rates[rates["cohort"] == BASELINE]
    compared = members[members["diff"].notna() & members["rate"].notna()] if "diff" in members else members[:0]
    section = f"conversion-{name}"
    if len(compared) and len(baseline):
        row = compared.sort_values("window_days").iloc[-1]
        window = int(row["window_days"])
        base = baseline[baseline["window_days"] == window].iloc[0]
        way = direction(row["diff_low"], row["diff_high"])
        size = points(row["diff"], sign=False)
        said = {"higher": f"membership is associated with a rate {size} points higher",
                "lower": f"membership is associated with a rate {size} points lower",
                "unclear": "no clear difference between members and non-members"}[way]
        sentence = (f"{what}: {percent(row['rate'])} of members within {window} days, against "
                    f"{percent(base['rate'], missing='a hidden share')} of CRM contacts who never joined — {said}. "
                    "An association: members may differ from non-members in other ways.")
        return Card("conversion", title, f"{points(row['diff'])} points", _interval(row["diff_low"], row["diff_high"]),
                    sentence, section, {"conversion": name, "window_days": window, "members_rate": row["rate"],
                                        "non_members_rate": base["rate"], "difference": row["diff"],
                                        "ci_low": row["diff_low"], "ci_high": row["diff_high"], "direction": way})
    shown = members[members["rate"].notna()]
    if not len(shown):
        return Omitted("conversion", title, f"{what}: no rate can be published yet (every window is in progress or "
                       "hidden to protect small groups).")
    row = shown.sort_values("window_days").iloc[-1]
    window = int(row["window_days"])
    return Card("conversion", f"{what} (members)", percent(row["rate"]),
                f"95% interval {percent(row['ci_low'])} to {percent(row['ci_high'])}",
                f"{percent(row['rate'])} of members within {window} days. Load CRM contacts who never joined to "
                "compare with non-members.", section,
                {"conversion": name, "window_days": window, "members_rate": row["rate"], "ci_low": row["ci_low"],
                 "ci_high": row["ci_high"]})


def _totals(result: Result) -> dict[str, float]:
    totals: Mapping[str, Mapping[str, Any]] = result.get("totals") or {}
    return {m: float(t["value"]) for m, t in totals.items() if not is_missing(t.get("value"))}


def _model_label(model: str) -> str:
    from ..metrics.attribution import ATTRIBUTION_MODELS

    return ATTRIBUTION_MODELS.get(model).label if model in ATTRIBUTION_MODELS else words(model)


def _attribution(results: SummaryResults, config: Config) -> list[Card | Omitted]:
    title, programs_title = "Revenue credited to the community", "Programs with the most credited revenue"
    result = results.attribution
    if result is None:
        reason = results.reasons.get("attribution", "No attribution result.")
        return [Omitted("attribution", title, reason), Omitted("programs", programs_title, reason)]
    currency = results.currency
    totals = _totals(result)
    model = config.summary.attribution_model if config.summary.attribution_model in totals else next(iter(totals), "")
    without = _number(result.get("value_without_touch"))
    out: list[Card | Omitted] = []
    if totals and model in totals and not totals[model]:
        reason = (f"No revenue to credit: no {', '.join(result.params['outcomes'])} outcome with a value followed a "
                  f"community touch within {result.params['lookback_days']} days.")
        return [Omitted("attribution", title, reason), Omitted("programs", programs_title, reason)]
    if not totals or model not in totals:
        out.append(Omitted("attribution", title, "The credited total is hidden: too few people converted after a "
                           "community touch to publish it."))
    else:
        credited = totals[model]
        low, high = min(totals.values()), max(totals.values())
        share = credited and without is not None and without / (credited + without)
        same = math.isclose(low, high, rel_tol=1e-6)
        spread = ("the same total under every model (they differ only in how they split it)" if same
                  else f"{money(low, currency)} to {money(high, currency)} across models")
        detail = f"the same total under all {len(totals)} models" if same else spread
        unattributed = (f" {percent(share)} of revenue ({money(without, currency)}) had no community touch in the "
                        f"{result.params['lookback_days']} days before it and is not credited." if without is not None
                        else " How much revenue had no community touch is hidden (too few people).")
        sentence = (f"Credit allocation, not cause: the {_model_label(model)} model credits "
                    f"{money(credited, currency)} of revenue to community touchpoints before purchases and renewals "
                    f"— {spread}.{unattributed}")
        out.append(Card("attribution", title, money(credited, currency), detail, sentence,
                        "attribution-1", {"model": model, "currency": currency, "credited": credited,
                                          "range_low": low, "range_high": high, "unattributed": without,
                                          "unattributed_share": share if without is not None else None}))
    frame: pd.DataFrame = result["models"]
    if "suppressed" in frame:
        frame = frame[~frame["suppressed"].fillna(False).astype(bool)]
    lead = frame[(frame["model"] == model) & frame["value"].notna()].sort_values("value", ascending=False)
    top = lead.head(config.summary.top_programs)
    if not len(top):
        out.append(Omitted("programs", programs_title, "Every program's credit is hidden: too few people each."))
        return out
    by = words(result.params.get("by", "program"))
    ranked = []
    for row in top.to_dict(orient="records"):
        values = frame.loc[frame["class"] == row["class"], "value"].astype(float)
        ranked.append({"program": str(row["class"]), "value": float(row["value"]),
                       "range_low": float(values.min()), "range_high": float(values.max())})
    listing = "; ".join(f"{words(p['program'])} {money(p['value'], currency)} ({money(p['range_low'])}–"
                        f"{money(p['range_high'])} across models)" for p in ranked)
    first = ranked[0]
    out.append(Card("programs", programs_title, words(first["program"]),
                    f"{money(first['value'], currency)}; {money(first['range_low'])}–{money(first['range_high'])} "
                    "across models",
                    f"Credited revenue by {by} ({_model_label(model)} model; credit allocation, not cause): {listing}.",
                    "attribution-1", {"model": model, "currency": currency, "programs": ranked}))
    return out


def _adjusted_card(result: Result | Mapping[str, Any] | None, reasons: dict[str, str], *, key: str, title: str,
                   section: str, phrase: Mapping[str, str], unit: str, covariates: list[str]) -> Card | Omitted:
    """The adjusted difference (raw beside it), or the raw one alone when a guard withholds the adjusted."""
    if result is None:
        return Omitted(key, title, reasons.get(key, "Not enough data."))
    raw, adjusted = result.get("raw"), result.get("adjusted")
    if raw is None:
        return Omitted(key, title, "The comparison is withheld: the groups are too small to publish.")
    controls = ", ".join(words(c.removeprefix("log:")) for c in covariates) or "nothing"
    if result.get("headline") and adjusted is not None:
        way = direction(adjusted["ci_low"], adjusted["ci_high"])
        said = phrase[way].format(size=points(adjusted["estimate"], sign=False))
        sentence = (f"Compared like with like ({controls}) to adjust for selection bias, {said} (raw difference "
                    f"{points(raw['difference'])}). An adjusted association, not proof of cause.")
        return Card(key, title, f"{points(adjusted['estimate'])} {unit}",
                    f"{_interval(adjusted['ci_low'], adjusted['ci_high'], unit)}; raw {points(raw['difference'])}",
                    sentence, section, {"adjusted": adjusted["estimate"], "ci_low": adjusted["ci_low"],
                                        "ci_high": adjusted["ci_high"], "raw": raw["difference"],
                                        "raw_ci_low": raw["ci_low"], "raw_ci_high": raw["ci_high"],
                                        "headline": True, "direction": way})
    guards = result.get("guards") or []
    why = guards[0]["message"] if guards else "a check of the adjustment failed"
    way = direction(raw["ci_low"], raw["ci_high"])
    return Card(key, title, f"{points(raw['difference'])} {unit} (raw)",
                _interval(raw["ci_low"], raw["ci_high"], unit),
                f"Raw difference only — no adjusted figure: {why} The raw difference mixes any effect of taking part "
                "with how participants differ from the others" + (
                    "; its interval includes zero: no clear difference." if way == "unclear" else "."),
                section, {"adjusted": None, "raw": raw["difference"], "raw_ci_low": raw["ci_low"],
                          "raw_ci_high": raw["ci_high"], "headline": False, "direction": way})


def _renewal(results: SummaryResults) -> Card | Omitted:
    result = results.renewal
    return _adjusted_card(result, results.reasons, key="renewal", title="Renewal of engaged accounts",
                          section="impact-renewal", phrase={
                              "higher": "engaged accounts renewed {size} points more often than comparable accounts",
                              "lower": "engaged accounts renewed {size} points less often than comparable accounts",
                              "unclear": "there is no clear difference in renewal between engaged accounts and "
                                         "comparable ones"},
                          unit="points", covariates=list(result.get("covariates") or []) if result else [])


def _nps(results: SummaryResults) -> Card | Omitted:
    title = "NPS gap by participation"
    result = results.nps
    if result is None:
        return Omitted("nps", title, results.reasons.get("nps", "Not enough NPS answers."))
    comparison = result.get("comparison")
    if not comparison or comparison.get("reason"):
        reason = comparison.get("reason") if comparison else "The engaged-against-others comparison is withheld."
        return Omitted("nps", title, str(reason))
    card = _adjusted_card(comparison, results.reasons, key="nps", title=title, section="impact-nps",
                          phrase={"higher": "engaged members' NPS is {size} points above comparable members'",
                                  "lower": "engaged members' NPS is {size} points below comparable members'",
                                  "unclear": "there is no clear NPS difference between engaged members and "
                                             "comparable ones"}, unit="NPS points",
                          covariates=list(comparison.get("covariates") or []))
    return card


def _deflection(results: SummaryResults, config: Config) -> Card | Omitted:
    title = "Support deflection"
    result = results.community
    if result is None:
        return Omitted("deflection", title, results.reasons.get("deflection", "No community figures."))
    table: pd.DataFrame = result["metrics"]
    row = table[table["metric"] == "accepted_answer_rate"]
    answers = _number(row["numerator"].iloc[0]) if len(row) else None
    if answers is None or (len(row) and bool(row.get("suppressed", pd.Series([False])).iloc[0])):
        return Omitted("deflection", title, "Too few accepted community answers to publish.")
    if not answers:
        return Omitted("deflection", title, "No question has an accepted community answer in the store yet (load "
                       "accepted_answer outcomes, e.g. from a forum export).")
    cost, currency = config.summary.cost_per_ticket, config.summary.currency
    figures = {"accepted_answers": answers, "cost_per_ticket": cost, "currency": currency,
               "value": answers * cost if cost else None}
    if not cost:
        return Card("deflection", title, f"{count(answers)} answers", "accepted community answers to date",
                    f"{count(answers)} questions got an accepted community answer. Set summary.cost_per_ticket to "
                    "price them as support tickets avoided.", "community", figures)
    return Card("deflection", title, money(answers * cost, currency),
                f"{count(answers)} accepted answers × {money(cost, currency)} per ticket",
                f"{count(answers)} questions got an accepted community answer to date; counted as support tickets "
                f"avoided at {money(cost, currency)} each (summary.cost_per_ticket) — an estimate, not a measurement.",
                "community", figures)


def _drivers(results: SummaryResults, config: Config) -> Card | Omitted:
    """The behaviour most associated with conversion (adjusted for the others), or that none stands out."""
    title = "Behaviours associated with conversion"
    result = results.drivers
    if result is None:
        return Omitted("drivers", title, results.reasons.get("drivers", "No drivers result."))
    blocking = [d for d in result.diagnostics if d.severity == "blocking"]
    if blocking:
        return Omitted("drivers", title, f"{blocking[0].message} {blocking[0].advice}".strip())
    name = str(result["conversion"])
    what = config.conversions[name].title(name) if name in config.conversions else words(name)
    table: pd.DataFrame = result["drivers"]
    associated = table[table["associated"] != ""]
    days, window = int(result["days"]), int(result["window_days"])
    figures = {"conversion": name, "days": days, "window_days": window, "eligible": result["eligible"],
               "compared": len(table), "behaviours": [
                   {key: row[key] for key in ("behaviour", "associated", "difference", "diff_low", "diff_high",
                                              "odds_ratio", "or_low", "or_high")}
                   for row in associated.to_dict(orient="records")]}
    controls = ", ".join(words(c) for c in result.params.get("controls") or ()) or "nothing else"
    if not len(associated):
        return Card("drivers", title, "None stands out", f"{len(table)} behaviours compared, adjusted for each other",
                    f"{what}: no behaviour of a member's first {days} days is clearly associated with converting in "
                    f"the next {window} days once the others and {controls} are taken into account.", "drivers",
                    figures)
    top = associated.iloc[0]
    way = "more" if top["associated"] == "more" else "less"
    others = "; ".join(f"{words(r['behaviour'])} ({points(r['difference'])})" for r in figures["behaviours"][1:])
    sentence = (f"{what}: members who had {words(top['behaviour'])} in their first {days} days converted "
                f"{points(top['difference'], sign=False)} points {way} often in the next {window} days than "
                f"comparable members without it, adjusted for the other behaviours and {controls}"
                + (f"; also associated: {others}" if others else "")
                + ". An association, not proof of cause: members choose what they do.")
    return Card("drivers", title, words(top["behaviour"]),
                f"{points(top['difference'])} points; {_interval(top['diff_low'], top['diff_high'])}", sentence,
                "drivers", figures)


def _tidy(value: Any) -> Any:
    """Figures rounded to 6 decimals: the store adds money in parallel, so the last bits of a float sum vary
    from run to run, and the same summary must print the same JSON."""
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tidy(v) for v in value]
    return value


def summarize(results: SummaryResults, config: Config, *, workspace: str, as_of: datetime) -> Summary:
    """The summary's cards from the published Results (see the module docstring for the wording rules)."""
    items: list[Card | Omitted] = [_conversion(results, config.summary.conversion)]
    attribution = _attribution(results, config)
    items += [attribution[0], _renewal(results), _nps(results), _deflection(results, config), *attribution[1:],
              _drivers(results, config)]
    cards = tuple(replace(i, figures=_tidy(jsonable(i.figures))) for i in items if isinstance(i, Card))
    return Summary(workspace=workspace, as_of=as_of, cards=cards,
                   omitted=tuple(i for i in items if isinstance(i, Omitted)))


def build_summary(engine: Engine, as_of: datetime | None = None) -> Summary:
    """The summary of ``engine``'s workspace (``commetrics summary``): the same Engine calls as the report."""
    moment = engine.as_of(as_of)
    with Reporter(engine.progress, "summary").stage("figures"):
        results = summary_results(engine, moment)
    summary = summarize(results, engine.config, workspace=str(engine.workspace.directory), as_of=moment)
    return replace(summary, freshness=engine.data_version().note())
