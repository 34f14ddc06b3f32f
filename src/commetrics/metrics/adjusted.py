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
   small samples unbalanced. Every unit's propensity and predicted outcomes come from models
   fitted on the other folds (cross-fitting, as in double/debiased machine learning).
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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ..errors import InputError
from . import causal

__all__ = [
    "AdjustedEstimate",
    "Guard",
    "Labels",
    "Prepared",
    "Refutation",
    "Sensitivity",
    "adjusted_difference",
    "crump_bounds",
    "log_scale_kind",
    "log_scaled",
    "prepare_covariates",
    "robustness_value",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Estimand = Literal["att", "ate"]

#: Penalties tried for the logistic models (inverse strength C on standardised covariates).
C_GRID = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e4)
#: Ridge strengths tried for a continuous outcome.
ALPHA_GRID = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3)
#: At most this many rows choose a penalty (the choice is stable long before; fitting uses all rows).
TUNING_ROWS = 50_000
#: A covariate with a longer right tail than this (sample skewness) goes on a log scale.
SKEW_LIMIT = 1.0
#: Propensities are kept this far inside (0, 1) so that no weight is infinite.
CLIP = 1e-6
#: Propensities that rank treated above comparison units this reliably (AUC) mean the covariates separate them.
SEPARATION_AUC = 0.99
#: Up to this many covariate columns, the models may also use their squares and pairwise products.
MAX_EXPANDED = 12


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A check that failed, so the estimate is not shown as the headline.

    Names: ``range`` (the estimate lies outside what the outcome allows), ``interval`` (its
    interval reaches beyond that), ``balance`` (a covariate still differs after weighting or
    matching), ``ess`` (too few effective units), ``overlap`` (the covariates separate the groups);
    the other analyses add ``convergence``, ``separation`` and ``model`` (Cox) and
    ``parallel_trends`` (difference-in-differences).
    """

    name: str
    value: float
    threshold: float
    message: str  # what was found, in words
    advice: str  # what to do about it

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _finite(self.value), "threshold": _finite(self.threshold),
                "message": self.message, "advice": self.advice}


@dataclass(frozen=True)
class Sensitivity:
    """How strong an unmeasured confounder would have to be (Chernozhukov et al. 2022; DoubleML).

    ``rv``: the share of the remaining variation in both the outcome and the treatment (the Riesz
    representer) that a confounder must explain to move the estimate to 0. ``rva``: the same for
    the edge of the (one-sided, 95%) interval, i.e. to make the estimate indistinguishable from 0.
    ``max_bias``: the bias per unit of confounding strength, ``√(σ² ν²)``.
    """

    rv: float
    rva: float
    max_bias: float
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"rv": _finite(self.rv), "rva": _finite(self.rva), "max_bias": _finite(self.max_bias),
                "sentence": self.sentence}


@dataclass(frozen=True)
class Refutation:
    """One refutation check (the checks DoWhy popularised), run again on altered data."""

    name: str  # placebo_treatment, random_common_cause, data_subset
    estimate: float  # the new estimate (for data_subset: the mean over subsets)
    expected: float  # what it should be near: 0 for a placebo, the original estimate otherwise
    passed: bool
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "estimate": _finite(self.estimate), "expected": _finite(self.expected),
                "passed": self.passed, "sentence": self.sentence}


@dataclass(frozen=True)
class Prepared:
    """Covariates ready for the models: the standardised matrix, its column names and the log-scaled ones."""

    matrix: FloatArray
    names: list[str]
    logged: dict[str, str]  # column -> "log" or "log1p"


@dataclass(frozen=True)
class AdjustedEstimate:
    """The adjusted difference (treated minus control) with everything needed to judge it.

    ``estimate``/``se``/``ci_low``/``ci_high`` are on the outcome's scale (a risk difference for a
    0/1 outcome). ``headline`` is false when a guard tripped; then the figures are for the analyst
    and must not be shown as the answer. ``population`` says in words whom the answer describes.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    estimand: Estimand
    population: str
    trim: tuple[float, float]
    treated_kept: int
    control_kept: int
    treated_dropped: int
    control_dropped: int
    ess_treated: float
    ess_control: float
    ipw: causal.Estimate
    matched: causal.Estimate | None
    balance: pd.DataFrame
    overlap: causal.Overlap
    logged: dict[str, str]
    propensity_model: str
    outcome_model: str
    guards: tuple[Guard, ...]
    sensitivity: Sensitivity | None
    refutations: tuple[Refutation, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float = 0.95
    folds: int = 5
    kept: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_), repr=False)
    ps: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def headline(self) -> bool:
        """True when no guard tripped: the estimate may be shown as the answer."""
        return not self.guards

    @property
    def max_smd(self) -> float:
        values = self.balance["smd_after"].abs() if "smd_after" in self.balance else pd.Series(dtype=float)
        return float(values.max()) if len(values) else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (no NaN: missing numbers are None)."""
        return {
            "estimate": _finite(self.estimate), "se": _finite(self.se), "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high), "confidence": self.confidence,
            "estimand": self.estimand, "population": self.population, "headline": self.headline,
            "method": "aipw (cross-fitted, normalised weights)",
            "trim": {"rule": "crump", "low": self.trim[0], "high": self.trim[1]},
            "units": {"treated_kept": self.treated_kept, "control_kept": self.control_kept,
                      "treated_dropped": self.treated_dropped, "control_dropped": self.control_dropped},
            "ess": {"treated": _finite(self.ess_treated), "control": _finite(self.ess_control)},
            "max_smd_after": _finite(self.max_smd),
            "log_scaled": dict(self.logged), "propensity_model": self.propensity_model,
            "outcome_model": self.outcome_model, "folds": self.folds,
            "guards": [g.as_dict() for g in self.guards],
            "sensitivity": self.sensitivity.as_dict() if self.sensitivity else None,
            "refutations": [r.as_dict() for r in self.refutations],
            "notes": list(self.notes),
        }


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# Covariates
# --------------------------------------------------------------------------------------------


def log_scale_kind(values: FloatArray) -> str | None:
    """``"log"`` or ``"log1p"`` for a covariate with a long right tail (never negative, more than two
    values, sample skewness above SKEW_LIMIT), else ``None``."""
    if values.size < 3 or values.min() < 0 or np.unique(values).size <= 2:
        return None
    if not float(stats.skew(values)) > SKEW_LIMIT:
        return None
    return "log" if values.min() > 0 else "log1p"


def log_scaled(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` with each of ``columns`` that has a long right tail on a log scale, and which were."""
    out, logged = frame.copy(), {}
    for column in columns:
        values = out[column].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        kind = log_scale_kind(finite)
        if kind:
            out[column] = np.log(values) if kind == "log" else np.log1p(values)
            logged[column] = kind
    return out, logged


def prepare_covariates(X: Any, *, transform: bool = True) -> Prepared:
    """Numeric covariates as a standardised matrix, long right tails on a log scale.

    A column is log-scaled when it is never negative, takes more than two values and its sample
    skewness exceeds 1 (spend, ARR, seats, activity counts): ``ln(x)`` when every value is
    positive, else ``ln(1 + x)``. Columns are then centred and scaled to unit variance. Columns
    that take a single value are dropped (they cannot adjust anything). Text must be encoded as
    indicator columns before (see :func:`commetrics.metrics.impact`'s design matrix).
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=np.float64))
    frame = frame.rename(columns=str)
    non_numeric = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c])
                                                    or pd.api.types.is_bool_dtype(frame[c]))]
    if non_numeric:
        raise InputError(f"Covariates {non_numeric} are not numeric. Encode categories as indicator columns first.")
    array = frame.to_numpy(dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError("The adjustment needs at least one covariate.")
    if not np.all(np.isfinite(array)):
        bad = [frame.columns[j] for j in np.flatnonzero(~np.all(np.isfinite(array), axis=0))]
        raise InputError(f"Covariates {bad} have missing or infinite values. Drop or impute those rows first.")
    columns, names, logged = [], [], {}
    for j, name in enumerate(frame.columns):
        values = array[:, j]
        if np.ptp(values) == 0:
            continue
        kind = log_scale_kind(values) if transform else None
        if kind:
            values = np.log(values) if kind == "log" else np.log1p(values)
            logged[name] = kind
        columns.append(values)
        names.append(name)
    if not columns:
        raise InputError("Every covariate takes a single value, so none can adjust anything. Choose covariates "
                         "that differ between units.")
    matrix = np.column_stack(columns)
    sd = matrix.std(axis=0)
    return Prepared((matrix - matrix.mean(axis=0)) / np.where(sd > 0, sd, 1.0), names, logged)


# --------------------------------------------------------------------------------------------
# Nuisance models
# --------------------------------------------------------------------------------------------


def _logit_fit(Z: FloatArray, y: BoolArray, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=200, tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a penalised fit that stops early is still a usable prediction
        model.fit(Z, y.astype(np.int64))
    return model


def _choose_c(Z: FloatArray, y: BoolArray, seed: int) -> tuple[float, float]:
    """The penalty with the smallest cross-validated log-loss (3 folds, at most TUNING_ROWS rows), and that loss."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    rows = np.arange(len(y))
    if len(rows) > TUNING_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, TUNING_ROWS, replace=False))
    Zt, yt = Z[rows], y[rows]
    folds = min(3, int(yt.sum()), int((~yt).sum()))
    if folds < 2:
        return 1.0, math.inf
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(Zt, yt))
    losses = []
    for C in C_GRID:
        loss = 0.0
        for train, test in splits:
            if yt[train].all() or not yt[train].any():
                loss += math.inf
                continue
            p = _logit_fit(Zt[train], yt[train], C).predict_proba(Zt[test])[:, 1]
            loss += log_loss(yt[test], np.clip(p, CLIP, 1 - CLIP), labels=[0, 1]) * len(test)
        losses.append(loss / len(yt))
    best = int(np.argmin(losses))
    return float(C_GRID[best]), float(losses[best])


def expand(Z: FloatArray) -> FloatArray:
    """The covariates with their squares (for non-binary columns) and pairwise products, standardised."""
    columns = [Z]
    varied = [j for j in range(Z.shape[1]) if np.unique(Z[:, j]).size > 2]
    columns += [Z[:, [j]] ** 2 for j in varied]
    columns += [Z[:, [i]] * Z[:, [j]] for i in range(Z.shape[1]) for j in range(i + 1, Z.shape[1])]
    wide = np.hstack(columns)
    sd = wide.std(axis=0)
    keep = sd > 0
    out: FloatArray = (wide[:, keep] - wide[:, keep].mean(axis=0)) / sd[keep]
    return out


@dataclass(frozen=True)
class _Spec:
    """One way of entering the covariates into a model, with its tuned penalty and cross-validated loss."""

    name: str  # "linear" or "quadratic"
    penalty: float
    loss: float


def _specs(Z: FloatArray) -> dict[str, FloatArray]:
    """The designs a model may use: main effects, and (for up to MAX_EXPANDED columns) squares and products."""
    designs = {"linear": Z}
    if Z.shape[1] <= MAX_EXPANDED:
        designs["quadratic"] = expand(Z)
    return designs


def _choose_logit(designs: dict[str, FloatArray], y: BoolArray, seed: int) -> _Spec:
    """The design and penalty of a logistic model with the smallest cross-validated log-loss."""
    specs = [_Spec(name, *_choose_c(Z, y, seed)) for name, Z in designs.items()]
    return min(specs, key=lambda s: s.loss)


def _choose_ridge(designs: dict[str, FloatArray], y: FloatArray) -> _Spec:
    """The design and ridge strength with the smallest leave-one-out squared error."""
    from sklearn.linear_model import RidgeCV

    specs = []
    for name, Z in designs.items():
        fit = RidgeCV(alphas=ALPHA_GRID).fit(Z, y)
        specs.append(_Spec(name, float(fit.alpha_), -float(fit.best_score_)))
    return min(specs, key=lambda s: s.loss)


def _folds(t: BoolArray, folds: int, seed: int) -> list[tuple[BoolArray, IntArray]]:
    from sklearn.model_selection import StratifiedKFold

    n = t.size
    k = min(folds, int(t.sum()), int((~t).sum()))
    if k < 2:
        raise InputError(f"Cross-fitting needs at least 2 treated and 2 control units; found {int(t.sum())} and "
                         f"{int((~t).sum())}.")
    out = []
    for _, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), t):
        train = np.ones(n, dtype=np.bool_)
        train[test] = False
        out.append((train, test))
    return out


class _Outcome:
    """One outcome model per group — penalised logistic (0/1 outcome) or ridge — its design and penalty
    chosen once by cross-validation; a group whose outcome never varies is predicted by its mean."""

    def __init__(self, designs: dict[str, FloatArray], y: FloatArray, t: BoolArray, binary: bool, seed: int
                 ) -> None:
        self.binary = binary
        self.spec: dict[bool, _Spec | None] = {}
        for arm in (False, True):
            rows = t == arm
            chosen = {name: Z[rows] for name, Z in designs.items()}
            if binary:
                target = y[rows] == 1
                self.spec[arm] = _choose_logit(chosen, target, seed) if 0 < target.sum() < target.size else None
            else:
                self.spec[arm] = _choose_ridge(chosen, y[rows])

    def predict(self, designs: dict[str, FloatArray], y: FloatArray, t: BoolArray, train: BoolArray, arm: bool
                ) -> FloatArray:
        rows = train & (t == arm)
        spec = self.spec[arm]
        if rows.sum() == 0:
            return np.full(t.size, float(y[t == arm].mean()))
        target = y[rows]
        if spec is None or np.ptp(target) == 0:
            return np.full(t.size, float(target.mean()))  # everyone alike in this group: its rate
        Z = designs[spec.name]
        if self.binary:
            return np.asarray(_logit_fit(Z[rows], target == 1, spec.penalty).predict_proba(Z)[:, 1], dtype=np.float64)
        from sklearn.linear_model import Ridge

        return np.asarray(Ridge(alpha=spec.penalty).fit(Z[rows], target).predict(Z), dtype=np.float64)

    def describe(self) -> str:
        kind = "logistic" if self.binary else "ridge"
        parts = [f"{'treated' if arm else 'control'}: {spec.name}" for arm, spec in self.spec.items() if spec]
        return f"{kind}, penalised, one per group ({'; '.join(parts) or 'group rates'})"


@dataclass(frozen=True)
class _Nuisances:
    ps: FloatArray
    m0: FloatArray
    m1: FloatArray
    propensity: _Spec
    propensity_smd: float  # the largest |SMD| after weighting that the chosen model leaves
    outcome_model: str

    @property
    def propensity_model(self) -> str:
        return f"logistic, penalised (C = {self.propensity.penalty:g}), {self.propensity.name} terms"


def _weights_for(t: BoolArray, ps: FloatArray, estimand: Estimand) -> FloatArray:
    if estimand == "att":
        return np.where(t, 1.0, ps / (1 - ps))
    return np.where(t, 1 / ps, 1 / (1 - ps))


def _max_smd(Z: FloatArray, t: BoolArray, w: FloatArray) -> float:
    """The largest |standardised mean difference| of the columns of ``Z`` after weighting (unweighted pooled SD)."""
    treated, control = Z[t], Z[~t]
    if len(treated) < 2 or len(control) < 2:
        return math.inf
    wt, wc = w[t], w[~t]
    difference = (wt @ treated) / wt.sum() - (wc @ control) / wc.sum()
    pooled = np.sqrt((treated.var(axis=0, ddof=1) + control.var(axis=0, ddof=1)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, np.abs(difference) / np.where(pooled > 0, pooled, 1.0), 0.0)
    return float(smd.max()) if smd.size else 0.0


def _propensity(designs: dict[str, FloatArray], Z: FloatArray, t: BoolArray, splits: list[tuple[BoolArray, IntArray]],
                bounds_of: Any, estimand: Estimand, max_smd: float) -> tuple[FloatArray, _Spec, float]:
    """Cross-fitted propensities from the logistic model that balances the covariates and predicts best.

    Every design (main effects; squares and products) and penalty is fitted fold by fold. A model
    prediction-tuned alone shrinks the coefficients that remove confounding, and small samples then
    stay unbalanced, so the choice is: among the models whose weights leave every covariate of ``Z``
    within ``max_smd`` after trimming, the one with the smallest out-of-fold log-loss; if none does,
    the one that balances best.
    """
    from sklearn.metrics import log_loss

    candidates = []
    for name, design in designs.items():
        for C in C_GRID:
            ps = np.empty(t.size)
            for train, test in splits:
                ps[test] = _logit_fit(design[train], t[train], C).predict_proba(design[test])[:, 1]
            ps = np.clip(ps, CLIP, 1 - CLIP)
            lo, hi = bounds_of(ps)
            keep = (ps >= lo) & (ps <= hi)
            imbalance = _max_smd(Z[keep], t[keep], _weights_for(t[keep], ps[keep], estimand))
            loss = float(log_loss(t, ps, labels=[0, 1]))
            candidates.append((imbalance > max_smd, loss if imbalance <= max_smd else imbalance, name, C, ps,
                               imbalance, loss))
    best = min(candidates, key=lambda c: (c[0], c[1], -c[3]))
    return best[4], _Spec(best[2], best[3], best[6]), best[5]


def _nuisances(Z: FloatArray, y: FloatArray, t: BoolArray, binary: bool, folds: int, seed: int, *, bounds_of: Any,
               estimand: Estimand, max_smd: float) -> _Nuisances:
    """Cross-fitted propensities and predicted outcomes under control and treatment for every unit."""
    designs = _specs(Z)
    splits = _folds(t, folds, seed)
    ps, propensity, imbalance = _propensity(designs, Z, t, splits, bounds_of, estimand, max_smd)
    outcome = _Outcome(designs, y, t, binary, seed)
    m0, m1 = np.empty(t.size), np.empty(t.size)
    for train, test in splits:
        m0[test] = outcome.predict(designs, y, t, train, False)[test]
        m1[test] = outcome.predict(designs, y, t, train, True)[test]
    return _Nuisances(ps, m0, m1, propensity, imbalance, outcome.describe())


# --------------------------------------------------------------------------------------------
# Overlap
# --------------------------------------------------------------------------------------------


def crump_bounds(ps: Any, estimand: Estimand = "ate") -> tuple[float, float]:
    """The propensity range ``[α, 1 − α]`` of Crump, Hotz, Imbens & Mitnik (2009).

    With ``g = 1 / (e (1 − e))``: no trimming (``α = 0``) when ``max g ≤ 2 mean g``; else ``α`` solves
    ``1 / (α (1 − α)) = 2 E[g | g ≤ 1 / (α (1 − α))]``, which minimises the variance of the
    average effect over the kept population (usually about 0.1). For the ATT only the upper limit
    applies (returned as ``(0, 1 − α)``): controls unlike any treated unit carry no weight anyway.
    """
    e = np.clip(causal._vector("ps", ps), CLIP, 1 - CLIP)
    g = 1 / (e * (1 - e))
    alpha = 0.0
    if g.max() > 2 * g.mean():
        ordered = np.sort(g)
        running = np.cumsum(ordered) / np.arange(1, ordered.size + 1)
        # the smallest gamma with gamma >= 2 * mean(g | g <= gamma), searched over the observed values
        hits = np.flatnonzero(ordered >= 2 * running)
        gamma = float(ordered[hits[0]]) if hits.size else float(ordered[-1])
        alpha = 0.5 - math.sqrt(max(0.25 - 1 / gamma, 0.0))
    return (0.0, 1 - alpha) if estimand == "att" else (alpha, 1 - alpha)


def _bounds_rule(trim: Literal["crump"] | tuple[float, float] | None, estimand: Estimand
                 ) -> Callable[[FloatArray], tuple[float, float]]:
    """The propensity range to keep, as a function of the propensities (Crump's rule depends on them)."""
    if trim == "crump":
        return lambda p: crump_bounds(p, estimand)
    if trim is None:
        return lambda p: (0.0, 1.0)
    lo, hi = trim
    if not 0 <= lo < hi <= 1:
        raise InputError(f"trim must be 'crump', None or (low, high) with 0 <= low < high <= 1, got {trim}.")
    return lambda p: (float(lo), float(hi))


# --------------------------------------------------------------------------------------------
# The estimate
# --------------------------------------------------------------------------------------------


def _dr(y: FloatArray, t: BoolArray, ps: FloatArray, m0: FloatArray, m1: FloatArray, estimand: Estimand
        ) -> tuple[float, FloatArray, FloatArray]:
    """The doubly robust contrast with normalised weights, its influence function and the weights."""
    a = t.astype(np.float64)
    if estimand == "att":
        w = np.where(t, 1.0, ps / (1 - ps))
        p = a.mean()
        q = float(((1 - a) * w).mean())
        r = y - m0
        mu1 = float((a * r).sum() / a.sum())
        mu0 = float(((1 - a) * w * r).sum() / ((1 - a) * w).sum())
        influence = a * (r - mu1) / p - (1 - a) * w * (r - mu0) / q
        return mu1 - mu0, influence, w
    w = np.where(t, 1 / ps, 1 / (1 - ps))
    q1, q0 = float((a * w).mean()), float(((1 - a) * w).mean())
    c1 = float((a * w * (y - m1)).sum() / (a * w).sum())
    c0 = float(((1 - a) * w * (y - m0)).sum() / ((1 - a) * w).sum())
    estimate = float((m1 - m0).mean()) + c1 - c0
    influence = (m1 - m0 - (m1 - m0).mean()) + a * w * (y - m1 - c1) / q1 - (1 - a) * w * (y - m0 - c0) / q0
    return estimate, influence, w


def robustness_value(y: Any, treated: Any, ps: Any, m0: Any, m1: Any, estimate: float, influence: Any, *,
                     estimand: Estimand = "att", level: float = 0.95) -> tuple[float, float, float]:
    """``(rv, rva, max_bias)``: DoubleML's robustness values for an IRM score (ATE or ATTE).

    ``σ² = mean((y − g(D, X))²)`` with ``g = D m1 + (1 − D) m0``; ``ν² = mean(2 m(W, α) − α²)`` with the
    Riesz representer ``α``; the bias of a confounder of strengths ``cf_y = cf_d = r`` is at most
    ``r / √(1 − r) · √(σ² ν²)``. ``rv`` solves that bias = |estimate|; ``rva`` makes the one-sided
    ``level`` bound (with the influence functions of σ² and ν² added, as DoubleML does) reach 0.
    ``influence`` is the estimate's influence function (its variance / n is the squared SE).
    """
    d = causal._vector("treated", treated)
    yy, e, g0, g1 = (causal._vector(k, v) for k, v in (("y", y), ("ps", ps), ("m0", m0), ("m1", m1)))
    psi = causal._vector("influence", influence)
    n = yy.size
    sigma_element = (yy - d * g1 - (1 - d) * g0) ** 2
    if estimand == "att":
        p = d.mean()
        weights, weights_bar = d / p, e / p
    else:
        weights = weights_bar = np.ones(n)
    m_alpha = weights * weights_bar * (1 / e + 1 / (1 - e))
    rr = weights_bar * (d / e - (1 - d) / (1 - e))
    nu_element = 2 * m_alpha - rr**2
    sigma2, nu2 = float(sigma_element.mean()), float(nu_element.mean())
    if not (sigma2 > 0 and nu2 > 0):
        return math.nan, math.nan, math.nan
    max_bias = math.sqrt(sigma2 * nu2)
    psi_max_bias = (sigma2 * (nu_element - nu2) + nu2 * (sigma_element - sigma2)) / (2 * max_bias)
    z = float(stats.norm.ppf(level))
    sign = 1.0 if estimate >= 0 else -1.0

    def bound(r: float, with_interval: bool) -> float:
        strength = math.sqrt(r * r / (1 - r))
        value = sign * estimate - strength * max_bias
        if with_interval:
            shifted = sign * psi - strength * psi_max_bias
            value -= z * math.sqrt(float(np.mean(shifted**2)) / n)
        return value

    def solve(with_interval: bool) -> float:
        if bound(0.0, with_interval) <= 0:
            return 0.0
        if bound(0.9999, with_interval) > 0:
            return 1.0
        from scipy.optimize import brentq

        return float(brentq(lambda r: bound(r, with_interval), 0.0, 0.9999, xtol=1e-10))

    return solve(False), solve(True), max_bias


def _sensitivity_sentence(rv: float, rva: float, treatment: str, outcome: str) -> str:
    if rv == 0:
        return "The adjusted difference is 0, so there is nothing for an unmeasured factor to explain away."
    text = (f"To bring the adjusted difference to zero, an unmeasured factor would have to explain at least "
            f"{100 * rv:.1f}% of what the covariates leave unexplained of both {outcome} and {treatment} "
            f"(robustness value)")
    if rva == 0:
        return text + "; the interval already includes zero."
    return text + f"; {100 * rva:.1f}% would make it indistinguishable from zero."


# --------------------------------------------------------------------------------------------
# The guards
# --------------------------------------------------------------------------------------------


def _guards(estimate: float, low: float, high: float, span: float | None, max_smd: float, ess_t: float,
            ess_c: float, *, max_smd_limit: float, min_ess: float, weighted_treated: bool = True
            ) -> tuple[Guard, ...]:
    """The guards that trip. The effective-sample-size floor applies to the weighted groups: both for the
    ATE, the comparison group only for the ATT (the treated units all weigh 1, so theirs is their count)."""
    out = []
    if span is not None and not (-span <= estimate <= span):
        out.append(Guard("range", estimate, span,
                         f"The adjusted difference ({estimate:+.3g}) lies outside the possible range (±{span:g}): "
                         "the model extrapolates far beyond the data.",
                         "Use fewer or log-scaled covariates, restrict to comparable units, or ask for the other "
                         "estimand."))
    elif span is not None and (low < -span or high > span):
        out.append(Guard("interval", high - low, 2 * span,
                         f"The interval ({low:+.3g} to {high:+.3g}) reaches beyond the possible range (±{span:g}): "
                         "the data cannot pin the difference down.",
                         "Add data (a longer period, more units) or use fewer covariates."))
    if max_smd > max_smd_limit:
        out.append(Guard("balance", max_smd, max_smd_limit,
                         f"After weighting, a covariate still differs between the groups by {max_smd:.2f} standard "
                         f"deviations (target below {max_smd_limit:g}): the groups were not made comparable.",
                         "Use fewer covariates or transform the skewed ones, restrict to a segment where both groups "
                         "occur, or add data."))
    smaller = min(ess_t, ess_c) if weighted_treated else ess_c
    if smaller < min_ess:
        which = "treated" if weighted_treated and ess_t < ess_c else "comparison"
        out.append(Guard("ess", smaller, min_ess,
                         f"The weights leave the {which} group worth only {smaller:.1f} equally weighted units "
                         f"(at least {min_ess:g} needed): a few units decide the answer.",
                         "Add data, use fewer covariates, or compare within a segment where both groups are common."))
    return tuple(out)


@dataclass(frozen=True)
class Labels:
    """Words for the sentences: the unit (plural), the two groups, what was compared and on what."""

    unit: str = "units"
    treated: str = "treated"
    control: str = "untreated"
    treatment: str = "the treatment"
    outcome: str = "the outcome"


def _population(estimand: Estimand, trim: tuple[float, float], kept_t: int, kept_c: int, dropped_t: int,
                dropped_c: int, words: Labels) -> str:
    if estimand == "att":
        text = (f"the {kept_t:,} {words.treated} {words.unit}, compared with what they would have done had they not "
                f"been {words.treated}")
        if dropped_t:
            text += (f"; {dropped_t:,} more {words.treated} {words.unit} were set aside because none of the "
                     f"{words.control} {words.unit} resembled them (propensity above {trim[1]:.2f})")
        return text
    text = (f"all {kept_t + kept_c:,} {words.unit}, {words.treated} or not: the difference if every one were "
            f"{words.treated} rather than {words.control}")
    if dropped_t or dropped_c:
        text += (f"; {dropped_t + dropped_c:,} {words.unit} without a comparable counterpart (propensity outside "
                 f"{trim[0]:.2f}–{trim[1]:.2f}) were set aside")
    return text


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def adjusted_difference(
    y: Any,
    treated: Any,
    X: Any,
    *,
    estimand: Estimand = "att",
    binary: bool | None = None,
    outcome_range: tuple[float, float] | None = None,
    trim: Literal["crump"] | tuple[float, float] | None = "crump",
    folds: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
    max_smd: float = 0.1,
    min_ess: float = 30.0,
    refute: bool = False,
    labels: Labels | None = None,
    transform: bool = True,
) -> AdjustedEstimate:
    """The adjusted difference in mean outcome, treated minus control, with its guards.

    Parameters
    ----------
    y, treated, X
        Outcome (0/1 or a number), 0/1 treatment and covariates (a numeric frame; text encoded as
        indicator columns), one row per unit.
    estimand
        ``"att"`` (default): the units that were treated, against what they would have done
        without. ``"ate"``: all units.
    binary
        Whether ``y`` is 0/1 (default: detected). A 0/1 outcome gets logistic outcome models and
        the range guards (a difference of rates lies within ±1).
    outcome_range
        ``(low, high)`` of another bounded outcome (e.g. −1 to 1 for an NPS answer scored as
        detractor, passive, promoter): the range guards then use ``±(high − low)``.
    trim
        ``"crump"`` (default), ``None`` (keep every unit) or a ``(low, high)`` propensity range.
    folds, seed
        Cross-fitting folds and the seed of their split.
    max_smd, min_ess
        Guard thresholds: the largest |standardised mean difference| after weighting, and the
        smallest Kish effective sample size of either group.
    refute
        Also run the refutations (placebo treatment, random common cause, data subsets).
    labels
        Words for ``population`` and the sensitivity sentence.
    """
    words = labels or Labels()
    a = causal._treated(treated)
    outcome = causal._vector("y", y)
    prepared = prepare_covariates(X, transform=transform)
    causal._same_length(y=outcome, treated=a, X=prepared.matrix)
    causal._check_groups(a)
    if estimand not in ("att", "ate"):
        raise InputError(f"estimand must be 'att' or 'ate', got {estimand!r}.")
    is_binary = bool(np.all((outcome == 0) | (outcome == 1))) if binary is None else binary
    if is_binary and not np.all((outcome == 0) | (outcome == 1)):
        raise InputError("binary=True needs a 0/1 outcome.")
    z = causal._z(confidence)
    bounds_of = _bounds_rule(trim, estimand)
    nuisances = _nuisances(prepared.matrix, outcome, a, is_binary, folds, seed, bounds_of=bounds_of,
                           estimand=estimand, max_smd=max_smd)
    ps = nuisances.ps
    bounds = bounds_of(ps)
    keep = (ps >= bounds[0]) & (ps <= bounds[1])
    kept_t, kept_c = int((keep & a).sum()), int((keep & ~a).sum())
    dropped_t, dropped_c = int((~keep & a).sum()), int((~keep & ~a).sum())
    notes: list[str] = []
    if prepared.logged:
        notes.append("Put on a log scale because of their long right tail: " + ", ".join(prepared.logged) + ".")
    auc = causal.overlap(ps, a).auc
    if kept_t < causal.MIN_PER_GROUP or kept_c < causal.MIN_PER_GROUP or auc >= SEPARATION_AUC:
        what = (f"the propensity ranks nearly every treated unit above every comparison unit (AUC {auc:.3f}), so "
                "hardly any unit has a comparable counterpart" if auc >= SEPARATION_AUC else
                "after setting aside the units without a comparable counterpart, one group is (nearly) empty")
        guard = Guard("overlap", float(min(kept_t, kept_c)), float(causal.MIN_PER_GROUP),
                      f"The covariates separate the groups: {what}.",
                      "Restrict the analysis to comparable units (e.g. one segment) or drop the covariate that "
                      "decides who is treated.")
        return _empty(estimand, bounds, prepared, nuisances, a, keep, guard, confidence, folds, words, notes)
    yk, ak, pk, m0, m1 = outcome[keep], a[keep], ps[keep], nuisances.m0[keep], nuisances.m1[keep]
    estimate, influence, weights = _dr(yk, ak, pk, m0, m1, estimand)
    se = float(np.sqrt(np.var(influence, ddof=1) / yk.size))
    low, high = estimate - z * se, estimate + z * se
    ess_t, ess_c = causal.ess(weights[ak]), causal.ess(weights[~ak])
    balance = causal.balance(pd.DataFrame(prepared.matrix[keep], columns=prepared.names), ak, weights)
    balance = balance.rename_axis("covariate").reset_index()
    worst = float(balance["smd_after"].abs().max()) if len(balance) else 0.0
    span = 1.0 if is_binary else (outcome_range[1] - outcome_range[0] if outcome_range else None)
    guards = _guards(estimate, low, high, span, worst, ess_t, ess_c, max_smd_limit=max_smd, min_ess=min_ess,
                     weighted_treated=estimand == "ate")
    ipw = causal.ipw(yk, ak, pk, estimand=estimand, confidence=confidence)
    try:
        pairs = causal.match_nearest(np.log(pk / (1 - pk)), ak)
        matched = causal.matched_estimate(yk, ak, pairs, confidence=confidence) if len(pairs) >= 2 else None
    except InputError:
        matched = None
    rv, rva, max_bias = robustness_value(yk, ak, pk, m0, m1, estimate, influence, estimand=estimand)
    sensitivity = (Sensitivity(rv, rva, max_bias, _sensitivity_sentence(rv, rva, words.treatment, words.outcome))
                   if math.isfinite(rv) else None)
    if dropped_t and estimand == "att":
        share = dropped_t / (dropped_t + kept_t)
        if share > 0.25:
            notes.append(f"{share:.0%} of the treated units were set aside for lack of comparable controls: the "
                         "answer describes the rest only.")
    result = AdjustedEstimate(
        estimate=estimate, se=se, ci_low=low, ci_high=high, estimand=estimand,
        population=_population(estimand, bounds, kept_t, kept_c, dropped_t, dropped_c, words), trim=bounds,
        treated_kept=kept_t, control_kept=kept_c, treated_dropped=dropped_t, control_dropped=dropped_c,
        ess_treated=ess_t, ess_control=ess_c, ipw=ipw, matched=matched, balance=balance,
        overlap=causal.overlap(ps, a), logged=prepared.logged, propensity_model=nuisances.propensity_model,
        outcome_model=nuisances.outcome_model, guards=guards, sensitivity=sensitivity, notes=tuple(notes),
        confidence=confidence, folds=folds, kept=keep, ps=ps)
    if refute:
        options: dict[str, Any] = {"estimand": estimand, "binary": is_binary, "outcome_range": outcome_range,
                                   "trim": trim, "folds": folds, "confidence": confidence, "max_smd": max_smd,
                                   "min_ess": min_ess, "transform": transform, "labels": words}
        result = replace(result, refutations=refutations(outcome, a, X, result, seed=seed, **options))
    return result


def _empty(estimand: Estimand, bounds: tuple[float, float], prepared: Prepared, nuisances: _Nuisances,
           a: BoolArray, keep: BoolArray, guard: Guard, confidence: float, folds: int, words: Labels,
           notes: list[str]) -> AdjustedEstimate:
    nothing = causal.Estimate(math.nan, math.nan, math.nan, math.nan, 0, int((~keep).sum()), 0.0, 0.0, "ipw-hajek",
                              estimand)
    kept_t, kept_c = int((keep & a).sum()), int((keep & ~a).sum())
    return AdjustedEstimate(
        estimate=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan, estimand=estimand,
        population=_population(estimand, bounds, kept_t, kept_c, int((~keep & a).sum()), int((~keep & ~a).sum()),
                               words),
        trim=bounds, treated_kept=kept_t, control_kept=kept_c, treated_dropped=int((~keep & a).sum()),
        control_dropped=int((~keep & ~a).sum()), ess_treated=0.0, ess_control=0.0, ipw=nothing, matched=None,
        balance=pd.DataFrame({"covariate": prepared.names}), overlap=causal.overlap(nuisances.ps, a),
        logged=prepared.logged, propensity_model=nuisances.propensity_model, outcome_model=nuisances.outcome_model,
        guards=(guard,), sensitivity=None, notes=tuple(notes), confidence=confidence, folds=folds, kept=keep,
        ps=nuisances.ps)


# --------------------------------------------------------------------------------------------
# Refutations
# --------------------------------------------------------------------------------------------


def refutations(y: FloatArray, treated: BoolArray, X: Any, original: AdjustedEstimate, *, seed: int = 0,
                subsets: int = 5, subset_share: float = 0.8, **options: Any) -> tuple[Refutation, ...]:
    """Run the estimate again on altered data (the checks DoWhy popularised); a sound estimate passes all three.

    * **placebo treatment**: the treatment shuffled at random, so it can have no effect — the new
      estimate should lie within 2.58 of its standard errors of 0 (a 99% interval);
    * **random common cause**: an independent random covariate added, which confounds nothing — the
      estimate should move by less than one of the original's standard errors;
    * **data subset**: re-estimated on ``subsets`` random subsets of ``subset_share`` of the units.
      Without replacement, a subset's estimate differs from the whole's with an SD of about
      ``SE · √((1 − f) / f)`` (half an SE at 80%); every subset should stay within 3.5 such SDs.
      Larger moves mean the answer hangs on a few units or on a knife-edge choice of the models.
    """
    rng = np.random.default_rng(seed + 1)
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=np.float64))
    frame = frame.reset_index(drop=True)
    out = []
    placebo = adjusted_difference(y, rng.permutation(treated.astype(int)), frame, seed=seed, **options)
    passed = bool(math.isfinite(placebo.estimate) and abs(placebo.estimate) <= 2.576 * placebo.se)
    out.append(Refutation("placebo_treatment", placebo.estimate, 0.0, passed,
                          f"With the treatment shuffled at random the adjusted difference is {placebo.estimate:+.3g}"
                          + (", near 0 as it should be." if passed else
                             ", not near 0: the method finds a difference where there can be none.")))
    noisy = frame.assign(random_common_cause=rng.normal(size=len(frame)))
    common = adjusted_difference(y, treated.astype(int), noisy, seed=seed, **options)
    moved = abs(common.estimate - original.estimate)
    passed = bool(moved <= original.se)
    out.append(Refutation("random_common_cause", common.estimate, original.estimate, passed,
                          f"With a random covariate added the estimate is {common.estimate:+.3g}"
                          + (", unchanged within one standard error as it should be." if passed else
                             f": it moved by {moved:.3g}, more than one standard error, so it is fragile.")))
    estimates = []
    n = len(y)
    for _ in range(subsets):
        rows = np.sort(rng.choice(n, round(subset_share * n), replace=False))
        try:
            part = adjusted_difference(y[rows], treated[rows].astype(int), frame.iloc[rows], seed=seed, **options)
        except InputError:
            continue
        if math.isfinite(part.estimate):
            estimates.append(part.estimate)
    mean = float(np.mean(estimates)) if estimates else math.nan
    spread = float(np.max(np.abs(np.asarray(estimates) - original.estimate))) if estimates else math.nan
    allowed = 3.5 * original.se * math.sqrt((1 - subset_share) / subset_share)
    passed = bool(estimates) and spread <= allowed
    out.append(Refutation("data_subset", mean, original.estimate, passed,
                          f"On {len(estimates)} random subsets of {subset_share:.0%} of the units the estimate "
                          f"averages {mean:+.3g}" + (", stable as it should be." if passed else
                                            f" and moves by up to {spread:.3g} (more than {allowed:.3g}): it hangs "
                                            "on a few units.")))
    return tuple(out)
