"""NPS and CSAT by participation: scores per level, who answers, the rank correlation, an ordinal model, and
engaged against other members on their latest answer (adjusted for tenure)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...config import Config, ImpactSettings
from ...errors import InputError, NotEnoughDataError
from ...privacy.outputs import suppress_survey
from ...results import Diagnostic, Publication
from ...stats import wilson_interval
from .. import causal, fetch, threshold_labels
from ..adjusted import Labels, adjusted_difference
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .common import MIN_PER_SIDE, MIN_RENEWALS, adjusted_fields, diagnostics_of, impact_settings, rate_per_level
from .rank_correlation import RankPairs

__all__ = ["SURVEY_KINDS", "survey_impact", "survey_table"]

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
    return rate_per_level(frame, settings, "answered", ("members", "answered", "response_rate"))


def response_test(response: pd.DataFrame) -> dict[str, Any]:
    """Whether the response rate differs by level: Pearson's chi-square test of answered / not answered
    against the levels that hold members (``differs`` at p < 0.05; None when under two levels answer)."""
    from scipy.stats import chi2_contingency

    present = response[response["members"] > 0]
    table = np.column_stack([present["answered"].to_numpy(float),
                             (present["members"] - present["answered"]).to_numpy(float)])
    if len(present) < 2 or (table.sum(axis=0) == 0).any():
        return {"chi2": None, "df": 0, "p": None, "differs": None}
    test = chi2_contingency(table, correction=False)
    return {"chi2": float(test.statistic), "df": int(test.dof), "p": float(test.pvalue),
            "differs": bool(test.pvalue < 0.05)}


def _ordinal_model(frame: pd.DataFrame, db: Any) -> dict[str, Any] | None:
    """Proportional-odds (ordinal logit) model of the score (0-10 or 1-5) on ln(1 + participation), controlling
    for the member's tenure at the answer: the odds ratio of a higher score per unit of
    ln(1 + activities) — e.g. going from 0 to 1.7 activities, or from 4 to 12.6. None when every answer
    gives the same score or every member took part alike (there is nothing to model)."""
    from .ordinal import ExactOrderedModel  # statsmodels' OrderedModel with its exact gradient

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
    if scores.nunique() < 2 or not x.loc[keep, "participation"].std() > 1e-9:
        return None
    with warnings.catch_warnings(record=True):  # convergence is reported below, not warned about
        warnings.simplefilter("always")
        fit = ExactOrderedModel(scores, x.loc[keep].reset_index(drop=True), distr="logit").fit(
            method="bfgs", disp=False, maxiter=500)
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
    fields = adjusted_fields(result, y, engaged, exposure="engagement", outcome=kind.upper(),
                             groups=("engaged", "not_engaged"), covariates=pd.DataFrame({"tenure_days": tenure}),
                             unit="members")
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
        raise NotEnoughDataError(f"{kind.upper()} by participation needs at least {MIN_RENEWALS} {kind} answers of "
                                 f"members; the store holds {len(frame)}. Load surveys with kind {kind} and a "
                                 "member_id.")
    x, y = frame["activities"].to_numpy(float), frame["score"].to_numpy(float)

    def correlation(a: np.ndarray, b: np.ndarray) -> float:  # not defined when either side never varies
        return float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else math.nan

    rho = correlation(x, y)
    # Cluster bootstrap over members: a resample takes each member's answers as many times as it drew them.
    ids, index = np.unique(frame["member_id"].to_numpy(), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = np.empty(replicates)
    pairs = RankPairs.of(x, y)  # each resample's rho from the counts of its distinct pairs (no ranking of rows)
    for r in range(replicates):
        copies = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        draws[r] = pairs.rho(copies[index].astype(float))
    finite = draws[np.isfinite(draws)]
    return {
        "kind": kind,
        "comparison": _survey_comparison(frame, db, settings, kind, seed=seed, refute=refute),
        "scale": "0-10; NPS = % promoters (9-10) - % detractors (0-6)" if kind == "nps"
        else "1-5; CSAT = % of answers of 4 or 5 (top-2 box)",
        "levels": _score_per_level(frame, settings, kind),
        "ordinal": _ordinal_model(frame, db),
        "response": (response := _response_rates(db, settings, as_of, kind)),
        "response_test": response_test(response),
        "answers": len(frame), "members": len(ids),
        "spearman": {"rho": rho, "ci_low": float(np.percentile(finite, 2.5)) if finite.size else math.nan,
                     "ci_high": float(np.percentile(finite, 97.5)) if finite.size else math.nan},
        "window_days": settings.exposure_start_days,
        "wording": "association: members who take part more give higher scores; not proof that taking part "
                   "raises them",
    }


@dataclass(frozen=True)
class SurveySpec(SpecBase):
    """``impact.nps`` / ``impact.csat``: ``estimand`` of the engaged-vs-other comparison, ``refute``, ``seed``,
    ``replicates`` of the bootstrap (default ``impact.replicates``)."""

    estimand: str | None = None
    refute: bool = False
    seed: int = 0
    replicates: int | None = None

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        return {"replicates": config.impact.replicates}


def _analysis(kind: str) -> Analysis[SurveySpec]:
    def compute(context: Context, spec: SurveySpec) -> Computed:
        settings = impact_settings(context.config, estimand=spec.estimand)
        figures = survey_impact(context.ibis(), settings, context.as_of(spec.as_of), kind=kind,
                                replicates=spec.replicates or 1000, seed=spec.seed, refute=spec.refute)
        comparison = figures.get("comparison") or {}
        diagnostics = diagnostics_of(comparison, about="comparison")
        comparison.pop("checks", None)
        test = figures["response_test"]
        if test["differs"]:
            diagnostics += (Diagnostic("non_response", f"Response rates differ by participation level (chi-square "
                                       f"p = {test['p']:.2g}): who answers is not a random draw of each level.",
                                       f"Read every {kind.upper()} by level with that in mind.", "warning",
                                       test["p"], 0.05, about="levels"),)
        return Computed(figures, diagnostics, primary="levels")

    def publish(computed: Computed, spec: SurveySpec, k: int) -> tuple[dict[str, Any], Publication]:
        del spec
        return suppress_survey(dict(computed.figures), k)

    title = "NPS by participation" if kind == "nps" else "CSAT by participation"
    return Analysis(name=f"impact.{kind}", title=title, spec=SurveySpec, compute=compute, publish=publish,
                    help=f"{kind.upper()} by participation level (participation before each answer), who answers, the "
                         "rank correlation, and engaged against other members adjusted for tenure.")


for _kind in SURVEY_KINDS:
    ANALYSES.register(f"impact.{_kind}", _analysis(_kind))
