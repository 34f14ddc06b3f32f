"""Small, exact statistics on aggregates: Wilson and Newcombe intervals, Kaplan–Meier.

These take counts that the engine aggregated (an Ibis query returns them), never person-level
rows, so they stay cheap whatever the size of the community. Each is checked in the tests
against statsmodels or lifelines on their published examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = ["KaplanMeier", "kaplan_meier", "newcombe_interval", "wilson_interval"]


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        msg = f"confidence must be between 0 and 1, got {confidence}"
        raise ValueError(msg)
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n``; ``(nan, nan)`` when n is 0.

    Equals ``statsmodels.stats.proportion.proportion_confint(x, n, method="wilson")``. Unlike the
    Wald interval it is never degenerate: 0/20 gives (0, 0.161), not (0, 0).
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        msg = f"successes must lie between 0 and n ({n}), got {successes}"
        raise ValueError(msg)
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """The difference ``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (method 10).

    Returns ``(difference, low, high)``; all NaN when either n is 0. Equals
    ``statsmodels.stats.proportion.confint_proportions_2indep(..., method="newcomb")``.
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, low, high


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve at its event times, with Greenwood (log-log) intervals."""

    times: npt.NDArray[np.float64]  # distinct event times, increasing
    at_risk: npt.NDArray[np.int64]  # number at risk just before each time
    events: npt.NDArray[np.int64]  # events at each time
    survival: npt.NDArray[np.float64]  # S(t) just after each time
    ci_low: npt.NDArray[np.float64]
    ci_high: npt.NDArray[np.float64]
    n: int  # everyone in the analysis

    def quantile_time(self, q: float) -> float:
        """The first time at which S(t) <= q (the time by which 1 - q have had the event); inf if never.

        ``quantile_time(0.5)`` is the median survival time, as lifelines'
        ``median_survival_time_`` (``inf`` when under half ever have the event).
        """
        reached = np.nonzero(self.survival <= q + 1e-12)[0]
        return float(self.times[reached[0]]) if reached.size else math.inf

    @property
    def median(self) -> float:
        return self.quantile_time(0.5)

    def survival_at(self, t: float) -> float:
        """S(t): the share without the event by time t (inclusive)."""
        index = int(np.searchsorted(self.times, t, side="right")) - 1
        return 1.0 if index < 0 else float(self.survival[index])


def kaplan_meier(
    times: npt.ArrayLike,
    events: npt.ArrayLike,
    at_risk: npt.ArrayLike,
    n: int,
    confidence: float = 0.95,
) -> KaplanMeier:
    """The product-limit estimate from aggregated counts.

    Parameters
    ----------
    times
        Distinct times at which at least one event happened.
    events
        Number of events at each time.
    at_risk
        Number still under observation just before each time (censored at that very time
        included, as in lifelines).
    n
        Everyone in the analysis (for reporting).
    confidence
        Level of the pointwise intervals (Greenwood variance on the log(-log) scale, as
        lifelines' default).
    """
    t = np.asarray(times, dtype=float)
    d = np.asarray(events, dtype=np.int64)
    r = np.asarray(at_risk, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t, d, r = t[order], d[order], r[order]
    if np.any(d > r) or np.any(r <= 0):
        msg = "every time needs 0 < events <= at risk"
        raise ValueError(msg)
    survival: npt.NDArray[np.float64] = np.cumprod(1.0 - d / r).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(d / (r * (r - d)))
        log_s = np.log(survival)
        z = _z(confidence)
        spread = z * np.sqrt(greenwood) / np.abs(log_s)
        low = np.exp(-np.exp(np.log(-log_s) + spread))
        high = np.exp(-np.exp(np.log(-log_s) - spread))
    low = np.where(survival > 0, low, 0.0)
    high = np.where(survival > 0, high, 0.0)
    low = np.where(survival >= 1, 1.0, low)
    high = np.where(survival >= 1, 1.0, high)
    return KaplanMeier(times=t, at_risk=r, events=d, survival=survival, ci_low=np.nan_to_num(low, nan=0.0),
                       ci_high=np.nan_to_num(high, nan=1.0), n=int(n))


def event_counts(durations: npt.ArrayLike, events: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(event times, events at each, at risk just before each, n) from one duration and event flag per
    subject — the input :func:`kaplan_meier` takes."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    times = np.unique(t[e])
    order = np.sort(t)
    at_risk = len(t) - np.searchsorted(order, times, side="left")
    dead = np.sort(t[e])
    counts = np.searchsorted(dead, times, side="right") - np.searchsorted(dead, times, side="left")
    return times, counts, at_risk, len(t)


def logrank_test(durations: npt.ArrayLike, events: npt.ArrayLike, groups: npt.ArrayLike) -> tuple[float, int, float]:
    """The log-rank test that two or more groups share one survival curve: (chi-square, df, p).

    Observed minus expected events per group at every event time, with the hypergeometric
    covariance; equals ``lifelines.statistics.multivariate_logrank_test``.
    """
    from scipy.stats import chi2

    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    labels, g = np.unique(np.asarray(groups), return_inverse=True)
    k = len(labels)
    if k < 2:
        msg = "the log-rank test needs at least two groups"
        raise ValueError(msg)
    times = np.unique(t[e])
    at_risk = np.zeros((len(times), k))
    died = np.zeros((len(times), k))
    for j in range(k):
        everyone, dead = np.sort(t[g == j]), np.sort(t[(g == j) & e])
        at_risk[:, j] = len(everyone) - np.searchsorted(everyone, times, side="left")
        died[:, j] = np.searchsorted(dead, times, side="right") - np.searchsorted(dead, times, side="left")
    n, d = at_risk.sum(axis=1), died.sum(axis=1)
    expected = at_risk * (d / n)[:, None]
    observed_minus_expected = (died - expected).sum(axis=0)
    factor = np.divide(d * (n - d), n * n * (n - 1), out=np.zeros_like(n), where=n > 1)
    variance = np.zeros((k, k))
    for j in range(k):
        for i in range(k):
            variance[j, i] = np.sum(factor * at_risk[:, j] * ((n if i == j else 0) - at_risk[:, i]))
    u, v = observed_minus_expected[:-1], variance[:-1, :-1]
    statistic = float(u @ np.linalg.solve(v, u))
    return statistic, k - 1, float(chi2.sf(statistic, k - 1))
