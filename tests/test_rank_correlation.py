"""Spearman's rho of a weighted resample from pair counts equals scipy's ``spearmanr`` on the repeated rows."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from commetrics.metrics.impact.rank_correlation import RankPairs


def _scipy(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    rows = np.repeat(np.arange(len(x)), weights.astype(int))
    a, b = x[rows], y[rows]
    return float(spearmanr(a, b).statistic) if a.size and np.ptp(a) > 0 and np.ptp(b) > 0 else math.nan


def test_a_cluster_bootstrap_gives_scipys_rho() -> None:
    """The survey bootstrap's draws: members resampled, each member's answers repeated together."""
    rng = np.random.default_rng(3)
    n = 5_000
    x = rng.poisson(2.5, n).astype(float)
    y = np.clip(np.round(rng.normal(7, 2, n) + 0.3 * x), 0, 10)
    ids, index = np.unique(rng.integers(0, 3_000, n), return_inverse=True)
    pairs = RankPairs.of(x, y)
    assert len(pairs.pair_x) < n / 10  # far fewer distinct pairs than rows: that is the saving
    for _ in range(40):
        copies = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        weights = copies[index].astype(float)
        assert math.isclose(pairs.rho(weights), _scipy(x, y, weights), rel_tol=1e-12, abs_tol=1e-14)
    assert math.isclose(pairs.rho(np.ones(n)), float(spearmanr(x, y).statistic), rel_tol=1e-12)


def test_a_side_that_never_varies_has_no_rho() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([5.0, 5.0, 6.0, 7.0])
    pairs = RankPairs.of(x, y)
    assert math.isnan(pairs.rho(np.array([3.0, 1.0, 0.0, 0.0])))  # only y = 5 drawn
    assert math.isnan(pairs.rho(np.array([2.0, 0.0, 0.0, 0.0])))
    assert pairs.rho(np.array([1.0, 1.0, 1.0, 1.0])) > 0.9


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10), st.integers(0, 4)), min_size=1, max_size=60))
def test_any_weights_give_scipys_rho(rows: list[tuple[int, int, int]]) -> None:
    x = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] for r in rows], dtype=float)
    weights = np.array([r[2] for r in rows], dtype=float)
    expected = _scipy(x, y, weights)
    got = RankPairs.of(x, y).rho(weights)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
