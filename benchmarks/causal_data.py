"""Simulated observational studies with a planted truth, for the adjusted-estimate benchmark and tests.

Three designs, each a function ``(seed) -> Study``:

* :func:`selection_on_spend` — a randomised e-mail campaign (64,000 customers, two thirds mailed)
  made observational by keeping customers according to their purchase history, the way engagement
  selects customers in a community: mailed customers with a large history are kept more often,
  unmailed ones less often. The covariates are those of the MineThatData e-mail data set (recency in
  months, history in dollars: heavy-tailed, and three flags). The outcome is a visit within 30 days
  (0/1). Mailing raises the log-odds of a visit by a planted amount, a little more for men's
  merchandise buyers, so the effect on the rate differs between customers.
* :func:`limited_overlap` — five covariates, one of them a heavy-tailed count, and a strong
  selection on two of them: many units have propensities near 0 or 1. A 0/1 outcome with an effect
  that varies with the first covariate, so the population an estimate describes matters.
* :func:`kang_schafer` — Kang & Schafer (2007): four standard-normal variables drive both the
  treatment and a continuous outcome (no effect: the truth is 0 for every population), but only
  non-linear transformations of them are observed, so both a propensity model and an outcome model
  built on the observed covariates are misspecified.

Every study carries each unit's expected effect (``effect``: ``E[Y(1) - Y(0) | X]``, which is known
because the data were generated), so the truth for any subset of units — all treated units (ATT),
all units (ATE), or the treated units an estimate keeps after trimming — is a mean of ``effect``.
Nothing here uses commetrics: the generator must not share the estimator's choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Study:
    """One simulated data set: covariates ``X``, 0/1 ``treated``, outcome ``y`` and the planted unit effects."""

    name: str
    X: pd.DataFrame
    treated: np.ndarray
    y: np.ndarray
    effect: np.ndarray  # E[Y(1) - Y(0) | X] per unit
    binary: bool  # y is 0/1

    @property
    def att(self) -> float:
        """The planted average effect on the treated units of this sample."""
        return float(self.effect[self.treated == 1].mean())

    @property
    def ate(self) -> float:
        return float(self.effect.mean())

    def truth(self, units: np.ndarray) -> float:
        """The planted average effect over the units selected by the boolean mask ``units``."""
        return float(self.effect[units].mean())


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def selection_on_spend(seed: int, *, customers: int = 64_000, strength: float = 1.6) -> Study:
    """The MineThatData-style campaign made observational by selecting customers on their history."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(1, 13, customers).astype(float)
    history = np.round(29.99 + np.exp(rng.normal(4.9, 1.05, customers)), 2)  # heavy right tail, min 29.99
    mens = rng.random(customers) < 0.55
    womens = ~mens | (rng.random(customers) < 0.2)
    newbie = rng.random(customers) < 0.5
    z_history = (np.log(history) - 5.2) / 0.8
    z_recency = (recency - 6) / 3.5
    base = -2.35 + 0.55 * z_history - 0.45 * z_recency - 0.3 * newbie + 0.15 * womens
    lift = 0.62 + 0.25 * mens
    p0, p1 = _expit(base), _expit(base + lift)
    mailed = rng.random(customers) < 2 / 3
    visit = rng.random(customers) < np.where(mailed, p1, p0)
    # Selection on purchase history: mailed customers with a big history are kept, unmailed ones dropped.
    keep_mailed = _expit(strength * (z_history - 0.4) - 0.2 * z_recency)
    keep_unmailed = _expit(-strength * (z_history - 0.4) + 0.2 * z_recency)
    kept = rng.random(customers) < np.where(mailed, keep_mailed, keep_unmailed)
    X = pd.DataFrame({"recency": recency, "history": history, "mens": mens.astype(float),
                      "womens": womens.astype(float), "newbie": newbie.astype(float)})[kept].reset_index(drop=True)
    return Study("selection on spend", X, mailed[kept].astype(int), visit[kept].astype(float), (p1 - p0)[kept], True)


def limited_overlap(seed: int, *, units: int = 4_000) -> Study:
    """Strong selection on two covariates (one a heavy-tailed count): many propensities near 0 or 1."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=units)
    x2 = rng.normal(size=units)
    x3 = rng.normal(size=units)
    flag = (rng.random(units) < 0.4).astype(float)
    prior = rng.negative_binomial(1, 1 / (1 + np.exp(1.2 + 0.6 * x2)), units).astype(float)  # counts, long tail
    logit_t = -0.6 + 1.9 * x1 + 0.9 * np.log1p(prior) - 0.4 * x3 + 0.5 * flag
    treated = rng.random(units) < _expit(logit_t)
    base = -1.1 + 0.7 * x1 + 0.35 * np.log1p(prior) + 0.3 * x3 - 0.3 * flag
    lift = 0.55 - 0.3 * x1
    p0, p1 = _expit(base), _expit(base + lift)
    y = rng.random(units) < np.where(treated, p1, p0)
    X = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "flag": flag, "prior_activities": prior})
    return Study("limited overlap", X, treated.astype(int), y.astype(float), p1 - p0, True)


def kang_schafer(seed: int, *, units: int = 1_000) -> Study:
    """Kang & Schafer (2007), as a treatment comparison with no effect, observed through transformations."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(units, 4))
    treated = rng.random(units) < _expit(-z[:, 0] + 0.5 * z[:, 1] - 0.25 * z[:, 2] - 0.1 * z[:, 3])
    y = 210 + 27.4 * z[:, 0] + 13.7 * (z[:, 1] + z[:, 2] + z[:, 3]) + rng.normal(size=units)
    X = pd.DataFrame({
        "x1": np.exp(z[:, 0] / 2),
        "x2": z[:, 1] / (1 + np.exp(z[:, 0])) + 10,
        "x3": (z[:, 0] * z[:, 2] / 25 + 0.6) ** 3,
        "x4": (z[:, 1] + z[:, 3] + 20) ** 2,
    })
    return Study("Kang & Schafer", X, treated.astype(int), y, np.zeros(units), False)


DESIGNS = {"selection_on_spend": selection_on_spend, "limited_overlap": limited_overlap,
           "kang_schafer": kang_schafer}
