"""Markov removal effect, orders 1 to 4, solved without simulation.

The journeys define a chain ``start -> classes -> (conversion | null)`` with transition
probabilities estimated from the counts (converting paths weighted by ``conversions``, others by
``nulls``). ``P`` is the probability of reaching ``conversion`` from ``start``, found by solving
``(I - Q) x = r``. Removing class k sends every transition into k to ``null``; its removal effect
is ``1 - P_k / P``. Conversions and value are split in proportion to the removal effects.
Consecutive repeats of a class are self-loops, which do not change absorption probabilities (they
are folded into the state's other transitions). Chains of up to ``DIRECT_STATES`` states are
solved exactly by sparse LU; larger ones (orders 3-4 over many classes, where LU fills in) by
pushing the probability mass through the chain until less than ``TRANSIT_TOLERANCE`` is in transit,
with that bound reported as ``removal_effect_error``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ....errors import InputError
from ..paths import Paths
from . import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions

__all__ = ["BATCH_STATES", "DIRECT_STATES", "MAX_STEPS", "TRANSIT_TOLERANCE", "markov_attribution", "markov_replicates"]


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


def _moves(paths: Paths, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """The chain's shape, whatever the counts: the (from state, to state, path) of every move between two
    different states (a consecutive repeat is a self-loop, left out: see :func:`_chain`), the last state of each
    path, the number of states (0 is the start) and the last class of each state (-1 for the start)."""
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
    end_id = to_id[paths.offsets[1:] - 1]
    move = from_id != to_id
    return from_id[move], to_id[move], owner[move], end_id, len(states), states % base - 1


def _chain(paths: Paths, order: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """The absorbing chain of the journeys: (Q among transient states, r = P(state -> conversion),
    the last class of each state (-1 for the start, state 0)).

    A state is the last ``order`` classes visited (the start is the empty history). Self-loops
    (consecutive repeats) are folded into the other transitions of their state — a state that
    loops with probability s leaves by each other way with probability q / (1 - s) — which keeps
    every absorption probability and removes the slowest mode of the chain.
    """
    from scipy.sparse import csr_matrix

    from_id, to_id, owner, end_id, size, last_class = _moves(paths, order)
    seen = paths.conversions + paths.nulls
    weight = seen[owner]
    out_total = np.bincount(from_id, weights=weight, minlength=size) + np.bincount(end_id, weights=seen,
                                                                                   minlength=size)
    scale = np.divide(1.0, out_total, out=np.zeros(size), where=out_total > 0)
    if size <= 1_024:  # add up the edges in a dense table: no sort of the touches
        table = np.bincount(from_id * size + to_id, weights=weight, minlength=size * size).reshape(size, size)
        q = csr_matrix(table * scale[:, None])
    else:
        q = csr_matrix((weight * scale[from_id], (from_id, to_id)), shape=(size, size))  # duplicates are summed
    r = np.bincount(end_id, weights=paths.conversions, minlength=size) * scale
    return q, r, last_class


def _removals(last_class: np.ndarray, k: int) -> np.ndarray:
    """Which states each chain keeps: row 0 every state (nothing removed), row 1 + c every state but those that
    end with class c (a transition into one goes to null)."""
    keep = np.ones((k + 1, len(last_class)))
    present = last_class >= 0
    keep[1 + last_class[present], np.flatnonzero(present)] = 0.0
    return keep


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
    keep = _removals(last_class, k)
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


def _effects(base: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Removal effects ``1 - P_k / P`` (rows: chains), 0 where a chain never converts or removing helps."""
    ratio = np.divide(removed, base[:, None], out=np.ones_like(removed), where=base[:, None] > 0)
    effects: np.ndarray = np.maximum(1.0 - ratio, 0.0)
    return effects


def _shares(effects: np.ndarray) -> np.ndarray:
    """Each chain's removal effects as shares of their sum (0 where every effect is 0)."""
    total = effects.sum(axis=1, keepdims=True)
    shares: np.ndarray = np.divide(effects, total, out=np.zeros_like(effects), where=total > 0)
    return shares


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
    effects = _effects(np.array([base]), removed[None, :])[0]
    if base > 0:
        # P and P_k each lie in [found, found + error]: the widest removal effect that allows.
        low = 1.0 - (removed + error[1:]) / base
        high = 1.0 - removed / (base + error[0])
        bound = np.maximum(np.abs(effects - np.maximum(low, 0.0)), np.abs(np.maximum(high, 0.0) - effects))
    else:
        bound = np.zeros(len(classes))
    shares = _shares(effects[None, :])[0]
    return pd.DataFrame({
        "class": list(classes),
        "conversions": paths.total_conversions * shares,
        "value": paths.total_value * shares,
        "removal_effect": effects,
        "removal_effect_error": bound,
    })


#: A bootstrap solves the chains of many replicates at once (dense) when the chain has at most this many states.
BATCH_STATES = 64
_BATCH_BYTES = 1 << 25  # the dense systems of one block of replicates: at most 32 MB


def markov_replicates(paths: Paths, options: AttributionOptions
                      ) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """For the bootstrap: ``solve(conversions, nulls)`` takes the drawn counts of a block of replicates (one row
    per replicate, one column per path) and returns each replicate's share of the credit per class — the removal
    effects of every replicate's chain, solved together as dense systems; ``None`` when the chain has more than
    :data:`BATCH_STATES` states (the bootstrap runs :func:`markov_attribution` per replicate). The chain's shape
    (its states and moves) does not depend on the counts, so it is found once; the numbers are those of running
    the model on each replicate (``tests/test_attribution.py`` compares them)."""
    from scipy.sparse import csr_matrix

    order = options.order
    if not 1 <= order <= 4 or not len(paths):
        return None
    from_id, to_id, owner, end_id, size, last_class = _moves(paths, order)
    if size > BATCH_STATES:
        return None
    k, count = len(paths.classes), len(paths)
    moves = csr_matrix((np.ones(len(owner)), (owner, from_id * size + to_id)), shape=(count, size * size))
    ends = csr_matrix((np.ones(count), (np.arange(count), end_id)), shape=(count, size))
    keep = _removals(last_class, k)
    block = max(1, _BATCH_BYTES // ((k + 1) * size * size * 8))

    def solve(conversions: np.ndarray, nulls: np.ndarray) -> np.ndarray:
        found = np.zeros((len(conversions), k + 1))
        for start in range(0, len(conversions), block):
            c = conversions[start:start + block]
            seen = c + nulls[start:start + block]
            table = np.asarray((moves.T @ seen.T).T).reshape(len(c), size, size)
            out_total = table.sum(axis=2) + np.asarray((ends.T @ seen.T).T)
            scale = np.divide(1.0, out_total, out=np.zeros_like(out_total), where=out_total > 0)
            q = table * scale[:, :, None]
            r = np.asarray((ends.T @ c.T).T) * scale
            systems = np.eye(size) - q[:, None, :, :] * keep[None, :, None, :]  # replicate, removal, from, to
            found[start:start + len(c)] = np.linalg.solve(systems, (r[:, None, :] * keep[None, :, :])[..., None])[
                ..., 0, 0]
        return _shares(_effects(found[:, 0], found[:, 1:]))

    return solve


def _run(paths: Paths, touches: pd.DataFrame | None, options: AttributionOptions) -> pd.DataFrame:
    return markov_attribution(paths, order=options.order)


ATTRIBUTION_MODELS.register("markov", AttributionModel(
    "markov", "Markov",
    "Credit in proportion to each class's removal effect: how much less often the journeys' Markov chain "
    "(order 1 to 4) reaches a conversion without the class.",
    _run, replicate_shares=markov_replicates))
