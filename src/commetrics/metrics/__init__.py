"""Metrics computed from the canonical tables (as Ibis expressions)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def fetch(expr: Any) -> pd.DataFrame:
    """An Ibis table expression's result as pandas, through Arrow.

    For large results this is several times faster than ``expr.execute()`` (1M rows: 2.8 s
    against 6.5 s), which converts value by value; the types are Arrow's pandas types (timestamps
    stay timezone-aware UTC; integer columns with missing values become floats).
    """
    frame: pd.DataFrame = expr.to_pyarrow().to_pandas()
    return frame
