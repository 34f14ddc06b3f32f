"""Small-cell suppression (AGG-1) and complementary suppression (AGG-2).

Hand-worked tables first, then properties over random tables, then an independent solver attack
over 200 seeded tables. The attacker below shares no code with the module's audit: it builds one
linear program over all hidden cells, as someone holding the published table would.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from commetrics.errors import InputError
from commetrics.privacy.suppression import (
    MIN_K,
    SuppressionSummary,
    audit,
    check_k,
    suppress,
    suppression_summary,
)

K = 10


def one_way(counts: Sequence[int]) -> pd.DataFrame:
    return pd.DataFrame({"cohort": [f"c{i}" for i in range(len(counts))], "people": list(counts)})


def two_way(grid: Sequence[Sequence[int]]) -> pd.DataFrame:
    rows = [(f"r{i}", f"w{j}", n) for i, row in enumerate(grid) for j, n in enumerate(row)]
    return pd.DataFrame(rows, columns=["cohort", "window", "people"])


def hidden_cells(out: pd.DataFrame, dims: Sequence[str] = ("cohort", "window")) -> set[tuple[object, ...]]:
    return set(out.loc[out["suppressed"], list(dims)].itertuples(index=False, name=None))


def attack(
    frame: pd.DataFrame,
    hidden: np.ndarray,
    *,
    dims: Sequence[str],
    margins: Sequence[Sequence[str]],
    withheld: SuppressionSummary | None = None,
) -> dict[int, tuple[float, float]]:
    """The attacker's interval for every hidden cell: min and max of one LP over all hidden cells,
    given every visible cell and every published total. An upper bound is only solved for
    when needed (max first: when it already shows the cell is not pinned and reaches k, the
    lower bound is reported as 0)."""
    values = frame["people"].to_numpy()
    cells = np.flatnonzero(hidden)
    position = {int(c): i for i, c in enumerate(cells)}
    a_rows, b = [], []
    for margin in margins:
        groups = frame.groupby(list(margin)).indices if margin else {(): np.arange(len(frame))}
        withheld_keys = withheld.withheld(margin) if withheld else set()
        for key, members in groups.items():
            key_t = key if isinstance(key, tuple) else (key,)
            total = int(values[members].sum())
            if key_t in withheld_keys or 0 < total < K:
                continue
            row = np.zeros(len(cells))
            for m in members:
                if hidden[m]:
                    row[position[int(m)]] = 1
            if row.any():
                a_rows.append(row)
                b.append(total - values[members][~hidden[members]].sum())
    intervals: dict[int, tuple[float, float]] = {}
    for c in cells:
        objective = np.zeros(len(cells))
        objective[position[int(c)]] = 1
        if not a_rows:
            intervals[int(c)] = (0.0, math.inf)
            continue
        top = linprog(-objective, A_eq=np.array(a_rows), b_eq=b, bounds=(0, None), method="highs")
        high = math.inf if top.status == 3 else -top.fun
        if high >= max(values[c] + 1, K) - 1e-6:
            intervals[int(c)] = (0.0, high)
            continue
        low = linprog(objective, A_eq=np.array(a_rows), b_eq=b, bounds=(0, None), method="highs").fun
        intervals[int(c)] = (low, high)
    return intervals


def recovered(intervals: dict[int, tuple[float, float]]) -> list[int]:
    """Cells whose interval holds a single whole number."""
    return [
        c
        for c, (low, high) in intervals.items()
        if math.isfinite(high) and math.ceil(low - 1e-6) >= math.floor(high + 1e-6)
    ]


# --------------------------------------------------------------------------- k


def test_check_k_refuses_below_five() -> None:
    assert check_k(MIN_K) == 5
    assert check_k(10) == 10
    with pytest.raises(InputError, match="below the floor of 5"):
        check_k(4)
    with pytest.raises(InputError, match="whole number"):
        check_k(True)
    with pytest.raises(InputError, match="whole number"):
        check_k("10")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="below the floor"):
        suppress(one_way([3, 40]), people="people", k=3, dims=("cohort",))


# --------------------------------------------------------------------------- hand-worked tables


def test_one_way_grand_total_hides_the_smallest_other_non_zero_cell() -> None:
    """3 < 10 is hidden; alone under the grand total (70) it would be 70 - 0 - 15 - 40 - 12.
    The smallest non-zero partner is 12 (the 0 is skipped); 3 + 12 = 15 >= k, so one is enough."""
    table = one_way([3, 0, 15, 40, 12])
    out = suppress(table, people="people", k=K, dims=("cohort",), margins=[()])
    assert out["suppressed"].tolist() == [True, False, False, False, True]
    assert out["people"].dtype == "Int64"
    assert out["people"].isna().tolist() == [True, False, False, False, True]
    assert out["people"].iloc[1] == 0  # a zero reveals nobody: published
    summary = suppression_summary(out)
    assert (summary.primary, summary.complementary, summary.withheld_totals) == (1, 1, ())
    assert summary.applied


def test_one_way_without_totals_hides_only_small_cells() -> None:
    out = suppress(one_way([3, 0, 15, 40, 12]), people="people", k=K, dims=("cohort",))
    assert out["suppressed"].tolist() == [True, False, False, False, False]
    assert suppression_summary(out).complementary == 0


def test_nothing_small_means_nothing_hidden() -> None:
    out = suppress(one_way([0, 15, 40]), people="people", k=K, dims=("cohort",), margins=[()])
    assert not out["suppressed"].any()
    assert not suppression_summary(out).applied
    assert out["people"].tolist() == [0, 15, 40]


def test_two_small_cells_under_a_total_need_k_people_between_them() -> None:
    """2 and 3 hidden together under the total 57 publish their sum, 57 - 12 - 40 = 5 < k: an
    implicit cell of 5 people. Hiding 12 as well leaves 17 to share, so neither is bounded below k."""
    table = one_way([2, 3, 12, 40])
    primary_only = np.array([True, True, False, False])
    found = audit(table, primary_only, people="people", k=K, dims=("cohort",), margins=[()])
    assert [(d.key, d.reason, d.high) for d in found] == [(("c0",), "below_k", 5.0), (("c1",), "below_k", 5.0)]

    out = suppress(table, people="people", k=K, dims=("cohort",), margins=[()])
    assert out["suppressed"].tolist() == [True, True, True, False]
    assert audit(table, out["suppressed"].to_numpy(), people="people", k=K, dims=("cohort",), margins=[()]) == []


def test_audit_finds_the_exact_disclosure_that_primary_suppression_alone_leaves() -> None:
    """Without complementary suppression the hidden 3 is the total minus the rest."""
    table = one_way([3, 0, 15, 40, 12])
    found = audit(
        table, table["people"].between(1, K - 1).to_numpy(), people="people", k=K, dims=("cohort",), margins=[()]
    )
    assert len(found) == 1
    assert (found[0].reason, found[0].key, found[0].row, found[0].low, found[0].high) == ("exact", ("c0",), 0, 3, 3)
    assert recovered(attack(table, table["people"].between(1, K - 1).to_numpy(), dims=("cohort",), margins=[()])) == [0]


LEAKY = [  # cohort x window, published with a total per cohort and per window
    [3, 20, 50],
    [15, 60, 70],
    [40, 80, 90],
]


def test_two_way_naive_fix_leaves_a_cell_recoverable_and_the_iteration_closes_it() -> None:
    """The naive fix gives the small r0/w0 one partner in its row (r0/w1 = 20) and one in its column
    (r1/w0 = 15). But r0/w1 is then alone in window w1, so w1's total gives it away; with it, the
    row total gives away r0/w0. Hiding r1/w1 (60) closes the rectangle."""
    table = two_way(LEAKY)
    margins = [("cohort",), ("window",)]
    naive = np.zeros(9, dtype=bool)
    naive[[0, 1, 3]] = True  # r0/w0, r0/w1, r1/w0
    found = audit(table, naive, people="people", k=K, dims=("cohort", "window"), margins=margins)
    assert {(d.key, d.reason) for d in found} == {
        (("r0", "w0"), "exact"),
        (("r0", "w1"), "exact"),
        (("r1", "w0"), "exact"),
    }
    assert sorted(recovered(attack(table, naive, dims=("cohort", "window"), margins=margins))) == [0, 1, 3]

    out = suppress(table, people="people", k=K, dims=("cohort", "window"), margins=margins)
    assert hidden_cells(out) == {("r0", "w0"), ("r0", "w1"), ("r1", "w0"), ("r1", "w1")}
    hidden = out["suppressed"].to_numpy()
    assert audit(table, hidden, people="people", k=K, dims=("cohort", "window"), margins=margins) == []
    assert recovered(attack(table, hidden, dims=("cohort", "window"), margins=margins)) == []


def test_a_small_total_is_withheld_with_a_sibling_so_the_grand_total_does_not_give_it_away() -> None:
    """Cohort r0 has 4 people in all, so its total is itself a small cell and is withheld. The
    grand total minus the other cohort totals would still give it away; one more cohort total
    (with hidden cells in it) is withheld so that only the two together are known."""
    table = two_way([[1, 3, 0], [20, 30, 40], [50, 60, 70]])
    margins = [(), ("cohort",)]
    out = suppress(table, people="people", k=K, dims=("cohort", "window"), margins=margins)
    summary = suppression_summary(out)
    assert (("cohort",), ("r0",)) in summary.withheld_totals
    assert len(summary.withheld(("cohort",))) == 2
    assert summary.withheld(()) == set()
    hidden = out["suppressed"].to_numpy()
    assert (
        audit(
            table,
            hidden,
            people="people",
            k=K,
            dims=("cohort", "window"),
            margins=margins,
            withheld_totals=summary.withheld_totals,
        )
        == []
    )
    # with only the small total withheld, its value is the grand total minus the others
    only_small = audit(table, hidden, people="people", k=K, dims=("cohort", "window"), margins=margins)
    assert any(d.is_total and d.key == ("r0",) and d.reason == "exact" for d in only_small)
    assert recovered(attack(table, hidden, dims=("cohort", "window"), margins=margins, withheld=summary)) == []


def test_hidden_rows_blank_every_figure_and_keep_sensible_dtypes() -> None:
    table = one_way([3, 0, 15, 40, 12]).assign(
        converters=[1, 0, 5, 20, 6],
        rate=[1 / 3, math.nan, 1 / 3, 0.5, 0.5],
        flagged=[True, False, False, True, False],
        label=["x", "y", "z", "u", "v"],
    )
    table.index = [10, 11, 12, 13, 14]
    out = suppress(table, people="people", k=K, dims=("cohort",), margins=[()])
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert out["suppressed"].dtype == bool
    assert str(out["converters"].dtype) == "Int64"
    assert out["converters"].isna().tolist() == [True, False, False, False, True]
    assert out["rate"].dtype == float
    assert math.isnan(out["rate"].iloc[4])
    assert out["rate"].iloc[3] == 0.5
    assert str(out["flagged"].dtype) == "boolean"
    assert out["flagged"].isna().tolist() == [True, False, False, False, True]
    assert out["label"].tolist() == ["x", "y", "z", "u", "v"]  # not numeric: left alone by default
    assert out["cohort"].tolist() == table["cohort"].tolist()
    assert "suppressed" not in table.columns  # the input is not modified

    chosen = suppress(table, people="people", k=K, dims=("cohort",), values=["rate"])
    assert chosen["converters"].tolist() == [1, 0, 5, 20, 6]
    assert math.isnan(chosen["rate"].iloc[0])


def test_no_dims_means_one_cell() -> None:
    out = suppress(pd.DataFrame({"people": [7], "share": [0.5]}), people="people", k=K)
    assert out["suppressed"].tolist() == [True]
    assert math.isnan(out["share"].iloc[0])


def test_empty_table() -> None:
    out = suppress(one_way([]), people="people", k=K, dims=("cohort",), margins=[()])
    assert out.empty
    assert "suppressed" in out.columns
    assert not suppression_summary(out).applied


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (one_way([3, 40]), {"dims": ("cohorts",)}, r"no column 'cohorts'.*Columns found: cohort, people"),
        (one_way([3, 40]), {"dims": ("cohort",), "people": "n"}, "no column 'n'"),
        (one_way([3, -1]), {"dims": ("cohort",)}, "negative count"),
        (one_way([3, 40]).assign(people=[3.0, 2.5]), {"dims": ("cohort",)}, "whole numbers.*2.5"),
        (one_way([3, 40]).assign(people=["3", "40"]), {"dims": ("cohort",)}, "whole numbers.*object"),
        (one_way([3, 40]).assign(people=[3.0, math.nan]), {"dims": ("cohort",)}, "missing values"),
        (one_way([3, 40]).assign(cohort=["a", "a"]), {"dims": ("cohort",)}, r"cell \('a',\).*appears 2 times"),
        (one_way([3, 40]), {}, "single cell"),
        (one_way([3, 40]), {"dims": "cohort"}, r"not the string 'cohort'"),
        (one_way([3, 40]), {"dims": ("cohort",), "margins": ["cohort"]}, r"write \('cohort',\)"),
        (two_way([[3, 40]]), {"dims": ("cohort", "window"), "margins": [("week",)]}, "'week', which is not one"),
        (one_way([3, 40]), {"dims": ("cohort",), "margins": [("cohort",)]}, "totals are the cells themselves"),
        (one_way([3, 40]).assign(suppressed=False), {"dims": ("cohort",)}, "already has a 'suppressed' column"),
        (one_way([3, 40]).assign(cohort=["a", None]), {"dims": ("cohort",)}, "missing values"),
        (one_way([3, 40]), {"dims": ("cohort",), "values": ["cohort"]}, "are dims"),
        (one_way([3, 40]), {"dims": ("cohort",), "values": ["rate"]}, "no column 'rate'"),
    ],
)
def test_bad_input_says_what_to_do(frame: pd.DataFrame, kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"people": "people", "k": K, **kwargs}
    with pytest.raises(InputError, match=match):
        suppress(frame, **arguments)  # type: ignore[arg-type]


def test_audit_checks_its_own_arguments() -> None:
    table = one_way([3, 40])
    with pytest.raises(InputError, match="one boolean per row"):
        audit(table, [True], people="people", k=K, dims=("cohort",))
    with pytest.raises(InputError, match="not a total of the given margins"):
        audit(
            table,
            [True, True],
            people="people",
            k=K,
            dims=("cohort",),
            margins=[()],
            withheld_totals=[(("cohort",), ("c0",))],
        )
    with pytest.raises(InputError, match="no suppression summary"):
        suppression_summary(table)


# --------------------------------------------------------------------------- properties (AGG-1, AGG-2)

COUNTS = st.one_of(st.just(0), st.integers(1, K - 1), st.integers(K, 400))


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, tuple[str, ...], list[tuple[str, ...]]]:
    """A random one- or two-way table (1-8 x 1-8, some cells possibly absent) and published margins."""
    two = draw(st.booleans())
    n_rows = draw(st.integers(1, 8))
    n_cols = draw(st.integers(1, 8)) if two else 1
    keys = list(itertools.product(range(n_rows), range(n_cols)))
    present = draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys))) if two else [True] * len(keys)
    keys = [key for key, keep in zip(keys, present, strict=True) if keep] or keys[:1]
    counts = draw(st.lists(COUNTS, min_size=len(keys), max_size=len(keys)))
    frame = pd.DataFrame({"a": [f"a{i}" for i, _ in keys], "b": [f"b{j}" for _, j in keys], "people": counts})
    if two:
        dims: tuple[str, ...] = ("a", "b")
        options: list[tuple[str, ...]] = [(), ("a",), ("b",)]
    else:
        dims, options = ("a",), [()]
        frame = frame.drop(columns="b")
    margins = [m for m in options if draw(st.booleans())]
    return frame, dims, margins


def small_totals(frame: pd.DataFrame, margins: Sequence[tuple[str, ...]]) -> set[tuple[tuple[str, ...], object]]:
    found: set[tuple[tuple[str, ...], object]] = set()
    for margin in margins:
        if not margin:
            totals = {(): int(frame["people"].sum())}
        else:
            totals = {
                key if isinstance(key, tuple) else (key,): total
                for key, total in frame.groupby(list(margin))["people"].sum().items()
            }
        found.update((margin, key) for key, total in totals.items() if 0 < total < K)
    return found


@settings(max_examples=150, deadline=None)
@given(tables())
def test_suppressed_tables_publish_no_small_cell_and_give_nothing_away(
    case: tuple[pd.DataFrame, tuple[str, ...], list[tuple[str, ...]]],
) -> None:
    frame, dims, margins = case
    out = suppress(frame, people="people", k=K, dims=dims, margins=margins)
    summary = suppression_summary(out)
    shown = out.loc[~out["suppressed"], "people"]
    # (a) no published cell is derived from 1..k-1 people, and no published total either
    assert not shown.between(1, K - 1).any()
    assert small_totals(frame, margins) <= set(summary.withheld_totals)
    # (b) the audit finds nothing: no exact recovery, no primary cell bounded below k
    hidden = out["suppressed"].to_numpy()
    assert (
        audit(frame, hidden, people="people", k=K, dims=dims, margins=margins, withheld_totals=summary.withheld_totals)
        == []
    )
    # (c) published cells keep their values; the counts add up
    assert (shown.to_numpy() == frame.loc[~hidden, "people"].to_numpy()).all()
    assert summary.primary == int(frame["people"].between(1, K - 1).sum())
    assert summary.primary + summary.complementary == int(hidden.sum())


def generated_tables(seed: int, n: int) -> list[tuple[pd.DataFrame, tuple[str, ...], list[tuple[str, ...]]]]:
    """``n`` seeded tables in the shape of report tables: mostly large counts, some small and zero."""
    rng = np.random.default_rng(seed)
    made: list[tuple[pd.DataFrame, tuple[str, ...], list[tuple[str, ...]]]] = []
    for _ in range(n):
        n_rows, n_cols = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        kind = rng.choice(["zero", "small", "large"], size=(n_rows, n_cols), p=[0.15, 0.25, 0.6])
        counts = np.where(
            kind == "zero",
            0,
            np.where(kind == "small", rng.integers(1, K, (n_rows, n_cols)), rng.integers(K, 300, (n_rows, n_cols))),
        )
        frame = two_way(counts.tolist()).rename(columns={"cohort": "a", "window": "b"})
        options: list[tuple[str, ...]] = [(), ("a",), ("b",)]
        margins = [m for m in options if rng.random() < 0.6] or [("a",), ("b",)]
        made.append((frame, ("a", "b"), margins))
    return made


def test_solver_attack_on_200_tables_recovers_no_suppressed_value() -> None:
    """AGG-2: an attacker with an LP solver, the published cells and the published totals pins
    no suppressed value, and bounds no small cell below k. (With row, column and grand totals
    the constraint matrix is totally unimodular, so LP bounds are also the integer bounds.)"""
    exact, below_k, hidden_total = 0, 0, 0
    for frame, dims, margins in generated_tables(seed=20240607, n=200):
        out = suppress(frame, people="people", k=K, dims=dims, margins=margins)
        hidden = out["suppressed"].to_numpy()
        intervals = attack(frame, hidden, dims=dims, margins=margins, withheld=suppression_summary(out))
        exact += len(recovered(intervals))
        small = frame["people"].between(1, K - 1).to_numpy()
        below_k += sum(1 for c, (_, high) in intervals.items() if small[c] and high < K - 1e-6)
        hidden_total += len(intervals)
    assert hidden_total > 1000  # the attack had plenty to work on
    assert (exact, below_k) == (0, 0)


def test_the_attack_does_find_values_when_only_small_cells_are_hidden() -> None:
    """The same attacker on the same tables with complementary suppression switched off (only the
    small cells hidden) recovers values: the attack above can fail."""
    exact = 0
    for frame, dims, margins in generated_tables(seed=20240607, n=40):
        primary = frame["people"].between(1, K - 1).to_numpy()
        pinned = recovered(attack(frame, primary, dims=dims, margins=margins))
        exact += len(pinned)
        found = audit(frame, primary, people="people", k=K, dims=dims, margins=margins)
        assert {d.row for d in found if not d.is_total and d.reason == "exact"} == set(pinned)
    assert exact > 20


def test_a_report_sized_table_is_quick_and_safe() -> None:
    """40 cohorts x 50 windows with every total: the audit's batched programs keep this well under
    a second on a laptop; checked here for safety, not timed."""
    rng = np.random.default_rng(7)
    grid = rng.choice([0, 2, 5, 8, 12, 30, 80, 200], size=(40, 50), p=[0.1, 0.05, 0.05, 0.05, 0.15, 0.2, 0.2, 0.2])
    table = two_way(grid.tolist())
    margins = [(), ("cohort",), ("window",)]
    out = suppress(table, people="people", k=K, dims=("cohort", "window"), margins=margins)
    summary = suppression_summary(out)
    assert summary.primary == int(((grid > 0) & (grid < K)).sum())
    assert (
        audit(
            table,
            out["suppressed"].to_numpy(),
            people="people",
            k=K,
            dims=("cohort", "window"),
            margins=margins,
            withheld_totals=summary.withheld_totals,
        )
        == []
    )
