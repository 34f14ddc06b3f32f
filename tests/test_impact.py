"""Renewal of engaged vs not engaged accounts on data with a planted, confounded effect."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from commetrics import Engine, InputError
from commetrics.config import Config, ImpactSettings
from commetrics.demo import generate
from commetrics.errors import UnknownNameError


def _demo(directory: Path, seed: int, members: int = 20_000, config: Config | None = None) -> tuple[Engine, dict]:  # type: ignore[type-arg]
    files = generate(members, seed, directory / "files")
    engine = Engine.in_memory(config)
    for name, path in files.tables.items():
        engine.load(name, path, source="demo")
    truth = json.loads((directory / "files" / "ground_truth.json").read_text(encoding="utf-8"))["renewal"]
    return engine, truth


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_adjusted_renewal_difference_covers_the_planted_effect(tmp_path: Path, seed: int) -> None:
    engine, truth = _demo(tmp_path, seed)
    with engine:
        result = engine.impact("renewal", exact=True)  # the per-renewal units are exact figures only
    adjusted, raw = result["adjusted"], result["raw"]
    # The levels and the engaged flag are the demo's planted definition (>= 5 activities in [-180, -60) days).
    assert result["renewals"] == truth["n_decided"]
    assert result["engaged"] == truth["n_engaged"]
    assert raw["difference"] == pytest.approx(truth["raw_difference_realised"], abs=1e-12)
    # The raw difference is clearly biased upwards; the adjusted interval covers the planted effect on the
    # engaged renewals the comparison kept (the answer's stated population).
    planted = pd.read_parquet(tmp_path / "files" / truth["engaged_file"])
    units = result["units"].merge(planted, on=["account_id", "period_end"], how="left", validate="one_to_one")
    chosen = units["kept"] & units["engaged_x"]
    kept_truth = float((units["p_renew_if_engaged"] - units["p_renew_if_not_engaged"])[chosen].mean())
    assert result["estimand"] == "att"
    assert result["headline"]
    assert not result["guards"]
    assert raw["difference"] > adjusted["ci_high"]
    assert adjusted["ci_low"] <= kept_truth <= adjusted["ci_high"]
    assert abs(kept_truth - truth["true_att"]) < 0.03  # little was set aside
    assert result["ipw"]["ci_low"] <= kept_truth <= result["ipw"]["ci_high"]
    assert (result["balance"]["smd_after"].abs() < 0.1).all()
    assert (result["balance"]["smd_before"].abs() > 0.3).any()  # there was confounding to remove
    assert "could be explained away only by an unmeasured factor" in result["e_value"]
    assert "robustness value" in result["sensitivity"]
    rates = result["levels"].set_index("level")["rate"]
    assert rates["medium"] > rates["none"]


def test_bad_input_is_a_clear_message(tmp_path: Path) -> None:
    with Engine.in_memory() as empty, pytest.raises(InputError, match="at least 40 decided renewals"):
        empty.impact("renewal", as_of=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="engaged_level"):
        ImpactSettings(engaged_level="fanatic")
    with pytest.raises(ValueError, match="smaller than exposure_start_days"):
        ImpactSettings(exposure_start_days=30, exposure_end_days=60)
    levels = {"none": 0, "some": 1, "legend": 100_000}
    files = generate(5_000, 5, tmp_path / "files")
    with Engine.in_memory(Config.model_validate({"impact": {"levels": levels, "engaged_level": "some"}})) as engine:
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
        result = engine.impact("renewal")
        # A level nobody reaches is shown with no rate, not a crash.
        legend = result["levels"].set_index("level").loc["legend"]
        assert legend["renewals"] == 0
        assert math.isnan(legend["rate"])
        assert math.isnan(legend["ci_low"])
        with pytest.raises(UnknownNameError, match=r"Unknown impact question 'churn'\..* Known: campaign, csat, "):
            engine.impact("churn")
        with pytest.raises(InputError, match=r"needs exposure= .* and outcome="):
            engine.impact("exposure", exposure="webinar_attended")
        # Nobody reaches the engaged level: nothing to compare, said plainly.
        engine.config = Config.model_validate({"impact": {"levels": levels, "engaged_level": "legend"}})
        with pytest.raises(InputError, match="Every decided renewal is not engaged at the 'legend' level"):
            engine.impact("renewal")


def test_nps_counts_only_participation_before_each_answer(tmp_path: Path) -> None:
    from commetrics.metrics.impact import survey_table

    from .conftest import NOW, write_csv

    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
        ["1", "m1", "2025-01-10", "post"],  # 171 days before the answer: counts
        ["2", "m1", "2024-12-01", "post"],  # 211 days before: outside the 180-day window
        ["3", "m1", "2025-06-30", "post"],  # the day of the answer, after it: never counts
        ["4", "m2", "2025-06-01", "reply"]])
    surveys = write_csv(tmp_path / "s.csv", ["response_id", "member_id", "ts", "kind", "score"], [
        ["r1", "m1", "2025-06-30T00:00:00", "nps", "9"], ["r2", "m2", "2025-06-02", "nps", "3"],
        ["r3", "m2", "2025-06-03", "csat", "5"]])
    with Engine.in_memory() as engine:
        engine.load("activities", activities, now=NOW)
        engine.load("surveys", surveys, now=NOW)
        table = survey_table(engine.ibis(), ImpactSettings(), datetime(2025, 7, 1, tzinfo=UTC)).set_index("response_id")
    assert list(table.index) == ["r1", "r2"]  # NPS answers only
    assert (table.loc["r1", "activities"], table.loc["r2", "activities"]) == (1, 1)
    assert (table.loc["r1", "level"], table.loc["r2", "level"]) == ("low", "low")


@pytest.mark.slow
def test_nps_rises_with_participation_on_the_demo(tmp_path: Path) -> None:
    engine, _ = _demo(tmp_path, 3)
    with engine:
        result = engine.impact("nps")
        satisfaction = engine.impact("csat")
    levels = result["levels"].set_index("level")
    assert list(levels["nps"]) == sorted(levels["nps"])  # none < low < medium < high
    assert levels.loc["none", "ci_high"] < levels.loc["high", "ci_low"]
    assert result["spearman"]["ci_low"] > 0.2
    ordinal = result["ordinal"]  # the planted latent slope 0.6 / SD 2 is about 0.54 on the logit scale: OR ~1.7
    assert ordinal["converged"]
    assert 1.3 < ordinal["ci_low"] < ordinal["odds_ratio"] < ordinal["ci_high"] < 2.2
    assert result["response"]["members"].sum() > 0
    # The demo's CSAT answers do not depend on activity (a planted null): no level stands out.
    csat = satisfaction["levels"].set_index("level")
    assert satisfaction["kind"] == "csat"
    assert csat["answers"].sum() == satisfaction["answers"]
    assert csat["csat"].dropna().between(0, 1).all()
    assert satisfaction["ordinal"]["ci_low"] < 1 < satisfaction["ordinal"]["ci_high"]


def test_csat_is_the_top_two_box_share_per_level_with_wilson_intervals() -> None:
    from commetrics.metrics.impact import survey_table
    from commetrics.metrics.impact.surveys import _score_per_level
    from commetrics.stats import wilson_interval

    frame = pd.DataFrame({"level": ["none"] * 4 + ["high"] * 10,
                          "score": [1, 2, 4, 5, 5, 5, 4, 4, 4, 3, 5, 5, 2, 4],
                          "member_id": ["a", "b", "c", "d", *[f"m{i // 2}" for i in range(10)]]})
    table = _score_per_level(frame, ImpactSettings(), "csat").set_index("level")
    assert (table.loc["high", "answers"], table.loc["high", "members"]) == (10, 5)  # suppression counts members
    assert table.loc["none", "csat"] == 0.5
    assert table.loc["high", "csat"] == 0.8
    assert (table.loc["high", "ci_low"], table.loc["high", "ci_high"]) == pytest.approx(wilson_interval(8, 10))
    assert table.loc["low", "answers"] == 0
    assert math.isnan(table.loc["low", "csat"])
    with pytest.raises(InputError, match="nps and csat"):
        survey_table(None, ImpactSettings(), datetime(2025, 1, 1, tzinfo=UTC), "ces")


def test_logrank_and_event_counts_match_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines", reason="lifelines gives the independent answers (dev extra)")
    from lifelines.datasets import load_waltons
    from lifelines.statistics import multivariate_logrank_test

    from commetrics.stats import event_counts, kaplan_meier, logrank_test

    waltons = load_waltons()
    chi2, df, p = logrank_test(waltons["T"], waltons["E"], waltons["group"])
    assert (round(chi2, 2), df) == (122.25, 1)  # the published value
    assert p == pytest.approx(2.0e-28, rel=0.05)
    rng = np.random.default_rng(4)
    t, e, g = rng.exponential(10, 400).round(), rng.random(400) < 0.7, rng.integers(0, 3, 400)
    assert logrank_test(t, e, g)[0] == pytest.approx(multivariate_logrank_test(t, g, e).test_statistic, rel=1e-9)
    km = kaplan_meier(*event_counts(t, e))
    reference = lifelines.KaplanMeierFitter().fit(t, e).survival_function_
    expected = reference.loc[km.times].to_numpy()[:, 0]
    assert km.survival == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_retention_by_level_on_the_demo(tmp_path: Path) -> None:
    engine, _ = _demo(tmp_path, 2)
    with engine:
        result = engine.impact("retention")
    levels = result["levels"].set_index("level")
    assert levels.loc["high", "retained_730d"] > levels.loc["none", "retained_730d"]
    assert result["logrank"]["p"] < 0.05
    assert result["cox_converged"]
    assert result["headline"]
    cox = result["cox"].set_index("term")
    assert cox.loc["log:arr", "hazard_ratio"] < 1  # bigger accounts churn less, as planted
    assert np.isfinite(cox[["ci_low", "ci_high"]].to_numpy()).all()
    assert result["accounts"] == levels["accounts"].sum()


def test_exposure_question_recovers_a_planted_effect(tmp_path: Path) -> None:
    # Senior members attend more webinars and book more demos anyway; attending adds a planted effect.
    from .conftest import NOW, write_csv

    rng = np.random.default_rng(11)
    n = 6_000
    seniority = rng.normal(0, 1, n)
    attended = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.2 * seniority)))
    p0 = 1 / (1 + np.exp(-(-2.0 + 0.9 * seniority)))
    p1 = 1 / (1 + np.exp(-(-2.0 + 0.9 * seniority + 0.8)))
    booked = rng.random(n) < np.where(attended, p1, p0)
    true_ate = float(np.mean(p1 - p0))
    ids = [f"m{i:05d}" for i in range(n)]
    members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "seniority"],
                        [[i, "2024-01-01", f"{s:.4f}"] for i, s in zip(ids, seniority, strict=True)])
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                           [[f"a{k}", i, "2025-05-01", "webinar_attended"] for k, i in enumerate(ids) if attended[k]]
                           + [[f"p{k}", i, "2024-06-01", "post"] for k, i in enumerate(ids) if k % 3 == 0])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"],
                         [[f"o{k}", i, "2025-06-10", "demo_request"] for k, i in enumerate(ids) if booked[k]])
    with Engine.in_memory() as engine:
        for table, path in (("members", members), ("activities", activities), ("outcomes", outcomes)):
            engine.load(table, path, now=NOW)
        result = engine.impact("exposure", exposure="webinar_attended", outcome="demo_request", window_days=30,
                               exposure_days=90, covariates=["seniority"], as_of=datetime(2025, 6, 30, tzinfo=UTC),
                               exact=True)  # the per-member units are exact figures only
        everyone = engine.impact("exposure", exposure="webinar_attended", outcome="demo_request", window_days=30,
                                 exposure_days=90, covariates=["seniority"], as_of=datetime(2025, 6, 30, tzinfo=UTC),
                                 estimand="ate", exact=True)
        with pytest.raises(InputError, match="No eligible member had a 'webinar' activity"):
            engine.impact("exposure", exposure="webinar", outcome="demo_request", as_of=datetime(2025, 6, 30,
                                                                                                tzinfo=UTC))
    assert result["members"] == n
    assert result["exposed"] == int(attended.sum())
    assert result["raw"]["difference"] > result["adjusted"]["ci_high"]  # confounded by seniority
    # The default answer is for the members who attended (ATT) that the comparison kept; the planted truth
    # over exactly those members is covered.
    assert result["estimand"] == "att"
    assert result["headline"]
    units = result["units"].set_index("member_id").loc[ids]
    kept_attended = (units["kept"] & units["exposed"]).to_numpy()
    true_att = float(np.mean((p1 - p0)[kept_attended]))
    assert result["adjusted"]["ci_low"] <= true_att <= result["adjusted"]["ci_high"]
    assert result["adjusted"]["units"]["treated_kept"] == kept_attended.sum()
    assert result["population"].startswith(f"the {kept_attended.sum():,} exposed members, compared with what they")
    # On request, the answer for every member alike (ATE) over the members it kept covers its truth too.
    kept = everyone["units"].set_index("member_id").loc[ids, "kept"].to_numpy()
    assert everyone["estimand"] == "ate"
    assert kept.mean() > 0.8
    assert everyone["adjusted"]["ci_low"] <= float(np.mean((p1 - p0)[kept])) <= everyone["adjusted"]["ci_high"]
    assert abs(float(np.mean((p1 - p0)[kept])) - true_ate) < 0.02
    balance = result["balance"].set_index("covariate")
    assert abs(balance.loc["seniority", "smd_before"]) > 0.5
    assert abs(balance.loc["seniority", "smd_after"]) < 0.1



def test_experiment_analysis_on_a_planted_ab_test(tmp_path: Path) -> None:
    from commetrics.metrics.causal import assign

    from .conftest import NOW, write_csv

    rng = np.random.default_rng(5)
    n = 8_000
    ids = [f"m{i:05d}" for i in range(n)]
    variant = [assign(i, "welcome-email", ["control", "treatment"]) for i in ids]
    treated = np.array([v == "treatment" for v in variant])
    prior = rng.poisson(2.0, n)
    p = np.clip(0.02 + 0.08 * prior + np.where(treated, 0.03, 0.0), 0, 1)  # planted: +3 points (below the cap)
    activated = rng.random(n) < p
    experiments = write_csv(tmp_path / "e.csv", ["experiment", "unit_id", "variant", "exposed_at"],
                            [["welcome-email", i, v, "2025-05-01"] for i, v in zip(ids, variant, strict=True)]
                            + [["welcome-email", "late", "control", "2025-06-25"]])  # window not over: left out
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                           [[f"a{k}-{j}", i, "2025-04-10", "post"] for k, i in enumerate(ids) for j in range(prior[k])])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"],
                         [[f"o{k}", i, "2025-05-08", "activation"] for k, i in enumerate(ids) if activated[k]])
    with Engine.in_memory() as engine:
        for table, path in (("experiments", experiments), ("activities", activities), ("outcomes", outcomes)):
            engine.load(table, path, now=NOW)
        result = engine.impact("experiment", experiment="welcome-email", outcome="activation", window_days=14,
                               as_of=datetime(2025, 6, 30, tzinfo=UTC))
        with pytest.raises(InputError, match="control 'holdout' is not a variant"):
            engine.impact("experiment", experiment="welcome-email", outcome="activation", control="holdout")
        with pytest.raises(InputError, match="No units are assigned"):
            engine.impact("experiment", experiment="no-such-test", outcome="activation")
    assert result["control"] == "control"
    assert result["immature_units"] == 1
    assert not result["srm"]["mismatch"]  # hash assignment: 50/50 as designed
    comparison = result["comparisons"].iloc[0]
    assert comparison["ci_low"] <= 0.03 <= comparison["ci_high"]
    assert comparison["p_holm"] >= comparison["p"]
    assert comparison["cuped_variance_ratio"] < 0.95  # prior activity predicts activation
    assert comparison["cuped_ci_high"] - comparison["cuped_ci_low"] < comparison["ci_high"] - comparison["ci_low"]
    assert comparison["cuped_ci_low"] <= 0.03 <= comparison["cuped_ci_high"]
    rates = result["variants"].set_index("variant")
    assert rates.loc["treatment", "analysed"] + rates.loc["control", "analysed"] == n
    assert 0 < result["minimum_detectable_effect"] < 0.05


def test_impact_commands_print_tables_and_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    files = generate(5_000, 6, tmp_path / "files")
    with Engine.init(tmp_path / "ws") as engine:
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
    runner = CliRunner()
    workspace = ["-w", str(tmp_path / "ws")]
    renewal = runner.invoke(app, ["impact", "renewal", "--json", *workspace])
    assert renewal.exit_code == 0, renewal.output
    payload = json.loads(renewal.output)
    assert {"levels", "raw", "adjusted", "balance", "e_value"} <= set(payload)
    assert payload["balance"][0]["covariate"]
    for command in (["impact", "retention"], ["impact", "nps"], ["impact", "csat"], ["impact", "renewal"]):
        shown = runner.invoke(app, [*command, *workspace])
        assert shown.exit_code == 0, shown.output
    assert "  adjusted   " in shown.output
    assert "Who the answer describes: the " in shown.output
    assert "an adjusted association" in shown.output
    missing = runner.invoke(app, ["impact", "experiment", "--name", "none", "--outcome", "activation", *workspace])
    assert missing.exit_code != 0
    assert "No units are assigned" in missing.output


def test_plan_prints_the_textbook_sample_size_and_its_inverse() -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    runner = CliRunner()
    size = runner.invoke(app, ["impact", "plan", "--baseline", "0.10", "--target", "0.12"])
    assert size.exit_code == 0, size.output
    assert "3,841 units per arm (pooled normal; 3,835 by Cohen's h)" in size.output
    inverse = runner.invoke(app, ["impact", "plan", "--baseline", "0.10", "--n", "3841"])
    assert "2.00 percentage points (to 12.00%)" in inverse.output
    neither = runner.invoke(app, ["impact", "plan", "--baseline", "0.10"])
    assert neither.exit_code != 0
    assert "Give either --target" in neither.output


def test_upsell_risk_set_matching_recovers_a_planted_effect(tmp_path: Path) -> None:
    # Bigger accounts take part more and expand more anyway; taking part adds a planted expansion rate.
    from .conftest import NOW, write_csv

    rng = np.random.default_rng(21)
    n, horizon = 2_400, 180
    z = rng.normal(0, 1, n)
    base = 0.0015 * np.exp(0.7 * z)  # expansions per day without participation
    lift = 0.0015  # added after participation
    start = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")
    takes_part = rng.random(n) < 1 / (1 + np.exp(-(-0.4 + 1.2 * z)))
    joined = start + pd.to_timedelta(rng.integers(30, 400, n), unit="D")
    as_of = pd.Timestamp("2025-06-30", tz="UTC")
    accounts, members, activities, outcomes = [], [], [], []
    for i in range(n):
        aid = f"a{i:05d}"
        accounts.append([aid, "smb", f"{math.exp(10 + z[i]):.2f}", f"{rng.uniform(0, 100):.1f}",
                         start[i].isoformat()])
        members.append([f"m{i:05d}", start[i].isoformat(), aid])
        part = joined[i] if takes_part[i] else None
        if part is not None:
            activities.append([f"x{i}", f"m{i:05d}", part.isoformat(), "post"])
        # Expansions: a Poisson process at the base rate, and at base + lift from participation on.
        spans = [(start[i], part or as_of, base[i])] + ([(part, as_of, base[i] + lift)] if part is not None else [])
        for k, (begin, end, rate) in enumerate(spans):
            days = (end - begin).total_seconds() / 86_400
            for j, offset in enumerate(rng.uniform(0, days, rng.poisson(rate * days))):
                outcomes.append([f"o{i}-{k}-{j}", aid, (begin + pd.Timedelta(days=float(offset))).isoformat(),
                                 "upgrade", "1000"])
    files = {
        "accounts": write_csv(tmp_path / "acc.csv", ["account_id", "segment", "arr", "product_usage", "created_at"],
                              accounts),
        "members": write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id"], members),
        "activities": write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], activities),
        "outcomes": write_csv(tmp_path / "o.csv", ["outcome_id", "account_id", "ts", "type", "value"], outcomes),
    }
    with Engine.in_memory() as engine:
        for table, path in files.items():
            engine.load(table, path, now=NOW)
        result = engine.impact("upsell", horizon_days=horizon, as_of=as_of.to_pydatetime())
    participants = takes_part & (joined + pd.Timedelta(days=horizon) <= as_of)
    truth = float(np.mean(np.exp(-horizon * base[participants]) - np.exp(-horizon * (base[participants] + lift))))
    raw = float(np.mean(1 - np.exp(-horizon * (base[participants] + lift)))
                - np.mean(1 - np.exp(-horizon * base[~takes_part])))
    rate = result["expansion_rate"]
    assert result["matched"] == int(participants.sum())
    assert rate["ci_low"] <= truth <= rate["ci_high"]
    assert raw > rate["ci_high"]  # comparing with everyone else would overstate it
    assert (result["balance"]["smd_matched"].abs() < 0.1).all()
    assert result["headline"]
    assert result["guards"] == []


def test_feedback_contributors_by_hand(tmp_path: Path) -> None:
    from .conftest import NOW, write_csv

    members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id", "consent"], [
        ["m1", "2025-01-01", "A", "true"], ["m2", "2025-01-01", "B", "true"], ["m3", "2025-01-01", "A", "false"]])
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "tags"], [
        ["1", "m1", "2025-02-01", "feedback_submitted", "sso|shipped"],  # tagged as shipped
        ["2", "m1", "2025-03-01", "feedback_submitted", ""],
        ["3", "m2", "2025-02-10", "feedback_submitted", "exports"],
        ["4", "m3", "2025-02-10", "feedback_submitted", ""],           # no consent: counted, never listed
        ["5", "m2", "2025-02-11", "post", ""]])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "account_id", "ts", "type", "value"], [
        ["s1", "m2", "", "2025-04-01", "feature_shipped", ""],         # m2's request shipped later
        ["s0", "m2", "", "2025-01-15", "feature_shipped", ""],         # before any feedback: not theirs
        ["u1", "", "A", "2025-05-01", "upgrade", "5000"],               # after m1's first feedback
        ["u0", "", "B", "2025-01-20", "upgrade", "900"]])              # before m2's feedback: not counted
    with Engine.in_memory() as engine:
        for table, path in (("members", members), ("activities", activities), ("outcomes", outcomes)):
            engine.load(table, path, now=NOW)
        result = engine.feedback_contributors(as_of=datetime(2025, 6, 30, tzinfo=UTC))
    table = result["contributors"].set_index("member_id")
    assert list(table.index) == ["m1", "m2"]  # both shipped once; m1's account then expanded by 5,000
    assert result["withheld_without_consent"] == 1
    assert (table.loc["m1", "feedback"], table.loc["m1", "shipped"], table.loc["m1", "expansion_value"]) == (
        2, 1, 5000.0)
    assert (table.loc["m2", "feedback"], table.loc["m2", "shipped"], table.loc["m2", "expansions"]) == (1, 1, 0)


def test_cox_guards_say_when_hazard_ratios_cannot_be_read() -> None:
    from commetrics.metrics.impact.retention import cox_guards as _cox_guards

    fine = pd.DataFrame({"term": ["level: high (vs none)"], "hazard_ratio": [0.6], "ci_low": [0.4], "ci_high": [0.9]})
    assert _cox_guards(fine, converged=True) == []
    assert [g.name for g in _cox_guards(fine, converged=False)] == ["convergence"]
    separated = fine.assign(hazard_ratio=[np.nan], ci_low=[np.nan], ci_high=[np.inf])
    guards = _cox_guards(separated, converged=True)
    assert [g.name for g in guards] == ["separation"]
    assert "level: high (vs none) are infinite or undefined" in guards[0].message
    assert [g.name for g in _cox_guards(fine.iloc[:0], converged=True)] == ["model"]


@pytest.mark.slow
def test_nps_engaged_against_other_members_adjusted_for_tenure(tmp_path: Path) -> None:
    # The demo plants NPS rising with ln(1 + activities before the answer); engaged members score higher, and
    # the comparison on each member's latest answer says so, adjusted for tenure, with its population.
    engine, _ = _demo(tmp_path, 1)
    with engine:
        nps = engine.impact("nps")
        csat = engine.impact("csat")
    comparison = nps["comparison"]
    assert comparison["headline"], comparison["guards"]
    assert comparison["scale"] == "NPS points"
    assert comparison["adjusted"]["ci_low"] > 0.1  # over 10 NPS points higher
    assert comparison["raw"]["difference"] > 0.1
    assert comparison["population"].startswith(f"the {comparison['adjusted']['units']['treated_kept']:,} engaged "
                                               "members")
    assert comparison["engaged_members"] + comparison["other_members"] == nps["members"]
    # The demo's CSAT answers carry no effect: the adjusted interval includes 0.
    flat = csat["comparison"]
    if not flat.get("reason"):
        assert flat["adjusted"]["ci_low"] < 0 < flat["adjusted"]["ci_high"]
