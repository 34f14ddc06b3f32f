"""Assemble the report from the Engine's published Results (the HTML is ``reports.html``).

Every figure comes from a :class:`~commetrics.results.Result` as the Engine published it — consent and
small-cell suppression applied there, not here — so the report shows exactly what the command line
and the dashboard show. A section the store cannot answer (not enough data) becomes a one-line
reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import NotEnoughDataError
from ..metrics.conversion_base import shared_bases
from ..progress import Advance, Reporter
from ..results import Result
from .html import (
    AttributionSection,
    ConversionGroup,
    ConversionSection,
    DriversSection,
    ImpactSection,
    ReportData,
    ScoresSection,
)
from .html import render_html as render_html
from .labels import cohort_key, words
from .summary import SummaryResults, drivers_result, run_attribution, run_conversion, summarize

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["build_report", "write_report"]

#: The roll-up of a time cohort key whose cells would mostly be hidden: month → quarter → year.
ROLL_UP = {"join_month": "join_quarter", "join_week": "join_month", "join_quarter": "join_year"}


def _has_outcomes(engine: Engine, outcomes: Sequence[str]) -> bool:
    o = engine.ibis().table("outcomes")
    return bool(o.filter(o.type.isin(list(outcomes))).count().execute())


def _hidden_share(result: Result) -> float:
    """The share of a breakdown's mature cells whose rate is hidden."""
    rates = result["rates"]
    mature = rates[rates["eligible"].fillna(1) > 0] if len(rates) else rates
    return float(mature["rate"].isna().mean()) if len(mature) else 0.0


#: A time breakdown with more cohorts than this is rolled up (the report stays readable at any history length).
MAX_TIME_COHORTS = 12


def _too_fine(result: Result) -> bool:
    rates = result["rates"]
    return _hidden_share(result) > 0.5 or (len(rates) > 0 and rates["cohort"].nunique() > MAX_TIME_COHORTS)


def _breakdown(engine: Engine, name: str, key: str, moment: datetime) -> tuple[Result, str]:
    """The conversion by ``key``, rolled up (month → quarter → year) while most of its cells would be hidden or
    there are more than :data:`MAX_TIME_COHORTS` cohorts."""
    result = run_conversion(engine, name, key, moment)
    used = key
    while _too_fine(result) and used in ROLL_UP:
        coarser = run_conversion(engine, name, ROLL_UP[used], moment)
        result, used = coarser, ROLL_UP[used]
    return result, used


def _rolled_up(keys: Sequence[str]) -> list[str]:
    """``keys`` and every roll-up a breakdown may fall back to (week → month → quarter → year)."""
    out = list(dict.fromkeys(keys))
    for key in out:  # grows while it is read: each roll-up's own roll-up follows
        if key in ROLL_UP and ROLL_UP[key] not in out:
            out.append(ROLL_UP[key])
    return out


def _section(name: str, description: str, result: Result, key: str | None) -> ConversionSection:
    return ConversionSection(name=name, description=description, by=key, table=result["rates"],
                             curves=result["curves"], timing=result["time_to_conversion"])


def build_report(
    engine: Engine,
    *,
    conversions: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    as_of: datetime | None = None,
    title: str = "Community value report",
) -> ReportData:
    """The report's content: the summary; impact, attribution; for each conversion all members and one
    breakdown per cohort key (default ``conversion.report_by``, rolled up where most cells would be
    hidden); community health and scores.

    Every figure comes from the Engine's published Results, and the summary reads the very Results its
    sections show. A section the store cannot fill becomes one line under "Not shown".
    """
    moment = engine.as_of(as_of)
    config = engine.config
    keys = tuple(by) if by is not None else config.conversion.report_by
    k = config.privacy.min_cell_size
    names = list(conversions) if conversions else list(config.conversions)
    groups: list[ConversionGroup] = []
    definitions = []
    notes = ["Staff are excluded; members who converted before their anchor are counted apart as existing "
             "customers.", _identity_note(engine)]
    omitted: list[str] = []
    inputs = SummaryResults()
    # each conversion and breakdown, attribution, impact, health, scores, drivers
    sections = len(names) * (1 + len(keys)) + 5
    # each conversion's per-member base is built once, with every key and roll-up, for all its tables and curves
    with Reporter(engine.progress, "report").stage("sections", total=sections, unit="sections") as advance, \
            shared_bases(_rolled_up(keys)):
        computed = _counter(advance)
        for name in names:
            spec = engine.conversion_spec(name)
            entry = config.conversions.get(name)
            label = entry.title(name) if entry else words(name)
            if not _has_outcomes(engine, spec.outcomes):
                omitted.append(f"{label}: no {', '.join(spec.outcomes)} outcomes in the store yet.")
                continue
            definitions.append({"name": name, "label": label, "description": spec.description, "owner": spec.owner,
                                "outcomes": list(spec.outcomes), "anchor": spec.anchor, "windows": list(spec.windows),
                                "unit": spec.unit})
            overall = run_conversion(engine, name, None, moment)
            computed(label)
            if name == config.summary.conversion:
                inputs.conversion, inputs.conversion_title = overall, label
            parts, group_notes = [_section(name, spec.description, overall, None)], []
            for key in keys:
                result, used = _breakdown(engine, name, key, moment)
                if used != key:
                    group_notes.append(f"By {cohort_key(key)}: rolled up to {cohort_key(used)}, because most "
                                       f"{cohort_key(key)} cohorts "
                                       f"would be hidden (fewer than {k} people) or there are more than "
                                       f"{MAX_TIME_COHORTS} of them. `commetrics conversion {name} --by {key}` lists "
                                       "them all.")
                parts.append(_section(name, spec.description, result, used))
                computed(f"{label} by {cohort_key(key)}")
            if any(len(p.table) and p.table["rate"].isna().any() for p in parts):
                group_notes.append(f"Hidden figures protect groups of fewer than {k} people, converters included, "
                                       "and any figure that would let one be worked out from a total.")
            groups.append(ConversionGroup(name=name, label=label, description=spec.description,
                                          definition=definitions[-1], parts=parts, notes=group_notes))
        if inputs.conversion is None and config.summary.conversion in config.conversions:
            name = config.summary.conversion
            inputs.conversion_title = config.conversions[name].title(name)
            try:
                inputs.conversion = run_conversion(engine, name, None, moment)
            except NotEnoughDataError as error:
                inputs.reasons["conversion"] = str(error)
        attribution = _attribution(engine, moment, notes, omitted, inputs)
        computed("attribution")
        impact = _impact(engine, moment, omitted, inputs)
        computed("impact")
        try:
            inputs.community = engine.community_metrics(as_of=moment)
        except NotEnoughDataError as error:
            inputs.reasons["deflection"] = str(error)
            omitted.append(f"Community health: {error}")
        computed("community health")
        scores = _scores(engine, moment, omitted)
        computed("scores")
        drivers = _drivers(engine, moment, omitted, inputs)
        computed("behaviours associated with conversion")
    summary = replace(summarize(inputs, config, workspace=str(engine.workspace.directory), as_of=moment),
                      freshness=engine.data_version().note())
    return ReportData(title=title, workspace=str(engine.workspace.directory), as_of=moment,
                      generated_at=datetime.now(UTC).replace(microsecond=0),
                      timezone=config.reporting.timezone, definitions=definitions, conversions=groups,
                      summary=summary, notes=[n for n in notes if n], omitted=omitted, attribution=attribution,
                      scores=scores, impact=impact, drivers=drivers,
                      community=inputs.community["metrics"] if inputs.community is not None else None,
                      cost_per_ticket=config.summary.cost_per_ticket, currency=config.summary.currency, k=k)


def _drivers(engine: Engine, moment: datetime, omitted: list[str], inputs: SummaryResults) -> DriversSection | None:
    """The behaviours associated with the drivers' conversion (``drivers.conversion``, else the summary's); the
    same Result goes to the summary."""
    inputs.drivers = drivers_result(engine, moment, inputs.reasons)
    if inputs.drivers is None:
        omitted.append(f"Behaviours associated with conversion: {inputs.reasons['drivers']}")
        return None
    name = str(inputs.drivers["conversion"])
    entry = engine.config.conversions.get(name)
    return DriversSection(result=inputs.drivers, label=entry.title(name) if entry else words(name))


def _counter(advance: Advance) -> Callable[[str], None]:
    """``computed(detail)``: one more section done, named by ``detail``."""
    done = 0

    def computed(detail: str) -> None:
        nonlocal done
        done += 1
        advance(done, detail=detail)

    return computed


def _identity_note(engine: Engine) -> str:
    """What a person is in this report: resolved people, or members when identities were not resolved."""
    stale = engine.identity_note()
    people = int(engine.ibis().table("people").person_id.nunique().execute())  # not status(): no loads needed
    if not people:
        return stale or "Each community member counts as one person (no CRM contacts to resolve)."
    resolved = (f"Members and CRM contacts are resolved into {people:,} people before any cohorting: a person's "
                "member records on several platforms are one anchor, and outcomes keyed by their CRM contact count "
                "for them.")
    return f"{resolved} {stale}" if stale else resolved


def _impact(engine: Engine, moment: datetime, omitted: list[str], inputs: SummaryResults) -> ImpactSection | None:
    """Renewal by participation (raw and adjusted) and NPS/CSAT by participation, as far as the store
    holds what each needs; ``None`` when it holds none of it. The Results go to the summary too."""
    settings = engine.config.impact
    try:
        inputs.renewal = engine.impact("renewal", as_of=moment)
        renewal, renewal_note = dict(inputs.renewal), ""
    except NotEnoughDataError as error:
        renewal, renewal_note = None, str(error)
        inputs.reasons["renewal"] = str(error)
    surveys, notes = [], []
    for kind in ("nps", "csat"):
        try:
            result = engine.impact(kind, as_of=moment)
        except NotEnoughDataError as error:
            notes.append(str(error))
            if kind == "nps":
                inputs.reasons["nps"] = str(error)
            continue
        if kind == "nps":
            inputs.nps = result
        surveys.append({**result, "kind": kind})
        if result.publication.note:
            notes.append(f"{kind.upper()}: {result.publication.note}")
    if renewal is None and not surveys:
        omitted.append(f"Renewal and satisfaction: {renewal_note} {' '.join(notes)}".strip())
        return None
    return ImpactSection(renewal=renewal, surveys=surveys, engaged_level=settings.engaged_level,
                         window=(settings.exposure_start_days, settings.exposure_end_days),
                         renewal_note=renewal_note, notes=notes)


def _scores(engine: Engine, moment: datetime, omitted: list[str]) -> ScoresSection | None:
    """Tier and band counts (published), and the validation of health when there are enough decided renewals."""
    from ..privacy.outputs import suppress_counts

    settings = engine.config.scores
    tiers = _tier_counts(engine, moment)
    if tiers.empty:
        omitted.append("Engagement and health scores: no member activity in the store yet.")
        return None
    order = {name: rank for rank, (name, _) in enumerate(sorted(settings.engagement.tiers.items(),
                                                                key=lambda item: item[1]))}
    tiers = tiers.sort_values("tier", key=lambda s: s.map(order)).reset_index(drop=True)
    tiers["share"] = tiers["members"] / tiers["members"].sum()
    tiers = suppress_counts(tiers, people="members", k=engine.config.privacy.min_cell_size, dims=["tier"],
                            values=["share"])
    accounts = engine.scores("accounts", as_of=moment)["accounts"]
    band_order = {name: rank for rank, (name, _) in enumerate(sorted(settings.health.bands.items(),
                                                                     key=lambda item: item[1]))}
    bands = accounts.groupby("band").agg(accounts=("account_id", "size"), median_health=("health", "median"))
    bands = bands.reset_index().sort_values("band", key=lambda s: s.map(band_order)).reset_index(drop=True)
    try:
        validation, note = dict(engine.validate_health(as_of=moment)), ""
    except NotEnoughDataError as error:
        validation, note = None, str(error)
    if validation is not None:
        validation["bands"] = validation["bands"].to_dict(orient="records")
    return ScoresSection(tiers=tiers, bands=bands, validation=validation, lead_days=settings.health.lead_days,
                         half_life_days=settings.engagement.half_life_days, validation_note=note)


def _tier_counts(engine: Engine, moment: datetime) -> pd.DataFrame:
    """Members per tier, every member counted (an aggregate may count members without consent)."""
    from ..metrics.scores import member_engagement

    members = member_engagement(engine.ibis(), engine.config.scores.engagement, moment)
    return members.groupby("tier").size().rename("members").reset_index()


def _attribution(engine: Engine, moment: datetime, notes: list[str], omitted: list[str],
                 inputs: SummaryResults) -> list[AttributionSection]:
    """Revenue outcomes attributed to the configured touchpoint class, every model with bootstrap intervals;
    one section per currency of the values. A single currency's Result goes to the summary too."""
    from ..metrics.attribution import outcome_currencies

    settings = engine.config.attribution
    outcomes = settings.outcomes
    if not _has_outcomes(engine, outcomes):
        reason = f"no {', '.join(outcomes)} outcomes in the store yet."
        omitted.append(f"Attributed revenue: {reason}")
        inputs.reasons["attribution"] = reason[0].upper() + reason[1:]
        return []
    currencies = outcome_currencies(engine.ibis(), outcomes, moment)
    sections = []
    for currency in currencies if len(currencies) > 1 else [currencies[0] if currencies else None]:
        chosen = None if currency in (None, "(none)") else currency
        result = run_attribution(engine, moment, chosen if len(currencies) > 1 else None)
        if len(currencies) <= 1:
            inputs.attribution, inputs.currency = result, chosen
        if result.publication.note:
            notes.append(f"Attribution{f' ({chosen})' if len(currencies) > 1 and chosen else ''}: "
                         f"{result.publication.note}")
        without, without_value = result["conversions_without_touch"], result["value_without_touch"]
        sections.append(AttributionSection(
            outcomes=sorted(_present_outcomes(engine, outcomes)), by=settings.by, unit=settings.unit,
            lookback_days=settings.lookback_days, half_life_days=settings.half_life_days, currency=chosen,
            result=result["models"], conversions_without_touch=None if without is None else int(without),
            value_without_touch=None if without_value is None else float(without_value),
            replicates=settings.replicates, totals=result["totals"], first_touch_share=settings.first_touch_share,
            last_touch_share=settings.last_touch_share))
    if len(currencies) > 1:
        inputs.reasons["attribution"] = (f"Revenue is recorded in {len(currencies)} currencies "
                                         f"({', '.join(currencies)}); see each attribution section.")
    return sections


def _present_outcomes(engine: Engine, outcomes: Sequence[str]) -> list[str]:
    o = engine.ibis().table("outcomes")
    return [str(t) for t in o.filter(o.type.isin(list(outcomes))).select("type").distinct().execute()["type"]]


def write_report(engine: Engine, path: str | Path, *, conversions: Sequence[str] | None = None,
                 by: Sequence[str] | None = None, as_of: datetime | None = None, pdf: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of ``engine``'s workspace to ``path``; return the path.

    ``pdf``: also print it to this PDF file with headless Chromium (every detail opened); without a
    browser a :class:`~commetrics.errors.MissingToolError` says how to get one, after the HTML is written."""
    import tempfile

    from .pdf import print_pdf

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = build_report(engine, conversions=conversions, by=by, as_of=as_of)
    reporter = Reporter(engine.progress, "report")
    with reporter.stage("writing", detail=target.name):
        target.write_text(render_html(report), encoding="utf-8")
    if pdf is not None:
        with tempfile.TemporaryDirectory(prefix="commetrics-print-") as folder:
            printable = Path(folder) / "report.html"
            printable.write_text(render_html(report, print_version=True), encoding="utf-8")
            with reporter.stage("printing", detail=Path(pdf).name):
                print_pdf(printable, Path(pdf))
    return target
