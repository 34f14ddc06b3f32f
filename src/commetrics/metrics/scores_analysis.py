"""The score analyses: member engagement (``scores.members``), account health (``scores.accounts``), what
changed between saved snapshots (``scores.changes``) and health checked against later renewals
(``scores.validation``).

Member scores are person-level: only members with consent are listed, always (consent is not a
statistical threshold that an analyst may lift), and the others are counted. Account figures count
organisations and are published as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import pandas as pd

from ..errors import InputError
from .analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .scores import COMPONENTS, account_health, member_engagement, validate_health

__all__ = ["ChangesSpec", "ScoresSpec", "ValidationSpec", "account_scores", "member_scores"]


@dataclass(frozen=True)
class ScoresSpec(SpecBase):
    """``scores.members`` and ``scores.accounts``: scores at ``as_of``."""


def member_scores(context: Context, spec: ScoresSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every member's score — for the score history only —, the members with consent)."""
    every = member_engagement(context.ibis(), context.config.scores.engagement, context.as_of(spec.as_of))
    consented = every["member_id"].isin(context.consenting_members())
    return every, every[consented].reset_index(drop=True)


def account_scores(context: Context, spec: ScoresSpec) -> pd.DataFrame:
    """Health per account now, with its components, band, missing components and trend."""
    moment = context.as_of(spec.as_of)
    settings = context.config.scores
    db = context.ibis()
    accounts = db.table("accounts").select("account_id").distinct().execute()["account_id"]
    earlier = moment - timedelta(days=settings.health.trend_days)
    points = pd.DataFrame({"account_id": [*accounts, *accounts],
                           "t": [moment] * len(accounts) + [earlier] * len(accounts)})
    both = account_health(db, settings.engagement, settings.health, points)
    now = both[both["t"] == pd.Timestamp(moment)].drop(columns="t")
    before = both[both["t"] == pd.Timestamp(earlier)][["account_id", "health"]]
    frame = now.merge(before.rename(columns={"health": "health_before"}), on="account_id", how="left")
    frame = frame.assign(trend=frame["health"] - frame["health_before"]).drop(columns="health_before")
    return frame.sort_values("account_id", ignore_index=True)


def _members(context: Context, spec: ScoresSpec) -> Computed:
    every, shown = member_scores(context, spec)
    return Computed({"members": shown, "withheld_without_consent": len(every) - len(shown),
                     "as_of": context.as_of(spec.as_of)}, primary="members")


def _accounts(context: Context, spec: ScoresSpec) -> Computed:
    return Computed({"accounts": account_scores(context, spec), "as_of": context.as_of(spec.as_of),
                     "components": list(COMPONENTS)}, primary="accounts")


@dataclass(frozen=True)
class ChangesSpec(SpecBase):
    """``scores.changes``: members (tier) or accounts (band) whose label changed between the latest saved
    snapshot and the latest one at least ``days`` earlier."""

    level: Literal["members", "accounts"] = "accounts"
    days: int = 30


_CHANGES_SQL = """
    with s as (select * from score_snapshots where level = ?),
    latest as (select max(snapshot_date) as d from s),
    earlier as (select max(snapshot_date) as d from s, latest where snapshot_date <= latest.d - ?::INTEGER)
    select n.id, b.snapshot_date as date_before, b.label as label_before, b.score as score_before,
           n.snapshot_date as date_now, n.label as label_now, n.score as score_now
    from s n join latest on n.snapshot_date = latest.d
    join s b on b.id = n.id join earlier on b.snapshot_date = earlier.d
    where b.label is distinct from n.label
    order by n.id
"""


def _changes(context: Context, spec: ChangesSpec) -> Computed:
    if spec.level not in ("members", "accounts"):
        raise InputError(f"Scores are for members or accounts, not {spec.level!r}.")
    rows = context.query(_CHANGES_SQL, [spec.level[:-1], spec.days])
    withheld = 0
    if spec.level == "members":  # person-level: members with consent only (the history itself keeps everyone)
        consented = rows["id"].isin(context.consenting_members())
        withheld = int((~consented).sum())
        rows = rows[consented].reset_index(drop=True)
    return Computed({"changes": rows, "withheld_without_consent": withheld}, primary="changes")


@dataclass(frozen=True)
class ValidationSpec(SpecBase):
    """``scores.validation``: bootstrap ``replicates`` of the AUC interval."""

    replicates: int = 1000


def _validation(context: Context, spec: ValidationSpec) -> Computed:
    moment = context.as_of(spec.as_of)
    settings = context.config.scores
    db = context.ibis()
    s = db.table("subscriptions")
    decided = s.filter(s.renewed.notnull() & (s.period_end <= moment)).execute()
    lead = pd.Timedelta(days=settings.health.lead_days)
    snapshots = pd.DataFrame({"account_id": decided["account_id"], "t": decided["period_end"] - lead,
                              "churned": ~decided["renewed"].astype(bool)})
    frame = account_health(db, settings.engagement, settings.health, snapshots)
    result: dict[str, Any] = validate_health(frame, settings.health, replicates=spec.replicates)
    result["bands"] = pd.DataFrame(result["bands"])
    return Computed(result, primary="bands")


ANALYSES.register("scores.members", Analysis(
    name="scores.members", title="Member engagement", spec=ScoresSpec, compute=_members, unit="consenting",
    help="Engagement scores of members (with consent): points per activity with decay, tiers."))
ANALYSES.register("scores.accounts", Analysis(
    name="scores.accounts", title="Account health", spec=ScoresSpec, compute=_accounts, unit="accounts",
    help="Health scores of accounts: weighted components 0-100, bands and trend."))
ANALYSES.register("scores.changes", Analysis(
    name="scores.changes", title="Changed tiers and bands", spec=ChangesSpec, compute=_changes, unit="consenting",
    help="Members or accounts whose tier or band changed between saved snapshots."))
ANALYSES.register("scores.validation", Analysis(
    name="scores.validation", title="Health against later renewals", spec=ValidationSpec, compute=_validation,
    unit="accounts", help="Health taken before each decided renewal against its outcome: AUC, churn per band, "
    "learned weights."))
