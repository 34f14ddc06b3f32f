"""The arithmetic of lightweight experiments (METHODS.md card (f)), and the NPS with its interval."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from ...errors import InputError
from ...stats import newcombe_interval
from .checks import FloatArray, _same_length, _vector, _z
from .records import ABTest, Cuped, Difference, NetPromoterScore, SampleRatioCheck

#: Number of hash buckets for :func:`assign` (allocations resolve to 0.01 %).
BUCKETS = 10_000


def _counts(x: int, n: int, label: str) -> None:
    if n <= 0 or not 0 <= x <= n:
        msg = f"{label}: need 0 <= successes <= n and n > 0, got {x} of {n}."
        raise InputError(msg)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, *, confidence: float = 0.95) -> Difference:
    """``x1/n1 - x2/n2`` with Newcombe's hybrid score interval (method 10 of Newcombe 1998).

    Built from the two Wilson score intervals (:func:`commetrics.stats.newcombe_interval`); never
    degenerate at 0 or 100 %, unlike Wald. 56/70 − 48/80 gives 0.2 (0.0524 to 0.3339).
    """
    _counts(x1, n1, "first group")
    _counts(x2, n2, "second group")
    _z(confidence)
    return Difference(*newcombe_interval(x1, n1, x2, n2, confidence))


def srm_check(counts: Sequence[int], expected_shares: Sequence[float], *, threshold: float = 0.001
              ) -> SampleRatioCheck:
    """Sample-ratio mismatch: do the units per variant fit the designed allocation?

    A chi-square goodness-of-fit test; ``mismatch`` is true when the p-value is below
    ``threshold`` (0.001 by default, the usual alert level). A mismatch means assignment or
    exposure logging is broken, and the experiment's comparison should not be trusted.
    """
    observed = np.asarray(counts, dtype=np.float64)
    shares = np.asarray(expected_shares, dtype=np.float64)
    if observed.ndim != 1 or observed.size < 2 or observed.size != shares.size:
        msg = "counts and expected_shares need one entry per variant, and at least two variants."
        raise InputError(msg)
    if np.any(observed < 0) or observed.sum() <= 0 or np.any(shares <= 0):
        msg = "counts must be non-negative with a positive total, and every expected share positive."
        raise InputError(msg)
    expected = observed.sum() * shares / shares.sum()
    result = stats.chisquare(observed, expected)
    return SampleRatioCheck(float(result.statistic), float(result.pvalue), bool(result.pvalue < threshold))


def cuped(y: Any, x_pre: Any) -> Cuped:
    """CUPED: remove from the outcome the part predicted by a pre-exposure covariate.

    ``θ = cov(y, x) / var(x)`` pooled over all arms and ``y_adj = y - θ (x - mean(x))``. The mean
    is unchanged and the variance shrinks by ``1 - ρ²``. The covariate must be measured before
    exposure (units without pre-period data get the mean, i.e. 0 after centring). Compare arms
    on ``adjusted`` exactly as on ``y``.
    """
    outcome, covariate = _vector("y", y), _vector("x_pre", x_pre)
    _same_length(y=outcome, x_pre=covariate)
    if outcome.size < 3:
        msg = f"CUPED needs at least 3 units, got {outcome.size}."
        raise InputError(msg)
    variance = float(np.var(covariate, ddof=1))
    if variance == 0:
        msg = "x_pre is constant, so it cannot reduce variance. Use another pre-period covariate."
        raise InputError(msg)
    theta = float(np.cov(outcome, covariate, ddof=1)[0, 1] / variance)
    adjusted = outcome - theta * (covariate - covariate.mean())
    total = float(np.var(outcome, ddof=1))
    return Cuped(adjusted, theta, float(np.var(adjusted, ddof=1) / total) if total > 0 else math.nan)


def holm(pvalues: Any) -> FloatArray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order.

    Reject hypothesis i at level α when its adjusted p-value is at most α.
    """
    p = _vector("pvalues", pvalues)
    if np.any((p < 0) | (p > 1)):
        msg = "p-values must lie between 0 and 1."
        raise InputError(msg)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def _check_design(p1: float, p2: float | None, alpha: float, power: float) -> None:
    rates = [p1] if p2 is None else [p1, p2]
    if any(not 0 < r < 1 for r in rates):
        msg = f"Rates must lie strictly between 0 and 1, got {rates}."
        raise InputError(msg)
    if not (0 < alpha < 1 and 0 < power < 1):
        msg = f"alpha and power must lie strictly between 0 and 1, got {alpha} and {power}."
        raise InputError(msg)


def _n_per_arm(p1: float, p2: float, alpha: float, power: float, method: str) -> float:
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    if method == "pooled":
        mean = (p1 + p2) / 2
        root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        return float(root**2 / (p1 - p2) ** 2)
    if method == "arcsine":
        h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
        return float(2 * ((z_alpha + z_beta) / h) ** 2)
    msg = f"method must be 'pooled' or 'arcsine', got {method!r}."
    raise InputError(msg)


def sample_size_two_proportions(p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8,
                                method: Literal["pooled", "arcsine"] = "pooled") -> int:
    """Units per arm to detect a change from rate ``p1`` to ``p2`` (two-sided test, equal arms).

    ``"pooled"``: the normal formula with the pooled variance under the null,
    ``n = (z_{α/2} √(2 p̄ q̄) + z_β √(p1 q1 + p2 q2))² / (p1 - p2)²``.
    ``"arcsine"``: Cohen's h, ``n = 2 ((z_{α/2} + z_β) / h)²`` with ``h = 2 asin√p2 - 2 asin√p1``
    (statsmodels' ``NormalIndPower`` with ``proportion_effectsize``). Rounded up.
    10 % → 12 % at α = 0.05 and 80 % power: 3,841 (pooled) or 3,835 (arcsine).
    """
    _check_design(p1, p2, alpha, power)
    if p1 == p2:
        msg = "p1 and p2 are equal; there is no difference to detect."
        raise InputError(msg)
    return math.ceil(_n_per_arm(p1, p2, alpha, power, method) - 1e-9)


def minimum_detectable_effect(p1: float, n_per_arm: int, *, alpha: float = 0.05, power: float = 0.8,
                              method: Literal["pooled", "arcsine"] = "pooled") -> float:
    """Smallest absolute increase over the baseline rate ``p1`` that ``n_per_arm`` units per arm detect.

    The inverse of :func:`sample_size_two_proportions` (upward changes): with 3,841 units per arm
    and a 10 % baseline it is 2 percentage points.
    """
    _check_design(p1, None, alpha, power)
    if n_per_arm < 2:
        msg = f"n_per_arm must be at least 2, got {n_per_arm}."
        raise InputError(msg)
    top = 1 - p1 - 1e-12
    if _n_per_arm(p1, p1 + top, alpha, power, method) > n_per_arm:
        return math.nan  # no rate up to 100 % is detectable with so few units
    root = optimize.brentq(lambda d: _n_per_arm(p1, p1 + d, alpha, power, method) - n_per_arm, 1e-12, top,
                           xtol=1e-12)
    return float(root)


def assign(unit_id: Hashable, experiment: str, variants: Sequence[str], weights: Sequence[float] | None = None
           ) -> str:
    """The variant of a unit in an experiment, the same on every call and every machine.

    The bucket is the first 8 bytes of ``SHA-256(experiment + "\\x1f" + str(unit_id))`` (UTF-8),
    read big-endian, modulo 10,000; variants own consecutive bucket ranges in proportion to
    ``weights`` (equal by default). Different experiments hash independently.
    """
    if not variants or len(set(variants)) != len(variants):
        msg = "variants must be a non-empty list of distinct names, e.g. ['control', 'treatment']."
        raise InputError(msg)
    shares = np.ones(len(variants)) if weights is None else np.asarray(weights, dtype=np.float64)
    if shares.shape != (len(variants),) or np.any(~np.isfinite(shares)) or np.any(shares < 0) or shares.sum() <= 0:
        msg = "weights need one non-negative number per variant with a positive total."
        raise InputError(msg)
    digest = hashlib.sha256(f"{experiment}\x1f{unit_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    bounds = np.cumsum(shares) / shares.sum() * BUCKETS
    index = int(np.searchsorted(bounds, bucket, side="right"))
    return variants[min(index, len(variants) - 1)]


def ab_test(x_a: int, n_a: int, x_b: int, n_b: int, *, confidence: float = 0.95) -> ABTest:
    """Variant B against A on a 0/1 metric: difference, Newcombe interval and pooled z-test.

    Run :func:`srm_check` first; analyse at the unit that was randomised.
    """
    interval = newcombe_difference(x_b, n_b, x_a, n_a, confidence=confidence)
    rate_a, rate_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (rate_b - rate_a) / se if se > 0 else 0.0
    pvalue = float(2 * stats.norm.sf(abs(z)))
    lift = (rate_b - rate_a) / rate_a if rate_a > 0 else math.nan
    return ABTest(rate_a, rate_b, interval.difference, interval.low, interval.high, lift, z, pvalue)


# --------------------------------------------------------------------------------------------
# NPS
# --------------------------------------------------------------------------------------------


def nps(scores: Any, *, confidence: float = 0.95) -> NetPromoterScore:
    """Net Promoter Score of 0–10 answers: promoters (9–10) minus detractors (0–6), × 100.

    The SE treats each answer as +1/0/−1: ``100 √((p + d - (p - d)²) / n)``. The interval is the
    adjusted Wald of Rocks (2016): add 3 answers, ¾ each to promoters and detractors, then use
    the same formula; it is clipped to [−100, 100].
    """
    values = _vector("scores", scores)
    n = values.size
    if n == 0:
        msg = "No NPS answers were given; an NPS needs at least one."
        raise InputError(msg)
    if np.any((values < 0) | (values > 10) | (values != np.round(values))):
        msg = "NPS answers must be whole numbers from 0 to 10; remove or recode other values."
        raise InputError(msg)
    promoters, detractors = float(np.sum(values >= 9)), float(np.sum(values <= 6))
    p, d = promoters / n, detractors / n
    se = 100 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    n_adj = n + 3
    pa, da = (promoters + 0.75) / n_adj, (detractors + 0.75) / n_adj
    half = _z(confidence) * 100 * math.sqrt((pa + da - (pa - da) ** 2) / n_adj)
    centre = 100 * (pa - da)
    return NetPromoterScore(100 * (p - d), se, max(-100.0, centre - half), min(100.0, centre + half))
