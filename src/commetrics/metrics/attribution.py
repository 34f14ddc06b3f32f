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

Markov removal effect, orders 1 to 4, solved without simulation: the journeys define a chain
``start -> classes -> (conversion | null)`` with transition probabilities estimated from the
counts (converting paths weighted by ``conversions``, others by ``nulls``). ``P`` is the
probability of reaching ``conversion`` from ``start``, found by solving ``(I - Q) x = r``.
Removing class k sends every transition into k to ``null``; its removal effect is
``1 - P_k / P``. Conversions and value are split in proportion to the removal effects.
Consecutive repeats of a class are self-loops, which do not change absorption probabilities (they
are folded into the state's other transitions). Chains of up to 2,000 states (every order-1 chain
of fewer than 2,000 classes) are solved exactly by sparse LU; larger ones (orders 3-4 over many
classes, where LU fills in) by pushing the probability mass through the chain until less than
1e-13 is in transit, with that bound reported as ``removal_effect_error``.

Shapley value with the "set" characteristic function of Zhao et al. (2018): ``v(S)`` is the total
of the converting journeys whose set of classes lies within S. ``v`` is then a weighted sum of
unanimity games, so the Shapley value has a closed form — each journey's credit split equally over
the distinct classes it touched — which is exact for any number of classes (no sampling, no
truncation of players). The tests check it against the definition, coalition by coalition.

Paths are held column-wise (class codes of all touches end to end, with path offsets), so every
model is a handful of array operations whatever the number of distinct paths: no Python loop runs
per path or per touch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from . import fetch
from .people import Identities, identities

__all__ = [
    "GRAINS",
    "HEURISTIC_MODELS",
    "MODELS",
    "REVENUE_OUTCOMES",
    "Journeys",
    "Paths",
    "attribute",
    "bootstrap_intervals",
    "build_journeys",
    "heuristic_attribution",
    "journeys_per_class",
    "markov_attribution",
    "read_paths",
    "shapley_attribution",
    "time_decay_attribution",
]

HEURISTIC_MODELS = ("first", "last", "linear", "position")
#: The outcome types attributed by default: the ones that bring revenue.
REVENUE_OUTCOMES = ("purchase", "upgrade", "seat_expansion", "cross_sell", "renewal")
PATH_SEPARATOR = " > "
_JOIN = "\x1f"  # joins touches inside the engine: a control character no class name contains


@dataclass(frozen=True, eq=False)
class Paths:
    """Aggregated journeys: each path once, with its conversions, value and non-converting count.

    ``codes`` holds the class index (into ``classes``, which is sorted) of every touch of every
    path, end to end; path ``i`` is ``codes[offsets[i]:offsets[i + 1]]``. Paths are never empty
    and keep the order of their rows. A path may appear on several rows: every model adds rows up,
    so that gives the same credit as one row with the summed counts (and merging would cost a
    grouping of every path for nothing).
    """

    classes: tuple[str, ...]
    codes: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray

    @classmethod
    def from_records(cls, records: Iterable[tuple[Sequence[str], float, float, float]]) -> Paths:
        """Build from ``(path, conversions, value, nulls)`` records."""
        rows = [(_JOIN.join(str(t) for t in path), float(c), float(v), float(n)) for path, c, v, n in records]
        path, c, v, n = ([r[i] for r in rows] for i in range(4))
        return cls.from_arrow(pa.array(path, pa.string()), pa.array(c, pa.float64()), pa.array(v, pa.float64()),
                              pa.array(n, pa.float64()), separator=_JOIN)

    @classmethod
    def from_arrow(cls, path: pa.Array | pa.ChunkedArray, conversions: Any, value: Any, nulls: Any, *,
                   separator: str = ">") -> Paths:
        """Build from Arrow columns: ``path`` strings of touches joined by ``separator`` (each touch
        trimmed; empty touches and empty paths dropped) and the three counts (missing read as 0).

        Runs in Arrow's and numpy's vectorised kernels: the touches are dictionary-encoded as they
        are, and only the distinct names are trimmed and sorted.
        """
        numbers = [np.asarray(pc.fill_null(pc.cast(x, pa.float64()), 0.0), dtype=float)
                   for x in (conversions, value, nulls)]
        text = pc.fill_null(pc.cast(path, pa.string()), "")
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        parts = pc.split_pattern(text, separator)
        encoded = pc.dictionary_encode(pc.list_flatten(parts))
        raw = [str(name).strip() for name in encoded.dictionary.to_pylist()]
        names = sorted(set(raw) - {""})
        number = {name: i for i, name in enumerate(names)}
        code_of_raw = np.array([number.get(name, -1) for name in raw], dtype=np.int32)
        codes = code_of_raw[np.asarray(encoded.indices)] if len(raw) else np.zeros(0, np.int32)
        keep = codes >= 0
        parent = np.asarray(pc.list_parent_indices(parts))[keep]
        del encoded, parts
        lengths = np.bincount(parent, minlength=len(text))
        del parent
        rows = lengths > 0
        negative = rows & ((numbers[0] < 0) | (numbers[1] < 0) | (numbers[2] < 0))
        if negative.any():
            first = int(np.flatnonzero(negative)[0])
            shown = PATH_SEPARATOR.join(t.strip() for t in str(text[first].as_py()).split(separator) if t.strip())
            raise InputError(f"Path {shown!r} has a negative count or value; conversions, value and nulls must "
                             f"be 0 or more ({int(negative.sum()):,} such row(s)). Fix them and run again.")
        paths = cls(classes=tuple(names), codes=codes if keep.all() else codes[keep],
                    offsets=np.concatenate([[0], np.cumsum(lengths[rows])]).astype(np.int64),
                    conversions=numbers[0][rows], value=numbers[1][rows], nulls=numbers[2][rows])
        pa.default_memory_pool().release_unused()  # hand the Arrow buffers of the parse back
        return paths

    def with_counts(self, conversions: np.ndarray, value: np.ndarray, nulls: np.ndarray) -> Paths:
        """The same paths with other counts (a bootstrap replicate)."""
        return Paths(self.classes, self.codes, self.offsets, conversions, value, nulls)

    def subset(self, keep: np.ndarray) -> Paths:
        """Only the paths where ``keep`` is true (classes unchanged)."""
        lengths = np.diff(self.offsets)[keep]
        touch_keep = np.repeat(keep, np.diff(self.offsets))
        return Paths(self.classes, self.codes[touch_keep], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                     self.conversions[keep], self.value[keep], self.nulls[keep])

    @cached_property
    def converting(self) -> Paths:
        """The paths with conversions or value (the only ones that receive credit)."""
        keep = (self.conversions != 0) | (self.value != 0)
        return self if keep.all() else self.subset(keep)

    @cached_property
    def observed(self) -> Paths:
        """The paths seen at least once (converting or not): the ones that shape a Markov chain."""
        keep = (self.conversions + self.nulls) > 0
        return self if keep.all() else self.subset(keep)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """The paths as tuples of class names (for small tables: it builds Python objects)."""
        names = np.asarray(self.classes, dtype=object)[self.codes]
        return tuple(tuple(names[a:b]) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True))

    @cached_property
    def path_of_touch(self) -> np.ndarray:
        return np.repeat(np.arange(len(self), dtype=self._index_type), np.diff(self.offsets))

    @property
    def _index_type(self) -> type[np.signedinteger[Any]]:
        return np.int32 if len(self.codes) < 2**31 - 1 else np.int64

    @cached_property
    def position(self) -> np.ndarray:
        """Each touch's 0-based position in its path."""
        starts = self.offsets[:-1].astype(self._index_type)
        position: np.ndarray = np.arange(len(self.codes), dtype=self._index_type) - starts[self.path_of_touch]
        return position

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())


def read_paths(frame: pd.DataFrame | pa.Table) -> Paths:
    """Paths from a table with ``path`` (touches joined by " > "), ``total_conversions``,
    ``total_conversion_value`` and ``total_null`` (the format of the common attribution libraries).
    """
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    missing = [c for c in ("path", "total_conversions") if c not in table.column_names]
    if missing:
        raise InputError(f"The path table needs the column(s) {', '.join(missing)}; columns found: "
                         f"{', '.join(map(str, table.column_names))}. Expected: path, total_conversions, "
                         "total_conversion_value, total_null.")
    zeros = pa.nulls(table.num_rows, pa.float64())
    columns = {}
    for name in ("total_conversions", "total_conversion_value", "total_null"):
        column = table[name] if name in table.column_names else zeros
        try:
            columns[name] = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InputError(f"The path table's column {name} must hold numbers: {error}. Fix the file and "
                             "run the command again.") from error
    return Paths.from_arrow(table["path"], columns["total_conversions"], columns["total_conversion_value"],
                            columns["total_null"], separator=">")


def read_path_file(path: str | Any) -> Paths:
    """Paths from a CSV path file, comma or semicolon separated (told apart by the header line)."""
    from pathlib import Path

    import pyarrow.csv as pacsv

    file = Path(path)
    if not file.exists():
        raise InputError(f"Path file not found: {file}. Check the path and run the command again.")
    with file.open(encoding="utf-8", errors="replace") as handle:
        head = handle.readline()
    delimiter = ";" if head.count(";") > head.count(",") else ","
    try:
        table = pacsv.read_csv(file, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                               convert_options=pacsv.ConvertOptions(column_types={"path": pa.string()}))
    except pa.ArrowInvalid as error:
        raise InputError(f"Could not read the path file {file}: {error}. Expected a header line "
                         "path, total_conversions, total_conversion_value, total_null.") from error
    return read_paths(table)


def _credit(paths: Paths, class_of_touch: np.ndarray, share: np.ndarray, path_of_share: np.ndarray,
            columns: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    k = len(paths.classes)
    frame = {"class": list(paths.classes),
             "conversions": np.bincount(class_of_touch, weights=share * paths.conversions[path_of_share], minlength=k),
             "value": np.bincount(class_of_touch, weights=share * paths.value[path_of_share], minlength=k)}
    return pd.DataFrame({**frame, **(columns or {})})


def heuristic_attribution(paths: Paths, model: str, *, first: float = 0.4, last: float = 0.4) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class under a heuristic model.

    Returns a frame with ``class``, ``conversions``, ``value`` (sorted by class); the columns sum
    to the totals of the converting paths.
    """
    if model not in HEURISTIC_MODELS:
        raise InputError(f"Unknown heuristic model {model!r}; use one of {', '.join(HEURISTIC_MODELS)}.")
    if not (first >= 0 and last >= 0 and first + last <= 1 and first + last > 0):
        raise InputError("Position weights must be between 0 and 1, with first + last between 0 and 1.")
    live = paths.converting
    position, owner = live.position, live.path_of_touch
    n = np.diff(live.offsets)[owner]
    is_first, is_last = position == 0, position == n - 1
    if model == "first":
        share = is_first.astype(float)
    elif model == "last":
        share = is_last.astype(float)
    elif model == "linear":
        share = 1.0 / n
    else:
        middle = (1.0 - first - last) / np.maximum(n - 2, 1)
        share = np.where(is_first, first, np.where(is_last, last, middle))
        share = np.where(n == 1, 1.0, np.where(n == 2, share / (first + last), share))
    return _credit(live, live.codes, share, owner)


def _markov_states(paths: Paths, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(state key of each touch, state key before each touch, key base): a state is the last
    ``order`` classes visited, as digits ``code + 1`` in base ``len(classes) + 1`` (0 = the start)."""
    base = len(paths.classes) + 1
    if float(base) ** order >= 2.0**62:
        raise InputError(f"{len(paths.classes):,} classes are too many for a Markov chain of order {order}; "
                         "use a lower --order or a coarser --by.")
    position = paths.position
    digit = paths.codes.astype(np.int64) + 1
    key = digit.copy()
    for j in range(1, order):  # the class j touches back, where the path has one
        back = np.zeros_like(digit)
        back[j:] = digit[:-j]
        key += np.where(position >= j, back, 0) * base**j
    before = np.zeros_like(key)
    before[1:] = key[:-1]
    before[position == 0] = 0
    return key, before, paths.path_of_touch, base


#: Chains up to this many states are solved directly (sparse LU); larger ones by propagation.
DIRECT_STATES = 2_000
#: Propagation stops once the probability mass still in transit is below this (an error bound).
TRANSIT_TOLERANCE = 1e-13
MAX_STEPS = 100_000


def _chain(paths: Paths, order: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """The absorbing chain of the journeys: (Q among transient states, r = P(state -> conversion),
    the last class of each state (-1 for the start, state 0)).

    A state is the last ``order`` classes visited (the start is the empty history). Self-loops
    (consecutive repeats) are folded into the other transitions of their state — a state that
    loops with probability s leaves by each other way with probability q / (1 - s) — which keeps
    every absorption probability and removes the slowest mode of the chain.
    """
    from scipy.sparse import csr_matrix

    key, before, owner, base = _markov_states(paths, order)
    if base**order <= 1 << 24:  # small key space: number the states through a dense lookup, no sort
        present = np.zeros(base**order, dtype=bool)
        present[0] = True
        present[key] = True
        states = np.flatnonzero(present)
        number = (np.cumsum(present) - 1).astype(np.int32)
        to_id, from_id = number[key], number[before]
        del key, before
    else:
        states, to_id = np.unique(np.concatenate([[0], key]), return_inverse=True)
        to_id = to_id[1:]
        from_id = np.searchsorted(states, before)
    weight = (paths.conversions + paths.nulls)[owner]
    end_id = to_id[paths.offsets[1:] - 1]
    size = len(states)
    move = from_id != to_id
    from_id, to_id, weight = from_id[move], to_id[move], weight[move]
    out_total = (np.bincount(from_id, weights=weight, minlength=size)
                 + np.bincount(end_id, weights=paths.conversions + paths.nulls, minlength=size))
    scale = np.divide(1.0, out_total, out=np.zeros(size), where=out_total > 0)
    if size <= 1_024:  # add up the edges in a dense table: no sort of the touches
        table = np.bincount(from_id * size + to_id, weights=weight, minlength=size * size).reshape(size, size)
        q = csr_matrix(table * scale[:, None])
    else:
        q = csr_matrix((weight * scale[from_id], (from_id, to_id)), shape=(size, size))  # duplicates are summed
    r = np.bincount(end_id, weights=paths.conversions, minlength=size) * scale
    return q, r, states % base - 1


def _conversion_probabilities(paths: Paths, order: int) -> tuple[float, np.ndarray, np.ndarray]:
    """P(reach conversion from start); the same with each class removed (every transition into a
    state that ends with it sent to null); and an upper bound on the error of each of those.

    Small chains solve ``(I - Q) x = r`` exactly by sparse LU (error 0). Large ones (high orders
    over many classes, where LU fills in) push the start's probability mass through the chain for
    the base and every removal at once, until the mass still in transit — the bound on what is
    not yet counted — is below ``TRANSIT_TOLERANCE``.
    """
    from scipy.sparse import csr_matrix, diags, identity
    from scipy.sparse.linalg import spsolve

    k = len(paths.classes)
    live = paths.observed
    if live.conversions.sum() <= 0:
        return 0.0, np.zeros(k), np.zeros(k + 1)
    q, r, last_class = _chain(live, order)
    size = q.shape[0]
    keep = np.ones((k + 1, size))  # row 0: nothing removed; row 1 + c: class c removed
    present = last_class >= 0
    keep[1 + last_class[present], np.flatnonzero(present)] = 0.0
    if size <= DIRECT_STATES:
        found = np.zeros(k + 1)
        for row in range(k + 1):
            if row and keep[row].all():  # the class is never visited: nothing changes
                found[row] = found[0]
                continue
            q_row = csr_matrix(q @ diags(keep[row]))
            solution = spsolve((identity(size, format="csr") - q_row).tocsc(), r * keep[row])
            found[row] = float(np.atleast_1d(solution)[0])
        return found[0], found[1:], np.zeros(k + 1)
    mass = np.zeros((k + 1, size))
    mass[:, 0] = 1.0
    found = np.zeros(k + 1)
    forward = csr_matrix(q.T)
    in_transit = np.ones(k + 1)
    for _ in range(MAX_STEPS):
        found += mass @ r
        mass = (forward @ mass.T).T * keep
        in_transit = mass.sum(axis=1)
        if in_transit.max() <= TRANSIT_TOLERANCE:
            break
    return found[0], found[1:], in_transit


def markov_attribution(paths: Paths, *, order: int = 1) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class by the Markov removal effect.

    ``order`` 1 to 4, never simulated: chains of up to ``DIRECT_STATES`` states are solved
    exactly; larger ones by propagating the probability mass until less than
    ``TRANSIT_TOLERANCE`` is in transit. Also returns ``removal_effect`` per class and
    ``removal_effect_error``, an upper bound on its error (0 when solved exactly). A class that
    appears on no path that leads to a conversion gets 0 (removing it never lowers conversion).
    """
    if not 1 <= order <= 4:
        raise InputError(f"The Markov order must be 1 to 4, not {order}.")
    classes = paths.classes
    base, removed, error = _conversion_probabilities(paths, order)
    if base > 0:
        effects = np.maximum(1.0 - removed / base, 0.0)
        # P and P_k each lie in [found, found + error]: the widest removal effect that allows.
        low = 1.0 - (removed + error[1:]) / base
        high = 1.0 - removed / (base + error[0])
        bound = np.maximum(np.abs(effects - np.maximum(low, 0.0)), np.abs(np.maximum(high, 0.0) - effects))
    else:
        effects = bound = np.zeros(len(classes))
    total_effect = effects.sum()
    shares = effects / total_effect if total_effect > 0 else np.zeros(len(classes))
    return pd.DataFrame({
        "class": list(classes),
        "conversions": paths.total_conversions * shares,
        "value": paths.total_value * shares,
        "removal_effect": effects,
        "removal_effect_error": bound,
    })


def shapley_attribution(paths: Paths) -> pd.DataFrame:
    """Attributed ``conversions`` and ``value`` per class by the Shapley value.

    Characteristic function (the "set" form of Zhao et al., 2018): ``v(S)`` is the total over
    converting journeys whose *set* of classes lies within S — order and repeats do not matter.
    ``v`` is the sum over journeys of ``weight x [set within S]``, a weighted sum of unanimity
    games, and the Shapley value is linear, so each journey's credit is split equally over its
    distinct classes. This is exact for any number of classes and splits ``v(all classes)`` = the
    totals exactly (efficiency).
    """
    live = paths.converting
    k = len(live.classes)
    owner = live.path_of_touch
    if k <= 62:  # the set of classes of each path as a bit mask: one pass over the touches
        masks = np.bitwise_or.reduceat(np.left_shift(np.int64(1), live.codes.astype(np.int64)),
                                       live.offsets[:-1]) if len(live) else np.zeros(0, np.int64)
        weight = 1.0 / np.bitwise_count(masks)
        member = [((masks >> c) & 1).astype(bool) for c in range(k)]
        return pd.DataFrame({
            "class": list(live.classes),
            "conversions": [float(np.sum((weight * live.conversions)[m])) for m in member],
            "value": [float(np.sum((weight * live.value)[m])) for m in member],
        }) if k else pd.DataFrame(columns=["class", "conversions", "value"])
    # Many classes: find each class's first touch in its path by sorting the (path, class) pairs.
    pair = owner * k + live.codes
    order = np.argsort(pair, kind="stable")
    first_seen = np.ones(len(pair), dtype=bool)
    first_seen[order[1:][pair[order][1:] == pair[order][:-1]]] = False
    distinct = np.bincount(owner[first_seen], minlength=len(live))
    return _credit(live, live.codes[first_seen], 1.0 / distinct[owner[first_seen]], owner[first_seen])


# -- time decay (needs the time of every touch) ----------------------------------------------------


def time_decay_attribution(touches: pd.DataFrame, *, half_life_days: float = 7.0) -> pd.DataFrame:
    """Credit by ``0.5 ** (days before the conversion / half_life_days)``, normalised per journey.

    ``touches`` has one row per touch of a converting journey: ``journey``, ``class``,
    ``days_before`` (>= 0), and the journey's ``conversions`` and ``value`` (repeated on its
    rows). Returns ``class``, ``conversions``, ``value`` summing to the journeys' totals.
    """
    _, classes, names, share = _time_decay_shares(touches, half_life_days)
    k = len(names)
    return pd.DataFrame({
        "class": names,
        "conversions": np.bincount(classes, weights=share * touches["conversions"].to_numpy(float), minlength=k),
        "value": np.bincount(classes, weights=share * touches["value"].to_numpy(float), minlength=k),
    })


def _time_decay_shares(touches: pd.DataFrame, half_life_days: float
                       ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(journey code, class code, class names, share of its journey's credit) per touch."""
    if half_life_days <= 0:
        raise InputError(f"The half-life must be a positive number of days, not {half_life_days}.")
    journey = pd.factorize(touches["journey"])[0]
    classes, names = pd.factorize(touches["class"], sort=True)
    days = touches["days_before"].to_numpy(float)
    # Weights relative to each journey's latest touch: the same shares, and no underflow for old touches.
    latest = pd.Series(days).groupby(journey).transform("min").to_numpy() if len(days) else days
    weight = np.power(0.5, (days - latest) / half_life_days)
    share = weight / np.bincount(journey, weights=weight)[journey] if len(days) else weight
    return journey, classes, [str(x) for x in names], share


# -- journeys from the store -----------------------------------------------------------------------

GRAINS = ("type", "channel", "program", "tag")
UNITS = ("person", "account")
MODELS = (*HEURISTIC_MODELS, "time_decay", "markov", "shapley")


@dataclass(frozen=True)
class Journeys:
    """Journeys built from the store: aggregated paths, and the touches of converting journeys.

    ``units_per_class``, ``units_with_touch`` and ``units_without_touch`` count distinct units
    (people, or accounts), not conversions: they are the group sizes that small-cell suppression
    needs (:func:`commetrics.privacy.outputs.suppress_attribution`).
    """

    paths: Paths
    touches: pd.DataFrame  # journey, class, days_before, conversions, value
    conversions_without_touch: int  # conversions with no community touch in the lookback
    value_without_touch: float
    #: class -> distinct converting units with at least one touch of the class in a conversion's lookback
    units_per_class: dict[str, int] = field(default_factory=dict)
    units_with_touch: int = 0  # distinct units with at least one touched conversion
    units_without_touch: int = 0  # distinct units with at least one conversion that had no touch


def _touchpoints(db: Any, grain: str, unit: str, ids: Identities | None) -> Any:
    """``unit_id``, ``ts``, ``cls``: one row per touch; a tagged activity is one touch per tag."""
    a = db.table("activities")
    cls = a.tags.unnest() if grain == "tag" else a[grain]
    a = a.select("member_id", "ts", cls=cls)
    a = a.filter(a.cls.notnull() & (a.cls.strip() != ""))
    if unit == "person":
        if ids is None:
            return a.select(unit_id=a.member_id, ts=a.ts, cls=a.cls)
        keyed = a.join(ids.members, "member_id")  # a person's touches on every platform
        return keyed.select(unit_id=keyed.person_id, ts=keyed.ts, cls=keyed.cls)
    accounts = _member_accounts(db)
    joined = a.join(accounts, "member_id")
    return joined.select(unit_id=joined.account_id, ts=joined.ts, cls=joined.cls)


def _member_accounts(db: Any) -> Any:
    """``member_id`` -> ``account_id`` (the account at the member's first join)."""
    m = db.table("members")
    m = m.group_by("member_id").aggregate(account_id=m.account_id.argmin(m.joined_at))
    return m.filter(m.account_id.notnull())


def outcome_currencies(db: Any, outcomes: Sequence[str], as_of: datetime) -> list[str]:
    """The currencies of the valued outcomes of ``outcomes`` up to ``as_of`` (``(none)`` when unrecorded)."""
    import ibis

    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & (o.ts <= ibis.literal(as_of)) & (o.value > 0))
    return sorted(str(c) for c in o.select(c=o.currency.upper().fill_null("(none)")).distinct().execute()["c"])


def _conversion_events(db: Any, outcomes: Sequence[str], unit: str, as_of: datetime, currency: str | None,
                       ids: Identities | None) -> Any:
    """``journey``, ``unit_id``, ``cts``, ``value``: one row per outcome event of ``outcomes``.

    Values in several currencies cannot be added: then ``currency`` must pick one (outcomes with no
    value count in any currency).
    """
    import ibis

    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & (o.ts <= ibis.literal(as_of)))
    if currency is not None:
        o = o.filter((o.currency.upper() == currency.upper()) | o.value.isnull() | (o.value == 0))
    else:
        found = outcome_currencies(db, outcomes, as_of)
        if len(found) > 1:
            raise InputError(f"The {', '.join(outcomes)} outcomes carry values in {len(found)} currencies "
                             f"({', '.join(found)}), which cannot be added up. Attribute one at a time with "
                             f"--currency {found[0] if found[0] != '(none)' else found[-1]} (currency= in Python).")
    if unit == "person" and ids is not None:  # the person's, whether keyed by their member or their contact
        members = ids.members.select(mid=ids.members.member_id, via_member=ids.members.person_id)
        contacts = ids.contacts.select(cid=ids.contacts.contact_id, via_contact=ids.contacts.person_id)
        o = o.left_join(members, o.member_id == members.mid).left_join(contacts, o.contact_id == contacts.cid)
        o = o.mutate(unit_id=o.via_member.fill_null(o.via_contact))
        o = o.filter(o.unit_id.notnull())
    elif unit == "person":
        o = o.filter(o.member_id.notnull()).mutate(unit_id=o.member_id)
    else:  # the outcome's own account, else the account of its member
        o = o.left_join(_member_accounts(db), "member_id")
        o = o.mutate(unit_id=o.account_id.fill_null(o.account_id_right))
        o = o.filter(o.unit_id.notnull())
    return o.select(journey=o.source.concat(":", o.outcome_id), unit_id=o.unit_id, cts=o.ts,
                    value=o.value.cast("float64").fill_null(0.0))


def build_journeys(db: Any, *, outcomes: Sequence[str], lookback_days: int, grain: str, as_of: datetime,
                   unit: str = "person", currency: str | None = None) -> Journeys:
    """Journeys for attribution, aggregated into paths in the engine.

    ``unit="person"``: for each conversion (an outcome of ``outcomes`` keyed by a member, or by a
    CRM contact resolved to a person), that person's touches on every platform within
    ``lookback_days`` before it, in time order (touches after it excluded); without resolved
    identities a person is a member.
    ``unit="account"``: the conversion is the account's (an outcome keyed by the account, or by
    one of its members), and its journey holds the touches of every member of the account, in
    time order — so the credit is split across the members' touches. Units that never converted
    give non-converting journeys: their touches within ``lookback_days`` before ``as_of`` (the
    Markov model needs them). Values must share one currency, or ``currency`` must pick one.
    """
    import ibis

    if grain not in GRAINS:
        raise InputError(f"Touchpoints are grouped by {', '.join(GRAINS)}; {grain!r} is not one of them.")
    if unit not in UNITS:
        raise InputError(f"Journeys are per {' or '.join(UNITS)}; {unit!r} is neither.")
    if lookback_days <= 0:
        raise InputError(f"The lookback must be a positive number of days, not {lookback_days}.")
    moment = ibis.literal(as_of)
    lookback = ibis.interval(days=lookback_days)
    ids = identities(db)  # looked up once for the touches and the conversions
    a = _touchpoints(db, grain, unit, ids)
    a = a.filter(a.ts <= moment)
    o = _conversion_events(db, outcomes, unit, as_of, currency, ids)
    touched = o.join(a, (o.unit_id == a.unit_id) & (a.ts <= o.cts) & (a.ts >= o.cts - lookback))
    touches = touched.select(
        journey=touched.journey, cls=touched.cls, value=touched.value,
        days_before=(touched.cts.epoch_seconds() - touched.ts.epoch_seconds()) / 86_400,
        ts=touched.ts,
    )
    per_journey = touches.group_by(["journey", "value"]).aggregate(
        path=touches.cls.collect(order_by=[touches.ts, touches.cls]).join(_JOIN))
    converting = per_journey.group_by("path").aggregate(c=per_journey.count().cast("float64"),
                                                        v=per_journey.value.sum(), n=ibis.literal(0.0))
    all_conversions = o.aggregate(n=o.count(), value=o.value.sum()).execute().iloc[0]

    converters = o.select("unit_id").distinct()
    idle = a.anti_join(converters, "unit_id")
    idle = idle.filter(idle.ts >= moment - lookback)
    idle_paths = idle.group_by("unit_id").aggregate(
        path=idle.cls.collect(order_by=[idle.ts, idle.cls]).join(_JOIN))
    nulls = idle_paths.group_by("path").aggregate(c=ibis.literal(0.0), v=ibis.literal(0.0),
                                                  n=idle_paths.count().cast("float64"))
    table = pa.concat_tables([converting.to_pyarrow(), nulls.to_pyarrow()], promote_options="permissive")
    paths = Paths.from_arrow(table["path"], table["c"], table["v"], table["n"], separator=_JOIN)
    touch_rows = fetch(touches.select("journey", "cls", "days_before", "value")).rename(columns={"cls": "class"})
    touch_rows["conversions"] = 1.0
    converted, converted_value = (float(pc.sum(table[c]).as_py() or 0.0) for c in ("c", "v"))
    # Group sizes for small-cell suppression: distinct units, not conversions (a unit may convert often).
    unit_class = touched.select(unit_id=touched.unit_id, cls=touched.cls.strip()).distinct()
    per_class = fetch(unit_class.group_by("cls").aggregate(units=unit_class.count()))
    touched_journeys = touched.select("journey").distinct()
    untouched = o.anti_join(touched_journeys, "journey")
    units = touched.select(unit_id=touched.unit_id).distinct().count().execute()
    units_untouched = untouched.select("unit_id").distinct().count().execute()
    return Journeys(paths=paths, touches=touch_rows,
                    conversions_without_touch=int(all_conversions["n"] or 0) - round(converted),
                    value_without_touch=float(all_conversions["value"] or 0.0) - converted_value,
                    units_per_class={str(c): int(n) for c, n in zip(per_class["cls"], per_class["units"], strict=True)},
                    units_with_touch=int(units), units_without_touch=int(units_untouched))


def journeys_per_class(journeys: Journeys | Paths) -> np.ndarray:
    """For each class of the paths (in ``paths.classes`` order), how many converting journeys went through it.

    From the store: the distinct converting units (people, or accounts) with at least one touch of
    the class in a conversion's lookback. From an aggregated path table, which holds no people: the
    converting journeys (``conversions``) of the paths that include the class, each path counted
    once however often it repeats the class, rounded down.
    """
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    if isinstance(journeys, Journeys):
        return np.array([journeys.units_per_class.get(c, 0) for c in paths.classes], dtype=np.int64)
    live = paths.converting
    k = len(live.classes)
    if not len(live.codes):
        return np.zeros(k, dtype=np.int64)
    pair = np.unique(live.path_of_touch.astype(np.int64) * k + live.codes)  # each (path, class) once
    counts = np.bincount(pair % k, weights=live.conversions[pair // k], minlength=k)
    whole: np.ndarray = np.floor(counts + 1e-9).astype(np.int64)
    return whole


def _run(paths: Paths, touches: pd.DataFrame | None, model: str, *, half_life_days: float, first: float,
         last: float, order: int) -> pd.DataFrame:
    if model in HEURISTIC_MODELS:
        return heuristic_attribution(paths, model, first=first, last=last)
    if model == "markov":
        return markov_attribution(paths, order=order)
    if model == "shapley":
        return shapley_attribution(paths)
    if model == "time_decay":
        if touches is None:
            raise InputError("Time decay needs the time of every touch; aggregated path files do not have it.")
        return time_decay_attribution(touches, half_life_days=half_life_days)
    raise InputError(f"Unknown attribution model {model!r}; use one of {', '.join(MODELS)} or all.")


def attribute(journeys: Journeys | Paths, models: Sequence[str], *, half_life_days: float = 7.0,
              first: float = 0.4, last: float = 0.4, order: int = 1) -> pd.DataFrame:
    """Run ``models`` and stack their results: ``model``, ``class``, ``conversions``, ``value``, ``share``
    and ``journeys``, the converting journeys through the class (see :func:`journeys_per_class`: from the
    store, distinct converting people or accounts), which small-cell suppression needs.

    ``attrs`` holds ``units_with_touch`` and ``units_without_touch`` (distinct units; for a path table,
    its converting journeys and 0).
    """
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    touches = journeys.touches if isinstance(journeys, Journeys) else None
    counts = dict(zip(paths.classes, journeys_per_class(journeys).tolist(), strict=True))
    columns = ["model", "class", "conversions", "value", "share", "journeys"]
    frames = []
    for model in models:
        frame = _run(paths, touches, model, half_life_days=half_life_days, first=first, last=last, order=order)
        total = frame["conversions"].sum()
        frame = frame.assign(model=model, share=frame["conversions"] / total if total else np.nan,
                             journeys=[counts.get(str(c), 0) for c in frame["class"]])
        frames.append(frame[columns])
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    result["journeys"] = result["journeys"].astype("int64")
    result.attrs.update(_group_sizes(journeys))
    return result


def _group_sizes(journeys: Journeys | Paths) -> dict[str, int]:
    """``units_with_touch`` and ``units_without_touch`` (see :func:`attribute`)."""
    if isinstance(journeys, Journeys):
        return {"units_with_touch": journeys.units_with_touch, "units_without_touch": journeys.units_without_touch}
    return {"units_with_touch": int(np.floor(journeys.converting.conversions.sum() + 1e-9)), "units_without_touch": 0}


def bootstrap_intervals(journeys: Journeys | Paths, model: str, *, replicates: int = 200, seed: int = 0,
                        confidence: float = 0.95, half_life_days: float = 7.0, first: float = 0.4,
                        last: float = 0.4, order: int = 1) -> pd.DataFrame:
    """Percentile intervals of a model's credit, resampling journeys (Poisson bootstrap).

    Each replicate gives every journey a Poisson(1) number of copies — for aggregated paths,
    every path's converting and non-converting counts are drawn from Poissons with the observed
    counts as means (a path's value follows its conversions), which is the same thing and also
    works for fractional counts. It is the usual large-sample stand-in for resampling journeys
    with replacement. Time decay resamples the journeys of its touches. Returns ``class``,
    ``conversions_low``, ``conversions_high``, ``value_low``, ``value_high``.
    """
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    touches = journeys.touches if isinstance(journeys, Journeys) else None
    if model == "time_decay" and touches is None:
        raise InputError("Time decay needs the time of every touch; aggregated path files do not have it.")
    rng = np.random.default_rng(seed)
    classes = paths.classes
    draws_c = np.zeros((replicates, len(classes)))
    draws_v = np.zeros((replicates, len(classes)))
    per_conversion = np.divide(paths.value, paths.conversions, out=np.zeros_like(paths.value),
                               where=paths.conversions > 0)
    if model == "time_decay" and touches is not None:
        journey, codes, names, share = _time_decay_shares(touches, half_life_days)
        credit_c = share * touches["conversions"].to_numpy(float)
        credit_v = share * touches["value"].to_numpy(float)
    for r in range(replicates):
        if model == "time_decay" and touches is not None:
            copies = rng.poisson(1.0, int(journey.max()) + 1 if len(journey) else 0).astype(float)[journey]
            result = pd.DataFrame({"conversions": np.bincount(codes, weights=credit_c * copies, minlength=len(names)),
                                   "value": np.bincount(codes, weights=credit_v * copies, minlength=len(names))},
                                  index=pd.Index(names, name="class"))
        else:
            c = rng.poisson(paths.conversions).astype(float)
            n = rng.poisson(paths.nulls).astype(float)
            result = _run(paths.with_counts(c, c * per_conversion, n), None, model, half_life_days=half_life_days,
                          first=first, last=last, order=order).set_index("class")
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
