"""Readers for community platforms' own exports, one module per platform, each registered in :data:`SOURCES`.

A source turns a platform's export (a folder, a file, an archive) into canonical files and loads
them through a :class:`~commetrics.ingest.loader.Loader` — the Engine — so every check, quarantine
rule and deduplication of a load applies. To add a platform, add one module to this package that
calls ``SOURCES.register(Source(...))`` (or, from another package, register through the entry-point
group ``commetrics.sources``); ``commetrics load-dump KIND`` and :meth:`Engine.load_dump` then know
it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..ingest import LoadReport
from ..ingest.loader import Loader
from ..registry import Registry

__all__ = ["SOURCES", "Source"]

LoadFunction = Callable[[Loader, Path, str, "datetime | None"], list[LoadReport]]


@dataclass(frozen=True)
class Source:
    """A platform export commetrics reads natively.

    Attributes
    ----------
    name
        The ``KIND`` of ``commetrics load-dump KIND PATH``.
    label
        The platform and export, in words ("Stack Exchange data dump").
    help
        What ``PATH`` must be, in one sentence.
    default_source
        The ``source`` the rows are loaded under unless the user names another.
    load
        ``load(loader, path, source, now) -> [LoadReport, ...]``: one report per table loaded.
    """

    name: str
    label: str
    help: str
    default_source: str
    load: LoadFunction


SOURCES: Registry[Source] = Registry(
    "export format", discover="commetrics.sources", group="commetrics.sources",
    hint="Load the export's tables as CSV/Parquet/JSON Lines with `commetrics load TABLE FILE`, or add a source "
         "module (see commetrics.sources).")
