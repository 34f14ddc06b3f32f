"""Attribution of conversions and value to touchpoint classes, over aggregated paths.

The input is the aggregated path table of the common attribution libraries: one row per distinct
path (the sequence of touchpoint classes before a conversion, or before the end of a journey that
did not convert) with ``conversions``, ``value`` and ``nulls`` (journeys of that path that did not
convert). Every model returns, per class, attributed conversions and attributed value that sum
exactly to the totals over converting paths.

Heuristic models (per converting path, credit split over its touches):

* ``first``: all credit to the first touch; ``last``: to the last touch.
* ``linear``: an equal share to every touch (a class touched twice gets two shares).
* ``position``: 40 % to the first touch, 40 % to the last and 20 % shared by the touches between
  (configurable); a path of one touch gives it everything, a path of two splits the credit in
  proportion to the first and last weights (50/50 by default), since there is no middle.

Markov removal effect, orders 1 to 4, solved exactly (no simulation): the journeys define a chain
``start -> classes -> (conversion | null)`` with transition probabilities estimated from the
counts (converting paths weighted by ``conversions``, others by ``nulls``). ``P`` is the
probability of reaching ``conversion`` from ``start``, found by solving ``(I - Q) x = r``.
Removing class k sends every transition into k to ``null``; its removal effect is
``1 - P_k / P``. Conversions and value are split in proportion to the removal effects.
Consecutive repeats of a class are kept as self-loops, which do not change absorption
probabilities.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "HEURISTIC_MODELS",
    "MODELS",
    "Journeys",
    "Paths",
    "attribute",
    "bootstrap_intervals",
    "build_journeys",
    "heuristic_attribution",
    "markov_attribution",
    "read_paths",
    "shapley_attribution",
    "time_decay_attribution",
]

HEURISTIC_MODELS = ("first", "last", "linear", "position")
PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class Paths:
    """Aggregated journeys: each path once, with its conversions, value and non-converting count."""

    paths: tuple[tuple[str, ...], ...]
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray

    @classmethod
    def from_records(cls, records: Iterable[tuple[Sequence[str], float, float, float]]) -> Paths:
        """Build from ``(path, conversions, value, nulls)``; equal paths are added together."""
        merged: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for path, conversions, value, nulls in records:
            key = tuple(str(t).strip() for t in path if str(t).strip())
            if not key:
                continue
            if conversions < 0 or nulls < 0 or value < 0:
                raise InputError(f"Path {PATH_SEPARATOR.join(key)!r} has a negative count or value; "
                                 "conversions, value and nulls must be 0 or more.")
            row = merged[key]
            row[0] += conversions
            row[1] += value
            row[2] += nulls
        keys = tuple(sorted(merged))
        return cls(paths=keys, conversions=np.array([merged[k][0] for k in keys], dtype=float),
                   value=np.array([merged[k][1] for k in keys], dtype=float),
                   nulls=np.array([merged[k][2] for k in keys], dtype=float))

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({t for p in self.paths for t in p}))

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())


def read_paths(frame: pd.DataFrame) -> Paths:
    """Paths from a table with ``path`` (touches joined by " > "), ``total_conversions``,
    ``total_conversion_value`` and ``total_null`` (the format of the common attribution libraries).
    """
    missing = [c for c in ("path", "total_conversions") if c not in frame.columns]
    if missing:
        raise InputError(f"The path table needs the column(s) {', '.join(missing)}; columns found: "
                         f"{', '.join(map(str, frame.columns))}. Expected: path, total_conversions, "
                         "total_conversion_value, total_null.")
    value = frame.get("total_conversion_value", 0.0)
    nulls = frame.get("total_null", 0.0)
    table = pd.DataFrame({"path": frame["path"].astype(str), "c": frame["total_conversions"], "v": value,
                          "n": nulls}).fillna(0.0)
    return Paths.from_records(
        (p.split(">"), float(c), float(v), float(n)) for p, c, v, n in table.itertuples(index=False))


def _shares(path: tuple[str, ...], model: str, first: float, last: float) -> list[float]:
    n = len(path)
    if model == "first":
        return [1.0] + [0.0] * (n - 1)
    if model == "last":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "position":
        if n == 1:
            return [1.0]
        if n == 2:
            return [first / (first + last), last / (first + last)]
        middle = (1.0 - first - last) / (n - 2)
        return [first] + [middle] * (n - 2) + [last]
    raise InputError(f"Unknown heuristic model {model!r}; use one of {', '.join(HEURISTIC_MODELS)}.")


def heuristic_attribution(paths: Paths, model: str, *, first: float = 0.4, last: float = 0.4) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class under a heuristic model.

    Returns a frame with ``class``, ``conversions``, ``value`` (sorted by class); the columns sum
    to the totals of the converting paths.
    """
    if not (first >= 0 and last >= 0 and first + last <= 1 and first + last > 0):
        raise InputError("Position weights must be between 0 and 1, with first + last between 0 and 1.")
    conversions: dict[str, float] = dict.fromkeys(paths.classes, 0.0)
    value: dict[str, float] = dict.fromkeys(paths.classes, 0.0)
    for path, c, v in zip(paths.paths, paths.conversions, paths.value, strict=True):
        if c == 0 and v == 0:
            continue
        for touch, share in zip(path, _shares(path, model, first, last), strict=True):
            conversions[touch] += c * share
            value[touch] += v * share
    return pd.DataFrame({"class": list(conversions), "conversions": list(conversions.values()),
                         "value": list(value.values())})


def _conversion_probability(paths: Paths, order: int, removed: str | None) -> float:
    """P(reach conversion from start) in the order-``order`` chain, with ``removed`` sent to null.

    A state is the last ``order`` classes visited (the start is the empty history). Removing a
    class sends every transition into a state that ends with it (the moment it is visited) to
    null. The absorption probabilities solve the sparse system ``(I - Q) x = r``.
    """
    from scipy.sparse import csr_matrix, identity
    from scipy.sparse.linalg import spsolve

    states: dict[tuple[str, ...], int] = {(): 0}
    edges: dict[tuple[int, int], float] = defaultdict(float)
    to_conversion: dict[int, float] = defaultdict(float)
    out_total: dict[int, float] = defaultdict(float)
    for path, c, n in zip(paths.paths, paths.conversions, paths.nulls, strict=True):
        weight = c + n
        if weight == 0:
            continue
        history: tuple[str, ...] = ()
        current = 0
        for touch in path:
            history = (*history, touch)[-order:]
            target = states.setdefault(history, len(states))
            edges[(current, target)] += weight
            out_total[current] += weight
            current = target
        out_total[current] += weight
        to_conversion[current] += c
    if not to_conversion:
        return 0.0
    # The chain is estimated from all journeys; removal then sends transitions into the class to null.
    last_class = {index: history[-1] if history else None for history, index in states.items()}
    size = len(states)
    rows, cols, data = [], [], []
    for (i, j), w in edges.items():
        if removed is not None and last_class[j] == removed:
            continue
        rows.append(i)
        cols.append(j)
        data.append(w / out_total[i])
    q = csr_matrix((data, (rows, cols)), shape=(size, size))
    r = np.zeros(size)
    for i, w in to_conversion.items():
        if removed is None or last_class[i] != removed:
            r[i] = w / out_total[i]
    x = spsolve((identity(size, format="csr") - q).tocsc(), r)
    return float(np.atleast_1d(x)[0])


def markov_attribution(paths: Paths, *, order: int = 1) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class by the Markov removal effect.

    ``order`` 1 to 4; every order is solved exactly (a sparse linear system over the histories
    that occur), never simulated. Also returns ``removal_effect`` per class. A class that appears
    on no path that leads to a conversion gets 0 (removing it never lowers conversion).
    """
    if not 1 <= order <= 4:
        raise InputError(f"The Markov order must be 1 to 4, not {order}.")
    classes = paths.classes
    base = _conversion_probability(paths, order, None)
    effects = {c: (1.0 - _conversion_probability(paths, order, c) / base) if base > 0 else 0.0 for c in classes}
    effects = {c: max(e, 0.0) for c, e in effects.items()}
    total_effect = sum(effects.values())
    shares = {c: (e / total_effect if total_effect > 0 else 0.0) for c, e in effects.items()}
    return pd.DataFrame({
        "class": list(classes),
        "conversions": [paths.total_conversions * shares[c] for c in classes],
        "value": [paths.total_value * shares[c] for c in classes],
        "removal_effect": [effects[c] for c in classes],
    })


# -- Shapley value --------------------------------------------------------------------------------

SHAPLEY_EXACT_LIMIT = 15


def shapley_attribution(paths: Paths, *, samples: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class by the Shapley value.

    Characteristic function (the "set" form of Zhao et al., 2018): ``v(S)`` is the total over
    converting journeys whose *set* of classes lies within S — order and repeats do not matter.
    The Shapley value then splits ``v(all classes)`` = the totals exactly (efficiency). Exact for
    up to 15 classes (every coalition, no truncation of players); beyond, estimated from ``samples``
    random orderings, with the standard error in ``conversions_se``.
    """
    classes = paths.classes
    n = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    masks = np.array([sum(1 << index[t] for t in set(p)) for p in paths.paths], dtype=np.int64)
    if n == 0:
        return pd.DataFrame(columns=["class", "conversions", "value", "conversions_se"])
    if n <= SHAPLEY_EXACT_LIMIT:
        conversions = _shapley_exact(masks, paths.conversions, n)
        value = _shapley_exact(masks, paths.value, n)
        se = np.zeros(n)
    else:
        conversions, se = _shapley_sampled(masks, paths.conversions, n, samples, seed)
        value, _ = _shapley_sampled(masks, paths.value, n, samples, seed)
    return pd.DataFrame({"class": list(classes), "conversions": conversions, "value": value, "conversions_se": se})


def _coalition_values(masks: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """v(S) for every coalition S (bit mask): the weights of journeys whose class set is within S."""
    v = np.zeros(1 << n)
    np.add.at(v, masks, weights)
    for bit in range(n):  # sum over subsets (zeta transform)
        step = 1 << bit
        for start in range(0, 1 << n, step << 1):
            v[start + step:start + (step << 1)] += v[start:start + step]
    return v


def _shapley_exact(masks: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    from math import factorial

    v = _coalition_values(masks, weights, n)
    all_masks = np.arange(1 << n)
    sizes = np.array([bin(m).count("1") for m in range(1 << n)])
    coefficient = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0
                            for s in range(n + 1)])
    phi = np.zeros(n)
    for i in range(n):
        without = all_masks[(all_masks >> i) & 1 == 0]
        phi[i] = float(np.sum(coefficient[sizes[without]] * (v[without | (1 << i)] - v[without])))
    return phi


def _shapley_sampled(masks: np.ndarray, weights: np.ndarray, n: int, samples: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    contributions = np.zeros((samples, n))
    for s in range(samples):
        order = rng.permutation(n)
        coalition = 0
        before = 0.0
        for player in order:
            coalition |= 1 << int(player)
            after = float(weights[(masks & ~coalition) == 0].sum())
            contributions[s, player] = after - before
            before = after
    return contributions.mean(axis=0), contributions.std(axis=0, ddof=1) / np.sqrt(samples)


# -- time decay (needs the time of every touch) ----------------------------------------------------


def time_decay_attribution(touches: pd.DataFrame, *, half_life_days: float = 7.0) -> pd.DataFrame:
    """Credit by ``0.5 ** (days before the conversion / half_life_days)``, normalised per journey.

    ``touches`` has one row per touch of a converting journey: ``journey``, ``class``,
    ``days_before`` (>= 0), and the journey's ``conversions`` and ``value`` (repeated on its
    rows). Returns ``class``, ``conversions``, ``value`` summing to the journeys' totals.
    """
    if half_life_days <= 0:
        raise InputError(f"The half-life must be a positive number of days, not {half_life_days}.")
    if touches.empty:
        return pd.DataFrame(columns=["class", "conversions", "value"])
    weight = np.power(0.5, touches["days_before"].to_numpy(float) / half_life_days)
    frame = touches.assign(_w=weight)
    frame["_share"] = frame["_w"] / frame.groupby("journey")["_w"].transform("sum")
    frame["conversions_credit"] = frame["_share"] * frame["conversions"]
    frame["value_credit"] = frame["_share"] * frame["value"]
    credit = frame.groupby("class", sort=True)[["conversions_credit", "value_credit"]].sum()
    return pd.DataFrame({"class": credit.index, "conversions": credit["conversions_credit"].to_numpy(),
                         "value": credit["value_credit"].to_numpy()})


# -- journeys from the store -----------------------------------------------------------------------

GRAINS = ("type", "channel", "program")
MODELS = (*HEURISTIC_MODELS, "time_decay", "markov", "shapley")


@dataclass(frozen=True)
class Journeys:
    """Journeys built from the store: aggregated paths, and the touches of converting journeys."""

    paths: Paths
    touches: pd.DataFrame  # journey, class, days_before, conversions, value
    conversions_without_touch: int  # conversions with no community touch in the lookback
    value_without_touch: float


def build_journeys(db: Any, *, outcomes: Sequence[str], lookback_days: int, grain: str, as_of: datetime
                   ) -> Journeys:
    """For each conversion (outcome of ``outcomes``, keyed by member), the member's touches within
    ``lookback_days`` before it, in time order (touches after it excluded); and for members who
    never converted, their touches within ``lookback_days`` before ``as_of`` (non-converting
    journeys, which the Markov model needs).
    """
    import ibis

    if grain not in GRAINS:
        raise InputError(f"Touchpoints are grouped by {', '.join(GRAINS)}; {grain!r} is not one of them.")
    if lookback_days <= 0:
        raise InputError(f"The lookback must be a positive number of days, not {lookback_days}.")
    moment = ibis.literal(as_of)
    lookback = ibis.interval(days=lookback_days)
    a = db.table("activities")
    a = a.filter(a[grain].notnull() & (a.ts <= moment)).select("member_id", "ts", cls=a[grain])
    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & o.member_id.notnull() & (o.ts <= moment))
    o = o.select(journey=o.source.concat(":", o.outcome_id), member_id=o.member_id, cts=o.ts,
                 value=o.value.cast("float64").fill_null(0.0))
    touched = o.join(a, (o.member_id == a.member_id) & (a.ts <= o.cts) & (a.ts >= o.cts - lookback))
    touches = touched.select(
        journey=touched.journey, cls=touched.cls, value=touched.value,
        days_before=(touched.cts.epoch_seconds() - touched.ts.epoch_seconds()) / 86_400,
        ts=touched.ts,
    )
    per_journey = touches.group_by(["journey", "value"]).aggregate(
        path=touches.cls.collect(order_by=[touches.ts, touches.cls]).join(PATH_SEPARATOR))
    converting = per_journey.group_by("path").aggregate(conversions=per_journey.count(),
                                                        value=per_journey.value.sum()).execute()
    all_conversions = o.aggregate(n=o.count(), value=o.value.sum()).execute().iloc[0]
    touched_count = int(converting["conversions"].sum()) if len(converting) else 0
    touched_value = float(converting["value"].sum()) if len(converting) else 0.0

    converters = o.select("member_id").distinct()
    idle = a.anti_join(converters, "member_id")
    idle = idle.filter(idle.ts >= moment - lookback)
    idle_paths = idle.group_by("member_id").aggregate(
        path=idle.cls.collect(order_by=[idle.ts, idle.cls]).join(PATH_SEPARATOR))
    nulls = idle_paths.group_by("path").aggregate(nulls=idle_paths.count()).execute()

    records: list[tuple[Sequence[str], float, float, float]] = [
        (p.split(PATH_SEPARATOR), float(c), float(v), 0.0)
        for p, c, v in converting[["path", "conversions", "value"]].itertuples(index=False)]
    records += [(p.split(PATH_SEPARATOR), 0.0, 0.0, float(n)) for p, n in nulls[["path", "nulls"]].itertuples(
        index=False)]
    touch_rows = touches.select("journey", "cls", "days_before", "value").execute().rename(columns={"cls": "class"})
    touch_rows["conversions"] = 1.0
    return Journeys(paths=Paths.from_records(records), touches=touch_rows,
                    conversions_without_touch=int(all_conversions["n"] or 0) - touched_count,
                    value_without_touch=float(all_conversions["value"] or 0.0) - touched_value)


def attribute(journeys: Journeys | Paths, models: Sequence[str], *, half_life_days: float = 7.0,
              first: float = 0.4, last: float = 0.4, order: int = 1) -> pd.DataFrame:
    """Run ``models`` and stack their results: ``model``, ``class``, ``conversions``, ``value``, ``share``."""
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    frames = []
    for model in models:
        if model in HEURISTIC_MODELS:
            frame = heuristic_attribution(paths, model, first=first, last=last)
        elif model == "markov":
            frame = markov_attribution(paths, order=order)
        elif model == "shapley":
            frame = shapley_attribution(paths)
        elif model == "time_decay":
            if not isinstance(journeys, Journeys):
                raise InputError("Time decay needs the time of every touch; aggregated path files do not have it.")
            frame = time_decay_attribution(journeys.touches, half_life_days=half_life_days)
        else:
            raise InputError(f"Unknown attribution model {model!r}; use one of {', '.join(MODELS)} or all.")
        total = frame["conversions"].sum()
        frame = frame.assign(model=model, share=frame["conversions"] / total if total else np.nan)
        frames.append(frame[["model", "class", "conversions", "value", "share"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "class", "conversions", "value", "share"])


def bootstrap_intervals(paths: Paths, model: str, *, replicates: int = 200, seed: int = 0,
                        confidence: float = 0.95, first: float = 0.4, last: float = 0.4, order: int = 1
                        ) -> pd.DataFrame:
    """Percentile intervals of a path model's credit, resampling journeys (Poisson bootstrap).

    Each replicate draws every path's converting and non-converting journey counts from Poisson
    distributions with the observed counts as means (a path's value follows its conversions), the
    usual large-sample stand-in for resampling journeys with replacement that also works for
    fractional counts. Returns ``class``, ``conversions_low``, ``conversions_high``, ``value_low``,
    ``value_high``.
    """
    if model == "time_decay":
        raise InputError("Bootstrap intervals are computed over paths; time decay needs touch times.")
    rng = np.random.default_rng(seed)
    per_conversion = np.divide(paths.value, paths.conversions, out=np.zeros_like(paths.value),
                               where=paths.conversions > 0)
    classes = paths.classes
    draws_c = np.zeros((replicates, len(classes)))
    draws_v = np.zeros((replicates, len(classes)))
    for r in range(replicates):
        c = rng.poisson(paths.conversions).astype(float)
        n = rng.poisson(paths.nulls).astype(float)
        sample = Paths(paths=paths.paths, conversions=c, value=c * per_conversion, nulls=n)
        result = attribute(sample, [model], first=first, last=last, order=order).set_index("class")
        draws_c[r] = result["conversions"].reindex(classes, fill_value=0.0).to_numpy()
        draws_v[r] = result["value"].reindex(classes, fill_value=0.0).to_numpy()
    tail = 100 * (1 - confidence) / 2
    return pd.DataFrame({
        "class": list(classes),
        "conversions_low": np.percentile(draws_c, tail, axis=0),
        "conversions_high": np.percentile(draws_c, 100 - tail, axis=0),
        "value_low": np.percentile(draws_v, tail, axis=0),
        "value_high": np.percentile(draws_v, 100 - tail, axis=0),
    })
