"""The dashboard's connections: long-lived read-only Engines on the store's read copy, a few computing at once.

A place goes to a visitor's computation before the warming's (and before what is computed ahead of a question the
warming asks): visitors arriving at a server that has just started are served before its warming. An Engine
that waits for a question another Engine is computing (a summary's part that a page asked first) gives its place
up while it waits, so a place is never held by a connection with nothing to do.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING

from ..errors import StoreUnavailableError

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["BACKGROUND", "VISITOR", "Engines", "Slots"]


#: How soon a computation gets one of the Reader's connections: a visitor's before the warming's and those started
#: ahead of a question (a summary's parts), first come first served within each.
VISITOR, BACKGROUND = 0, 1


class Slots:
    """At most ``size`` holders at once; a freed place goes to the waiter of the lowest rank, the first to come
    within it. Those of a rank above :data:`VISITOR` hold at most ``size - 1`` places (when there are two or
    more): a visitor arriving while the warming computes finds one free at once."""

    def __init__(self, size: int) -> None:
        self._size, self._held, self._behind = size, 0, 0  # places, held, held by the warming and what it asks
        self._waiting: list[tuple[int, int]] = []  # a heap of (rank, ticket)
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def _room(self, rank: int) -> bool:
        return self._held < self._size and (rank == VISITOR or self._size == 1 or self._behind < self._size - 1)

    def acquire(self, rank: int) -> None:
        with self._changed:
            me = (rank, next(self._tickets))
            heapq.heappush(self._waiting, me)
            while not self._room(rank) or self._waiting[0] != me:
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._held += 1
            self._behind += rank != VISITOR
            self._changed.notify_all()  # the next in line may take a place still free

    def release(self, rank: int) -> None:
        with self._changed:
            self._held -= 1
            self._behind -= rank != VISITOR
            self._changed.notify_all()

    @contextlib.contextmanager
    def held(self, rank: int) -> Iterator[None]:
        self.acquire(rank)
        try:
            yield
        finally:
            self.release(rank)

    @contextlib.contextmanager
    def lent(self, rank: int) -> Iterator[None]:
        """A holder's place given up for a while (it waits for another one's computation), taken back at ``rank``."""
        self.release(rank)
        try:
            yield
        finally:
            self.acquire(rank)


class Engines:
    """Long-lived read-only Engines on the read copy: at most ``size`` computing at once, each used by one thread (a
    DuckDB connection serves one statement at a time); an Engine opened on an older copy is closed, not reused. An
    Engine waiting for a question another one is computing lends its place meanwhile (:attr:`Engine.waiting
    <commetrics.engine.base.EngineBase.waiting>`), so a place is never held by a connection with nothing to do."""

    def __init__(self, open_engine: Callable[[], Engine], size: int) -> None:
        self._open = open_engine
        self._slots = Slots(size)
        self._free: list[tuple[Hashable, Engine]] = []
        self._latest: Hashable = None  # the copy asked for last: an Engine on another one is closed when returned
        self._busy: set[Engine] = set()  # the Engines computing now (interrupted when the server stops)
        self._closed = False  # after close, nothing more is computed (the warming's next views included)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def engine(self, stamp: Hashable, rank: int = VISITOR) -> Iterator[Engine]:
        with self._slots.held(rank):
            found, old = None, []
            with self._lock:
                if self._closed:
                    raise StoreUnavailableError("The dashboard is stopping: nothing more is computed.")
                self._latest = stamp
                while self._free and found is None:
                    held = self._free.pop()
                    if held[0] == stamp:
                        found = held[1]
                    else:
                        old.append(held[1])
            for engine in old:
                engine.close()
            engine = found if found is not None else self._open()
            engine.waiting = functools.partial(self._slots.lent, rank)
            with self._lock:
                self._busy.add(engine)
            try:
                yield engine
            finally:
                with self._lock:
                    self._busy.discard(engine)
                    current = stamp == self._latest
                    if current:
                        self._free.append((stamp, engine))
                if not current:  # the copy it reads was replaced: its file goes when it is closed
                    engine.close()

    def close(self) -> None:
        """Close the idle Engines and interrupt the statements of those computing: their computations end with
        an error at once instead of running on while the server stops (each is closed by its own thread)."""
        with self._lock:
            self._closed = True
            held, self._free = self._free, []
            busy = list(self._busy)
        for engine in busy:
            engine.interrupt()
        for _, engine in held:
            engine.close()
