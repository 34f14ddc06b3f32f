"""The adjusted difference: the doubly robust contrast on the kept units, its guards and population."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import InputError
from ...results import Diagnostic
from .. import causal
from .covariates import prepare_covariates
from .nuisances import Nuisances
from .nuisances import nuisances as fit_nuisances
from .overlap import SEPARATION_AUC, bounds_rule
from .records import AdjustedEstimate, BoolArray, Estimand, FloatArray, Labels, Prepared, Sensitivity, guard
from .sensitivity import refutations, robustness_value, sensitivity_sentence

__all__ = ["adjusted_difference"]


def _dr(y: FloatArray, t: BoolArray, ps: FloatArray, m0: FloatArray, m1: FloatArray, estimand: Estimand
        ) -> tuple[float, FloatArray, FloatArray]:
    """The doubly robust contrast with normalised weights, its influence function and the weights."""
    a = t.astype(np.float64)
    if estimand == "att":
        w = np.where(t, 1.0, ps / (1 - ps))
        p = a.mean()
        q = float(((1 - a) * w).mean())
        r = y - m0
        mu1 = float((a * r).sum() / a.sum())
        mu0 = float(((1 - a) * w * r).sum() / ((1 - a) * w).sum())
        influence = a * (r - mu1) / p - (1 - a) * w * (r - mu0) / q
        return mu1 - mu0, influence, w
    w = np.where(t, 1 / ps, 1 / (1 - ps))
    q1, q0 = float((a * w).mean()), float(((1 - a) * w).mean())
    c1 = float((a * w * (y - m1)).sum() / (a * w).sum())
    c0 = float(((1 - a) * w * (y - m0)).sum() / ((1 - a) * w).sum())
    estimate = float((m1 - m0).mean()) + c1 - c0
    influence = (m1 - m0 - (m1 - m0).mean()) + a * w * (y - m1 - c1) / q1 - (1 - a) * w * (y - m0 - c0) / q0
    return estimate, influence, w


def _guards(estimate: float, low: float, high: float, span: float | None, max_smd: float, ess_t: float,
            ess_c: float, *, max_smd_limit: float, min_ess: float, weighted_treated: bool = True
            ) -> tuple[Diagnostic, ...]:
    """The guards that trip. The effective-sample-size floor applies to the weighted groups: both for the
    ATE, the comparison group only for the ATT (the treated units all weigh 1, so theirs is their count)."""
    out = []
    if span is not None and not (-span <= estimate <= span):
        out.append(guard("range", estimate, span,
                         f"The adjusted difference ({estimate:+.3g}) lies outside the possible range (±{span:g}): "
                         "the model extrapolates far beyond the data.",
                         "Use fewer or log-scaled covariates, restrict to comparable units, or ask for the other "
                         "estimand."))
    elif span is not None and (low < -span or high > span):
        out.append(guard("interval", high - low, 2 * span,
                         f"The interval ({low:+.3g} to {high:+.3g}) reaches beyond the possible range (±{span:g}): "
                         "the data cannot pin the difference down.",
                         "Add data (a longer period, more units) or use fewer covariates."))
    if max_smd > max_smd_limit:
        out.append(guard("balance", max_smd, max_smd_limit,
                         f"After weighting, a covariate still differs between the groups by {max_smd:.2f} standard "
                         f"deviations (target below {max_smd_limit:g}): the groups were not made comparable.",
                         "Use fewer covariates or transform the skewed ones, restrict to a segment where both groups "
                         "occur, or add data."))
    smaller = min(ess_t, ess_c) if weighted_treated else ess_c
    if smaller < min_ess:
        which = "treated" if weighted_treated and ess_t < ess_c else "comparison"
        out.append(guard("ess", smaller, min_ess,
                         f"The weights leave the {which} group worth only {smaller:.1f} equally weighted units "
                         f"(at least {min_ess:g} needed): a few units decide the answer.",
                         "Add data, use fewer covariates, or compare within a segment where both groups are common."))
    return tuple(out)


def _population(estimand: Estimand, trim: tuple[float, float], kept_t: int, kept_c: int, dropped_t: int,
                dropped_c: int, words: Labels) -> str:
    if estimand == "att":
        text = (f"the {kept_t:,} {words.treated} {words.unit}, compared with what they would have done had they not "
                f"been {words.treated}")
        if dropped_t:
            text += (f"; {dropped_t:,} more {words.treated} {words.unit} were set aside because none of the "
                     f"{words.control} {words.unit} resembled them (propensity above {trim[1]:.2f})")
        return text
    text = (f"all {kept_t + kept_c:,} {words.unit}, {words.treated} or not: the difference if every one were "
            f"{words.treated} rather than {words.control}")
    if dropped_t or dropped_c:
        text += (f"; {dropped_t + dropped_c:,} {words.unit} without a comparable counterpart (propensity outside "
                 f"{trim[0]:.2f}–{trim[1]:.2f}) were set aside")
    return text


def adjusted_difference(
    y: Any,
    treated: Any,
    X: Any,
    *,
    estimand: Estimand = "att",
    binary: bool | None = None,
    outcome_range: tuple[float, float] | None = None,
    trim: Literal["crump"] | tuple[float, float] | None = "crump",
    folds: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
    max_smd: float = 0.1,
    min_ess: float = 30.0,
    refute: bool = False,
    labels: Labels | None = None,
    transform: bool = True,
) -> AdjustedEstimate:
    """The adjusted difference in mean outcome, treated minus control, with its guards.

    Parameters
    ----------
    y, treated, X
        Outcome (0/1 or a number), 0/1 treatment and covariates (a numeric frame; text encoded as
        indicator columns), one row per unit.
    estimand
        ``"att"`` (default): the units that were treated, against what they would have done
        without. ``"ate"``: all units.
    binary
        Whether ``y`` is 0/1 (default: detected). A 0/1 outcome gets logistic outcome models and
        the range guards (a difference of rates lies within ±1).
    outcome_range
        ``(low, high)`` of another bounded outcome (e.g. −1 to 1 for an NPS answer scored as
        detractor, passive, promoter): the range guards then use ``±(high − low)``.
    trim
        ``"crump"`` (default), ``None`` (keep every unit) or a ``(low, high)`` propensity range.
    folds, seed
        Cross-fitting folds and the seed of their split.
    max_smd, min_ess
        Guard thresholds: the largest |standardised mean difference| after weighting, and the
        smallest Kish effective sample size of either group.
    refute
        Also run the refutations (placebo treatment, random common cause, data subsets).
    labels
        Words for ``population`` and the sensitivity sentence.
    """
    words = labels or Labels()
    a = causal._treated(treated)
    outcome = causal._vector("y", y)
    prepared = prepare_covariates(X, transform=transform)
    causal._same_length(y=outcome, treated=a, X=prepared.matrix)
    causal._check_groups(a)
    if estimand not in ("att", "ate"):
        raise InputError(f"estimand must be 'att' or 'ate', got {estimand!r}.")
    is_binary = bool(np.all((outcome == 0) | (outcome == 1))) if binary is None else binary
    if is_binary and not np.all((outcome == 0) | (outcome == 1)):
        raise InputError("binary=True needs a 0/1 outcome.")
    z = causal._z(confidence)
    bounds_of = bounds_rule(trim, estimand)
    nuisances = fit_nuisances(prepared.matrix, outcome, a, is_binary, folds, seed, bounds_of=bounds_of,
                           estimand=estimand, max_smd=max_smd)
    ps = nuisances.ps
    bounds = bounds_of(ps)
    keep = (ps >= bounds[0]) & (ps <= bounds[1])
    kept_t, kept_c = int((keep & a).sum()), int((keep & ~a).sum())
    dropped_t, dropped_c = int((~keep & a).sum()), int((~keep & ~a).sum())
    notes: list[str] = []
    if prepared.logged:
        notes.append("Put on a log scale because of their long right tail: " + ", ".join(prepared.logged) + ".")
    auc = causal.overlap(ps, a).auc
    if kept_t < causal.MIN_PER_GROUP or kept_c < causal.MIN_PER_GROUP or auc >= SEPARATION_AUC:
        what = (f"the propensity ranks nearly every treated unit above every comparison unit (AUC {auc:.3f}), so "
                "hardly any unit has a comparable counterpart" if auc >= SEPARATION_AUC else
                "after setting aside the units without a comparable counterpart, one group is (nearly) empty")
        blocked = guard("overlap", float(min(kept_t, kept_c)), float(causal.MIN_PER_GROUP),
                      f"The covariates separate the groups: {what}.",
                      "Restrict the analysis to comparable units (e.g. one segment) or drop the covariate that "
                      "decides who is treated.")
        return _empty(estimand, bounds, prepared, nuisances, a, keep, blocked, confidence, folds, words, notes)
    yk, ak, pk, m0, m1 = outcome[keep], a[keep], ps[keep], nuisances.m0[keep], nuisances.m1[keep]
    estimate, influence, weights = _dr(yk, ak, pk, m0, m1, estimand)
    se = float(np.sqrt(np.var(influence, ddof=1) / yk.size))
    low, high = estimate - z * se, estimate + z * se
    ess_t, ess_c = causal.ess(weights[ak]), causal.ess(weights[~ak])
    balance = causal.balance(pd.DataFrame(prepared.matrix[keep], columns=prepared.names), ak, weights)
    balance = balance.rename_axis("covariate").reset_index()
    worst = float(balance["smd_after"].abs().max()) if len(balance) else 0.0
    span = 1.0 if is_binary else (outcome_range[1] - outcome_range[0] if outcome_range else None)
    guards = _guards(estimate, low, high, span, worst, ess_t, ess_c, max_smd_limit=max_smd, min_ess=min_ess,
                     weighted_treated=estimand == "ate")
    ipw = causal.ipw(yk, ak, pk, estimand=estimand, confidence=confidence)
    try:
        pairs = causal.match_nearest(np.log(pk / (1 - pk)), ak)
        matched = causal.matched_estimate(yk, ak, pairs, confidence=confidence) if len(pairs) >= 2 else None
    except InputError:
        matched = None
    rv, rva, max_bias = robustness_value(yk, ak, pk, m0, m1, estimate, influence, estimand=estimand)
    sensitivity = (Sensitivity(rv, rva, max_bias, sensitivity_sentence(rv, rva, words.treatment, words.outcome))
                   if math.isfinite(rv) else None)
    # Many treated units set aside is said by the population sentence and, in the impact results, a warning.
    result = AdjustedEstimate(
        estimate=estimate, se=se, ci_low=low, ci_high=high, estimand=estimand,
        population=_population(estimand, bounds, kept_t, kept_c, dropped_t, dropped_c, words), trim=bounds,
        treated_kept=kept_t, control_kept=kept_c, treated_dropped=dropped_t, control_dropped=dropped_c,
        ess_treated=ess_t, ess_control=ess_c, ipw=ipw, matched=matched, balance=balance,
        overlap=causal.overlap(ps, a), logged=prepared.logged, propensity_model=nuisances.propensity_model,
        outcome_model=nuisances.outcome_model, guards=guards, sensitivity=sensitivity, notes=tuple(notes),
        confidence=confidence, folds=folds, kept=keep, ps=ps)
    if refute:
        options: dict[str, Any] = {"estimand": estimand, "binary": is_binary, "outcome_range": outcome_range,
                                   "trim": trim, "folds": folds, "confidence": confidence, "max_smd": max_smd,
                                   "min_ess": min_ess, "transform": transform, "labels": words}
        result = replace(result, refutations=refutations(outcome, a, X, result, estimator=adjusted_difference,
                                                         seed=seed, **options))
    return result


def _empty(estimand: Estimand, bounds: tuple[float, float], prepared: Prepared, nuisances: Nuisances,
           a: BoolArray, keep: BoolArray, guard: Diagnostic, confidence: float, folds: int, words: Labels,
           notes: list[str]) -> AdjustedEstimate:
    nothing = causal.Estimate(math.nan, math.nan, math.nan, math.nan, 0, int((~keep).sum()), 0.0, 0.0, "ipw-hajek",
                              estimand)
    kept_t, kept_c = int((keep & a).sum()), int((keep & ~a).sum())
    return AdjustedEstimate(
        estimate=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan, estimand=estimand,
        population=_population(estimand, bounds, kept_t, kept_c, int((~keep & a).sum()), int((~keep & ~a).sum()),
                               words),
        trim=bounds, treated_kept=kept_t, control_kept=kept_c, treated_dropped=int((~keep & a).sum()),
        control_dropped=int((~keep & ~a).sum()), ess_treated=0.0, ess_control=0.0, ipw=nothing, matched=None,
        balance=pd.DataFrame({"covariate": prepared.names}), overlap=causal.overlap(nuisances.ps, a),
        logged=prepared.logged, propensity_model=nuisances.propensity_model, outcome_model=nuisances.outcome_model,
        guards=(guard,), sensitivity=None, notes=tuple(notes), confidence=confidence, folds=folds, kept=keep,
        ps=nuisances.ps)
