"""Known answers: Wilson and Newcombe against statsmodels and Newcombe (1998); Kaplan–Meier against lifelines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_leukemia, load_lung, load_rossi, load_waltons
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from commetrics.stats import kaplan_meier, newcombe_interval, wilson_interval


@pytest.mark.parametrize(("x", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_matches_newcombe_1998_and_statsmodels(x: int, n: int, low: float, high: float) -> None:
    ours = wilson_interval(x, n)
    assert ours == pytest.approx((low, high), abs=5e-5)
    assert ours == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-12)


def test_wilson_is_never_degenerate_and_handles_empty_cells() -> None:
    assert wilson_interval(0, 20)[1] > 0  # Wald would say (0, 0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(21, 20)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926), (0, 10, 0, 20, -0.1611, 0.2775), (10, 10, 0, 20, 0.6791, 1.0000)])
def test_newcombe_matches_newcombe_1998_and_statsmodels(x1: int, n1: int, x2: int, n2: int, low: float,
                                                        high: float) -> None:
    difference, ours_low, ours_high = newcombe_interval(x1, n1, x2, n2)
    assert difference == pytest.approx(x1 / n1 - x2 / n2)
    assert (ours_low, ours_high) == pytest.approx((low, high), abs=5e-5)
    reference = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert (ours_low, ours_high) == pytest.approx(reference, abs=1e-9)


def _ours(durations: np.ndarray, observed: np.ndarray):  # type: ignore[no-untyped-def]
    """Aggregate person-level data the way the engine's query does, then estimate."""
    frame = pd.DataFrame({"t": durations, "e": observed.astype(int)})
    counts = frame.groupby("t").agg(events=("e", "sum"), removed=("e", "size")).sort_index()
    counts["at_risk"] = counts["removed"][::-1].cumsum()[::-1]
    with_events = counts[counts["events"] > 0]
    return kaplan_meier(with_events.index.to_numpy(), with_events["events"], with_events["at_risk"], len(frame))


def _lifelines(durations: np.ndarray, observed: np.ndarray) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(durations, observed)


@pytest.mark.parametrize(("name", "groups"), [
    ("waltons", {"control": 58.0, "miR-137": 26.0}),
    ("leukemia", {0: 23.0, 1: 8.0}),
])
def test_km_medians_match_lifelines_and_the_published_values(name: str, groups: dict[object, float]) -> None:
    if name == "waltons":
        data, time, event, group = load_waltons(), "T", "E", "group"
    else:
        data, time, event, group = load_leukemia(), "t", "status", "Rx"
    for value, median in groups.items():
        part = data[data[group] == value]
        ours = _ours(part[time].to_numpy(float), part[event].to_numpy())
        assert ours.median == median
        assert ours.median == _lifelines(part[time].to_numpy(float), part[event].to_numpy()).median_survival_time_


def test_km_on_lung_matches_lifelines_curve_median_and_intervals() -> None:
    lung = load_lung()
    durations, observed = lung["time"].to_numpy(float), lung["status"].to_numpy()
    ours = _ours(durations, observed)
    theirs = _lifelines(durations, observed)
    assert ours.median == 310.0 == theirs.median_survival_time_
    assert ours.survival_at(365) == pytest.approx(0.4092, abs=5e-5)
    curve = theirs.survival_function_["KM_estimate"]
    ci = theirs.confidence_interval_survival_function_
    for i, t in enumerate(ours.times):
        assert ours.survival[i] == pytest.approx(curve.loc[t], abs=1e-12)
        assert ours.ci_low[i] == pytest.approx(ci.loc[t].iloc[0], abs=1e-9)
        assert ours.ci_high[i] == pytest.approx(ci.loc[t].iloc[1], abs=1e-9)
    for sex, median in ((1, 270.0), (2, 426.0)):
        part = lung[lung["sex"] == sex]
        assert _ours(part["time"].to_numpy(float), part["status"].to_numpy()).median == median


def test_km_median_not_reached_is_inf_and_lower_quantiles_exist() -> None:
    rossi = load_rossi()
    ours = _ours(rossi["week"].to_numpy(float), rossi["arrest"].to_numpy())
    assert ours.median == math.inf
    assert ours.survival_at(52) == pytest.approx(0.7361, abs=5e-5)
    theirs = _lifelines(rossi["week"].to_numpy(float), rossi["arrest"].to_numpy())
    assert math.isinf(theirs.median_survival_time_)
    from lifelines.utils import qth_survival_times

    assert ours.quantile_time(0.9) == float(qth_survival_times(0.9, theirs.survival_function_))


def test_km_without_censoring_has_the_sample_median() -> None:
    times = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert _ours(times, np.ones(5, dtype=int)).median == 3.0
