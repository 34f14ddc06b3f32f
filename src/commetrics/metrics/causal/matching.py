"""1:1 nearest-neighbour matching on the logit of the propensity score, and the matched estimate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import InputError
from .checks import MIN_PER_GROUP, FloatArray, IntArray, _check_groups, _same_length, _treated, _vector
from .records import Estimate
from .weighting import _normal, ess


def _find(parent: IntArray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:  # path compression
        parent[i], i = root, int(parent[i])
    return root


def match_nearest(ps_logit: Any, treated: Any, *, caliper_sd: float | None = 0.2, replace: bool = False
                  ) -> IntArray:
    """Greedy 1:1 nearest-neighbour matching of treated to control units on the logit propensity score.

    Parameters
    ----------
    ps_logit
        ``log(ps / (1 - ps))`` per unit (``scipy.special.logit(ps)``).
    treated
        1 for treated units, 0 for controls.
    caliper_sd
        A treated unit is matched only to a control within ``caliper_sd`` pooled standard
        deviations of the logit score, ``√((s²_treated + s²_control) / 2)`` (Austin 2011
        recommends 0.2). ``None``: no caliper.
    replace
        Allow a control to serve several treated units.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 2)``: row positions of (treated, control) for each pair. Treated units without
        a control inside the caliper are left out.

    Notes
    -----
    Treated units are matched in decreasing order of their score (the hardest to match first,
    MatchIt's ``m.order = "largest"``); ties go to the control that comes first in sorted order.
    """
    a = _treated(treated)
    score = _vector("ps_logit", ps_logit)
    _same_length(ps_logit=score, treated=a)
    _check_groups(a)
    treated_rows, control_rows = np.flatnonzero(a), np.flatnonzero(~a)
    order = np.argsort(score[control_rows], kind="stable")
    sorted_rows, sorted_values = control_rows[order], score[control_rows][order]
    if caliper_sd is None:
        caliper = math.inf
    else:
        if not caliper_sd > 0:
            msg = f"caliper_sd must be positive (or None for no caliper), got {caliper_sd}."
            raise InputError(msg)
        pooled = math.sqrt((np.var(score[a], ddof=1) + np.var(score[~a], ddof=1)) / 2)
        caliper = caliper_sd * pooled
    m = sorted_values.size
    # Union-find over sorted controls: the nearest unused control to the right (index, m = none)
    # and to the left (index + 1, 0 = none), so each match costs near-constant time.
    right = np.arange(m + 1, dtype=np.int64)
    left = np.arange(m + 1, dtype=np.int64)
    pairs: list[tuple[int, int]] = []
    for t in treated_rows[np.argsort(-score[treated_rows], kind="stable")]:
        value = score[t]
        position = int(np.searchsorted(sorted_values, value))
        if replace:
            candidates = [j for j in (position - 1, position) if 0 <= j < m]
        else:
            r, left_slot = _find(right, position), _find(left, position)
            candidates = [j for j in (left_slot - 1, r) if 0 <= j < m]
        if not candidates:
            continue
        best = min(candidates, key=lambda j: (abs(sorted_values[j] - value), j))
        if abs(sorted_values[best] - value) > caliper:
            continue
        pairs.append((int(t), int(sorted_rows[best])))
        if not replace:
            right[best] = best + 1
            left[best + 1] = best
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def matched_weights(pairs: Any, n: int) -> FloatArray:
    """Weights that reproduce matched pairs: how often each unit appears in them (0 if never).

    Pass them to :func:`balance` to see the balance after matching.
    """
    index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.bincount(index.ravel(), minlength=n).astype(np.float64)


def matched_estimate(y: Any, treated: Any, pairs: Any, *, confidence: float = 0.95) -> Estimate:
    """Mean treated-minus-control difference over matched pairs: an adjusted association for the treated (ATT).

    Notes
    -----
    The SE is the standard deviation of the paired differences over √k. Matching SEs are
    approximate: this one ignores that the pairs were chosen from the data (and, with
    replacement, that a reused control makes pairs dependent). Abadie & Imbens' variance is the
    reference; MatchIt's authors note that other matching SEs are not well understood. Prefer
    :func:`aipw` for the primary interval and show matched pairs as the explainable view.
    ``n_trimmed`` counts treated units that found no control inside the caliper.
    """
    a = _treated(treated)
    outcome = _vector("y", y)
    _same_length(y=outcome, treated=a)
    index = np.asarray(pairs, dtype=np.int64)
    if index.ndim != 2 or index.shape[1] != 2:
        msg = f"pairs must have shape (k, 2) as returned by match_nearest, got {index.shape}."
        raise InputError(msg)
    if index.size and (index.min() < 0 or index.max() >= a.size):
        msg = "pairs refer to rows that do not exist in y; use the pairs made from the same rows."
        raise InputError(msg)
    if index.size and (not a[index[:, 0]].all() or a[index[:, 1]].any()):
        msg = "Each pair must be (treated row, control row), as returned by match_nearest."
        raise InputError(msg)
    k = index.shape[0]
    if k < MIN_PER_GROUP:
        msg = f"Only {k} matched pairs; at least {MIN_PER_GROUP} are needed. Widen the caliper or check overlap."
        raise InputError(msg)
    differences = outcome[index[:, 0]] - outcome[index[:, 1]]
    estimate = float(differences.mean())
    se = float(differences.std(ddof=1) / math.sqrt(k))
    low, high = _normal(estimate, se, confidence)
    uses = np.bincount(index[:, 1])
    controls = int(np.count_nonzero(uses))
    method = "matching" if controls == k else "matching+replace"
    return Estimate(estimate, se, low, high, k + controls, int(a.sum()) - k, float(k), ess(uses[uses > 0]),
                    method, "att")
