"""What a source needs from whoever loads its files: the :class:`Loader` protocol.

Sources (``commetrics.sources``) turn a platform's own export into canonical files and load them.
They sit below the :class:`~commetrics.engine.Engine` and must not import it, so they are given a
``Loader``: anything with ``load`` (one file into one canonical table, with every check, quarantine
rule and deduplication) and ``batch`` (several loads, identities resolved once at the end). The
Engine is one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .load import LoadReport

__all__ = ["Loader"]


class Loader(Protocol):
    """Loads canonical files (see :meth:`commetrics.Engine.load` and :meth:`commetrics.Engine.batch`)."""

    def load(self, table: str, path: str | Path, *, source: str | None = None,
             mapping: dict[str, str] | None = None, now: datetime | None = None) -> LoadReport: ...

    def batch(self) -> AbstractContextManager[Any]: ...

