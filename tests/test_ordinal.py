"""The ordinal model with its exact gradient gives statsmodels' OrderedModel estimates, faster."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

from commetrics.metrics.impact.ordinal import ExactOrderedModel


def _answers(n: int, levels: int, seed: int) -> tuple[pd.Series, pd.DataFrame]:
    """Scores 0..levels-1 rising with ln(1 + participation) (planted slope 0.4), tenure without effect."""
    rng = np.random.default_rng(seed)
    activities = rng.poisson(3, n)
    tenure = rng.uniform(14, 700, n)
    latent = 0.4 * np.log1p(activities) + rng.logistic(size=n) + levels * 0.6
    score = np.clip(np.round(latent), 0, levels - 1).astype(int)
    x = pd.DataFrame({"participation": np.log1p(activities.astype(float)), "tenure": np.log1p(tenure)})
    return pd.Series(pd.Categorical(score, ordered=True)), x


@pytest.mark.parametrize("distr", ["logit", "probit"])
def test_the_gradient_is_the_derivative_of_the_log_likelihood(distr: str) -> None:
    scores, x = _answers(2_000, 11, 1)
    model = ExactOrderedModel(scores, x, distr=distr)
    rng = np.random.default_rng(2)
    for _ in range(3):
        params = model.start_params + rng.normal(0, 0.2, len(model.start_params))
        numeric = approx_fprime(params, model.loglike, centered=True)
        np.testing.assert_allclose(model.score(params), numeric, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("levels", "seed"), [(11, 3), (5, 4)])
def test_the_fit_equals_statsmodels(levels: int, seed: int) -> None:
    """NPS (0-10) and CSAT (1-5) sized: the same coefficients, thresholds and standard errors."""
    scores, x = _answers(4_000, levels, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = OrderedModel(scores, x, distr="logit").fit(method="bfgs", disp=False, maxiter=500)
        exact = ExactOrderedModel(scores, x, distr="logit").fit(method="bfgs", disp=False, maxiter=500)
    assert exact.mle_retvals["converged"]
    np.testing.assert_allclose(np.asarray(exact.params), np.asarray(reference.params), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(exact.bse), np.asarray(reference.bse), rtol=1e-4)
    assert 0.25 < exact.params["participation"] < 0.55  # the planted slope, recovered


def test_the_logistic_distribution_is_scipys_to_the_bit() -> None:
    from scipy import stats

    scores, x = _answers(50, 5, 5)
    model = ExactOrderedModel(scores, x, distr="logit")
    points = np.array([-np.inf, -800.0, -35.0, -3.2, 0.0, 1e-12, 2.5, 40.0, 800.0, np.inf])
    assert np.array_equal(model.cdf(points), stats.logistic.cdf(points))
    assert np.array_equal(model.pdf(points), stats.logistic.pdf(points))
