"""A conversion's results as the report reads them: :class:`ConversionSection` and its decoded cells.

The rates table arrives as a frame; :func:`decode_cells` turns its rows into :class:`Cell` values
(missing and suppressed counts as ``None``) that the tables and charts of ``conversion`` and
its charts share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .common import records, to_float, to_text, unique

__all__ = [
    "SMALL_N",
    "Cell",
    "ConversionSection",
    "decode_cells",
    "distinct_windows",
]

#: The n below which a cell is flagged as small when the table has no ``small`` column.
SMALL_N = 30


@dataclass(frozen=True)
class ConversionSection:
    """The results of one conversion, ready to render.

    Attributes
    ----------
    name
        The conversion's name, e.g. ``"trial_after_join"``.
    description
        One sentence saying what the conversion is.
    by
        The cohort key (e.g. ``"entry_path"``, ``"join_month"``), or ``None`` for all members.
    table
        One row per cohort × window with the columns ``cohort``, ``window_days``, ``eligible``,
        ``in_progress``, ``converters``, ``rate``, ``ci_low``, ``ci_high``, ``existing_customers``,
        ``small`` and, for comparisons, ``reference``, ``diff``, ``diff_low``, ``diff_high``; where the outcomes
        carry money, ``revenue``, ``revenue_per_eligible`` and ``currency``.
        Suppressed cells carry NaN in ``eligible``/``converters``.
    curves
        Cumulative conversion curves: ``cohort``, ``day``, ``cumulative``, ``ci_low``, ``ci_high``.
    timing
        Time to conversion per cohort: ``cohort``, ``eligible``, ``converters``,
        ``median_days_converters``, ``km_median_days``, ``km_quantile``, ``km_quantile_days``
        (``math.inf`` means not reached).
    """

    name: str
    description: str
    by: str | None
    table: pd.DataFrame
    curves: pd.DataFrame
    timing: pd.DataFrame


@dataclass(frozen=True)
class Cell:
    """One cohort × window of the rates table, decoded from a row."""

    cohort: str
    window: int | None
    eligible: float | None
    in_progress: float | None
    converters: float | None
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    existing: float | None
    small: bool
    reference: str | None
    diff: float | None
    diff_low: float | None
    diff_high: float | None
    revenue: float | None = None
    revenue_per_eligible: float | None = None
    currency: str | None = None

    @property
    def suppressed(self) -> bool:
        """Privacy suppression: the counts were withheld."""
        return self.eligible is None or self.converters is None

    @property
    def status(self) -> str:
        """``suppressed``, ``in-progress`` (nothing mature yet), ``empty`` (nobody) or ``ok``."""
        if self.suppressed:
            return "suppressed"
        if self.eligible == 0:
            return "in-progress" if (self.in_progress or 0) > 0 else "empty"
        return "ok" if self.rate is not None else "empty"

    @property
    def is_reference(self) -> bool:
        """Whether this row is the cohort the others are compared against."""
        return self.reference is not None and self.reference == self.cohort


_TABLE_COLUMNS = (
    "cohort", "window_days", "eligible", "in_progress", "converters", "rate", "ci_low", "ci_high",
    "existing_customers", "small", "reference", "diff", "diff_low", "diff_high", "revenue", "revenue_per_eligible",
    "currency",
)


def decode_cells(table: pd.DataFrame) -> list[Cell]:
    """The rows of a section's table, ordered by window, then by cohort as they first appear."""
    cells: list[Cell] = []
    for row in records(table, _TABLE_COLUMNS):
        window = to_float(row["window_days"])
        eligible = to_float(row["eligible"])
        small_raw = row["small"]
        small = bool(small_raw) if to_text(small_raw) is not None else eligible is not None and 0 < eligible < SMALL_N
        cells.append(Cell(
            cohort=to_text(row["cohort"]) or "all",
            window=None if window is None else round(window),
            eligible=eligible,
            in_progress=to_float(row["in_progress"]),
            converters=to_float(row["converters"]),
            rate=to_float(row["rate"]),
            ci_low=to_float(row["ci_low"]),
            ci_high=to_float(row["ci_high"]),
            existing=to_float(row["existing_customers"]),
            small=small,
            reference=to_text(row["reference"]),
            diff=to_float(row["diff"]),
            diff_low=to_float(row["diff_low"]),
            diff_high=to_float(row["diff_high"]),
            revenue=to_float(row["revenue"]),
            revenue_per_eligible=to_float(row["revenue_per_eligible"]),
            currency=to_text(row["currency"]),
        ))
    order = {cohort: i for i, cohort in enumerate(unique(c.cohort for c in cells))}
    return sorted(cells, key=lambda c: (c.window is None, c.window or 0, order[c.cohort]))


def distinct_windows(cells: Sequence[Cell]) -> list[int | None]:
    """The distinct windows of the cells, in ascending order."""
    seen: dict[int | None, None] = {}
    for cell in cells:
        seen.setdefault(cell.window, None)
    return list(seen)
