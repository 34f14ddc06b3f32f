"""Engagement scores of members and health scores of accounts, at any instant, and their validation.

Engagement of a member at instant t::

    score(t) = sum over activities a with ts <= t of  points[type] x quality[type] x 0.5 ^ ((t - ts) / half_life)

``quality`` is ``contribution_weight`` for contributions (posts, replies, answers, feedback, ...) and
``consumption_weight`` for consumption (attending, reacting, ...), so contributions count above
consumption. Tiers are score thresholds. Staff are left out.

An account rolls up its members (a member belongs to the account of their first join): the sum of
their scores, ``active_members`` (members with an activity in the last ``active_days``; the
account's *breadth*), their ratio to the account's seats, and the days since the last activity.

Health of an account at instant t: components scored 0-100, weighted, renormalised over the
components the account has (the missing ones are listed)::

    H = sum_k w_k s_k / sum_{k present} w_k

* ``community``: 100 x the mean of the depth min(1, ln(1 + engagement) / ln(1 + score_target)) —
  diminishing returns: the first points matter most — and the recency 0.5 ^ (days since the last
  activity / 30). An account without community members scores 0 (no engagement is a signal, not
  missing data). The active-member ratio to seats is reported beside it, not scored: seat counts
  are too uneven across customers to rank them by.
* ``product_usage`` / ``support`` / ``commercial``: the account's mid-percentile within its segment
  of the usage attribute / of the support-ticket attribute (reversed: fewer is better) / of ARR.
* ``relationship``: the NPS of the answers of the account's members and contacts in the last
  ``relationship_days``, mapped from [-100, 100] to [0, 100].

All heavy work is one Ibis expression per result over the canonical tables (it runs on DuckDB and
Spark alike); the instants come in as a small table, so the same code gives today's scores, the
30-day trend, and the snapshots a lead time before every renewal that validate the score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from ..errors import InputError, NotEnoughDataError
from ..score_settings import EngagementSettings, HealthSettings
from . import attribute_number, fetch, latest_accounts, threshold_labels
from .community import CONTRIBUTION_TYPES

__all__ = [
    "COMPONENTS",
    "account_health",
    "auc",
    "band_of",
    "member_engagement",
    "tier_of",
    "validate_health",
]

COMPONENTS = ("community", "product_usage", "support", "relationship", "commercial")
RECENCY_HALF_LIFE_DAYS = 30.0
FEW_INSTANTS = 4  # up to this many distinct snapshot instants are rolled up one constant-clock query each
LN2 = math.log(2.0)


def tier_of(score: float, tiers: Mapping[str, float]) -> str:
    """The highest tier whose threshold ``score`` reaches."""
    return str(threshold_labels([score], tiers)[0])


band_of = tier_of


def _points(db: Any, settings: EngagementSettings, until: datetime) -> Any:
    """Activities up to ``until`` that earn points: ``member_id``, ``ts``, ``pts`` (= points x quality).

    Staff and unknown members are left out by the joins with :func:`_member_accounts` that follow.
    """
    import ibis

    types = [t for t, p in settings.points.items() if p > 0]
    weights = [p * (settings.contribution_weight if t in CONTRIBUTION_TYPES else settings.consumption_weight)
               for t, p in settings.points.items() if p > 0]
    a = db.table("activities")
    a = a.filter((a.ts <= ibis.literal(until)) & a.type.isin(types))
    return a.select("member_id", "ts", pts=a.type.cases(*zip(types, weights, strict=True), else_=0.0))


def _member_accounts(db: Any) -> Any:
    """Non-staff members with the account of their first join."""
    m = db.table("members")
    m = m.group_by("member_id").aggregate(account_id=m.account_id.argmin(m.joined_at),
                                          staff=m.is_staff.fill_null(False).any())
    return m.filter(~m.staff).select("member_id", "account_id")


def _seconds(db: Any, value: Any) -> Any:
    """Seconds since 1970 of a UTC timestamp column.

    Portable Ibis (``epoch_seconds``) casts every value to a zone-less timestamp first, which on
    DuckDB costs a time-zone conversion per row (0.8 s per 20M activities, most of the time of a
    score); on DuckDB its own ``epoch`` of the UTC instant gives the same number without it.
    """
    if getattr(db, "name", None) == "duckdb":
        return _duckdb_epoch(value)
    return value.epoch_seconds()


@ibis.udf.scalar.builtin(name="epoch")  # type: ignore[untyped-decorator]
def _duckdb_epoch(ts: dt.Timestamp(timezone="UTC")) -> dt.float64:  # type: ignore[valid-type]
    """DuckDB's epoch(): seconds since 1970 of an instant."""


def _decay(db: Any, t: Any, ts: Any, half_life_days: float) -> Any:
    """``0.5 ^ ((t - ts) / half-life)``, as ``exp(-(t - ts) x ln 2 / half-life)`` in seconds."""
    now = float(t.timestamp()) if isinstance(t, datetime) else _seconds(db, t)
    return (-(now - _seconds(db, ts)) * (LN2 / (86_400 * half_life_days))).exp()


def member_engagement(db: Any, settings: EngagementSettings, as_of: datetime) -> pd.DataFrame:
    """Every non-staff member's engagement at ``as_of``: ``member_id``, ``account_id``, ``score``,
    ``activities`` (that earn points), ``last_active``, ``active`` and ``tier``, by member id."""
    a = _points(db, settings, as_of)
    a = a.mutate(w=a.pts * _decay(db, as_of, a.ts, settings.half_life_days))
    per = a.group_by("member_id").aggregate(score=a.w.sum(), activities=a.count(), last_active=a.ts.max())
    members = _member_accounts(db)
    joined = members.left_join(per, "member_id").drop("member_id_right")
    frame = fetch(joined.order_by("member_id"))
    frame["score"] = frame["score"].fillna(0.0).astype(float)
    frame["activities"] = frame["activities"].fillna(0).astype("int64")
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=settings.active_days)
    frame["active"] = frame["last_active"].notna() & (frame["last_active"] > cutoff)
    frame["tier"] = threshold_labels(frame["score"].to_numpy(float), settings.tiers)
    return frame


# -- accounts ---------------------------------------------------------------------------------------


def _rollup(db: Any, settings: EngagementSettings, snapshots: Any, until: datetime) -> Any:
    """``account_id``, ``t``, ``engagement``, ``active_members``, ``last_active`` at each snapshot
    (``until`` is the latest ``t``)."""
    import ibis

    members = _member_accounts(db)
    a = _points(db, settings, until).join(members.filter(members.account_id.notnull()), "member_id")
    joined = snapshots.join(a, (snapshots.account_id == a.account_id) & (a.ts <= snapshots.t))
    joined = joined.mutate(w=joined.pts * _decay(db, joined.t, joined.ts, settings.half_life_days),
                           recent=joined.ts > joined.t - ibis.interval(days=settings.active_days))
    # Per member first, then per account: a plain count replaces a count of distinct members.
    per_member = joined.group_by(["account_id", "t", "member_id"]).aggregate(
        w=joined.w.sum(), recent=joined.recent.any(), last=joined.ts.max())
    return per_member.group_by(["account_id", "t"]).aggregate(
        engagement=per_member.w.sum(),
        active_members=per_member.recent.cast("int64").sum(),
        last_active=per_member.last.max(),
    )


def _rollup_at(db: Any, settings: EngagementSettings, t: datetime) -> Any:
    """:func:`_rollup` for one instant, for every account: no join with the snapshots and a constant
    clock, which makes today's scores about twice as fast as the general form."""
    import ibis

    members = _member_accounts(db)
    a = _points(db, settings, t).join(members.filter(members.account_id.notnull()), "member_id")
    a = a.mutate(w=a.pts * _decay(db, t, a.ts, settings.half_life_days),
                 recent=a.ts > ibis.literal(t) - ibis.interval(days=settings.active_days))
    per_member = a.group_by(["account_id", "member_id"]).aggregate(w=a.w.sum(), recent=a.recent.any(),
                                                                   last=a.ts.max())
    return per_member.group_by("account_id").aggregate(
        t=ibis.literal(t),
        engagement=per_member.w.sum(),
        active_members=per_member.recent.cast("int64").sum(),
        last_active=per_member.last.max(),
    )


def _relationship(db: Any, settings: HealthSettings, snapshots: Any) -> Any:
    """``account_id``, ``t``, ``nps``, ``nps_answers``: NPS of the account's answers in the window."""
    import ibis

    s = db.table("surveys")
    s = s.filter(s.kind == "nps")
    members = _member_accounts(db)
    via_member = s.join(members, "member_id").select("account_id", "ts", "score")
    contacts = db.table("contacts")
    contacts = contacts.filter(contacts.account_id.notnull()).select("contact_id", "account_id").distinct()
    via_contact = s.join(contacts, "contact_id").select("account_id", "ts", "score")
    answers = via_member.union(via_contact, distinct=False)
    answers = answers.filter(answers.account_id.notnull())
    joined = snapshots.join(answers, (snapshots.account_id == answers.account_id) & (answers.ts <= snapshots.t)
                            & (answers.ts > snapshots.t - ibis.interval(days=settings.relationship_days)))
    return joined.group_by(["account_id", "t"]).aggregate(
        nps=100.0 * ((joined.score >= 9).cast("float64").mean() - (joined.score <= 6).cast("float64").mean()),
        nps_answers=joined.count(),
    )


def _mid_percentile(values: pd.Series, groups: pd.Series) -> pd.Series:
    """100 x (share below + half the share equal) within each group; NaN where the value is missing."""
    frame = pd.DataFrame({"v": values.astype(float), "g": groups.fillna("(none)")})
    ranked = frame.groupby("g")["v"]
    below = ranked.rank(method="min") - 1
    equal = ranked.rank(method="max") - below
    return 100.0 * (below + 0.5 * equal) / ranked.transform("count")


def _accounts(db: Any, settings: HealthSettings) -> pd.DataFrame:
    """One row per account (its latest load): segment, seats and the static component scores."""
    a = latest_accounts(db)
    frame = a.select(
        "account_id", "segment", "seats", "domain",
        arr=a.arr.cast("float64"),
        usage=attribute_number(a.attributes[settings.product_usage_attribute]),
        tickets=attribute_number(a.attributes[settings.support_attribute]),
    ).execute()
    frame = frame.drop_duplicates("account_id")
    frame["product_usage"] = _mid_percentile(frame["usage"], frame["segment"])
    frame["support"] = 100.0 - _mid_percentile(frame["tickets"], frame["segment"])
    frame["commercial"] = _mid_percentile(frame["arr"], frame["segment"])
    return frame


def account_health(db: Any, engagement: EngagementSettings, health: HealthSettings,
                   snapshots: pd.DataFrame) -> pd.DataFrame:
    """Health at each snapshot: ``snapshots`` has ``account_id`` and ``t`` (UTC instants; other columns
    are kept). Adds the roll-up (``engagement``, ``active_members``, ``members``, ``seats``,
    ``active_ratio``, ``days_since_active``), the components (0-100, NaN when missing), ``health``,
    ``band`` and ``missing`` (the components without data, comma-separated)."""
    import ibis

    unknown = sorted(set(health.weights) - set(COMPONENTS))
    if unknown:
        raise InputError(f"Unknown health component(s) {', '.join(unknown)} in scores.health.weights; "
                         f"the components are {', '.join(COMPONENTS)}.")
    base = snapshots.copy()
    base["t"] = pd.to_datetime(base["t"], utc=True)
    base["account_id"] = base["account_id"].astype(object)
    keys = ibis.memtable(base[["account_id", "t"]].drop_duplicates(),
                         schema={"account_id": "string", "t": "timestamp('UTC')"})
    instants = sorted(base["t"].unique())
    if not instants:
        rollup = pd.DataFrame({"account_id": pd.Series(dtype=object), "t": base["t"],
                               "engagement": pd.Series(dtype=float), "active_members": pd.Series(dtype="int64"),
                               "last_active": base["t"]})
    elif len(instants) <= FEW_INSTANTS:  # today's scores and their trend: one constant-clock query per instant
        rollup = pd.concat([fetch(_rollup_at(db, engagement, pd.Timestamp(t).to_pydatetime())) for t in instants],
                           ignore_index=True)
    else:  # validation: many instants at once
        rollup = fetch(_rollup(db, engagement, keys, base["t"].max().to_pydatetime()))
    relation = _relationship(db, health, keys).execute()
    members = _member_accounts(db)
    members = members.filter(members.account_id.notnull())
    counts = members.group_by("account_id").aggregate(members=members.count()).execute()
    accounts = _accounts(db, health)
    frame = (base.merge(rollup, on=["account_id", "t"], how="left")
             .merge(relation, on=["account_id", "t"], how="left")
             .merge(counts, on="account_id", how="left")
             .merge(accounts[["account_id", "segment", "seats", "domain", "product_usage", "support",
                              "commercial"]], on="account_id", how="left"))
    frame["engagement"] = frame["engagement"].fillna(0.0)
    frame["active_members"] = frame["active_members"].fillna(0).astype("int64")
    frame["members"] = frame["members"].fillna(0).astype("int64")
    seats = frame["seats"].astype(float).where(frame["seats"].astype(float) > 0)
    frame["active_ratio"] = frame["active_members"] / seats
    frame["days_since_active"] = (frame["t"] - frame["last_active"]).dt.total_seconds() / 86_400
    depth = np.minimum(1.0, np.log1p(frame["engagement"]) / math.log1p(health.score_target))
    recency = np.power(0.5, frame["days_since_active"] / RECENCY_HALF_LIFE_DAYS).fillna(0.0)
    frame["community"] = 100.0 * (depth + recency) / 2.0
    frame["relationship"] = (frame["nps"] + 100.0) / 2.0
    weights = {k: w for k, w in health.weights.items() if w > 0}
    values = frame[list(weights)].to_numpy(float)
    w = np.array(list(weights.values()))
    present = ~np.isnan(values)
    total = (present * w).sum(axis=1)
    frame["health"] = np.where(total > 0, np.nansum(values * w, axis=1) / np.where(total > 0, total, 1.0), np.nan)
    frame["band"] = threshold_labels(frame["health"].to_numpy(float), health.bands)
    names = np.array(list(weights), dtype=object)
    # the names of the missing components, once per pattern of missing ones (a handful), not once per account
    patterns, pattern_of_row = np.unique(present, axis=0, return_inverse=True)
    text = np.array([", ".join(names[~row]) for row in patterns], dtype=object)
    frame["missing"] = text[pattern_of_row.ravel()]
    return frame


# -- validation ---------------------------------------------------------------------------------------


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (ties count half): the Mann-Whitney form."""
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _bootstrap_auc(scores: Sequence[np.ndarray], positive: np.ndarray, replicates: int, seed: int
                   ) -> np.ndarray:
    """AUC of each score on the same resamples (paired): shape (replicates, len(scores))."""
    rng = np.random.default_rng(seed)
    pos = np.asarray(positive, dtype=bool)
    n = len(pos)
    out = np.full((replicates, len(scores)), np.nan)
    if n == 0:
        return out
    # A resample repeats rows: its AUC follows from how often it drew each row, summed per distinct score value
    # on each side (negatives below a value, ties counting half), for a block of resamples at once — the
    # Mann-Whitney count without ranking the resampled rows. The same resamples (one draw of n rows each).
    sorted_by = []
    for score in scores:
        order = np.argsort(np.asarray(score, dtype=np.float64), kind="stable")
        values = np.asarray(score, dtype=np.float64)[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        sorted_by.append((order, starts, pos[order]))
    block = max(1, min(replicates, 2**22 // n))
    for first in range(0, replicates, block):
        rows = range(first, min(first + block, replicates))
        copies = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in rows]).astype(np.float64)
        n1 = copies[:, pos].sum(axis=1)
        n0 = n - n1
        valid = (n1 > 0) & (n0 > 0)
        for j, (order, starts, positive_sorted) in enumerate(sorted_by):
            drawn = copies[:, order]
            ones = np.add.reduceat(drawn * positive_sorted, starts, axis=1)
            zeros = np.add.reduceat(drawn * ~positive_sorted, starts, axis=1)
            below = np.cumsum(zeros, axis=1) - zeros
            pairs = np.where(valid, n1 * n0, 1.0)
            out[first:first + len(rows), j] = np.where(valid, (ones * (below + 0.5 * zeros)).sum(axis=1) / pairs,
                                                       np.nan)
    return out


def validate_health(frame: pd.DataFrame, health: HealthSettings, *, replicates: int = 1000, seed: int = 0
                    ) -> dict[str, Any]:
    """How well health taken ``lead_days`` before each renewal foresees non-renewal.

    ``frame`` is :func:`account_health` at those snapshots with a boolean ``churned``. Returns the
    AUC of (100 - health) for churn with a percentile bootstrap interval, the AUC without the
    community component and the paired-bootstrap gain from it, churn per band with Wilson
    intervals, and learned weights (L2 logistic regression of churn on the standardised components,
    fitted on the earlier 70% of renewals) beside the configured ones, both scored on the later 30%.
    """
    from ..stats import wilson_interval

    data = frame.dropna(subset=["health"]).reset_index(drop=True)
    churned = data["churned"].to_numpy(bool)
    if len(data) < 20 or churned.all() or not churned.any():
        raise NotEnoughDataError(f"Validation needs at least 20 decided renewals with both outcomes before the lead "
                                 f"time; found {len(data)} ({int(churned.sum())} churned). Load more subscriptions "
                                 "history.")
    weights = {k: w for k, w in health.weights.items() if w > 0}
    risk = 100.0 - data["health"].to_numpy(float)
    without = _renormalised(data, {k: w for k, w in weights.items() if k != "community"})
    draws = _bootstrap_auc([risk, 100.0 - without], churned, replicates, seed)
    gain = draws[:, 0] - draws[:, 1]
    bands = []
    for name, _ in sorted(health.bands.items(), key=lambda item: item[1]):
        chosen = data["band"] == name
        n, k = int(chosen.sum()), int(churned[chosen.to_numpy()].sum())
        low, high = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        bands.append({"band": name, "renewals": n, "churned": k, "churn_rate": k / n if n else float("nan"),
                      "ci_low": low, "ci_high": high})
    result = {
        "renewals": len(data), "churned": int(churned.sum()),
        "auc": auc(risk, churned), "auc_low": float(np.nanpercentile(draws[:, 0], 2.5)),
        "auc_high": float(np.nanpercentile(draws[:, 0], 97.5)),
        "auc_without_community": auc(100.0 - without, churned),
        "community_gain": float(np.nanmean(gain)), "community_gain_low": float(np.nanpercentile(gain, 2.5)),
        "community_gain_high": float(np.nanpercentile(gain, 97.5)),
        "bands": bands,
    }
    result.update(_learned_weights(data, weights))
    return result


def _renormalised(frame: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    values = frame[list(weights)].to_numpy(float)
    w = np.array(list(weights.values()))
    present = ~np.isnan(values)
    total = (present * w).sum(axis=1)
    return np.where(total > 0, np.nansum(values * w, axis=1) / np.where(total > 0, total, 1.0), 50.0)


def _learned_weights(data: pd.DataFrame, weights: Mapping[str, float]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    ordered = data.sort_values("t", kind="stable").reset_index(drop=True)
    split = int(len(ordered) * 0.7)
    columns = list(weights)
    x = ordered[columns].to_numpy(float)
    seen = (~np.isnan(x[:split])).sum(axis=0)  # a component no early renewal has: filled with 50, not warned about
    means = np.where(seen > 0, np.nansum(x[:split], axis=0) / np.maximum(seen, 1), 50.0)
    x = np.where(np.isnan(x), means, x)
    sd = x[:split].std(axis=0)
    z = (x - x[:split].mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    y = ordered["churned"].to_numpy(bool)
    if y[:split].all() or not y[:split].any() or y[split:].all() or not y[split:].any():
        return {"learned_weights": None}
    model = LogisticRegression(C=1.0).fit(z[:split], y[:split])
    protective = np.maximum(-model.coef_[0], 0.0)  # a component whose rise lowers churn earns points
    learned = 100.0 * protective / protective.sum() if protective.sum() > 0 else np.zeros(len(columns))
    learned_score = _renormalised(ordered.iloc[split:], dict(zip(columns, learned, strict=True)))
    return {
        "learned_weights": dict(zip(columns, learned.round(1).tolist(), strict=True)),
        "expert_weights": {k: 100.0 * w / sum(weights.values()) for k, w in weights.items()},
        "holdout_renewals": len(ordered) - split,
        "holdout_auc_expert": auc(100.0 - ordered["health"].to_numpy(float)[split:], y[split:]),
        "holdout_auc_learned": auc(100.0 - learned_score, y[split:]),
    }
