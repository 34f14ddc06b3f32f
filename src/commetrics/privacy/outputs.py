"""Small-cell suppression applied to the tables commetrics publishes (CLI, JSON, report).

The library's analysis methods return exact figures to the analyst who holds the data; everything
printed, written or shown goes through these functions first, with ``privacy.min_cell_size``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .suppression import suppress, suppression_summary

__all__ = ["suppress_counts", "suppress_rates", "suppress_timing", "suppression_note"]

#: the figures of a conversion row that come from its eligible people
RATE_VALUES = ("in_progress", "converters", "rate", "ci_low", "ci_high", "existing_customers", "diff", "diff_low",
               "diff_high")


def suppress_rates(rates: pd.DataFrame, k: int, *, totals_published: bool) -> pd.DataFrame:
    """A conversion table (one row per cohort and window) with cells of fewer than ``k`` eligible
    people hidden. ``totals_published``: the all-members rate of each window is shown beside the
    cohorts (the report does), so complementary cells are hidden too."""
    if rates.empty:
        return rates.assign(suppressed=pd.Series(dtype=bool))
    dims = [c for c in ("conversion", "cohort", "window_days") if c in rates.columns]
    margins = [tuple(c for c in dims if c != "cohort")] if totals_published else []
    return suppress(rates, people="eligible", k=k, dims=dims, margins=margins,
                    values=[c for c in RATE_VALUES if c in rates.columns])


def suppress_timing(timing: pd.DataFrame, k: int) -> pd.DataFrame:
    """Time to conversion (one row per cohort) with cohorts of fewer than ``k`` eligible people hidden;
    a cohort's ``suppressed`` flag says to leave out its conversion curve too."""
    if timing.empty or "eligible" not in timing:
        return timing.assign(suppressed=False)
    values = [c for c in timing.columns if c not in ("cohort", "eligible") and pd.api.types.is_numeric_dtype(timing[c])]
    return suppress(timing, people="eligible", k=k, dims=["cohort"], values=values)


def suppress_counts(frame: pd.DataFrame, *, people: str, k: int, dims: Sequence[str],
                    values: Sequence[str] = ()) -> pd.DataFrame:
    """A one-way table of people per group with shares of the whole (so the total is published):
    small groups hidden, and a partner for each so that the total does not give them away."""
    if frame.empty:
        return frame.assign(suppressed=pd.Series(dtype=bool))
    return suppress(frame, people=people, k=k, dims=list(dims), margins=[()], values=list(values))


def suppression_note(frame: pd.DataFrame) -> str:
    """One sentence saying whether suppression applied, for under a table ("" when it did not)."""
    if "suppression" not in frame.attrs:
        return ""
    summary = suppression_summary(frame)
    if not summary.applied:
        return ""
    hidden = summary.primary + summary.complementary
    return (f"{hidden} cell{'s' if hidden != 1 else ''} hidden to protect groups of fewer than {summary.k} people "
            f"({summary.complementary} of them only so that totals do not reveal the others).")
