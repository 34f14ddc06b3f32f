"""Overlap: the propensity range to keep (Crump et al. 2009), and what counts as separated groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ...errors import InputError
from .. import causal
from .nuisances import CLIP
from .records import Estimand, FloatArray

__all__ = ["SEPARATION_AUC", "bounds_rule", "crump_bounds"]

#: Propensities that rank treated above comparison units this reliably (AUC) mean the covariates separate them.
SEPARATION_AUC = 0.99


def crump_bounds(ps: Any, estimand: Estimand = "ate") -> tuple[float, float]:
    """The propensity range ``[α, 1 − α]`` of Crump, Hotz, Imbens & Mitnik (2009).

    With ``g = 1 / (e (1 − e))``: no trimming (``α = 0``) when ``max g ≤ 2 mean g``; else ``α`` solves
    ``1 / (α (1 − α)) = 2 E[g | g ≤ 1 / (α (1 − α))]``, which minimises the variance of the
    average effect over the kept population (usually about 0.1). For the ATT only the upper limit
    applies (returned as ``(0, 1 − α)``): controls unlike any treated unit carry no weight anyway.
    """
    e = np.clip(causal._vector("ps", ps), CLIP, 1 - CLIP)
    g = 1 / (e * (1 - e))
    alpha = 0.0
    if g.max() > 2 * g.mean():
        ordered = np.sort(g)
        running = np.cumsum(ordered) / np.arange(1, ordered.size + 1)
        # the smallest gamma with gamma >= 2 * mean(g | g <= gamma), searched over the observed values
        hits = np.flatnonzero(ordered >= 2 * running)
        gamma = float(ordered[hits[0]]) if hits.size else float(ordered[-1])
        alpha = 0.5 - math.sqrt(max(0.25 - 1 / gamma, 0.0))
    return (0.0, 1 - alpha) if estimand == "att" else (alpha, 1 - alpha)


def bounds_rule(trim: Literal["crump"] | tuple[float, float] | None, estimand: Estimand
                 ) -> Callable[[FloatArray], tuple[float, float]]:
    """The propensity range to keep, as a function of the propensities (Crump's rule depends on them)."""
    if trim == "crump":
        return lambda p: crump_bounds(p, estimand)
    if trim is None:
        return lambda p: (0.0, 1.0)
    lo, hi = trim
    if not 0 <= lo < hi <= 1:
        raise InputError(f"trim must be 'crump', None or (low, high) with 0 <= low < high <= 1, got {trim}.")
    return lambda p: (float(lo), float(hi))
