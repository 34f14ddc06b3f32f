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
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from ..errors import InputError
from ..stats import newcombe_interval

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

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Estimand = Literal["ate", "att"]

#: Fewer rows than this are refused: no interval from them would mean anything.
MIN_ROWS = 10
#: Each group needs at least this many units (a variance needs two).
MIN_PER_GROUP = 2
#: Number of hash buckets for :func:`assign` (allocations resolve to 0.01 %).
BUCKETS = 10_000


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence}. Use e.g. 0.95."
        raise InputError(msg)
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _vector(name: str, values: Any) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        msg = f"{name} must be one-dimensional (one value per unit), got shape {array.shape}."
        raise InputError(msg)
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        msg = f"{name} has {bad} missing or infinite values. Drop or impute those rows first."
        raise InputError(msg)
    return array


def _treated(values: Any) -> BoolArray:
    array = _vector("treated", values)
    if not np.all((array == 0) | (array == 1)):
        found = sorted(set(np.unique(array).tolist()) - {0.0, 1.0})[:5]
        msg = f"treated must be 0/1 or False/True, found other values such as {found}. Recode it as 0/1."
        raise InputError(msg)
    flags: BoolArray = array == 1
    return flags


def _check_groups(treated: BoolArray) -> None:
    n, n_treated = treated.size, int(treated.sum())
    if n < MIN_ROWS:
        msg = f"Only {n} rows were given; at least {MIN_ROWS} are needed. Widen the cohort or the date range."
        raise InputError(msg)
    if n_treated < MIN_PER_GROUP or n - n_treated < MIN_PER_GROUP:
        msg = (f"There are {n_treated} treated and {n - n_treated} control units; each group needs at least "
               f"{MIN_PER_GROUP}. Check how the exposure is defined, or widen the cohort so both groups occur.")
        raise InputError(msg)


def _same_length(**arrays: np.ndarray[Any, Any]) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        msg = f"Inputs must have one row per unit, but {detail} rows. Align them before calling."
        raise InputError(msg)


def _matrix(X: Any, *, reject_constant: bool = True) -> tuple[FloatArray, list[str]]:
    """Covariates as a float matrix and their names; refuses text, missing and constant columns."""
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        non_numeric = [str(c) for c in X.columns
                       if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if non_numeric:
            msg = (f"Covariates {non_numeric} are not numeric. One-hot encode categories first, e.g. "
                   "pd.get_dummies(X, columns=[...], drop_first=True, dtype=float).")
            raise InputError(msg)
        array = X.to_numpy(dtype=np.float64)
    else:
        array = np.asarray(X, dtype=np.float64)
        if array.ndim == 1:
            array = array[:, None]
        names = [f"x{i}" for i in range(array.shape[1] if array.ndim == 2 else 0)]
    if array.ndim != 2 or array.shape[1] == 0:
        msg = f"Covariates must be a table with at least one column, got shape {array.shape}."
        raise InputError(msg)
    if not np.all(np.isfinite(array)):
        columns = [names[j] for j in np.flatnonzero(~np.all(np.isfinite(array), axis=0))]
        msg = f"Covariates {columns} have missing or infinite values. Drop or impute those rows first."
        raise InputError(msg)
    if reject_constant:
        constant = [names[j] for j in np.flatnonzero(np.ptp(array, axis=0) == 0)]
        if constant:
            msg = (f"Covariates {constant} take a single value in every row, so they cannot adjust anything. "
                   "Drop them from the covariate table.")
            raise InputError(msg)
    return array, names


def _standardise(array: FloatArray) -> FloatArray:
    sd = array.std(axis=0)
    standardised: FloatArray = (array - array.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return standardised


def _fit_logit(Z: FloatArray, y: BoolArray, *, C: float, what: str) -> Any:
    """A logistic regression on standardised covariates; numerical trouble becomes an InputError."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    design = np.column_stack([np.ones(len(Z)), Z])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        msg = (f"The covariates of the {what} are collinear (one is a combination of the others, "
               "e.g. every level of a category was one-hot encoded). Drop one dummy per category "
               "(drop_first=True) and any duplicated column.")
        raise InputError(msg)
    # Newton–Cholesky converges to the exact maximum likelihood in a few iterations for the small
    # number of covariates used here; max_iter is generous so that a warning means real trouble.
    model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=500, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.filterwarnings("error", message=".*(singular|ill-conditioned).*")
        try:
            model.fit(Z, y.astype(np.int64))
        except (Warning, np.linalg.LinAlgError) as error:  # only the warnings raised as errors above
            msg = (f"The {what} did not converge ({str(error).splitlines()[0]}). This usually means a covariate "
                   "(nearly) separates the groups, so they do not overlap on it. Look at overlap() and balance(), "
                   "then restrict the analysis to comparable units or drop the covariate that decides the group.")
            raise InputError(msg) from error
    return model


# --------------------------------------------------------------------------------------------
# Propensity scores, weights and diagnostics
# --------------------------------------------------------------------------------------------


def propensity(X: Any, treated: Any, *, penalty: Literal["l2"] | None = None, C: float = 1.0) -> FloatArray:
    """The probability of being treated given the covariates, from a logistic regression.

    Parameters
    ----------
    X
        Covariates, one row per unit (a numeric DataFrame or 2-D array). Encode categories as
        dummies with one level dropped; add squares or interactions as columns.
    treated
        1 (or True) for treated units, 0 for controls.
    penalty
        ``None`` (default): unpenalised maximum likelihood. ``"l2"``: ridge penalty of strength
        ``1 / C`` on the standardised coefficients.
    C
        Inverse penalty strength, used only with ``penalty="l2"``.

    Returns
    -------
    numpy.ndarray
        The propensity score of each unit, in the input order.

    Notes
    -----
    The default is unpenalised because the textbook answers (Hernán & Robins' NHEFS analysis:
    3.44 kg) come from an ordinary logit. scikit-learn's ``LogisticRegression()`` is L2-penalised
    by default, which silently shrinks the model (DoWhy's defaults, a penalised logit with scores
    clipped to [0.05, 0.95] and main effects only, give 3.35 on the same data).
    Covariates are standardised before fitting; that leaves unpenalised scores unchanged and
    makes the L2 penalty treat every covariate alike.
    """
    a = _treated(treated)
    array, _ = _matrix(X)
    _same_length(X=array, treated=a)
    _check_groups(a)
    if array.shape[1] + 2 > a.size:
        msg = (f"{array.shape[1]} covariates for {a.size} rows is too many to fit a propensity model. "
               "Use fewer covariates or more rows.")
        raise InputError(msg)
    if penalty not in (None, "l2"):
        msg = f"penalty must be None or 'l2', got {penalty!r}."
        raise InputError(msg)
    if penalty == "l2" and not C > 0:
        msg = f"C must be positive, got {C}."
        raise InputError(msg)
    Z = _standardise(array)
    model = _fit_logit(Z, a, C=math.inf if penalty is None else C, what="propensity model")
    scores: FloatArray = model.predict_proba(Z)[:, 1].astype(np.float64)
    return scores


def ess(weights: Any) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²``: how many equally weighted units the weights are worth."""
    w = _vector("weights", weights)
    if np.any(w < 0):
        msg = "weights must not be negative."
        raise InputError(msg)
    total = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / total) if total > 0 else 0.0


def _scores(ps: Any, n: int) -> FloatArray:
    p = _vector("ps", ps)
    if p.size != n:
        msg = f"ps has {p.size} values but treated has {n}; give one propensity score per unit."
        raise InputError(msg)
    if np.any((p < 0) | (p > 1)):
        msg = "Propensity scores must lie between 0 and 1; pass probabilities, not logits."
        raise InputError(msg)
    return p


def _strictly_inside(p: FloatArray) -> None:
    if np.any((p <= 0) | (p >= 1)):
        msg = ("Some propensity scores are exactly 0 or 1, so those units have no comparable counterpart. "
               "Pass trim=(lo, hi), e.g. (0.01, 0.99), and report the trimmed count.")
        raise InputError(msg)


def _check_overlap(p: FloatArray, a: BoolArray) -> None:
    low_treated, high_control = float(p[a].min()), float(p[~a].max())
    if low_treated > high_control:
        msg = (f"The propensity scores of treated and control units do not overlap (lowest treated "
               f"{low_treated:.4g} > highest control {high_control:.4g}): the covariates separate the groups, "
               "so no adjusted association can be estimated. Restrict the analysis to units that are comparable "
               "(e.g. one segment), or drop covariates that determine who is treated.")
        raise InputError(msg)


def _trim(p: FloatArray, trim: tuple[float, float] | None) -> BoolArray:
    if trim is None:
        return np.ones(p.size, dtype=np.bool_)
    lo, hi = trim
    if not 0 <= lo < hi <= 1:
        msg = f"trim must be (lo, hi) with 0 <= lo < hi <= 1, got {trim}."
        raise InputError(msg)
    keep: BoolArray = (p >= lo) & (p <= hi)
    return keep


def _weights(a: BoolArray, p: FloatArray, estimand: Estimand, stabilized: bool) -> FloatArray:
    if estimand == "ate":
        w = np.where(a, 1 / p, 1 / (1 - p))
        if stabilized:
            share = a.mean()
            w = w * np.where(a, share, 1 - share)
    elif estimand == "att":
        w = np.where(a, 1.0, p / (1 - p))
        if stabilized:
            share = a.mean()
            w = w * np.where(a, 1.0, (1 - share) / share)
    else:
        msg = f"estimand must be 'ate' or 'att', got {estimand!r}."
        raise InputError(msg)
    return np.asarray(w, dtype=np.float64)


def ipw_weights(treated: Any, ps: Any, *, estimand: Estimand = "ate", stabilized: bool = True) -> FloatArray:
    """Inverse probability weights for each unit.

    ATE: ``1/ps`` for treated and ``1/(1-ps)`` for controls. ATT: 1 for treated and
    ``ps/(1-ps)`` for controls. Stabilised weights multiply each group by a constant so that the
    weights average about 1: ``P(treated)`` and ``P(control)`` for the ATE, ``P(control)/P(treated)``
    for the controls under the ATT.
    """
    a = _treated(treated)
    p = _scores(ps, a.size)
    _strictly_inside(p)
    return _weights(a, p, estimand, stabilized)


def _normal(estimate: float, se: float, confidence: float) -> tuple[float, float]:
    z = _z(confidence)
    return estimate - z * se, estimate + z * se


def ipw(y: Any, treated: Any, ps: Any, *, estimand: Estimand = "ate", stabilized: bool = True,
        trim: tuple[float, float] | None = None, confidence: float = 0.95) -> Estimate:
    """Inverse probability weighted difference in mean outcome (an adjusted association).

    Parameters
    ----------
    y
        Outcome per unit (0/1 gives a risk difference).
    treated
        1 for treated units, 0 for controls.
    ps
        Propensity scores, e.g. from :func:`propensity`.
    estimand
        ``"ate"``: the whole population. ``"att"``: units like the treated ones.
    stabilized
        Stabilise the weights. With normalised weights this changes neither the estimate nor its
        SE (each group's weights are scaled by a constant); it is kept so that the weights one
        inspects through :func:`ipw_weights` are the ones described.
    trim
        ``(lo, hi)``: drop units whose score lies outside ``[lo, hi]`` before weighting. This
        changes the population the answer describes (e.g. Crump's 0.1–0.9 rule); ``n_trimmed``
        says how many were dropped. Default: no trimming.
    confidence
        Level of the normal-theory interval.

    Notes
    -----
    The estimate is the Hajek (normalised) contrast ``Σ w y / Σ w`` in treated minus the same in
    controls. Its SE is the heteroscedasticity-robust (HC0) sandwich of the weighted least-squares
    regression ``y ~ 1 + treated``, i.e. the GEE with independence working correlation that
    Hernán & Robins use (R ``geeglm``). It treats the propensity scores as known, which for the
    ATE is conservative. On NHEFS it reproduces 3.44 kg (2.41 to 4.47).
    """
    a = _treated(treated)
    outcome = _vector("y", y)
    _same_length(y=outcome, treated=a)
    p = _scores(ps, a.size)
    _check_groups(a)
    keep = _trim(p, trim)
    n_trimmed = int((~keep).sum())
    a, outcome, p = a[keep], outcome[keep], p[keep]
    _check_groups(a)
    _strictly_inside(p)
    _check_overlap(p, a)
    w = _weights(a, p, estimand, stabilized)
    mean_t = float(np.sum(w[a] * outcome[a]) / np.sum(w[a]))
    mean_c = float(np.sum(w[~a] * outcome[~a]) / np.sum(w[~a]))
    variance = (np.sum((w[a] * (outcome[a] - mean_t)) ** 2) / np.sum(w[a]) ** 2
                + np.sum((w[~a] * (outcome[~a] - mean_c)) ** 2) / np.sum(w[~a]) ** 2)
    estimate, se = mean_t - mean_c, float(np.sqrt(variance))
    low, high = _normal(estimate, se, confidence)
    return Estimate(estimate, se, low, high, int(a.size), n_trimmed, ess(w[a]), ess(w[~a]), "ipw-hajek", estimand)


def _independent_columns(X: FloatArray) -> BoolArray:
    """Columns that, beside an intercept, are linearly independent within these rows.

    Within one arm a covariate can be constant, or categories can add up to the intercept (an arm
    with no unit in the reference category); such columns say nothing within the arm and would make
    its design singular, so the arm's outcome model leaves them out (QR with column pivoting).
    """
    from scipy.linalg import qr

    keep = np.zeros(X.shape[1], dtype=bool)
    if len(X) == 0:
        return keep
    design = np.column_stack([np.ones(len(X)), (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)])
    _, r, pivots = qr(design, mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int(np.sum(diagonal > diagonal.max() * 1e-10 * max(design.shape)))
    chosen = pivots[:rank]
    keep[chosen[chosen > 0] - 1] = True
    return keep


def _outcome_predictions(X: FloatArray, y: FloatArray, a: BoolArray, train: BoolArray, model: str
                         ) -> tuple[FloatArray, FloatArray]:
    """Predicted outcome under control and under treatment for every unit, from arm-specific fits."""
    from sklearn.linear_model import LinearRegression

    predictions = []
    for arm in (False, True):
        rows = train & (a == arm)
        X_arm = X[:, _independent_columns(X[rows])]
        if model == "linear":
            fit = LinearRegression().fit(X_arm[rows], y[rows])
            predictions.append(np.asarray(fit.predict(X_arm), dtype=np.float64))
        else:
            if np.ptp(y[rows]) == 0:
                msg = (f"Every {'treated' if arm else 'control'} unit has outcome {y[rows][0]:g}, so a logistic "
                       "outcome model cannot be fitted. Use outcome_model='linear' or a larger cohort.")
                raise InputError(msg)
            centre, scale = X_arm[rows].mean(axis=0), X_arm[rows].std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            fit = _fit_logit((X_arm[rows] - centre) / scale, y[rows] == 1, C=math.inf, what="outcome model")
            predictions.append(np.asarray(fit.predict_proba((X_arm - centre) / scale)[:, 1], dtype=np.float64))
    return predictions[0], predictions[1]


def aipw(y: Any, treated: Any, X: Any, *, ps: Any = None, outcome_model: Literal["linear", "logistic"] = "linear",
         estimand: Estimand = "ate", trim: tuple[float, float] | None = None, cross_fit: bool = False,
         folds: int = 5, seed: int = 0, confidence: float = 0.95) -> Estimate:
    """Doubly robust (augmented IPW) difference in mean outcome: an adjusted association.

    The answer is consistent when either the propensity model or the outcome model is right.

    Parameters
    ----------
    y, treated, X
        Outcome, 0/1 treatment indicator and covariates, one row per unit.
    ps
        Propensity scores; by default fitted by :func:`propensity` on ``X`` (unpenalised).
    outcome_model
        ``"linear"`` (least squares) or ``"logistic"`` (unpenalised, for a 0/1 outcome), fitted
        separately in treated and controls, so the outcome model includes every
        treatment-by-covariate interaction.
    estimand
        ``"ate"`` or ``"att"``.
    trim
        ``(lo, hi)``: drop units with a score outside ``[lo, hi]`` (reported in ``n_trimmed``).
        Default none, because trimming changes the population the answer describes.
    cross_fit
        Fit the models on ``folds - 1`` folds and predict the held-out fold (stratified by
        treatment, shuffled with ``seed``). Off by default so that results are deterministic
        and equal to the textbook estimator.
    confidence
        Level of the normal-theory interval.

    Notes
    -----
    ATE: ``ψ = m1 - m0 + A (y - m1) / e - (1 - A) (y - m0) / (1 - e)``, estimate ``mean(ψ)``.
    ATT: ``ψ = [A (y - m0) - (1 - A) e / (1 - e) (y - m0)] / P(A)``, estimate ``Σ…/ΣA``.
    The SE is ``sd(ψ) / √n`` from the influence function (it does not add the uncertainty of
    the fitted models, which is negligible when both are right). On NHEFS (the Hernán & Robins
    propensity model, linear outcome model) it gives 3.37 kg (SE 0.47), as statsmodels'
    ``TreatmentEffect.aipw()`` does, next to 3.44 from IPW.
    """
    a = _treated(treated)
    outcome = _vector("y", y)
    array, _ = _matrix(X)
    _same_length(y=outcome, treated=a, X=array)
    _check_groups(a)
    if outcome_model not in ("linear", "logistic"):
        msg = f"outcome_model must be 'linear' or 'logistic', got {outcome_model!r}."
        raise InputError(msg)
    if outcome_model == "logistic" and not np.all((outcome == 0) | (outcome == 1)):
        msg = "outcome_model='logistic' needs a 0/1 outcome; use outcome_model='linear' for other outcomes."
        raise InputError(msg)
    if estimand not in ("ate", "att"):
        msg = f"estimand must be 'ate' or 'att', got {estimand!r}."
        raise InputError(msg)

    n = a.size
    smaller = int(min(a.sum(), (~a).sum()))
    if array.shape[1] + 2 > smaller:
        msg = (f"{array.shape[1]} covariates but only {smaller} units in the smaller group: the outcome models "
               "(one per group) cannot be fitted. Use fewer covariates or a larger cohort.")
        raise InputError(msg)
    if cross_fit:
        from sklearn.model_selection import StratifiedKFold

        if not 2 <= folds <= smaller:
            msg = f"folds must be between 2 and the size of the smaller group, got {folds}."
            raise InputError(msg)
        splits = [(np.isin(np.arange(n), test, invert=True), test) for _, test in
                  StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(array, a)]
    else:
        splits = [(np.ones(n, dtype=np.bool_), np.arange(n))]

    p = np.empty(n) if ps is None else _scores(ps, n)
    m0, m1 = np.empty(n), np.empty(n)
    for train, test in splits:
        if ps is None:
            p[test] = _predict_ps(array, a, train)[test]
        mu0, mu1 = _outcome_predictions(array, outcome, a, train, outcome_model)
        m0[test], m1[test] = mu0[test], mu1[test]
    if ps is None:
        p = _scores(p, n)

    keep = _trim(p, trim)
    n_trimmed = int((~keep).sum())
    a, outcome, p, m0, m1 = a[keep], outcome[keep], p[keep], m0[keep], m1[keep]
    _check_groups(a)
    _strictly_inside(p)
    _check_overlap(p, a)
    af = a.astype(np.float64)
    if estimand == "ate":
        psi = m1 - m0 + af * (outcome - m1) / p - (1 - af) * (outcome - m0) / (1 - p)
        estimate = float(psi.mean())
        influence = psi - estimate
        w_t, w_c = 1 / p[a], 1 / (1 - p[~a])
    else:
        share = af.mean()
        odds = p / (1 - p)
        contribution = af * (outcome - m0) - (1 - af) * odds * (outcome - m0)
        estimate = float(contribution.sum() / af.sum())
        influence = (contribution - af * estimate) / share
        w_t, w_c = np.ones(int(a.sum())), odds[~a]
    se = float(np.sqrt(np.var(influence, ddof=1) / a.size))
    low, high = _normal(estimate, se, confidence)
    method = "aipw+crossfit" if cross_fit else "aipw"
    return Estimate(estimate, se, low, high, int(a.size), n_trimmed, ess(w_t), ess(w_c), method, estimand)


def _predict_ps(array: FloatArray, a: BoolArray, train: BoolArray) -> FloatArray:
    """Propensity scores for every row from a model fitted on the training rows (unpenalised)."""
    centre, scale = array[train].mean(axis=0), array[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = _fit_logit((array[train] - centre) / scale, a[train], C=math.inf, what="propensity model")
    return np.asarray(model.predict_proba((array - centre) / scale)[:, 1], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def _find(parent: IntArray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:  # path compression
        parent[i], i = root, int(parent[i])
    return root


def match_nearest(ps_logit: Any, treated: Any, *, caliper_sd: float | None = 0.2, replace: bool = False
                  ) -> IntArray:
    """Greedy 1:1 nearest-neighbour matching of treated to control units on the logit propensity score.

    Parameters
    ----------
    ps_logit
        ``log(ps / (1 - ps))`` per unit (``scipy.special.logit(ps)``).
    treated
        1 for treated units, 0 for controls.
    caliper_sd
        A treated unit is matched only to a control within ``caliper_sd`` pooled standard
        deviations of the logit score, ``√((s²_treated + s²_control) / 2)`` (Austin 2011
        recommends 0.2). ``None``: no caliper.
    replace
        Allow a control to serve several treated units.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 2)``: row positions of (treated, control) for each pair. Treated units without
        a control inside the caliper are left out.

    Notes
    -----
    Treated units are matched in decreasing order of their score (the hardest to match first,
    MatchIt's ``m.order = "largest"``); ties go to the control that comes first in sorted order.
    """
    a = _treated(treated)
    score = _vector("ps_logit", ps_logit)
    _same_length(ps_logit=score, treated=a)
    _check_groups(a)
    treated_rows, control_rows = np.flatnonzero(a), np.flatnonzero(~a)
    order = np.argsort(score[control_rows], kind="stable")
    sorted_rows, sorted_values = control_rows[order], score[control_rows][order]
    if caliper_sd is None:
        caliper = math.inf
    else:
        if not caliper_sd > 0:
            msg = f"caliper_sd must be positive (or None for no caliper), got {caliper_sd}."
            raise InputError(msg)
        pooled = math.sqrt((np.var(score[a], ddof=1) + np.var(score[~a], ddof=1)) / 2)
        caliper = caliper_sd * pooled
    m = sorted_values.size
    # Union-find over sorted controls: the nearest unused control to the right (index, m = none)
    # and to the left (index + 1, 0 = none), so each match costs near-constant time.
    right = np.arange(m + 1, dtype=np.int64)
    left = np.arange(m + 1, dtype=np.int64)
    pairs: list[tuple[int, int]] = []
    for t in treated_rows[np.argsort(-score[treated_rows], kind="stable")]:
        value = score[t]
        position = int(np.searchsorted(sorted_values, value))
        if replace:
            candidates = [j for j in (position - 1, position) if 0 <= j < m]
        else:
            r, left_slot = _find(right, position), _find(left, position)
            candidates = [j for j in (left_slot - 1, r) if 0 <= j < m]
        if not candidates:
            continue
        best = min(candidates, key=lambda j: (abs(sorted_values[j] - value), j))
        if abs(sorted_values[best] - value) > caliper:
            continue
        pairs.append((int(t), int(sorted_rows[best])))
        if not replace:
            right[best] = best + 1
            left[best + 1] = best
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def matched_weights(pairs: Any, n: int) -> FloatArray:
    """Weights that reproduce matched pairs: how often each unit appears in them (0 if never).

    Pass them to :func:`balance` to see the balance after matching.
    """
    index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.bincount(index.ravel(), minlength=n).astype(np.float64)


def matched_estimate(y: Any, treated: Any, pairs: Any, *, confidence: float = 0.95) -> Estimate:
    """Mean treated-minus-control difference over matched pairs: an adjusted association for the treated (ATT).

    Notes
    -----
    The SE is the standard deviation of the paired differences over √k. Matching SEs are
    approximate: this one ignores that the pairs were chosen from the data (and, with
    replacement, that a reused control makes pairs dependent). Abadie & Imbens' variance is the
    reference; MatchIt's authors note that other matching SEs are not well understood. Prefer
    :func:`aipw` for the primary interval and show matched pairs as the explainable view.
    ``n_trimmed`` counts treated units that found no control inside the caliper.
    """
    a = _treated(treated)
    outcome = _vector("y", y)
    _same_length(y=outcome, treated=a)
    index = np.asarray(pairs, dtype=np.int64)
    if index.ndim != 2 or index.shape[1] != 2:
        msg = f"pairs must have shape (k, 2) as returned by match_nearest, got {index.shape}."
        raise InputError(msg)
    if index.size and (index.min() < 0 or index.max() >= a.size):
        msg = "pairs refer to rows that do not exist in y; use the pairs made from the same rows."
        raise InputError(msg)
    if index.size and (not a[index[:, 0]].all() or a[index[:, 1]].any()):
        msg = "Each pair must be (treated row, control row), as returned by match_nearest."
        raise InputError(msg)
    k = index.shape[0]
    if k < MIN_PER_GROUP:
        msg = f"Only {k} matched pairs; at least {MIN_PER_GROUP} are needed. Widen the caliper or check overlap."
        raise InputError(msg)
    differences = outcome[index[:, 0]] - outcome[index[:, 1]]
    estimate = float(differences.mean())
    se = float(differences.std(ddof=1) / math.sqrt(k))
    low, high = _normal(estimate, se, confidence)
    uses = np.bincount(index[:, 1])
    controls = int(np.count_nonzero(uses))
    method = "matching" if controls == k else "matching+replace"
    return Estimate(estimate, se, low, high, k + controls, int(a.sum()) - k, float(k), ess(uses[uses > 0]),
                    method, "att")


# --------------------------------------------------------------------------------------------
# Balance, overlap, sensitivity
# --------------------------------------------------------------------------------------------


def _weighted_moments(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = (w[:, None] * x).sum(axis=0) / w.sum()
    variance = (w[:, None] * (x - mean) ** 2).sum(axis=0) / w.sum()
    return mean, variance


def _smd(difference: FloatArray, sd: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, difference / np.where(sd > 0, sd, 1.0), np.where(difference == 0, 0.0, np.inf))


def balance(X: Any, treated: Any, weights: Any = None) -> pd.DataFrame:
    """Covariate balance: standardised mean differences and variance ratios, before and after weighting.

    Parameters
    ----------
    X
        Covariates, one row per unit.
    treated
        1 for treated units, 0 for controls.
    weights
        Optional weights per unit (:func:`ipw_weights`, or :func:`matched_weights` after matching).

    Returns
    -------
    pandas.DataFrame
        One row per covariate: ``mean_treated``, ``mean_control``, ``smd_before`` and
        ``variance_ratio_before`` (treated over control); with weights also ``mean_treated_after``,
        ``mean_control_after``, ``smd_after`` and ``variance_ratio_after``.

    Notes
    -----
    Both SMDs divide by the same pooled SD of the *unweighted* groups, ``√((s²_t + s²_c) / 2)``,
    so that weighting can only change the numerator. Targets: |SMD| < 0.1 and a variance ratio
    within 0.5–2 (Austin). A covariate constant in both groups has SMD 0.
    """
    a = _treated(treated)
    array, names = _matrix(X, reject_constant=False)
    _same_length(X=array, treated=a)
    _check_groups(a)
    mean_t, mean_c = array[a].mean(axis=0), array[~a].mean(axis=0)
    var_t, var_c = array[a].var(axis=0, ddof=1), array[~a].var(axis=0, ddof=1)
    pooled = np.sqrt((var_t + var_c) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame({"mean_treated": mean_t, "mean_control": mean_c,
                              "smd_before": _smd(mean_t - mean_c, pooled), "variance_ratio_before": var_t / var_c},
                             index=pd.Index(names, name="covariate"))
    if weights is not None:
        w = _vector("weights", weights)
        _same_length(X=array, weights=w)
        if np.any(w < 0) or w[a].sum() <= 0 or w[~a].sum() <= 0:
            msg = "weights must be non-negative with a positive total in each group."
            raise InputError(msg)
        after_t, wvar_t = _weighted_moments(array[a], w[a])
        after_c, wvar_c = _weighted_moments(array[~a], w[~a])
        table["mean_treated_after"] = after_t
        table["mean_control_after"] = after_c
        table["smd_after"] = _smd(after_t - after_c, pooled)
        with np.errstate(divide="ignore", invalid="ignore"):
            table["variance_ratio_after"] = wvar_t / wvar_c
    return table


def overlap(ps: Any, treated: Any) -> Overlap:
    """Summary of how far the propensity scores of treated and control units overlap.

    ``share_outside`` is the share of all units with a score outside [0.05, 0.95]. ``auc`` is the
    probability that a random treated unit has a higher score than a random control: 0.5 means
    the groups look alike on the covariates, values near 1 mean poor overlap (a very "good"
    propensity model is a warning, not an achievement).
    """
    a = _treated(treated)
    p = _vector("ps", ps)
    _same_length(ps=p, treated=a)
    _check_groups(a)
    pt, pc = p[a], p[~a]
    ranks = stats.rankdata(p)
    auc = (ranks[a].sum() - pt.size * (pt.size + 1) / 2) / (pt.size * pc.size)
    return Overlap(float(pt.min()), float(pt.max()), float(pc.min()), float(pc.max()),
                   float(np.mean((p < 0.05) | (p > 0.95))), float(np.mean(pt > pc.max())),
                   float(np.mean(pc < pt.min())), float(auc))


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + math.sqrt(rr * (rr - 1)))


def e_value(rr: float, lo: float | None = None, hi: float | None = None) -> EValue:
    """E-value of a risk ratio (VanderWeele & Ding 2017), for the estimate and its confidence limit.

    The E-value is the minimum strength of association, on the risk-ratio scale, that an
    unmeasured factor would need with both the exposure and the outcome, beyond the measured
    covariates, to fully explain away the adjusted association: ``E = RR + √(RR (RR - 1))``.
    A risk ratio below 1 is inverted first. For the interval, the limit closest to 1 is used;
    if the interval includes 1 its E-value is 1.

    >>> round(e_value(3.9).point, 2)
    7.26
    """
    values = [v for v in (rr, lo, hi) if v is not None]
    if any(not (math.isfinite(v) and v > 0) for v in values):
        msg = f"Risk ratios must be positive and finite, got {values}."
        raise InputError(msg)
    if (lo is not None and lo > rr) or (hi is not None and hi < rr):
        msg = f"The interval ({lo}, {hi}) must contain the estimate {rr}."
        raise InputError(msg)
    point = _e(rr)
    limit = lo if rr >= 1 else hi  # the confidence limit closest to 1
    if limit is None:
        return EValue(point, None)
    crosses = limit <= 1 if rr >= 1 else limit >= 1
    return EValue(point, 1.0 if crosses else _e(limit))


def e_value_sentence(rr: float, lo: float | None = None, hi: float | None = None, *,
                     exposure: str = "the exposure", outcome: str = "the outcome") -> str:
    """The E-value in one plain-English sentence (or two, with an interval)."""
    value = e_value(rr, lo, hi)
    if value.point == 1:
        return (f"The adjusted risk ratio is 1.00: there is no adjusted association between {exposure} and "
                f"{outcome} to explain away.")
    text = (f"The adjusted association (risk ratio {rr:.2f}) could be explained away only by an unmeasured "
            f"factor associated with both {exposure} and {outcome} by a risk ratio of at least {value.point:.2f} "
            "each, over and above the measured covariates; weaker factors could not.")
    if value.ci == 1.0:
        text += " The confidence interval already includes 1, so no unmeasured factor is needed to make it do so."
    elif value.ci is not None:
        text += (f" For the confidence interval to include 1, such a factor would need risk ratios of at least "
                 f"{value.ci:.2f}.")
    return text


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------


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
