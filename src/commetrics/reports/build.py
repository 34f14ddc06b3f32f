"""Assemble the report from the Engine's published Results (the HTML is ``reports.html``).

Every figure comes from a :class:`~commetrics.results.Result` as the Engine published it — consent and
small-cell suppression applied there, not here — so the report shows exactly what the command line
and the dashboard show. A section the store cannot answer (not enough data) becomes a one-line
reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import NotEnoughDataError
from .html import AttributionSection, ConversionSection, ImpactSection, ReportData, ScoresSection, render_html

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["build_report", "write_report"]


def _has_outcomes(engine: Engine, outcomes: Sequence[str]) -> bool:
    o = engine.ibis().table("outcomes")
    return bool(o.filter(o.type.isin(list(outcomes))).count().execute())


def build_report(
    engine: Engine,
    *,
    conversions: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    as_of: datetime | None = None,
    title: str = "Community conversion report",
) -> ReportData:
    """The report's content: for each conversion, all members and one section per cohort key (default
    ``conversion.report_by``), attribution, scores and impact.

    Conversions whose outcomes the store does not hold are listed under notes, not shown empty.
    """
    moment = engine.as_of(as_of)
    keys = tuple(by) if by is not None else engine.config.conversion.report_by
    k = engine.config.privacy.min_cell_size
    names = list(conversions) if conversions else list(engine.config.conversions)
    sections: list[ConversionSection] = []
    definitions = []
    notes = ["Staff are excluded; members who converted before their anchor are counted apart as existing "
             "customers.", "Cells with fewer than 30 eligible anchors are flagged (n < 30).",
             "In-progress anchors have not had the whole window yet and are never counted as non-converters.",
             "Intervals are 95% Wilson intervals; differences use Newcombe's hybrid score interval.",
             f"Groups of fewer than {k} people are not shown (privacy.min_cell_size) — converters included — nor any "
             "cell that would let one be worked out from a total."]
    notes.append(_identity_note(engine))
    for name in names:
        spec = engine.conversion_spec(name)
        if not _has_outcomes(engine, spec.outcomes):
            notes.append(f"{name}: no {', '.join(spec.outcomes)} outcomes in the store yet, so not shown.")
            continue
        definitions.append({"name": name, "description": spec.description, "owner": spec.owner,
                            "outcomes": list(spec.outcomes), "anchor": spec.anchor, "windows": list(spec.windows),
                            "unit": spec.unit})
        for key in (None, *keys):
            result = engine.conversion(name, by=[key] if key else [], as_of=moment, curves=True)
            sections.append(ConversionSection(name=name, description=spec.description, by=key,
                                              table=result["rates"], curves=result["curves"],
                                              timing=result["time_to_conversion"]))
            if result.publication.note:
                notes.append(f"{name}{' by ' + key if key else ''}: {result.publication.note}")
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
    settings = engine.config.impact
    try:
        renewal, renewal_note = dict(engine.impact("renewal", as_of=moment)), ""
    except NotEnoughDataError as error:
        renewal, renewal_note = None, str(error)
    surveys, notes = [], []
    for kind in ("nps", "csat"):
        try:
            result = engine.impact(kind, as_of=moment)
        except NotEnoughDataError as error:
            notes.append(str(error))
            continue
        surveys.append({**result, "kind": kind})
        if result.publication.note:
            notes.append(f"{kind.upper()}: {result.publication.note}")
    if renewal is None and not surveys:
        return None
    return ImpactSection(renewal=renewal, surveys=surveys, engaged_level=settings.engaged_level,
                         window=(settings.exposure_start_days, settings.exposure_end_days),
                         renewal_note=renewal_note, notes=notes)


def _scores(engine: Engine, moment: datetime) -> ScoresSection | None:
    """Tier and band counts (published), and the validation of health when there are enough decided renewals."""
    from ..privacy.outputs import suppress_counts

    settings = engine.config.scores
    tiers = _tier_counts(engine, moment)
    if tiers.empty:
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


def _attribution(engine: Engine, moment: datetime, notes: list[str]) -> list[AttributionSection]:
    """Revenue outcomes attributed to the configured touchpoint class, every model with bootstrap intervals;
    one section per currency of the values."""
    from ..metrics.attribution import outcome_currencies

    settings = engine.config.attribution
    outcomes = settings.outcomes
    if not _has_outcomes(engine, outcomes):
        notes.append(f"Attribution: no {', '.join(outcomes)} outcomes in the store yet, so not shown.")
        return []
    currencies = outcome_currencies(engine.ibis(), outcomes, moment)
    sections = []
    for currency in currencies if len(currencies) > 1 else [currencies[0] if currencies else None]:
        chosen = None if currency in (None, "(none)") else currency
        result = engine.attribution("all", as_of=moment, ci=True, currency=chosen if len(currencies) > 1 else None)
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
    return sections


def _present_outcomes(engine: Engine, outcomes: Sequence[str]) -> list[str]:
    o = engine.ibis().table("outcomes")
    return [str(t) for t in o.filter(o.type.isin(list(outcomes))).select("type").distinct().execute()["type"]]


def write_report(engine: Engine, path: str | Path, *, conversions: Sequence[str] | None = None,
                 by: Sequence[str] | None = None, as_of: datetime | None = None) -> Path:
    """Write the self-contained HTML report of ``engine``'s workspace to ``path``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(build_report(engine, conversions=conversions, by=by, as_of=as_of)),
                      encoding="utf-8")
    return target
