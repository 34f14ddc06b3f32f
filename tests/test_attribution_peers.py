"""Attribution side by side with the peer libraries, on the same aggregated path tables.

Peers (dev-only; the tests skip with the reason when one is missing):

* ChannelAttribution (PyPI ``ChannelAttribution``, module ``ChannelAttribution``): ``heuristic_models``
  (first/last/linear touch) and ``markov_model`` (order-k Markov removal effect, by Monte Carlo).
* marketing-attribution-models (PyPI ``marketing-attribution-models`` 2.x, module ``mam``): first/last
  click, linear, position based, and an exact order-1 Markov removal effect (matrix inverse).

Where a peer defines a model differently we do not bend our code: the difference is written down next
to the comparison, the comparison uses data on which the definitions coincide, and a ``test_difference_*``
test shows the difference on data where it matters. Differences found (ChannelAttribution 2.2.5, mam 2.1.1):

1. ChannelAttribution reads conversions and nulls as unsigned integers (``vector<unsigned long int>``):
   fractional counts are truncated (1.5 -> 1, 0.5 -> 0); values stay real. We keep real counts. The peer
   comparisons therefore use integer counts.
2. ChannelAttribution has no position-based model; position is compared with mam only. mam's position
   model is fixed at 40/20/40 with 1 touch -> 100 % and 2 touches -> 50/50, which is our default
   (2 touches split in proportion to first:last = 0.4:0.4). Our weights are configurable, mam's are not.
3. Linear with repeated classes: all three give one share per touch (A > A > B: A 2/3, B 1/3) — no difference.
4. Markov, consecutive repeats: ChannelAttribution collapses them (A > A > B is simulated as A > B, no
   self-transition in its transition matrix); mam drops self-transitions unless
   ``transition_to_same_state=True``; we keep them as self-loops. Self-loops do not change absorption
   probabilities, so all three give the same removal effects (shown below).
5. Markov, simulation: ChannelAttribution estimates removal effects by simulating journeys; its removal
   effect of k is the share of simulated converting journeys that visit k, from ONE fold of
   ``nsim_start / nfold`` journeys (the fold closest to the median), and journeys longer than ``max_step``
   (default: the longest path in the data) are dropped as incomplete — a bias when the chain has cycles.
   We solve the chain exactly; we compare with ``max_step=1000`` and a binomial tolerance (see below).
6. Markov, value: ChannelAttribution attributes value with separate *value* removal effects (each
   simulated conversion draws a value per conversion from the paths that end in the same last class);
   we split value in proportion to the conversion removal effects. They coincide when every conversion
   has the same value; compared there, and the difference is shown where values differ.
7. Markov, attribution of conversions: ChannelAttribution and we give class k ``total * RE_k / sum(RE)``;
   mam splits each journey's conversions over the classes of that journey in proportion to their removal
   effects (a repeated class counts once per touch). mam's removal effects equal ours exactly; its
   attributed conversions differ (shown below).
8. mam's "grouped_journey" input has one boolean ``has_conversion`` per row, so a path with both
   conversions and nulls becomes two rows; its value column is per row and divided by the occurrences
   (0 occurrences give NaN), so rows with 0 occurrences are left out. Null journeys get no heuristic credit
   in mam, as in ours (classes seen only on null journeys are then missing from mam's output: read as 0).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from commetrics.metrics.attribution import heuristic_attribution, markov_attribution, read_paths

#: Heuristic agreement: 1e-9 absolute (or 1e-12 relative for large values; both are float summation error).
ABS = 1e-9
REL = 1e-12

# -- path tables --------------------------------------------------------------------------------------

SMALL = pd.DataFrame(
    [
        ("forum", 3, 150.0, 5),
        ("webinar > forum", 2, 400.0, 1),
        ("forum > webinar", 1, 80.0, 4),
        ("ama > forum > slack > webinar", 2, 260.0, 0),
        ("slack > slack > forum", 1, 90.0, 2),  # consecutive repeat
        ("ama > webinar > ama", 4, 520.0, 3),  # repeat with something between
        ("webinar > ama > forum > ama > forum", 2, 130.0, 1),
        ("slack", 0, 0.0, 6),  # never converts
        ("docs > slack", 0, 0.0, 2),  # docs only on a journey that does not convert
    ],
    columns=["path", "total_conversions", "total_conversion_value", "total_null"],
)


def random_table(seed: int, channels: int, n_paths: int = 200, *, value_per_conversion: float | None = None
                 ) -> pd.DataFrame:
    """``n_paths`` distinct random paths of 1-6 touches (repeats allowed) with integer counts."""
    rng = np.random.default_rng(seed)
    names = [f"ch{i}" for i in range(channels)]
    seen: dict[tuple[str, ...], None] = {}
    while len(seen) < n_paths:
        seen.setdefault(tuple(str(x) for x in rng.choice(names, size=int(rng.integers(1, 7)))), None)
    paths = list(seen)
    conversions = rng.integers(0, 12, len(paths))
    nulls = rng.integers(0, 30, len(paths))
    nulls[(conversions == 0) & (nulls == 0)] = 1  # every path is observed at least once
    if value_per_conversion is None:
        value = np.round(conversions * rng.uniform(5.0, 200.0, len(paths)), 2)
    else:
        value = conversions * value_per_conversion
    return pd.DataFrame({"path": [" > ".join(p) for p in paths], "total_conversions": conversions,
                         "total_conversion_value": value, "total_null": nulls})


TABLES: dict[str, pd.DataFrame] = {
    "small": SMALL,
    "random-5": random_table(11, 5),
    "random-8": random_table(12, 8),
}


def test_random_tables_are_what_the_tests_claim() -> None:
    for name in ("random-5", "random-8"):
        table = TABLES[name]
        paths = read_paths(table)
        assert len(paths.paths) == 200
        assert len(paths.classes) == int(name.split("-")[1])
        assert any(len(p) != len(set(p)) for p in paths.paths)  # repeated classes are exercised
        assert any(a == b for p in paths.paths for a, b in itertools.pairwise(p))  # consecutive ones too
        assert (table["total_conversions"] == 0).any()


# -- peers --------------------------------------------------------------------------------------------


def _channel_attribution() -> ModuleType:
    # ImportError too: a failed C++ build, or matplotlib missing (CA imports pyplot without declaring it).
    return pytest.importorskip("ChannelAttribution", reason="ChannelAttribution is not importable "
                               "(pip install ChannelAttribution matplotlib; builds C++ from source)",
                               exc_type=ImportError)


def _mam() -> ModuleType:
    return pytest.importorskip("mam", reason="marketing-attribution-models is not importable "
                               "(pip install 'marketing-attribution-models>=2.1,<3')", exc_type=ImportError)


def _ours(table: pd.DataFrame, model: str) -> pd.DataFrame:
    frame = heuristic_attribution(read_paths(table), model) if model != "markov" else markov_attribution(
        read_paths(table))
    return frame.set_index("class")


def _ca_heuristics(table: pd.DataFrame) -> pd.DataFrame:
    ca = _channel_attribution()
    out = ca.heuristic_models(table, "path", "total_conversions", var_value="total_conversion_value", sep=">",
                              flg_pro=False)
    return pd.DataFrame(out).set_index("channel_name")


def _ca_markov(table: pd.DataFrame, *, seed: int = 0, nsim: int = 1_000_000, nfold: int = 10,
               max_step: int | None = 1000) -> dict[str, pd.DataFrame]:
    ca = _channel_attribution()
    # conv_par=1 (its maximum): one round of nsim journeys, so the fold size is known for the tolerance.
    out: dict[str, Any] = ca.markov_model(
        table, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null", order=1,
        nsim_start=nsim, max_step=max_step, out_more=True, nfold=nfold, seed=seed, conv_par=1.0, verbose=False,
        flg_pro=False)
    return {
        "result": pd.DataFrame(out["result"]).set_index("channel_name"),
        "removal_effects": pd.DataFrame(out["removal_effects"]).set_index("channel_name"),
        "transition_matrix": pd.DataFrame(out["transition_matrix"]),
    }


def _mam_frame(table: pd.DataFrame) -> pd.DataFrame:
    """mam's grouped-journey input: one row per (path, converted?) with at least one occurrence."""
    rows: list[tuple[str, int, bool, float]] = []
    for path, c, v, n in table[["path", "total_conversions", "total_conversion_value", "total_null"]].itertuples(
            index=False):
        if c > 0:
            rows.append((path, int(c), True, float(v)))
        if n > 0:
            rows.append((path, int(n), False, 0.0))
    return pd.DataFrame(rows, columns=["path", "occurrences", "has_conversion", "value"])


def _mam_model(table: pd.DataFrame, *, value: bool) -> Any:
    mam = _mam()
    return mam.MAM(_mam_frame(table), format_type="grouped_journey", channels_colname="path",
                   journey_with_conv_colname="has_conversion", occurrences_colname="occurrences",
                   conversion_value_colname="value" if value else None)


MAM_RUNS = {"first": "run_first_click", "last": "run_last_click", "linear": "run_linear",
            "position": "run_position_based"}


def _mam_heuristic(table: pd.DataFrame, model: str, *, value: bool) -> dict[str, float]:
    result = getattr(_mam_model(table, value=value), MAM_RUNS[model])().to_pandas()
    return {str(k): float(v) for k, v in zip(result["channels"], result["attribution"], strict=True)}


def _close(ours: pd.Series, theirs: dict[str, float]) -> None:
    """Same classes (a class missing from the peer reads as 0) and the same numbers to ABS / REL."""
    assert set(theirs) <= set(ours.index), f"peer has classes we do not: {set(theirs) - set(ours.index)}"
    peer = {k: theirs.get(k, 0.0) for k in ours.index}
    assert peer == pytest.approx(ours.to_dict(), abs=ABS, rel=REL)


# -- heuristics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize(("model", "column"), [("first", "first_touch"), ("last", "last_touch"),
                                               ("linear", "linear_touch")])
def test_heuristics_match_channel_attribution(name: str, model: str, column: str) -> None:
    table = TABLES[name]
    peer = _ca_heuristics(table)
    ours = _ours(table, model)
    assert set(peer.index) == set(ours.index)  # CA lists every class seen, converting or not
    _close(ours["conversions"], peer[f"{column}_conversions"].to_dict())
    _close(ours["value"], peer[f"{column}_value"].to_dict())


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("model", list(MAM_RUNS))
def test_heuristics_match_mam(name: str, model: str) -> None:
    table = TABLES[name]
    ours = _ours(table, model)
    _close(ours["conversions"], _mam_heuristic(table, model, value=False))
    _close(ours["value"], _mam_heuristic(table, model, value=True))


def test_peers_would_catch_a_wrong_answer() -> None:
    """The comparison is not vacuous: last-touch credit is not first-touch credit on these tables."""
    table = TABLES["random-5"]
    peer = _ca_heuristics(table)
    with pytest.raises(AssertionError):
        _close(_ours(table, "first")["conversions"], peer["last_touch_conversions"].to_dict())
    with pytest.raises(AssertionError):
        _close(_ours(table, "position")["value"], _mam_heuristic(table, "linear", value=True))


def test_difference_channel_attribution_truncates_fractional_counts() -> None:
    """Difference 1: ChannelAttribution reads conversions as unsigned integers; we keep 1.5 as 1.5."""
    table = pd.DataFrame({"path": ["A > B", "B"], "total_conversions": [1.5, 2.7],
                          "total_conversion_value": [30.0, 10.0], "total_null": [0.0, 1.0]})
    ours = _ours(table, "first")
    peer = _ca_heuristics(table)
    assert ours.loc["A", "conversions"] == 1.5
    assert ours.loc["B", "conversions"] == pytest.approx(2.7)
    assert peer.loc["A", "first_touch_conversions"] == 1.0  # 1.5 -> 1
    assert peer.loc["B", "first_touch_conversions"] == 2.0  # 2.7 -> 2
    assert peer.loc["A", "first_touch_value"] == 30.0  # values are not truncated
    assert ours.loc["A", "value"] == 30.0


def test_difference_position_weights_are_fixed_in_mam() -> None:
    """Difference 2: same 40/20/40 and 50/50 for two touches by default; only ours takes other weights."""
    table = pd.DataFrame({"path": ["A > B", "C", "A > C > B > D"], "total_conversions": [2, 1, 1],
                          "total_conversion_value": [100.0, 10.0, 50.0], "total_null": [0, 0, 0]})
    peer = _mam_heuristic(table, "position", value=True)
    assert peer == pytest.approx({"A": 50.0 + 20.0, "B": 50.0 + 5.0, "C": 10.0 + 5.0, "D": 20.0})
    _close(_ours(table, "position")["value"], peer)
    skewed = heuristic_attribution(read_paths(table), "position", first=0.2, last=0.6).set_index("class")
    assert skewed.loc["A", "value"] == pytest.approx(25.0 + 10.0)  # 2 touches: 0.2 : 0.6 -> 25 % / 75 %
    with pytest.raises(AssertionError):
        _close(skewed["value"], peer)


def test_linear_counts_every_touch_in_all_three() -> None:
    """Point 3: a class touched twice gets two shares everywhere (no difference)."""
    table = pd.DataFrame({"path": ["A > A > B"], "total_conversions": [3], "total_conversion_value": [30.0],
                          "total_null": [0]})
    expected = {"A": 2.0, "B": 1.0}
    assert _ours(table, "linear")["conversions"].to_dict() == pytest.approx(expected)
    assert _ca_heuristics(table)["linear_touch_conversions"].to_dict() == pytest.approx(expected)
    assert _mam_heuristic(table, "linear", value=False) == pytest.approx(expected)


# -- Markov: an exact answer in rational arithmetic ----------------------------------------------------


def _exact_conversion_probability(table: pd.DataFrame, removed: str | None) -> Fraction:
    """P(conversion from start) in the order-1 chain, by Gauss-Jordan on Fractions (no rounding at all)."""
    counts: dict[str, dict[str, int]] = {}
    for path, c, n in table[["path", "total_conversions", "total_null"]].itertuples(index=False):
        touches = [t.strip() for t in str(path).split(">")]
        for a, b in itertools.pairwise(["(start)", *touches]):
            counts.setdefault(a, {}).setdefault(b, 0)
            counts[a][b] += int(c) + int(n)
        end = counts.setdefault(touches[-1], {})
        end["(conversion)"] = end.get("(conversion)", 0) + int(c)
        end["(null)"] = end.get("(null)", 0) + int(n)
    states = ["(start)", *sorted({s for row in counts.values() for s in row} - {"(conversion)", "(null)"})]
    index = {s: i for i, s in enumerate(states)}
    size = len(states)
    # rows of [I - Q | r]
    matrix = [[Fraction(int(i == j)) for j in range(size)] + [Fraction(0)] for i in range(size)]
    for state, row in counts.items():
        total = sum(row.values())
        if total == 0:
            continue
        for target, w in row.items():
            if target == removed or target == "(null)":
                continue
            if target == "(conversion)":
                matrix[index[state]][size] += Fraction(w, total)
            else:
                matrix[index[state]][index[target]] -= Fraction(w, total)
    for col in range(size):
        pivot = next(r for r in range(col, size) if matrix[r][col] != 0)
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        lead = matrix[col][col]
        matrix[col] = [x / lead for x in matrix[col]]
        for r in range(size):
            if r != col and matrix[r][col] != 0:
                factor = matrix[r][col]
                matrix[r] = [x - factor * y for x, y in zip(matrix[r], matrix[col], strict=True)]
    return matrix[0][size]


def _exact_removal_effects(table: pd.DataFrame) -> tuple[Fraction, dict[str, Fraction]]:
    base = _exact_conversion_probability(table, None)
    classes = read_paths(table).classes
    return base, {k: 1 - _exact_conversion_probability(table, k) / base for k in classes}


@pytest.mark.parametrize("name", list(TABLES))
def test_markov_equals_the_exact_rational_solution(name: str) -> None:
    table = TABLES[name]
    ours = _ours(table, "markov")
    _, effects = _exact_removal_effects(table)
    total = sum(effects.values())
    conversions = int(table["total_conversions"].sum())
    assert ours["removal_effect"].to_dict() == pytest.approx({k: float(e) for k, e in effects.items()},
                                                             abs=1e-12)
    assert ours["conversions"].to_dict() == pytest.approx(
        {k: float(conversions * e / total) for k, e in effects.items()}, abs=1e-9)


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("same_state", [False, True])
def test_markov_removal_effects_match_mam(name: str, same_state: bool) -> None:
    """mam solves the same chain exactly (matrix inverse), with or without self-transitions (point 4)."""
    table = TABLES[name]
    model = _mam_model(table, value=False)
    result = model.run_markov(transition_to_same_state=same_state)
    peer = result.metadata["removal_effect"]["removal_effect"]
    ours = _ours(table, "markov")["removal_effect"]
    _close(ours, {str(k): float(v) for k, v in peer.items()})


def test_difference_mam_splits_markov_credit_per_journey() -> None:
    """Point 7: the same removal effects, split per journey by mam and over the total by us (and CA).

    Chain: start -> A 4/7, B 3/7; A -> B 2/4, conversion 1/4, null 1/4; B -> conversion 4/5, null 1/5.
    P = 4/7 (1/2 * 4/5 + 1/4) + 3/7 * 4/5 = 13/35 + 12/35 = 5/7. Without A: 3/7 * 4/5 = 12/35, so
    RE_A = 1 - 12/25 = 13/25; without B: 4/7 * 1/4 = 5/35, RE_B = 20/25. Ours: 5 conversions * 13/33, * 20/33.
    """
    table = pd.DataFrame({"path": ["A", "A > B", "B"], "total_conversions": [1, 2, 2],
                          "total_conversion_value": [1.0, 2.0, 2.0], "total_null": [1, 0, 1]})
    ours = _ours(table, "markov")
    assert ours["removal_effect"].to_dict() == pytest.approx({"A": 13 / 25, "B": 20 / 25}, abs=1e-12)
    assert ours["conversions"].to_dict() == pytest.approx({"A": 5 * 13 / 33, "B": 5 * 20 / 33}, abs=1e-12)
    result = _mam_model(table, value=False).run_markov().to_pandas()
    peer = {str(k): float(v) for k, v in zip(result["channels"], result["attribution"], strict=True)}
    # mam: "A" (1 conversion) all to A; "A > B" (2) split 13:20; "B" (2) all to B.
    assert peer == pytest.approx({"A": 1 + 2 * 13 / 33, "B": 2 * 20 / 33 + 2}, abs=1e-12)
    assert sum(peer.values()) == pytest.approx(5.0)
    assert ours.loc["A", "conversions"] - peer["A"] == pytest.approx(6 / 33, abs=1e-12)


# -- Markov against ChannelAttribution's simulation ----------------------------------------------------

#: Seeds for ChannelAttribution; fold r of seed s uses mt19937(s + r), so seeds 100 apart share no stream.
CA_SEEDS = (0, 100, 200)
CA_NSIM = 1_000_000
CA_NFOLD = 10
#: Tolerance in binomial standard errors. CA's removal effect of k is the share of the simulated
#: converting journeys of one fold that visit k: Binomial(n, RE_k) / n with n ~ (nsim / nfold) * P(conv)
#: (a round with more journeys, if CA takes one, only shrinks the error). 5 SE per class and seed keeps
#: a false alarm below ~1e-5 over the whole file, while a real error of 1-2 percentage points
#: (e.g. dropping self-loop journeys, or a wrong null weight) is still many SE away.
CA_SE = 5.0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TABLES))
def test_markov_within_channel_attribution_simulation(name: str) -> None:
    table = TABLES[name].assign(  # CA's value removal effects equal its conversion ones only at a constant value
        total_conversion_value=TABLES[name]["total_conversions"] * 25.0)
    ours = _ours(table, "markov")
    base, exact = _exact_removal_effects(table)
    n = (CA_NSIM // CA_NFOLD) * float(base)
    se = {k: max(np.sqrt(float(e) * (1 - float(e)) / n), 1.0 / n) for k, e in exact.items()}
    total_conversions = float(table["total_conversions"].sum())
    total_value = float(table["total_conversion_value"].sum())
    effects = ours["removal_effect"]
    draws = []
    for seed in CA_SEEDS:
        peer = _ca_markov(table, seed=seed, nsim=CA_NSIM, nfold=CA_NFOLD)
        re = peer["removal_effects"]
        result = peer["result"]
        assert set(re.index) == set(ours.index)
        for k in ours.index:
            assert abs(re.loc[k, "removal_effects_conversion"] - effects[k]) <= CA_SE * se[k], (k, seed)
        # CA attributes exactly as we do, total * RE_k / sum(RE), on its own (simulated) removal effects ...
        share = re["removal_effects_conversion"] / re["removal_effects_conversion"].sum()
        assert result["total_conversions"].to_dict() == pytest.approx((share * total_conversions).to_dict(),
                                                                      rel=1e-9)
        # ... and with one value per conversion its value removal effects are its conversion ones.
        assert result["total_conversion_value"].to_dict() == pytest.approx((share * total_value).to_dict(),
                                                                           rel=1e-9)
        # Attributed conversions: first-order propagation of the removal-effect tolerance through RE_k / sum.
        s = float(effects.sum())
        spread = sum(CA_SE * se[k] for k in ours.index)
        for k in ours.index:
            bound = total_conversions * (CA_SE * se[k] / s + effects[k] * spread / s**2)
            assert abs(result.loc[k, "total_conversions"] - ours.loc[k, "conversions"]) <= bound, (k, seed)
        draws.append(re["removal_effects_conversion"].reindex(ours.index).to_numpy())
    # The mean over independent seeds sits closer still: sqrt(len(seeds)) fewer standard errors.
    mean = np.mean(draws, axis=0)
    limit = np.array([CA_SE * se[k] for k in ours.index]) / np.sqrt(len(CA_SEEDS))
    assert np.all(np.abs(mean - effects.to_numpy()) <= limit)


def test_channel_attribution_simulation_would_catch_a_wrong_chain() -> None:
    """The tolerance is not vacuous: ignoring nulls (a different chain) lands far outside it."""
    table = TABLES["small"]
    base, exact = _exact_removal_effects(table)
    n = (CA_NSIM // CA_NFOLD) * float(base)
    peer = _ca_markov(table.assign(total_null=0), nsim=CA_NSIM, nfold=CA_NFOLD)["removal_effects"]
    misses = [abs(peer.loc[k, "removal_effects_conversion"] - float(e)) > CA_SE * np.sqrt(
        float(e) * (1 - float(e)) / n) for k, e in exact.items()]
    assert any(misses)


def test_self_loops_do_not_change_markov_and_channel_attribution_collapses_them() -> None:
    """Point 4: A > A > B is A > B with a self-loop; the removal effects are those of the collapsed paths."""
    repeated = pd.DataFrame({"path": ["A > A > B", "B > B", "C > A > A", "A"], "total_conversions": [3, 1, 2, 1],
                             "total_conversion_value": [3.0, 1.0, 2.0, 1.0], "total_null": [1, 4, 2, 5]})
    collapsed = repeated.assign(path=["A > B", "B", "C > A", "A"])
    ours_repeated = _ours(repeated, "markov")
    ours_collapsed = _ours(collapsed, "markov")
    pd.testing.assert_frame_equal(ours_repeated, ours_collapsed, rtol=1e-12, atol=1e-12)
    # Our chain does keep the self-loops (A -> A carries weight), it is the answer that does not move:
    assert ours_repeated["removal_effect"].to_dict() == pytest.approx(
        {k: float(e) for k, e in _exact_removal_effects(repeated)[1].items()}, abs=1e-12)
    peer_repeated = _ca_markov(repeated, nsim=200_000)
    peer_collapsed = _ca_markov(collapsed, nsim=200_000)
    matrix = peer_repeated["transition_matrix"]
    assert not (matrix["channel_from"] == matrix["channel_to"]).any()  # no self-transition at all
    # CA simulates the very same chain for both tables: identical numbers for the same seed.
    pd.testing.assert_frame_equal(peer_repeated["result"], peer_collapsed["result"])
    pd.testing.assert_frame_equal(peer_repeated["removal_effects"], peer_collapsed["removal_effects"])


def test_difference_channel_attribution_weights_value_by_value() -> None:
    """Point 6: CA gives value its own removal effects; we split value like conversions.

    Two single-touch paths, 10 conversions each: A's are worth 100 each, B's 1 each. Both removal
    effects are 1/2 (each class is on half the converting journeys), so we split the 1010 of value
    505/505. CA draws the value of a simulated conversion from the paths ending in the same class,
    so A carries ~1000/1010 of the value (last-touch-like).
    """
    table = pd.DataFrame({"path": ["A", "B"], "total_conversions": [10, 10],
                          "total_conversion_value": [1000.0, 10.0], "total_null": [10, 10]})
    ours = _ours(table, "markov")
    assert ours["value"].to_dict() == pytest.approx({"A": 505.0, "B": 505.0})
    peer = _ca_markov(table, nsim=200_000)
    assert peer["result"].loc["A", "total_conversions"] == pytest.approx(10.0, abs=0.5)  # conversions agree
    assert peer["result"].loc["A", "total_conversion_value"] == pytest.approx(1000.0, abs=5.0)
    assert peer["removal_effects"].loc["A", "removal_effects_conversion_value"] == pytest.approx(1000 / 1010,
                                                                                                 abs=0.005)


@pytest.mark.slow
def test_difference_channel_attribution_drops_long_simulated_journeys() -> None:
    """Point 5: with the default ``max_step`` (longest path in the data) CA drops simulated journeys
    that cycle longer, which biases removal effects on a chain with cycles; with a high cap it agrees.

    Chain: start -> A; A -> B or conversion; B -> A or null, with long A <-> B cycles likely.
    """
    table = pd.DataFrame({"path": ["A > B > A", "A > B", "A"], "total_conversions": [1, 0, 1],
                          "total_conversion_value": [1.0, 0.0, 1.0], "total_null": [0, 1, 0]})
    _, exact = _exact_removal_effects(table)
    default = _ca_markov(table, nsim=1_000_000, max_step=None)["removal_effects"]
    capped = _ca_markov(table, nsim=1_000_000, max_step=1000)["removal_effects"]
    assert default.loc["B", "removal_effects_conversion"] < float(exact["B"]) - 0.02
    assert capped.loc["B", "removal_effects_conversion"] == pytest.approx(float(exact["B"]), abs=0.01)
