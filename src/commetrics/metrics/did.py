"""Difference-in-differences and event studies for campaigns aimed at part of the customer base.

METHODS.md card (d): when a campaign reached some accounts (for example, community members) and
not others, and outcomes are observed before and after, compare the change in the reached
accounts with the change in accounts it never reached. Two estimators, both pure functions on a
long panel with one row per unit and period:

=================  ===========================================================================
``unit``           the account or member id (any hashable value)
``period``         an integer period index, e.g. months since an epoch (``year * 12 + month``)
``y``              the outcome (usage, revenue, a 0/1 flag), numeric
``first_treated``  the period at which the unit's campaign started; NaN/None if it never did
=================  ===========================================================================

* :func:`twfe_did`, the two-way fixed-effects regression ``y ~ treated_post + unit + period``
  with standard errors clustered by unit. It is right for one start date (the classic 2×2 design)
  and for effects that stay constant; with staggered start dates and effects that grow, it
  compares late starters against early starters and can be badly biased, even in sign
  (Goodman-Bacon 2021).
* :func:`event_study`, the group-time estimator of Callaway & Sant'Anna (2021) with never-treated
  comparison units and no covariates, aggregated to event time (periods since the start). It
  shows the effect period by period and the pre-period differences that test the parallel-trends
  assumption, which every difference-in-differences estimate rests on.

These are adjusted associations: they equal the effect of the campaign only if the reached and
the other units would have moved in parallel without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ..errors import InputError

__all__ = ["DidResult", "EventStudy", "EventTime", "PreTrendTest", "event_study", "twfe_did"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Columns every panel needs.
COLUMNS = ("unit", "period", "y", "first_treated")
#: Fewer bootstrap replicates than this give standard errors too noisy to report.
MIN_REPLICATES = 50
#: The p-value at or above which the pre-trend test counts as "no evidence against parallel trends".
PRE_TREND_ALPHA = 0.05


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DidResult:
    """The two-way fixed-effects difference-in-differences estimate.

    Attributes
    ----------
    estimate
        The coefficient on ``treated_post`` (unit is treated and the period is at or after its
        start), in the unit of the outcome.
    se
        Cluster-robust standard error by unit (CR1), as statsmodels' ``cov_type="cluster"`` and
        Stata's ``regress ..., vce(cluster unit)`` with unit and period dummies.
    ci_low, ci_high, pvalue
        From Student's t with ``n_clusters - 1`` degrees of freedom (Stata's convention, also
        statsmodels' with ``use_t=True``); with few units the normal would be too narrow.
    n_units_treated
        Units with at least one treated period in the panel.
    n_units_control
        Units with no treated period in the panel (never treated, or starting after it ends).
    n_periods, n_obs, n_clusters
        Distinct periods, rows, and units (the clusters).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    n_units_treated: int
    n_units_control: int
    n_periods: int
    n_obs: int
    n_clusters: int


@dataclass(frozen=True)
class EventTime:
    """The average effect ``event_time`` periods after the start (before it, when negative).

    ``event_time == -1`` is the reference period: every cohort is compared with its own last
    period before the start, so that row is 0 by construction, with a zero-width interval.
    ``cohorts`` and ``units`` count the treated cohorts and units behind the estimate.
    """

    event_time: int
    estimate: float
    se: float
    low: float
    high: float
    cohorts: int
    units: int


@dataclass(frozen=True)
class PreTrendTest:
    """Wald test that all pre-period event-time estimates (e ≤ −2) are zero.

    ``statistic`` is chi-square with ``df`` degrees of freedom under parallel trends:
    ``θ' Σ⁺ θ`` for the estimates ``θ`` at ``event_times`` and their bootstrap ``covariance``
    (``df`` is the rank of the covariance, which is the number of event times unless the
    bootstrap saw too little variation).
    """

    statistic: float
    df: int
    pvalue: float
    event_times: tuple[int, ...] = ()
    covariance: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)


@dataclass(frozen=True)
class EventStudy:
    """Event-time effects of a (possibly staggered) campaign, against never-treated units.

    Attributes
    ----------
    event_times
        One :class:`EventTime` per event time from ``-leads`` to ``lags`` that has data.
    post_estimate, post_se, post_low, post_high, post_pvalue
        The average of the event-time estimates from 0 to ``lags`` (each event time counts
        once; Callaway & Sant'Anna's "dynamic" overall effect), with a bootstrap SE and normal
        interval.
    pre_trend
        The joint test of the pre-period estimates, or None when it cannot be run (the reason
        is in ``notes``).
    parallel_trends_ok
        True when the pre-trend test finds no evidence against parallel trends (p ≥ 0.05), False
        when it does, None when there is no test. "No evidence against" is not proof of parallel
        trends: a test on few units has little power.
    n_cohorts, n_units_treated, n_units_control
        Treated cohorts (distinct start periods) and units used, and never-treated units.
    replicates, confidence
        Bootstrap replicates used and the interval level.
    group_time
        ATT(g, t) for every cohort ``g`` and period ``t`` in the window: columns ``cohort``,
        ``period``, ``event_time``, ``estimate``, ``se`` and ``units``.
    notes
        Plain-language remarks: cohorts left out and why, why no pre-trend test was run.
    """

    event_times: tuple[EventTime, ...]
    post_estimate: float
    post_se: float
    post_low: float
    post_high: float
    post_pvalue: float
    pre_trend: PreTrendTest | None
    parallel_trends_ok: bool | None
    n_cohorts: int
    n_units_treated: int
    n_units_control: int
    replicates: int
    confidence: float
    group_time: pd.DataFrame = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """One row per event time, ready to plot: event_time, estimate, se, low, high, cohorts, units."""
        columns = ["event_time", "estimate", "se", "low", "high", "cohorts", "units"]
        return pd.DataFrame([[getattr(row, c) for c in columns] for row in self.event_times], columns=columns)

    def estimate_at(self, event_time: int) -> EventTime:
        """The row for one event time; KeyError when it has no data."""
        for row in self.event_times:
            if row.event_time == event_time:
                return row
        raise KeyError(event_time)

    @property
    def pre_trend_sentence(self) -> str:
        """One sentence on the parallel-trends check, for a report."""
        test = self.pre_trend
        if test is None:
            return "Parallel trends could not be checked: " + next(
                (n for n in self.notes if n.startswith("No pre-trend test")), "no pre-trend test was run.")
        detail = f"(χ²({test.df}) = {test.statistic:.2f}, p = {test.pvalue:.3f})"
        if self.parallel_trends_ok:
            return f"Before the campaign, treated and comparison units moved in parallel {detail}."
        return (f"Before the campaign, treated and comparison units already moved differently {detail}, "
                "so the estimated effect may partly reflect that earlier difference.")


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    unit: IntArray  # unit code of each row, 0..n_units-1
    period: IntArray  # period code of each row, 0..n_periods-1
    y: FloatArray
    periods: IntArray  # the distinct period values, increasing
    first_treated: FloatArray  # per unit code; NaN for never-treated

    @property
    def n_units(self) -> int:
        return len(self.first_treated)

    @property
    def n_periods(self) -> int:
        return len(self.periods)


def _integer_column(panel: pd.DataFrame, name: str, *, allow_missing: bool) -> FloatArray:
    column = panel[name]
    present_values = column.dropna()
    if len(present_values) and (pd.api.types.is_bool_dtype(column)
                                or not pd.api.types.is_numeric_dtype(present_values.infer_objects())):
        msg = (f"Column {name!r} must hold integer period indexes (e.g. months since an epoch, "
               f"year * 12 + month), found {column.dtype} values such as {present_values.iloc[0]!r}. "
               "Convert dates to period numbers first.")
        raise InputError(msg)
    values: FloatArray = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    if not allow_missing and not present.all():
        msg = f"Column {name!r} has {int((~present).sum())} missing values. Drop those rows first."
        raise InputError(msg)
    if np.any(np.isinf(values)) or np.any(values[present] != np.round(values[present])):
        msg = f"Column {name!r} must hold whole period numbers; found fractions or infinities. Round or recode it."
        raise InputError(msg)
    return values


def _panel(panel: Any) -> _Panel:
    """Check the long panel and encode units and periods as integer codes."""
    if not isinstance(panel, pd.DataFrame):
        msg = f"panel must be a pandas DataFrame with columns {list(COLUMNS)}, got {type(panel).__name__}."
        raise InputError(msg)
    missing = [c for c in COLUMNS if c not in panel.columns]
    if missing:
        msg = (f"The panel lacks columns {missing}; it needs {list(COLUMNS)} (one row per unit and period). "
               "Rename the columns, e.g. panel.rename(columns={...}).")
        raise InputError(msg)
    if panel.empty:
        msg = "The panel has no rows. Check the date range and the filters that built it."
        raise InputError(msg)
    if panel["unit"].isna().any():
        msg = f"Column 'unit' has {int(panel['unit'].isna().sum())} missing ids. Drop those rows first."
        raise InputError(msg)
    y_column = panel["y"]
    if not pd.api.types.is_numeric_dtype(y_column):
        msg = (f"Column 'y' must be numeric, found {y_column.dtype} values such as {y_column.iloc[0]!r}. "
               "Convert it with pd.to_numeric (or encode a yes/no outcome as 0/1).")
        raise InputError(msg)
    y = y_column.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(y)):
        msg = (f"Column 'y' has {int((~np.isfinite(y)).sum())} missing or infinite values. Drop those rows "
               "(units may miss periods) or impute them first.")
        raise InputError(msg)
    period_values = _integer_column(panel, "period", allow_missing=False)
    first_treated_rows = _integer_column(panel, "first_treated", allow_missing=True)

    unit, _ = pd.factorize(panel["unit"], sort=False)
    periods, period = np.unique(period_values.astype(np.int64), return_inverse=True)
    unit = unit.astype(np.int64)
    keys = pd.Series(unit * len(periods) + period)
    duplicated = keys.duplicated()
    if duplicated.any():
        example = panel.loc[duplicated.to_numpy(), ["unit", "period"]].iloc[0]
        msg = (f"{int(duplicated.sum())} rows repeat a (unit, period) pair, e.g. unit {example['unit']!r} in period "
               f"{example['period']!r}. Aggregate to one row per unit and period first.")
        raise InputError(msg)

    n_units = int(unit.max()) + 1
    first_row = np.full(n_units, -1, dtype=np.int64)
    first_row[unit[::-1]] = np.arange(len(unit))[::-1]  # the first row of each unit
    first_treated = first_treated_rows[first_row]
    per_row = first_treated[unit]
    same = (per_row == first_treated_rows) | (np.isnan(per_row) & np.isnan(first_treated_rows))
    if not same.all():
        example = panel["unit"].iloc[int(np.flatnonzero(~same)[0])]
        msg = (f"first_treated differs between rows of the same unit (e.g. unit {example!r}). It is the period "
               "the unit's campaign started and must be the same on all of its rows.")
        raise InputError(msg)
    return _Panel(unit=unit, period=period.astype(np.int64), y=y, periods=periods.astype(np.int64),
                  first_treated=first_treated)


def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence}. Use e.g. 0.95."
        raise InputError(msg)
    return confidence


# --------------------------------------------------------------------------------------------
# Two-way fixed effects
# --------------------------------------------------------------------------------------------


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
        Long panel with columns ``unit``, ``period``, ``y`` and ``first_treated`` (see the module
        docstring); it may be unbalanced.
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


# --------------------------------------------------------------------------------------------
# Event study (Callaway & Sant'Anna with never-treated controls)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pairs:
    cohort: IntArray  # g of each (g, t) pair
    period: IntArray  # t of each pair
    event_time: IntArray  # t - g
    treated: FloatArray  # treated units × pairs: y_t - y_{g-1} for units of cohort g seen in both, else 0
    treated_seen: FloatArray  # 1 where the entry above is used
    control: FloatArray  # never-treated units × pairs
    control_seen: FloatArray


def _group_time(pairs: _Pairs, w_treated: FloatArray, w_control: FloatArray) -> tuple[FloatArray, FloatArray]:
    """ATT(g, t) and the (weighted) number of treated units behind each, for rows of unit weights.

    Each weight row gives every unit a weight (1 for the estimate, its bootstrap draw count for a
    replicate); cohort means and never-treated means of ``y_t - y_{g-1}`` are then two matrix
    products, so all replicates run at once.
    """
    n_treated = w_treated @ pairs.treated_seen
    n_control = w_control @ pairs.control_seen
    with np.errstate(invalid="ignore", divide="ignore"):
        att = (w_treated @ pairs.treated) / n_treated - (w_control @ pairs.control) / n_control
    return att, n_treated


def _pairs(data: _Panel, treated_rows: IntArray, control_rows: IntArray, *, leads: int, lags: int
           ) -> tuple[_Pairs, list[str]]:
    """Every (cohort, period) pair in the window whose base period ``g − 1`` is in the panel."""
    wide = np.full((data.n_units, data.n_periods), np.nan)
    wide[data.unit, data.period] = data.y
    column = {int(p): i for i, p in enumerate(data.periods)}
    notes: list[str] = []
    cohorts: list[int] = []
    periods: list[int] = []
    event_times: list[int] = []
    now: list[int] = []
    base: list[int] = []
    for g in np.unique(data.first_treated[treated_rows]).astype(np.int64):
        if g - 1 not in column:
            where = "starts in the first period of the panel" if g <= data.periods[0] else "has no data"
            notes.append(f"Cohort {g} was left out: it {where} in the period before its start ({g - 1}), "
                         "which every comparison needs. Extend the panel back in time to include it.")
            continue
        for e in range(-leads, lags + 1):
            if e != -1 and g + e in column:
                cohorts.append(g)
                periods.append(g + e)
                event_times.append(e)
                now.append(column[g + e])
                base.append(column[g - 1])

    now_columns, base_columns = np.asarray(now, dtype=np.int64), np.asarray(base, dtype=np.int64)

    def differences(rows: IntArray) -> tuple[FloatArray, FloatArray]:
        change = wide[np.ix_(rows, now_columns)] - wide[np.ix_(rows, base_columns)]
        return np.nan_to_num(change, nan=0.0), np.isfinite(change).astype(np.float64)

    treated, treated_seen = differences(treated_rows)
    treated_seen *= data.first_treated[treated_rows][:, None] == np.asarray(cohorts, dtype=np.float64)[None, :]
    treated *= treated_seen
    control, control_seen = differences(control_rows)
    return _Pairs(cohort=np.asarray(cohorts, dtype=np.int64), period=np.asarray(periods, dtype=np.int64),
                  event_time=np.asarray(event_times, dtype=np.int64), treated=treated, treated_seen=treated_seen,
                  control=control, control_seen=control_seen), notes


def _bootstrap_weights(groups: list[IntArray], n: int, replicates: int, rng: np.random.Generator) -> FloatArray:
    """Draw counts per unit: units resampled with replacement within each group (cohort or control)."""
    weights = np.zeros((replicates, n))
    for members in groups:
        size = len(members)
        weights[:, members] = rng.multinomial(size, np.full(size, 1.0 / size), size=replicates)
    return weights


def _pre_trend(event_times: IntArray, estimates: FloatArray, draws: FloatArray) -> PreTrendTest | None:
    covariance = np.atleast_2d(np.cov(draws, rowvar=False))
    rank = int(np.linalg.matrix_rank(covariance))
    if rank == 0:
        return None
    statistic = float(estimates @ np.linalg.pinv(covariance) @ estimates)
    return PreTrendTest(statistic=statistic, df=rank, pvalue=float(stats.chi2.sf(statistic, rank)),
                        event_times=tuple(int(e) for e in event_times), covariance=covariance)


def event_study(panel: pd.DataFrame, *, leads: int, lags: int, replicates: int = 499,
                seed: int | np.random.Generator = 0, confidence: float = 0.95) -> EventStudy:
    """Effects by periods since the start, robust to staggered starts and to effects that change.

    For every treated cohort ``g`` (units whose campaign started in period ``g``) and period
    ``t``, ``ATT(g, t)`` is the change in the cohort's mean outcome from ``g − 1`` to ``t`` minus
    the same change among never-treated units (Callaway & Sant'Anna 2021, unconditional parallel
    trends, never-treated comparison group). Event time ``e = t − g`` then averages the cohorts,
    weighted by the number of their units observed.

    Parameters
    ----------
    panel
        Long panel with columns ``unit``, ``period``, ``y`` and ``first_treated`` (see the module
        docstring). It needs never-treated units; units may miss periods.
    leads
        How many event times before the start to show, ``-leads`` to ``-1``. ``e = −1`` is the
        reference (0 by construction), so at least 2 are needed for a pre-trend test.
    lags
        How many event times after the start to show, ``0`` to ``lags``.
    replicates
        Bootstrap replicates for the standard errors and the pre-trend test.
    seed
        Seed or numpy Generator for the bootstrap; the same seed gives the same result.
    confidence
        Level of the (pointwise) confidence intervals.

    Returns
    -------
    EventStudy

    Notes
    -----
    **Base period.** Every ATT(g, t), before or after the start, compares with the cohort's last
    period before the start, ``g − 1`` (the "universal" base). Pre-period estimates are then the
    cumulative drift away from parallel trends, read on the same scale as the post-period ones,
    which is what a plot suggests (Roth 2024). Callaway & Sant'Anna's default "varying" base
    (``t − 1`` before the start) gives short differences instead, which look flatter under a
    steady pre-trend. The pre-trend test is the Wald chi-square of the estimates at ``e ≤ −2``.

    **Standard errors.** Units are resampled with replacement within each cohort and within the
    never-treated group (a unit-cluster bootstrap, stratified so that no replicate loses a
    cohort), and the whole estimator is rerun on each replicate. Cohort sizes are therefore held
    fixed: the intervals are conditional on which units started when. With a single treated
    unit (as in a one-state policy study) the bootstrap cannot see that unit's own noise, and the
    intervals are too narrow; read them as a lower bound.

    The overall post-period effect is the plain average of the event-time estimates ``0..lags``
    (each event time counts once), with its bootstrap SE.
    """
    level = _confidence(confidence)
    for name, value, least in (("leads", leads, 0), ("lags", lags, 0), ("replicates", replicates, MIN_REPLICATES)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            msg = f"{name} must be a whole number of at least {least}, got {value!r}."
            raise InputError(msg)
    data = _panel(panel)
    never = np.isnan(data.first_treated)
    if never.all():
        msg = ("No unit is treated: first_treated is missing for every unit. Set it to the period each unit's "
               "campaign started.")
        raise InputError(msg)
    if not never.any():
        msg = ("There are no never-treated units (first_treated missing) to compare with. The event study needs "
               "units the campaign never reached; add them, or restrict to a window where some units are not "
               "yet treated and mark them as never treated within it.")
        raise InputError(msg)

    treated_rows, control_rows = np.flatnonzero(~never), np.flatnonzero(never)
    pairs, notes = _pairs(data, treated_rows, control_rows, leads=leads, lags=lags)
    estimates, units = _group_time(pairs, np.ones((1, len(treated_rows))), np.ones((1, len(control_rows))))
    usable = np.isfinite(estimates[0]) & (units[0] > 0)
    if not usable.any():
        msg = (f"No cohort is observed in both the period before its start and an event time from {-leads} to "
               f"{lags}. Check first_treated against the periods in the panel, or widen leads and lags.")
        raise InputError(msg)
    if not np.any(usable & (pairs.event_time >= 0)):
        msg = (f"No treated unit is observed from its start to {lags} periods after it, so there is no effect to "
               "estimate. Extend the panel forward in time or check first_treated.")
        raise InputError(msg)
    keep = np.flatnonzero(usable)
    pairs = _Pairs(cohort=pairs.cohort[keep], period=pairs.period[keep], event_time=pairs.event_time[keep],
                   treated=pairs.treated[:, keep], treated_seen=pairs.treated_seen[:, keep],
                   control=pairs.control[:, keep], control_seen=pairs.control_seen[:, keep])
    estimates, units = estimates[:, keep], units[:, keep]
    used_cohorts = np.unique(pairs.cohort)
    in_cohort = np.isin(data.first_treated[treated_rows], used_cohorts)
    for g in sorted(set(np.unique(data.first_treated[treated_rows]).astype(int)) - set(used_cohorts.tolist())):
        if not any(note.startswith(f"Cohort {g} ") for note in notes):
            notes.append(f"Cohort {g} was left out: none of its units is observed at {g - 1} and in the window.")

    # Event-time aggregation: θ(e) = Σ_g n_g ATT(g, g+e) / Σ_g n_g, as one matrix per event time.
    event_times = np.unique(pairs.event_time)
    indicator = (pairs.event_time[:, None] == event_times[None, :]).astype(np.float64)

    def aggregate(att: FloatArray, n_treated: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            result: FloatArray = (np.nan_to_num(att * n_treated) @ indicator) / (n_treated @ indicator)
        return result

    small = [int(g) for g in used_cohorts if np.sum(data.first_treated[treated_rows] == g) < 2]
    if small:
        notes.append(f"Cohorts {small} have a single unit: the bootstrap cannot see that unit's own noise, so the "
                     "intervals and the pre-trend test are too optimistic. Read them as a lower bound on uncertainty.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    groups = [np.flatnonzero(data.first_treated[treated_rows] == g) for g in used_cohorts]
    w_treated = _bootstrap_weights(groups, len(treated_rows), replicates, rng)
    w_control = _bootstrap_weights([np.arange(len(control_rows))], len(control_rows), replicates, rng)
    att_draws, n_draws = _group_time(pairs, w_treated, w_control)
    theta = aggregate(estimates, units)[0]
    theta_draws = aggregate(att_draws, n_draws)
    post = event_times >= 0
    post_draws = theta_draws[:, post].mean(axis=1)
    complete = np.all(np.isfinite(theta_draws), axis=1)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} of {replicates} bootstrap replicates drew no unit observed at some "
                     "event time and were left out of the standard errors.")
    theta_draws, post_draws = theta_draws[complete], post_draws[complete]
    if len(theta_draws) < MIN_REPLICATES:
        msg = ("Too few bootstrap replicates could be used: the units of some cohort are rarely observed around "
               "its start. Use a more complete panel or narrower leads and lags.")
        raise InputError(msg)

    z = float(stats.norm.ppf(0.5 + level / 2))
    se = theta_draws.std(axis=0, ddof=1)
    cohorts = indicator.sum(axis=0).astype(np.int64)
    rows = [EventTime(event_time=int(e), estimate=float(theta[i]), se=float(se[i]), low=float(theta[i] - z * se[i]),
                      high=float(theta[i] + z * se[i]), cohorts=int(cohorts[i]),
                      units=round(float(units[0] @ indicator[:, i])))
            for i, e in enumerate(event_times)]
    if leads >= 1:
        base_units = int(sum(np.sum(data.first_treated[treated_rows] == g) for g in used_cohorts))
        rows.append(EventTime(event_time=-1, estimate=0.0, se=0.0, low=0.0, high=0.0, cohorts=len(used_cohorts),
                              units=base_units))
    rows.sort(key=lambda row: row.event_time)

    pre = event_times <= -2
    pre_trend = None
    if leads < 2:
        notes.append(f"No pre-trend test: leads={leads} shows no event time before −1 (the reference). Use "
                     "leads ≥ 2.")
    elif not pre.any():
        notes.append("No pre-trend test: no cohort is observed two or more periods before its start, so parallel "
                     "trends cannot be checked. Extend the panel back in time.")
    else:
        pre_trend = _pre_trend(event_times[pre], theta[pre], theta_draws[:, pre])
        if pre_trend is None:
            notes.append("No pre-trend test: the bootstrap shows no variation in the pre-period estimates "
                         "(too few units).")

    post_estimate = float(theta[post].mean())
    post_se = float(post_draws.std(ddof=1))
    group_time = pd.DataFrame({"cohort": pairs.cohort, "period": pairs.period, "event_time": pairs.event_time,
                               "estimate": estimates[0], "se": np.nanstd(att_draws, axis=0, ddof=1),
                               "units": units[0].round().astype(np.int64)})
    return EventStudy(
        event_times=tuple(rows), post_estimate=post_estimate, post_se=post_se, post_low=post_estimate - z * post_se,
        post_high=post_estimate + z * post_se,
        post_pvalue=float(2 * stats.norm.sf(abs(post_estimate / post_se))) if post_se > 0 else math.nan,
        pre_trend=pre_trend, parallel_trends_ok=None if pre_trend is None else pre_trend.pvalue >= PRE_TREND_ALPHA,
        n_cohorts=len(used_cohorts), n_units_treated=int(in_cohort.sum()), n_units_control=len(control_rows),
        replicates=int(complete.sum()), confidence=level, group_time=group_time, notes=tuple(notes))
