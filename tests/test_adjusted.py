"""Adjusted estimates that hold on real observational data (``commetrics.metrics.adjusted``).

The answers are not ours: planted truths of simulated studies (``benchmarks/causal_data.py``, which
knows each unit's expected effect), the published NHEFS and Lalonde results, and DoubleML's own
sensitivity analysis run on the same predictions.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from commetrics import Engine
from commetrics.config import Config
from commetrics.errors import InputError
from commetrics.metrics import causal
from commetrics.metrics.adjusted import (
    _guards,
    adjusted_difference,
    crump_bounds,
    prepare_covariates,
    refutations,
    robustness_value,
)

from .conftest import NOW, causal_data, write_csv

CAUSALDATA_REASON = "causaldata ships the NHEFS and Lalonde data sets offline; install the dev extra"


# --------------------------------------------------------------------------------------------
# The case that motivated it: selection on a heavy-tailed spend covariate, through the CLI
# --------------------------------------------------------------------------------------------


def _campaign_workspace(directory: Path, study: Any) -> Path:
    """A workspace where ``study``'s units are members: covariates as member attributes, the treatment a
    ``campaign_email`` activity before the landmark, the outcome a ``visit`` within 30 days after it."""
    landmark = datetime(2025, 6, 1, tzinfo=UTC)
    ids = [f"c{i:06d}" for i in range(len(study.y))]
    X = study.X
    write_csv(directory / "members.csv", ["member_id", "joined_at", *X.columns],
              [[i, "2024-01-01", *row] for i, row in zip(ids, X.itertuples(index=False), strict=True)])
    mailed = (landmark - timedelta(days=10)).isoformat()
    write_csv(directory / "activities.csv", ["activity_id", "member_id", "ts", "type"],
              [[f"e{k}", i, mailed, "campaign_email"] for k, i in enumerate(ids) if study.treated[k]])
    visited = (landmark + timedelta(days=5)).isoformat()
    write_csv(directory / "outcomes.csv", ["outcome_id", "member_id", "ts", "type"],
              [[f"v{k}", i, visited, "visit"] for k, i in enumerate(ids) if study.y[k]])
    workspace = directory / "ws"
    Engine.init(workspace).close()
    # As a user would: the campaign's own activity and outcome types, declared in the workspace's config.
    config = workspace / "commetrics.toml"
    defaults = Config().ingest
    types = (f'activity_types = {json.dumps([*defaults.activity_types, "campaign_email"])}\n'
             f'outcome_types = {json.dumps([*defaults.outcome_types, "visit"])}\n')
    config.write_text(config.read_text(encoding="utf-8").replace("[ingest]\n", "[ingest]\n" + types)
                      .replace("[identity]\n", "[identity]\nresolve_on_load = false\n"), encoding="utf-8")
    with Engine(workspace) as engine:
        for table in ("members", "activities", "outcomes"):
            assert engine.load(table, directory / f"{table}.csv", now=NOW).rows_quarantined == 0
    return workspace


def _textbook(study: Any) -> causal.Estimate | str:
    """The textbook AIPW (unpenalised logit on the raw covariates, no trimming), or its error message."""
    try:
        return causal.aipw(study.y, study.treated, study.X, outcome_model="logistic")
    except InputError as error:
        return str(error)


@pytest.mark.slow
def test_selection_on_spend_gives_the_planted_effect_where_the_textbook_model_fails(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    study = causal_data().selection_on_spend(5)
    # The textbook pipeline (unpenalised logit on raw spend, untrimmed) breaks on this data: propensities
    # of exactly 1, or, where it runs, an "adjusted" difference of rates outside ±1.
    textbook = _textbook(study)
    if isinstance(textbook, str):
        assert "exactly 0 or 1" in textbook
    else:
        assert abs(textbook.estimate) > 1 or textbook.ci_high - textbook.ci_low > 1

    workspace = _campaign_workspace(tmp_path, study)
    command = ["impact", "exposure", "--exposure", "campaign_email", "--outcome", "visit", "--window", "30",
               "--covariates", "recency,history,mens,womens,newbie", "--as-of", "2025-07-01", "-w", str(workspace)]
    result = CliRunner().invoke(app, [*command, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["headline"]
    assert payload["estimand"] == "att"
    assert "units" not in payload  # per-member propensities stay with the analyst
    adjusted = payload["adjusted"]
    assert adjusted["log_scaled"] == {"history": "log"}
    # The planted truth of the population the answer describes: the mailed customers it kept.
    with Engine(workspace, read_only=True) as engine:
        exact = engine.impact("exposure", exposure="campaign_email", outcome="visit", window_days=30,
                              covariates=["recency", "history", "mens", "womens", "newbie"],
                              as_of=datetime(2025, 7, 1, tzinfo=UTC), exact=True)
    units = exact["units"].assign(position=lambda f: f["member_id"].str[1:].astype(int)).sort_values("position")
    kept = units["kept"].to_numpy() & (study.treated == 1)
    truth = study.truth(kept)
    assert abs(adjusted["estimate"] - truth) < 0.015
    assert adjusted["ci_low"] <= truth <= adjusted["ci_high"]
    assert adjusted["units"]["treated_kept"] == kept.sum()
    assert abs(adjusted["estimate"] - exact["adjusted"]["estimate"]) < 1e-12
    assert adjusted["max_smd_after"] < 0.1
    shown = CliRunner().invoke(app, command)
    assert shown.exit_code == 0, shown.output
    assert "no headline" not in shown.output
    assert f"{100 * adjusted['estimate']:+.1f} points" in shown.output
    assert "Who the answer describes: the " in shown.output
    assert "exposed members" in shown.output
    assert "robustness value" in shown.output


# --------------------------------------------------------------------------------------------
# Guards: each one trips on a case made for it
# --------------------------------------------------------------------------------------------


def test_range_and_interval_guards() -> None:
    tripped = _guards(1.37, 0.9, 1.8, 1.0, 0.02, 500, 500, max_smd_limit=0.1, min_ess=30)
    assert [g.name for g in tripped] == ["range"]
    assert "outside the possible range" in tripped[0].message
    tripped = _guards(0.4, -0.7, 1.5, 1.0, 0.02, 500, 500, max_smd_limit=0.1, min_ess=30)
    assert [g.name for g in tripped] == ["interval"]
    assert not _guards(0.4, 0.1, 0.7, 1.0, 0.02, 500, 500, max_smd_limit=0.1, min_ess=30)
    assert not _guards(250.0, 10.0, 490.0, None, 0.02, 500, 500, max_smd_limit=0.1, min_ess=30)  # unbounded


def test_interval_guard_on_a_tiny_comparison() -> None:
    # 12 against 12, nearly every treated unit with the outcome and nearly no control: the difference is
    # about +0.8 but so uncertain that its interval runs past +1, which no difference of rates can reach.
    rng = np.random.default_rng(3)
    x = rng.normal(size=24)
    treated = (np.arange(24) < 12).astype(int)
    y = np.r_[np.ones(11), 0.0, np.zeros(10), 1.0, 1.0]
    result = adjusted_difference(y, treated, pd.DataFrame({"x": x}), min_ess=2, trim=None)
    assert result.estimate < 1 < result.ci_high
    assert [g.name for g in result.guards] == ["interval"]
    assert not result.headline


def test_balance_guard_when_no_model_makes_the_groups_comparable() -> None:
    rng = np.random.default_rng(8)
    n = 300
    x = rng.normal(size=n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-4 * x))).astype(int)  # x nearly decides the group
    y = (rng.random(n) < 0.3).astype(float)
    result = adjusted_difference(y, treated, pd.DataFrame({"x": x, "x_cubed": x**3}), trim=None, min_ess=2)
    assert result.max_smd > 0.1
    assert "balance" in [g.name for g in result.guards]
    assert "still differs between the groups" in next(g.message for g in result.guards if g.name == "balance")


def test_ess_guard_when_few_units_carry_the_weight() -> None:
    rng = np.random.default_rng(2)
    n = 400
    x = rng.normal(size=n)
    treated = (np.arange(n) >= 25).astype(int)  # 25 controls can never be worth 30 units
    y = (rng.random(n) < 0.4).astype(float)
    result = adjusted_difference(y, treated, pd.DataFrame({"x": x}))
    ess_guard = [g for g in result.guards if g.name == "ess"]
    assert ess_guard
    assert ess_guard[0].value < 30
    assert "comparison group worth only" in ess_guard[0].message


def test_overlap_guard_when_the_covariate_separates_the_groups() -> None:
    x = np.linspace(-3, 3, 200)
    treated = (x > 0).astype(int)
    y = (np.arange(200) % 3 == 0).astype(float)
    result = adjusted_difference(y, treated, pd.DataFrame({"x": x}))
    assert [g.name for g in result.guards] == ["overlap"]
    assert math.isnan(result.estimate)
    assert not result.headline
    assert result.as_dict()["estimate"] is None  # JSON has no NaN


# --------------------------------------------------------------------------------------------
# Pieces with known answers
# --------------------------------------------------------------------------------------------


def test_long_tailed_covariates_go_on_a_log_scale() -> None:
    rng = np.random.default_rng(1)
    spend = np.exp(rng.normal(5, 1, 2_000))
    counts = rng.negative_binomial(1, 0.2, 2_000).astype(float)
    prepared = prepare_covariates(pd.DataFrame({"spend": spend, "posts": counts, "flag": rng.random(2_000) < 0.3,
                                                "age": rng.normal(40, 9, 2_000), "constant": 1.0}))
    assert prepared.logged == {"spend": "log", "posts": "log1p"}
    assert prepared.names == ["spend", "posts", "flag", "age"]  # the constant cannot adjust anything
    assert np.allclose(prepared.matrix.mean(axis=0), 0)
    assert np.allclose(prepared.matrix.std(axis=0), 1)
    with pytest.raises(InputError, match="not numeric"):
        prepare_covariates(pd.DataFrame({"segment": ["a", "b"]}))


def test_crump_rule_trims_only_when_overlap_is_poor() -> None:
    assert crump_bounds(np.linspace(0.3, 0.7, 101)) == (0.0, 1.0)  # good overlap: nothing trimmed
    rng = np.random.default_rng(0)
    ps = 1 / (1 + np.exp(-rng.normal(0, 3, 50_000)))
    low, high = crump_bounds(ps)
    assert 0.05 < low < 0.15
    assert high == pytest.approx(1 - low)
    assert crump_bounds(ps, "att") == (0.0, high)  # the ATT keeps every control: only the upper end matters


def test_robustness_values_equal_doubleml_on_the_same_predictions() -> None:
    doubleml = pytest.importorskip("doubleml")
    from sklearn.linear_model import LogisticRegression

    study = causal_data().limited_overlap(3, units=3_000)
    x1 = study.X["x1"].to_numpy()
    ps = np.clip(1 / (1 + np.exp(-1.5 * x1)), 0.02, 0.98)
    m0 = np.clip(0.2 + 0.1 * x1, 0.01, 0.99)
    m1 = np.clip(m0 + 0.1, 0.01, 0.99)
    frame = pd.concat([study.X, pd.DataFrame({"y": study.y, "d": study.treated})], axis=1)
    for score, estimand in (("ATE", "ate"), ("ATTE", "att")):
        model = doubleml.DoubleMLIRM(doubleml.DoubleMLData(frame, "y", "d"), LogisticRegression(),
                                     LogisticRegression(), score=score, n_folds=2)
        model.fit(external_predictions={"d": {"ml_g0": m0[:, None], "ml_g1": m1[:, None], "ml_m": ps[:, None]}})
        model.sensitivity_analysis()
        ours = robustness_value(study.y, study.treated, ps, m0, m1, float(model.coef[0]),
                                model.framework.scaled_psi[:, 0, 0], estimand=estimand)
        assert ours[0] == pytest.approx(float(model.sensitivity_params["rv"][0]), abs=1e-5)
        assert ours[1] == pytest.approx(float(model.sensitivity_params["rva"][0]), abs=1e-5)
        assert ours[2] == pytest.approx(float(model.framework.sensitivity_elements["max_bias"].ravel()[0]), rel=1e-9)


def test_nhefs_known_answer_holds_with_the_default_pipeline() -> None:
    """Hernán & Robins: quitting smoking, weight gain 3.44 kg (2.41 to 4.47) by IPW, 3.5 by standardisation."""
    causaldata = pytest.importorskip("causaldata", reason=CAUSALDATA_REASON)
    d = causaldata.nhefs_complete.load_pandas().data
    X = pd.DataFrame({"sex": d["sex"].astype(float), "race": d["race"].astype(float), "age": d["age"],
                      "smokeintensity": d["smokeintensity"], "smokeyrs": d["smokeyrs"], "wt71": d["wt71"]})
    X = pd.concat([X, pd.get_dummies(d[["education", "exercise", "active"]].astype(str), drop_first=True,
                                     dtype=float)], axis=1)
    result = adjusted_difference(d["wt82_71"].to_numpy(float), d["qsmk"].to_numpy(float), X, estimand="ate")
    assert result.headline
    assert 2.9 < result.estimate < 3.9
    assert result.ci_low < 3.44 < result.ci_high


def test_lalonde_known_answer_holds_with_the_default_pipeline() -> None:
    """NSW treated against 15,992 CPS controls: from −8,498 (naive) to within 1,000 of the experiment's 1,794."""
    causaldata = pytest.importorskip("causaldata", reason=CAUSALDATA_REASON)
    nsw = causaldata.nsw_mixtape.load_pandas().data
    cps = causaldata.cps_mixtape.load_pandas().data
    d = pd.concat([nsw[nsw["treat"] == 1], cps], ignore_index=True)
    X = d[["age", "educ", "marr", "nodegree", "black", "hisp", "re74", "re75"]].astype(float)
    X = X.assign(u74=(X["re74"] == 0).astype(float), u75=(X["re75"] == 0).astype(float))
    result = adjusted_difference(d["re78"].to_numpy(float), d["treat"].to_numpy(float), X)
    assert result.headline
    assert result.estimand == "att"
    assert abs(result.estimate - 1794.34) < 1000
    assert result.ci_low < 1794.34 < result.ci_high
    assert result.treated_dropped < 20  # nearly all 185 trainees are described


# --------------------------------------------------------------------------------------------
# Refutations
# --------------------------------------------------------------------------------------------


def test_refutations_pass_on_a_sound_comparison_and_the_placebo_is_near_zero() -> None:
    study = causal_data().limited_overlap(4, units=2_000)
    result = adjusted_difference(study.y, study.treated, study.X, refute=True)
    checks = {r.name: r for r in result.refutations}
    assert set(checks) == {"placebo_treatment", "random_common_cause", "data_subset"}
    assert all(r.passed for r in result.refutations), [r.sentence for r in result.refutations]
    assert abs(checks["placebo_treatment"].estimate) < 0.05
    assert checks["random_common_cause"].expected == result.estimate


def test_refutations_fail_against_an_estimate_the_data_do_not_give() -> None:
    # The checks compare with the estimate they are given: one ten standard errors off is refuted by the
    # random common cause and the subsets, while the placebo (which never looks at it) still passes.
    study = causal_data().limited_overlap(4, units=2_000)
    result = adjusted_difference(study.y, study.treated, study.X)
    wrong = replace(result, estimate=result.estimate + 10 * result.se)
    checks = {r.name: r for r in refutations(study.y, study.treated == 1, study.X, wrong)}
    assert checks["placebo_treatment"].passed
    assert not checks["random_common_cause"].passed
    assert "fragile" in checks["random_common_cause"].sentence
    assert not checks["data_subset"].passed
    assert "hangs on a few units" in checks["data_subset"].sentence


def test_propensity_chosen_on_a_subset_keeps_the_planted_effect_and_fits_every_unit_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above TUNING_ROWS units the 14 propensity candidates are compared on a random subset; only the chosen one is
    cross-fitted on every unit. On planted data (ATT 0.3, confounded by x) it finds the effect, and the answer of
    the full search, within a small part of its standard error."""
    from commetrics.metrics.adjusted import nuisances

    rng = np.random.default_rng(21)
    n = 6_000
    x = rng.normal(size=n)
    treated = rng.random(n) < 1 / (1 + np.exp(-(0.8 * x - 0.3)))
    y = 0.3 * treated + 0.5 * x + rng.normal(size=n)
    covariates = pd.DataFrame({"x": x})
    full = adjusted_difference(y, treated, covariates, seed=4)
    sizes: list[int] = []
    fit = nuisances._logit_fit

    def counted(Z: Any, target: Any, C: float) -> Any:
        sizes.append(len(target))
        return fit(Z, target, C)

    monkeypatch.setattr(nuisances, "TUNING_ROWS", 1_500)
    monkeypatch.setattr(nuisances, "_logit_fit", counted)
    subset = adjusted_difference(y, treated, covariates, seed=4)
    # 14 candidates x 5 folds on the subset (4/5 of 1,500 rows each), then the chosen one on every unit's folds
    assert len(sizes) == 14 * 5 + 5
    assert max(sizes[:70]) <= 1_500
    assert min(sizes[70:]) == pytest.approx(0.8 * n, abs=2)
    assert abs(subset.estimate - 0.3) < 2.5 * subset.se
    assert abs(subset.estimate - full.estimate) < 0.2 * full.se
    assert subset.se == pytest.approx(full.se, rel=0.05)
    assert subset.max_smd < 0.1
    assert subset.headline


@pytest.mark.parametrize("kind", ["overlapping", "nearly_separated", "quadratic", "rare_outcome"])
def test_the_nuisance_logit_equals_scikit_learn_s_newton_cholesky_fit(kind: str) -> None:
    """The penalised logit the comparisons fit many times is written out for speed: it must be scikit-learn's
    ``LogisticRegression(C, solver="newton-cholesky")``, coefficients and predictions, at every penalty tried."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from commetrics.metrics.adjusted import nuisances
    from commetrics.metrics.adjusted.covariates import expand

    rng = np.random.default_rng(11)
    Z = rng.normal(size=(400, 4))
    slope = {"overlapping": 1.0, "nearly_separated": 8.0, "quadratic": 1.5, "rare_outcome": 1.0}[kind]
    shift = -4.0 if kind == "rare_outcome" else 0.0
    y = rng.random(400) < 1 / (1 + np.exp(-(slope * Z[:, 0] - 0.5 * Z[:, 1] + shift)))
    if kind == "quadratic":
        Z = expand(Z)
    assert 0 < y.sum() < y.size
    for C in nuisances.C_GRID:
        ours = nuisances._logit_fit(Z, y, C)
        theirs = LogisticRegression(C=C, solver="newton-cholesky", max_iter=200, tol=1e-8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.fit(Z, y.astype(np.int64))
        np.testing.assert_allclose(ours.coef, theirs.coef_[0], rtol=1e-6, atol=1e-6 * max(1.0, C / 100))
        np.testing.assert_allclose(ours.predict_proba(Z), theirs.predict_proba(Z), atol=1e-7)
    with pytest.raises(ValueError, match="both outcomes"):
        nuisances._logit_fit(Z, np.zeros(400, dtype=bool), 1.0)
