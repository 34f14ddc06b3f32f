"""Upsell after participation: expansion in a horizon after an account's first participation, against accounts
matched at that moment that had not yet taken part (sequential risk-set matching)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...config import Config, ImpactSettings
from ...errors import NotEnoughDataError
from .. import causal, fetch
from ..adjusted import guard, log_scaled
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .common import MIN_RENEWALS, account_members, diagnostics_of, table_diagnostics, with_covariates

__all__ = ["EXPANSION_OUTCOMES", "upsell_impact", "upsell_table"]

EXPANSION_OUTCOMES = ("upgrade", "seat_expansion", "cross_sell")


def upsell_table(db: Any, settings: ImpactSettings, as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accounts, expansions). ``accounts``: one row per account with ``start`` (first subscription
    period, else creation), ``churn`` (first non-renewal), ``first_participation`` (first activity of
    any of its members) and the covariates. ``expansions``: ``account_id``, ``ts``, ``value`` of every
    expansion outcome (upgrade, seat_expansion, cross_sell; keyed by the account or one of its
    members)."""
    import ibis

    moment = ibis.literal(as_of)
    s = db.table("subscriptions")
    lost = (s.renewed == False) & (s.period_end <= moment)  # noqa: E712
    periods = s.group_by("account_id").aggregate(first_period=s.period_start.min(), churn=s.period_end.min(where=lost))
    a = db.table("accounts")
    created = a.group_by("account_id").aggregate(created=a.created_at.min())
    m = account_members(db)
    activity = db.table("activities").select("member_id", "ts").join(m, "member_id")
    first = activity.group_by("account_id").aggregate(first_participation=activity.ts.min())
    # Small per-account tables, joined in pandas (one row per account each).
    frame = fetch(created).merge(fetch(periods), on="account_id", how="outer").merge(fetch(first), on="account_id",
                                                                                    how="left")
    frame["start"] = frame["first_period"].fillna(frame["created"])
    frame = frame.dropna(subset=["start"]).drop(columns=["first_period", "created"])
    frame = frame.sort_values("account_id", ignore_index=True)
    frame = with_covariates(frame, db, settings)
    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(EXPANSION_OUTCOMES)) & (o.ts <= moment))
    via_member = o.filter(o.account_id.isnull()).join(m, "member_id").select("account_id", "ts", "value")
    direct = o.filter(o.account_id.notnull()).select("account_id", "ts", "value")
    both = direct.union(via_member, distinct=False)
    expansions = fetch(both.select("account_id", "ts", value=both.value.cast("float64").fill_null(0.0)))
    return frame, expansions


def upsell_impact(accounts: pd.DataFrame, expansions: pd.DataFrame, *, as_of: datetime, horizon_days: int = 180,
                  replicates: int = 1000, seed: int = 0, settings: ImpactSettings | None = None) -> dict[str, Any]:
    """Expansion in the ``horizon_days`` after an account's first participation, against matched
    accounts that had not yet participated at that moment (sequential risk-set matching: both clocks
    start at the participation date, so the comparison is not tilted by when it is measured).

    Each participating account whose horizon has elapsed is matched, with replacement, to the nearest
    account on the standardised numeric covariates within the same categories (text covariates
    exactly), among accounts that were customers then, had not churned and had not yet participated.
    Returns expansion rates and expansion value per account for both sides, their paired differences
    with intervals (normal for the rate, percentile bootstrap over pairs for the heavy-tailed value),
    and the balance of the matched sample. An adjusted association, controlling for the covariates.
    """
    horizon = pd.Timedelta(days=horizon_days)
    moment = pd.Timestamp(as_of)
    covariates = [c for c in accounts.columns if c.startswith("cov:")]
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(accounts[c])]
    exact = [c for c in covariates if c not in numeric]
    data = accounts.dropna(subset=covariates).reset_index(drop=True)
    if len(data) < MIN_RENEWALS:
        raise NotEnoughDataError(f"The upsell comparison needs accounts with a start (a subscriptions period or "
                         f"accounts.created_at) and every covariate ({', '.join(c[4:] for c in covariates)}); "
                         f"{len(data)} have them. Load subscriptions or set impact.covariates.")
    data, logged = log_scaled(data, numeric)  # long-tailed money and counts matched on a log scale
    values = data[numeric].to_numpy(float)
    scaled = (values - values.mean(axis=0)) / np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
    strata = data[exact].astype(str).agg("|".join, axis=1).to_numpy() if exact else np.zeros(len(data), dtype=object)
    start = data["start"].to_numpy("datetime64[ns]")
    churn = data["churn"].fillna(pd.Timestamp.max.tz_localize("UTC")).to_numpy("datetime64[ns]")
    first = data["first_participation"].fillna(pd.Timestamp.max.tz_localize("UTC")).to_numpy("datetime64[ns]")
    chosen = np.flatnonzero(data["first_participation"].notna().to_numpy()
                            & (data["first_participation"] + horizon <= moment).to_numpy()
                            & (data["first_participation"] >= data["start"]).to_numpy()
                            & ((data["churn"].isna()) | (data["churn"] > data["first_participation"])).to_numpy())
    pairs = []
    for i in chosen:
        t = first[i]
        pool = np.flatnonzero((start <= t) & (churn > t) & (first > t) & (strata == strata[i]))
        if pool.size == 0:
            continue
        distance = np.sqrt(((scaled[pool] - scaled[i]) ** 2).sum(axis=1)) if numeric else np.zeros(pool.size)
        pairs.append((int(i), int(pool[np.argmin(distance)]), t))
    if len(pairs) < MIN_RENEWALS:
        raise NotEnoughDataError(f"The upsell comparison matched {len(pairs)} participating accounts (at least "
                         f"{MIN_RENEWALS} needed): participation must start while the account is a customer, "
                         f"{horizon_days} days before as of, with non-participating customers to compare.")
    by_account = {k: (g["ts"].to_numpy("datetime64[ns]"), g["value"].to_numpy(float))
                  for k, g in expansions.sort_values("ts").groupby("account_id")}
    ids = data["account_id"].to_numpy()

    def window(row: int, t: np.datetime64) -> tuple[bool, float]:
        times, money = by_account.get(ids[row], (np.zeros(0, "datetime64[ns]"), np.zeros(0)))
        inside = (times > t) & (times <= t + horizon.to_timedelta64())
        return bool(inside.any()), float(money[inside].sum())

    outcome = np.array([[*window(i, t), *window(j, t)] for i, j, t in pairs], dtype=np.float64)
    expanded_p, value_p, expanded_c, value_c = outcome.T
    diff = expanded_p - expanded_c
    se = float(diff.std(ddof=1) / math.sqrt(len(diff)))
    rng = np.random.default_rng(seed)
    value_diff = value_p - value_c
    draws = np.array([value_diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(replicates)])
    treated_rows = [i for i, _, _ in pairs]
    control_rows = [j for _, j, _ in pairs]
    matched = pd.concat([data.iloc[treated_rows][numeric], data.iloc[control_rows][numeric]], ignore_index=True)
    flags = np.r_[np.ones(len(pairs), bool), np.zeros(len(pairs), bool)]
    balance = (causal.balance(matched.rename(columns=lambda c: c.removeprefix("cov:")), flags)
               .rename_axis("covariate").reset_index().rename(columns={"smd_before": "smd_matched"})
               [["covariate", "smd_matched"]] if numeric else pd.DataFrame())
    z = 1.959963984540054
    limits = settings or ImpactSettings()
    guards = []
    worst = float(balance["smd_matched"].abs().max()) if len(balance) else 0.0
    if worst > limits.max_smd:
        guards.append(guard("balance", worst, limits.max_smd,
                            f"The matched accounts still differ from the participants by {worst:.2f} standard "
                            f"deviations on a covariate (target below {limits.max_smd:g}).",
                            "Use fewer covariates or a longer history, so that closer matches exist."))
    if len(set(control_rows)) < limits.min_ess:
        guards.append(guard("ess", float(len(set(control_rows))), limits.min_ess,
                            f"Only {len(set(control_rows))} distinct accounts serve as matches: a few accounts "
                            "decide the comparison.", "Add data or use fewer exact-match (text) covariates."))
    return {
        "headline": not guards, "guards": [g.as_dict() for g in guards],
        "log_scaled": {c.removeprefix("cov:"): kind for c, kind in logged.items()},
        "participants": len(chosen), "matched": len(pairs), "distinct_controls": len(set(control_rows)),
        "horizon_days": horizon_days,
        "expansion_rate": {"participants": float(expanded_p.mean()), "controls": float(expanded_c.mean()),
                           "difference": float(diff.mean()), "ci_low": float(diff.mean() - z * se),
                           "ci_high": float(diff.mean() + z * se)},
        "expansion_value": {"participants": float(value_p.mean()), "controls": float(value_c.mean()),
                            "difference": float(value_diff.mean()),
                            "ci_low": float(np.percentile(draws, 2.5)), "ci_high": float(np.percentile(draws, 97.5))},
        "balance": balance, "exact": [c.removeprefix("cov:") for c in exact],
        "wording": "adjusted association: matched on the covariates at the moment of participation",
    }


@dataclass(frozen=True)
class UpsellSpec(SpecBase):
    """``impact.upsell``: ``horizon_days`` after participation (default ``impact.upsell_horizon_days``),
    bootstrap ``replicates`` (default ``impact.replicates``), ``seed``."""

    horizon_days: int | None = None
    replicates: int | None = None
    seed: int = 0

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        return {"horizon_days": config.impact.upsell_horizon_days, "replicates": config.impact.replicates}


def _compute(context: Context, spec: UpsellSpec) -> Computed:
    settings = context.config.impact
    moment = context.as_of(spec.as_of)
    accounts, expansions = upsell_table(context.ibis(), settings, moment)
    figures = upsell_impact(accounts, expansions, as_of=moment, horizon_days=spec.horizon_days or 180,
                            replicates=spec.replicates or 1000, seed=spec.seed, settings=settings)
    return Computed(figures, (*table_diagnostics(accounts), *diagnostics_of(figures)))


ANALYSES.register("impact.upsell", Analysis(
    name="impact.upsell", title="Upsell after participation", spec=UpsellSpec, compute=_compute, unit="accounts",
    help="Expansion after participation, against matched accounts that had not yet participated then."))
