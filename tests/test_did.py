"""Difference-in-differences and event studies (METHODS.md card (d), §6 item 10).

Known answer: *The Effect* ch. 18 (organ donations, California's 2011 Q3 active-choice policy),
checked against statsmodels' dummy-variable OLS with state-clustered SEs. Recovery: synthetic
staggered panels with planted event-time effects and planted pre-trends. Reference: a plain
pandas loop over cohorts and periods.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from causaldata import organ_donations
from hypothesis import given, settings
from hypothesis import strategies as st

from commetrics.errors import InputError
from commetrics.metrics.did import event_study, twfe_did

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _organ() -> pd.DataFrame:
    """27 states × 6 quarters; California treated from Quarter_Num 4 (Q3 2011), as in The Effect."""
    data = organ_donations.load_pandas().data
    panel = data.rename(columns={"State": "unit", "Quarter_Num": "period", "Rate": "y"})[["unit", "period", "y"]]
    panel["first_treated"] = np.where(panel["unit"] == "California", 4.0, np.nan)
    return panel


def _staggered(seed: int, *, n: int = 300, periods: int = 12, cohorts: tuple[int, ...] = (4, 7, 10),
               never: float = 0.4, effect: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
               trend: float = 0.0) -> pd.DataFrame:
    """y = unit effect + period effect + effect(t − g) once treated + trend · t for ever-treated units + noise."""
    rng = np.random.default_rng(seed)
    shares = [never] + [(1 - never) / len(cohorts)] * len(cohorts)
    start = rng.choice(np.array([np.nan, *cohorts]), size=n, p=shares)
    unit, period = np.repeat(np.arange(n), periods), np.tile(np.arange(1, periods + 1), n)
    g = start[unit]
    event = np.nan_to_num(period - g, nan=-1.0)
    treated = ~np.isnan(g) & (event >= 0)
    planted = (effect or _growing)(event)
    y = (rng.normal(0, 2, n)[unit] + rng.normal(0, 1, periods)[period - 1] + np.where(treated, planted, 0.0)
         + trend * period * ~np.isnan(g) + rng.normal(0, 1, n * periods))
    return pd.DataFrame({"unit": unit, "period": period, "y": y, "first_treated": g})


def _growing(event: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 + 0.5 * event


def _statsmodels_twfe(panel: pd.DataFrame) -> object:
    frame = panel.assign(d=(panel["period"] >= panel["first_treated"]).astype(float))
    return smf.ols("y ~ d + C(unit) + C(period)", frame).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["unit"])[0]}, use_t=True)


def _reference_event_study(panel: pd.DataFrame, leads: int, lags: int) -> dict[int, float]:
    """Cohort-size-weighted ATT(g, g+e) with base g − 1, by a loop over cohorts (the readable version)."""
    wide = panel.pivot(index="unit", columns="period", values="y")
    start = panel.groupby("unit")["first_treated"].first()
    controls = wide[start.isna()]
    parts: dict[int, list[tuple[float, int]]] = {}
    for g in sorted(start.dropna().unique()):
        members = wide[start == g]
        for e in range(-leads, lags + 1):
            if e == -1 or g + e not in wide.columns or g - 1 not in wide.columns:
                continue
            treated = (members[g + e] - members[g - 1]).dropna()
            control = (controls[g + e] - controls[g - 1]).dropna()
            if len(treated):
                parts.setdefault(e, []).append((treated.mean() - control.mean(), len(treated)))
    return {e: sum(a * n for a, n in rows) / sum(n for _, n in rows) for e, rows in parts.items()}


# --------------------------------------------------------------------------------------------
# Two-way fixed effects
# --------------------------------------------------------------------------------------------


def test_twfe_matches_the_effect_organ_donations_and_statsmodels() -> None:
    """The Effect ch. 18: Rate ~ Treated + C(State) + C(Quarter) gives −0.02246, clustered SE 0.0067."""
    panel = _organ()
    ours = twfe_did(panel)
    assert ours.estimate == pytest.approx(-0.02246, abs=5e-6)
    assert ours.se == pytest.approx(0.0067, abs=5e-5)

    reference = _statsmodels_twfe(panel)
    assert ours.estimate == pytest.approx(reference.params["d"], abs=1e-12)  # type: ignore[attr-defined]
    assert ours.se == pytest.approx(reference.bse["d"], rel=1e-9)  # type: ignore[attr-defined]
    assert ours.pvalue == pytest.approx(reference.pvalues["d"], rel=1e-7)  # type: ignore[attr-defined]
    low, high = reference.conf_int().loc["d"]  # type: ignore[attr-defined]
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert (ours.n_units_treated, ours.n_units_control, ours.n_periods, ours.n_obs, ours.n_clusters) == (
        1, 26, 6, 162, 27)


def test_twfe_matches_statsmodels_on_an_unbalanced_staggered_panel() -> None:
    """Alternating projections give the dummy regression's coefficient and CR1 SE when units miss periods."""
    panel = _staggered(3, n=120, periods=8, cohorts=(3, 5, 9))  # cohort 9 starts after the panel ends
    panel = panel.sample(frac=0.8, random_state=1).reset_index(drop=True)
    panel["unit"] = "u" + panel["unit"].astype(str)  # ids need not be numbers
    ours = twfe_did(panel)
    reference = _statsmodels_twfe(panel)
    assert ours.estimate == pytest.approx(reference.params["d"], abs=1e-9)  # type: ignore[attr-defined]
    assert ours.se == pytest.approx(reference.bse["d"], rel=1e-7)  # type: ignore[attr-defined]
    treated_rows = panel["period"] >= panel["first_treated"]
    assert ours.n_units_treated == panel.loc[treated_rows, "unit"].nunique()  # a unit needs a treated row
    assert ours.n_units_control == 120 - ours.n_units_treated


def test_twfe_and_event_study_are_fast_on_5000_units_by_24_periods() -> None:
    panel = _staggered(1, n=5000, periods=24, cohorts=(6, 12, 18))
    started = time.perf_counter()
    twfe = twfe_did(panel)
    study = event_study(panel, leads=5, lags=5)
    assert time.perf_counter() - started < 3.0
    assert np.isfinite(twfe.se)
    assert study.estimate_at(5).estimate == pytest.approx(3.5, abs=0.2)
    assert study.n_units_treated + study.n_units_control == 5000


def test_twfe_refuses_a_panel_without_treated_rows_or_comparison() -> None:
    panel = _staggered(0, n=20, periods=4, cohorts=(3,))
    with pytest.raises(InputError, match="No row is treated"):
        twfe_did(panel.assign(first_treated=np.nan))
    with pytest.raises(InputError, match="fully explained"):
        twfe_did(panel.assign(first_treated=3.0))


# --------------------------------------------------------------------------------------------
# Event study: known answers and identities
# --------------------------------------------------------------------------------------------


def test_event_study_on_organ_donations_equals_the_hand_contrasts() -> None:
    """California vs the other states, each quarter against Q2 2011 (period 3, the quarter before)."""
    panel = _organ()
    study = event_study(panel, leads=3, lags=2, replicates=199)
    california = panel[panel["unit"] == "California"].set_index("period")["y"]
    others = panel[panel["unit"] != "California"].groupby("period")["y"].mean()

    def contrast(t: int) -> float:
        return float((california[t] - california[3]) - (others[t] - others[3]))

    assert [row.event_time for row in study.event_times] == [-3, -2, -1, 0, 1, 2]
    for e in (-3, -2, 0, 1, 2):
        assert study.estimate_at(e).estimate == pytest.approx(contrast(4 + e), abs=1e-12)
    hand = (california[[4, 5, 6]].mean() - california[3]) - (others[[4, 5, 6]].mean() - others[3])
    assert study.post_estimate == pytest.approx(hand, abs=1e-12)
    assert study.post_estimate == pytest.approx(-0.02134, abs=5e-6)
    assert study.pre_trend is not None
    assert study.pre_trend.df == 2
    assert any("single unit" in note for note in study.notes)


@settings(deadline=None, max_examples=30)
@given(st.integers(2, 6), st.integers(2, 6), st.data())
def test_single_cohort_two_periods_event_study_equals_2x2_and_twfe(n_treated: int, n_control: int,
                                                                     data: st.DataObject) -> None:
    """With one pre and one post period, e = 0 is the 2×2 DiD of means, and so is TWFE (an identity)."""
    values = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
    n = n_treated + n_control
    before = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    after = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    start = np.r_[np.full(n_treated, 2.0), np.full(n_control, np.nan)]
    panel = pd.DataFrame({"unit": np.tile(np.arange(n), 2), "period": np.repeat([1, 2], n),
                          "y": np.r_[before, after], "first_treated": np.tile(start, 2)})
    change = after - before
    by_hand = change[:n_treated].mean() - change[n_treated:].mean()
    study = event_study(panel, leads=1, lags=0, replicates=50)
    assert study.estimate_at(0).estimate == pytest.approx(by_hand, abs=1e-8)
    assert twfe_did(panel).estimate == pytest.approx(by_hand, abs=1e-8)
    assert study.pre_trend is None


def test_event_study_matches_a_reference_loop_on_an_unbalanced_staggered_panel() -> None:
    panel = _staggered(5, n=150, periods=10, cohorts=(2, 4, 7))
    panel = panel.sample(frac=0.85, random_state=2).reset_index(drop=True)
    study = event_study(panel, leads=4, lags=3, replicates=99)
    expected = _reference_event_study(panel, leads=4, lags=3)
    ours = {row.event_time: row.estimate for row in study.event_times if row.event_time != -1}
    assert ours == pytest.approx(expected, abs=1e-12)
    assert set(study.group_time["cohort"]) == {2, 4, 7}


def test_bootstrap_se_agrees_with_the_analytic_se_of_a_2x2() -> None:
    """The SE of a difference of two means of changes: √(var_T / n_T + var_C / n_C)."""
    rng = np.random.default_rng(11)
    n_treated, n_control = 400, 600
    change = np.r_[rng.normal(1, 2, n_treated), rng.normal(0, 1, n_control)]
    before = rng.normal(0, 1, n_treated + n_control)
    start = np.r_[np.full(n_treated, 2.0), np.full(n_control, np.nan)]
    panel = pd.DataFrame({"unit": np.tile(np.arange(n_treated + n_control), 2), "period": np.repeat([1, 2], 1000),
                          "y": np.r_[before, before + change], "first_treated": np.tile(start, 2)})
    analytic = np.sqrt(change[:n_treated].var() / n_treated + change[n_treated:].var() / n_control)
    study = event_study(panel, leads=1, lags=0, replicates=999, seed=4)
    assert study.estimate_at(0).se == pytest.approx(analytic, rel=0.1)
    assert study.post_se == pytest.approx(study.estimate_at(0).se, abs=1e-12)


def test_the_same_seed_gives_the_same_intervals_and_another_seed_does_not() -> None:
    panel = _staggered(2, n=100, periods=8, cohorts=(4, 6))
    first, again = (event_study(panel, leads=2, lags=2, replicates=99, seed=7) for _ in range(2))
    other = event_study(panel, leads=2, lags=2, replicates=99, seed=8)
    assert first.frame().equals(again.frame())
    assert first.post_estimate == other.post_estimate
    assert first.post_se != other.post_se


def test_frame_has_one_row_per_event_time_with_the_reference_at_zero() -> None:
    study = event_study(_staggered(4, n=200), leads=3, lags=2, replicates=99)
    frame = study.frame()
    assert list(frame.columns) == ["event_time", "estimate", "se", "low", "high", "cohorts", "units"]
    assert frame["event_time"].tolist() == [-3, -2, -1, 0, 1, 2]
    reference = frame.set_index("event_time").loc[-1]
    assert (reference["estimate"], reference["low"], reference["high"]) == (0.0, 0.0, 0.0)
    assert (frame["low"] <= frame["estimate"]).all()
    assert (frame["estimate"] <= frame["high"]).all()
    assert frame.set_index("event_time")["cohorts"].to_dict() == {-3: 3, -2: 3, -1: 3, 0: 3, 1: 3, 2: 3}
    by_cohort = study.group_time.query("event_time == 0")["units"].sum()
    assert frame.set_index("event_time").loc[0, "units"] == by_cohort == study.n_units_treated


# --------------------------------------------------------------------------------------------
# Event study: recovery of planted effects and pre-trends
# --------------------------------------------------------------------------------------------


def test_event_study_recovers_growing_effects_where_twfe_is_biased() -> None:
    """Staggered starts, effect 1 + 0.5·e: the event study covers the truth; TWFE misses the average effect."""
    covered, total = 0, 0
    for seed in range(20):
        panel = _staggered(seed)
        study = event_study(panel, leads=3, lags=2, replicates=199, seed=seed)
        for row in study.event_times:
            if row.event_time != -1:
                truth = 1 + 0.5 * row.event_time if row.event_time >= 0 else 0.0
                covered += row.low <= truth <= row.high
                total += 1
        event = panel["period"] - panel["first_treated"]
        att_over_treated_rows = _growing(event[event >= 0].to_numpy()).mean()
        twfe = twfe_did(panel)
        assert not twfe.ci_low <= att_over_treated_rows <= twfe.ci_high
        assert twfe.estimate < 0.8 * att_over_treated_rows  # it leans on early starters as controls
    assert covered / total >= 0.85  # nominal 0.95 over 100 intervals


def test_pre_trend_test_rejects_a_planted_upward_pre_trend() -> None:
    for seed in range(5):
        study = event_study(_staggered(200 + seed, trend=0.5), leads=3, lags=2, replicates=199, seed=seed)
        assert study.pre_trend is not None
        assert study.pre_trend.pvalue < 0.05
        assert study.parallel_trends_ok is False
        assert "already moved differently" in study.pre_trend_sentence


def test_pre_trend_statistic_is_the_wald_form_of_the_pre_period_rows() -> None:
    """χ² = θ' Σ⁻¹ θ over e ≤ −2, with Σ's diagonal equal to the squared SEs shown in the frame."""
    study = event_study(_staggered(9, trend=0.1), leads=4, lags=1, replicates=199)
    test = study.pre_trend
    assert test is not None
    assert test.event_times == (-4, -3, -2)
    rows = study.frame().set_index("event_time").loc[list(test.event_times)]
    theta = rows["estimate"].to_numpy()
    np.testing.assert_allclose(np.diag(test.covariance), rows["se"].to_numpy() ** 2, rtol=1e-10)
    sd = np.sqrt(np.diag(test.covariance))
    correlation = test.covariance / np.outer(sd, sd)
    assert correlation[1, 2] > 0.2  # the shared base period correlates them
    assert test.statistic == pytest.approx(float(theta @ np.linalg.solve(test.covariance, theta)), rel=1e-9)
    assert test.df == 3


def test_pre_trend_test_holds_its_size_under_parallel_trends() -> None:
    rejections = 0
    for seed in range(40):
        study = event_study(_staggered(100 + seed, n=200), leads=3, lags=2, replicates=199, seed=seed)
        assert study.pre_trend is not None
        assert study.pre_trend.df == 2
        rejections += not study.parallel_trends_ok
    assert rejections / 40 <= 0.15


# --------------------------------------------------------------------------------------------
# Refusals and notes
# --------------------------------------------------------------------------------------------


def test_too_few_pre_periods_still_estimates_but_skips_the_pre_trend_test() -> None:
    panel = _staggered(6, n=100, periods=6, cohorts=(2,))  # one pre-period only
    study = event_study(panel, leads=3, lags=2, replicates=99)
    assert study.pre_trend is None
    assert study.parallel_trends_ok is None
    assert study.estimate_at(2).estimate == pytest.approx(2.0, abs=0.6)
    assert any(note.startswith("No pre-trend test: no cohort") for note in study.notes)
    assert "two or more periods before" in study.pre_trend_sentence
    short = event_study(_staggered(6, n=100), leads=1, lags=2, replicates=99)
    assert short.pre_trend is None
    assert any("leads=1" in note for note in short.notes)


def test_a_cohort_starting_in_the_first_period_is_left_out_with_a_note() -> None:
    panel = _staggered(7, n=120, periods=8, cohorts=(1, 4))
    study = event_study(panel, leads=2, lags=2, replicates=99)
    assert study.n_cohorts == 1
    assert set(study.group_time["cohort"]) == {4}
    assert any(note.startswith("Cohort 1 was left out") for note in study.notes)
    assert study.n_units_treated == int((panel.groupby("unit")["first_treated"].first() == 4).sum())


def _bad(panel: pd.DataFrame, change: str) -> pd.DataFrame:
    panel = panel.copy()
    if change == "no never-treated":
        return panel.assign(first_treated=panel["first_treated"].fillna(5.0))
    if change == "no treated":
        return panel.assign(first_treated=None)
    if change == "duplicate period":
        return pd.concat([panel, panel.iloc[[3]]], ignore_index=True)
    if change == "text y":
        return panel.assign(y=panel["y"].map("{:.2f}".format))
    if change == "first_treated varies":
        panel.loc[0, "first_treated"] = 3.0 if np.isnan(panel.loc[0, "first_treated"]) else np.nan
        return panel
    if change == "missing column":
        return panel.drop(columns="first_treated")
    if change == "fractional period":
        return panel.assign(period=panel["period"] + 0.5)
    raise AssertionError(change)


@pytest.mark.parametrize(("change", "message"), [
    ("no never-treated", "no never-treated units"),
    ("no treated", "No unit is treated"),
    ("duplicate period", "repeat a \\(unit, period\\) pair"),
    ("text y", "Column 'y' must be numeric"),
    ("first_treated varies", "must be the same on all of its rows"),
    ("missing column", "lacks columns \\['first_treated'\\]"),
    ("fractional period", "whole period numbers"),
])
def test_event_study_refuses_unusable_panels_and_says_what_to_do(change: str, message: str) -> None:
    panel = _bad(_staggered(8, n=40, periods=6, cohorts=(3, 4)), change)
    with pytest.raises(InputError, match=message):
        event_study(panel, leads=2, lags=2, replicates=50)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"leads": -1, "lags": 2}, "leads must be a whole number"),
    ({"leads": 2, "lags": 1.5}, "lags must be a whole number"),
    ({"leads": 2, "lags": 2, "replicates": 10}, "replicates must be a whole number of at least 50"),
    ({"leads": 2, "lags": 2, "confidence": 95}, "confidence must lie strictly between 0 and 1"),
])
def test_event_study_refuses_bad_parameters(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        event_study(_staggered(8, n=40, periods=6, cohorts=(3,)), **arguments)  # type: ignore[arg-type]
