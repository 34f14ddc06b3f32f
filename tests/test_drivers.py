"""Conversion drivers: the Firth model against a peer library, Holm against statsmodels, and the demo's planted
drivers recovered while the behaviours that only ride along with them are not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from commetrics import Engine, Result
from commetrics.cli import app
from commetrics.demo import generate
from commetrics.metrics.drivers import _holm, _independent, _indicators, fit_drivers
from commetrics.metrics.firth import firth_logit
from commetrics.reports.text import render


def _separated(seed: int = 1, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    flag = rng.random(n) < 0.1
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + x[:, 0] - 0.5 * x[:, 1])))).astype(float)
    y[flag] = 1.0  # every unit with the flag converted: plain maximum likelihood has no finite answer
    return np.column_stack([x, flag]), y


def test_firth_matches_firthmodels_under_separation() -> None:
    from firthmodels import FirthLogisticRegression

    x, y = _separated()
    fit = firth_logit(np.column_stack([np.ones(len(y)), x]), y)
    peer = FirthLogisticRegression(backend="numpy", gtol=1e-10, xtol=1e-10, max_iter=200).fit(x, y)
    assert fit.converged
    np.testing.assert_allclose(fit.params, [peer.intercept_, *peer.coef_], rtol=1e-6, atol=1e-8)
    assert np.isfinite(fit.params).all()
    assert 3 < fit.params[-1] < 8  # large but finite for the separated flag


def test_firth_standard_errors_are_the_inverse_information_and_near_plain_logistic_without_separation() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(2)
    n = 4000
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.3])
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ [-1.0, 0.8, 0.5])))).astype(float)
    fit = firth_logit(x, y)
    model = sm.Logit(y, x)
    # The covariance is the inverse Fisher information at Firth's estimate (statsmodels' Hessian, independently).
    np.testing.assert_allclose(fit.cov, np.linalg.inv(-model.hessian(fit.params)), rtol=1e-8)
    plain = model.fit(disp=0)
    np.testing.assert_allclose(fit.params, plain.params, atol=0.01)  # Firth's bias correction is O(1/n)
    np.testing.assert_allclose(fit.se, plain.bse, rtol=0.01)


def test_indicators_match_pandas_crosstab_clipped_at_one() -> None:
    import pandas as pd

    rng = np.random.default_rng(4)
    long = pd.DataFrame({"unit_id": rng.choice([f"m{i}" for i in range(300)], 2_000),
                         "feature": rng.choice(["did:post", "did:reply", "did:program:webinars", "did:attend"], 2_000)})
    expected = pd.crosstab(long["unit_id"], long["feature"]).clip(upper=1)
    pd.testing.assert_frame_equal(_indicators(long), expected)
    assert _indicators(long.iloc[:0]).empty


def test_independent_drops_exactly_the_planted_linear_combinations() -> None:
    rng = np.random.default_rng(5)
    n = 5_000
    a, b = (rng.random(n) < 0.3).astype(float), (rng.random(n) < 0.5).astype(float)
    level = rng.integers(0, 3, n)
    dummies = np.column_stack([level == k for k in range(3)]).astype(float)  # with the intercept: a dummy trap
    design = np.column_stack([np.ones(n), a, b, a + b, dummies, rng.normal(size=n), 2 * a])
    names = ["intercept", "a", "b", "a+b", "level 0", "level 1", "level 2", "noise", "2a"]
    kept, kept_names, dropped = _independent(design, names, 3)
    assert dropped == ["a+b", "level 2", "2a"]
    assert kept_names == ["intercept", "a", "b", "level 0", "level 1", "noise"]
    np.testing.assert_array_equal(kept, design[:, [0, 1, 2, 4, 5, 7]])
    # the same choice as numpy's matrix_rank column by column over the rows
    reference: list[int] = []
    for j in range(design.shape[1]):
        if np.linalg.matrix_rank(design[:, [*reference, j]]) == len(reference) + 1:
            reference.append(j)
    assert [names[j] for j in reference] == kept_names


def test_adjusted_difference_is_the_average_change_with_every_member_with_and_without_the_behaviour() -> None:
    import pandas as pd
    from scipy.special import expit

    rng = np.random.default_rng(6)
    n = 3_000
    did = {f"did:b{i}": (rng.random(n) < share).astype(float) for i, share in enumerate((0.2, 0.4, 0.1))}
    linear = -1.0 + 0.9 * did["did:b0"] - 0.4 * did["did:b1"] + 0.2 * did["did:b2"]
    frame = pd.DataFrame({"converted": rng.random(n) < expit(linear), **did})
    table = fit_drivers(frame, list(did), min_members=20, alpha=0.05)["drivers"].set_index("behaviour")
    design = np.column_stack([np.ones(n), *did.values()])
    fit = firth_logit(design, frame["converted"].to_numpy(float))
    for j, name in enumerate(did, start=1):
        with_b, without_b = design.copy(), design.copy()  # the definition: everyone with it, everyone without
        with_b[:, j], without_b[:, j] = 1.0, 0.0
        p1, p0 = expit(with_b @ fit.params), expit(without_b @ fit.params)
        gradient = ((p1 * (1 - p1))[:, None] * with_b - (p0 * (1 - p0))[:, None] * without_b).mean(axis=0)
        se = np.sqrt(gradient @ fit.cov @ gradient)
        row = table.loc[name.removeprefix("did:")]
        assert row["difference"] == pytest.approx((p1 - p0).mean(), rel=1e-12)
        assert row["diff_high"] - row["difference"] == pytest.approx(1.959963984540054 * se, rel=1e-10)


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.0001])
    np.testing.assert_allclose(_holm(p), multipletests(p, method="holm")[1])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A 5,000-member demo workspace (seed 5), loaded once for this module, and its drivers' ground truth."""
    directory = tmp_path_factory.mktemp("drivers")
    files = generate(5_000, 5, directory / "files")
    with Engine.init(directory / "ws") as engine, engine.batch():
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
    return directory / "ws", json.loads(files.ground_truth.read_text(encoding="utf-8"))["drivers"]


@pytest.fixture
def demo(workspace: tuple[Path, dict]) -> Iterator[tuple[Engine, dict]]:  # type: ignore[type-arg]
    with Engine(workspace[0], read_only=True) as engine:
        yield engine, workspace[1]


def test_the_demo_plants_its_drivers_in_the_ground_truth(demo: tuple[Engine, dict]) -> None:  # type: ignore[type-arg]
    _, truth = demo
    assert truth["outcome_type"] == "lead"
    assert truth["drivers"] == ["webinar_attended", "question"]
    assert (truth["days"], truth["window_days"]) == (30, 90)


def test_planted_drivers_are_recovered_and_a_non_driver_is_not(demo: tuple[Engine, dict]) -> None:  # type: ignore[type-arg]
    engine, truth = demo
    result = engine.drivers(outcome=truth["outcome_type"], days=truth["days"], window_days=truth["window_days"])
    table = result["drivers"].set_index("behaviour")
    planted = truth["drivers"]
    # The two planted drivers are ranked first, both associated with more conversion, both intervals above 0.
    assert set(result["drivers"]["behaviour"].head(2)) == set(planted)
    for name in planted:
        row = table.loc[name]
        assert row["associated"] == "more"
        assert row["or_low"] > 1
        assert row["diff_low"] > 0
        # The planted odds ratio lies in the adjusted interval.
        assert row["or_low"] <= np.exp(truth["coefficients"][name]) <= row["or_high"]
    # Busy members do everything more: raw, the non-drivers convert more too; adjusted, they are not associated.
    for name in ("reaction", "login", "program:onboarding", "comment"):
        row = table.loc[name]
        assert row["rate_with"] > 1.5 * row["rate_without"]  # the raw association that misleads
        assert row["associated"] == ""
        assert row["or_low"] < 1 < row["or_high"]
    assert (table["associated"] != "").sum() == len(planted)
    assert result.headline
    assert "associations, not causes" in render(result)


def test_drivers_command_prints_the_ranking_and_json(workspace: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    runner = CliRunner()
    env = {"COMMETRICS_WORKSPACE": str(workspace[0]), "COLUMNS": "200"}
    text = runner.invoke(app, ["drivers", "--outcome", "lead", "--days", "30", "--window", "90"], env=env)
    assert text.exit_code == 0, text.output
    assert "Behaviours associated with conversion" in text.output
    assert "webinar_attended" in text.output
    data = json.loads(runner.invoke(app, ["drivers", "--outcome", "lead", "--json"], env=env).output)
    assert data["analysis"] == "drivers"
    assert {"behaviour", "odds_ratio", "or_low", "or_high", "difference", "p_holm", "associated"} <= set(
        data["drivers"][0])


def test_small_converter_counts_are_hidden_when_published(demo: tuple[Engine, dict]) -> None:  # type: ignore[type-arg]
    engine, _ = demo
    published: Result = engine.drivers("trial_after_join")
    exact = engine.drivers("trial_after_join", exact=True)
    k = engine.config.privacy.min_cell_size
    small = exact["drivers"]["converters"].between(1, k - 1) | (
        exact["converters"] - exact["drivers"]["converters"]).between(1, k - 1)
    assert small.any()  # trials are rarer: some behaviours have few converters on one side
    hidden = published["drivers"].set_index("behaviour").loc[exact["drivers"]["behaviour"][small]]
    assert hidden["suppressed"].all()
    assert hidden["converters"].isna().all()
    assert hidden["rate_with"].isna().all()
    assert (published["drivers"]["members"] >= k).all()
    assert "hidden" in published.publication.note


def test_drivers_refuse_account_conversions_and_unknown_controls_are_named(demo: tuple[Engine, dict]) -> None:  # type: ignore[type-arg]
    from commetrics import InputError

    engine, _ = demo
    with pytest.raises(InputError, match="counts accounts"):
        engine.drivers("expansion_after_join")
    result = engine.drivers(outcome="lead", controls=["entry_path", "job_rol"])
    unknown = [d for d in result.diagnostics if d.name == "unknown_name"]
    assert len(unknown) == 1
    assert "'job_role'" in unknown[0].message  # the closest name is suggested
    with_role = engine.drivers(outcome="lead", controls=["entry_path", "job_role"])
    assert any(c.startswith("job_role = ") for c in with_role["controls"])


def test_help_text_lists_the_drivers_command() -> None:
    out = CliRunner().invoke(app, ["--help"]).output
    assert "drivers" in out
