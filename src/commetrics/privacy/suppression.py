"""Small-cell suppression: hide every cell of fewer than k people, and enough others that none can be worked out.

An aggregated table (one row per cell, for example one per cohort and week) is published with
some totals alongside it: a grand total, a total per cohort, and so on. Hiding the small cells
(*primary suppression*) is not enough, because a hidden cell that is the only hidden one in a
published total is that total minus the visible cells. So more cells are hidden (*complementary
suppression*) until no hidden cell can be recovered.

:func:`suppress` does both. A cheap local rule does most of the work; then :func:`audit` solves
linear programs, as an attacker would, to bound every hidden value, and :func:`suppress` keeps
hiding cells until the audit finds nothing. Correctness therefore rests on the audit, not on the
heuristic.

The model (also in the docstring of :func:`suppress`): the attacker knows every visible cell,
every published total, and that counts are never negative. A total is "published" when its
margin is listed and it was not withheld. A total of fewer than k people is itself a small cell,
so it is always withheld; and a few more totals may be withheld when they would give a small one
away. The caller must leave out the totals listed in ``SuppressionSummary.withheld_totals``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.optimize import OptimizeResult, linprog

from commetrics.errors import InputError

__all__ = [
    "MIN_K",
    "Disclosure",
    "SuppressionSummary",
    "audit",
    "check_k",
    "suppress",
    "suppression_summary",
]

MIN_K = 5  # the floor for k: below this a cell is close to naming someone, whatever the config says
SUPPRESSED = "suppressed"  # the boolean column suppress() adds
_TOL = 1e-6  # slack for the floating-point bounds that the LP solver returns

Margin = tuple[str, ...]
Key = tuple[object, ...]


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class SuppressionSummary:
    """What :func:`suppress` hid, so that an output can say "suppression applied".

    Found in ``out.attrs["suppression"]`` (or through :func:`suppression_summary`).

    Attributes
    ----------
    k
        The threshold used.
    primary
        Cells hidden because 0 < people < k.
    complementary
        Further cells hidden so that no hidden cell can be worked out from the totals.
    withheld_totals
        ``(margin, key)`` of every total that must **not** be published: totals of fewer than k
        people, plus any that would let one be worked out. ``margin`` is ordered as ``dims``;
        ``key`` holds the margin's values in the same order (``()`` for the grand total).
    """

    k: int
    primary: int
    complementary: int
    withheld_totals: tuple[tuple[Margin, Key], ...] = ()

    @property
    def applied(self) -> bool:
        """True when anything at all was hidden (a cell or a total)."""
        return bool(self.primary or self.complementary or self.withheld_totals)

    def withheld(self, margin: Sequence[str]) -> set[Key]:
        """Keys of the withheld totals of one margin (given in any order)."""
        wanted = frozenset(margin)
        return {key for m, key in self.withheld_totals if frozenset(m) == wanted}


@dataclass(frozen=True)
class Disclosure:
    """A hidden cell or withheld total that the published figures give away.

    ``reason`` is ``"exact"`` when its value can be worked out exactly (the feasible interval
    ``[low, high]`` is one whole number), or ``"below_k"`` when a primary cell can be shown to
    hold fewer than k people (``high < k``): the hidden cells around it then form an implicit
    cell of fewer than k people.
    """

    reason: Literal["exact", "below_k"]
    margin: Margin  # the dims for a cell, the margin's dims for a total
    key: Key  # the cell's (or total's) dimension values
    row: Hashable | None  # the frame's index label of the cell; None for a total
    value: int  # the true people count
    low: float  # the smallest value consistent with everything published
    high: float  # the largest (inf when nothing bounds it)

    @property
    def is_total(self) -> bool:
        return self.row is None


# --------------------------------------------------------------------------- public functions


def check_k(k: int) -> int:
    """Return ``k`` as an int, or raise :class:`InputError` if it is not a whole number >= 5.

    Cells of fewer than 5 people come close to naming them, so the floor is not configurable.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        msg = (
            f"k must be a whole number of people, got {k!r}. "
            f"Set privacy.min_cell_size in commetrics.toml (default 10, never below {MIN_K})."
        )
        raise InputError(msg)
    if k < MIN_K:
        msg = (
            f"k = {k} is below the floor of {MIN_K}: cells that small come close to naming people. "
            f"Set privacy.min_cell_size to {MIN_K} or more (default 10)."
        )
        raise InputError(msg)
    return int(k)


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


def suppression_summary(frame: pd.DataFrame) -> SuppressionSummary:
    """The :class:`SuppressionSummary` that :func:`suppress` attached to ``frame``."""
    summary = frame.attrs.get("suppression")
    if not isinstance(summary, SuppressionSummary):
        msg = (
            "this frame carries no suppression summary. Pass it through privacy.suppress() first; "
            "pandas drops attrs in some operations (merge, concat), so read the summary right away."
        )
        raise InputError(msg)
    return summary


# --------------------------------------------------------------------------- the table model


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


# --------------------------------------------------------------------------- complementary suppression


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


# --------------------------------------------------------------------------- the audit


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


# --------------------------------------------------------------------------- input and output


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


def _hidden_mask(hidden: npt.ArrayLike, n: int) -> npt.NDArray[np.bool_]:
    mask = np.asarray(hidden)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        msg = f"hidden must hold one boolean per row ({n}), got an array of {mask.dtype} with shape {mask.shape}."
        raise InputError(msg)
    return mask.copy()


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
