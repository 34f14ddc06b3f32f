"""Diagnostics of an adjusted comparison: covariate balance, overlap and the E-value (sensitivity)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputError
from .checks import FloatArray, _check_groups, _matrix, _same_length, _treated, _vector
from .records import EValue, Overlap


def _weighted_moments(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = (w[:, None] * x).sum(axis=0) / w.sum()
    variance = (w[:, None] * (x - mean) ** 2).sum(axis=0) / w.sum()
    return mean, variance


def _smd(difference: FloatArray, sd: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, difference / np.where(sd > 0, sd, 1.0), np.where(difference == 0, 0.0, np.inf))


def balance(X: Any, treated: Any, weights: Any = None) -> pd.DataFrame:
    """Covariate balance: standardised mean differences and variance ratios, before and after weighting.

    Parameters
    ----------
    X
        Covariates, one row per unit.
    treated
        1 for treated units, 0 for controls.
    weights
        Optional weights per unit (:func:`ipw_weights`, or :func:`matched_weights` after matching).

    Returns
    -------
    pandas.DataFrame
        One row per covariate: ``mean_treated``, ``mean_control``, ``smd_before`` and
        ``variance_ratio_before`` (treated over control); with weights also ``mean_treated_after``,
        ``mean_control_after``, ``smd_after`` and ``variance_ratio_after``.

    Notes
    -----
    Both SMDs divide by the same pooled SD of the *unweighted* groups, ``√((s²_t + s²_c) / 2)``,
    so that weighting can only change the numerator. Targets: |SMD| < 0.1 and a variance ratio
    within 0.5–2 (Austin). A covariate constant in both groups has SMD 0.
    """
    a = _treated(treated)
    array, names = _matrix(X, reject_constant=False)
    _same_length(X=array, treated=a)
    _check_groups(a)
    mean_t, mean_c = array[a].mean(axis=0), array[~a].mean(axis=0)
    var_t, var_c = array[a].var(axis=0, ddof=1), array[~a].var(axis=0, ddof=1)
    pooled = np.sqrt((var_t + var_c) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame({"mean_treated": mean_t, "mean_control": mean_c,
                              "smd_before": _smd(mean_t - mean_c, pooled), "variance_ratio_before": var_t / var_c},
                             index=pd.Index(names, name="covariate"))
    if weights is not None:
        w = _vector("weights", weights)
        _same_length(X=array, weights=w)
        if np.any(w < 0) or w[a].sum() <= 0 or w[~a].sum() <= 0:
            msg = "weights must be non-negative with a positive total in each group."
            raise InputError(msg)
        after_t, wvar_t = _weighted_moments(array[a], w[a])
        after_c, wvar_c = _weighted_moments(array[~a], w[~a])
        table["mean_treated_after"] = after_t
        table["mean_control_after"] = after_c
        table["smd_after"] = _smd(after_t - after_c, pooled)
        with np.errstate(divide="ignore", invalid="ignore"):
            table["variance_ratio_after"] = wvar_t / wvar_c
    return table


def overlap(ps: Any, treated: Any) -> Overlap:
    """Summary of how far the propensity scores of treated and control units overlap.

    ``share_outside`` is the share of all units with a score outside [0.05, 0.95]. ``auc`` is the
    probability that a random treated unit has a higher score than a random control: 0.5 means
    the groups look alike on the covariates, values near 1 mean poor overlap (a very "good"
    propensity model is a warning, not an achievement).
    """
    a = _treated(treated)
    p = _vector("ps", ps)
    _same_length(ps=p, treated=a)
    _check_groups(a)
    pt, pc = p[a], p[~a]
    ranks = stats.rankdata(p)
    auc = (ranks[a].sum() - pt.size * (pt.size + 1) / 2) / (pt.size * pc.size)
    return Overlap(float(pt.min()), float(pt.max()), float(pc.min()), float(pc.max()),
                   float(np.mean((p < 0.05) | (p > 0.95))), float(np.mean(pt > pc.max())),
                   float(np.mean(pc < pt.min())), float(auc))


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + math.sqrt(rr * (rr - 1)))


def e_value(rr: float, lo: float | None = None, hi: float | None = None) -> EValue:
    """E-value of a risk ratio (VanderWeele & Ding 2017), for the estimate and its confidence limit.

    The E-value is the minimum strength of association, on the risk-ratio scale, that an
    unmeasured factor would need with both the exposure and the outcome, beyond the measured
    covariates, to fully explain away the adjusted association: ``E = RR + √(RR (RR - 1))``.
    A risk ratio below 1 is inverted first. For the interval, the limit closest to 1 is used;
    if the interval includes 1 its E-value is 1.

    >>> round(e_value(3.9).point, 2)
    7.26
    """
    values = [v for v in (rr, lo, hi) if v is not None]
    if any(not (math.isfinite(v) and v > 0) for v in values):
        msg = f"Risk ratios must be positive and finite, got {values}."
        raise InputError(msg)
    if (lo is not None and lo > rr) or (hi is not None and hi < rr):
        msg = f"The interval ({lo}, {hi}) must contain the estimate {rr}."
        raise InputError(msg)
    point = _e(rr)
    limit = lo if rr >= 1 else hi  # the confidence limit closest to 1
    if limit is None:
        return EValue(point, None)
    crosses = limit <= 1 if rr >= 1 else limit >= 1
    return EValue(point, 1.0 if crosses else _e(limit))


def e_value_sentence(rr: float, lo: float | None = None, hi: float | None = None, *,
                     exposure: str = "the exposure", outcome: str = "the outcome") -> str:
    """The E-value in one plain-English sentence (or two, with an interval)."""
    value = e_value(rr, lo, hi)
    if value.point == 1:
        return (f"The adjusted risk ratio is 1.00: there is no adjusted association between {exposure} and "
                f"{outcome} to explain away.")
    text = (f"The adjusted association (risk ratio {rr:.2f}) could be explained away only by an unmeasured "
            f"factor associated with both {exposure} and {outcome} by a risk ratio of at least {value.point:.2f} "
            "each, over and above the measured covariates; weaker factors could not.")
    if value.ci == 1.0:
        text += " The confidence interval already includes 1, so no unmeasured factor is needed to make it do so."
    elif value.ci is not None:
        text += (f" For the confidence interval to include 1, such a factor would need risk ratios of at least "
                 f"{value.ci:.2f}.")
    return text
