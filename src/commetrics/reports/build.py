"""Assemble the conversion report from the engine's results (the HTML is ``reports.html``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..privacy.outputs import (
    attribution_note,
    suppress_attribution,
    suppress_counts,
    suppress_rates,
    suppress_survey,
    suppress_timing,
    suppression_note,
)
from .html import AttributionSection, ConversionSection, ImpactSection, ReportData, ScoresSection, render_html

if TYPE_CHECKING:
    from ..engine import Engine

DEFAULT_BY = ("entry_path", "join_month")


def _has_outcomes(engine: Engine, outcomes: Sequence[str]) -> bool:
    o = engine.ibis().table("outcomes")
    return bool(o.filter(o.type.isin(list(outcomes))).count().execute())


def build_report(
    engine: Engine,
    *,
    conversions: Sequence[str] | None = None,
    by: Sequence[str] = DEFAULT_BY,
    as_of: datetime | None = None,
    title: str = "Community conversion report",
) -> ReportData:
    """The report's content: for each conversion, all members and one section per cohort key.

    Conversions whose outcomes the store does not hold are listed under notes, not shown empty.
    """
    moment = engine.as_of(as_of)
    k = engine.config.privacy.min_cell_size
    names = list(conversions) if conversions else list(engine.config.conversions)
    sections: list[ConversionSection] = []
    definitions = []
    notes = ["Staff are excluded; members who converted before their anchor are counted apart as existing "
             "customers.", "Cells with fewer than 30 eligible anchors are flagged (n < 30).",
             "In-progress anchors have not had the whole window yet and are never counted as non-converters.",
             "Intervals are 95% Wilson intervals; differences use Newcombe's hybrid score interval.",
             f"Groups of fewer than {k} people are not shown (privacy.min_cell_size), nor any cell that would let "
             "one be worked out from a total."]
    notes.append(_identity_note(engine))
    for name in names:
        spec = engine.conversion_spec(name)
        if not _has_outcomes(engine, spec.outcomes):
            notes.append(f"{name}: no {', '.join(spec.outcomes)} outcomes in the store yet, so not shown.")
            continue
        definitions.append({"name": name, "description": spec.description, "owner": spec.owner,
                            "outcomes": list(spec.outcomes), "anchor": spec.anchor, "windows": list(spec.windows),
                            "unit": spec.unit})
        for key in (None, *by):
            keys = [key] if key else []
            timing, curves = engine.conversion_timing(name, by=keys, as_of=moment)
            table = suppress_rates(engine.conversion(name, by=keys, as_of=moment), k, totals_published=key is not None)
            timing = suppress_timing(timing, k)
            curves = curves[~curves["cohort"].isin(timing.loc[timing["suppressed"], "cohort"])]
            sections.append(ConversionSection(name=name, description=spec.description, by=key, table=table,
                                              curves=curves, timing=timing))
            hidden = suppression_note(table)
            if hidden:
                notes.append(f"{name}{' by ' + key if key else ''}: {hidden}")
    attribution = _attribution(engine, moment, notes)
    return ReportData(title=title, workspace=str(engine.workspace.directory), as_of=moment,
                      generated_at=datetime.now(UTC).replace(microsecond=0),
                      timezone=engine.config.reporting.timezone, definitions=definitions, sections=sections,
                      notes=notes, attribution=attribution, scores=_scores(engine, moment),
                      impact=_impact(engine, moment))


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


def _impact(engine: Engine, moment: datetime) -> ImpactSection | None:
    """Renewal by participation (raw and adjusted) and NPS/CSAT by participation, as far as the store
    holds what each needs; ``None`` when it holds none of it."""
    from ..errors import InputError

    settings = engine.config.impact
    try:
        renewal, renewal_note = engine.impact("renewal", as_of=moment), ""
    except InputError as error:
        renewal, renewal_note = None, str(error)
    surveys, notes = [], []
    k = engine.config.privacy.min_cell_size
    for kind in ("nps", "csat"):
        try:
            result, hidden = suppress_survey(engine.impact(kind, as_of=moment), k)
            surveys.append(result)
            if hidden:
                notes.append(f"{kind.upper()}: {hidden}")
        except InputError as error:
            notes.append(str(error))
    if renewal is None and not surveys:
        return None
    return ImpactSection(renewal=renewal, surveys=surveys, engaged_level=settings.engaged_level,
                         window=(settings.exposure_start_days, settings.exposure_end_days),
                         renewal_note=renewal_note, notes=notes)


def _scores(engine: Engine, moment: datetime) -> ScoresSection | None:
    """Tier and band counts, and the validation of health when there are enough decided renewals."""
    from ..errors import InputError
    from ..metrics.scores import member_engagement

    settings = engine.config.scores
    members = member_engagement(engine.ibis(), settings.engagement, moment)
    if members.empty:
        return None
    order = {name: rank for rank, (name, _) in enumerate(sorted(settings.engagement.tiers.items(),
                                                                key=lambda item: item[1]))}
    tiers = members.groupby("tier").size().rename("members").reset_index()
    tiers = tiers.sort_values("tier", key=lambda s: s.map(order)).reset_index(drop=True)
    k = engine.config.privacy.min_cell_size
    tiers["share"] = tiers["members"] / tiers["members"].sum()
    tiers = suppress_counts(tiers, people="members", k=k, dims=["tier"], values=["share"])
    accounts = engine.scores("accounts", as_of=moment)
    band_order = {name: rank for rank, (name, _) in enumerate(sorted(settings.health.bands.items(),
                                                                     key=lambda item: item[1]))}
    bands = accounts.groupby("band").agg(accounts=("account_id", "size"), median_health=("health", "median"))
    bands = bands.reset_index().sort_values("band", key=lambda s: s.map(band_order)).reset_index(drop=True)
    try:
        validation, note = engine.validate_health(as_of=moment), ""
    except InputError as error:
        validation, note = None, str(error)
    return ScoresSection(tiers=tiers, bands=bands, validation=validation, lead_days=settings.health.lead_days,
                         half_life_days=settings.engagement.half_life_days, validation_note=note)


def _attribution(engine: Engine, moment: datetime, notes: list[str], *, by: str = "program",
                 lookback_days: int = 90, half_life_days: float = 7.0, replicates: int = 200
                 ) -> list[AttributionSection]:
    """Revenue outcomes attributed to programs, every model with bootstrap intervals; one section per
    currency of the values."""
    from ..metrics.attribution import REVENUE_OUTCOMES, outcome_currencies

    if not _has_outcomes(engine, REVENUE_OUTCOMES):
        notes.append(f"Attribution: no {', '.join(REVENUE_OUTCOMES)} outcomes in the store yet, so not shown.")
        return []
    currencies = outcome_currencies(engine.ibis(), REVENUE_OUTCOMES, moment)
    k = engine.config.privacy.min_cell_size
    sections = []
    for currency in currencies if len(currencies) > 1 else [currencies[0] if currencies else None]:
        chosen = None if currency in (None, "(none)") else currency
        result = engine.attribution("all", outcome=REVENUE_OUTCOMES, by=by, lookback_days=lookback_days,
                                    half_life_days=half_life_days, as_of=moment, ci=True, replicates=replicates,
                                    currency=chosen if len(currencies) > 1 else None)
        result = suppress_attribution(result, k)
        hidden = attribution_note(result)
        if hidden:
            notes.append(f"Attribution{f' ({chosen})' if len(currencies) > 1 and chosen else ''}: {hidden}")
        without, without_value = (result.attrs[name] for name in ("conversions_without_touch", "value_without_touch"))
        sections.append(AttributionSection(
            outcomes=sorted(_present_outcomes(engine, REVENUE_OUTCOMES)), by=by, unit="person",
            lookback_days=lookback_days, half_life_days=half_life_days, currency=chosen, result=result,
            conversions_without_touch=None if without is None else int(without),
            value_without_touch=None if without_value is None else float(without_value), replicates=replicates,
            totals=result.attrs["totals"]))
    return sections


def _present_outcomes(engine: Engine, outcomes: Sequence[str]) -> list[str]:
    o = engine.ibis().table("outcomes")
    return [str(t) for t in o.filter(o.type.isin(list(outcomes))).select("type").distinct().execute()["type"]]


def write_report(engine: Engine, path: str | Path, **options: object) -> Path:
    """Write the self-contained HTML report to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(build_report(engine, **options)), encoding="utf-8")  # type: ignore[arg-type]
    return target
