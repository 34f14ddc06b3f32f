"""Attribution of conversions and value to touchpoint classes, over aggregated paths.

The input is the aggregated path table of the common attribution libraries: one row per distinct
path (the sequence of touchpoint classes before a conversion, or before the end of a journey that
did not convert) with ``conversions``, ``value`` and ``nulls`` (journeys of that path that did not
convert). Every model returns, per class, attributed conversions and attributed value that sum
exactly to the totals over converting paths.

Heuristic models (per converting path, credit split over its touches):

* ``first``: all credit to the first touch; ``last``: to the last touch.
* ``linear``: an equal share to every touch (a class touched twice gets two shares).
* ``position``: 40 % to the first touch, 40 % to the last and 20 % shared by the touches between
  (configurable); a path of one touch gives it everything, a path of two splits the credit in
  proportion to the first and last weights (50/50 by default), since there is no middle.

Markov removal effect, orders 1 to 4, solved without simulation: the journeys define a chain
``start -> classes -> (conversion | null)`` with transition probabilities estimated from the
counts (converting paths weighted by ``conversions``, others by ``nulls``). ``P`` is the
probability of reaching ``conversion`` from ``start``, found by solving ``(I - Q) x = r``.
Removing class k sends every transition into k to ``null``; its removal effect is
``1 - P_k / P``. Conversions and value are split in proportion to the removal effects.
Consecutive repeats of a class are self-loops, which do not change absorption probabilities (they
are folded into the state's other transitions). Chains of up to 2,000 states (every order-1 chain
of fewer than 2,000 classes) are solved exactly by sparse LU; larger ones (orders 3-4 over many
classes, where LU fills in) by pushing the probability mass through the chain until less than
1e-13 is in transit, with that bound reported as ``removal_effect_error``.

Shapley value with the "set" characteristic function of Zhao et al. (2018): ``v(S)`` is the total
of the converting journeys whose set of classes lies within S. ``v`` is then a weighted sum of
unanimity games, so the Shapley value has a closed form — each journey's credit split equally over
the distinct classes it touched — which is exact for any number of classes (no sampling, no
truncation of players). The tests check it against the definition, coalition by coalition.

Paths are held column-wise (class codes of all touches end to end, with path offsets), so every
model is a handful of array operations whatever the number of distinct paths: no Python loop runs
per path or per touch.

The package: :mod:`.paths` (the path table and its readers), :mod:`.journeys` (journeys from the
store), :mod:`.models` (the model registry, one module per family) and :mod:`.run` (running models
by name, and the bootstrap). A model is added by a module in :mod:`.models` that registers it; see
docs/attribution.md.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from .journeys import (
    GRAINS,
    REVENUE_OUTCOMES,
    UNITS,
    Journeys,
    build_journeys,
    journeys_per_class,
    outcome_currencies,
)
from .models import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions, split_credit

# isort: off
# Each model module registers its models when imported: this order is the display order.
from .models.heuristic import HEURISTIC_MODELS, heuristic_attribution
from .models.time_decay import time_decay_attribution
from .models import markov as _markov
from .models.markov import DIRECT_STATES, MAX_STEPS, TRANSIT_TOLERANCE, markov_attribution
from .models.shapley import shapley_attribution

# isort: on
from .paths import PATH_SEPARATOR, Paths, read_path_file, read_paths
from .run import MODELS, attribute, bootstrap_intervals

__all__ = [
    "ATTRIBUTION_MODELS",
    "DIRECT_STATES",
    "GRAINS",
    "HEURISTIC_MODELS",
    "MAX_STEPS",
    "MODELS",
    "PATH_SEPARATOR",
    "REVENUE_OUTCOMES",
    "TRANSIT_TOLERANCE",
    "UNITS",
    "AttributionModel",
    "AttributionOptions",
    "Journeys",
    "Paths",
    "attribute",
    "bootstrap_intervals",
    "build_journeys",
    "heuristic_attribution",
    "journeys_per_class",
    "markov_attribution",
    "outcome_currencies",
    "read_path_file",
    "read_paths",
    "shapley_attribution",
    "split_credit",
    "time_decay_attribution",
]

#: The Markov solver's settings, which live in :mod:`.models.markov`.
_SOLVER_SETTINGS = frozenset({"DIRECT_STATES", "MAX_STEPS", "TRANSIT_TOLERANCE"})


class _Package(ModuleType):
    """Setting a Markov solver setting here sets it where the solver reads it, as it did when this
    package was one module (``monkeypatch.setattr(attribution, "DIRECT_STATES", 0)`` makes every
    chain be solved by propagation)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SOLVER_SETTINGS:
            setattr(_markov, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
