"""One progress protocol for every long operation: events sent to a callback, drawn by whoever listens.

Long work (loads, pulls, identity resolution, reports, erasure, the demo) reports through a
:class:`Reporter`: the start and end of each stage (with its elapsed seconds) and, where the
amount of work is known, how much is done. Events go to the callback the Engine was given
(``Engine(progress=...)``), else to the one installed for the current context with
:func:`listening` (what the command line does for the length of a command). With neither, nothing
is sent and nothing printed: a library call is silent unless asked.

>>> events = []
>>> with listening(events.append):
...     with Reporter(None, "demo").stage("members", total=10, unit="members") as advance:
...         advance(4)
>>> [(e.stage, e.done, e.total, e.finished) for e in events]
[('members', 0, 10, False), ('members', 4, 10, False), ('members', 10, 10, True)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Advance", "Progress", "ProgressEvent", "Reporter", "listener", "listening"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a long operation stands.

    ``operation`` is what runs (``load``, ``pull``, ``identity``, ``report``, ``erasure``,
    ``demo``); ``stage`` the step within it (``reading``, ``training``, ``scoring``,
    ``clustering``, ``writing`` ...). ``done``/``total`` count ``unit`` (rows, records, sections,
    pages); ``total`` is ``None`` when unknown, ``done`` too when nothing is counted. ``detail``
    says what the stage is at, when that changes (the file being read, the part being generated).
    ``finished`` marks the end of the stage, with its ``seconds``.
    """

    operation: str
    stage: str
    done: float | None = None
    total: float | None = None
    unit: str = ""
    detail: str = ""
    finished: bool = False
    seconds: float | None = None


Progress = Callable[[ProgressEvent], None]

_LISTENER: ContextVar[Progress | None] = ContextVar("commetrics_progress", default=None)


@contextmanager
def listening(callback: Progress | None) -> Iterator[None]:
    """Send the events of every Reporter without a callback of its own to ``callback`` inside the block."""
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def listener() -> Progress | None:
    """The callback installed by the innermost :func:`listening` block (None outside one)."""
    return _LISTENER.get()


class Reporter:
    """Sends one operation's events to ``callback``, else to the :func:`listening` one, else nowhere."""

    def __init__(self, callback: Progress | None, operation: str) -> None:
        self._callback = callback
        self.operation = operation

    def _send(self, event: ProgressEvent) -> None:
        callback = self._callback or listener()
        if callback is not None:
            callback(event)

    @contextmanager
    def stage(self, name: str, *, total: float | None = None, unit: str = "", detail: str = "") -> Iterator[Advance]:
        """A stage: its start, the ``advance(done)`` calls of the body, and its end with the seconds it took.

        With a ``total``, the end reports ``done == total`` (the work is finished whatever the body
        counted); without one it reports the last count, or none. A stage that raises sends no end:
        the listener sees the error instead.
        """
        started = time.perf_counter()
        advance = Advance(self, name, total, unit, detail)
        self._send(ProgressEvent(self.operation, name, 0 if total is not None else None, total, unit, detail))
        yield advance
        done = total if total is not None else advance.done
        self._send(ProgressEvent(self.operation, name, done, total, unit, advance.detail, finished=True,
                                 seconds=time.perf_counter() - started))


class Advance:
    """Moves a stage on: ``advance(done)`` with the amount done so far, ``detail=`` to say what it is at."""

    def __init__(self, reporter: Reporter, stage: str, total: float | None, unit: str, detail: str) -> None:
        self._reporter, self._stage, self._total, self._unit = reporter, stage, total, unit
        self.done: float | None = None
        self.detail = detail

    def __call__(self, done: float | None = None, *, detail: str | None = None) -> None:
        if done is not None:
            self.done = done
        if detail is not None:
            self.detail = detail
        self._reporter._send(ProgressEvent(self._reporter.operation, self._stage, self.done, self._total,
                                           self._unit, self.detail))
