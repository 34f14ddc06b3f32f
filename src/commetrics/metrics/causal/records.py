"""The records returned by :mod:`commetrics.metrics.causal`: estimates, diagnostics and experiment results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .checks import FloatArray


@dataclass(frozen=True)
class Estimate:
    """A difference in mean outcome between treated and control units, with its interval.

    For observational data this is an adjusted association, never proof that one thing drives
    the other.

    Attributes
    ----------
    estimate
        Treated minus control, in the unit of the outcome (a risk difference for a 0/1 outcome).
    se, ci_low, ci_high
        Standard error and normal-theory confidence interval.
    n
        Units that entered the estimate (after trimming; matched units for matching).
    n_trimmed
        Units left out: outside the ``trim`` range (weighting) or treated units without a
        control inside the caliper (matching).
    ess_treated, ess_control
        Kish effective sample size of the weights in each group.
    method
        ``"ipw-hajek"``, ``"aipw"`` or ``"matching"`` (with ``"+replace"`` or ``"+crossfit"``).
    estimand
        ``"ate"`` (all units) or ``"att"`` (units like the treated ones).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    n_trimmed: int
    ess_treated: float
    ess_control: float
    method: str
    estimand: str


class Overlap(NamedTuple):
    """How far the propensity scores of the two groups share a common range."""

    min_treated: float
    max_treated: float
    min_control: float
    max_control: float
    share_outside: float  # all units with a score outside [0.05, 0.95]
    share_treated_above_max_control: float  # treated with no control as likely to be treated
    share_control_below_min_treated: float
    auc: float  # how well the score separates the groups; near 1 means poor overlap


class EValue(NamedTuple):
    """E-values for a risk ratio: for the point estimate and for the confidence limit nearest 1."""

    point: float
    ci: float | None  # None when no interval was given; 1.0 when the interval includes 1


class Difference(NamedTuple):
    """A difference of two proportions with its confidence interval."""

    difference: float
    low: float
    high: float


class SampleRatioCheck(NamedTuple):
    """Chi-square goodness-of-fit test of the observed allocation against the design."""

    statistic: float
    pvalue: float
    mismatch: bool  # pvalue below the alert threshold


class Cuped(NamedTuple):
    """A CUPED-adjusted outcome and how much variance the pre-period covariate removed."""

    adjusted: FloatArray
    theta: float
    variance_ratio: float  # var(adjusted) / var(outcome) = 1 - corr(outcome, covariate)**2


class NetPromoterScore(NamedTuple):
    """NPS on the −100…100 scale, its trinomial standard error and an adjusted-Wald interval."""

    nps: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ABTest:
    """Variant B against variant A on a 0/1 metric (B minus A)."""

    rate_a: float
    rate_b: float
    difference: float  # rate_b - rate_a
    ci_low: float  # Newcombe hybrid score interval of the difference
    ci_high: float
    relative_lift: float  # difference / rate_a (nan when rate_a is 0)
    z: float  # pooled two-proportion z statistic
    pvalue: float  # two-sided
