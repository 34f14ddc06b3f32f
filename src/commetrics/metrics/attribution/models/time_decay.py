"""Time decay: each touch weighs ``0.5 ** (days before the conversion / half-life)``, normalised per journey.

It needs the time of every touch, which only journeys built from the store have: an aggregated
path file cannot give it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ....errors import InputError
from ..paths import Paths
from . import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions

__all__ = ["time_decay_attribution"]


def time_decay_attribution(touches: pd.DataFrame, *, half_life_days: float = 7.0) -> pd.DataFrame:
    """Credit by ``0.5 ** (days before the conversion / half_life_days)``, normalised per journey.

    ``touches`` has one row per touch of a converting journey: ``journey``, ``class``,
    ``days_before`` (>= 0), and the journey's ``conversions`` and ``value`` (repeated on its
    rows). Returns ``class``, ``conversions``, ``value`` summing to the journeys' totals.
    """
    _, classes, names, share = _time_decay_shares(touches, half_life_days)
    k = len(names)
    return pd.DataFrame({
        "class": names,
        "conversions": np.bincount(classes, weights=share * touches["conversions"].to_numpy(float), minlength=k),
        "value": np.bincount(classes, weights=share * touches["value"].to_numpy(float), minlength=k),
    })


def _time_decay_shares(touches: pd.DataFrame, half_life_days: float
                       ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(journey code, class code, class names, share of its journey's credit) per touch."""
    if half_life_days <= 0:
        raise InputError(f"The half-life must be a positive number of days, not {half_life_days}.")
    journey = pd.factorize(touches["journey"])[0]
    classes, names = pd.factorize(touches["class"], sort=True)
    days = touches["days_before"].to_numpy(float)
    # Weights relative to each journey's latest touch: the same shares, and no underflow for old touches.
    latest = pd.Series(days).groupby(journey).transform("min").to_numpy() if len(days) else days
    weight = np.power(0.5, (days - latest) / half_life_days)
    share = weight / np.bincount(journey, weights=weight)[journey] if len(days) else weight
    return journey, classes, [str(x) for x in names], share


def _run(paths: Paths, touches: pd.DataFrame | None, options: AttributionOptions) -> pd.DataFrame:
    if touches is None:
        raise InputError("Time decay needs the time of every touch; aggregated path files do not have it.")
    return time_decay_attribution(touches, half_life_days=options.half_life_days)


def _touch_shares(touches: pd.DataFrame, options: AttributionOptions) -> np.ndarray:
    return _time_decay_shares(touches, options.half_life_days)[3]


ATTRIBUTION_MODELS.register("time_decay", AttributionModel(
    "time_decay", "Time decay",
    "Each touch weighs 0.5 ^ (days before the conversion / half-life), normalised per journey.",
    _run, needs_touch_times=True, touch_shares=_touch_shares))
