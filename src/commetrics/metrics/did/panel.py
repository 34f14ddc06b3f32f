"""The long panel both estimators of :mod:`commetrics.metrics.did` take: its columns, checks and encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ...errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Columns every panel needs.
COLUMNS = ("unit", "period", "y", "first_treated")


@dataclass(frozen=True)
class _Panel:
    unit: IntArray  # unit code of each row, 0..n_units-1
    period: IntArray  # period code of each row, 0..n_periods-1
    y: FloatArray
    periods: IntArray  # the distinct period values, increasing
    first_treated: FloatArray  # per unit code; NaN for never-treated

    @property
    def n_units(self) -> int:
        return len(self.first_treated)

    @property
    def n_periods(self) -> int:
        return len(self.periods)


def _integer_column(panel: pd.DataFrame, name: str, *, allow_missing: bool) -> FloatArray:
    column = panel[name]
    present_values = column.dropna()
    if len(present_values) and (pd.api.types.is_bool_dtype(column)
                                or not pd.api.types.is_numeric_dtype(present_values.infer_objects())):
        msg = (f"Column {name!r} must hold integer period indexes (e.g. months since an epoch, "
               f"year * 12 + month), found {column.dtype} values such as {present_values.iloc[0]!r}. "
               "Convert dates to period numbers first.")
        raise InputError(msg)
    values: FloatArray = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    if not allow_missing and not present.all():
        msg = f"Column {name!r} has {int((~present).sum())} missing values. Drop those rows first."
        raise InputError(msg)
    if np.any(np.isinf(values)) or np.any(values[present] != np.round(values[present])):
        msg = f"Column {name!r} must hold whole period numbers; found fractions or infinities. Round or recode it."
        raise InputError(msg)
    return values


def _panel(panel: Any) -> _Panel:
    """Check the long panel and encode units and periods as integer codes."""
    if not isinstance(panel, pd.DataFrame):
        msg = f"panel must be a pandas DataFrame with columns {list(COLUMNS)}, got {type(panel).__name__}."
        raise InputError(msg)
    missing = [c for c in COLUMNS if c not in panel.columns]
    if missing:
        msg = (f"The panel lacks columns {missing}; it needs {list(COLUMNS)} (one row per unit and period). "
               "Rename the columns, e.g. panel.rename(columns={...}).")
        raise InputError(msg)
    if panel.empty:
        msg = "The panel has no rows. Check the date range and the filters that built it."
        raise InputError(msg)
    if panel["unit"].isna().any():
        msg = f"Column 'unit' has {int(panel['unit'].isna().sum())} missing ids. Drop those rows first."
        raise InputError(msg)
    y_column = panel["y"]
    if not pd.api.types.is_numeric_dtype(y_column):
        msg = (f"Column 'y' must be numeric, found {y_column.dtype} values such as {y_column.iloc[0]!r}. "
               "Convert it with pd.to_numeric (or encode a yes/no outcome as 0/1).")
        raise InputError(msg)
    y = y_column.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(y)):
        msg = (f"Column 'y' has {int((~np.isfinite(y)).sum())} missing or infinite values. Drop those rows "
               "(units may miss periods) or impute them first.")
        raise InputError(msg)
    period_values = _integer_column(panel, "period", allow_missing=False)
    first_treated_rows = _integer_column(panel, "first_treated", allow_missing=True)

    unit, _ = pd.factorize(panel["unit"], sort=False)
    periods, period = np.unique(period_values.astype(np.int64), return_inverse=True)
    unit = unit.astype(np.int64)
    keys = pd.Series(unit * len(periods) + period)
    duplicated = keys.duplicated()
    if duplicated.any():
        example = panel.loc[duplicated.to_numpy(), ["unit", "period"]].iloc[0]
        msg = (f"{int(duplicated.sum())} rows repeat a (unit, period) pair, e.g. unit {example['unit']!r} in period "
               f"{example['period']!r}. Aggregate to one row per unit and period first.")
        raise InputError(msg)

    n_units = int(unit.max()) + 1
    first_row = np.full(n_units, -1, dtype=np.int64)
    first_row[unit[::-1]] = np.arange(len(unit))[::-1]  # the first row of each unit
    first_treated = first_treated_rows[first_row]
    per_row = first_treated[unit]
    same = (per_row == first_treated_rows) | (np.isnan(per_row) & np.isnan(first_treated_rows))
    if not same.all():
        example = panel["unit"].iloc[int(np.flatnonzero(~same)[0])]
        msg = (f"first_treated differs between rows of the same unit (e.g. unit {example!r}). It is the period "
               "the unit's campaign started and must be the same on all of its rows.")
        raise InputError(msg)
    return _Panel(unit=unit, period=period.astype(np.int64), y=y, periods=periods.astype(np.int64),
                  first_treated=first_treated)


def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence}. Use e.g. 0.95."
        raise InputError(msg)
    return confidence
