"""Plain-terminal renderings (Rich tables) of engine results."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..ingest import REASON_HELP, LoadReport, Reason


def _console(width: int | None) -> tuple[Console, io.StringIO]:
    """A console writing to a buffer, as wide as the terminal (at least 120 columns)."""
    buffer = io.StringIO()
    width = width or max(shutil.get_terminal_size((140, 24)).columns, 120)
    return Console(file=buffer, width=width, color_system=None, highlight=False, markup=False), buffer


def _number(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def frame_table(frame: pd.DataFrame, title: str | None = None, columns: Sequence[str] | None = None) -> Table:
    """A Rich table of a DataFrame (numbers right-aligned with thousands separators)."""
    columns = list(columns or frame.columns)
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) if column in frame else False
        table.add_column(column, justify="right" if numeric else "left")
    for row in frame[columns].itertuples(index=False):
        table.add_row(*(_number(v.item() if hasattr(v, "item") else v) for v in row))
    return table


def render_loads(reports: Iterable[LoadReport], width: int | None = None) -> str:
    """The four counts of each load, the reasons of quarantined rows and any schema drift."""
    console, buffer = _console(width)
    table = Table(title="Loads", title_justify="left")
    for name in ("load", "table", "file", "read", "loaded", "quarantined", "duplicates"):
        table.add_column(name, justify="right" if name not in ("table", "file") else "left")
    notes: list[str] = []
    for r in reports:
        table.add_row(str(r.load_id), r.table, r.file, _number(r.rows_read), _number(r.rows_loaded),
                      _number(r.rows_quarantined), _number(r.rows_duplicate))
        for reason, count in r.reasons.items():
            notes.append(f"  load {r.load_id}: {count:,} × {reason} — {REASON_HELP[Reason(reason)]}")
        if r.attribute_columns:
            notes.append(f"  load {r.load_id}: extra columns kept in attributes: {', '.join(r.attribute_columns)}")
        elif r.drift_columns:
            notes.append(f"  load {r.load_id}: columns outside the schema, not loaded: {', '.join(r.drift_columns)}")
    console.print(table)
    if notes:
        console.print("Quarantine and drift (see `commetrics quarantine`):")
        for note in notes:
            console.print(note, soft_wrap=True)
    return buffer.getvalue()


def render_frames(frames: Iterable[tuple[str, pd.DataFrame]], width: int | None = None) -> str:
    """Several titled tables, one after the other (empty ones say so)."""
    console, buffer = _console(width)
    for title, frame in frames:
        if frame.empty:
            console.print(f"{title}: none")
        else:
            console.print(frame_table(frame, title))
    return buffer.getvalue()


def render_rows(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], width: int | None = None) -> str:
    """A titled table from plain rows."""
    console, buffer = _console(width)
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(_number(v) for v in row))
    console.print(table)
    return buffer.getvalue()
