"""The Engine's loading part: files into canonical tables, platform exports through the sources registry."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

from .. import schema
from ..config import add_accepted_values
from ..errors import InputError, UnknownNameError
from ..identity.people import IDENTITY_INPUTS
from ..ingest import LoadOptions, LoadReport, load_file, parse_date_formats
from ..ingest.numbers import check_separator
from ..ingest.options import check_null_values
from ..progress import polling
from ..sources import SOURCES, DumpReport, Source
from ..sources.http import check_url
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
        constants: Mapping[str, str] | None = None,
        date_format: str | Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
        timezone: str | None = None,
        encoding: str | None = None,
        replace: bool = False,
        accept_types: bool = False,
        snapshot_as_of: date | None = None,
        decimal_separator: str | None = None,
        null_values: Sequence[str] | None = None,
        sheet: str | None = None,
        dry_run: bool = False,
    ) -> LoadReport:
        """Load one CSV, Parquet or JSON Lines file (plain, gzip, zstd or zipped) into a canonical table.

        Valid rows are loaded; malformed rows go to ``quarantine`` with a reason code; rows
        already loaded are counted as duplicates. The counts satisfy
        ``rows_read = rows_loaded + rows_quarantined + rows_duplicate`` and are committed with
        the rows in one transaction. See docs/loading.md.

        Parameters
        ----------
        table
            A canonical table: members, accounts, contacts, activities, outcomes,
            subscriptions, surveys, experiments or identity_maps.
        path
            The file. Its format is taken from its name (.csv, .tsv, .parquet, .jsonl, .xlsx, .gz).
        source
            The system the rows come from (keys are unique within a source). Default
            ``"default"``; a ``source`` column in the file overrides it per row.
        mapping
            Canonical column -> file column, for columns whose names differ.
        now
            Load time, for the future-timestamp check (default: the clock).
        constants
            Canonical column -> one value for every row (``--set``), e.g. ``{"type": "purchase"}``.
        date_format
            strftime format(s) of the timestamps, tried in order (``"%d/%m/%Y %H:%M"``, or ``iso``,
            ``epoch``, ``epoch_ms``, ``excel``: serial days); ``"column=FORMAT"`` or a mapping for one
            column. Default: detected.
        timezone
            IANA zone of times without an offset (default ``reporting.timezone``).
        encoding
            The file's text encoding (default: detected; UTF-8, UTF-16 and Latin-1 are recognised).
        replace
            Rows whose key the same source loaded before replace those rows (corrections).
        accept_types
            Unknown activity / outcome types are added to ``[ingest]`` of ``commetrics.toml`` and loaded.
        snapshot_as_of
            Read a subscriptions snapshot (tenure and a churn flag as of this date).
        decimal_separator
            How the amounts are written: ``"."`` (``1,234.56``) or ``","`` (``1.234,56``, ``1 234,56``).
            Default: plain numbers, or the way the values show when they are not plain.
        null_values
            Words that mean an empty cell (``["NULL", "N/A"]``), compared with the trimmed text.
        sheet
            The sheet of an Excel workbook (``.xlsx``) to read (default: its first).
        dry_run
            Read and check the file and return the report of the load, but write nothing: no rows,
            quarantine, ledger or configuration (``report.dry_run`` is true).
        """
        if table not in schema.TABLES:
            raise UnknownNameError.for_name("table", table, schema.TABLES, "Run `commetrics status` to see the tables.")
        options = LoadOptions(
            source=source, mapping=dict(mapping or {}), constants=dict(constants or {}),
            date_formats=parse_date_formats(date_format, schema.TABLES[table]),
            timezone=timezone or self.config.reporting.timezone, encoding=encoding, replace=replace,
            accept_types=accept_types, snapshot_as_of=snapshot_as_of,
            decimal_separator=check_separator(decimal_separator), null_values=check_null_values(null_values),
            sheet=sheet, dry_run=dry_run)
        name = Path(path).name
        reporter = self._reporter("load")
        with reporter.stage("reading", unit="rows", detail=f"{name} → {table}") as advance:
            watching = polling(self._statement_percent, lambda percent: advance(
                detail=f"{name} → {table}: {percent:.0f}%")) if reporter.heard else nullcontext()
            with watching:
                report = load_file(self.store.con, table, Path(path), settings=self.config.ingest, now=now,
                                   erase=self._erase_loaded, options=options)
            advance(report.rows_read, detail=f"{name} → {table}")  # done: no step's percentage left
        if dry_run:
            return report
        if report.accepted_types:
            self._accept_types(table, report.accepted_types)
        if report.rows_loaded:
            self._store_changed()
        if self.config.identity.resolve_on_load and table in IDENTITY_INPUTS and report.rows_loaded:
            if self._batch is None:
                self.resolve_identities()
            else:
                self._batch.append(table)
        return report

    def _statement_percent(self) -> float | None:
        """How far the store's running statement is, in percent (None between statements)."""
        percent = float(self.store.con.query_progress())
        return percent if percent >= 0 else None

    def _accept_types(self, table: str, types: tuple[str, ...]) -> None:
        """Keep the types a load accepted: in ``commetrics.toml`` (a workspace on disk) and in force."""
        enum = schema.TABLES[table].column("type").enum
        assert enum is not None
        current = self.config.ingest.enum_values(enum)
        if str(self.workspace.directory) != ":memory:":
            add_accepted_values(self.workspace.config_path, enum, types, current)
        ingest = self.config.ingest.model_copy(update={enum: (*current, *(t for t in types if t not in current))})
        self.config = self.config.model_copy(update={"ingest": ingest})

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
                  now: datetime | None = None, timezone: str | None = None) -> DumpReport:
        """Load a community platform's own export through its registered source (``kind``; see
        :mod:`commetrics.sources` and ``docs/sources.md``): ``slack``, ``discord``, ``discourse``, ``zoom``,
        ``eventbrite``, ``luma``, ``hubspot``, ``salesforce``, ``segment``, ``stackexchange``.

        Returns a :class:`~commetrics.sources.DumpReport`: one load report per table (a list, as
        before) and what the connector excluded on purpose (bots, system users, staff actions), so
        that per table ``read = loaded + quarantined + duplicates + excluded``. Loading the same
        export twice adds nothing. ``timezone`` is the IANA zone of an export's naive local times
        (Zoom reports); a kind whose times carry their zone refuses it.
        """
        entry = SOURCES.get(kind)
        options = self._source_options(entry, timezone)
        with self._reporter("load-dump").stage("reading", detail=f"{kind} {Path(path).name}"):
            return DumpReport.of(entry.load(self, Path(path), source or entry.default_source, now, **options))

    def pull(self, kind: str, url: str, token: str, *, username: str | None = None, token_env: str | None = None,
             source: str | None = None, now: datetime | None = None, timezone: str | None = None, full: bool = False,
             http: Mapping[str, Any] | None = None) -> DumpReport:
        """Fetch what is new on a platform's API since the last pull and load it like its export.

        ``url`` is the platform's address (HTTPS; plain HTTP only to this machine), ``token`` the
        credential (the command line reads it from an environment variable, never from an argument),
        ``username`` the API user where the platform needs one (Discourse). Where the last pull of
        ``kind`` from ``url`` into ``source`` stopped is kept in the store (``source_cursors``) and
        written only after the loads committed, so a pull that fails part-way fetches the same records
        again next time and loads nothing twice. ``full`` starts from the beginning. ``http`` passes
        options to the HTTP client (``attempts``, ``max_wait``, ``timeout``, ``sleep``).
        """
        entry = SOURCES.get(kind)
        if entry.pull is None:
            with_pull = ", ".join(name for name, e in SOURCES.items() if e.pull is not None)
            msg = (f"{kind} has no pull: commetrics reads its exports only (`commetrics load-dump {kind} PATH`). "
                   f"Kinds with a pull: {with_pull}.")
            raise InputError(msg)
        if not token:
            msg = f"No credential for pull {kind}: set {token_env or 'the token'} (see `commetrics pull --help`)."
            raise InputError(msg)
        parts = check_url(url)
        place = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}".rstrip("/")
        source = source or entry.default_source
        cursor: dict[str, Any] = {}
        row = self.store.con.execute("select cursor from source_cursors where kind = ? and source = ? and url = ?",
                                     [kind, source, place]).fetchone()
        if row is not None and not full:
            cursor = json.loads(row[0])
        credentials = {"token": token, "username": username or "", "env": token_env or "the token"}
        options = {k: v for k, v in self._source_options(entry, timezone).items() if k != "timezone" or v}
        with self._reporter("pull").stage("fetching", unit="pages", detail=kind) as advance:
            report, new_cursor = entry.pull(self, url, credentials, source, now, cursor,
                                            http={"progress": advance, **(http or {})}, **options)
        self.store.con.execute("insert or replace into source_cursors values (?, ?, ?, ?, now())",
                               [kind, source, place, json.dumps(new_cursor, sort_keys=True)])
        return report

    def _source_options(self, entry: Source, timezone: str | None) -> dict[str, Any]:
        """The keyword options ``entry`` takes: the ``[sources]`` settings, the time zone."""
        options: dict[str, Any] = {}
        if "settings" in entry.options:
            options["settings"] = self.config.sources
        if "timezone" in entry.options:
            options["timezone"] = timezone
        elif timezone is not None:
            msg = (f"{entry.name} exports carry their own time zone (UTC or an offset), so --timezone is not used; "
                   f"run the command again without it.")
            raise InputError(msg)
        return options

    def load_many(self, table: str, paths: Iterable[str | Path], **options: Any) -> list[LoadReport]:
        """Load several files into one table, each in its own transaction."""
        with self.batch():
            return [self.load(table, path, **options) for path in paths]
