"""Load one file into one canonical table: stage, validate, deduplicate, commit with the ledger.

Every record read ends in exactly one place: loaded, quarantined (with a reason code) or counted
as a duplicate (the same key with the same content is already loaded, or earlier in the file).
The ledger row that records ``rows_read = rows_loaded + rows_quarantined + rows_duplicate +
rows_erased`` is
written in the same transaction as the rows, so a load killed at any point leaves either all of
it or none of it, and running it again loads what is missing exactly once.

Speed comes from reading the file once and writing each row once: in one transaction the
validation query inserts every parsed row straight into its table, failures marked in the
load-internal columns (``schema.LOAD_CHECK_COLUMN``); the few failures and duplicates are then
copied to quarantine and deleted. Parquet and JSON Lines rows carry their position in the file.
CSV rows do not (numbering them would halve the reader's speed): when the insert's plan keeps the
file's order (DuckDB says so with a batch insert), a row's position among this load's stored rows
is its position in the file; when it does not, the rows are numbered after all.

Deduplication is by natural key within ``source``, without a window: a key seen before with the
same content is a duplicate; with different content it is quarantined as
``duplicate_key_conflict`` (the first version stays). The tables carry no primary-key index; the
anti-join below is the constraint, and the test suite checks it after every load.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from .. import schema
from ..config import IngestSettings
from ..errors import MissingColumnError, SchemaContractError, UnknownNameError
from ..store import quote_identifier as q
from .checks import build_validation
from .files import REJECTED, StagedFile, collect_rejects, drop_scratch, line_sql, open_file, read_error
from .reasons import Reason

_INFILE = "_scratch_infile_duplicates"
_EXISTING = "_scratch_existing"
_CHECKS = "_scratch_checks"
_QUARANTINE = "_scratch_quarantine"
CHECK = schema.LOAD_CHECK_COLUMN
RECORD = schema.LOAD_RECORD_COLUMN
ORD = schema.LOAD_ORD_COLUMN


def _ord_sql(alias: str, first_rowid: int) -> str:
    """A row's position in its file: as the reader gave it, else from its stored order."""
    return f"coalesce({alias}.{ORD}, {alias}.rowid - {int(first_rowid)} + 1)"

DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class LoadReport:
    """What one load did: the four counts, the reasons and the columns outside the schema."""

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
    drift_columns: tuple[str, ...] = ()
    attribute_columns: tuple[str, ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drift_columns"] = list(self.drift_columns)
        data["attribute_columns"] = list(self.attribute_columns)
        return data


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def resolve_mapping(
    table: schema.Table,
    staged: StagedFile,
    explicit: dict[str, str],
    contract: str,
) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """Match canonical columns to file columns.

    Returns ``(mapping, attribute_columns, drift_columns)``: canonical -> file column, the extra
    file columns kept in ``attributes``, and every extra column (the schema drift noted in the
    ledger). Raises before anything is written when a required column is missing, a mapping names
    an unknown column, or the contract is ``freeze`` and the file has extra columns.
    """
    file_name = staged.path.name
    targets = (*table.column_names, "source")
    mapping: dict[str, str] = {}
    for canonical, file_column in explicit.items():
        if canonical not in targets:
            raise UnknownNameError.for_name(f"column of {table.name}", canonical, targets,
                                            "The left side of --map is a canonical column.")
        if file_column not in staged.columns:
            msg = (f"{file_name} has no column {file_column!r} (named in --map {canonical}={file_column}). "
                   f"Columns found: {', '.join(staged.columns) or '(none)'}.")
            raise MissingColumnError(msg)
        mapping[canonical] = file_column
    used = set(mapping.values())
    by_normal: dict[str, str] = {}
    for column in staged.columns:
        by_normal.setdefault(_normalise(column), column)
    for canonical in targets:
        found = by_normal.get(canonical)
        if canonical not in mapping and found is not None and found not in used:
            mapping[canonical] = found
            used.add(found)
    missing = [c for c in table.required_columns if c not in mapping]
    if missing:
        example = missing[0]
        msg = (f"{file_name} has no column {', '.join(map(repr, missing))}, which {table.name} needs. "
               f"Columns found: {', '.join(staged.columns) or '(none)'}. "
               f"Map one with --map {example}=FILE_COLUMN. Nothing was loaded.")
        raise MissingColumnError(msg)
    extras = tuple(c for c in staged.columns if c not in used)
    if extras and contract == "freeze":
        msg = (f"{file_name} has columns outside the {table.name} schema: {', '.join(extras)}; the schema "
               "contract is 'freeze' (ingest.schema_contract), so nothing was loaded. Map them with --map, "
               "remove them, or set schema_contract = \"evolve\" or \"discard_value\".")
        raise SchemaContractError(msg)
    attributes = extras if (contract == "evolve" and table.has_attributes) else ()
    return mapping, attributes, extras


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = con.execute(sql, params or {}).fetchall()
    return int(row[0][0]) if row and row[0][0] is not None else 0


def _same_content(table: schema.Table, left: str, right: str) -> str:
    return " and ".join(
        f"{left}.{q(c)}::VARCHAR is not distinct from {right}.{q(c)}::VARCHAR"
        if schema.SQL_TYPES[table.column(c).kind] == "JSON"
        else f"{left}.{q(c)} is not distinct from {right}.{q(c)}"
        for c in table.column_names
    )


def _find_duplicates(con: duckdb.DuckDBPyConnection, table: schema.Table, load_id: int, first_rowid: int) -> None:
    """Write the in-file duplicates and the matches against rows loaded before.

    ``_scratch_infile_duplicates``: each valid row whose key appeared earlier in the file, with
    the position of the first one and whether the content is the same. ``_scratch_existing``:
    each other valid row whose key an earlier load holds, with that load and the same flag.
    Positions are the reader's, else ``rowid - first_rowid + 1`` (see the module docstring).
    """
    key_cols = ("source", *table.key)
    keys = ", ".join(q(k) for k in key_cols)
    t_keys = ", ".join(f"t.{q(k)}" for k in key_cols)
    valid = f"load_id = {int(load_id)} and {CHECK} is null"
    # A hash collision can only send us down the careful path, never past a real repeat.
    # (A distinct subquery is a quarter faster than count(distinct ...) over millions of rows.)
    distinct = _count(con, f"select count(*) from (select distinct hash({keys}) from {table.name} where {valid})")
    total = _count(con, f"select count(*) from {table.name} where {valid}")
    if distinct == total:  # the usual case: nothing repeats, so skip the grouping
        con.execute(f"create temp table {_INFILE} (_rowid BIGINT, _ord BIGINT, first_ord BIGINT, same BOOLEAN)")
    else:
        con.execute(
            f"""
            create temp table {_INFILE} as
            with repeated as (
                select *
                from (
                    select
                        t.*,
                        t.rowid as _rowid,
                        row_number() over (partition by {t_keys} order by {_ord_sql("t", first_rowid)}) as _rank,
                        {_ord_sql("t", first_rowid)} as _position,
                        count(*) over (partition by {t_keys}) as _copies
                    from {table.name} as t
                    where t.load_id = {int(load_id)} and t.{CHECK} is null
                )
                where _copies > 1
            )

            select
                b._rowid,
                b._position as _ord,
                a._position as first_ord,
                {_same_content(table, 'a', 'b')} as same  -- false: same key, other content
            from repeated as b
            join repeated as a using ({keys})
            where a._rank = 1
                and b._rank > 1
            """
        )
    earlier = _count(con, f"select count(*) from (select 1 from {table.name} where load_id <> {int(load_id)} limit 1)")
    if not earlier:
        con.execute(f"create temp table {_EXISTING} (_rowid BIGINT, _ord BIGINT, existing_load BIGINT, same BOOLEAN)")
        return
    con.execute(
        f"""
        create temp table {_EXISTING} as
        select
            c.rowid as _rowid,
            {_ord_sql("c", first_rowid)} as _ord,
            t.load_id as existing_load,
            {_same_content(table, 'c', 't')} as same
        from {table.name} as c
        join {table.name} as t using ({keys})
        where c.load_id = {int(load_id)}
            and c.{CHECK} is null
            and t.load_id <> {int(load_id)}
            and c.rowid not in (select _rowid from {_INFILE})
        """
    )


def _register_checks(con: duckdb.DuckDBPyConnection, checks: list[tuple[int, str, str | None, str]]) -> None:
    con.execute(f"create temp table {_CHECKS} (idx INTEGER, reason VARCHAR, column_name VARCHAR, detail VARCHAR)")
    rows = [(-1, Reason.MALFORMED_RECORD.value, None, "not a JSON object"), *checks]
    con.executemany(f"insert into {_CHECKS} values (?, ?, ?, ?)", rows)


def _collect_quarantine(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    table: schema.Table,
    default_source: str,
    load_id: int,
    first_rowid: int,
) -> None:
    """Write ``_scratch_quarantine``: every record that fails, with its line, reason and raw text.

    ``already`` marks records that an earlier load quarantined for the same reason (re-loading a
    file adds nothing, not even to quarantine); they count as duplicates.
    """
    # Records that passed the checks but conflict are shown as they would have been loaded.
    typed_record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := c.{q(c)}" for c in table.column_names) + "))::VARCHAR"
    line = line_sql(staged, "n._ord")
    first_line = line_sql(staged, "n.first_ord")
    conflict = Reason.DUPLICATE_KEY_CONFLICT.value
    con.execute(
        f"""
        create temp table {_QUARANTINE} as
        with failures as (
            select $source as source, line, reason, null as column_name, detail, record
            from {REJECTED}

            union all

            select n.source, {line}, k.reason, k.column_name, k.detail, n.record
            from (
                select t.source, {_ord_sql("t", first_rowid)} as _ord, t.{CHECK} as _check, t.{RECORD} as record
                from {table.name} as t
                where t.load_id = {int(load_id)} and t.{CHECK} is not null
            ) as n
            join {_CHECKS} as k on k.idx = n._check

            union all

            select c.source, {line}, '{conflict}', null,
                'same key as line ' || {first_line} || ' of this file, other content', {typed_record}
            from {_INFILE} as n
            join {table.name} as c on c.rowid = n._rowid
            where not n.same

            union all

            select c.source, {line}, '{conflict}', null,
                'same key as a row of load ' || n.existing_load || ', other content', {typed_record}
            from {_EXISTING} as n
            join {table.name} as c on c.rowid = n._rowid
            where not n.same
        )

        select
            f.*,
            exists (
                select 1
                from {schema.QUARANTINE_TABLE} as old
                where old.table_name = $table
                    and old.source = f.source
                    and old.reason = f.reason
                    and old.record is not distinct from f.record
            ) as already
        from failures as f
        """,
        {"source": default_source, "table": table.name},
    )


def _insert_sql(table: schema.Table, load_id: int, validation_sql: str) -> str:
    columns = ", ".join(q(c) for c in table.column_names)
    return (f"insert into {table.name} ({columns}, source, load_id, {CHECK}, {RECORD}, {ORD})\n"
            f"select {columns}, source, {int(load_id)}, _check, _record, _ord\nfrom ({validation_sql}) as v")


def _used(params: dict[str, Any], sql: str) -> dict[str, Any]:
    """The parameters that ``sql`` names (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _keeps_order(con: duckdb.DuckDBPyConnection, insert: str, params: dict[str, Any]) -> bool:
    """Whether DuckDB plans ``insert`` as a batch insert, which stores rows in the source's order."""
    plan = "".join(str(row[-1]) for row in con.execute("explain " + insert, _used(params, insert)).fetchall())
    return "BATCH" in plan.upper().split("INSERT")[0]


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
) -> LoadReport:
    """Load ``path`` into ``table_name``; see the module docstring for the guarantees.

    ``erase`` runs inside the load's transaction and deletes the rows of this load that belong to
    people erased earlier, returning how many (see :func:`commetrics.privacy.erasure.erase_loaded`).
    """
    started = time.perf_counter()
    table = schema.TABLES.get(table_name)
    if table is None:
        raise UnknownNameError.for_name("table", table_name, schema.TABLES,
                                        "Run `commetrics status` to see the tables.")
    now = now or datetime.now(UTC)
    default_source = (source or DEFAULT_SOURCE).strip() or DEFAULT_SOURCE
    try:
        staged = open_file(con, path, max_line_bytes=max(2 * settings.max_field_bytes, 2_097_152))
        resolved, attributes, drift = resolve_mapping(table, staged, mapping or {}, settings.schema_contract)
        validation = build_validation(table, staged, resolved, attributes, settings)
        params = {
            **validation.params,
            "future_limit": now + timedelta(hours=settings.future_tolerance_hours),
            "default_source": default_source,
        }
        _register_checks(con, [(i, c.reason.value, c.column, c.detail) for i, c in enumerate(validation.checks)])
        con.execute("begin transaction")
        try:
            load_id = _count(con, f"select coalesce(max(load_id), 0) + 1 from {schema.LEDGER_TABLE}")
            insert = _insert_sql(table, load_id, validation.sql)
            try:
                if staged.ordinal is None and not _keeps_order(con, insert, params):
                    staged = staged.numbered()
                    validation = build_validation(table, staged, resolved, attributes, settings)
                    insert = _insert_sql(table, load_id, validation.sql)
                con.execute(insert, _used(params, insert))
            except duckdb.Error as exc:
                raise read_error(path, exc) from None
            report = _settle(con, table, staged, load_id, default_source, drift, attributes,
                             settings.schema_contract, started, now, erase)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return report
    finally:
        drop_scratch(con)


def _settle(
    con: duckdb.DuckDBPyConnection,
    table: schema.Table,
    staged: StagedFile,
    load_id: int,
    default_source: str,
    drift: tuple[str, ...],
    attributes: tuple[str, ...],
    contract: str,
    started: float,
    now: datetime,
    erase: Callable[[duckdb.DuckDBPyConnection, schema.Table, int], int] | None = None,
) -> LoadReport:
    """Inside the load's transaction: quarantine failures, drop duplicates, check and write the ledger."""
    rejected = collect_rejects(con, staged)
    first_rowid = _count(con, f"select min(rowid) from {table.name} where load_id = {int(load_id)}")
    _find_duplicates(con, table, load_id, first_rowid)
    _collect_quarantine(con, staged, table, default_source, load_id, first_rowid)
    parsed = _count(con, f"select count(*) from {table.name} where load_id = {int(load_id)}")
    rows_read = parsed + rejected
    infile_same = _count(con, f"select count(*) from {_INFILE} where same")
    existing_same = _count(con, f"select count(*) from {_EXISTING} where same")
    quarantined = _count(con, f"select count(*) from {_QUARANTINE} where not already")
    duplicate = infile_same + existing_same + _count(con, f"select count(*) from {_QUARANTINE} where already")
    con.execute(
        f"""
        insert into {schema.QUARANTINE_TABLE}
        select $load_id, $table, source, $file, line, reason, column_name, detail, record
        from {_QUARANTINE}
        where not already
        order by line
        """,
        {"load_id": load_id, "table": table.name, "file": str(staged.path)},
    )
    con.execute(f"delete from {table.name} where load_id = {int(load_id)} and {CHECK} is not null")
    for scratch in (_INFILE, _EXISTING):
        if _count(con, f"select count(*) from {scratch}"):
            con.execute(f"delete from {table.name} where rowid in (select _rowid from {scratch})")
    quarantined_before = _count(con, f"select count(*) from {schema.QUARANTINE_TABLE} where load_id = {int(load_id)}")
    erased = erase(con, table, load_id) if erase is not None else 0
    loaded = _count(con, f"select count(*) from {table.name} where load_id = {int(load_id)}")
    in_quarantine = _count(con, f"select count(*) from {schema.QUARANTINE_TABLE} where load_id = {int(load_id)}")
    # A quarantined record of an erased person is deleted too, and counted as erased, not quarantined.
    erased += quarantined_before - in_quarantine
    quarantined -= quarantined_before - in_quarantine
    if loaded + in_quarantine + duplicate + erased != rows_read or in_quarantine != quarantined:
        msg = (f"Load of {staged.path} does not add up (read {rows_read}, loaded {loaded}, "
               f"quarantined {in_quarantine}, duplicates {duplicate}, erased {erased}); nothing was written. "
               "Please report this with the file.")
        raise AssertionError(msg)
    con.execute(
        f"insert into {schema.LEDGER_TABLE} values "
        "($load_id, $table, $source, $file, $format, $bytes, $started, $finished, "
        "$read, $loaded, $quarantined, $duplicate, $drift, $contract, $erased)",
        {
            "load_id": load_id,
            "table": table.name,
            "source": default_source,
            "file": str(staged.path),
            "format": staged.format,
            "bytes": staged.path.stat().st_size,
            "started": now,
            "finished": datetime.now(UTC),
            "read": rows_read,
            "loaded": loaded,
            "quarantined": in_quarantine,
            "duplicate": duplicate,
            "drift": list(drift),
            "contract": contract,
            "erased": erased,
        },
    )
    reasons = con.execute(
        f"select reason, count(*) from {schema.QUARANTINE_TABLE} where load_id = $id "
        "group by reason order by count(*) desc, reason",
        {"id": load_id},
    ).fetchall()
    return LoadReport(
        load_id=load_id,
        table=table.name,
        source=default_source,
        file=str(staged.path),
        file_format=staged.format,
        rows_read=rows_read,
        rows_loaded=loaded,
        rows_quarantined=in_quarantine,
        rows_duplicate=duplicate,
        rows_erased=erased,
        drift_columns=drift,
        attribute_columns=attributes,
        reasons={str(k): int(v) for k, v in reasons},
        seconds=round(time.perf_counter() - started, 3),
    )
