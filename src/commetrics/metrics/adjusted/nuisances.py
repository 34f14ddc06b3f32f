"""The nuisance models, cross-fitted: the propensity (chosen to balance, then to predict) and one outcome model
per group (chosen to predict)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from .covariates import MAX_EXPANDED, expand
from .records import BoolArray, Estimand, FloatArray, IntArray

__all__ = ["CLIP", "Nuisances", "nuisances"]

#: Penalties tried for the logistic models (inverse strength C on standardised covariates).
C_GRID = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e4)
#: Ridge strengths tried for a continuous outcome.
ALPHA_GRID = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3)
#: At most this many rows choose a penalty and the propensity model (the choice is stable long before; the chosen
#: models are fitted on all rows).
TUNING_ROWS = 50_000
#: Propensities are kept this far inside (0, 1) so that no weight is infinite.
CLIP = 1e-6


@dataclass(frozen=True)
class _Logit:
    """A fitted logistic model: intercept and coefficients."""

    intercept: float
    coef: FloatArray

    def predict_proba(self, Z: FloatArray) -> FloatArray:
        """``[1 - p, p]`` per row, as scikit-learn's ``predict_proba``."""
        from scipy.special import expit

        p = expit(self.intercept + Z @ self.coef)
        return np.column_stack([1.0 - p, p])


def _logit_fit(Z: FloatArray, y: BoolArray, C: float, *, tol: float = 1e-8, max_iter: int = 200) -> _Logit:
    """The L2-penalised logistic regression of scikit-learn's ``LogisticRegression(C=C, solver="newton-cholesky",
    tol=1e-8)``: minimises ``C * sum(log-loss) + |w|^2 / 2`` with the intercept unpenalised, by Newton steps with a
    backtracking line search until the largest gradient component of the loss per row and ``C`` is below ``tol``.

    Written out because the comparisons fit 80 to 170 such models on a few hundred rows each, where
    scikit-learn's checks of its input take five times as long as the fit itself; ``tests/test_adjusted.py``
    compares the two on data of every kind (the coefficients agree to 1e-6). A model that stops at ``max_iter``
    is still a usable prediction, as a penalised fit that stops early is."""
    from scipy.special import expit

    target = y.astype(np.float64)
    if target.min() == target.max():
        raise ValueError("A logistic model needs rows of both outcomes.")
    rows, columns = Z.shape
    design = np.column_stack([np.ones(rows), Z])
    penalty = np.ones(columns + 1)
    penalty[0] = 0.0  # the intercept is not penalised

    def objective(theta: FloatArray) -> float:
        z = design @ theta
        return float(C * np.sum(np.logaddexp(0.0, z) - target * z) + 0.5 * np.sum(penalty * theta * theta))

    theta = np.zeros(columns + 1)
    value = objective(theta)
    for _ in range(max_iter):
        p = expit(design @ theta)
        gradient = C * (design.T @ (p - target)) + penalty * theta
        if np.max(np.abs(gradient)) <= tol * C * rows:
            break
        hessian = C * (design.T * (p * (1.0 - p))) @ design + np.diag(penalty)
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        size, decrease = 1.0, float(gradient @ step)
        while True:
            moved = theta - size * step
            new = objective(moved)
            if new <= value - 1e-4 * size * decrease or size < 1e-10:
                break
            size /= 2
        if new >= value:  # no step lowers it any more: as close as floating point gets
            break
        theta, value = moved, new
    return _Logit(float(theta[0]), theta[1:])


def _log_loss(y: BoolArray, p: FloatArray) -> float:
    """The mean log-loss of probabilities ``p`` (already kept inside (0, 1)) for outcomes ``y``."""
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def _choose_c(Z: FloatArray, y: BoolArray, seed: int) -> tuple[float, float]:
    """The penalty with the smallest cross-validated log-loss (3 folds, at most TUNING_ROWS rows), and that loss."""
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
            loss += _log_loss(yt[test], np.clip(p, CLIP, 1 - CLIP)) * len(test)
        losses.append(loss / len(yt))
    best = int(np.argmin(losses))
    return float(C_GRID[best]), float(losses[best])


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
class Nuisances:
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


def _candidate(design: FloatArray, Z: FloatArray, t: BoolArray, splits: list[tuple[BoolArray, IntArray]], C: float,
               bounds_of: Any, estimand: Estimand) -> tuple[FloatArray, float, float]:
    """One propensity model cross-fitted over ``splits``: its clipped propensities, the largest |SMD| its weights
    leave after trimming, and its out-of-fold log-loss."""
    ps = np.empty(t.size)
    for train, test in splits:
        ps[test] = _logit_fit(design[train], t[train], C).predict_proba(design[test])[:, 1]
    ps = np.clip(ps, CLIP, 1 - CLIP)
    lo, hi = bounds_of(ps)
    keep = (ps >= lo) & (ps <= hi)
    imbalance = _max_smd(Z[keep], t[keep], _weights_for(t[keep], ps[keep], estimand))
    return ps, imbalance, _log_loss(t, ps)


def _propensity(designs: dict[str, FloatArray], Z: FloatArray, t: BoolArray, splits: list[tuple[BoolArray, IntArray]],
                bounds_of: Any, estimand: Estimand, max_smd: float, seed: int = 0
                ) -> tuple[FloatArray, _Spec, float]:
    """Cross-fitted propensities from the logistic model that balances the covariates and predicts best.

    Every design (main effects; squares and products) and penalty is fitted fold by fold. A model
    prediction-tuned alone shrinks the coefficients that remove confounding, and small samples then
    stay unbalanced, so the choice is: among the models whose weights leave every covariate of ``Z``
    within ``max_smd`` after trimming, the one with the smallest out-of-fold log-loss; if none does,
    the one that balances best.

    Like the outcome models' penalties, the choice is made on at most :data:`TUNING_ROWS` units (a
    random subset, the seed's, split into folds of its own): with more, only the chosen model is then
    cross-fitted on every unit, and its balance and loss are those of all units. Up to that many units
    nothing changes; beyond, the 14 candidates no longer each cost five fits over every unit (the NPS
    comparison of a million-member community has 140,000).
    """
    rows = np.arange(t.size)
    tuning = splits
    if t.size > TUNING_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, TUNING_ROWS, replace=False))
        tuning = _folds(t[rows], len(splits), seed)
    candidates = []
    for name, design in designs.items():
        for C in C_GRID:
            ps, imbalance, loss = _candidate(design[rows], Z[rows], t[rows], tuning, C, bounds_of, estimand)
            candidates.append((imbalance > max_smd, loss if imbalance <= max_smd else imbalance, name, C, ps,
                               imbalance, loss))
    best = min(candidates, key=lambda c: (c[0], c[1], -c[3]))
    if rows.size == t.size:
        return best[4], _Spec(best[2], best[3], best[6]), best[5]
    ps, imbalance, loss = _candidate(designs[best[2]], Z, t, splits, best[3], bounds_of, estimand)
    return ps, _Spec(best[2], best[3], loss), imbalance


def nuisances(Z: FloatArray, y: FloatArray, t: BoolArray, binary: bool, folds: int, seed: int, *, bounds_of: Any,
               estimand: Estimand, max_smd: float) -> Nuisances:
    """Cross-fitted propensities and predicted outcomes under control and treatment for every unit."""
    designs = _specs(Z)
    splits = _folds(t, folds, seed)
    ps, propensity, imbalance = _propensity(designs, Z, t, splits, bounds_of, estimand, max_smd, seed)
    outcome = _Outcome(designs, y, t, binary, seed)
    m0, m1 = np.empty(t.size), np.empty(t.size)
    for train, test in splits:
        m0[test] = outcome.predict(designs, y, t, train, False)[test]
        m1[test] = outcome.predict(designs, y, t, train, True)[test]
    return Nuisances(ps, m0, m1, propensity, imbalance, outcome.describe())
