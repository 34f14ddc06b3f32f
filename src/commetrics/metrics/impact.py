"""Renewal of engaged vs not engaged accounts: the raw difference and an adjusted association.

For every decided renewal (``subscriptions.renewed`` known, renewal date up to *as of*) the
participation of the account's members is counted in the exposure window
``[renewal - exposure_start_days, renewal - exposure_end_days)``, which ends before the decision,
so the participation cannot be a consequence of it. The count gives a level (none / low / medium /
high by thresholds), and ``engaged`` means the configured level or above.

Engaged accounts are often the ones that would have renewed anyway (bigger, heavier users), so
the raw difference in renewal rates overstates what engagement is associated with. The adjusted
estimate controls for the configured covariates (account columns or attributes, known before the
renewal): doubly robust AIPW is the headline, with IPW and a 1:1 nearest-neighbour matched
comparison beside it, and the diagnostics to judge them — standardised mean differences before and
after weighting, propensity overlap, effective sample sizes, trimmed counts and the E-value. The
wording is "adjusted association", never "effect": the adjustment only removes the differences in
the covariates it is given.

The table is assembled by one Ibis expression over the canonical tables; the statistics are in
:mod:`commetrics.metrics.causal`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..config import ImpactSettings
from ..errors import InputError
from ..stats import event_counts, kaplan_meier, logrank_test, wilson_interval
from . import attribute_number, causal, fetch, latest_accounts, threshold_labels
from .adjusted import AdjustedEstimate, Guard, Labels, adjusted_difference, log_scaled

__all__ = [
    "EXPANSION_OUTCOMES",
    "experiment_impact",
    "experiment_table",
    "exposure_impact",
    "exposure_table",
    "feedback_contributors",
    "renewal_impact",
    "renewal_table",
    "retention_impact",
    "retention_table",
    "survey_impact",
    "survey_table",
    "upsell_impact",
    "upsell_table",
]

MIN_RENEWALS = 40
#: Each side of a member comparison needs at least this many members.
MIN_PER_SIDE = 20


def _account_members(db: Any) -> Any:
    """``member_id``, ``account_id`` for every account a member is recorded with (as the demo defines
    an account's participation: the activities of all its members)."""
    m = db.table("members")
    return m.filter(m.account_id.notnull()).select("member_id", "account_id").distinct()


def renewal_table(db: Any, settings: ImpactSettings, as_of: datetime) -> pd.DataFrame:
    """One row per decided renewal: ``account_id``, ``period_end``, ``renewed``, ``activities`` in the
    exposure window, ``level``, ``engaged`` and the covariate columns (``cov:NAME``)."""
    import ibis

    s = db.table("subscriptions")
    s = s.filter(s.renewed.notnull() & (s.period_end <= ibis.literal(as_of)))
    s = s.select("account_id", "period_end", "renewed")
    m = _account_members(db)
    a = db.table("activities").select("member_id", "ts")
    touches = a.join(m, "member_id")
    joined = s.left_join(touches, (s.account_id == touches.account_id)
                         & (touches.ts >= s.period_end - ibis.interval(days=settings.exposure_start_days))
                         & (touches.ts < s.period_end - ibis.interval(days=settings.exposure_end_days)))
    counted = joined.group_by([s.account_id, s.period_end, s.renewed]).aggregate(activities=joined.ts.count())
    frame = fetch(counted.order_by(["account_id", "period_end"]))
    frame["renewed"] = frame["renewed"].astype(bool)
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    frame["engaged"] = frame["activities"] >= settings.levels[settings.engaged_level]
    return frame.merge(_covariates(db, settings), on="account_id", how="left")


def _covariates(db: Any, settings: ImpactSettings) -> pd.DataFrame:
    """The configured covariates per account (latest load), as ``cov:NAME`` columns."""
    a = latest_accounts(db)
    columns: dict[str, Any] = {}
    for spec in settings.covariates:
        name = spec.split(":", 1)[1] if spec.startswith("log:") else spec
        if name in a.columns and name not in ("attributes", "account_id"):
            value = a[name]
            columns[spec] = value.cast("float64") if value.type().is_numeric() else value.cast("string")
        else:
            columns[spec] = attribute_number(a.attributes[name])
    frame = fetch(a.select("account_id", **columns)) if columns else fetch(a.select("account_id"))
    out = pd.DataFrame({"account_id": frame["account_id"]})
    for spec in settings.covariates:
        values = frame[spec]
        if spec.startswith("log:"):
            values = np.log1p(values.astype(float).clip(lower=0))
        out[f"cov:{spec}"] = values
    return out.drop_duplicates("account_id")


def _design(frame: pd.DataFrame) -> tuple[np.ndarray, list[str], pd.Series]:
    """The covariate matrix: numbers as they are, text as indicator columns (first level left out).

    Returns the matrix, its column names, and which rows are complete (rows with a missing covariate
    are left out of the adjusted estimate and counted)."""
    parts, names = [], []
    complete = pd.Series(True, index=frame.index)
    for column in [c for c in frame.columns if c.startswith("cov:")]:
        values = frame[column]
        complete &= values.notna()
        if pd.api.types.is_numeric_dtype(values):
            parts.append(values.astype(float).to_numpy()[:, None])
            names.append(column[4:])
        else:
            dummies = pd.get_dummies(values.astype("string"), prefix=column[4:], drop_first=True, dtype=float)
            parts.append(dummies.to_numpy())
            names += list(dummies.columns)
    if not parts:
        raise InputError("The adjusted estimate needs covariates; set impact.covariates in commetrics.toml "
                         "(account columns or attributes such as log:arr, segment, product_usage).")
    matrix = np.hstack(parts)
    rows = complete.to_numpy()
    varies = np.nanstd(matrix[rows], axis=0) > 0 if rows.any() else np.ones(matrix.shape[1], dtype=bool)
    # A covariate with one value everywhere cannot adjust anything: it is left out (the names say which stay).
    return matrix[:, varies], [n for n, keep in zip(names, varies, strict=True) if keep], complete


def _rate_per_level(frame: pd.DataFrame, settings: ImpactSettings, flag: str, names: tuple[str, str, str]
                    ) -> pd.DataFrame:
    """Per level, lowest first: the rows (``names[0]``), those with ``flag`` (``names[1]``) and their share
    (``names[2]``) with its Wilson interval; a level nobody is in shows no rate."""
    rows = []
    for name, _ in sorted(settings.levels.items(), key=lambda item: item[1]):
        part = frame[frame["level"] == name]
        n, k = len(part), int(part[flag].sum())
        low, high = wilson_interval(k, n) if n else (math.nan, math.nan)
        rows.append({"level": name, names[0]: n, names[1]: k, names[2]: k / n if n else math.nan,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def _quarters(frame: pd.DataFrame) -> pd.DataFrame:
    """Renewal rates of engaged and other accounts per renewal quarter (the cohort table)."""
    quarter = frame["period_end"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("Q").astype(str)
    rows = []
    for name, part in frame.assign(quarter=quarter).groupby("quarter", sort=True):
        row: dict[str, Any] = {"quarter": name}
        for label, chosen in (("engaged", part[part["engaged"]]), ("not_engaged", part[~part["engaged"]])):
            row[f"{label}_renewals"] = len(chosen)
            row[f"{label}_rate"] = float(chosen["renewed"].mean()) if len(chosen) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def renewal_impact(frame: pd.DataFrame, settings: ImpactSettings, *, seed: int = 0, refute: bool = False
                   ) -> dict[str, Any]:
    """Raw and adjusted renewal differences of engaged vs not engaged accounts, with diagnostics.

    ``frame`` is :func:`renewal_table`. The adjusted figure is
    :func:`commetrics.metrics.adjusted.adjusted_difference` — by default the effect on the engaged
    renewals (ATT), after setting aside the engaged ones no comparable renewal resembles — with IPW
    and 1:1 matched pairs on the same population beside it, balance, overlap, the guards that decide
    whether it may be the headline, the robustness value and the E-value.
    """
    if len(frame) < MIN_RENEWALS:
        raise InputError(f"The renewal comparison needs at least {MIN_RENEWALS} decided renewals; the store holds "
                         f"{len(frame)}. Load more subscriptions history (subscriptions.renewed filled in).")
    engaged = frame["engaged"].to_numpy(bool)
    if engaged.all() or not engaged.any():
        which = "engaged" if engaged.all() else "not engaged"
        raise InputError(f"Every decided renewal is {which} at the '{settings.engaged_level}' level, so there is "
                         "nothing to compare; choose another impact.engaged_level or levels in commetrics.toml.")
    renewed = frame["renewed"].to_numpy(bool)
    raw = causal.newcombe_difference(int(renewed[engaged].sum()), int(engaged.sum()),
                                     int(renewed[~engaged].sum()), int((~engaged).sum()))
    x, names, complete = _design(frame)
    keep = complete.to_numpy()
    y, t = renewed[keep].astype(float), engaged[keep]
    result = _adjust(y, t, pd.DataFrame(x[keep], columns=names), settings, seed=seed, refute=refute,
                     labels=Labels("renewals", "engaged", "not engaged", "engagement", "renewal"))
    units = frame.loc[keep, ["account_id", "period_end", "engaged"]].reset_index(drop=True)
    units["propensity"], units["kept"] = result.ps, result.kept
    return {
        "levels": _rate_per_level(frame, settings, "renewed", ("renewals", "renewed", "rate")),
        "quarters": _quarters(frame),
        "renewals": len(frame), "engaged": int(engaged.sum()), "left_out_missing_covariates": int((~keep).sum()),
        "raw": {"difference": raw.difference, "ci_low": raw.low, "ci_high": raw.high},
        **_adjusted_fields(result, y, t, exposure="engagement", outcome="renewal",
                           groups=("engaged", "not_engaged")),
        "covariates": list(settings.covariates),
        "units": units,
        "wording": "adjusted association (controls only for the listed covariates)",
        "seed": seed,
    }


def _adjust(y: np.ndarray, t: np.ndarray, X: pd.DataFrame, settings: ImpactSettings, *, seed: int, refute: bool,
            labels: Labels, estimand: str | None = None) -> AdjustedEstimate:
    """The adjusted difference with the workspace's settings (estimand, trimming, folds, guard limits)."""
    return adjusted_difference(y, t, X, estimand=estimand or settings.estimand,  # type: ignore[arg-type]
                               trim=None if settings.trim == "none" else "crump", folds=settings.folds, seed=seed,
                               max_smd=settings.max_smd, min_ess=settings.min_ess, refute=refute, labels=labels)


def _adjusted_fields(result: AdjustedEstimate, y: np.ndarray, t: np.ndarray, *, exposure: str, outcome: str,
                     groups: tuple[str, str]) -> dict[str, Any]:
    """The adjusted estimate and its explanations and diagnostics, as the impact results carry them."""
    rows = result.kept
    treated_rate = float(y[rows & t].mean()) if (rows & t).any() else math.nan
    # The E-value works on the risk-ratio scale: the treated units' rate against what it would have been.
    counterfactual = treated_rate - result.estimate if result.estimand == "att" else math.nan
    if result.estimand == "ate":
        counterfactual = float(y[rows & ~t].mean()) if (rows & ~t).any() else math.nan
        treated_rate = counterfactual + result.estimate
    ratio = [(counterfactual + d) / counterfactual if counterfactual > 0 else math.nan
             for d in (result.estimate, result.ci_low, result.ci_high)]
    usable = all(math.isfinite(r) and r > 0 for r in ratio) and ratio[1] <= ratio[0] <= ratio[2]
    return {
        "adjusted": result.as_dict(),
        "headline": result.headline,
        "guards": [g.as_dict() for g in result.guards],
        "estimand": result.estimand,
        "population": result.population,
        "ipw": _estimate(result.ipw) if math.isfinite(result.ipw.estimate) else None,
        "matched": _estimate(result.matched) if result.matched is not None else None,
        "matched_pairs": int(result.matched.ess_treated) if result.matched is not None else 0,
        "balance": result.balance,
        "overlap": result.overlap._asdict(),
        "ess": {groups[0]: result.ess_treated, groups[1]: result.ess_control},
        "sensitivity": result.sensitivity.sentence if result.sensitivity else "",
        "e_value": causal.e_value_sentence(*ratio, exposure=exposure, outcome=outcome) if usable else "",
        "refutations": [r.as_dict() for r in result.refutations],
        "notes": list(result.notes),
    }


def _estimate(estimate: Any) -> dict[str, float]:
    return {"estimate": float(estimate.estimate), "se": float(estimate.se), "ci_low": float(estimate.ci_low),
            "ci_high": float(estimate.ci_high)}


# -- NPS and CSAT by participation --------------------------------------------------------------------------------


#: survey kinds with a score by participation: NPS (0-10, promoters minus detractors) and CSAT (1-5,
#: the top-2-box share of 4s and 5s)
SURVEY_KINDS = ("nps", "csat")


def _check_kind(kind: str) -> None:
    if kind not in SURVEY_KINDS:
        raise InputError(f"Scores by participation are measured for {' and '.join(SURVEY_KINDS)} surveys; "
                         f"{kind!r} is not one of them.")


def survey_table(db: Any, settings: ImpactSettings, as_of: datetime, kind: str = "nps") -> pd.DataFrame:
    """One row per survey answer of a member (``kind`` nps or csat): ``member_id``, ``ts``, ``score`` and
    ``activities`` — the member's activities in the ``exposure_start_days`` before the answer (only
    participation before the response counts) — with its ``level``."""
    import ibis

    _check_kind(kind)
    s = db.table("surveys")
    s = s.filter((s.kind == kind) & s.member_id.notnull() & (s.ts <= ibis.literal(as_of)))
    s = s.select("response_id", "member_id", "ts", "score")
    activities = db.table("activities")
    a = activities.select(member=activities.member_id, at=activities.ts)
    joined = s.left_join(a, (s.member_id == a.member) & (a.at < s.ts)
                         & (a.at >= s.ts - ibis.interval(days=settings.exposure_start_days)))
    counted = joined.group_by([s.response_id, s.member_id, s.ts, s.score]).aggregate(activities=joined.at.count())
    frame = fetch(counted.order_by(["member_id", "ts", "response_id"]))
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    return frame


def _response_rates(db: Any, settings: ImpactSettings, as_of: datetime, kind: str) -> pd.DataFrame:
    """Who answers: members (non-staff) by their level over the last year, and the share who gave an
    answer of ``kind`` in that year (non-response differs by level, which colours every NPS by level)."""
    import ibis

    start = ibis.literal(as_of) - ibis.interval(days=365)
    m = db.table("members")
    members = m.group_by("member_id").aggregate(staff=m.is_staff.fill_null(False).any(), joined=m.joined_at.min())
    members = members.filter(~members.staff & (members.joined <= ibis.literal(as_of)))
    a = db.table("activities")
    a = a.filter((a.ts > start) & (a.ts <= ibis.literal(as_of)))
    a = a.group_by("member_id").aggregate(n=a.count())
    s = db.table("surveys")
    s = s.filter((s.kind == kind) & (s.ts > start) & (s.ts <= ibis.literal(as_of)))
    answered = s.select("member_id").distinct().mutate(answered=ibis.literal(True))
    joined = members.left_join(a, "member_id").left_join(answered, "member_id")
    frame = fetch(joined.select(activities=joined.n.fill_null(0), answered=joined.answered.fill_null(False)))
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    return _rate_per_level(frame, settings, "answered", ("members", "answered", "response_rate"))


def _ordinal_model(frame: pd.DataFrame, db: Any) -> dict[str, Any]:
    """Proportional-odds (ordinal logit) model of the score (0-10 or 1-5) on ln(1 + participation), controlling
    for the member's tenure at the answer: the odds ratio of a higher score per unit of
    ln(1 + activities) — e.g. going from 0 to 1.7 activities, or from 4 to 12.6."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    m = db.table("members")
    joined = fetch(m.group_by("member_id").aggregate(joined=m.joined_at.min()))
    data = frame.merge(joined, on="member_id", how="left")
    tenure = (data["ts"] - data["joined"]).dt.total_seconds() / 86_400
    x = pd.DataFrame({"participation": np.log1p(data["activities"].astype(float)),
                      "tenure": np.log1p(tenure.clip(lower=0))})
    keep = x.notna().all(axis=1).to_numpy() & np.isfinite(x.to_numpy()).all(axis=1)
    if not x.loc[keep, "tenure"].std() > 1e-9:  # all alike (up to rounding): nothing to control for
        x = x.drop(columns="tenure")
    scores = pd.Series(pd.Categorical(data.loc[keep, "score"].astype(int), ordered=True))
    with warnings.catch_warnings(record=True):  # convergence is reported below, not warned about
        warnings.simplefilter("always")
        fit = OrderedModel(scores, x.loc[keep].reset_index(drop=True), distr="logit").fit(method="bfgs", disp=False,
                                                                                          maxiter=500)
    beta, se = float(fit.params["participation"]), float(fit.bse["participation"])
    z = 1.959963984540054
    return {"odds_ratio": math.exp(beta), "ci_low": math.exp(beta - z * se), "ci_high": math.exp(beta + z * se),
            "answers": int(keep.sum()), "controls": ", ".join(c for c in x.columns if c != "participation") or "none",
            "converged": bool(fit.mle_retvals.get("converged", False))}


def _score_per_level(frame: pd.DataFrame, settings: ImpactSettings, kind: str) -> pd.DataFrame:
    """Per level, lowest first: the answers and the score with its interval — NPS (adjusted Wald) or the
    CSAT top-2-box share (Wilson); a level nobody answered in shows no score."""
    rows = []
    for name, _ in sorted(settings.levels.items(), key=lambda item: item[1]):
        scores = frame.loc[frame["level"] == name, "score"].to_numpy(float)
        members = frame.loc[frame["level"] == name, "member_id"].nunique()  # the people behind the answers
        row: dict[str, Any] = {"level": name, "answers": len(scores), "members": members}
        if kind == "nps":
            value = causal.nps(scores) if len(scores) else None
            row |= {"nps": value.nps if value else math.nan, "se": value.se if value else math.nan,
                    "ci_low": value.ci_low if value else math.nan, "ci_high": value.ci_high if value else math.nan}
        else:
            satisfied = int((scores >= 4).sum())
            low, high = wilson_interval(satisfied, len(scores)) if len(scores) else (math.nan, math.nan)
            row |= {"satisfied": satisfied, "csat": satisfied / len(scores) if len(scores) else math.nan,
                    "ci_low": low, "ci_high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def _survey_comparison(frame: pd.DataFrame, db: Any, settings: ImpactSettings, kind: str, *, seed: int,
                       refute: bool) -> dict[str, Any]:
    """Engaged against not engaged members on their latest answer, raw and adjusted for tenure at the answer.

    The outcome is the answer scored as NPS counts it (promoter +1, passive 0, detractor −1: its mean × 100
    is the NPS) or as CSAT's top-2 box (4 or 5: 1); the difference × 100 is in NPS points or percentage
    points. ``{"reason": ...}`` when the groups cannot be compared."""
    m = db.table("members")
    joined = fetch(m.group_by("member_id").aggregate(joined=m.joined_at.min()))
    latest = frame.sort_values(["ts", "response_id"]).groupby("member_id").tail(1).merge(joined, on="member_id",
                                                                                     how="left")
    latest = latest[latest["joined"].notna()]
    engaged = (latest["activities"] >= settings.levels[settings.engaged_level]).to_numpy()
    score = latest["score"].to_numpy(float)
    y = np.select([score >= 9, score <= 6], [1.0, -1.0], 0.0) if kind == "nps" else (score >= 4).astype(float)
    tenure = ((latest["ts"] - latest["joined"]).dt.total_seconds() / 86_400).clip(lower=0).to_numpy(float)
    base = {"engaged_members": int(engaged.sum()), "other_members": int((~engaged).sum()),
            "engaged_level": settings.engaged_level, "scale": "NPS points" if kind == "nps" else "percentage points"}
    if min(engaged.sum(), (~engaged).sum()) < MIN_PER_SIDE or np.ptp(tenure) == 0:
        return {**base, "reason": f"Comparing engaged with other members needs at least {MIN_PER_SIDE} of each and "
                                  "tenures that differ; this store has "
                                  f"{int(engaged.sum())} and {int((~engaged).sum())}."}
    a, b = y[engaged], y[~engaged]
    if kind == "nps":
        difference = float(a.mean() - b.mean())
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        raw = {"difference": difference, "ci_low": difference - 1.96 * se, "ci_high": difference + 1.96 * se}
    else:
        interval = causal.newcombe_difference(int(a.sum()), a.size, int(b.sum()), b.size)
        raw = {"difference": interval.difference, "ci_low": interval.low, "ci_high": interval.high}
    words = Labels("members", "engaged", "not engaged", "engagement", kind.upper())
    try:
        result = adjusted_difference(y, engaged, pd.DataFrame({"tenure_days": tenure}), binary=kind == "csat",
                                     outcome_range=(-1.0, 1.0) if kind == "nps" else None,
                                     estimand=settings.estimand,
                                     trim=None if settings.trim == "none" else "crump", folds=settings.folds,
                                     seed=seed, max_smd=settings.max_smd, min_ess=settings.min_ess, refute=refute,
                                     labels=words)
    except InputError as error:
        return {**base, "raw": raw, "reason": str(error)}
    fields = _adjusted_fields(result, y, engaged, exposure="engagement", outcome=kind.upper(),
                              groups=("engaged", "not_engaged"))
    fields.pop("e_value")  # a difference of scores has no risk ratio
    return {**base, "raw": raw, **fields, "covariates": ["tenure_days"],
            "wording": "adjusted association: engaged members against members of the same tenure"}


def survey_impact(db: Any, settings: ImpactSettings, as_of: datetime, *, kind: str = "nps", replicates: int = 1000,
                  seed: int = 0, refute: bool = False) -> dict[str, Any]:
    """NPS or CSAT by participation level (participation before each answer), who answers, the rank
    correlation of participation with the score (Spearman, with a percentile bootstrap interval over
    members, so repeated answers of one member move together) and an ordinal logit with tenure."""
    from scipy.stats import spearmanr

    frame = survey_table(db, settings, as_of, kind)
    if len(frame) < MIN_RENEWALS:
        raise InputError(f"{kind.upper()} by participation needs at least {MIN_RENEWALS} {kind} answers of members; "
                         f"the store holds {len(frame)}. Load surveys with kind {kind} and a member_id.")
    x, y = frame["activities"].to_numpy(float), frame["score"].to_numpy(float)
    rho = float(spearmanr(x, y).statistic)
    # Cluster bootstrap over members: a resample takes each member's answers as many times as it drew them.
    ids, index = np.unique(frame["member_id"].to_numpy(), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = np.empty(replicates)
    for r in range(replicates):
        copies = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        rows_ = np.repeat(np.arange(len(frame)), copies[index])
        draws[r] = spearmanr(x[rows_], y[rows_]).statistic
    return {
        "kind": kind,
        "comparison": _survey_comparison(frame, db, settings, kind, seed=seed, refute=refute),
        "scale": "0-10; NPS = % promoters (9-10) - % detractors (0-6)" if kind == "nps"
        else "1-5; CSAT = % of answers of 4 or 5 (top-2 box)",
        "levels": _score_per_level(frame, settings, kind),
        "ordinal": _ordinal_model(frame, db),
        "response": _response_rates(db, settings, as_of, kind),
        "answers": len(frame), "members": len(ids),
        "spearman": {"rho": rho, "ci_low": float(np.nanpercentile(draws, 2.5)),
                     "ci_high": float(np.nanpercentile(draws, 97.5))},
        "window_days": settings.exposure_start_days,
        "wording": "association: members who take part more give higher scores; not proof that taking part "
                   "raises them",
    }


# -- retention curves by participation (landmark) ---------------------------------------------------------


def retention_table(db: Any, settings: ImpactSettings, as_of: datetime) -> pd.DataFrame:
    """One row per customer account, from a landmark ``exposure_start_days`` after its first period
    started: ``activities`` of its members before the landmark (its ``level``), ``days`` from the
    landmark to its first non-renewal (``churned``) or to *as of* (still a customer: censored), and
    the covariates. Accounts that churned before the landmark, or whose landmark is still to come,
    are left out (their participation is not complete)."""
    import ibis

    moment = ibis.literal(as_of)
    s = db.table("subscriptions")
    first = s.group_by("account_id").aggregate(
        start=s.period_start.min(), churn=s.period_end.min(where=(s.renewed == False) & (s.period_end <= moment)))  # noqa: E712
    first = first.mutate(landmark=first.start + ibis.interval(days=settings.exposure_start_days))
    first = first.filter((first.landmark <= moment) & (first.churn.isnull() | (first.churn > first.landmark)))
    m = _account_members(db)
    a = db.table("activities").select("member_id", "ts").join(m, "member_id")
    joined = first.left_join(a, (first.account_id == a.account_id) & (a.ts >= first.start) & (a.ts < first.landmark))
    counted = joined.group_by([first.account_id, first.landmark, first.churn]).aggregate(activities=joined.ts.count())
    frame = fetch(counted.order_by("account_id"))
    end = frame["churn"].fillna(pd.Timestamp(as_of))
    frame["churned"] = frame["churn"].notna()
    frame["days"] = (end - frame["landmark"]).dt.total_seconds() / 86_400
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    return frame.merge(_covariates(db, settings), on="account_id", how="left")


def retention_impact(frame: pd.DataFrame, settings: ImpactSettings, *, horizons: tuple[int, ...] = (365, 730)
                     ) -> dict[str, Any]:
    """Kaplan–Meier retention per participation level, the log-rank test, and a Cox model of churn on
    the level with the covariates (hazard ratios against the lowest level: below 1 = fewer churn)."""
    from statsmodels.duration.hazard_regression import PHReg

    if len(frame) < MIN_RENEWALS or not frame["churned"].any():
        raise InputError(f"Retention curves need at least {MIN_RENEWALS} customer accounts past the landmark and "
                         f"some churn; found {len(frame)} accounts, {int(frame['churned'].sum())} churned. Load "
                         "more subscriptions history.")
    order = [name for name, _ in sorted(settings.levels.items(), key=lambda item: item[1])]
    curves, rows = [], []
    for name in order:
        part = frame[frame["level"] == name]
        row: dict[str, Any] = {"level": name, "accounts": len(part), "churned": int(part["churned"].sum())}
        if len(part) and part["churned"].any():
            km = kaplan_meier(*event_counts(part["days"], part["churned"]))
            for h in horizons:
                row[f"retained_{h}d"] = km.survival_at(h)
            curves.append(pd.DataFrame({"level": name, "day": km.times, "retained": km.survival,
                                        "ci_low": km.ci_low, "ci_high": km.ci_high}))
        else:
            for h in horizons:
                row[f"retained_{h}d"] = 1.0 if len(part) else math.nan
        rows.append(row)
    present = frame["level"].nunique()
    test = logrank_test(frame["days"], frame["churned"], frame["level"]) if present > 1 else (math.nan, 0, math.nan)
    # A group with no churn at all (a level, or a category of a covariate) has an infinite hazard ratio:
    # its accounts are left out of the Cox model and listed, rather than breaking the fit.
    cox_frame, left_out = frame, []
    for column in ["level", *[c for c in frame.columns if c.startswith("cov:")
                              and not pd.api.types.is_numeric_dtype(frame[c])]]:
        events = cox_frame.groupby(column)["churned"].sum()
        for value in events.index[events == 0]:
            chosen = cox_frame[column] == value
            left_out.append({"group": f"{column.removeprefix('cov:')} = {value}", "accounts": int(chosen.sum())})
            cox_frame = cox_frame[~chosen]
    present_levels = [name for name in order if (cox_frame["level"] == name).any()]
    levels = pd.get_dummies(pd.Categorical(cox_frame["level"], categories=present_levels), drop_first=True,
                            dtype=float)
    numeric = [c for c in cox_frame.columns if c.startswith("cov:") and pd.api.types.is_numeric_dtype(cox_frame[c])]
    cox_frame, logged = log_scaled(cox_frame, numeric)
    cox_frame = cox_frame.rename(columns={c: f"cov:log:{c[4:]}" for c in logged})
    x, names, complete = _design(cox_frame)
    keep = complete.to_numpy()
    design = np.hstack([levels.to_numpy(), x])[keep]
    used = design.std(axis=0) > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PHReg(cox_frame["days"].to_numpy(float)[keep], design[:, used],
                      status=cox_frame["churned"].to_numpy(int)[keep], ties="efron").fit()
    converged = not any("converge" in str(w.message) for w in caught)
    labels = np.array([f"level: {c} (vs {present_levels[0]})" for c in levels.columns] + names)[used]
    z = 1.959963984540054
    cox = pd.DataFrame({"term": labels, "hazard_ratio": np.exp(model.params),
                        "ci_low": np.exp(model.params - z * model.bse), "ci_high": np.exp(model.params + z * model.bse),
                        "p": model.pvalues})
    guards = _cox_guards(cox, converged)
    return {
        "levels": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        "logrank": {"chi2": test[0], "df": test[1], "p": test[2]},
        "cox": cox, "cox_converged": converged, "cox_left_out": left_out,
        "headline": not guards, "guards": [g.as_dict() for g in guards],
        "log_scaled": {f"log:{c[4:]}": kind for c, kind in logged.items()},
        "accounts": len(frame), "landmark_days": settings.exposure_start_days,
        "wording": "adjusted association: hazard ratios control only for the listed covariates",
    }


def _cox_guards(cox: pd.DataFrame, converged: bool) -> list[Guard]:
    """Why the Cox model's hazard ratios may not be read: no terms, no convergence, or infinite ratios."""
    guards = []
    if cox.empty:
        guards.append(Guard("model", 0.0, 1.0, "The Cox model has no term left to estimate: every level or "
                            "covariate was constant or left out.", "Load more subscriptions history, or set "
                            "impact.levels so that accounts fall into more than one level."))
    elif not converged:
        guards.append(Guard("convergence", 0.0, 1.0, "The Cox model did not converge, so its hazard ratios are not "
                            "estimates.", "Use fewer covariates, or look for one that (nearly) decides who churns."))
    bad = cox[~np.isfinite(cox[["hazard_ratio", "ci_low", "ci_high"]].to_numpy(float)).all(axis=1)] if len(cox) else cox
    if len(bad):
        guards.append(Guard("separation", float(len(bad)), 0.0, "The hazard ratios of " + ", ".join(bad["term"]) +
                            " are infinite or undefined: those accounts either all churn or none does.",
                            "Merge the level or category with a neighbour, or drop the covariate."))
    return guards


# -- the general member-level question --------------------------------------------------------------------


def exposure_table(db: Any, *, exposure: str, outcome: str, window_days: int, exposure_days: int,
                   covariates: tuple[str, ...], as_of: datetime) -> pd.DataFrame:
    """One row per eligible member for "did members exposed to X go on to Y more often?".

    A landmark design, so that both groups' clocks start together: the landmark is
    ``T = as_of - window_days``. A member is *exposed* with an activity of type ``exposure`` (or of
    program ``program:NAME``) in ``[T - exposure_days, T)``; the *outcome* is an outcome of type
    ``outcome`` in ``[T, T + window_days]``. Eligible: non-staff members who joined before the
    exposure window and had no such outcome before ``T``. Covariates: ``tenure_days`` and
    ``prior_activities`` (before the exposure window) always, plus the named member attributes
    (extra columns of a loaded members file); text values become categories.
    """
    import ibis

    landmark = as_of - pd.Timedelta(days=window_days)
    start = landmark - pd.Timedelta(days=exposure_days)
    t, t0, t1 = ibis.literal(landmark), ibis.literal(start), ibis.literal(as_of)
    m = db.table("members")
    attrs = {name: m.attributes[name] for name in covariates}
    members = m.group_by("member_id").aggregate(
        joined=m.joined_at.min(), staff=m.is_staff.fill_null(False).any(),
        **{f"cov:{name}": field.str.fill_null(field.float.cast("string")).max() for name, field in attrs.items()})
    members = members.filter(~members.staff & (members.joined < t0))
    a = db.table("activities")
    hit = a.program == exposure.split(":", 1)[1] if exposure.startswith("program:") else a.type == exposure
    exposed = a.filter(hit & (a.ts >= t0) & (a.ts < t)).select("member_id").distinct()
    exposed = exposed.mutate(exposed=ibis.literal(True))
    earlier = a.filter(a.ts < t0)
    prior = earlier.group_by("member_id").aggregate(prior_activities=earlier.count())
    o = db.table("outcomes")
    o = o.filter((o.type == outcome) & o.member_id.notnull())
    before = o.filter(o.ts < t).select("member_id").distinct().mutate(before=ibis.literal(True))
    after = o.filter((o.ts >= t) & (o.ts <= t1)).select("member_id").distinct().mutate(converted=ibis.literal(True))
    joined = (members.left_join(exposed, "member_id").drop("member_id_right")
              .left_join(prior, "member_id").drop("member_id_right")
              .left_join(before, "member_id").drop("member_id_right")
              .left_join(after, "member_id").drop("member_id_right"))
    joined = joined.filter(joined.before.isnull())
    frame = fetch(joined.select(
        "member_id", *[f"cov:{name}" for name in covariates],
        exposed=joined.exposed.fill_null(False), converted=joined.converted.fill_null(False),
        tenure=(t.epoch_seconds() - joined.joined.epoch_seconds()) / 86_400,
        prior=joined.prior_activities.fill_null(0)).order_by("member_id"))
    frame["cov:tenure_days"] = frame.pop("tenure").astype(float)
    frame["cov:prior_activities"] = np.log1p(frame.pop("prior").astype(float))
    for name in covariates:
        numbers = pd.to_numeric(frame[f"cov:{name}"], errors="coerce")
        if numbers.notna().sum() == frame[f"cov:{name}"].notna().sum():
            frame[f"cov:{name}"] = numbers
    return frame


def exposure_impact(frame: pd.DataFrame, *, exposure: str, outcome: str, settings: ImpactSettings | None = None,
                    seed: int = 0, refute: bool = False, estimand: str | None = None) -> dict[str, Any]:
    """Raw and adjusted differences in the outcome rate of exposed vs unexposed members, with the guards,
    balance and overlap diagnostics (see :func:`renewal_impact`). An adjusted association, not proof that
    X caused Y."""
    settings = settings or ImpactSettings()
    if len(frame) < MIN_RENEWALS:
        raise InputError(f"The comparison needs at least {MIN_RENEWALS} eligible members; found {len(frame)}. "
                         "Use a longer --window or check that members joined before the exposure window.")
    t = frame["exposed"].to_numpy(bool)
    y = frame["converted"].to_numpy(bool)
    if t.all() or not t.any():
        raise InputError(f"{'Every' if t.any() else 'No'} eligible member had a {exposure!r} activity in the exposure "
                         "window, so there is nothing to compare; check the activity type (see commetrics status) "
                         "or widen --exposure-days.")
    if y.all() or not y.any():
        raise InputError(f"{'Every' if y.any() else 'No'} eligible member had a {outcome!r} outcome in the window; "
                         "check the outcome type or change --window.")
    raw = causal.newcombe_difference(int(y[t].sum()), int(t.sum()), int(y[~t].sum()), int((~t).sum()))
    x, names, complete = _design(frame)
    keep = complete.to_numpy()
    yy, tt = y[keep].astype(float), t[keep]
    words = Labels("members", "exposed", "unexposed", f"{exposure} before the landmark", outcome)
    result = _adjust(yy, tt, pd.DataFrame(x[keep], columns=names), settings, seed=seed, refute=refute,
                     labels=words, estimand=estimand)
    units = frame.loc[keep, ["member_id", "exposed"]].reset_index(drop=True)
    units["propensity"], units["kept"] = result.ps, result.kept
    return {
        "exposure": exposure, "outcome": outcome, "members": len(frame), "exposed": int(t.sum()),
        "rate_exposed": float(y[t].mean()), "rate_unexposed": float(y[~t].mean()),
        "raw": {"difference": raw.difference, "ci_low": raw.low, "ci_high": raw.high},
        **_adjusted_fields(result, yy, tt, exposure=exposure, outcome=outcome, groups=("exposed", "unexposed")),
        "left_out_missing_covariates": int((~keep).sum()),
        "covariates": [c.removeprefix("cov:") for c in frame.columns if c.startswith("cov:")],
        "design_columns": names,
        "units": units,
        "wording": "adjusted association (controls only for the listed covariates)",
    }


# -- experiments -------------------------------------------------------------------------------------------


def experiment_table(db: Any, *, name: str, outcomes: Sequence[str], window_days: int, pre_days: int,
                     as_of: datetime) -> pd.DataFrame:
    """One row per unit of experiment ``name``: ``variant``, ``exposed_at``, ``mature`` (its window
    has elapsed by *as of*), for each outcome type a 0/1 ``y:TYPE`` (an outcome of the unit — keyed
    by member, contact or account id — within ``window_days`` after exposure), and ``pre``, the
    unit's activities in the ``pre_days`` before exposure (the CUPED covariate). Units assigned to
    more than one variant are kept with ``conflict`` set."""
    import ibis

    e = db.table("experiments")
    e = e.filter(e.experiment == name)
    units = e.group_by("unit_id").aggregate(variant=e.variant.min(), variants=e.variant.nunique(),
                                            exposed_at=e.exposed_at.min())
    o = db.table("outcomes").filter(lambda t: t.type.isin(list(outcomes)))
    keyed = o.select(unit=o.member_id, ts=o.ts, type=o.type).union(
        o.select(unit=o.contact_id, ts=o.ts, type=o.type), distinct=False).union(
        o.select(unit=o.account_id, ts=o.ts, type=o.type), distinct=False)
    keyed = keyed.filter(keyed.unit.notnull())
    hits = units.join(keyed, (units.unit_id == keyed.unit) & (keyed.ts >= units.exposed_at)
                      & (keyed.ts <= units.exposed_at + ibis.interval(days=window_days)))
    flags = hits.group_by("unit_id").aggregate(**{f"y:{t}": (hits.type == t).any() for t in outcomes})
    a = db.table("activities")
    before = units.join(a, (units.unit_id == a.member_id) & (a.ts < units.exposed_at)
                        & (a.ts >= units.exposed_at - ibis.interval(days=pre_days)))
    pre = before.group_by("unit_id").aggregate(pre=before.count())
    joined = units.left_join(flags, "unit_id").drop("unit_id_right").left_join(pre, "unit_id").drop("unit_id_right")
    frame = fetch(joined.order_by("unit_id"))
    for t in outcomes:
        frame[f"y:{t}"] = frame[f"y:{t}"].astype("boolean").fillna(False).astype(bool)
    frame["pre"] = frame["pre"].fillna(0).astype(float)
    frame["conflict"] = frame.pop("variants") > 1
    frame["mature"] = frame["exposed_at"].notna() & (frame["exposed_at"] + pd.Timedelta(days=window_days)
                                                     <= pd.Timestamp(as_of))
    return frame


def experiment_impact(frame: pd.DataFrame, *, outcomes: Sequence[str], control: str | None = None,
                      shares: Sequence[float] | None = None, alpha: float = 0.05, power: float = 0.8
                      ) -> dict[str, Any]:
    """An A/B test on conversions: per variant the rate with its Wilson interval; the sample-ratio
    check; every other variant against the control with Newcombe's interval and a z-test, Holm-adjusted
    over all variants and outcomes; the CUPED-adjusted difference where a pre-exposure activity count
    varies; and the minimum detectable effect at the sample size reached."""
    from scipy import stats as scipy_stats

    if frame.empty:
        raise InputError("No units are assigned to this experiment; load the experiments table (experiment, "
                         "unit_id, variant, exposed_at) and check the name.")
    variants = sorted(frame["variant"].unique())
    if len(variants) < 2:
        raise InputError(f"The experiment has one variant ({variants[0]}); an A/B test needs two or more.")
    reference = control or ("control" if "control" in variants else variants[0])
    if reference not in variants:
        raise InputError(f"The control {reference!r} is not a variant of this experiment ({', '.join(variants)}).")
    counts = [int((frame["variant"] == v).sum()) for v in variants]
    srm = causal.srm_check(counts, shares or [1 / len(variants)] * len(variants))
    usable = frame[frame["mature"] & ~frame["conflict"]]
    rows, comparisons = [], []
    for outcome in outcomes:
        y = f"y:{outcome}"
        for v in variants:
            part = usable[usable["variant"] == v]
            n, k = len(part), int(part[y].sum())
            low, high = wilson_interval(k, n) if n else (math.nan, math.nan)
            rows.append({"outcome": outcome, "variant": v, "assigned": int((frame["variant"] == v).sum()),
                         "analysed": n, "converted": k, "rate": k / n if n else math.nan, "ci_low": low,
                         "ci_high": high})
        base = usable[usable["variant"] == reference]
        for v in variants:
            if v == reference:
                continue
            arm = usable[usable["variant"] == v]
            if base.empty or arm.empty:
                continue
            test = causal.ab_test(int(base[y].sum()), len(base), int(arm[y].sum()), len(arm))
            row = {"outcome": outcome, "variant": v, "control": reference, "difference": test.difference,
                   "ci_low": test.ci_low, "ci_high": test.ci_high, "relative_lift": test.relative_lift,
                   "p": test.pvalue}
            both = pd.concat([base, arm])
            if both["pre"].std() > 0:
                adjusted = causal.cuped(both[y].astype(float), both["pre"])
                values = pd.Series(adjusted.adjusted, index=both.index)
                a_values, b_values = values.loc[base.index], values.loc[arm.index]
                se = math.sqrt(a_values.var(ddof=1) / len(a_values) + b_values.var(ddof=1) / len(b_values))
                diff = float(b_values.mean() - a_values.mean())
                z = scipy_stats.norm.ppf(0.975)
                row.update(cuped_difference=diff, cuped_ci_low=diff - z * se, cuped_ci_high=diff + z * se,
                           cuped_variance_ratio=adjusted.variance_ratio)
            comparisons.append(row)
    table = pd.DataFrame(comparisons)
    if not table.empty:
        table["p_holm"] = causal.holm(table["p"].to_numpy())
    base_rates = [r["rate"] for r in rows if r["variant"] == reference and r["outcome"] == outcomes[0]]
    n_control = int((usable["variant"] == reference).sum())
    mde = (causal.minimum_detectable_effect(base_rates[0], n_control, alpha=alpha, power=power)
           if base_rates and 0 < base_rates[0] < 1 and n_control >= 2 else math.nan)
    return {
        "variants": pd.DataFrame(rows), "comparisons": table, "control": reference,
        "srm": {"counts": dict(zip(variants, counts, strict=True)), "chi2": srm.statistic, "p": srm.pvalue,
                "mismatch": srm.mismatch},
        "conflicting_units": int(frame["conflict"].sum()), "immature_units": int((~frame["mature"]).sum()),
        "minimum_detectable_effect": mde,
    }


# -- upsell after participation (risk-set matching) ---------------------------------------------------------

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
    m = _account_members(db)
    activity = db.table("activities").select("member_id", "ts").join(m, "member_id")
    first = activity.group_by("account_id").aggregate(first_participation=activity.ts.min())
    # Small per-account tables, joined in pandas (one row per account each).
    frame = fetch(created).merge(fetch(periods), on="account_id", how="outer").merge(fetch(first), on="account_id",
                                                                                    how="left")
    frame["start"] = frame["first_period"].fillna(frame["created"])
    frame = frame.dropna(subset=["start"]).drop(columns=["first_period", "created"])
    frame = frame.sort_values("account_id", ignore_index=True)
    frame = frame.merge(_covariates(db, settings), on="account_id", how="left")
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
        raise InputError(f"The upsell comparison needs accounts with a start (a subscriptions period or "
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
        raise InputError(f"The upsell comparison matched {len(pairs)} participating accounts (at least "
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
        guards.append(Guard("balance", worst, limits.max_smd,
                            f"The matched accounts still differ from the participants by {worst:.2f} standard "
                            f"deviations on a covariate (target below {limits.max_smd:g}).",
                            "Use fewer covariates or a longer history, so that closer matches exist."))
    if len(set(control_rows)) < limits.min_ess:
        guards.append(Guard("ess", float(len(set(control_rows))), limits.min_ess,
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


# -- feature requests and feedback ---------------------------------------------------------------------------


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
