"""The ``commetrics`` command line: parse, call the Engine, show its Result. Nothing else lives here.

One module per group of commands (:mod:`.data`, :mod:`.pull`, :mod:`.analyses`, :mod:`.impact`,
:mod:`.identity`, :mod:`.privacy`, :mod:`.report`,
:mod:`.serve`, :mod:`.store`, :mod:`.scale`, :mod:`.doctor`); they register
on the one Typer ``app`` of :mod:`.common`. Commands never suppress, filter by consent or format numbers of
their own: the Engine publishes and ``commetrics.reports.text`` renders.
"""

from __future__ import annotations

# isort: off
# The order of these imports is the order of the commands in `commetrics --help`.
from . import data, pull, analyses, impact, identity, privacy, report, serve, store, scale, doctor
from .common import app
# isort: on

__all__ = ["app", "main"]

_COMMANDS = (data, pull, analyses, impact, identity, privacy, report, serve, store, scale, doctor)  # for their commands


def main() -> None:
    """Entry point of the ``commetrics`` script."""
    app(prog_name="commetrics")
