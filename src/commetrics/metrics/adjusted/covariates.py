"""Covariates a model can use: long right tails on a log scale, standardised, optionally expanded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputError
from .records import FloatArray, Prepared

__all__ = ["MAX_EXPANDED", "SKEW_LIMIT", "expand", "log_scale_kind", "log_scaled", "prepare_covariates"]

#: A covariate with a longer right tail than this (sample skewness) goes on a log scale.
SKEW_LIMIT = 1.0
#: Up to this many covariate columns, the models may also use their squares and pairwise products.
MAX_EXPANDED = 12


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
