"""The event study: Callaway & Sant'Anna group-time effects against never-treated units, by event time."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputError
from .panel import FloatArray, IntArray, _confidence, _Panel, _panel
from .records import EventStudy, EventTime, PreTrendTest

#: Fewer bootstrap replicates than this give standard errors too noisy to report.
MIN_REPLICATES = 50
#: The p-value at or above which the pre-trend test counts as "no evidence against parallel trends".
PRE_TREND_ALPHA = 0.05


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
        Long panel with columns ``unit``, ``period``, ``y`` and ``first_treated`` (see the docstring
        of :mod:`commetrics.metrics.did`). It needs never-treated units; units may miss periods.
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
