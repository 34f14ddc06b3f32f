"""The attribution model registry: a model added by registering it, unknown names, models that need touch times."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from commetrics import InputError
from commetrics.errors import UnknownNameError
from commetrics.metrics import attribution
from commetrics.metrics.attribution import (
    ATTRIBUTION_MODELS,
    MODELS,
    AttributionModel,
    AttributionOptions,
    Journeys,
    Paths,
    attribute,
    bootstrap_intervals,
    heuristic_attribution,
)
from commetrics.metrics.attribution.models import markov
from commetrics.reports.html import model_labels

PATHS = Paths.from_records([
    (["a", "b", "a"], 2, 30.0, 1),
    (["c"], 1, 5.0, 0),
    (["b", "c"], 1, 10.0, 2),
    (["a"], 0, 0.0, 3),
])


def _even_split(paths: Paths, touches: pd.DataFrame | None, options: AttributionOptions) -> pd.DataFrame:
    """A model defined here, outside commetrics: every conversion split evenly over the distinct classes of its path."""
    credit = {cls: [0.0, 0.0] for cls in paths.classes}
    for path, conversions, value in zip(paths.paths, paths.conversions, paths.value, strict=True):
        distinct = set(path)
        for cls in distinct:
            credit[cls][0] += conversions / len(distinct)
            credit[cls][1] += value / len(distinct)
    return pd.DataFrame({"class": list(credit), "conversions": [c for c, _ in credit.values()],
                         "value": [v for _, v in credit.values()]})


@pytest.fixture
def even_split() -> Iterator[AttributionModel]:
    model = AttributionModel("even_split", "Even split", "Every conversion split evenly over the distinct classes "
                             "of its journey.", _even_split)
    ATTRIBUTION_MODELS.register(model.name, model)
    yield model
    ATTRIBUTION_MODELS.unregister(model.name)


def test_a_registered_model_runs_through_attribute(even_split: AttributionModel) -> None:
    assert ATTRIBUTION_MODELS.names()[-1] == "even_split"  # after the built-ins
    result = attribute(PATHS, ["even_split", "first"])
    mine = result[result["model"] == "even_split"].set_index("class")
    # By hand: a > b > a (2 conversions, 30) gives a and b 1 and 15 each; c (1, 5) all to c; b > c (1, 10)
    # gives b and c 0.5 and 5 each; the non-converting path gives nothing.
    assert mine["conversions"].to_dict() == pytest.approx({"a": 1.0, "b": 1.5, "c": 1.5})
    assert mine["value"].to_dict() == pytest.approx({"a": 15.0, "b": 20.0, "c": 10.0})
    assert mine["conversions"].sum() == pytest.approx(PATHS.total_conversions)
    assert mine["value"].sum() == pytest.approx(PATHS.total_value)
    assert mine["share"].to_dict() == pytest.approx({"a": 0.25, "b": 0.375, "c": 0.375})
    assert mine["journeys"].to_dict() == {"a": 2, "b": 3, "c": 2}  # converting journeys through the class
    intervals = bootstrap_intervals(PATHS, "even_split", replicates=50, seed=1)
    assert list(intervals["class"]) == ["a", "b", "c"]
    assert (intervals["conversions_low"] <= intervals["conversions_high"]).all()


def test_an_unknown_model_names_the_close_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown attribution model 'marcov'\. Did you mean 'markov'"):
        attribute(PATHS, ["marcov"])
    with pytest.raises(UnknownNameError, match="Did you mean 'shapley'"):
        bootstrap_intervals(PATHS, "shapely", replicates=2)


def test_time_decay_needs_touch_times_a_path_table_lacks() -> None:
    message = "Time decay needs the time of every touch; aggregated path files do not have it"
    with pytest.raises(InputError, match=message):
        attribute(PATHS, ["first", "time_decay"])
    with pytest.raises(InputError, match=message):
        bootstrap_intervals(PATHS, "time_decay", replicates=2)


def test_built_in_models_in_display_order_with_labels_and_descriptions() -> None:
    names = ATTRIBUTION_MODELS.names()
    assert tuple(names[:len(MODELS)]) == MODELS == ("first", "last", "linear", "position", "time_decay", "markov",
                                                    "shapley")
    for name in MODELS:
        model = ATTRIBUTION_MODELS.get(name)
        assert model.name == name
        assert model.label == model_labels()[name]  # the report's labels are the registry's
        assert model.description.endswith(".")
        assert len(model.description) > 20
        assert model.needs_touch_times == (name == "time_decay")


def test_options_and_keywords_give_the_same_credit_and_weights_are_checked() -> None:
    expected = heuristic_attribution(PATHS, "position", first=0.3, last=0.5)
    by_options = attribute(PATHS, ["position"], options=AttributionOptions(first=0.3, last=0.5))
    by_keywords = attribute(PATHS, ["position"], options=AttributionOptions(first=0.9, last=0.1), first=0.3, last=0.5)
    for result in (by_options, by_keywords):
        assert list(result["conversions"]) == list(expected["conversions"])
        assert list(result["value"]) == list(expected["value"])
    for first, last in ((0.7, 0.5), (-0.1, 0.5), (0.0, 0.0), (float("nan"), 0.4)):
        with pytest.raises(InputError, match="Position weights"):
            AttributionOptions(first=first, last=last)
        with pytest.raises(InputError, match="Position weights"):
            attribute(PATHS, ["position"], first=first, last=last)


def test_bootstrap_of_a_touch_model_without_touch_shares_reruns_it() -> None:
    touches = pd.DataFrame({"journey": ["j1", "j1", "j2", "j3", "j3", "j3"], "class": ["b", "a", "a", "c", "a", "c"],
                            "days_before": [0.0, 3.0, 1.0, 10.0, 2.0, 0.5], "conversions": 1.0,
                            "value": [10.0, 10.0, 4.0, 8.0, 8.0, 8.0]})
    paths = Paths.from_records([(["a", "b"], 1, 10.0, 0), (["a"], 1, 4.0, 2), (["c", "a", "c"], 1, 8.0, 0)])
    journeys = Journeys(paths=paths, touches=touches, conversions_without_touch=0, value_without_touch=0.0)
    plain = dataclasses.replace(ATTRIBUTION_MODELS.get("time_decay"), name="time_decay_rerun", touch_shares=None)
    ATTRIBUTION_MODELS.register(plain.name, plain)
    try:
        rerun = bootstrap_intervals(journeys, plain.name, replicates=40, seed=3, half_life_days=2.0)
        fast = bootstrap_intervals(journeys, "time_decay", replicates=40, seed=3, half_life_days=2.0)
    finally:
        ATTRIBUTION_MODELS.unregister(plain.name)
    pd.testing.assert_frame_equal(rerun, fast, rtol=1e-12, atol=1e-12)


def test_solver_settings_set_on_the_package_reach_the_markov_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attribution, "DIRECT_STATES", 0)
    assert markov.DIRECT_STATES == 0
    monkeypatch.undo()
    assert markov.DIRECT_STATES == attribution.DIRECT_STATES == 2_000


def test_a_registry_read_by_two_threads_at_once_discovers_its_entries_once_for_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard computes side by side from its first request: a thread reading a registry while another
    discovers it waits for the discovery instead of finding it empty."""
    import sys
    import threading

    from commetrics.registry import Registry

    package = tmp_path / "slowplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("import time\nfrom slowplugins_registry import REG\ntime.sleep(0.5)\n"
                                    "REG.register('one', 1)\n")
    registry: Registry[int] = Registry("plug-in", discover="slowplugins")
    module = type(sys)("slowplugins_registry")
    module.REG = registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "slowplugins_registry", module)
    monkeypatch.syspath_prepend(str(package.parent))
    seen: list[list[str]] = []
    threads = [threading.Thread(target=lambda: seen.append(registry.names())) for _ in range(2)]
    threads[0].start()
    time.sleep(0.1)  # the first is discovering
    threads[1].start()
    for thread in threads:
        thread.join(timeout=30)
    assert seen == [["one"], ["one"]]
