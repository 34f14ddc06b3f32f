"""Two-way fixed-effects difference-in-differences with standard errors clustered by unit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputError
from .panel import FloatArray, IntArray, _confidence, _panel
from .records import DidResult


def _two_way_residuals(x: FloatArray, unit: IntArray, period: IntArray, *, tol: float = 1e-12,
                       max_iter: int = 10_000) -> FloatArray:
    """Residuals of each column of ``x`` on unit and period dummies, by alternating projections.

    Subtracting unit means and then period means, repeatedly, converges to the residual of the
    regression on both sets of dummies (the method of alternating projections behind Stata's
    reghdfe and pyfixest). A balanced panel needs one round; an unbalanced one a few more.
    """
    result = x.copy()
    n_units, n_periods = int(unit.max()) + 1, int(period.max()) + 1
    unit_count, period_count = np.bincount(unit, minlength=n_units), np.bincount(period, minlength=n_periods)
    scale = max(float(np.abs(x).max()), 1.0)
    for _ in range(max_iter):
        for codes, count, n in ((unit, unit_count, n_units), (period, period_count, n_periods)):
            for j in range(result.shape[1]):
                result[:, j] -= (np.bincount(codes, weights=result[:, j], minlength=n) / count)[codes]
        unit_means = np.column_stack([np.bincount(unit, weights=result[:, j], minlength=n_units) / unit_count
                                      for j in range(result.shape[1])])
        if float(np.abs(unit_means).max()) <= tol * scale:
            return result
    msg = ("Removing unit and period effects did not converge: the units share too few periods. Use a "
           "balanced panel (every unit observed in every period) or drop units seen in only one period.")
    raise InputError(msg)


def twfe_did(panel: pd.DataFrame, *, confidence: float = 0.95) -> DidResult:
    """Difference-in-differences by two-way fixed effects, with standard errors clustered by unit.

    Fits ``y ~ treated_post + C(unit) + C(period)`` by OLS, where ``treated_post`` is 1 in the
    periods at or after a unit's ``first_treated``.

    Parameters
    ----------
    panel
        Long panel with columns ``unit``, ``period``, ``y`` and ``first_treated`` (see the docstring
        of :mod:`commetrics.metrics.did`); it may be unbalanced.
    confidence
        Level of the confidence interval.

    Returns
    -------
    DidResult

    Notes
    -----
    The unit and period effects are removed by alternating projections rather than estimated
    as dummies, so 5,000 units × 24 periods take milliseconds. By Frisch–Waugh–Lovell the
    coefficient and residuals equal those of the dummy-variable regression. The CR1 variance is
    ``G/(G−1) · (N−1)/(N−K) · Σ_g (Σ_i d̃_i e_i)² / (Σ d̃²)²`` with ``G`` units, ``N`` rows, and
    ``K = units + periods`` counting every dummy, as statsmodels and Stata's ``regress`` do with
    the dummies in the model. reghdfe and fixest do not count the unit effects (they are nested
    in the clusters), so their SEs are smaller by a factor of about ``√((N−K)/(N−periods))``:
    2 % smaller with 24 periods, but ``1/√2`` with two. In a short panel this SE is conservative.

    With staggered start dates and effects that change over time, this estimate mixes good
    comparisons with "forbidden" ones (earlier-treated units as controls) and can mislead; use
    :func:`event_study` then, and report this one only for a single start date.
    """
    level = _confidence(confidence)
    data = _panel(panel)
    start = data.first_treated[data.unit]
    with np.errstate(invalid="ignore"):
        treated_post = (~np.isnan(start)) & (data.periods[data.period] >= start)
    if not treated_post.any():
        msg = ("No row is treated: no unit has a period at or after its first_treated. Check first_treated "
               "(the period index the campaign started) and that the panel covers the periods after it.")
        raise InputError(msg)
    treated_units = np.bincount(data.unit, weights=treated_post.astype(np.float64), minlength=data.n_units) > 0
    n, k = len(data.y), data.n_units + data.n_periods
    if n <= k:
        msg = (f"{n} rows cannot fit {data.n_units} unit and {data.n_periods} period effects plus the "
               "treatment effect. Add periods or units.")
        raise InputError(msg)

    residuals = _two_way_residuals(np.column_stack([data.y, treated_post.astype(np.float64)]), data.unit,
                                   data.period)
    y_tilde, d_tilde = residuals[:, 0], residuals[:, 1]
    sxx = float(d_tilde @ d_tilde)
    if sxx <= 1e-10 * float(treated_post.sum()):
        msg = ("The treatment indicator is fully explained by the unit and period effects (for example every "
               "unit starts in the same period and none is left untreated), so no comparison is possible. "
               "Add units that were never treated, or treated later.")
        raise InputError(msg)
    estimate = float(d_tilde @ y_tilde) / sxx
    scores = np.bincount(data.unit, weights=d_tilde * (y_tilde - estimate * d_tilde), minlength=data.n_units)
    clusters = data.n_units
    correction = clusters / (clusters - 1) * (n - 1) / (n - k)
    se = math.sqrt(correction * float(scores @ scores)) / sxx
    df = clusters - 1
    t_crit = float(stats.t.ppf(0.5 + level / 2, df))
    pvalue = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else math.nan
    return DidResult(estimate=estimate, se=se, ci_low=estimate - t_crit * se, ci_high=estimate + t_crit * se,
                     pvalue=pvalue, n_units_treated=int(treated_units.sum()),
                     n_units_control=int((~treated_units).sum()), n_periods=data.n_periods, n_obs=n,
                     n_clusters=clusters)
