"""One per-unit base per conversion and as-of, built once and shared by every figure that reads it.

A conversion's figures — the counts per cohort and window, the non-community baseline, the Kaplan–Meier
curves, the time to conversion — all read the same table: one row per unit (person or account) with its
anchor or landmark ``start``, whether it converted before (``existing``), its first conversion at or after
the start (``first_ts``) and its cohort keys. Built from the canonical tables it joins members, outcomes,
people and activities; a report asks for it for every conversion, cohort key and figure.

Inside :func:`shared_bases` that table is built once per conversion, as-of, time zone and kind of start
(anchor, or the ``program`` landmark), with every cohort key the scope names (the report's keys and their
roll-ups), and kept on the backend — a temporary table on DuckDB, a cached view on Spark — until the scope
ends. A figure that asks for fewer keys reads the same rows (each key is one value per unit, added by a left
join), so the numbers are those of a base built for it alone. Outside a scope every call builds its own,
as before; a backend that cannot keep a table falls back to the expression itself.

Small results that do not depend on the cohort keys (the baseline counts) are remembered in the same scope
with :meth:`SharedBases.remember`, and tables derived from a base that do not either (each unit's revenue per
window) are kept with :meth:`SharedBases.kept`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import InputError

if TYPE_CHECKING:
    from ibis.expr.types import Table

__all__ = ["SharedBases", "active", "keep", "keeping", "remembered", "shareable", "shared_bases"]

T = TypeVar("T")
LANDMARK_KEY = "program"  # the key whose cohorts start at a landmark, not at the anchor
_names = itertools.count(1)


class _Spec(Protocol):
    @property
    def by(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=_Spec)


@dataclass
class _Entry:
    db: Any
    keys: frozenset[str]
    table: Table
    release: Callable[[], None]


@dataclass
class SharedBases:
    """The bases of one scope (see the module docstring): ``keys`` are the cohort keys each base carries."""

    keys: tuple[str, ...] = ()
    #: where small results are remembered beyond the scope: ``lasting(key, compute)`` (the Engine's
    #: :meth:`~commetrics.engine.analyses.AnalysesPart.shared`, once per data version in the process), else here
    lasting: Callable[[Hashable, Callable[[], Any]], Any] | None = None
    built: int = 0  # bases built (and kept) in this scope: what a test or a benchmark can check
    derived: int = 0  # tables derived from them and kept (:meth:`kept`)
    _entries: dict[Hashable, list[_Entry]] = field(default_factory=dict)
    _memo: dict[Hashable, tuple[Any, Any]] = field(default_factory=dict)

    def base(self, db: Any, spec: S, as_of: datetime, zone: str, build: Callable[[S], Table]) -> Table:
        """The base of ``spec`` (``build(spec)`` makes its expression), with at least ``spec.by``'s key columns."""
        landmark = LANDMARK_KEY in spec.by
        key = (replace(spec, by=()), landmark, as_of, zone)  # type: ignore[type-var]
        wanted = frozenset(spec.by)
        entries = self._entries.setdefault(key, [])
        for entry in entries:
            if entry.db is db and wanted <= entry.keys:
                return entry.table
        self.keys = tuple(dict.fromkeys([*self.keys, *spec.by]))  # later bases carry a key asked for once
        carried = [k for k in self.keys if k != LANDMARK_KEY]
        if landmark:
            carried.append(LANDMARK_KEY)
        try:
            expression = build(replace(spec, by=tuple(carried)))  # type: ignore[type-var]
        except InputError:  # a key of the scope this store cannot answer: build the one asked for
            carried = list(spec.by)
            expression = build(spec)
        table, release = keep(db, expression)
        entries.append(_Entry(db, frozenset(carried), table, release))
        self.built += 1
        return table

    def kept(self, db: Any, key: Hashable, build: Callable[[], Table]) -> Table:
        """The table ``build()`` makes, computed once per ``key`` and backend in this scope and kept (as a base
        is) until the scope ends."""
        entries = self._entries.setdefault(("kept", key), [])
        for entry in entries:
            if entry.db is db:
                return entry.table
        table, release = keep(db, build())
        entries.append(_Entry(db, frozenset(), table, release))
        self.derived += 1
        return table

    def remember(self, db: Any, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per ``key`` and backend in this scope (with :attr:`lasting`: once per data version
        in the process, whatever the backend's connection)."""
        if self.lasting is not None:
            kept: T = self.lasting(("conversion", key), compute)
            return kept
        found = self._memo.get(key)
        if found is not None and found[0] is db:
            value: T = found[1]
            return value
        value = compute()
        self._memo[key] = (db, value)
        return value

    def release(self) -> None:
        """Drop every kept table (the end of the scope)."""
        for entry in itertools.chain.from_iterable(self._entries.values()):
            entry.release()
        self._entries.clear()
        self._memo.clear()


_ACTIVE: ContextVar[SharedBases | None] = ContextVar("commetrics_shared_bases", default=None)


def active() -> SharedBases | None:
    """The scope's bases, or ``None`` outside :func:`shared_bases`."""
    return _ACTIVE.get()


@contextmanager
def shared_bases(keys: Sequence[str] = (),
                 lasting: Callable[[Hashable, Callable[[], Any]], Any] | None = None) -> Iterator[SharedBases]:
    """Share each conversion's per-unit base inside the ``with`` block; ``keys``: the cohort keys it will be
    broken down by (each base carries them all); ``lasting``: see :attr:`SharedBases.lasting`. Nested scopes use
    the outer one."""
    outer = _ACTIVE.get()
    if outer is not None:
        outer.keys = tuple(dict.fromkeys([*outer.keys, *keys]))
        yield outer
        return
    bases = SharedBases(tuple(dict.fromkeys(keys)), lasting)
    token = _ACTIVE.set(bases)
    try:
        yield bases
    finally:
        _ACTIVE.reset(token)
        bases.release()


def shareable(build: Callable[[Any, S, datetime, str], Table]) -> Callable[[Any, S, datetime, str], Table]:
    """``build(db, spec, as_of, zone)`` of a base, made once per scope of :func:`shared_bases` (every call
    outside a scope builds it)."""

    @functools.wraps(build)
    def base(db: Any, spec: S, as_of: datetime, zone: str) -> Table:
        shared = _ACTIVE.get()
        if shared is None:
            return build(db, spec, as_of, zone)
        return shared.base(db, spec, as_of, zone, lambda wider: build(db, wider, as_of, zone))

    return base


def remembered(compute: Callable[[Any, S, datetime], T]) -> Callable[[Any, S, datetime], T]:
    """``compute(db, spec, as_of)``, a result that does not depend on ``spec.by``, once per scope of
    :func:`shared_bases` (each caller gets a copy of a frame)."""

    @functools.wraps(compute)
    def once(db: Any, spec: S, as_of: datetime) -> T:
        shared = _ACTIVE.get()
        if shared is None:
            return compute(db, spec, as_of)
        key = (compute.__qualname__, replace(spec, by=()), as_of)  # type: ignore[type-var]
        value = shared.remember(db, key, lambda: compute(db, spec, as_of))
        return value.copy() if hasattr(value, "copy") else value  # callers may add columns to their copy

    return once


def keep(db: Any, expression: Table) -> tuple[Table, Callable[[], None]]:
    """``expression`` computed once and kept on ``db``, with what drops it; the expression itself where the
    backend cannot keep a table."""
    schema = expression.schema()
    if getattr(db, "name", "") == "duckdb":
        name = f"_commetrics_base_{next(_names)}"
        table = db.create_table(name, expression, temp=True)

        def drop() -> None:  # Ibis's drop_table misses the name on DuckDB 2: plain SQL, the same everywhere
            db.raw_sql(f'DROP TABLE IF EXISTS "{name}"')

        return table, drop
    try:
        cached = expression.cache()
    except Exception:  # a backend without temporary tables: compute it where it is read, as without a scope
        return expression, lambda: None
    # Spark types a view's instants without their zone: read them as the expression typed them
    return cached.cast(schema), cached.release


@contextmanager
def keeping(db: Any, expression: Table) -> Iterator[Table]:
    """:func:`keep` for the ``with`` block: ``expression`` computed once and read from the backend inside it,
    dropped at its end (an analysis that reads the same intermediate table in several queries)."""
    table, release = keep(db, expression)
    try:
        yield table
    finally:
        release()
