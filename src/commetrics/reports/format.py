"""How numbers are written, the same in the terminal, the report and the dashboard.

One decimal policy: rates as percentages with one decimal, differences of rates in percentage
points with a sign (a typographic minus; ``0.0`` for what rounds to zero) and one decimal, counts
with thousands separators, money with its currency and no decimals, days with one decimal (``not
reached`` for a Kaplan–Meier time that never comes). A figure withheld by the publication policy
reads ``hidden``; a figure that does not exist reads ``—``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["DASH", "HIDDEN", "MINUS", "count", "days", "is_missing", "money", "percent", "points", "signed"]

DASH = "—"
MINUS = "−"
HIDDEN = "hidden"


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA and NaT."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def count(value: Any, *, missing: str = HIDDEN) -> str:
    """A whole number with thousands separators (``12,345``)."""
    if is_missing(value):
        return missing
    return f"{round(float(value)):,}"


def percent(value: Any, digits: int = 1, *, missing: str = "") -> str:
    """A share as a percentage (0.1234 → ``12.3%``)."""
    if is_missing(value):
        return missing
    return f"{100 * float(value):.{digits}f}%"


def points(value: Any, digits: int = 1, *, missing: str = "", sign: bool = True) -> str:
    """A difference of shares in percentage points, with its sign (0.05 → ``+5.0``; ``sign=False``: its size,
    ``5.0``, for sentences that say "more" or "fewer" in words)."""
    if is_missing(value):
        return missing
    if not sign:
        return f"{abs(100 * float(value)):.{digits}f}"
    return signed(100 * float(value), digits)


def signed(value: Any, digits: int = 2, *, missing: str = "") -> str:
    """A number with its sign: ``+0.12``, ``−0.12`` (a typographic minus), and ``0.00`` for what rounds to zero
    (never ``-0.00``)."""
    if is_missing(value):
        return missing
    text = f"{abs(float(value)):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return ("+" if float(value) > 0 else MINUS) + text


def days(value: Any, *, missing: str = DASH) -> str:
    """Days with one decimal; ``not reached`` for infinity (a Kaplan–Meier time that never comes)."""
    if is_missing(value):
        return missing
    number = float(value)
    return "not reached" if math.isinf(number) else f"{number:.1f}"


def money(value: Any, currency: str | None = None, *, missing: str = HIDDEN) -> str:
    """An amount with its currency and separators, no decimals (``USD 1,044,805``)."""
    if is_missing(value):
        return missing
    amount = f"{float(value):,.0f}"
    return f"{currency} {amount}" if currency else amount
