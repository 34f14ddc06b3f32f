"""Feedback contributors: who gave feedback, whether it shipped, and what their account did next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from .. import fetch
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .upsell import EXPANSION_OUTCOMES

__all__ = ["feedback_contributors"]


def feedback_contributors(db: Any, as_of: datetime, *, shipped_tag: str = "shipped") -> pd.DataFrame:
    """Who gave feedback, whether it shipped, and what their account did next: one row per member with a
    ``feedback_submitted`` activity — ``feedback`` (how many), ``first_feedback``, ``shipped`` (feedback
    tagged ``shipped``, or a ``feature_shipped`` outcome of the member after their first feedback),
    ``account_id``, and the account's ``expansions`` and ``expansion_value`` after the first feedback.
    Sorted by shipped, then expansion value: the contributors to thank first. Person-level: the caller
    keeps only members with consent."""
    import ibis

    moment = ibis.literal(as_of)
    a = db.table("activities")
    fb = a.filter((a.type == "feedback_submitted") & (a.ts <= moment))
    tagged = fb.tags.contains(shipped_tag).fill_null(False) if "tags" in fb.columns else ibis.literal(False)
    per = fb.group_by("member_id").aggregate(feedback=fb.count(), first_feedback=fb.ts.min(),
                                             tagged_shipped=tagged.cast("int64").sum())
    o = db.table("outcomes")
    shipped = o.filter((o.type == "feature_shipped") & o.member_id.notnull() & (o.ts <= moment))
    shipped = shipped.join(per, "member_id").filter(lambda t: t.ts > t.first_feedback)
    shipped = shipped.group_by("member_id").aggregate(outcome_shipped=shipped.count())
    members = db.table("members")
    accounts = members.group_by("member_id").aggregate(account_id=members.account_id.argmin(members.joined_at))
    frame = fetch(per.left_join(shipped, "member_id").drop("member_id_right")
                  .left_join(accounts, "member_id").drop("member_id_right"))
    frame["shipped"] = frame.pop("tagged_shipped").fillna(0).astype(int) + frame.pop("outcome_shipped").fillna(
        0).astype(int)
    expansions = o.filter(o.type.isin(list(EXPANSION_OUTCOMES)) & o.account_id.notnull() & (o.ts <= moment))
    grown = fetch(expansions.select("account_id", "ts", value=expansions.value.cast("float64").fill_null(0.0)))
    merged = frame[["member_id", "account_id", "first_feedback"]].merge(grown, on="account_id", how="inner")
    merged = merged[merged["ts"] > merged["first_feedback"]]
    after = merged.groupby("member_id").agg(expansions=("ts", "size"), expansion_value=("value", "sum"))
    frame = frame.merge(after, on="member_id", how="left")
    frame["expansions"] = frame["expansions"].fillna(0).astype(int)
    frame["expansion_value"] = frame["expansion_value"].fillna(0.0)
    return frame.sort_values(["shipped", "expansion_value", "feedback", "member_id"],
                             ascending=[False, False, False, True], ignore_index=True)


@dataclass(frozen=True)
class FeedbackSpec(SpecBase):
    """``impact.feedback``: the ``shipped_tag`` that marks feedback as shipped."""

    shipped_tag: str = "shipped"


def _compute(context: Context, spec: FeedbackSpec) -> Computed:
    """Person-level: only members with consent are listed (consent is never bypassed); the others counted."""
    frame = feedback_contributors(context.ibis(), context.as_of(spec.as_of), shipped_tag=spec.shipped_tag)
    consented = frame["member_id"].isin(context.consenting_members())
    return Computed({"contributors": frame[consented].reset_index(drop=True),
                     "withheld_without_consent": int((~consented).sum())}, primary="contributors")


ANALYSES.register("impact.feedback", Analysis(
    name="impact.feedback", title="Feedback contributors", spec=FeedbackSpec, compute=_compute, unit="consenting",
    help="Who gave feedback, whether it shipped, and their account's expansion after it: the contributors to "
         "thank."))
