"""Adjusted associations from observational data, and the arithmetic of lightweight experiments.

Everything here is a pure function on numpy arrays or pandas frames (no database): the engine
assembles one row per unit (account or member), and these functions do the statistics. The
methods follow METHODS.md cards (b), (c) and (f):

* **Propensity scores** from an unpenalised logistic regression (:func:`propensity`).
* **Inverse probability weighting** with normalised (Hajek) weights and a robust sandwich SE
  (:func:`ipw`, :func:`ipw_weights`).
* **Doubly robust AIPW** with an influence-function SE (:func:`aipw`).
* **1:1 nearest-neighbour matching** on the logit of the propensity score within a caliper
  (:func:`match_nearest`, :func:`matched_estimate`, :func:`matched_weights`).
* **Diagnostics**: covariate balance (:func:`balance`), overlap (:func:`overlap`), Kish effective
  sample size (:func:`ess`) and the E-value (:func:`e_value`, :func:`e_value_sentence`).
* **Experiments**: Newcombe interval of a difference of proportions, sample-ratio mismatch, CUPED,
  Holm adjustment, sample size and minimum detectable difference, deterministic hash assignment
  and a two-proportion test (:func:`ab_test`).
* **NPS** with its trinomial standard error (:func:`nps`).

Every estimate from observational data is an *adjusted association*: it compares groups that
were made similar on the measured covariates. Unmeasured differences can still explain it, which
is what the E-value quantifies. Words in results and messages are chosen accordingly.

Inputs are positional: pandas objects are turned into arrays, and their index is ignored.

The package is split by topic, and everything is importable from here
(``from commetrics.metrics import causal``, then ``causal.ipw``): :mod:`~.records` (the result
types), :mod:`~.checks` (input checks shared by the estimators), :mod:`~.weighting` (propensity
scores and IPW), :mod:`~.doubly_robust` (AIPW), :mod:`~.matching`, :mod:`~.diagnostics` (balance,
overlap, E-value) and :mod:`~.experiments` (experiments and NPS).
"""

from __future__ import annotations

from .checks import MIN_PER_GROUP as MIN_PER_GROUP
from .checks import MIN_ROWS as MIN_ROWS
from .checks import BoolArray as BoolArray
from .checks import Estimand as Estimand
from .checks import FloatArray as FloatArray
from .checks import IntArray as IntArray
from .checks import _check_groups as _check_groups
from .checks import _fit_logit as _fit_logit
from .checks import _matrix as _matrix
from .checks import _same_length as _same_length
from .checks import _standardise as _standardise
from .checks import _treated as _treated
from .checks import _vector as _vector
from .checks import _z as _z
from .diagnostics import _e as _e
from .diagnostics import _smd as _smd
from .diagnostics import _weighted_moments as _weighted_moments
from .diagnostics import balance, e_value, e_value_sentence, overlap
from .doubly_robust import _independent_columns as _independent_columns
from .doubly_robust import _outcome_predictions as _outcome_predictions
from .doubly_robust import _predict_ps as _predict_ps
from .doubly_robust import aipw
from .experiments import BUCKETS as BUCKETS
from .experiments import _check_design as _check_design
from .experiments import _counts as _counts
from .experiments import _n_per_arm as _n_per_arm
from .experiments import (
    ab_test,
    assign,
    cuped,
    holm,
    minimum_detectable_effect,
    newcombe_difference,
    nps,
    sample_size_two_proportions,
    srm_check,
)
from .matching import _find as _find
from .matching import match_nearest, matched_estimate, matched_weights
from .records import ABTest, Cuped, Difference, Estimate, EValue, NetPromoterScore, Overlap, SampleRatioCheck
from .weighting import _check_overlap as _check_overlap
from .weighting import _normal as _normal
from .weighting import _scores as _scores
from .weighting import _strictly_inside as _strictly_inside
from .weighting import _trim as _trim
from .weighting import _weights as _weights
from .weighting import ess, ipw, ipw_weights, propensity

__all__ = [
    "ABTest",
    "Cuped",
    "Difference",
    "EValue",
    "Estimate",
    "NetPromoterScore",
    "Overlap",
    "SampleRatioCheck",
    "ab_test",
    "aipw",
    "assign",
    "balance",
    "cuped",
    "e_value",
    "e_value_sentence",
    "ess",
    "holm",
    "ipw",
    "ipw_weights",
    "match_nearest",
    "matched_estimate",
    "matched_weights",
    "minimum_detectable_effect",
    "newcombe_difference",
    "nps",
    "overlap",
    "propensity",
    "sample_size_two_proportions",
    "srm_check",
]
