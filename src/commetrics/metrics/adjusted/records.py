"""The records of an adjusted comparison: the estimate with its diagnostics, guards, sensitivity, refutations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ...results import Diagnostic
from .. import causal

__all__ = ["AdjustedEstimate", "BoolArray", "Estimand", "FloatArray", "IntArray", "Labels", "Prepared", "Refutation",
           "Sensitivity", "finite", "guard"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Estimand = Literal["att", "ate"]


def guard(name: str, value: float, threshold: float, message: str, advice: str) -> Diagnostic:
    """A check that failed, so the estimate is not shown as the headline (a blocking :class:`Diagnostic`).

    Names: ``range`` (the estimate lies outside what the outcome allows), ``interval`` (its
    interval reaches beyond that), ``balance`` (a covariate still differs after weighting or
    matching), ``ess`` (too few effective units), ``overlap`` (the covariates separate the groups);
    the other analyses add ``convergence``, ``separation`` and ``model`` (Cox) and
    ``parallel_trends`` (difference-in-differences).
    """
    return Diagnostic(name, message, advice, "blocking", value, threshold)


@dataclass(frozen=True)
class Sensitivity:
    """How strong an unmeasured confounder would have to be (Chernozhukov et al. 2022; DoubleML).

    ``rv``: the share of the remaining variation in both the outcome and the treatment (the Riesz
    representer) that a confounder must explain to move the estimate to 0. ``rva``: the same for
    the edge of the (one-sided, 95%) interval, i.e. to make the estimate indistinguishable from 0.
    ``max_bias``: the bias per unit of confounding strength, ``√(σ² ν²)``.
    """

    rv: float
    rva: float
    max_bias: float
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"rv": finite(self.rv), "rva": finite(self.rva), "max_bias": finite(self.max_bias),
                "sentence": self.sentence}


@dataclass(frozen=True)
class Refutation:
    """One refutation check (the checks DoWhy popularised), run again on altered data."""

    name: str  # placebo_treatment, random_common_cause, data_subset
    estimate: float  # the new estimate (for data_subset: the mean over subsets)
    expected: float  # what it should be near: 0 for a placebo, the original estimate otherwise
    passed: bool
    sentence: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "estimate": finite(self.estimate), "expected": finite(self.expected),
                "passed": self.passed, "sentence": self.sentence}


@dataclass(frozen=True)
class Prepared:
    """Covariates ready for the models: the standardised matrix, its column names and the log-scaled ones."""

    matrix: FloatArray
    names: list[str]
    logged: dict[str, str]  # column -> "log" or "log1p"


@dataclass(frozen=True)
class AdjustedEstimate:
    """The adjusted difference (treated minus control) with everything needed to judge it.

    ``estimate``/``se``/``ci_low``/``ci_high`` are on the outcome's scale (a risk difference for a
    0/1 outcome). ``headline`` is false when a guard tripped; then the figures are for the analyst
    and must not be shown as the answer. ``population`` says in words whom the answer describes.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    estimand: Estimand
    population: str
    trim: tuple[float, float]
    treated_kept: int
    control_kept: int
    treated_dropped: int
    control_dropped: int
    ess_treated: float
    ess_control: float
    ipw: causal.Estimate
    matched: causal.Estimate | None
    balance: pd.DataFrame
    overlap: causal.Overlap
    logged: dict[str, str]
    propensity_model: str
    outcome_model: str
    guards: tuple[Diagnostic, ...]
    sensitivity: Sensitivity | None
    refutations: tuple[Refutation, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float = 0.95
    folds: int = 5
    kept: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_), repr=False)
    ps: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def headline(self) -> bool:
        """True when no guard tripped: the estimate may be shown as the answer."""
        return not self.guards

    @property
    def max_smd(self) -> float:
        values = self.balance["smd_after"].abs() if "smd_after" in self.balance else pd.Series(dtype=float)
        return float(values.max()) if len(values) else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (no NaN: missing numbers are None)."""
        return {
            "estimate": finite(self.estimate), "se": finite(self.se), "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high), "confidence": self.confidence,
            "estimand": self.estimand, "population": self.population, "headline": self.headline,
            "method": "aipw (cross-fitted, normalised weights)",
            "trim": {"rule": "crump", "low": self.trim[0], "high": self.trim[1]},
            "units": {"treated_kept": self.treated_kept, "control_kept": self.control_kept,
                      "treated_dropped": self.treated_dropped, "control_dropped": self.control_dropped},
            "ess": {"treated": finite(self.ess_treated), "control": finite(self.ess_control)},
            "max_smd_after": finite(self.max_smd),
            "log_scaled": dict(self.logged), "propensity_model": self.propensity_model,
            "outcome_model": self.outcome_model, "folds": self.folds,
            "guards": [g.as_dict() for g in self.guards],
            "sensitivity": self.sensitivity.as_dict() if self.sensitivity else None,
            "refutations": [r.as_dict() for r in self.refutations],
            "notes": list(self.notes),
        }


def finite(value: float | None) -> float | None:
    """A number for JSON: None when missing or not finite."""
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Labels:
    """Words for the sentences: the unit (plural), the two groups, what was compared and on what."""

    unit: str = "units"
    treated: str = "treated"
    control: str = "untreated"
    treatment: str = "the treatment"
    outcome: str = "the outcome"
