"""Escaping, reading and formatting values for the HTML report; shared by the page and every section.

Every string taken from the data goes through :func:`escape`. Missing values (``None``, NaN, NA,
NaT) read as ``None`` through :func:`to_float` and :func:`to_text` and show as :data:`DASH`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ..format import points
from ..labels import GLOSSARY

__all__ = [
    "DASH",
    "MINUS",
    "count",
    "days",
    "escape",
    "pct",
    "records",
    "signed_pp",
    "slug",
    "term",
    "to_float",
    "to_text",
    "unique",
]

#: What a missing or withheld figure shows as (an em dash).
DASH = "—"
#: The typographic minus sign, for negative numbers.
MINUS = "−"


def escape(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def term(text: str, key: str) -> str:
    """``text`` linked to its glossary entry (``GLOSSARY[key]``), which explains it in plain words."""
    if key not in GLOSSARY:
        raise KeyError(f"no glossary entry {key!r}")
    return f'<a class="term" href="#g-{key}">{escape(text)}</a>'


def to_float(value: Any) -> float | None:
    """A value as a float, or ``None`` when missing (None, NaN, NA, NaT) or not a number."""
    if value is None or isinstance(value, str):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def to_text(value: Any) -> str | None:
    """A value as a string, or ``None`` when missing."""
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            if bool(pd.isna(value)):
                return None
        except (TypeError, ValueError):
            pass
    return str(value)


def count(value: Any) -> str:
    """An integer count with thousands separators (a dash when missing)."""
    number = to_float(value)
    if number is None:
        return DASH
    if math.isinf(number):
        return "∞"
    return f"{round(number):,}"


def pct(value: float | None, decimals: int = 1) -> str:
    """A proportion as a percentage with one decimal, e.g. ``0.1234`` → ``12.3%``."""
    if value is None or math.isinf(value):
        return DASH
    return f"{value * 100:,.{decimals}f}%"


def signed_pp(value: float) -> str:
    """A difference of proportions in percentage points with an explicit sign (``reports.format.points``)."""
    return points(value)


def days(value: Any) -> str:
    """A number of days (``not reached`` for infinity, a dash when missing)."""
    number = to_float(value)
    if number is None:
        return DASH
    if math.isinf(number):
        return "not reached"
    return f"{number:,.1f}"


def slug(index: int, suffix: str) -> str:
    """A deterministic element id that never contains data."""
    return f"c{index}-{suffix}"


def unique(values: Iterable[Any]) -> list[str]:
    """The distinct non-missing values as strings, in order of first appearance."""
    seen: dict[str, None] = {}
    for value in values:
        text = to_text(value)
        if text is not None and text not in seen:
            seen[text] = None
    return list(seen)


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column's values as a list (``None`` for every row when the column is absent)."""
    if name in frame.columns:
        return list(frame[name].tolist())
    return [None] * len(frame)


def records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts over ``columns`` (missing columns give ``None``)."""
    values = {name: _column(frame, name) for name in columns}
    return [{name: values[name][i] for name in columns} for i in range(len(frame))]
