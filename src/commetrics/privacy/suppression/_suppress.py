"""The :func:`suppress` entry point: the local rule and the audit in a loop with repairs, then the published frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from commetrics.errors import InputError

from ._audit import _find_disclosures
from ._local import _pick_cell, _protect_locally
from ._records import SUPPRESSED, Margin, SuppressionSummary
from ._table import _column_names, _Finding, _require_columns, _State, _Table


def suppress(
    frame: pd.DataFrame,
    *,
    people: str,
    k: int,
    dims: Sequence[str] = (),
    margins: Sequence[Sequence[str]] = (),
    values: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Hide cells of fewer than k people, and enough others that none can be worked out.

    Parameters
    ----------
    frame
        One row per cell, with the true figures.
    people
        The column holding the number of distinct people each row's figures come from.
    k
        The threshold (``privacy.min_cell_size``; at least 5, see :func:`check_k`).
    dims
        The columns that identify a cell, such as ``("cohort", "window")``. Each combination
        may appear once.
    margins
        The totals published with the table (or anywhere in the same output), each given as the
        dims it is grouped by: ``()`` is a grand total, ``("cohort",)`` a total per cohort over
        the other dims. Totals are sums of ``people`` over their cells.
    values
        The columns to blank on hidden rows besides ``people``; by default every numeric column
        that is not a dim.

    Returns
    -------
    pandas.DataFrame
        A copy of ``frame`` with a boolean ``suppressed`` column (primary and complementary
        alike, so the output does not tell which cells are the small ones). On hidden rows
        ``people`` and ``values`` are null: integer columns become nullable ``Int64``, boolean
        ones ``boolean``, float ones hold NaN. ``attrs["suppression"]`` holds a
        :class:`SuppressionSummary`, including the totals the caller must withhold.

    Notes
    -----
    *Cells with 0 people are published.* A zero reveals nobody, and hiding zeros would make
    tables of rare events mostly blank. Zeros are hidden only as a last resort, when a hidden
    cell needs a partner and no cell with people is left in its total.

    *Complementary cells.* For each published total with hidden cells, the cell hidden next is
    the smallest non-zero visible one (least information lost; ties go to cells whose other
    totals already have hidden cells, which closes rectangles in two-way tables). The local rule
    asks for at least two hidden cells per total, and at least k people among them when one of
    them is small: two cells of 2 and 3 people hidden under a published total would otherwise
    publish their sum, an implicit cell of 5.

    *The audit decides.* After the local rule, :func:`audit` bounds every hidden value by linear
    programming. Whatever it still finds is repaired (another cell hidden, or a total withheld
    when only that helps) and the audit runs again, until it finds nothing. The loop ends because
    every round hides something, and with everything hidden nothing can be worked out. With a
    single margin the totals do not overlap, the local rule is provably enough and the audit
    needs no solver (see :func:`audit`).

    *Totals.* A total of fewer than k people is itself a small cell, so it is withheld; if the
    other totals would give it away (the grand total minus the other cohorts, say), another
    total of the same margin is withheld too. All are listed in the summary.

    *Other counts.* Columns such as ``converters`` are hidden on the same rows. Their published
    totals constrain the hidden cells in the same way, except that a total of 0 shows that every
    cell in it is 0, which no cell suppression can prevent.

    Examples
    --------
    >>> table = pd.DataFrame({"cohort": ["a", "b", "c", "d"], "people": [3, 0, 12, 40]})
    >>> out = suppress(table, people="people", k=10, dims=("cohort",), margins=[()])
    >>> out["suppressed"].tolist()
    [True, False, True, False]
    >>> out.attrs["suppression"].complementary
    1
    """
    table = _Table.build(frame, people=people, k=k, dims=dims, margins=margins)
    blank = _blank_columns(frame, people=people, dims=table.dims, values=values)
    state = _State(hidden=table.primary.copy(), withheld=table.small_groups.copy())
    for _ in range(len(table.values) + len(table.groups) + 1):
        _protect_locally(table, state)
        findings = _find_disclosures(table, state.hidden, state.withheld)
        if not findings:
            break
        _repair(table, state, findings)
    else:  # pragma: no cover - each round hides something, so this cannot happen
        msg = "suppress() did not converge; this is a bug in commetrics"
        raise RuntimeError(msg)
    return _publish(frame, table, state, people=people, blank=blank)


# --------------------------------------------------------------------------- repairing what the audit finds


def _repair(table: _Table, state: _State, findings: list[_Finding]) -> None:
    """One step against each finding: hide another cell, or withhold a total when only that helps.

    Findings that share a total with one already acted on this round wait for the next audit, so
    one fix is not applied twice."""
    touched: set[int] = set()
    bad_groups = {f.group for f in findings if f.group is not None}
    for found in sorted(findings, key=lambda f: f.group is None):  # totals first
        if found.group is not None:
            _repair_total(table, state, found.group, touched)
            continue
        assert found.cell is not None
        cell = found.cell
        if any(g in bad_groups for g in table.cell_groups[cell]):
            continue  # its withheld total gives it away; repairing that total comes first
        published = [g for g in table.cell_groups[cell] if not state.withheld[g]]
        if not published or touched.intersection(published):
            continue
        pick = None
        # look in the narrowest totals first: in a two-way table, the cell's row and column
        for size in sorted({len(table.groups[g].cells) for g in published}):
            pool = np.concatenate([table.groups[g].cells for g in published if len(table.groups[g].cells) == size])
            pick = _pick_cell(table, state, pool, allow_zero=found.reason == "exact")
            if pick is not None:
                break
        if pick is not None:
            _hide(table, state, pick, touched)
        else:
            _withhold(state, min(published, key=lambda g: (table.groups[g].total, g)), touched)


def _repair_total(table: _Table, state: _State, q: int, touched: set[int]) -> None:
    """A withheld total that the published figures give away (typically: the grand total minus
    the other totals of its margin). Withhold a sibling that has hidden cells, so that the two
    can only be told apart together; failing that, hide a cell to make such a sibling."""
    margin = table.groups[q].margin
    siblings = [
        g
        for g, group in enumerate(table.groups)
        if group.margin == margin and not state.withheld[g] and state.hidden[group.cells].any()
    ]
    if touched.intersection(g for g, group in enumerate(table.groups) if group.margin == margin):
        return
    if siblings:
        _withhold(state, min(siblings, key=lambda g: (table.groups[g].total, g)), touched)
        return
    mine = table.groups[q].cells
    hidden_mine = mine[state.hidden[mine]]
    around = sorted(
        {g for c in hidden_mine for g in table.cell_groups[c] if not state.withheld[g]},
        key=lambda g: (table.groups[g].total, g),
    )
    if not around:  # pragma: no cover - unconstrained hidden cells cannot give a total away
        return
    pool = np.setdiff1d(np.concatenate([table.groups[g].cells for g in around]), mine)
    pick = _pick_cell(table, state, pool, allow_zero=True)
    if pick is not None:
        _hide(table, state, pick, touched)
    else:
        _withhold(state, around[0], touched)


def _hide(table: _Table, state: _State, cell: int, touched: set[int]) -> None:
    state.hidden[cell] = True
    touched.update(table.cell_groups[cell])


def _withhold(state: _State, group: int, touched: set[int]) -> None:
    state.withheld[group] = True
    touched.add(group)


# --------------------------------------------------------------------------- output


def _blank_columns(frame: pd.DataFrame, *, people: str, dims: Margin, values: Sequence[str] | None) -> list[str]:
    if SUPPRESSED in frame.columns:
        msg = f"the frame already has a {SUPPRESSED!r} column; suppress each table once, on its true figures."
        raise InputError(msg)
    if values is None:
        return [
            str(c) for c in frame.columns if c not in dims and c != people and pd.api.types.is_numeric_dtype(frame[c])
        ]
    names = _column_names("values", values)
    _require_columns(frame, names)
    clash = [n for n in names if n in dims]
    if clash:
        msg = f"values {clash!r} are dims; a cell's labels stay visible, only its figures are hidden."
        raise InputError(msg)
    return [n for n in names if n != people]


def nullable(column: pd.Series) -> pd.Series:
    """The column in a dtype that can hold a null without turning whole numbers into floats."""
    if isinstance(column.dtype, np.dtype):
        if column.dtype == np.bool_:
            return column.astype("boolean")
        if np.issubdtype(column.dtype, np.integer):
            return column.astype("Int64")
    return column


def _publish(frame: pd.DataFrame, table: _Table, state: _State, *, people: str, blank: list[str]) -> pd.DataFrame:
    out = frame.copy()
    hidden = pd.Series(state.hidden, index=out.index)
    out[people] = pd.Series(pd.array(table.values, dtype="Int64"), index=out.index).mask(hidden)
    for name in blank:
        out[name] = nullable(out[name]).mask(hidden)
    out[SUPPRESSED] = state.hidden.copy()
    primary = int(table.primary.sum())
    withheld = tuple((g.margin, g.key) for g, off in zip(table.groups, state.withheld, strict=True) if off)
    out.attrs["suppression"] = SuppressionSummary(
        k=table.k, primary=primary, complementary=int(state.hidden.sum()) - primary, withheld_totals=withheld
    )
    return out
