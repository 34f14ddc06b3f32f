"""Attribution over aggregated paths: hand-computed answers and the properties every model keeps."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commetrics import InputError
from commetrics.metrics.attribution import (
    HEURISTIC_MODELS,
    AttributionOptions,
    Paths,
    heuristic_attribution,
    markov_attribution,
    read_paths,
    shapley_attribution,
    time_decay_attribution,
)

PATHS = Paths.from_records([
    (["webinar", "forum", "ama"], 2, 300.0, 1),
    (["forum"], 1, 50.0, 3),
    (["ama", "forum"], 1, 100.0, 0),
    (["slack"], 0, 0.0, 4),
])


def _credit(frame: pd.DataFrame, column: str = "conversions") -> dict[str, float]:
    return {k: round(v, 12) for k, v in zip(frame["class"], frame[column], strict=True)}


def test_heuristics_by_hand() -> None:
    assert _credit(heuristic_attribution(PATHS, "first")) == {"ama": 1.0, "forum": 1.0, "slack": 0.0, "webinar": 2.0}
    assert _credit(heuristic_attribution(PATHS, "last")) == {"ama": 2.0, "forum": 2.0, "slack": 0.0, "webinar": 0.0}
    assert _credit(heuristic_attribution(PATHS, "linear")) == pytest.approx(
        {"ama": 2 / 3 + 0.5, "forum": 2 / 3 + 1 + 0.5, "slack": 0.0, "webinar": 2 / 3})
    position = _credit(heuristic_attribution(PATHS, "position"))
    assert position == pytest.approx({"ama": 0.8 + 0.5, "forum": 0.4 + 1 + 0.5, "slack": 0.0, "webinar": 0.8})
    value = _credit(heuristic_attribution(PATHS, "position"), "value")
    assert value == pytest.approx({"ama": 120 + 50, "forum": 60 + 50 + 50, "slack": 0.0, "webinar": 120})


def test_markov_by_hand() -> None:
    # start -> A (1); A -> B (1/2), null (1/2); B -> conversion. P = 1/2; removing either gives 0.
    two = markov_attribution(Paths.from_records([(["A", "B"], 1, 10.0, 0), (["A"], 0, 0.0, 1)]))
    assert _credit(two) == {"A": 0.5, "B": 0.5}
    assert list(two["removal_effect"]) == [1.0, 1.0]
    # start -> A (1/3), B (2/3); A converts always, B half the time: P = 2/3, each removal leaves 1/3.
    split = markov_attribution(Paths.from_records([(["A"], 1, 0.0, 0), (["B"], 1, 0.0, 1)]))
    assert list(split["removal_effect"]) == pytest.approx([0.5, 0.5])
    assert _credit(split) == pytest.approx({"A": 1.0, "B": 1.0})


def _absorption_by_iteration(paths: Paths, removed: str | None, order: int = 1) -> float:
    """An independent answer: push probability mass through the chain until it is absorbed.

    States are the last ``order`` classes; removing a class sends every step into it to null.
    """
    counts: dict[tuple[str, ...], dict[object, float]] = {}
    for path, c, n in zip(paths.paths, paths.conversions, paths.nulls, strict=True):
        history: tuple[str, ...] = ()
        for touch in path:
            nxt = (*history, touch)[-order:]
            counts.setdefault(history, {}).setdefault(nxt, 0.0)
            counts[history][nxt] += c + n
            history = nxt
        counts.setdefault(history, {}).setdefault("(conversion)", 0.0)
        counts[history]["(conversion)"] += c
        counts[history].setdefault("(null)", 0.0)
        counts[history]["(null)"] += n
    mass: dict[object, float] = {(): 1.0}
    converted = 0.0
    for _ in range(5_000):
        step: dict[object, float] = {}
        for state, m in mass.items():
            out = counts.get(state, {})  # type: ignore[call-overload]
            total = sum(out.values())
            for target, w in out.items():
                if total == 0:
                    continue
                if isinstance(target, tuple) and target[-1] == removed:
                    target = "(null)"
                step[target] = step.get(target, 0.0) + m * w / total
        converted += step.pop("(conversion)", 0.0)
        step.pop("(null)", None)
        mass = step
        if sum(mass.values()) < 1e-15:
            break
    return converted


@pytest.mark.parametrize("direct", [True, False], ids=["lu", "propagation"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_markov_equals_an_independent_iteration_of_the_chain(order: int, direct: bool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from commetrics.metrics import attribution

    if not direct:  # solve every chain by propagating the mass, as large chains are
        monkeypatch.setattr(attribution, "DIRECT_STATES", 0)
    paths = Paths.from_records([*zip(PATHS.paths, PATHS.conversions, PATHS.value, PATHS.nulls, strict=True),
                                (["ama", "webinar", "forum", "ama"], 1, 20.0, 2), (["forum", "forum"], 0, 0.0, 2)])
    base = _absorption_by_iteration(paths, None, order)
    result = markov_attribution(paths, order=order)
    for cls, effect in zip(result["class"], result["removal_effect"], strict=True):
        expected = max(1 - _absorption_by_iteration(paths, cls, order) / base, 0.0)
        assert effect == pytest.approx(expected, abs=1e-9), (order, cls)
    bound = result["removal_effect_error"]
    assert (bound == 0).all() if direct else ((bound >= 0).all() and (bound < 1e-10).all())


def test_path_file_reader_and_errors() -> None:
    frame = pd.DataFrame({"path": ["a > b", "b", " a>b ", "> >", None, "c >> a"],
                          "total_conversions": [1, 2, 1, 4, 4, 1],
                          "total_conversion_value": [10.0, 20.0, 5.0, 1.0, 1.0, None],
                          "total_null": [0, 1, 2, 0, 0, 0]})
    paths = read_paths(frame)  # touches trimmed, empty touches and paths dropped, missing counts 0
    assert paths.paths == (("a", "b"), ("b",), ("a", "b"), ("c", "a"))
    assert list(paths.conversions) == [1.0, 2.0, 1.0, 1.0]
    assert list(paths.value) == [10.0, 20.0, 5.0, 0.0]
    assert list(paths.nulls) == [0.0, 1.0, 2.0, 0.0]
    with pytest.raises(InputError, match=r"'a > b' has a negative count"):
        read_paths(frame.assign(total_null=[0, 0, -1, 0, 0, 0]))
    with pytest.raises(InputError, match="total_conversions"):
        read_paths(pd.DataFrame({"path": ["a"]}))
    with pytest.raises(InputError, match="Unknown heuristic model"):
        heuristic_attribution(paths, "u_shaped")


journeys = st.lists(
    st.tuples(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=6),
              st.integers(0, 5), st.floats(0, 1000, allow_nan=False), st.integers(0, 5)),
    min_size=1, max_size=12,
).map(lambda rows: [(p, c, v if c else 0.0, n) for p, c, v, n in rows])


def _models(paths: Paths) -> dict[str, pd.DataFrame]:
    models = {m: heuristic_attribution(paths, m) for m in HEURISTIC_MODELS}
    models["markov"] = markov_attribution(paths)
    models["shapley"] = shapley_attribution(paths)
    return models


@settings(max_examples=60, deadline=None)
@given(rows=journeys)
def test_every_model_conserves_totals(rows) -> None:  # type: ignore[no-untyped-def]
    paths = Paths.from_records(rows)
    for name, frame in _models(paths).items():
        if paths.total_conversions == 0:
            continue
        assert frame["conversions"].sum() == pytest.approx(paths.total_conversions), name
        assert frame["value"].sum() == pytest.approx(paths.total_value, abs=1e-6), name


@settings(max_examples=40, deadline=None)
@given(rows=journeys, data=st.data())
def test_a_path_split_over_rows_gets_the_credit_of_one_row(rows, data) -> None:  # type: ignore[no-untyped-def]
    # Rows are never merged: splitting a path's counts over two rows must give the same credit.
    index = data.draw(st.integers(0, len(rows) - 1))
    path, c, v, n = rows[index]
    split = [*rows[:index], (path, c / 2, v / 2, n / 2), *rows[index + 1:], (path, c / 2, v / 2, n / 2)]
    one, two = _models(Paths.from_records(rows)), _models(Paths.from_records(split))
    for name in one:
        assert _credit(two[name]) == pytest.approx(_credit(one[name]), abs=1e-9), name
        assert _credit(two[name], "value") == pytest.approx(_credit(one[name], "value"), abs=1e-6), name


@settings(max_examples=40, deadline=None)
@given(rows=journeys)
def test_renaming_classes_changes_nothing(rows) -> None:  # type: ignore[no-untyped-def]
    rename = {"a": "zeta", "b": "alpha", "c": "mu", "d": "beta", "e": "omega"}
    original = _models(Paths.from_records(rows))
    renamed = _models(Paths.from_records([([rename[t] for t in p], c, v, n) for p, c, v, n in rows]))
    for name in original:
        left = dict(zip(original[name]["class"].map(rename), original[name]["conversions"], strict=True))
        right = dict(zip(renamed[name]["class"], renamed[name]["conversions"], strict=True))
        assert right == pytest.approx(left, abs=1e-9), name


@settings(max_examples=40, deadline=None)
@given(rows=journeys)
def test_a_class_on_no_converting_path_gets_nothing(rows) -> None:  # type: ignore[no-untyped-def]
    rows = [*rows, (["ghost"], 0, 0.0, 3)]
    for name, frame in _models(Paths.from_records(rows)).items():
        credit = dict(zip(frame["class"], frame["conversions"], strict=True))
        assert credit["ghost"] == pytest.approx(0.0, abs=1e-12), name


def test_shapley_by_hand_and_efficiency() -> None:
    # v({a}) = 1, v({b}) = 2, v({a, b}) = 1 + 2 + 3: phi_a = (1 + (6 - 2)) / 2 = 2.5, phi_b = (2 + (6 - 1)) / 2 = 3.5
    paths = Paths.from_records([(["a"], 1, 10.0, 0), (["b"], 2, 0.0, 0), (["a", "b", "a"], 3, 30.0, 5)])
    result = shapley_attribution(paths)
    assert _credit(result) == pytest.approx({"a": 2.5, "b": 3.5})
    assert result["value"].sum() == pytest.approx(40.0)


def _shapley_by_definition(paths: Paths, column: str) -> dict[str, float]:
    """The Shapley value from its definition: weighted marginal contributions over every coalition."""
    from itertools import combinations
    from math import factorial

    players = paths.classes
    n = len(players)
    sets = [frozenset(p) for p in paths.paths]
    weights = getattr(paths, column)

    def v(coalition: frozenset[str]) -> float:
        return float(sum(w for s, w in zip(sets, weights, strict=True) if s <= coalition))

    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        phi[player] = sum(factorial(size) * factorial(n - size - 1) / factorial(n)
                          * (v(frozenset(c) | {player}) - v(frozenset(c)))
                          for size in range(n) for c in combinations(others, size))
    return phi


@settings(max_examples=40, deadline=None)
@given(rows=journeys)
def test_shapley_equals_its_definition_coalition_by_coalition(rows) -> None:  # type: ignore[no-untyped-def]
    paths = Paths.from_records(rows)
    result = shapley_attribution(paths)
    for column in ("conversions", "value"):
        assert _credit(result, column) == pytest.approx(_shapley_by_definition(paths, column), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(rows=journeys)
def test_shapley_beyond_a_64_bit_class_mask_gives_the_same_credit(rows) -> None:  # type: ignore[no-untyped-def]
    # 70 classes that only appear on non-converting journeys push the class count past the
    # bit-mask path; the credit of the real classes (checked against the definition above) stays.
    small = shapley_attribution(Paths.from_records(rows))
    many = shapley_attribution(Paths.from_records([*rows, *[([f"z{i}", "a"], 0, 0.0, 1) for i in range(70)]]))
    assert len(many) > 64
    credit = _credit(many)
    assert {k: credit[k] for k in small["class"]} == pytest.approx(_credit(small), abs=1e-12)
    assert sum(credit.values()) == pytest.approx(sum(_credit(small).values()), abs=1e-9)


def test_time_decay_by_hand() -> None:
    touches = pd.DataFrame({"journey": [1, 1, 2], "class": ["forum", "webinar", "forum"],
                            "days_before": [7.0, 0.0, 3.0], "conversions": [1.0, 1.0, 1.0],
                            "value": [90.0, 90.0, 10.0]})
    result = time_decay_attribution(touches, half_life_days=7)
    # journey 1: weights 0.5 and 1 -> 1/3, 2/3
    assert _credit(result) == pytest.approx({"forum": 1 / 3 + 1, "webinar": 2 / 3})
    assert _credit(result, "value") == pytest.approx({"forum": 30 + 10, "webinar": 60})
    with pytest.raises(InputError, match="half-life"):
        time_decay_attribution(touches, half_life_days=0)


def test_journeys_from_the_store_by_hand(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from commetrics import Engine

    from .conftest import NOW, write_csv

    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "program"], [
        ["1", "m1", "2024-12-01", "webinar_attended", "ama"],         # 100 days before: outside the lookback
        ["2", "m1", "2025-03-01", "webinar_attended", "ama"],         # 10 days before
        ["3", "m1", "2025-03-09", "user_group_attended", "user_group"],  # 2 days before
        ["4", "m1", "2025-03-20", "webinar_attended", "ama"],         # after the conversion
        ["5", "m2", "2025-03-05", "webinar_attended", "ama"],         # never converts
    ])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value"], [
        ["p1", "m1", "2025-03-11", "purchase", "100"], ["p3", "m3", "2025-03-11", "purchase", "40"]])
    with Engine.in_memory() as engine:
        engine.load("activities", activities, now=NOW)
        engine.load("outcomes", outcomes, now=NOW)
        result = engine.attribution("all", outcome="purchase", lookback_days=90, by="program",
                                    as_of=datetime(2025, 3, 31, tzinfo=UTC), exact=True)
    models = result["models"]
    credit = {(m, c): v for m, c, v in models[["model", "class", "value"]].itertuples(index=False)}
    assert credit[("first", "ama")] == 100.0
    assert credit[("last", "user_group")] == 100.0
    assert credit[("linear", "ama")] == pytest.approx(50.0)
    assert credit[("time_decay", "user_group")] == pytest.approx(100 / (1 + 0.5 ** (8 / 7)))
    for model, part in models.groupby("model"):
        assert part["value"].sum() == pytest.approx(100.0), model
    assert result["conversions_without_touch"] == 1
    assert result["value_without_touch"] == pytest.approx(40.0)


def test_cli_reads_a_semicolon_path_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from commetrics.cli import app

    path = tmp_path / "paths.csv"
    path.write_text("path;total_conversions;total_conversion_value;total_null\n"
                    "a > b;10;100;0\na;0;0;10\n", encoding="utf-8")  # 10 journeys: above the small-cell k
    runner = CliRunner()
    assert runner.invoke(app, ["init", "-w", str(tmp_path / "ws")]).exit_code == 0
    result = runner.invoke(app, ["attribution", "--paths", str(path), "--model", "markov", "--json",
                                 "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["models"]
    assert {r["class"]: r["conversions"] for r in rows} == pytest.approx({"a": 5, "b": 5})


def test_bootstrap_intervals_cover_the_estimate_and_narrow_with_more_journeys() -> None:
    from commetrics.metrics.attribution import bootstrap_intervals

    small = Paths.from_records([(["a", "b"], 20, 200.0, 30), (["b"], 10, 100.0, 40), (["a"], 5, 50.0, 10)])
    large = Paths.from_records([(p, c * 100, v * 100, n * 100) for p, c, v, n in
                                zip(small.paths, small.conversions, small.value, small.nulls, strict=True)])
    for model in ("linear", "markov", "shapley"):
        estimate = markov_attribution(small) if model == "markov" else (
            shapley_attribution(small) if model == "shapley" else heuristic_attribution(small, model))
        ci = bootstrap_intervals(small, model, replicates=300, seed=1).set_index("class")
        for cls, value in zip(estimate["class"], estimate["conversions"], strict=True):
            assert ci.loc[cls, "conversions_low"] <= value <= ci.loc[cls, "conversions_high"], (model, cls)
        wide = (ci["conversions_high"] - ci["conversions_low"]) / small.total_conversions
        ci_large = bootstrap_intervals(large, model, replicates=300, seed=1).set_index("class")
        narrow = (ci_large["conversions_high"] - ci_large["conversions_low"]) / large.total_conversions
        assert (narrow < wide).all(), model


@pytest.mark.parametrize("model", ["first", "last", "linear", "position", "shapley"])
def test_a_linear_model_s_bootstrap_in_one_product_equals_running_the_model_on_every_replicate(model: str) -> None:
    """The intervals of the models linear in the paths' counts (the heuristic ones, Shapley) come from one product
    of the drawn counts with the touches' shares; with the shares taken away the same seed runs the model
    replicate by replicate."""
    import dataclasses

    import numpy as np

    from commetrics.metrics.attribution import ATTRIBUTION_MODELS, bootstrap_intervals

    rng = np.random.default_rng(3)
    records = []
    for _ in range(400):
        path = [str(c) for c in rng.choice(list("abcde"), size=int(rng.integers(1, 6)))]
        conversions = float(rng.poisson(0.6))
        records.append((path, conversions, conversions * float(rng.uniform(10, 90)) * (rng.random() < 0.9),
                        float(rng.poisson(2))))
    records.append((["e", "a"], 0.0, 25.0, 1.0))  # value without a conversion: no credit in any replicate
    paths = Paths.from_records(records)
    entry = ATTRIBUTION_MODELS.get(model)
    assert entry.path_shares is not None
    product = bootstrap_intervals(paths, model, replicates=150, seed=4, first=0.3, last=0.5)
    ATTRIBUTION_MODELS.register(model, dataclasses.replace(entry, path_shares=None), replace=True)
    try:
        one_by_one = bootstrap_intervals(paths, model, replicates=150, seed=4, first=0.3, last=0.5)
    finally:
        ATTRIBUTION_MODELS.register(model, entry, replace=True)
    pd.testing.assert_frame_equal(product, one_by_one, rtol=1e-9, atol=1e-9)
    assert (product["conversions_high"] > product["conversions_low"]).any()


def _random_paths(seed: int, classes: str, journeys: int) -> Paths:
    import numpy as np

    rng = np.random.default_rng(seed)
    records = []
    for _ in range(journeys):
        path = [str(c) for c in rng.choice(list(classes), size=int(rng.integers(1, 6)))]
        conversions = float(rng.poisson(0.6))
        records.append((path, conversions, conversions * float(rng.uniform(10, 90)), float(rng.poisson(2))))
    records.append((["e", "a"], 0.0, 0.0, 0.0))  # a path no replicate can see
    return Paths.from_records(records)


@pytest.mark.parametrize("order", [1, 2])
def test_the_markov_bootstrap_solved_for_every_replicate_at_once_equals_running_the_model_on_each(order: int) -> None:
    """Markov's replicates are solved together as dense systems (``replicate_shares``); with that taken away the
    same seed runs the model replicate by replicate, with its own chain and sparse solves."""
    import dataclasses

    from commetrics.metrics.attribution import ATTRIBUTION_MODELS, bootstrap_intervals

    paths = _random_paths(5, "abcde", 300)
    entry = ATTRIBUTION_MODELS.get("markov")
    assert entry.replicate_shares is not None
    assert entry.replicate_shares(paths, AttributionOptions(order=order)) is not None
    together = bootstrap_intervals(paths, "markov", replicates=120, seed=4, order=order)
    ATTRIBUTION_MODELS.register("markov", dataclasses.replace(entry, replicate_shares=None), replace=True)
    try:
        one_by_one = bootstrap_intervals(paths, "markov", replicates=120, seed=4, order=order)
    finally:
        ATTRIBUTION_MODELS.register("markov", entry, replace=True)
    pd.testing.assert_frame_equal(together, one_by_one, rtol=1e-9, atol=1e-9)
    assert (together["conversions_high"] > together["conversions_low"]).all()


def test_a_markov_chain_too_large_to_solve_densely_is_bootstrapped_replicate_by_replicate(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from commetrics.metrics.attribution import ATTRIBUTION_MODELS, bootstrap_intervals
    from commetrics.metrics.attribution.models import markov

    paths = _random_paths(6, "abcde", 200)
    assert markov.markov_replicates(paths, AttributionOptions(order=2)) is not None
    expected = bootstrap_intervals(paths, "markov", replicates=30, seed=2, order=2)
    monkeypatch.setattr(markov, "BATCH_STATES", 8)  # order 2 over 5 classes has more states than that
    assert ATTRIBUTION_MODELS.get("markov").replicate_shares(paths, AttributionOptions(order=2)) is None
    pd.testing.assert_frame_equal(bootstrap_intervals(paths, "markov", replicates=30, seed=2, order=2), expected,
                                  rtol=1e-9, atol=1e-9)


def _b2b_store(tmp_path):  # type: ignore[no-untyped-def]
    """Two members of account A, one of B; tagged activities; a renewal keyed by the account."""
    from .conftest import write_csv

    members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id"], [
        ["m1", "2025-01-01", "A"], ["m2", "2025-01-01", "A"], ["m3", "2025-01-01", "B"], ["m4", "2025-01-01", ""]])
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "program", "tags"], [
        ["1", "m1", "2025-03-01", "webinar_attended", "ama", "security|sso"],   # A: 10 days before the renewal
        ["2", "m2", "2025-03-05", "post", "forum", ""],                         # A: 6 days before
        ["3", "m1", "2025-03-09", "event_attended", "user_group", "sso"],       # A: 2 days before
        ["4", "m3", "2025-03-02", "post", "forum", "billing"],                  # B: never converts
        ["5", "m4", "2025-03-03", "post", "forum", "billing"],                  # no account
    ])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "account_id", "ts", "type", "value"], [
        ["r1", "", "A", "2025-03-11", "renewal", "1000"], ["p1", "m2", "", "2025-03-08", "purchase", "300"]])
    return members, activities, outcomes


@pytest.fixture
def b2b(tmp_path):  # type: ignore[no-untyped-def]
    from commetrics import Engine

    from .conftest import NOW

    members, activities, outcomes = _b2b_store(tmp_path)
    with Engine.in_memory() as engine:
        engine.load("members", members, now=NOW)
        engine.load("activities", activities, now=NOW)
        engine.load("outcomes", outcomes, now=NOW)
        yield engine


def test_account_journeys_hold_every_members_touches(b2b) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    as_of = datetime(2025, 3, 31, tzinfo=UTC)
    account_result = b2b.attribution(["first", "last", "linear", "markov"], outcome=["renewal", "purchase"],
                                     unit="account", by="program", as_of=as_of, exact=True)
    person = b2b.attribution(["first", "linear"], outcome=["renewal", "purchase"], unit="person",
                             by="program", as_of=as_of, exact=True)["models"]
    tags = b2b.attribution(["linear", "time_decay"], outcome="renewal", unit="account", by="tag",
                           as_of=as_of, half_life_days=7, exact=True)["models"]
    account = account_result["models"]
    with pytest.raises(InputError, match="person or account"):
        b2b.attribution("first", unit="household", as_of=as_of)
    value = {(m, c): v for m, c, v in account[["model", "class", "value"]].itertuples(index=False)}
    # Renewal of A (1000): ama (m1) > forum (m2) > user_group (m1). Purchase by m2 counts for A (300):
    # ama > forum, the touches up to 2025-03-08.
    assert value[("first", "ama")] == pytest.approx(1300.0)
    assert value[("last", "user_group")] == pytest.approx(1000.0)
    assert value[("last", "forum")] == pytest.approx(300.0)
    assert value[("linear", "forum")] == pytest.approx(1000 / 3 + 150)
    assert account_result["conversions_without_touch"] == 0
    # Markov: B's journey (forum, no conversion) is the non-converting one; m4 has no account.
    markov = account[account["model"] == "markov"].set_index("class")
    assert markov["conversions"].sum() == pytest.approx(2.0)
    # Per person, the account-keyed renewal has no member and is not attributed; m1 never converted,
    # so m1's touches form a non-converting journey (its classes get 0).
    first = {c: v for m, c, v in person[["model", "class", "value"]].itertuples(index=False) if m == "first"}
    assert first == pytest.approx({"forum": 300.0, "ama": 0.0, "user_group": 0.0})
    # By tag: an activity with two tags is two touches at the same moment.
    linear = {c: v for m, c, v in tags[["model", "class", "value"]].itertuples(index=False) if m == "linear"}
    assert linear == pytest.approx({"security": 1000 / 3, "sso": 2000 / 3, "billing": 0.0})  # billing: B, no conversion
    decay = {c: v for m, c, v in tags[["model", "class", "value"]].itertuples(index=False) if m == "time_decay"}
    w10, w2 = 0.5 ** (10 / 7), 0.5 ** (2 / 7)
    assert decay == pytest.approx({"security": 1000 * w10 / (2 * w10 + w2), "sso": 1000 * (w10 + w2) / (2 * w10 + w2)})


def test_time_decay_has_bootstrap_intervals_too(b2b) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    result = b2b.attribution("all", outcome=["renewal", "purchase"], unit="account", ci=True, replicates=50,
                             as_of=datetime(2025, 3, 31, tzinfo=UTC), exact=True)["models"]
    assert set(result["model"]) == {"first", "last", "linear", "position", "time_decay", "markov", "shapley"}
    assert result[["conversions_low", "conversions_high", "value_low", "value_high"]].notna().all().all()
    assert (result["conversions_low"] <= result["conversions"] + 1e-9).all()
    assert (result["conversions"] <= result["conversions_high"] + 1e-9).all()


def test_values_in_several_currencies_are_not_added_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from commetrics import Engine
    from commetrics.cli import app

    from .conftest import NOW, write_csv

    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "program"], [
        ["1", "m1", "2025-03-01", "webinar_attended", "ama"], ["2", "m2", "2025-03-02", "post", "forum"]])
    outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value", "currency"], [
        ["p1", "m1", "2025-03-11", "purchase", "100", "EUR"], ["p2", "m2", "2025-03-11", "purchase", "70", "USD"],
        ["p3", "m2", "2025-03-12", "purchase", "", ""]])
    as_of = datetime(2025, 3, 31, tzinfo=UTC)
    with Engine.init(tmp_path / "ws") as engine:
        engine.load("activities", activities, now=NOW)
        engine.load("outcomes", outcomes, now=NOW)
        with pytest.raises(InputError, match=r"2 currencies \(EUR, USD\).*--currency EUR"):
            engine.attribution("first", outcome="purchase", as_of=as_of)
        euros = engine.attribution("first", outcome="purchase", currency="eur", as_of=as_of, exact=True)["models"]
    # EUR: p1 (100) and p3 (no value, counted in any currency).
    assert dict(zip(euros["class"], euros["value"], strict=True)) == {"ama": 100.0, "forum": 0.0}
    assert dict(zip(euros["class"], euros["conversions"], strict=True)) == {"ama": 1.0, "forum": 1.0}
    result = CliRunner().invoke(app, ["attribution", "--outcome", "purchase", "--as-of", "2025-03-31",
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code != 0
    assert "--currency" in result.output


def test_planted_effect_every_model_ranks_the_class_that_drives_conversion_first() -> None:
    # Four equally frequent classes; only touching "webinar" raises the chance to convert (5% -> 30%).
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(3)
    names = np.array(["docs", "forum", "slack", "webinar"], dtype=object)
    lengths = rng.integers(1, 6, 20_000)
    codes = rng.integers(0, 4, int(lengths.sum()))
    owner = np.repeat(np.arange(len(lengths)), lengths)
    touched = np.bincount(owner, weights=codes == 3, minlength=len(lengths)) > 0
    converted = rng.random(len(lengths)) < np.where(touched, 0.30, 0.05)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    path = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(names[codes], pa.string()))
    paths = Paths.from_arrow(pc.binary_join(path, " > "), converted.astype(float), converted * 100.0,
                             (~converted).astype(float))
    models = _models(paths)
    touches = pd.DataFrame({"journey": owner, "class": names[codes], "days_before": lengths[owner] - 1 -
                            (np.arange(len(codes)) - offsets[:-1][owner]), "conversions": 1.0,
                            "value": 100.0}).loc[converted[owner]]
    models["time_decay"] = time_decay_attribution(touches)
    for name, frame in models.items():
        credit = _credit(frame)
        assert max(credit, key=credit.__getitem__) == "webinar", name
        assert sum(credit.values()) == pytest.approx(converted.sum()), name
    removal = dict(zip(models["markov"]["class"], models["markov"]["removal_effect"], strict=True))
    # Removing any class cuts the journeys through it, so every removal effect is large; the driver's is larger.
    assert removal["webinar"] > 0.1 + max(removal[c] for c in ("docs", "forum", "slack"))
