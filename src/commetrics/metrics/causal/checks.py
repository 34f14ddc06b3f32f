"""Array types, size limits and input checks shared by the estimators of :mod:`commetrics.metrics.causal`.

Every estimator checks its inputs here, so that bad input becomes an :class:`~commetrics.errors.InputError`
that says how to fix it; logistic models (propensity and outcome) are fitted through :func:`_fit_logit`.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ...errors import InputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Estimand = Literal["ate", "att"]

#: Fewer rows than this are refused: no interval from them would mean anything.
MIN_ROWS = 10
#: Each group needs at least this many units (a variance needs two).
MIN_PER_GROUP = 2


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
