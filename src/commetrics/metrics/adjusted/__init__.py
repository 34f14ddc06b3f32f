"""Adjusted differences that hold on real observational data: the headline of every adjusted analysis.

The textbook estimators in :mod:`commetrics.metrics.causal` (an unpenalised logit, untrimmed
weights) reproduce published answers on clean data, and fail on the data communities have: a
heavy-tailed covariate such as spend, and engagement that nearly decides who is in which group,
give propensities of 0.9999997, a handful of controls carrying all the weight, and "adjusted"
differences of rates far outside ±100 points. :func:`adjusted_difference` is the estimate the
product shows, built to survive that:

1. **Covariates that a model can use.** Numbers are standardised; a non-negative covariate with a
   long right tail (skewness above 1, more than two values: money, counts) is put on a log scale
   first — ``ln(x)``, or ``ln(1 + x)`` when it holds zeros. :func:`prepare_covariates` says which.
2. **Penalised, cross-validated, cross-fitted nuisance models.** Every model may use the
   covariates as they are or with their squares and pairwise products (up to 12 columns), with
   an L2 penalty. The outcome models (one per group: logistic for a 0/1 outcome, ridge otherwise)
   take the form and penalty with the smallest cross-validated loss. The propensity model takes,
   among the forms and penalties whose weights balance every covariate (|SMD| below 0.1), the one
   with the smallest out-of-fold log-loss — prediction alone picks strong penalties that leave
   small samples unbalanced. The choices are made on at most 50,000 units (a random subset);
   every unit's propensity and predicted outcomes come from the chosen models fitted on the other
   folds (cross-fitting, as in double/debiased machine learning).
3. **Overlap handled, not ignored.** By default units whose propensity lies outside the range
   chosen by the rule of Crump, Hotz, Imbens & Mitnik (2009) are set aside: for the effect on the
   treated (ATT) only the upper end matters (treated units with no comparable control), for the
   average effect (ATE) both ends. When overlap is good the rule trims nothing. The population
   the answer then describes is said in words (``population``) and counted.
4. **The right estimand.** The ATT — "did the members who took part do better than they would
   have?" — is the default; the ATE on request. The estimate is the doubly robust (augmented IPW)
   contrast with normalised weights, and its interval comes from the influence function.
5. **Guards before any headline.** A difference of rates outside [−1, 1], an interval reaching
   beyond the possible range, a covariate still unbalanced after weighting (|SMD| above 0.1) or
   too few effective units (Kish) means there is no headline: ``guards`` says which tripped and
   what to do.
6. **Sensitivity.** Beside the E-value, the robustness value of Chernozhukov, Cinelli, Newey,
   Sharma & Syrgkanis (2022) — how much of the remaining variation of both the outcome and the
   treatment an unmeasured factor must explain to bring the estimate to zero — as DoubleML
   reports it; optionally refutations (placebo treatment, a random common cause, data subsets).

Everything is a pure function of arrays and frames; the wording is "adjusted association".

The package, one step each: :mod:`.covariates`, :mod:`.nuisances` (cross-fitted models),
:mod:`.overlap` (trimming), :mod:`.estimate` (the contrast, guards, population), :mod:`.sensitivity`
(robustness value, refutations) and :mod:`.records`.
"""

from __future__ import annotations

from typing import Any

from .covariates import log_scale_kind, log_scaled, prepare_covariates
from .estimate import _guards, adjusted_difference
from .overlap import crump_bounds
from .records import AdjustedEstimate, Labels, Prepared, Refutation, Sensitivity, guard
from .sensitivity import refutations as _refutations
from .sensitivity import robustness_value

__all__ = [
    "AdjustedEstimate",
    "Labels",
    "Prepared",
    "Refutation",
    "Sensitivity",
    "_guards",
    "adjusted_difference",
    "crump_bounds",
    "guard",
    "log_scale_kind",
    "log_scaled",
    "prepare_covariates",
    "refutations",
    "robustness_value",
]


def refutations(y: Any, treated: Any, X: Any, original: AdjustedEstimate, **options: Any) -> tuple[Refutation, ...]:
    """The refutations of ``original`` (see :func:`commetrics.metrics.adjusted.sensitivity.refutations`), each
    re-running :func:`adjusted_difference` with ``options``."""
    return _refutations(y, treated, X, original, estimator=adjusted_difference, **options)
