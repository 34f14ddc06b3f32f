"""The proportional-odds (ordinal logit) model of statsmodels, with its exact gradient.

statsmodels' ``OrderedModel`` differentiates its log-likelihood numerically: every step of the optimiser
evaluates it once per parameter (12 for a 0-10 score and two covariates), and the Hessian behind the
standard errors takes some 300 evaluations more — over every answer each time, minutes for the 200,000
NPS answers of a million-member community. :class:`ExactOrderedModel` is the same model (same parameters,
same log-likelihood, same optimiser) with the analytic gradient, so each step costs about two evaluations,
and the Hessian is the finite difference of that gradient (about 24); the logistic distribution is computed
with scipy's own formulas, without its generic argument checks. The estimates agree with
``OrderedModel``'s to the optimiser's tolerance (``tests/test_ordinal.py``).

The gradient, for an answer in category ``j`` with linear predictor ``xb``, bounds ``low = c_j - xb`` and
``upp = c_{j+1} - xb`` and probability ``P = F(upp) - F(low)``: ``-(f(upp) - f(low)) / P · x`` for the
coefficients; for the thresholds, in statsmodels' parameters ``θ`` (``c_1 = θ_0``,
``c_m = θ_0 + Σ_{l<m} exp(θ_l)``), ``(f(upp) - f(low)) / P`` for ``θ_0`` and
``exp(θ_l) · (f(upp)·[j >= l] - f(low)·[j >= l + 1]) / P`` for ``θ_l``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

__all__ = ["ExactOrderedModel"]


class ExactOrderedModel(OrderedModel):  # type: ignore[misc]  # statsmodels ships no type information
    """``OrderedModel`` with the analytic score (see the module docstring); the logit and probit links."""

    def cdf(self, x: Any) -> Any:
        if self.distr is not stats.logistic:
            return super().cdf(x)
        return special.expit(x)  # what scipy's logistic computes, without its generic argument checks

    def pdf(self, x: Any) -> Any:
        if self.distr is not stats.logistic:
            return super().pdf(x)
        y = -np.abs(x)  # scipy's logistic density, in its own terms
        return np.exp(y - 2.0 * special.log1p(np.exp(y)))

    def score(self, params: Any) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        low, upp = self._bounds(params)
        prob = self.prob(low, upp) + 1e-20  # as loglikeobs adds it
        f_low, f_upp = self.pdf(low), self.pdf(upp)  # 0 at the infinite bounds
        k_levels = self.k_levels
        y = np.asarray(self.endog, dtype=np.int64)
        beta = -((f_upp - f_low) / prob) @ np.asarray(self.exog, dtype=float) if self.k_vars else np.empty(0)
        upper = np.bincount(y, weights=f_upp / prob, minlength=k_levels)  # per category j
        lower = np.bincount(y, weights=f_low / prob, minlength=k_levels)
        th = params[-(k_levels - 1):]
        first = float(upper.sum() - lower.sum())
        # θ_l (l = 1 .. K-2): exp(θ_l) · (Σ_{j>=l} upper_j − Σ_{j>=l+1} lower_j)
        upper_from = np.cumsum(upper[::-1])[::-1]  # Σ_{j>=l}
        lower_from = np.cumsum(lower[::-1])[::-1]
        levels = np.arange(1, k_levels - 1)
        rest = np.exp(th[1:]) * (upper_from[levels] - lower_from[levels + 1])
        return np.concatenate([beta, [first], rest])

    def hessian(self, params: Any) -> np.ndarray:
        hessian = approx_fprime(np.asarray(params, dtype=float), self.score, centered=True)
        return np.asarray((hessian + hessian.T) / 2)
