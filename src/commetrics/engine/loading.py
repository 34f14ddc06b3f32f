"""The Engine's loading part: files into canonical tables, platform exports through the sources registry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from ..identity.people import IDENTITY_INPUTS
from ..ingest import LoadReport, load_file
from ..sources import SOURCES
from .privacy import PrivacyPart

__all__ = ["LoadingPart"]


class LoadingPart(PrivacyPart):
    """Loads: validated, quarantined, deduplicated; identities resolved after them."""

    def load(
        self,
        table: str,
        path: str | Path,
        *,
        source: str | None = None,
        mapping: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> LoadReport:
        """Load one CSV, Parquet or JSON Lines file into a canonical table.

        Valid rows are loaded; malformed rows go to ``quarantine`` with a reason code; rows
        already loaded are counted as duplicates. The counts satisfy
        ``rows_read = rows_loaded + rows_quarantined + rows_duplicate`` and are committed with
        the rows in one transaction.

        Parameters
        ----------
        table
            A canonical table: members, accounts, contacts, activities, outcomes,
            subscriptions, surveys, experiments or identity_maps.
        path
            The file. Its format is taken from its name (.csv, .tsv, .parquet, .jsonl, .gz).
        source
            The system the rows come from (keys are unique within a source). Default
            ``"default"``; a ``source`` column in the file overrides it per row.
        mapping
            Canonical column -> file column, for columns whose names differ.
        now
            Load time, for the future-timestamp check (default: the clock).
        """
        report = load_file(self.store.con, table, Path(path), settings=self.config.ingest, source=source,
                           mapping=mapping, now=now, erase=self._erase_loaded)
        if report.rows_loaded:
            self._store_changed()
        if self.config.identity.resolve_on_load and table in IDENTITY_INPUTS and report.rows_loaded:
            if self._batch is None:
                self.resolve_identities()
            else:
                self._batch.append(table)
        return report

    @contextmanager
    def batch(self) -> Iterator[Self]:
        """Load several files and resolve identities once at the end, not after each load.

        Examples
        --------
        >>> with engine.batch():  # doctest: +SKIP
        ...     engine.load("members", "members.csv")
        ...     engine.load("contacts", "contacts.csv")
        """
        outer = self._batch is not None
        if not outer:
            self._batch = []
        try:
            yield self
        finally:
            if not outer:
                pending, self._batch = self._batch, None
                if pending:
                    self.resolve_identities()

    def load_dump(self, kind: str, path: str | Path, *, source: str | None = None,
                  now: datetime | None = None) -> list[LoadReport]:
        """Load a community platform's own export through its registered source (``kind``; see
        :mod:`commetrics.sources`): ``stackexchange`` reads a Stack Exchange data dump. One report
        per table loaded; loading the same export twice adds nothing."""
        entry = SOURCES.get(kind)
        return entry.load(self, Path(path), source or entry.default_source, now)

    def load_many(self, table: str, paths: Iterable[str | Path], **options: Any) -> list[LoadReport]:
        """Load several files into one table, each in its own transaction."""
        with self.batch():
            return [self.load(table, path, **options) for path in paths]
