"""Time to conversion per cohort (``km_by_cohort``) against lifelines, fitted on every unit's own duration and
event read from the conversion's base: the curves, the numbers at risk, each cohort's size (cohorts without a
converter included) and the cohorts' order."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from commetrics import Engine
from commetrics.metrics.conversion import ConversionSpec, km_by_cohort, prepared

AS_OF = datetime.fromisoformat("2026-06-30T00:00:00+00:00")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:  # type: ignore[misc]
    from commetrics.demo import generate

    directory = tmp_path_factory.mktemp("km")
    files = generate(1_200, 9, directory / "data")
    with Engine.init(directory / "ws") as engine, engine.batch():
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
    with Engine(directory / "ws", read_only=True) as engine:
        yield engine


def _units(engine: Engine, spec: ConversionSpec) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each unit's cohort label, days from its anchor to conversion or to AS_OF, and whether it converted."""
    base = prepared(engine.ibis(), spec, AS_OF, "UTC")
    frame = base.filter(~base.existing).execute()
    converted = frame["first_ts"].notna().to_numpy()
    end = frame["first_ts"].where(frame["first_ts"].notna(), AS_OF)
    days = ((end - frame["start"]).dt.total_seconds() / 86_400).to_numpy(float)
    labels = [" / ".join(str(row[k]) for k in spec.by) or "all" for row in frame.to_dict(orient="records")]
    return labels, days, converted


@pytest.mark.parametrize("by", [(), ("entry_path",), ("join_month",), ("entry_path", "join_quarter")])
@pytest.mark.parametrize("outcome", ["trial_start", "advocacy"])
def test_km_per_cohort_matches_lifelines_on_each_units_duration(demo: Engine, by: tuple[str, ...],
                                                                outcome: str) -> None:
    from lifelines import KaplanMeierFitter

    spec = ConversionSpec(name="t", outcomes=(outcome,), by=by)
    curves = km_by_cohort(demo.ibis(), spec, AS_OF, "UTC")
    labels, days, converted = _units(demo, spec)
    names = np.array(labels, dtype=object)
    assert sorted(curves) == sorted(set(labels))  # every cohort, with a converter or not
    if by:
        assert list(curves) == sorted(curves, key=lambda label: tuple(label.split(" / ")))  # ordered by the keys
    for label, estimate in curves.items():
        mine = names == label
        assert estimate.n == int(mine.sum())
        if not converted[mine].any():
            assert len(estimate.times) == 0
            continue
        fit = KaplanMeierFitter().fit(days[mine], converted[mine])
        table = fit.event_table[fit.event_table["observed"] > 0]
        np.testing.assert_allclose(estimate.times, table.index.to_numpy(float), rtol=1e-12)
        np.testing.assert_array_equal(estimate.events, table["observed"].to_numpy())
        np.testing.assert_array_equal(estimate.at_risk, table["at_risk"].to_numpy())
        np.testing.assert_allclose(estimate.survival, fit.survival_function_.loc[table.index].to_numpy().ravel(),
                                   rtol=1e-9)
