"""The table model: the validated cells of a frame and every total its margins define."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from commetrics.errors import InputError

from ._records import Key, Margin, check_k


@dataclass(frozen=True)
class _Group:
    """One published-or-withheld total: the cells of one key of one margin."""

    margin: Margin
    key: Key
    cells: npt.NDArray[np.intp]
    total: int


@dataclass(frozen=True)
class _Table:
    """The validated cells and every total that the margins define."""

    dims: Margin
    index: pd.Index
    keys: list[Key]
    values: npt.NDArray[np.int64]
    k: int
    groups: list[_Group]
    cell_groups: list[list[int]]  # for each cell, the groups that contain it
    primary: npt.NDArray[np.bool_]
    small_groups: npt.NDArray[np.bool_]
    pins: npt.NDArray[np.bool_]  # groups that fix their cells when published: one cell, or a total of 0

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        *,
        people: str,
        k: int,
        dims: Sequence[str],
        margins: Sequence[Sequence[str]],
    ) -> _Table:
        if not isinstance(frame, pd.DataFrame):
            msg = f"expected a pandas DataFrame with one row per cell, got {type(frame).__name__}"
            raise InputError(msg)
        k = check_k(k)
        dims_t = _column_names("dims", dims)
        _require_columns(frame, [*dims_t, people])
        if people in dims_t:
            msg = f"{people!r} is both the people column and a dim; dims identify cells, people counts them."
            raise InputError(msg)
        margins_t = _normalise_margins(margins, dims_t)
        values = _people_counts(frame, people)
        if dims_t and frame[list(dims_t)].isna().to_numpy().any():
            msg = (
                f"dims {dims_t!r} have missing values; every cell needs a label. "
                "Fill them with a label such as 'unknown' first."
            )
            raise InputError(msg)
        _reject_duplicate_cells(frame, dims_t)
        keys: list[Key] = list(frame[list(dims_t)].itertuples(index=False, name=None)) if dims_t else [()] * len(frame)
        groups: list[_Group] = []
        cell_groups: list[list[int]] = [[] for _ in range(len(frame))]
        for margin in margins_t if len(frame) else ():
            at = [dims_t.index(d) for d in margin]
            codes = (
                frame.groupby(list(margin), sort=False, observed=True).ngroup().to_numpy()
                if margin
                else np.zeros(len(frame), dtype=np.int64)
            )
            order = np.argsort(codes, kind="stable")
            for cells in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
                for cell in cells:
                    cell_groups[cell].append(len(groups))
                key = tuple(keys[cells[0]][i] for i in at)
                groups.append(_Group(margin, key, cells.astype(np.intp), int(values[cells].sum())))
        totals = np.array([g.total for g in groups], dtype=np.int64)
        sizes = np.array([len(g.cells) for g in groups], dtype=np.int64)
        return cls(
            dims=dims_t,
            index=frame.index,
            keys=keys,
            values=values,
            k=k,
            groups=groups,
            cell_groups=cell_groups,
            primary=(values > 0) & (values < k),
            small_groups=(totals > 0) & (totals < k),
            pins=(sizes == 1) | (totals == 0),
        )


@dataclass
class _State:
    hidden: npt.NDArray[np.bool_]  # per cell
    withheld: npt.NDArray[np.bool_]  # per group


@dataclass(frozen=True)
class _Finding:
    reason: Literal["exact", "below_k"]
    low: float
    high: float
    cell: int | None = None
    group: int | None = None


# --------------------------------------------------------------------------- checking the input


def _column_names(what: str, names: Sequence[str]) -> Margin:
    if isinstance(names, str):
        msg = f"{what} must be a sequence of column names such as ({names!r},), not the string {names!r}."
        raise InputError(msg)
    result = tuple(names)
    if len(set(result)) != len(result):
        msg = f"{what} {result!r} names a column twice."
        raise InputError(msg)
    return result


def _require_columns(frame: pd.DataFrame, names: Iterable[str]) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        msg = (
            f"the frame has no column {', '.join(map(repr, missing))}. "
            f"Columns found: {', '.join(map(str, frame.columns))}. "
            "Check the people=, dims= and values= arguments."
        )
        raise InputError(msg)


def _normalise_margins(margins: Sequence[Sequence[str]], dims: Margin) -> list[Margin]:
    """Each margin as a tuple in the order of ``dims``, once each."""
    if isinstance(margins, str):
        msg = f"margins must be a list of tuples of dims, such as [({margins!r},)], not the string {margins!r}."
        raise InputError(msg)
    result: list[Margin] = []
    for margin in margins:
        if isinstance(margin, str):
            msg = (
                f"each margin is a tuple of dims: write ({margin!r},) for a total per {margin}, "
                "or () for the grand total."
            )
            raise InputError(msg)
        unknown = [d for d in margin if d not in dims]
        if unknown:
            msg = f"margin {tuple(margin)!r} groups by {unknown[0]!r}, which is not one of the dims {dims!r}."
            raise InputError(msg)
        ordered = tuple(d for d in dims if d in margin)
        if len(ordered) == len(dims):
            msg = f"margin {tuple(margin)!r} groups by every dim, so its totals are the cells themselves. Leave it out."
            raise InputError(msg)
        if ordered not in result:
            result.append(ordered)
    return result


def _people_counts(frame: pd.DataFrame, people: str) -> npt.NDArray[np.int64]:
    column = frame[people]
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        msg = f"column {people!r} must hold whole numbers of people, but its type is {column.dtype}."
        raise InputError(msg)
    if column.isna().any():
        msg = f"column {people!r} has missing values; a cell with nobody in it has people = 0."
        raise InputError(msg)
    counts = column.to_numpy(dtype=float)
    bad = ~np.isfinite(counts) | (counts != np.floor(counts))
    if bad.any():
        msg = f"column {people!r} must hold whole numbers of people; found {counts[bad][0]!r}."
        raise InputError(msg)
    if (counts < 0).any():
        msg = f"column {people!r} has a negative count ({counts[counts < 0][0]:g}); counts of people cannot be."
        raise InputError(msg)
    result: npt.NDArray[np.int64] = counts.astype(np.int64)
    return result


def _reject_duplicate_cells(frame: pd.DataFrame, dims: Margin) -> None:
    if not dims:
        if len(frame) > 1:
            msg = f"with no dims the frame must be a single cell, but it has {len(frame)} rows. Pass dims=(...)."
            raise InputError(msg)
        return
    repeated = frame.duplicated(subset=list(dims), keep=False)
    if repeated.any():
        first = tuple(frame.loc[repeated, list(dims)].iloc[0])
        msg = (
            f"cell {first!r} of dims {dims!r} appears {int(repeated.sum())} times; each cell must be one row. "
            "Aggregate first, or add the missing dim."
        )
        raise InputError(msg)
