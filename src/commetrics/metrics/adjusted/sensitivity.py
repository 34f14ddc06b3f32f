"""Sensitivity: the robustness value of Chernozhukov, Cinelli, Newey, Sharma & Syrgkanis (2022), as DoubleML
reports it, and the refutations (placebo treatment, random common cause, data subsets)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputError
from .. import causal
from .records import AdjustedEstimate, BoolArray, Estimand, FloatArray, Refutation

__all__ = ["refutations", "robustness_value", "sensitivity_sentence"]


def robustness_value(y: Any, treated: Any, ps: Any, m0: Any, m1: Any, estimate: float, influence: Any, *,
                     estimand: Estimand = "att", level: float = 0.95) -> tuple[float, float, float]:
    """``(rv, rva, max_bias)``: DoubleML's robustness values for an IRM score (ATE or ATTE).

    ``σ² = mean((y − g(D, X))²)`` with ``g = D m1 + (1 − D) m0``; ``ν² = mean(2 m(W, α) − α²)`` with the
    Riesz representer ``α``; the bias of a confounder of strengths ``cf_y = cf_d = r`` is at most
    ``r / √(1 − r) · √(σ² ν²)``. ``rv`` solves that bias = |estimate|; ``rva`` makes the one-sided
    ``level`` bound (with the influence functions of σ² and ν² added, as DoubleML does) reach 0.
    ``influence`` is the estimate's influence function (its variance / n is the squared SE).
    """
    d = causal._vector("treated", treated)
    yy, e, g0, g1 = (causal._vector(k, v) for k, v in (("y", y), ("ps", ps), ("m0", m0), ("m1", m1)))
    psi = causal._vector("influence", influence)
    n = yy.size
    sigma_element = (yy - d * g1 - (1 - d) * g0) ** 2
    if estimand == "att":
        p = d.mean()
        weights, weights_bar = d / p, e / p
    else:
        weights = weights_bar = np.ones(n)
    m_alpha = weights * weights_bar * (1 / e + 1 / (1 - e))
    rr = weights_bar * (d / e - (1 - d) / (1 - e))
    nu_element = 2 * m_alpha - rr**2
    sigma2, nu2 = float(sigma_element.mean()), float(nu_element.mean())
    if not (sigma2 > 0 and nu2 > 0):
        return math.nan, math.nan, math.nan
    max_bias = math.sqrt(sigma2 * nu2)
    psi_max_bias = (sigma2 * (nu_element - nu2) + nu2 * (sigma_element - sigma2)) / (2 * max_bias)
    z = float(stats.norm.ppf(level))
    sign = 1.0 if estimate >= 0 else -1.0

    def bound(r: float, with_interval: bool) -> float:
        strength = math.sqrt(r * r / (1 - r))
        value = sign * estimate - strength * max_bias
        if with_interval:
            shifted = sign * psi - strength * psi_max_bias
            value -= z * math.sqrt(float(np.mean(shifted**2)) / n)
        return value

    def solve(with_interval: bool) -> float:
        if bound(0.0, with_interval) <= 0:
            return 0.0
        if bound(0.9999, with_interval) > 0:
            return 1.0
        from scipy.optimize import brentq

        return float(brentq(lambda r: bound(r, with_interval), 0.0, 0.9999, xtol=1e-10))

    return solve(False), solve(True), max_bias


def sensitivity_sentence(rv: float, rva: float, treatment: str, outcome: str) -> str:
    if rv == 0:
        return "The adjusted difference is 0, so there is nothing for an unmeasured factor to explain away."
    text = (f"To bring the adjusted difference to zero, an unmeasured factor would have to explain at least "
            f"{100 * rv:.1f}% of what the covariates leave unexplained of both {outcome} and {treatment} "
            f"(robustness value)")
    if rva == 0:
        return text + "; the interval already includes zero."
    return text + f"; {100 * rva:.1f}% would make it indistinguishable from zero."


def refutations(y: FloatArray, treated: BoolArray, X: Any, original: AdjustedEstimate, *,
                estimator: Callable[..., AdjustedEstimate], seed: int = 0, subsets: int = 5,
                subset_share: float = 0.8, **options: Any) -> tuple[Refutation, ...]:
    """Run the estimate again on altered data (the checks DoWhy popularised); a sound estimate passes all three.

    * **placebo treatment**: the treatment shuffled at random, so it can have no effect — the new
      estimate should lie within 2.58 of its standard errors of 0 (a 99% interval);
    * **random common cause**: an independent random covariate added, which confounds nothing — the
      estimate should move by less than one of the original's standard errors;
    * **data subset**: re-estimated on ``subsets`` random subsets of ``subset_share`` of the units.
      Without replacement, a subset's estimate differs from the whole's with an SD of about
      ``SE · √((1 − f) / f)`` (half an SE at 80%); every subset should stay within 3.5 such SDs.
      Larger moves mean the answer hangs on a few units or on a knife-edge choice of the models.

    ``estimator`` is the estimate to run again (:func:`commetrics.metrics.adjusted.adjusted_difference`),
    with ``options``.
    """
    rng = np.random.default_rng(seed + 1)
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=np.float64))
    frame = frame.reset_index(drop=True)
    out = []
    placebo = estimator(y, rng.permutation(treated.astype(int)), frame, seed=seed, **options)
    passed = bool(math.isfinite(placebo.estimate) and abs(placebo.estimate) <= 2.576 * placebo.se)
    out.append(Refutation("placebo_treatment", placebo.estimate, 0.0, passed,
                          f"With the treatment shuffled at random the adjusted difference is {placebo.estimate:+.3g}"
                          + (", near 0 as it should be." if passed else
                             ", not near 0: the method finds a difference where there can be none.")))
    noisy = frame.assign(random_common_cause=rng.normal(size=len(frame)))
    common = estimator(y, treated.astype(int), noisy, seed=seed, **options)
    moved = abs(common.estimate - original.estimate)
    passed = bool(moved <= original.se)
    out.append(Refutation("random_common_cause", common.estimate, original.estimate, passed,
                          f"With a random covariate added the estimate is {common.estimate:+.3g}"
                          + (", unchanged within one standard error as it should be." if passed else
                             f": it moved by {moved:.3g}, more than one standard error, so it is fragile.")))
    estimates = []
    n = len(y)
    for _ in range(subsets):
        rows = np.sort(rng.choice(n, round(subset_share * n), replace=False))
        try:
            part = estimator(y[rows], treated[rows].astype(int), frame.iloc[rows], seed=seed, **options)
        except InputError:
            continue
        if math.isfinite(part.estimate):
            estimates.append(part.estimate)
    mean = float(np.mean(estimates)) if estimates else math.nan
    spread = float(np.max(np.abs(np.asarray(estimates) - original.estimate))) if estimates else math.nan
    allowed = 3.5 * original.se * math.sqrt((1 - subset_share) / subset_share)
    passed = bool(estimates) and spread <= allowed
    out.append(Refutation("data_subset", mean, original.estimate, passed,
                          f"On {len(estimates)} random subsets of {subset_share:.0%} of the units the estimate "
                          f"averages {mean:+.3g}" + (", stable as it should be." if passed else
                                            f" and moves by up to {spread:.3g} (more than {allowed:.3g}): it hangs "
                                            "on a few units.")))
    return tuple(out)
