"""Community health figures from the same tables: activation, contribution, deflection, revenue.

Each figure is a ratio with its numerator and denominator shown, computed as Ibis expressions
(so they run wherever the conversion engine runs). Staff are left out everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import pandas as pd

from ..privacy.outputs import suppress_ratios, suppression_note
from ..results import Publication
from ..stats import wilson_interval
from .analysis import ANALYSES, Analysis, Computed, Context, SpecBase

__all__ = ["CONSUMPTION_TYPES", "CONTRIBUTION_TYPES", "REVENUE_TYPES", "community_metrics"]

#: Activities that add something others can use.
CONTRIBUTION_TYPES = ("post", "question", "answer", "reply", "comment", "accepted_answer", "feedback_submitted",
                      "feature_request", "case_study", "review", "referral")
#: Activities that take part without adding content.
CONSUMPTION_TYPES = ("reaction", "vote", "login", "event_attended", "event_registered", "webinar_attended",
                     "webinar_registered", "user_group_attended", "course_completed", "badge", "joined")
#: Outcomes that carry revenue.
REVENUE_TYPES = ("purchase", "upgrade", "seat_expansion", "cross_sell", "renewal")


def _row(metric: str, numerator: float, denominator: float, definition: str, proportion: bool = True, *,
         people: tuple[int, int]) -> dict[str, Any]:
    value = numerator / denominator if denominator else math.nan
    low, high = wilson_interval(int(numerator), int(denominator)) if proportion and denominator else (math.nan,
                                                                                                          math.nan)
    return {"metric": metric, "value": value, "numerator": numerator, "denominator": denominator,
            "ci_low": low, "ci_high": high, "numerator_people": int(people[0]), "denominator_people": int(people[1]),
            "definition": definition}


def community_metrics(db: Any, *, as_of: datetime, since: datetime | None = None) -> pd.DataFrame:
    """Activation rate, contributor share and ratio, accepted-answer rate and revenue per member.

    Parameters
    ----------
    db
        An Ibis backend over the canonical tables.
    as_of
        Events after this instant are ignored.
    since
        Only activities and outcomes from this instant on (default: all history).

    Returns
    -------
    pandas.DataFrame
        One row per figure: ``metric``, ``value``, ``numerator``, ``denominator``, ``ci_low`` and
        ``ci_high`` (Wilson, for proportions), ``numerator_people`` and ``denominator_people`` (the
        distinct members each side comes from: the members counted, or whose activities or outcomes
        are counted or summed; small-cell suppression needs them) and the ``definition`` in words.
    """
    m = db.table("members")
    members = m.group_by("member_id").aggregate(staff=m.is_staff.fill_null(False).any(),
                                                joined_at=m.joined_at.min())
    members = members.filter(~members.staff & (members.joined_at <= ibis.literal(as_of)))
    a = db.table("activities")
    o = db.table("outcomes")
    a = a.filter(a.ts <= ibis.literal(as_of))
    o = o.filter(o.ts <= ibis.literal(as_of))
    if since is not None:
        a = a.filter(a.ts >= ibis.literal(since))
        o = o.filter(o.ts >= ibis.literal(since))
    a = a.join(members.select("member_id"), "member_id")

    n_members = int(members.count().execute())
    activated = o.filter((o.type == "activation") & o.member_id.notnull())
    activated = activated.join(members.select("member_id"), "member_id").member_id.nunique().execute()

    per_member = a.group_by("member_id").aggregate(
        contributions=a.type.isin(CONTRIBUTION_TYPES).sum(),
        consumption=a.type.isin(CONSUMPTION_TYPES).sum(),
    )
    totals = per_member.aggregate(
        active=per_member.count(),
        contributors=(per_member.contributions > 0).sum(),
        consumers=(per_member.consumption > 0).sum(),
        contributions=per_member.contributions.sum(),
        consumption=per_member.consumption.sum(),
    ).execute().iloc[0]

    asked = a.filter(a.type == "question")
    questions, askers = (int(x) for x in asked.aggregate(n=asked.count(), people=asked.member_id.nunique())
                         .execute().iloc[0])
    answers = o.filter((o.type == "accepted_answer") & o.member_id.notnull())
    answers = answers.join(members.select("member_id"), "member_id")
    accepted, accepted_people = (int(x) for x in answers.aggregate(
        n=answers.count(), people=answers.member_id.nunique()).execute().iloc[0])

    revenue = o.filter(o.type.isin(REVENUE_TYPES) & o.member_id.notnull() & o.value.notnull())
    revenue = revenue.join(members.select("member_id"), "member_id")
    by_currency = revenue.group_by(currency=revenue.currency.fill_null("(none)")).aggregate(
        total=revenue.value.sum(), buyers=revenue.member_id.nunique()).execute()

    def count(name: str) -> int:
        return int(totals[name] or 0)

    rows = [
        _row("activation_rate", float(activated), float(n_members),
             "members with an activation outcome ÷ members (staff excluded)", people=(int(activated), n_members)),
        _row("contributor_share", float(count("contributors")), float(count("active")),
             "active members with at least one contribution ÷ active members",
             people=(count("contributors"), count("active"))),
        _row("contribution_to_consumption", float(count("contributions")), float(count("consumption")),
             "contribution activities (posts, questions, answers, ...) ÷ consumption activities (reactions, "
             "attendance, logins, ...)", proportion=False, people=(count("contributors"), count("consumers"))),
        _row("accepted_answer_rate", float(accepted), float(questions),
             "accepted answers received by askers ÷ questions asked", people=(accepted_people, askers)),
    ]
    for record in by_currency.sort_values("currency").to_dict(orient="records"):
        rows.append(_row(f"revenue_per_member[{record['currency']}]", float(record["total"]), float(n_members),
                         "revenue outcomes (purchase, upgrade, seats, cross-sell, renewal) of members ÷ members",
                         proportion=False, people=(int(record["buyers"]), n_members)))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CommunitySpec(SpecBase):
    """``community``: health figures at ``as_of``, from activities and outcomes ``since`` a date (default: all)."""

    since: datetime | None = None


def _compute(context: Context, spec: CommunitySpec) -> Computed:
    moment = context.as_of(spec.as_of)
    since = spec.since if spec.since is None or spec.since.tzinfo else spec.since.replace(tzinfo=UTC)
    return Computed({"metrics": community_metrics(context.ibis(), as_of=moment, since=since)}, primary="metrics")


def _publish(computed: Computed, spec: CommunitySpec, k: int) -> tuple[Mapping[str, Any], Publication]:
    del spec
    table = suppress_ratios(computed.figures["metrics"], k)
    note = suppression_note(table, noun="figure")
    return {"metrics": table}, Publication(k, suppression_applied=bool(note), note=note)


ANALYSES.register("community", Analysis(
    name="community", title="Community health", spec=CommunitySpec, compute=_compute, publish=_publish,
    help="Community health: activation rate, contributor share, contribution-to-consumption, accepted answers, "
         "revenue."))
