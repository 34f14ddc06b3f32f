"""Heuristic models: per converting path, the credit split over its touches by their positions.

* ``first``: all credit to the first touch; ``last``: to the last touch.
* ``linear``: an equal share to every touch (a class touched twice gets two shares).
* ``position``: 40 % to the first touch, 40 % to the last and 20 % shared by the touches between
  (configurable); a path of one touch gives it everything, a path of two splits the credit in
  proportion to the first and last weights (50/50 by default), since there is no middle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ....errors import InputError
from ..paths import Paths
from . import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions, split_credit

__all__ = ["HEURISTIC_MODELS", "heuristic_attribution"]

HEURISTIC_MODELS = ("first", "last", "linear", "position")


def heuristic_attribution(paths: Paths, model: str, *, first: float = 0.4, last: float = 0.4) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class under a heuristic model.

    Returns a frame with ``class``, ``conversions``, ``value`` (sorted by class); the columns sum
    to the totals of the converting paths.
    """
    if model not in HEURISTIC_MODELS:
        raise InputError(f"Unknown heuristic model {model!r}; use one of {', '.join(HEURISTIC_MODELS)}.")
    return _heuristic(paths, model, AttributionOptions(first=first, last=last))  # the options check the weights


def _heuristic(paths: Paths, model: str, options: AttributionOptions) -> pd.DataFrame:
    live = paths.converting
    return split_credit(live, live.codes, _shares(live, model, options), live.path_of_touch)


def _shares(paths: Paths, model: str, options: AttributionOptions) -> np.ndarray:
    """Each touch's share of its path's credit (aligned with ``paths.codes``): positions only, never counts."""
    first, last = options.first, options.last
    position = paths.position
    n = np.diff(paths.offsets)[paths.path_of_touch]
    is_first, is_last = position == 0, position == n - 1
    share: np.ndarray
    if model == "first":
        share = is_first.astype(float)
    elif model == "last":
        share = is_last.astype(float)
    elif model == "linear":
        share = 1.0 / n
    else:
        share = _position(first, last, n, is_first, is_last)
    return share


def _position(first: float, last: float, n: np.ndarray, is_first: np.ndarray, is_last: np.ndarray) -> np.ndarray:
    """Position-based shares: ``first`` and ``last`` to the ends, the rest split over the middle."""
    middle = (1.0 - first - last) / np.maximum(n - 2, 1)
    share = np.where(is_first, first, np.where(is_last, last, middle))
    result: np.ndarray = np.where(n == 1, 1.0, np.where(n == 2, share / (first + last), share))
    return result


def _runner(model: str) -> Callable[[Paths, pd.DataFrame | None, AttributionOptions], pd.DataFrame]:
    def run(paths: Paths, touches: pd.DataFrame | None, options: AttributionOptions) -> pd.DataFrame:
        return _heuristic(paths, model, options)
    return run


def _path_shares(model: str) -> Callable[[Paths, AttributionOptions], np.ndarray]:
    def shares(paths: Paths, options: AttributionOptions) -> np.ndarray:
        return _shares(paths, model, options)
    return shares


for _name, _label, _description in (
    ("first", "First touch", "All the credit of a conversion goes to the first touch of its journey."),
    ("last", "Last touch", "All the credit of a conversion goes to the last touch before it."),
    ("linear", "Linear", "Every touch of the journey gets an equal share (a class touched twice gets two shares)."),
    ("position", "Position-based", "The first and the last touch get a set share each (attribution."
                                   "first_touch_share and last_touch_share, 40% by default) and the touches between "
                                   "share the rest; a journey of one touch gives it everything."),
):
    ATTRIBUTION_MODELS.register(_name, AttributionModel(_name, _label, _description, _runner(_name),
                                                        path_shares=_path_shares(_name)))
