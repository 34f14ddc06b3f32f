"""The attribution models, in a registry: one module per family, each registering its models at import.

A model is an :class:`AttributionModel`: a name, the label the report and the command line show, a
one-sentence description, and ``run(paths, touches, options)`` returning ``class``,
``conversions`` and ``value`` per class, which sum to the totals of the converting journeys.
``touches`` (one row per touch of a converting journey, with its time) exists only for journeys
built from the store; a model that needs it sets ``needs_touch_times`` and cannot run on an
aggregated path file.

:data:`ATTRIBUTION_MODELS` finds the modules of this package the first time it is read (and the
entry points of the group ``commetrics.attribution_models``), so adding a model is adding a module
here that calls ``ATTRIBUTION_MODELS.register(...)``. Registration order is the display order:
the built-in families are imported by :mod:`commetrics.metrics.attribution` in the order
heuristic (first, last, linear, position), time decay, Markov, Shapley; other models follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ....errors import InputError
from ....registry import Registry
from ..paths import Paths

__all__ = ["ATTRIBUTION_MODELS", "AttributionModel", "AttributionOptions", "split_credit"]


@dataclass(frozen=True)
class AttributionOptions:
    """What every model may read; each reads only its own settings.

    Position weights are checked here, once: ``first`` and ``last`` 0 or more, their sum above 0
    and at most 1.
    """

    half_life_days: float = 7.0  # time decay: the age at which a touch weighs half
    first: float = 0.4  # position-based: share of the first touch
    last: float = 0.4  # ... and of the last; the middle touches share the rest
    order: int = 1  # Markov chain order, 1 to 4

    def __post_init__(self) -> None:
        first, last = self.first, self.last
        if not (first >= 0 and last >= 0 and first + last <= 1 and first + last > 0):
            raise InputError(f"Position weights must be 0 or more, with first + last above 0 and at most 1 (the "
                             f"touches between share the rest); got first={first}, last={last}.")


@dataclass(frozen=True)
class AttributionModel:
    """One attribution model, as the registry holds it.

    ``touch_shares`` is optional, for a model that needs touch times: each touch's share of its
    journey's credit, ``(touches, options) -> array``. With it the bootstrap reweights the journeys
    without running the model again; without it, the bootstrap runs the model on every replicate.

    ``path_shares`` is optional too, for a model whose credit is linear in the paths' counts (the
    heuristic models, Shapley): each touch's share of its path's credit, ``(paths, options) -> array`` aligned
    with ``paths.codes``, which must not depend on the counts. With it the bootstrap computes every
    replicate's credit as one product of the drawn counts with those shares.

    ``replicate_shares`` is optional too, for a model that splits each replicate's totals by shares the counts
    decide (Markov): ``(paths, options) -> solve`` or ``None`` (the model cannot, for these paths), where
    ``solve(conversions, nulls)`` takes the drawn counts of a block of replicates (rows) and returns every
    replicate's share per class at once. Without it, the bootstrap runs the model on every replicate.
    """

    name: str  # "first", "markov", ...
    label: str  # what reports and the command line show
    description: str  # one sentence: how it splits credit
    #: ``(paths, touches or None, options) -> frame`` with ``class``, ``conversions``, ``value``
    run: Callable[[Paths, pd.DataFrame | None, AttributionOptions], pd.DataFrame]
    needs_touch_times: bool = False  # True for time decay: cannot run on an aggregated path file
    touch_shares: Callable[[pd.DataFrame, AttributionOptions], np.ndarray] | None = None
    path_shares: Callable[[Paths, AttributionOptions], np.ndarray] | None = None
    replicate_shares: Callable[[Paths, AttributionOptions],
                               Callable[[np.ndarray, np.ndarray], np.ndarray] | None] | None = None


ATTRIBUTION_MODELS: Registry[AttributionModel] = Registry(
    "attribution model", discover="commetrics.metrics.attribution.models", group="commetrics.attribution_models",
    hint="Pass one of the names above, or all. A new model is a module in commetrics/metrics/attribution/models/ "
         "that calls ATTRIBUTION_MODELS.register (see docs/attribution.md).")


def split_credit(paths: Paths, class_of_touch: np.ndarray, share: np.ndarray, path_of_share: np.ndarray,
                 columns: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """``class``, ``conversions``, ``value`` (plus ``columns``) from shares of the paths' credit.

    Touch ``i`` (of class ``class_of_touch[i]``) receives ``share[i]`` of the conversions and the
    value of path ``path_of_share[i]``; a class's credit is the sum over its touches. Shares that
    sum to 1 per path keep the totals.
    """
    k = len(paths.classes)
    frame = {"class": list(paths.classes),
             "conversions": np.bincount(class_of_touch, weights=share * paths.conversions[path_of_share], minlength=k),
             "value": np.bincount(class_of_touch, weights=share * paths.value[path_of_share], minlength=k)}
    return pd.DataFrame({**frame, **(columns or {})})
