"""Community-targeted campaigns against comparable accounts: difference-in-differences with a
pre-trend check (METHODS card (d)).

A campaign is read from the ``experiments`` table: ``experiment`` is the campaign's name,
``unit_id`` an account, ``variant`` its arm and ``exposed_at`` when the campaign reached it.
Accounts in a non-control arm are treated from the month of ``exposed_at`` (starts may be
staggered); the comparison accounts are the campaign's control arm when it has one, else every
other account (never reached). The outcome is a monthly panel per account: the value (or the
number) of the chosen outcomes — expansion by default — keyed by the account, or by a member or
contact of it.

Two estimates sit side by side: the two-way fixed-effects DiD (one number, biased when effects
grow over time with staggered starts) and the event study against never-reached accounts
(Callaway–Sant'Anna style, heterogeneity-robust), whose months before the start are the
parallel-trends check. See :mod:`commetrics.metrics.did`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...config import Config
from ...errors import InputError, NotEnoughDataError
from .. import fetch
from ..adjusted import guard
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from ..did import event_study, twfe_did
from .common import diagnostics_of
from .upsell import EXPANSION_OUTCOMES

__all__ = ["campaign_impact", "campaign_table"]

#: the fewest accounts per side for a comparison worth printing
MIN_ACCOUNTS = 5


def _month(ts: pd.Series) -> pd.Series:
    """Months since year 0 (``year * 12 + month - 1``) of UTC instants."""
    stamps = pd.to_datetime(ts, utc=True)
    return (stamps.dt.year * 12 + stamps.dt.month - 1).astype("Int64")


def campaign_table(db: Any, *, name: str, outcomes: Sequence[str], measure: str, as_of: datetime, pre: int,
                   post: int, control: str | None = None) -> pd.DataFrame:
    """The monthly panel of campaign ``name``: ``unit`` (account), ``period`` (month index), ``y`` (the
    outcomes' value or count that month, 0 when none) and ``first_treated`` (the month the campaign
    reached the account; missing for comparison accounts), over ``pre`` months before the earliest
    start to ``post`` months after the latest, ending with the last whole month before *as of*."""
    import ibis

    if measure not in ("value", "count"):
        raise InputError(f"--measure must be value or count, not {measure!r}.")
    e = db.table("experiments")
    assigned = fetch(e.filter(e.experiment == name).select("unit_id", "variant", "exposed_at"))
    if assigned.empty:
        raise InputError(f"No accounts are assigned to campaign {name!r} in the experiments table. Load the "
                         "campaign's accounts there (experiment = campaign name, unit_id = account_id, variant, "
                         "exposed_at = when the campaign reached the account).")
    accounts = fetch(db.table("accounts").select("account_id").distinct())["account_id"].astype(str)
    assigned["unit_id"] = assigned["unit_id"].astype(str)
    unknown = sorted(set(assigned["unit_id"]) - set(accounts))
    if len(unknown) == len(assigned):
        raise InputError(f"The units of campaign {name!r} are not accounts (e.g. {unknown[0]!r}); a campaign "
                         "compares accounts. Assign account ids, or use `commetrics impact experiment` for members.")
    variants = set(assigned["variant"].astype(str))
    if control is not None and control not in variants:
        raise InputError(f"Campaign {name!r} has no variant {control!r}; its variants are "
                         f"{', '.join(sorted(variants))}.")
    if control is None and "control" in variants:
        control = "control"
    treated = assigned[(assigned["variant"] != control) & assigned["unit_id"].isin(accounts)].copy()
    if treated["exposed_at"].isna().any():
        raise InputError(f"{int(treated['exposed_at'].isna().sum())} reached accounts of campaign {name!r} have no "
                         "exposed_at; the start month is needed for a before/after comparison. Fill exposed_at.")
    if control is not None:
        controls = set(assigned.loc[assigned["variant"] == control, "unit_id"]) & set(accounts)
    else:
        controls = set(accounts) - set(assigned["unit_id"])
    starts = treated.groupby("unit_id")["exposed_at"].min()
    first = _month(starts.reset_index(drop=True)).to_numpy()
    last_month = int(_month(pd.Series([pd.Timestamp(as_of)])).iloc[0]) - 1  # the last whole month
    begin, end = int(np.nanmin(first)) - pre, min(int(np.nanmax(first)) + post, last_month)
    if end < int(np.nanmin(first)):
        raise InputError(f"Campaign {name!r} started after the last whole month of data; nothing to compare yet.")

    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & (o.ts <= ibis.literal(as_of)))
    members, contacts = db.table("members"), db.table("contacts")
    m = members.select(mid=members.member_id, macc=members.account_id)
    c = contacts.select(cid=contacts.contact_id, cacc=contacts.account_id)
    keyed = o.left_join(m, o.member_id == m.mid).left_join(c, o.contact_id == c.cid)
    keyed = keyed.select(unit=keyed.account_id.coalesce(keyed.macc, keyed.cacc), ts=keyed.ts,
                         value=keyed.value.fill_null(0) if measure == "value" else ibis.literal(1.0))
    events = fetch(keyed.filter(keyed.unit.notnull()))
    events["period"] = _month(events["ts"])
    units = sorted(set(starts.index) | controls)
    events = events[events["unit"].astype(str).isin(units) & events["period"].between(begin, end)]
    sums = events.groupby(["unit", "period"])["value"].sum()
    grid = pd.MultiIndex.from_product([units, range(begin, end + 1)], names=["unit", "period"])
    panel = sums.reindex(grid, fill_value=0.0).rename("y").reset_index()
    panel["y"] = panel["y"].astype(float)
    start_of = dict(zip(starts.index, first, strict=True))
    panel["first_treated"] = panel["unit"].map(start_of).astype(float)
    panel.attrs.update({"campaign": name, "control": control or "(accounts never reached)", "measure": measure,
                        "outcomes": list(outcomes), "first_month": begin, "last_month": end,
                        "left_out_not_accounts": len(unknown)})
    return panel


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def campaign_impact(panel: pd.DataFrame, *, pre: int, post: int, replicates: int = 499, seed: int = 0
                    ) -> dict[str, Any]:
    """TWFE difference-in-differences and the event study of :func:`campaign_table`'s panel, with the
    pre-trend test; raises a clear error when one side has too few accounts."""
    treated = panel.loc[panel["first_treated"].notna(), "unit"].nunique()
    controls = panel.loc[panel["first_treated"].isna(), "unit"].nunique()
    if treated < MIN_ACCOUNTS or controls < MIN_ACCOUNTS:
        raise NotEnoughDataError(f"A campaign comparison needs at least {MIN_ACCOUNTS} reached and {MIN_ACCOUNTS} "
                                 f"comparison accounts; this one has {treated} reached and {controls} comparison "
                                 "accounts.")
    did = twfe_did(panel)
    study = event_study(panel, leads=pre, lags=post, replicates=replicates, seed=seed)
    curve = study.frame()
    guards = []
    if study.parallel_trends_ok is False:
        guards.append(guard("parallel_trends", float(study.pre_trend.pvalue) if study.pre_trend else 0.0, 0.05,
                            "Reached and comparison accounts already moved differently before the campaign, so the "
                            "difference-in-differences has no credible counterfactual.",
                            "Choose comparison accounts that trended alike (e.g. the same segment), or a shorter "
                            "--pre window."))
    return {
        "headline": not guards, "guards": [g.as_dict() for g in guards],
        "campaign": panel.attrs.get("campaign"), "control": panel.attrs.get("control"),
        "measure": panel.attrs.get("measure"), "outcomes": panel.attrs.get("outcomes"),
        "months": f"{_month_label(int(panel['period'].min()))} to {_month_label(int(panel['period'].max()))}",
        "accounts_reached": int(treated), "accounts_compared": int(controls), "cohorts": study.n_cohorts,
        "did": {"estimate": did.estimate, "se": did.se, "ci_low": did.ci_low, "ci_high": did.ci_high,
                "p": did.pvalue},
        "event_study": {"estimate": study.post_estimate, "se": study.post_se, "ci_low": study.post_low,
                        "ci_high": study.post_high, "p": study.post_pvalue},
        "event_times": curve,
        "pre_trend": None if study.pre_trend is None else {
            "chi2": study.pre_trend.statistic, "df": study.pre_trend.df, "p": study.pre_trend.pvalue},
        "parallel_trends_ok": study.parallel_trends_ok,
        "pre_trend_sentence": study.pre_trend_sentence,
        "notes": list(study.notes),
        "wording": "not credible: reached and comparison accounts already moved differently before the campaign"
        if study.parallel_trends_ok is False else
        "adjusted association per account and month, under parallel trends; not proof that the campaign caused it",
        "replicates": replicates,
    }


@dataclass(frozen=True)
class CampaignSpec(SpecBase):
    """``impact.campaign``: the campaign's ``name`` in the experiments table (required), the ``outcomes``
    measured (default: expansion), ``measure`` (value or count), ``pre``/``post`` months (defaults
    ``impact.campaign_pre_months`` and ``impact.campaign_post_months``), the ``control`` variant."""

    name: str | None = None
    outcomes: tuple[str, ...] = ()
    measure: str = "value"
    pre: int | None = None
    post: int | None = None
    control: str | None = None
    replicates: int = 499
    seed: int = 0

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        return {"pre": config.impact.campaign_pre_months, "post": config.impact.campaign_post_months}


def _compute(context: Context, spec: CampaignSpec) -> Computed:
    if not spec.name:
        raise InputError("The campaign question needs experiment= (the campaign's name in the experiments table).")
    panel = campaign_table(context.ibis(), name=spec.name, outcomes=tuple(spec.outcomes or EXPANSION_OUTCOMES),
                           measure=spec.measure, as_of=context.as_of(spec.as_of), pre=spec.pre or 6,
                           post=spec.post or 6, control=spec.control)
    figures = campaign_impact(panel, pre=spec.pre or 6, post=spec.post or 6, replicates=spec.replicates,
                              seed=spec.seed)
    return Computed(figures, diagnostics_of(figures), tuple(figures["notes"]), primary="event_times")


ANALYSES.register("impact.campaign", Analysis(
    name="impact.campaign", title="Community-targeted campaign", spec=CampaignSpec, compute=_compute,
    unit="accounts",
    help="A community-targeted campaign against comparable accounts: difference-in-differences and the pre-trend "
         "check."))
