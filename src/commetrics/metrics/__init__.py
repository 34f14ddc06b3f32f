"""Metrics computed from the canonical tables (as Ibis expressions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def fetch(expr: Any) -> pd.DataFrame:
    """An Ibis table expression's result as pandas, through Arrow.

    For large results this is several times faster than ``expr.execute()`` (1M rows: 2.8 s
    against 6.5 s), which converts value by value; the types are Arrow's pandas types (timestamps
    stay timezone-aware UTC; integer columns with missing values become floats).
    """
    frame: pd.DataFrame = expr.to_pyarrow().to_pandas()
    return frame


def latest_accounts(db: Any) -> Any:
    """The ``accounts`` table with each account's row from its latest load only."""
    a = db.table("accounts")
    latest = a.group_by("account_id").aggregate(load_id=a.load_id.max())
    return a.join(latest, ["account_id", "load_id"])


def attribute_number(value: Any) -> Any:
    """A JSON attribute as a float, whether it holds a number or a numeric string (CSV extras are text)."""
    return value.float.fill_null(value.str.strip().try_cast("float64"))


def threshold_labels(values: Any, thresholds: Mapping[str, float]) -> np.ndarray:
    """For each value, the name of the highest threshold it reaches (tiers, bands, participation
    levels); values below every threshold get the lowest name, NaN stays missing."""
    numbers = np.asarray(values, dtype=float)
    order = sorted(thresholds.items(), key=lambda item: item[1])
    names = np.array([name for name, _ in order], dtype=object)
    cuts = np.array([threshold for _, threshold in order])
    index = np.searchsorted(cuts, np.nan_to_num(numbers, nan=-np.inf), side="right") - 1
    out: np.ndarray = names[np.clip(index, 0, len(names) - 1)]
    out[np.isnan(numbers)] = None
    return out
