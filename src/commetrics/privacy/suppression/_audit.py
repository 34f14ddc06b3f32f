"""The disclosure audit: linear programs (scipy ``linprog``, HiGHS) bound every hidden value, as an attacker would."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.optimize import OptimizeResult, linprog

from commetrics.errors import InputError

from ._records import Disclosure
from ._table import _Finding, _Group, _Table

_TOL = 1e-6  # slack for the floating-point bounds that the LP solver returns


def audit(
    frame: pd.DataFrame,
    hidden: npt.ArrayLike,
    *,
    people: str,
    k: int,
    dims: Sequence[str] = (),
    margins: Sequence[Sequence[str]] = (),
    withheld_totals: Iterable[tuple[Sequence[str], Sequence[object]]] = (),
) -> list[Disclosure]:
    """Every hidden cell or withheld total that the published figures give away.

    Parameters
    ----------
    frame
        The table with its **true** figures (not the output of :func:`suppress`).
    hidden
        One boolean per row of ``frame``: True where the cell is not published.
    people, k, dims, margins
        As for :func:`suppress`.
    withheld_totals
        ``(margin, key)`` of totals that are not published, as in
        :attr:`SuppressionSummary.withheld_totals`. Totals of fewer than k people are always
        taken as withheld.

    Returns
    -------
    list of Disclosure
        Empty when the table is safe.

    Notes
    -----
    For each hidden cell the attacker's interval is found by two linear programs
    (``scipy.optimize.linprog``, HiGHS): minimise and maximise the cell subject to the visible
    cells, the equality of every published total, and every hidden cell >= 0. The bounds are
    rounded inwards to whole numbers. Reported are

    * ``"exact"``: any hidden cell or withheld total whose interval is a single value;
    * ``"below_k"``: any primary cell (0 < people < k) whose upper bound is below k. This is the
      usual "protection level" of statistical disclosure control: without it, two small cells
      hidden together under a published total would publish their sum.

    The programs are solved per connected group of hidden cells, and every solution is kept as a
    feasible point: a later cell whose value already differs in some known point (or reaches k)
    needs no solve of its own. A group of hidden cells tied by a single total needs no solver at
    all: its cells range over ``[0, rest]`` (``[rest, rest]`` for a lone one), which is why one
    margin on its own never needs linear programming. The linear relaxation ignores that counts
    are whole numbers; for a two-way table with row and column totals the bounds are whole
    numbers anyway (the constraint matrix is totally unimodular), for three or more overlapping
    margins an attacker solving integer programs may do a little better.
    """
    table = _Table.build(frame, people=people, k=k, dims=dims, margins=margins)
    mask = _hidden_mask(hidden, len(table.values))
    withheld = table.small_groups.copy()
    lookup = {(frozenset(g.margin), g.key): i for i, g in enumerate(table.groups)}
    for margin, key in withheld_totals:
        at = lookup.get((frozenset(margin), tuple(key)))
        if at is None:
            msg = (
                f"withheld total {tuple(margin)!r} = {tuple(key)!r} is not a total of the given margins. "
                "Pass SuppressionSummary.withheld_totals from the same call to suppress()."
            )
            raise InputError(msg)
        withheld[at] = True
    return [_describe(table, found) for found in _find_disclosures(table, mask, withheld)]


class _Component:
    """Hidden cells tied together by published totals, with the totals that constrain them.

    Solutions of earlier programs are kept as feasible points; a question that a known point
    already answers needs no new solve."""

    def __init__(self, cells: npt.NDArray[np.intp], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> None:
        self.cells = cells
        self.position = {int(c): i for i, c in enumerate(cells)}
        self.a = a
        self.b = b
        self.points = np.empty((0, len(cells)))

    def weights(self, cells: Iterable[int]) -> npt.NDArray[np.float64]:
        w = np.zeros(len(self.cells))
        for c in cells:
            w[self.position[c]] = 1.0
        return w

    def seen_above(self, w: npt.NDArray[np.float64], level: float) -> bool:
        return bool(len(self.points)) and float((self.points @ w).max()) > level

    def seen_below(self, w: npt.NDArray[np.float64], level: float) -> bool:
        return bool(len(self.points)) and float((self.points @ w).min()) < level

    def settle(self, up: npt.NDArray[np.float64], down: npt.NDArray[np.float64]) -> None:
        """Find feasible points in which each cell reaches ``up`` or falls to ``down``, in batches.

        Each batch is one program that lifts every unsettled cell towards ``up`` at once
        (maximise the sum of min(x, up)); batches stop when one settles nothing new. On a large
        table this settles most cells without a program of their own."""
        if len(self.b) < 2:
            return
        n = len(self.cells)
        lift = sparse.hstack([-sparse.eye(n), sparse.eye(n)])  # y - x <= 0
        a_eq = sparse.hstack([sparse.csr_array(self.a), sparse.csr_array((len(self.b), n))])
        open_cells = n + 1
        while True:
            unsettled = np.ones(n, dtype=bool)
            if len(self.points):
                unsettled = (self.points.max(axis=0) < up - _TOL) & (self.points.min(axis=0) > down + _TOL)
            if not unsettled.any() or unsettled.sum() >= open_cells:
                return
            open_cells = int(unsettled.sum())
            result = linprog(
                np.concatenate([np.zeros(n), -unsettled.astype(float)]),
                A_ub=lift,
                b_ub=np.zeros(n),
                A_eq=a_eq,
                b_eq=self.b,
                bounds=[(0, None)] * n + [(0, float(t)) for t in np.where(unsettled, up, 0.0)],
                method="highs",
            )
            self._keep(result, n)

    def high(self, w: npt.NDArray[np.float64]) -> float:
        if len(self.b) == 0:
            return math.inf if w.any() else 0.0
        if len(self.b) == 1:  # one total: the selected cells can take all of it
            return float(self.b[0]) if w.any() else 0.0
        return -self._solve(-w)

    def low(self, w: npt.NDArray[np.float64]) -> float:
        if len(self.b) == 0:
            return 0.0
        if len(self.b) == 1:  # one total: the unselected cells can take all of it, unless there are none
            return float(self.b[0]) if w.all() else 0.0
        return self._solve(w)

    def _solve(self, c: npt.NDArray[np.float64]) -> float:
        result = linprog(c, A_eq=self.a, b_eq=self.b, bounds=(0, None), method="highs")
        self._keep(result, len(self.cells))
        return float(result.fun)

    def _keep(self, result: OptimizeResult, n: int) -> None:
        if result.status != 0:  # pragma: no cover - the true values are always feasible
            msg = f"the disclosure audit's linear program failed: {result.message}"
            raise RuntimeError(msg)
        self.points = np.vstack([self.points, np.asarray(result.x[:n], dtype=float)])


def _components(table: _Table, hidden: npt.NDArray[np.bool_], withheld: npt.NDArray[np.bool_]) -> dict[int, _Component]:
    """Each hidden cell's component, keyed by cell."""
    parent = list(range(len(table.values)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    constraints: list[tuple[npt.NDArray[np.intp], float]] = []
    for g, group in enumerate(table.groups):
        inside = group.cells[hidden[group.cells]]
        if withheld[g] or len(inside) == 0:
            continue
        visible = group.cells[~hidden[group.cells]]
        constraints.append((inside, float(group.total - table.values[visible].sum())))
        first = root(int(inside[0]))
        for c in inside[1:]:
            parent[root(int(c))] = first
    members: dict[int, list[int]] = {}
    for c in np.flatnonzero(hidden):
        members.setdefault(root(int(c)), []).append(int(c))
    rows: dict[int, list[tuple[npt.NDArray[np.intp], float]]] = {r: [] for r in members}
    for inside, rhs in constraints:
        rows[root(int(inside[0]))].append((inside, rhs))
    by_cell: dict[int, _Component] = {}
    for r, cells in members.items():
        cells_a = np.array(cells, dtype=np.intp)
        component = _Component(cells_a, np.zeros((len(rows[r]), len(cells))), np.array([rhs for _, rhs in rows[r]]))
        for i, (inside, _) in enumerate(rows[r]):
            component.a[i] = component.weights(int(c) for c in inside)
        for c in cells:
            by_cell[c] = component
    return by_cell


def _find_disclosures(table: _Table, hidden: npt.NDArray[np.bool_], withheld: npt.NDArray[np.bool_]) -> list[_Finding]:
    components = _components(table, hidden, withheld)
    for component in {id(c): c for c in components.values()}.values():
        values = table.values[component.cells].astype(float)
        primary = table.primary[component.cells]
        component.settle(np.where(primary, table.k, values + 1), np.where(primary, -np.inf, values - 1))
    findings: list[_Finding] = []
    for cell in np.flatnonzero(hidden):
        component = components[int(cell)]
        w = component.weights([int(cell)])
        value = float(table.values[cell])
        if table.primary[cell]:
            need = table.k - _TOL  # the attacker must not be able to rule out k or more
            if component.seen_above(w, need) or component.high(w) >= need:
                continue
        elif _not_pinned(component, w, value):
            continue
        low, high = component.low(w), component.high(w)
        exact = math.ceil(low - _TOL) >= math.floor(high + _TOL)
        findings.append(_Finding("exact" if exact else "below_k", low, high, cell=int(cell)))
    for g, group in enumerate(table.groups):
        if withheld[g] and _total_is_exact(group, hidden, components, table.values):
            findings.append(_Finding("exact", group.total, group.total, group=g))
    return findings


def _total_is_exact(
    group: _Group,
    hidden: npt.NDArray[np.bool_],
    components: dict[int, _Component],
    values: npt.NDArray[np.int64],
) -> bool:
    """Whether a withheld total is pinned: the sum of its hidden cells, per component, is."""
    parts: dict[int, tuple[_Component, list[int]]] = {}
    for cell in group.cells[hidden[group.cells]]:
        component = components[int(cell)]
        parts.setdefault(id(component), (component, []))[1].append(int(cell))
    for component, cells in parts.values():
        if _not_pinned(component, component.weights(cells), float(values[cells].sum())):
            return False
    return True


def _not_pinned(component: _Component, w: npt.NDArray[np.float64], value: float) -> bool:
    """Whether the weighted sum can take a whole number other than ``value`` (bounds rounded inwards)."""
    up, down = value + 1 - _TOL, value - 1 + _TOL
    if component.seen_above(w, up) or component.seen_below(w, down):
        return True
    return component.high(w) >= up or component.low(w) <= down


def _describe(table: _Table, found: _Finding) -> Disclosure:
    if found.cell is not None:
        cell = found.cell
        value = int(table.values[cell])
        return Disclosure(found.reason, table.dims, table.keys[cell], table.index[cell], value, found.low, found.high)
    assert found.group is not None
    group = table.groups[found.group]
    return Disclosure(found.reason, group.margin, group.key, None, group.total, found.low, found.high)


def _hidden_mask(hidden: npt.ArrayLike, n: int) -> npt.NDArray[np.bool_]:
    mask = np.asarray(hidden)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        msg = f"hidden must hold one boolean per row ({n}), got an array of {mask.dtype} with shape {mask.shape}."
        raise InputError(msg)
    return mask.copy()
