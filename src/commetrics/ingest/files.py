"""Open a source file as a SQL relation, keeping every record and its position.

CSV is read with every column as text (typing is the validator's job, so nothing is coerced
silently), with DuckDB's reject store catching lines it cannot parse (bad encoding, wrong column
count, ...); the file is read once, by the validation statement itself. JSON Lines is staged one
line per record and parsed in SQL, so a malformed line is a quarantined record, not a failed
file. Parquet keeps its own types. Parquet and JSON Lines records carry their position; CSV
records are numbered by the order in which they are stored when the plan keeps the file's order
(a row number over the whole file would halve the reader's speed), else by a row number. Lines
are worked out from positions only for the few records that end up in quarantine (see
:func:`line_sql`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import duckdb

from ..errors import UnreadableFileError
from ..store import quote_identifier as q
from .reasons import DUCKDB_REJECT_REASONS, Reason

FileFormat = Literal["csv", "parquet", "jsonl"]

STAGE = "_scratch_stage"
REJECTED = "_scratch_rejected"
_REJECT_ERRORS = "_scratch_reject_errors"
_REJECT_SCANS = "_scratch_reject_scans"

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

# A record separator never appears raw inside valid JSON (control characters must be escaped),
# so reading JSON Lines as one-column "CSV" with it as delimiter keeps each line whole.
_JSONL_DELIMITER = "\x1e"


def detect_format(path: Path) -> FileFormat:
    """The file format from the name (``.gz`` compression allowed for CSV and JSON Lines)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    msg = (
        f"Cannot tell the format of {path.name}: use a .csv, .tsv, .parquet or .jsonl file "
        "(optionally .gz), or rename the file to say what it holds."
    )
    raise UnreadableFileError(msg)


@dataclass(frozen=True)
class StagedFile:
    """A file opened for validation: its columns, their types and the relation that reads it."""

    path: Path
    format: FileFormat
    columns: tuple[str, ...]  # the file's column names, in file order
    column_types: dict[str, str]  # DuckDB type of each column (all VARCHAR except Parquet)
    relation: str  # SQL relation yielding the file's columns, one row per parsed record, in file order
    header_lines: int  # lines before the first record
    ordinal: str | None = None  # SQL (over row ``s``) of the record's position among parsed records

    def numbered(self) -> StagedFile:
        """The same file with an explicit position per record (slower for CSV: a row number)."""
        if self.ordinal is not None:
            return self
        relation = f"(select row_number() over () as _position, * from {self.relation})"
        return replace(self, relation=relation, ordinal="s._position")

    def value_sql(self, column: str) -> str:
        """SQL for the value of file column ``column`` in a row ``s`` of the stage."""
        if self.format == "jsonl":
            return f"json_extract_string(s._json, {_sql_string('$.' + json.dumps(column))})"
        return f"s.{q(column)}"

    def attribute_sql(self, column: str) -> str:
        """SQL for the value of ``column`` kept in ``attributes`` (JSON Lines keeps nested values)."""
        if self.format == "jsonl":
            return f"json_extract(s._json, {_sql_string('$.' + json.dumps(column))})"
        return self.value_sql(column)

    def record_sql(self) -> str:
        """SQL for the raw record of row ``s``, as it was in the file (for quarantine)."""
        if self.format == "jsonl":
            return "s._raw"
        pairs = ", ".join(f"{_sql_string(c)}, s.{q(c)}" for c in self.columns)
        return f"json_object({pairs})::VARCHAR"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_error(path: Path, exc: Exception) -> UnreadableFileError:
    """The error for a file DuckDB cannot read as a whole."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    msg = (
        f"Cannot read {path}: {first_line}\n"
        "Nothing was loaded. Check that the file is complete and in the format its name says."
    )
    return UnreadableFileError(msg)


def open_file(con: duckdb.DuckDBPyConnection, path: Path, *, max_line_bytes: int) -> StagedFile:
    """Open ``path`` as a relation (JSON Lines is staged into a temporary table first)."""
    if not path.exists():
        msg = f"File not found: {path}. Check the path and run the command again."
        raise UnreadableFileError(msg)
    if not path.is_file():
        msg = f"{path} is not a file. Pass a CSV, Parquet or JSON Lines file."
        raise UnreadableFileError(msg)
    if path.stat().st_size == 0:
        msg = f"{path} is empty: it has no header and no rows. Nothing was loaded."
        raise UnreadableFileError(msg)
    fmt = detect_format(path)
    drop_scratch(con)
    try:
        if fmt == "csv":
            staged = _open_csv(con, path, max_line_bytes)
        elif fmt == "jsonl":
            staged = _stage_jsonl(con, path, max_line_bytes)
        else:
            staged = _open_parquet(con, path)
    except duckdb.Error as exc:
        raise read_error(path, exc) from None
    reserved = [c for c in staged.columns if c.startswith("__") or c in RESERVED_COLUMNS]
    if reserved:
        msg = (f"{path.name} has column(s) {', '.join(reserved)}, names the loader keeps for itself "
               "(names starting with '__' and a few starting with '_'). Rename them; nothing was loaded.")
        raise UnreadableFileError(msg)
    return staged


#: Names the loader uses inside its queries; a file may not use them as column names.
RESERVED_COLUMNS = frozenset({"_position", "_ord", "_raw", "_json", "file_row_number", "_check", "_record",
                              "_first", "_guard", "_load_check", "_load_record", "_load_ord"})


SCRATCH_PREFIX = "_scratch_"


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every temporary table and view of a load (they are all named ``_scratch_*``)."""
    objects = con.execute(
        """
        select 'view', view_name from duckdb_views() where temporary and starts_with(view_name, $prefix)
        union all
        select 'table', table_name from duckdb_tables() where temporary and starts_with(table_name, $prefix)
        """,
        {"prefix": SCRATCH_PREFIX},
    ).fetchall()
    for kind, name in sorted(objects, key=lambda o: o[0] != "view"):  # views first: they read the tables
        con.execute(f"drop {kind} if exists {q(name)}")


def _reject_options() -> str:
    return (
        "store_rejects = true, ignore_errors = true, "
        f"rejects_table = '{_REJECT_ERRORS}', rejects_scan = '{_REJECT_SCANS}'"
    )


def collect_rejects(con: duckdb.DuckDBPyConnection, staged: StagedFile) -> int:
    """After the file was read: one row per rejected line in ``_scratch_rejected``; their count."""
    if staged.format == "parquet":
        con.execute(f"create temp table {REJECTED} (line BIGINT, reason VARCHAR, detail VARCHAR, record VARCHAR)")
        return 0
    mapping = ", ".join(f"({_sql_string(k)}, {_sql_string(v.value)})" for k, v in DUCKDB_REJECT_REASONS.items())
    con.execute(
        f"""
        create temp table {REJECTED} as
        with errors as (
            select
                line,
                error_type::VARCHAR as error_type,
                error_message,
                csv_line
            from {_REJECT_ERRORS}
        ),

        reasons as (
            select * from (values {mapping}) as r(error_type, reason)
        )

        select
            e.line,
            arg_min(coalesce(r.reason, {_sql_string(Reason.MALFORMED_RECORD.value)}), e.error_type) as reason,
            arg_min(e.error_message, e.error_type) as detail,
            arg_min(e.csv_line, e.error_type) as record
        from errors as e
        left join reasons as r using (error_type)
        group by e.line
        """
    )
    row = con.execute(f"select count(*) from {REJECTED}").fetchall()
    return int(row[0][0]) if row else 0


_DELIMITERS = (",", ";", "\t", "|")


def _header_line(con: duckdb.DuckDBPyConnection, path: Path, max_line_bytes: int) -> str:
    """The first line of a (possibly compressed) text file, read by DuckDB."""
    row = con.execute(
        "select l from read_csv($path, columns = {'l': 'VARCHAR'}, header = false, auto_detect = false, "
        "delim = $delim, quote = '', escape = '', max_line_size = $max_line, ignore_errors = true) limit 1",
        {"path": str(path), "delim": _JSONL_DELIMITER, "max_line": max_line_bytes},
    ).fetchall()
    return (row[0][0] or "") if row else ""


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path, max_line_bytes: int) -> StagedFile:
    """Read the header, fix the dialect from it, then read with it fixed so no line can change it.

    The delimiter is the most frequent of ``, ; TAB |`` in the header (TAB for .tsv), and quoting
    is RFC 4180 (``"``, doubled inside quotes). Nothing about the dialect is guessed from data
    lines, so a sample full of bad lines cannot turn a comma file into one column.
    """
    header = _header_line(con, path, max_line_bytes).lstrip("\ufeff")
    if not header.strip():
        msg = f"{path.name} has no header line. Add one with the column names, then load it again."
        raise UnreadableFileError(msg)
    if ".tsv" in [x.lower() for x in path.suffixes]:
        delimiter = "\t"
    else:
        delimiter = max(_DELIMITERS, key=lambda d: (header.count(d), d == ","))
    columns = tuple(c.strip() for c in next(csv.reader([header], delimiter=delimiter)))
    quote = escape = '"'
    if any(not c for c in columns):
        msg = (f"{path.name} has an empty column name in its header ({header[:200]!r}). "
               "Name every column, then load it again.")
        raise UnreadableFileError(msg)
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        msg = (f"{path.name} repeats the column name(s) {', '.join(repeated)} in its header. "
               "Rename them so each column has its own name; nothing was loaded.")
        raise UnreadableFileError(msg)
    column_spec = "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in columns) + "}"
    options = (
        f"auto_detect = false, header = true, columns = {column_spec}, delim = {_sql_string(delimiter)}, "
        f"quote = {_sql_string(quote)}, escape = {_sql_string(escape)}, max_line_size = {int(max_line_bytes)}"
    )
    # No row_number() here: a window over the whole file halves the reader's speed. When the plan
    # keeps the file's order, the order of the stored rows numbers them (see ingest.load).
    relation = f"read_csv({_sql_string(str(path))}, {options}, {_reject_options()})"
    return StagedFile(path=path, format="csv", columns=columns, column_types=dict.fromkeys(columns, "VARCHAR"),
                      relation=relation, header_lines=1)


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, max_line_bytes: int) -> StagedFile:
    con.execute(
        f"""
        create temp table {STAGE} as
        select
            _ord,
            _raw,
            case when json_valid(_raw) and json_type(_raw) = 'OBJECT' then _raw::JSON end as _json
        from (
            select
                row_number() over () as _ord,  -- numbered before blank lines are dropped: lines stay true
                _raw
            from read_csv($path, columns = {{'_raw': 'VARCHAR'}}, header = false, auto_detect = false,
                          delim = $delim, quote = '', escape = '', max_line_size = $max_line,
                          {_reject_options()})
        )
        where trim(coalesce(_raw, '')) <> ''
        """,
        {"path": str(path), "delim": _JSONL_DELIMITER, "max_line": max_line_bytes},
    )
    keys = con.execute(
        f"""
        select distinct unnest(json_keys(_json)) as key
        from {STAGE}
        order by key
        """
    ).fetchall()
    columns = tuple(str(k[0]) for k in keys)
    return StagedFile(path=path, format="jsonl", columns=columns, column_types=dict.fromkeys(columns, "VARCHAR"),
                      relation=STAGE, header_lines=0, ordinal="s._ord")


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> StagedFile:
    relation = f"read_parquet({_sql_string(str(path))}, file_row_number = true)"
    described = con.execute(f"describe select * exclude (file_row_number) from {relation}").fetchall()
    types = {str(r[0]): str(r[1]) for r in described}
    return StagedFile(path=path, format="parquet", columns=tuple(types), column_types=types,
                      relation=relation, header_lines=0, ordinal="s.file_row_number + 1")


def line_sql(staged: StagedFile, ordinal: str) -> str:
    """SQL giving the file line of the record at position ``ordinal`` among the parsed records.

    Parsed records skip the lines the reader rejected, so the k-th one sits at line
    ``k + header + r``, where r counts rejected lines before it. With rejected lines
    R_1 < R_2 < ... (1-based), reject j lies before record k exactly when ``R_j - j - header < k``
    (the records before line R_j number ``R_j - 1 - header - (j - 1)``). JSON Lines positions
    count blank lines, so they are lines already. Parquet has no rejected lines and no header:
    its "line" is the row number.
    """
    if staged.format == "parquet":
        return f"({ordinal})"
    return (
        f"({ordinal} + {staged.header_lines} + coalesce((select max(j) from "
        f"(select line - row_number() over (order by line) - {staged.header_lines} as t, "
        f"row_number() over (order by line) as j from {REJECTED}) "
        f"where t < {ordinal}), 0))"
    )
