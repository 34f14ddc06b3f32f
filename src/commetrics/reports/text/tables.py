"""Rich tables written to a string: the building blocks of every terminal rendering."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..format import count, is_missing
from ..labels import column as column_words

__all__ = ["console", "frame_table", "render_frames", "render_rows", "text"]


def console(width: int | None = None) -> tuple[Console, io.StringIO]:
    """A console writing to a buffer, as wide as the terminal (at least 120 columns)."""
    buffer = io.StringIO()
    width = width or max(shutil.get_terminal_size((140, 24)).columns, 120)
    return Console(file=buffer, width=width, color_system=None, highlight=False, markup=False), buffer


def text(value: Any) -> str:
    """A cell: whole numbers with separators, other numbers with separators and at most three decimals (no
    ``4392217.0``), missing values empty."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float) and not is_missing(value):
        if value.is_integer() and abs(value) >= 1000:
            return count(value)
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return "" if is_missing(value) else str(value)


def frame_table(frame: pd.DataFrame, title: str | None = None, columns: Sequence[str] | None = None) -> Table:
    """A Rich table of a DataFrame: columns named in words (``ci_low`` → "95% interval, low"), numbers
    right-aligned with thousands separators, headers wrapped rather than cut."""
    columns = list(columns or frame.columns)
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) if column in frame else False
        table.add_column(column_words(str(column)), justify="right" if numeric else "left", overflow="fold")
    for row in frame[columns].itertuples(index=False):
        table.add_row(*(text(v.item() if hasattr(v, "item") else v) for v in row))
    return table


def render_frames(frames: Iterable[tuple[str, pd.DataFrame]], width: int | None = None) -> str:
    """Several titled tables, one after the other (empty ones say so)."""
    out, buffer = console(width)
    for title, frame in frames:
        if frame.empty:
            out.print(f"{title}: none")
        else:
            out.print(frame_table(frame, title))
    return buffer.getvalue()


def render_rows(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], width: int | None = None) -> str:
    """A titled table from plain rows."""
    out, buffer = console(width)
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(text(v) for v in row))
    out.print(table)
    return buffer.getvalue()
