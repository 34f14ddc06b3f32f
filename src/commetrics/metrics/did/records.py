"""The records returned by :mod:`commetrics.metrics.did`: the TWFE estimate and the event study."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .panel import FloatArray


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
