"""How the command line shows long work: live bars on a terminal, timings with ``--verbose``, else nothing.

The Engine reports stages through :mod:`commetrics.progress`; :class:`Feedback` is the listener a
command installs. It draws on standard error, so results on standard output stay clean to pipe:

* **bars** only when both standard output and standard error are terminals, and neither
  ``--quiet`` nor ``--json`` was given. Where the amount of work is known a bar shows the count,
  its rate and the time left; where not, a spinner with the stage. Bars vanish when their stage
  ends, so what stays on the screen is the result;
* **timings** with ``--verbose``: one line per finished stage (``identity · training: 3.2 s``),
  with the count and rate where there is one, on a terminal or not.

Rich honours ``NO_COLOR`` (no colours) and ``TERM=dumb`` (no animation).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeRemainingColumn

from ..progress import ProgressEvent
from ..reports.format import count

__all__ = ["Feedback"]


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed, replaced or not a file
        return False


class Feedback:
    """The progress listener of one command (see the module docstring).

    ``console`` is where it draws (standard error by default); ``terminal`` overrides whether
    bars may be drawn (default: standard output and the console are both terminals).
    """

    def __init__(self, *, quiet: bool = False, verbose: bool = False, console: Console | None = None,
                 terminal: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.bars_allowed = terminal if terminal is not None else (
            self.console.is_terminal and _is_terminal(sys.stdout) and os.environ.get("TERM") != "dumb")
        self._bars: Progress | None = None
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def without_bars(self) -> None:
        """No bars from now on (``--json``: the output is for a program); timings still show with ``--verbose``."""
        self.bars_allowed = False
        self.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if self.bars_allowed:
            self._draw(event)
        if event.finished and self.verbose:
            (self._bars.console if self._bars else self.console).print(_timing(event), markup=False, highlight=False)
        if event.finished and self._bars is not None and all(task.finished for task in self._bars.tasks):
            self.stop()

    def stop(self) -> None:
        """Take the bars off the screen (at the end of the command, or of the last running stage)."""
        if self._bars is not None:
            self._bars.stop()
        self._bars = None
        self._tasks = {}

    def _draw(self, event: ProgressEvent) -> None:
        if self._bars is None:
            self._bars = Progress(
                SpinnerColumn(finished_text="-"),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[amount]}"),
                TimeRemainingColumn(),
                console=self.console, transient=True, redirect_stdout=False, redirect_stderr=False,
            )
            self._bars.start()
        key = (event.operation, event.stage)
        description = f"{event.operation} · {event.stage}" + (f" ({event.detail})" if event.detail else "")
        done = event.done or 0
        total = event.total if event.total is not None else (done if event.finished else None)
        amount = f"{count(done)} {event.unit}" if event.done is not None and event.unit else ""
        if key not in self._tasks:
            self._tasks[key] = self._bars.add_task(description, total=total, amount=amount)
        self._bars.update(self._tasks[key], description=description, total=total, completed=done, amount=amount)
        if event.finished and total is None:  # nothing was counted: a finished spinner
            self._bars.update(self._tasks[key], total=1, completed=1)


def _timing(event: ProgressEvent) -> str:
    """``identity · training: 3.2 s`` (with ``, 712 records, 5,900 records/s`` where there is a count)."""
    seconds = event.seconds or 0.0
    line = f"{event.operation} · {event.stage}: {seconds:.1f} s"
    if event.done and event.unit:
        line += f", {count(event.done)} {event.unit}"
        if seconds > 0:
            line += f", {count(event.done / seconds)} {event.unit}/s"
    return line
