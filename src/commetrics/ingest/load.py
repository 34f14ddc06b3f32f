"""Load one file into one canonical table: read, validate, deduplicate, commit with the ledger.

Every record read ends in exactly one place: loaded, quarantined (with a reason code) or counted
as a duplicate (the same key with the same content is already loaded, or earlier in the file).
The ledger row that records ``rows_read = rows_loaded + rows_quarantined + rows_duplicate +
rows_erased`` is written in the same transaction as the rows, so a load killed at any point leaves
either all of it or none of it, and running it again loads what is missing exactly once.

Speed comes from reading the file once and writing each row once: in one transaction the
validation query inserts every parsed row straight into its table, failures marked in the
load-internal columns (``schema.LOAD_CHECK_COLUMN``); the few failures and duplicates are then
copied to quarantine and deleted. Parquet and staged lines carry their position in the file. CSV
rows do not (numbering them would halve the reader's speed): when the insert's plan keeps the
file's order (DuckDB says so with a batch insert), a row's position among this load's stored rows
is its position in the file; when it does not, the rows are numbered after all.

Two things make a load read its file again, inside the same call and before anything is
committed: line ends DuckDB cannot mix (the file is copied with LF only), and a quote that never
closes — the reader would take every line after it as one value. The line where such a quote opens
is quarantined as ``unterminated_quote`` and blanked in a copy, and the copy is read again, so the
lines after it load (see :mod:`.prepare`). A CSV whose first line lacks the table's columns is
opened again at each of the next lines, and the first that has them is its header (a report's
title above it). An Excel workbook's sheet is copied to a CSV once, before the first read (see
:mod:`.spreadsheet`). A dry run (``--dry-run``) rolls the transaction back instead of committing.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from .. import schema
from ..config import IngestSettings
from ..errors import MissingColumnError, UnknownNameError, UnreadableFileError
from ..store import quote_identifier as q
from . import numbers, timestamps
from .checks import Plan, build_validation, enum_value_sql, without_markers_sql
from .dedup import CHECK, count, find_duplicates, number_copies, settle_duplicates
from .files import StagedFile, collect_rejects, drop_scratch, open_file, read_error, sql_string
from .lines import read_lines
from .mapping import Resolved, resolve_mapping
from .options import LoadOptions, check_timezone
from .prepare import Prepared, blank_lines
from .quarantine import (
    QUARANTINE,
    Reject,
    collect_quarantine,
    empty_words_note,
    layout_for,
    register_checks,
    resolve_fixed,
    write_quarantine,
)
from .reasons import Reason
from .snapshot import ALIASES, COMPUTED, INPUTS, check_table, snapshot_plan
from .spreadsheet import is_workbook, sheet_as_csv

DEFAULT_SOURCE = "default"
#: reads of one file at most: the first, one with LF line ends, and repairs of quotes that never close
_MAX_READS = 12
_INVALID_STATE = "state machine reached an invalid state"
#: lines below the first that may hold the header of a CSV whose first line misses the table's columns (a title)
_TITLE_LINES = 20


@dataclass(frozen=True)
class LoadReport:
    """What one load did: the four counts, the reasons, and how the file was read."""

    load_id: int
    table: str
    source: str
    file: str
    file_format: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int
    rows_erased: int = 0  # rows of people erased earlier (``commetrics forget``), dropped on arrival
    rows_replaced: int = 0  # loaded rows that replaced an earlier version (--replace, consent withdrawal)
    rows_resolved: int = 0  # earlier quarantined rows whose key this load loaded
    drift_columns: tuple[str, ...] = ()
    attribute_columns: tuple[str, ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)
    unknown_types: dict[str, int] = field(default_factory=dict)  # quarantined type -> rows
    accepted_types: tuple[str, ...] = ()  # types --accept-types added to the configuration
    timezone: str = "UTC"  # the zone times without an offset were read in
    date_formats: dict[str, str] = field(default_factory=dict)  # timestamp column -> how it was read
    number_formats: dict[str, str] = field(default_factory=dict)  # amount column -> how it was read, when not plain
    encoding: str = ""
    delimiter: str = ""
    generated_ids: bool = False  # the file had no id column: ids were made from each row's content
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    dry_run: bool = False  # read and checked, nothing written (``--dry-run``)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("drift_columns", "attribute_columns", "accepted_types", "notes"):
            data[name] = list(data[name])
        return data


def _used(params: dict[str, Any], sql: str) -> dict[str, Any]:
    """The parameters that ``sql`` names (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


_PLANS: dict[str, bool] = {}


def _keeps_order(con: duckdb.DuckDBPyConnection, insert: str, params: dict[str, Any]) -> bool:
    """Whether DuckDB plans ``insert`` as a batch insert, which stores rows in the source's order.

    Planning a wide statement takes a while; the answer depends on the statement's shape only, so it
    is kept per statement (loads of files alike ask once)."""
    known = _PLANS.get(insert)
    if known is None:
        plan = "".join(str(row[-1]) for row in con.execute("explain " + insert, _used(params, insert)).fetchall())
        known = _PLANS[insert] = "BATCH" in plan.upper().split("INSERT")[0]
        if len(_PLANS) > 256:
            _PLANS.pop(next(iter(_PLANS)))
    return known


def _insert_sql(table: schema.Table, validation_sql: str) -> str:
    """The insert of the validated records (the load id is the parameter ``$load_id``)."""
    columns = ", ".join(q(c) for c in table.column_names)
    return (f"insert into {table.name} ({columns}, source, load_id, {CHECK}, {schema.LOAD_RECORD_COLUMN}, "
            f"{schema.LOAD_ORD_COLUMN})\nselect {columns}, source, $load_id, _check, _record, _ord\n"
            f"from ({validation_sql}) as v")


def _text_sql(staged: StagedFile, resolved: Resolved, options: LoadOptions, column: str) -> str | None:
    """SQL (over a row ``s`` of the sample relation) of a column's trimmed text, when it is text."""
    if column in options.constants:
        text = sql_string(options.constants[column])
    else:
        files = resolved.mapping.get(column)
        if files is None or not staged.column_types.get(files[0], "VARCHAR").startswith("VARCHAR"):
            return None
        text = f"nullif(trim({staged.value_sql(files)}::VARCHAR), '')"
    return without_markers_sql(text, options.null_values)


def _text_columns(table: schema.Table, staged: StagedFile, resolved: Resolved, options: LoadOptions,
                  kind: str) -> Iterator[tuple[schema.Column, str, str]]:
    """The columns of ``kind`` read from text: each with the SQL of its text and the file column (or ``--set``)
    it comes from, for messages."""
    for column in table.columns:
        text = _text_sql(staged, resolved, options, column.name) if column.kind == kind else None
        if text is not None:
            yield column, text, "--set" if column.name in options.constants else resolved.mapping[column.name][0]


def _date_plans(con: duckdb.DuckDBPyConnection, table: schema.Table, staged: StagedFile, resolved: Resolved,
                options: LoadOptions, settings: IngestSettings) -> dict[str, timestamps.DatePlan]:
    plans: dict[str, timestamps.DatePlan] = {}
    for column, text, file_column in _text_columns(table, staged, resolved, options, "timestamp"):
        named = options.formats_for(column.name)
        if named:
            timestamps.check_formats(con, named)
            plans[column.name] = timestamps.DatePlan(named, detected=False)
            continue
        # One read of the sample: its distinct values, where each first appears, and whether ISO reads it.
        rows = con.execute(
            f"""
            select v, min(r), bool_and({timestamps.parse_sql('v', timestamps.DatePlan())} is not null) from (
                select row_number() over () as r, {text} as v
                from (select * from {staged.sample} as s limit {int(settings.detect_rows)}) as s
            )
            where v is not null group by v order by min(r) limit 1000
            """
        ).fetchall()
        if all(r[2] for r in rows):
            plans[column.name] = timestamps.DatePlan()
            continue
        sample = timestamps.Sample(column.name, file_column, [str(r[0]) for r in rows], [int(r[1]) for r in rows])
        plans[column.name] = timestamps.detect(con, sample, f"(select {text} as v from {staged.sample} as s)")
    return plans


def _number_plans(con: duckdb.DuckDBPyConnection, table: schema.Table, staged: StagedFile, resolved: Resolved,
                  options: LoadOptions, settings: IngestSettings) -> dict[str, numbers.NumberPlan]:
    """How each amount column writes its numbers, when not plainly (see :mod:`commetrics.ingest.numbers`)."""
    plans: dict[str, numbers.NumberPlan] = {}
    currency_read = "currency" in table.column_names and _text_sql(staged, resolved, options, "currency") is not None
    for column, text, file_column in _text_columns(table, staged, resolved, options, "money"):
        rows = f"select row_number() over () as r, {text} as v from"
        plan = numbers.detect(
            con, column.name, file_column,
            f"({rows} (select * from {staged.sample} as s limit {int(settings.detect_rows)}) as s)",
            f"({rows} {staged.sample} as s)", separator=options.decimal_separator, currency_read=currency_read)
        if plan is not None:
            plans[column.name] = plan
    return plans


def _accepted(con: duckdb.DuckDBPyConnection, table: schema.Table, staged: StagedFile, resolved: Resolved,
              options: LoadOptions, settings: IngestSettings) -> tuple[IngestSettings, tuple[str, ...]]:
    """``--accept-types``: the settings with the file's unknown activity / outcome types added, and those types."""
    if not options.accept_types or "type" not in table.column_names:
        return settings, ()
    column = table.column("type")
    assert column.enum is not None
    text = _text_sql(staged, resolved, options, "type")
    if text is None:
        return settings, ()
    known = "|" + "|".join(settings.enum_values(column.enum)) + "|"
    rows = con.execute(
        f"""
        select distinct v from (select {enum_value_sql(text)} as v from {staged.sample} as s)
        where v is not null and not contains($known, '|' || v || '|') and regexp_full_match(v, '[^|\\s]{{1,80}}')
        order by v
        """, {"known": known}).fetchall()
    new = tuple(str(r[0]) for r in rows)
    if not new:
        return settings, ()
    updated = settings.model_copy(update={column.enum: (*settings.enum_values(column.enum), *new)})
    return updated, new


def _unterminated(rejects: list[tuple[int, str, str, str, str]]) -> list[int]:
    """Reader lines of rejects where a quote opened and the record ran over several lines."""
    return [line for line, _, _, record, types in rejects
            if "UNQUOTED VALUE" in types and "\n" in record.lstrip("\r\n").rstrip("\r\n")]


def load_file(
    con: duckdb.DuckDBPyConnection,
    table_name: str,
    path: Path,
    *,
    settings: IngestSettings,
    source: str | None = None,
    mapping: dict[str, str] | None = None,
    now: datetime | None = None,
    erase: Callable[[duckdb.DuckDBPyConnection, schema.Table, int], int] | None = None,
    options: LoadOptions | None = None,
) -> LoadReport:
    """Load ``path`` into ``table_name``; see the module docstring for the guarantees.

    ``options`` says how to read the file (``source`` and ``mapping`` are shortcuts for its fields).
    ``erase`` runs inside the load's transaction and deletes the rows of this load that belong to
    people erased earlier, returning how many (see :func:`commetrics.privacy.erasure.erase_loaded`).
    """
    started = time.perf_counter()
    table = schema.TABLES.get(table_name)
    if table is None:
        raise UnknownNameError.for_name("table", table_name, schema.TABLES,
                                        "Run `commetrics status` to see the tables.")
    options = options or LoadOptions()
    if source is not None or mapping:
        options = replace(options, source=source or options.source, mapping={**options.mapping, **(mapping or {})})
    check_table(table, options.snapshot_as_of)
    zone = check_timezone(options.timezone)
    now = now or datetime.now(UTC)
    default_source = (options.source or DEFAULT_SOURCE).strip() or DEFAULT_SOURCE
    previous_zone = str(con.execute("select current_setting('TimeZone')").fetchall()[0][0])
    max_line = max(2 * settings.max_field_bytes, 2_097_152)
    try:
        con.execute(f"set TimeZone = {sql_string(zone)}")
        with tempfile.TemporaryDirectory(prefix="commetrics-load-") as tmp:
            workdir = Path(tmp)
            lf_only = False
            repaired: dict[int, str] = {}
            base: Prepared | None = None
            prepared: Prepared | None = None
            stuck = False  # a repair found nothing new to blank: settle with what the reader says
            skip = 0  # a title's lines above the header, once found
            sheet, sheet_note = sheet_as_csv(path, workdir, options.sheet) if is_workbook(path) else (None, "")

            def opened(**how: Any) -> StagedFile:
                staged = open_file(con, path, max_line_bytes=max_line, workdir=workdir, encoding=options.encoding,
                                   sheet=sheet, **how)
                return replace(staged, notes=(sheet_note, *staged.notes)) if sheet_note else staged

            for reads in range(1, _MAX_READS + 1):
                staged = opened(lf_only=lf_only, prepared=prepared, skip=skip)
                try:
                    try:
                        run = _Run(con, table, staged, options, settings, default_source, now, started, erase)
                    except MissingColumnError:
                        if reads > 1 or staged.sniffed is None or staged.sniffed.format != "csv":
                            raise
                        below = _below_a_title(staged, lambda at: _Run(
                            con, table, opened(skip=at), options, settings, default_source, now, started, erase))
                        if below is None:
                            raise
                        skip, run = below
                    if skip:
                        run.staged = staged = _with_title_note(run.staged)
                    outcome = run.attempt(final=reads == _MAX_READS or stuck, repaired=repaired)
                except duckdb.Error as exc:  # sampling the file before the transaction
                    if _INVALID_STATE not in str(exc) or lf_only:
                        raise read_error(path, exc) from None
                    outcome = "lf_only"
                if isinstance(outcome, LoadReport):
                    return outcome
                if outcome == "lf_only":
                    if lf_only:
                        raise read_error(path, RuntimeError("the reader fails on this file's line ends"))
                    lf_only, prepared, base = True, None, None
                    continue
                base = base or staged.prepared
                assert base is not None
                found = read_lines(base, dict.fromkeys(run.unterminated_lines, 1))
                stuck = not set(found) - set(repaired)
                repaired.update(found)
                prepared = blank_lines(base, set(repaired), workdir) if not stuck else prepared
            raise AssertionError("unreachable: the last read always settles")
    finally:
        con.execute(f"set TimeZone = {sql_string(previous_zone)}")
        drop_scratch(con)


def _below_a_title(staged: StagedFile, run_at: Callable[[int], _Run]) -> tuple[int, _Run] | None:
    """A CSV whose first line lacks the table's columns: ``n`` and the read with the first ``n`` lines
    skipped (``run_at(n)``) for the first of the next lines that has them, or None."""
    assert staged.sniffed is not None
    first = staged.sniffed.preamble
    for at in range(first + 1, first + 1 + _TITLE_LINES):
        try:
            return at, run_at(at)
        except (MissingColumnError, UnreadableFileError):
            continue
    return None


def _with_title_note(staged: StagedFile) -> StagedFile:
    lines = staged.sniffed.preamble if staged.sniffed is not None else 0
    above = "the line above it (a title, not a record) was" if lines == 1 else \
        f"the {lines} lines above it (a title, not records) were"
    note = f"the header is line {lines + 1}: {above} skipped"
    return replace(staged, notes=(*staged.notes, note))


class _Run:
    """One read of the file inside one transaction: insert, then settle and commit, or roll back to read again."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: schema.Table, staged: StagedFile, options: LoadOptions,
                 settings: IngestSettings, default_source: str, now: datetime, started: float,
                 erase: Callable[[duckdb.DuckDBPyConnection, schema.Table, int], int] | None) -> None:
        self.con, self.table, self.staged, self.options = con, table, staged, options
        self.settings, self.default_source, self.now, self.started, self.erase = (settings, default_source, now,
                                                                                   started, erase)
        self.unterminated_lines: list[int] = []
        snapshot = options.snapshot_as_of is not None
        self.resolved = resolve_mapping(table, staged, dict(options.mapping), settings.schema_contract,
                                        constants=dict(options.constants), inputs=INPUTS if snapshot else (),
                                        aliases=ALIASES if snapshot else None, computed=COMPUTED if snapshot else ())
        self.dates = _date_plans(con, table, staged, self.resolved, options, settings)
        self.numbers = _number_plans(con, table, staged, self.resolved, options, settings)
        self.effective, self.accepted = _accepted(con, table, staged, self.resolved, options, settings)
        extra: dict[str, Any] = {}
        if snapshot:
            shot = snapshot_plan(self.resolved)
            extra = {"inputs": shot.inputs, "derived": shot.derived, "derived_checks": shot.checks}
        self.plan = Plan(self.resolved.mapping, self.resolved.attributes, dict(options.constants), self.dates,
                         self.resolved.generated_key, utc=check_timezone(options.timezone) in timestamps.UTC_ZONES,
                         numbers=self.numbers, nulls=options.null_values, **extra)
        self.validation = build_validation(table, staged, self.plan, self.effective)
        self.params: dict[str, Any] = {
            **self.validation.params,
            "future_limit": now + timedelta(hours=settings.future_tolerance_hours),
            "scheduled_limit": now + timedelta(days=36_525),
            "earliest_limit": datetime.combine(settings.earliest_timestamp, datetime.min.time(), tzinfo=UTC),
            "default_source": default_source,
            "snapshot_as_of": options.snapshot_as_of.isoformat() if isinstance(options.snapshot_as_of, date) else None,
        }

    def attempt(self, *, final: bool, repaired: dict[int, str]) -> LoadReport | str:
        """Insert and settle (a report), or roll back and say why to read again (``lf_only`` / ``repair``)."""
        con, table, staged = self.con, self.table, self.staged
        register_checks(con, [(i, c.reason.value, c.column, c.detail) for i, c in enumerate(self.validation.checks)])
        con.execute("begin transaction")
        try:
            load_id = count(con, f"select coalesce(max(load_id), 0) + 1 from {schema.LEDGER_TABLE}")
            params = {**self.params, "load_id": load_id}
            insert = _insert_sql(table, self.validation.sql)
            try:
                if staged.ordinal is None and not _keeps_order(con, insert, params):
                    self.staged = staged = staged.numbered()
                    self.validation = build_validation(table, staged, self.plan, self.effective)
                    insert = _insert_sql(table, self.validation.sql)
                con.execute(insert, _used(params, insert))
            except duckdb.Error as exc:
                if _INVALID_STATE in str(exc) and staged.reading != "parquet":
                    con.execute("rollback")
                    return "lf_only"
                raise read_error(staged.path, exc) from None
            rejects = collect_rejects(con, staged)
            unterminated = _unterminated(rejects) if staged.reading == "csv" else []
            repairable = staged.prepared is not None and staged.prepared.compression != "zstd"
            if unterminated and not final and repairable:
                reader_lines = np.array(unterminated, dtype=np.int64)
                layout = layout_for(staged, np.zeros(0, dtype=np.int64), reader_lines)
                self.unterminated_lines = [int(x) for x in layout.physical(reader_lines)]
                con.execute("rollback")
                return "repair"
            found = [Reject(line, reason, detail, record) for line, reason, detail, record, _ in rejects]
            found += [Reject(line, Reason.UNTERMINATED_QUOTE.value, "a quote opens on this line and never closes; "
                             "the lines after it were read on their own", text, physical=True)
                      for line, text in sorted(repaired.items())]
            report = self._settle(load_id, found)
            con.execute("rollback" if self.options.dry_run else "commit")
        except BaseException:
            con.execute("rollback")
            raise
        return report

    def _notes(self, load_id: int) -> tuple[str, ...]:
        """What the reader changed, and a hint when quarantined values are an export's words for empty."""
        files = {c: f[0] for c, f in self.resolved.mapping.items() if f and c not in self.options.constants}
        hint = (empty_words_note(self.con, load_id, files, self.options.null_values)
                if self.staged.format != "parquet" else None)
        return (*self.staged.notes, *([hint] if hint else []))

    def _unknown_types(self, load_id: int) -> dict[str, int]:
        indices = [i for i, c in enumerate(self.validation.checks)
                   if c.reason == Reason.UNKNOWN_ENUM and c.column == "type"]
        if not indices:
            return {}
        rows = self.con.execute(
            f"select type, count(*) from {self.table.name} where load_id = {int(load_id)} and "
            f"({' or '.join(f'{CHECK} = {i}' for i in indices)}) group by type order by count(*) desc, type"
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def _settle(self, load_id: int, rejects: list[Reject]) -> LoadReport:
        """Inside the load's transaction: quarantine failures, drop duplicates, check and write the ledger."""
        con, table, staged = self.con, self.table, self.staged
        first_rowid = count(con, f"select min(rowid) from {table.name} where load_id = {int(load_id)}")
        if self.resolved.generated_key:
            number_copies(con, table, load_id, first_rowid)
        find_duplicates(con, table, load_id, first_rowid, replace=self.options.replace)
        collect_quarantine(con, staged, table, self.default_source, load_id, first_rowid, rejects)
        rows_read = count(con, f"select count(*) from {table.name} where load_id = {int(load_id)}") + len(rejects)
        unknown = self._unknown_types(load_id)
        quarantined, already = (int(n or 0) for n in con.execute(
            f"select count_if(not already), count_if(already) from {QUARANTINE}").fetchall()[0])
        write_quarantine(con, table, load_id, str(staged.path))
        duplicates, replaced = settle_duplicates(con, table)
        duplicate = duplicates + already
        in_load = f"where load_id = {int(load_id)}"
        quarantined_before = count(con, f"select count(*) from {schema.QUARANTINE_TABLE} {in_load}")
        erased = self.erase(con, table, load_id) if self.erase is not None else 0
        loaded = count(con, f"select count(*) from {table.name} {in_load}")
        in_quarantine = count(con, f"select count(*) from {schema.QUARANTINE_TABLE} {in_load}")
        # A quarantined record of an erased person is deleted too, and counted as erased, not quarantined.
        erased += quarantined_before - in_quarantine
        quarantined -= quarantined_before - in_quarantine
        resolved = resolve_fixed(con, table, load_id)
        if loaded + in_quarantine + duplicate + erased != rows_read or in_quarantine != quarantined:
            msg = (f"Load of {staged.path} does not add up (read {rows_read}, loaded {loaded}, "
                   f"quarantined {in_quarantine}, duplicates {duplicate}, erased {erased}); nothing was written. "
                   "Please report this with the file.")
            raise AssertionError(msg)
        report = self._report(load_id, rows_read, loaded, in_quarantine, duplicate, erased, replaced, resolved,
                              unknown)
        con.execute(
            f"insert into {schema.LEDGER_TABLE} (load_id, table_name, source, file, file_format, file_bytes, "
            "started_at, finished_at, rows_read, rows_loaded, rows_quarantined, rows_duplicate, drift_columns, "
            "schema_contract, rows_erased, rows_replaced, options) values "
            "($load_id, $table, $source, $file, $format, $bytes, $started, $finished, "
            "$read, $loaded, $quarantined, $duplicate, $drift, $contract, $erased, $replaced, $options)",
            {
                "load_id": load_id, "table": table.name, "source": self.default_source, "file": str(staged.path),
                "format": staged.format, "bytes": staged.path.stat().st_size, "started": self.now,
                "finished": datetime.now(UTC), "read": rows_read, "loaded": loaded, "quarantined": in_quarantine,
                "duplicate": duplicate, "drift": list(self.resolved.drift), "contract": self.settings.schema_contract,
                "erased": erased, "replaced": replaced,
                "options": json.dumps({**self.options.describe(), "read_as": {
                    "encoding": report.encoding, "delimiter": report.delimiter, "date_formats": report.date_formats,
                    "number_formats": report.number_formats,
                    "generated_ids": report.generated_ids, "accepted_types": list(report.accepted_types)}}),
            },
        )
        return report

    def _report(self, load_id: int, read: int, loaded: int, quarantined: int, duplicate: int, erased: int,
                replaced: int, resolved: int, unknown: dict[str, int]) -> LoadReport:
        reasons = self.con.execute(
            f"select reason, count(*) from {schema.QUARANTINE_TABLE} where load_id = $id "
            "group by reason order by count(*) desc, reason",
            {"id": load_id},
        ).fetchall()
        sniffed = self.staged.sniffed
        delimiter = "" if sniffed is None or sniffed.delimiter is None else {
            " ": "runs of blanks", "\t": "tab"}.get(sniffed.delimiter, sniffed.delimiter)
        encoding = ""
        if sniffed is not None and sniffed.format != "parquet":
            encoding = sniffed.encoding + (" (detected)" if sniffed.encoding_detected else "")
        return LoadReport(
            load_id=load_id, table=self.table.name, source=self.default_source, file=str(self.staged.path),
            file_format=self.staged.format, rows_read=read, rows_loaded=loaded, rows_quarantined=quarantined,
            rows_duplicate=duplicate, rows_erased=erased, rows_replaced=replaced, rows_resolved=resolved,
            drift_columns=self.resolved.drift, attribute_columns=self.resolved.attributes,
            reasons={str(k): int(v) for k, v in reasons}, unknown_types=unknown, accepted_types=self.accepted,
            timezone=self.options.timezone, date_formats={c: p.describe() for c, p in self.dates.items()},
            number_formats={c: p.describe() for c, p in self.numbers.items()},
            encoding=encoding, delimiter=delimiter, generated_ids=self.resolved.generated_key,
            notes=self._notes(load_id), seconds=round(time.perf_counter() - self.started, 3),
            dry_run=self.options.dry_run,
        )
