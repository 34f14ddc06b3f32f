"""Spearman's rank correlation of a resample from counts of its distinct pairs, not by ranking its rows.

A cluster bootstrap resample repeats rows: it is the original rows with weights (how many times each was
drawn). Spearman's rho is Pearson's correlation of the average ranks, and the average rank of a value
depends only on how many resampled points lie below it and how many share it. So the weighted counts of
each distinct ``(x, y)`` pair are enough: a ``bincount`` per replicate instead of ranking and correlating
every resampled row (scipy's ``spearmanr``), with the same rho to rounding (``tests/test_impact.py``
compares it with ``spearmanr`` on the repeated rows). Scores take 11 values and participation a few
hundred, so there are far fewer distinct pairs than answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RankPairs"]


@dataclass(frozen=True)
class RankPairs:
    """The distinct ``(x, y)`` pairs of paired samples, and which pair each row holds."""

    row_pair: np.ndarray  # for each row, its pair's index
    pair_x: np.ndarray  # for each pair, the index of its x among the distinct x (ascending)
    pair_y: np.ndarray
    n_x: int
    n_y: int

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> RankPairs:
        _, ix = np.unique(x, return_inverse=True)
        _, iy = np.unique(y, return_inverse=True)
        n_x, n_y = int(ix.max(initial=-1)) + 1, int(iy.max(initial=-1)) + 1
        pairs, row_pair = np.unique(ix.ravel() * n_y + iy.ravel(), return_inverse=True)
        return cls(row_pair.ravel(), pairs // n_y, pairs % n_y, n_x, n_y)

    def rho(self, weights: np.ndarray) -> float:
        """Spearman's rho of the sample that holds row ``i`` ``weights[i]`` times (NaN when either side is
        constant in it, as for a sample that never varies)."""
        per_pair = np.bincount(self.row_pair, weights=weights, minlength=len(self.pair_x))
        n = per_pair.sum()
        per_x = np.bincount(self.pair_x, weights=per_pair, minlength=self.n_x)
        per_y = np.bincount(self.pair_y, weights=per_pair, minlength=self.n_y)
        if np.count_nonzero(per_x) < 2 or np.count_nonzero(per_y) < 2:
            return math.nan
        mean = (n + 1) / 2  # the mean of average ranks 1..n
        rank_x = np.cumsum(per_x) - per_x + (per_x + 1) / 2 - mean
        rank_y = np.cumsum(per_y) - per_y + (per_y + 1) / 2 - mean
        covariance = float(np.sum(per_pair * rank_x[self.pair_x] * rank_y[self.pair_y]))
        return covariance / math.sqrt(float(np.sum(per_x * rank_x**2)) * float(np.sum(per_y * rank_y**2)))
