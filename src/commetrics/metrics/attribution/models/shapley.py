"""Shapley value with the "set" characteristic function of Zhao et al. (2018).

``v(S)`` is the total of the converting journeys whose set of classes lies within S. ``v`` is then
a weighted sum of unanimity games, so the Shapley value has a closed form — each journey's credit
split equally over the distinct classes it touched — which is exact for any number of classes (no
sampling, no truncation of players). The tests check it against the definition, coalition by
coalition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..paths import Paths
from . import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions, split_credit

__all__ = ["shapley_attribution"]


def shapley_attribution(paths: Paths) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class by the Shapley value.

    Characteristic function (the "set" form of Zhao et al., 2018): ``v(S)`` is the total over
    converting journeys whose *set* of classes lies within S — order and repeats do not matter.
    ``v`` is the sum over journeys of ``weight x [set within S]``, a weighted sum of unanimity
    games, and the Shapley value is linear, so each journey's credit is split equally over its
    distinct classes. This is exact for any number of classes and splits ``v(all classes)`` = the
    totals exactly (efficiency).
    """
    live = paths.converting
    k = len(live.classes)
    owner = live.path_of_touch
    if k <= 62:  # the set of classes of each path as a bit mask: one pass over the touches
        masks = np.bitwise_or.reduceat(np.left_shift(np.int64(1), live.codes.astype(np.int64)),
                                       live.offsets[:-1]) if len(live) else np.zeros(0, np.int64)
        weight = 1.0 / np.bitwise_count(masks)
        member = [((masks >> c) & 1).astype(bool) for c in range(k)]
        return pd.DataFrame({
            "class": list(live.classes),
            "conversions": [float(np.sum((weight * live.conversions)[m])) for m in member],
            "value": [float(np.sum((weight * live.value)[m])) for m in member],
        }) if k else pd.DataFrame(columns=["class", "conversions", "value"])
    # Many classes: each class's first touch in its path.
    first_seen, distinct = _first_touches(live)
    return split_credit(live, live.codes[first_seen], 1.0 / distinct[owner[first_seen]], owner[first_seen])


def _first_touches(paths: Paths) -> tuple[np.ndarray, np.ndarray]:
    """Whether each touch is the first of its class in its path, and how many distinct classes each path has."""
    owner = paths.path_of_touch
    pair = owner.astype(np.int64) * max(len(paths.classes), 1) + paths.codes
    first_seen = np.zeros(len(pair), dtype=bool)
    first_seen[np.unique(pair, return_index=True)[1]] = True
    return first_seen, np.bincount(owner[first_seen], minlength=len(paths))


def _path_shares(paths: Paths, options: AttributionOptions) -> np.ndarray:
    """Each touch's share of its path's credit (for the bootstrap, which draws the counts): ``1 / d`` for the
    first touch of each of the path's ``d`` distinct classes, 0 for a class's repeats — the closed form above,
    which does not depend on the counts."""
    first_seen, distinct = _first_touches(paths)
    share: np.ndarray = np.where(first_seen, 1.0 / np.maximum(distinct[paths.path_of_touch], 1), 0.0)
    return share


def _run(paths: Paths, touches: pd.DataFrame | None, options: AttributionOptions) -> pd.DataFrame:
    return shapley_attribution(paths)


ATTRIBUTION_MODELS.register("shapley", AttributionModel(
    "shapley", "Shapley",
    "The exact Shapley value of the journeys' classes: each journey's credit split equally over the distinct "
    "classes it touched.",
    _run, path_shares=_path_shares))
