"""The local rule of complementary suppression: give each hidden cell partners in its published totals.

Cheap, and enough for a single margin; the audit checks the rest and :func:`suppress` repairs what it finds."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._table import _State, _Table


def _protect_locally(table: _Table, state: _State) -> None:
    """Hide cells until every published total has 0 or >= 2 hidden cells, and >= k people among
    them when one of them is small. Cheap, and enough for a single margin; the audit does the rest."""
    changed = True
    while changed:
        changed = False
        for g, group in enumerate(table.groups):
            if state.withheld[g]:
                continue
            inside = group.cells[state.hidden[group.cells]]
            if len(inside) == 0:
                continue
            lone = len(inside) == 1
            thin = bool(table.primary[inside].any()) and int(table.values[inside].sum()) < table.k
            if not (lone or thin):
                continue
            # a zero partner stops exact recovery but adds no people, so it cannot fix a thin total
            cell = _pick_cell(table, state, group.cells, allow_zero=not thin)
            if cell is None:  # every other cell is hidden, zero or pinned by a total of its own
                state.withheld[g] = True
            else:
                state.hidden[cell] = True
            changed = True


def _pick_cell(table: _Table, state: _State, pool: npt.NDArray[np.intp], *, allow_zero: bool) -> int | None:
    """The visible cell in ``pool`` that is cheapest to hide: the smallest non-zero one."""
    pool = np.unique(pool)
    visible = [int(c) for c in pool if not state.hidden[c] and not _pinned(table, state, int(c))]
    nonzero = [c for c in visible if table.values[c] > 0]
    choices = nonzero or (visible if allow_zero else [])
    if not choices:
        return None
    smallest = min(int(table.values[c]) for c in choices)
    tied = [c for c in choices if table.values[c] == smallest]

    def busy_totals(cell: int) -> int:  # published totals of this cell that already have hidden cells
        return sum(
            1 for g in table.cell_groups[cell] if not state.withheld[g] and state.hidden[table.groups[g].cells].any()
        )

    return min(tied, key=lambda c: (-busy_totals(c), c))


def _pinned(table: _Table, state: _State, cell: int) -> bool:
    """True when a published total fixes the cell on its own (it is that total, or the total is 0):
    hiding it would protect nothing."""
    return any(table.pins[g] and not state.withheld[g] for g in table.cell_groups[cell])
