"""Open a source file as a SQL relation, keeping every record and its position.

What the file is comes from its content (:mod:`.sniff`); a file the reader cannot take as it is
gets a prepared copy (:mod:`.prepare`). Three ways to read:

* **CSV** through DuckDB's reader with the dialect fixed from the header (so no line can change it),
  every column as text (typing is the validator's job, so nothing is coerced silently), and its
  reject store catching lines it cannot parse. The file is read once, by the validation statement
  itself. Records are numbered by the order in which they are stored when the plan keeps the
  file's order (a row number over the whole file would halve the reader's speed), else by a row
  number.
* **Lines**: JSON Lines and space-aligned text are staged one line per row, numbered as read, and
  parsed in SQL (a malformed line is a quarantined record, not a failed file). A JSON key is looked
  up in every spelling the file uses for it, record by record.
* **Parquet** keeps its own types and row numbers.

Lines are worked out from positions only for the few records that end up in quarantine
(:mod:`.lines`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import duckdb

from ..errors import UnreadableFileError
from ..store import quote_identifier as q
from .prepare import Prepared, prepare
from .reasons import DUCKDB_REJECT_REASONS, Reason
from .sniff import BLANKS, FileFormat, Sniffed, sniff, with_dialect

SCRATCH_PREFIX = "_scratch_"
_SCRATCH: list[str] = []


def scratch(name: str) -> str:
    """Name a temporary table of a load (``_scratch_NAME``); :func:`drop_scratch` drops every one named."""
    full = SCRATCH_PREFIX + name
    if full not in _SCRATCH:
        _SCRATCH.append(full)
    return full


STAGE = scratch("stage")
REJECTED = scratch("rejected")
REJECT_ERRORS = scratch("reject_errors")
_REJECT_SCANS = scratch("reject_scans")

# A record separator never appears raw inside valid JSON (control characters must be escaped),
# so reading lines as one-column "CSV" with it as delimiter keeps each line whole.
_LINE_DELIMITER = "\x1e"

Reading = Literal["csv", "lines", "parquet"]


@dataclass(frozen=True)
class StagedFile:
    """A file opened for validation: its columns, their types and the relation that reads it."""

    path: Path  # the file as named
    format: FileFormat | Literal["xlsx"]  # xlsx: a workbook's sheet, read as its CSV copy
    reading: Reading
    columns: tuple[str, ...]  # the file's column names (JSON Lines: every key spelling), in file order
    column_types: dict[str, str]  # DuckDB type of each column (all VARCHAR except Parquet)
    relation: str  # SQL relation yielding one row per parsed record, in file order
    header_lines: int  # lines before the first record
    ordinal: str | None = None  # SQL (over row ``s``) of the record's position (staged: its line among read lines)
    sample: str = ""  # a relation over the same records without the reject store (for sampling values)
    prepared: Prepared | None = None
    sniffed: Sniffed | None = None
    notes: tuple[str, ...] = field(default=())  # what the reader changed (renamed header names)

    def numbered(self) -> StagedFile:
        """The same file with an explicit position per record (slower for CSV: a row number)."""
        if self.ordinal is not None:
            return self
        relation = f"(select row_number() over () as _position, * from {self.relation})"
        return replace(self, relation=relation, ordinal="s._position")

    def value_sql(self, columns: str | tuple[str, ...]) -> str:
        """SQL for the value of a file column in a row ``s`` (the first non-null of several spellings)."""
        names = (columns,) if isinstance(columns, str) else columns
        if self.format == "jsonl":
            parts = [f"json_extract_string(s._json, {sql_string('$.' + json.dumps(c))})" for c in names]
        elif self.reading == "lines":
            parts = [f"s._fields[{self.columns.index(c) + 1}]" for c in names]
        else:
            parts = [f"s.{q(c)}" for c in names]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def json_type_sql(self, columns: tuple[str, ...]) -> str | None:
        """JSON Lines: SQL for the JSON type of the first spelling present (None for other formats)."""
        if self.format != "jsonl":
            return None
        parts = [f"json_type(s._json, {sql_string('$.' + json.dumps(c))})" for c in columns]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def attribute_sql(self, column: str) -> str:
        """SQL for the value of ``column`` kept in ``attributes`` (JSON Lines keeps nested values)."""
        if self.format == "jsonl":
            return f"json_extract(s._json, {sql_string('$.' + json.dumps(column))})"
        return self.value_sql(column)

    def record_sql(self) -> str:
        """SQL for the raw record of row ``s``, as it was in the file (for quarantine)."""
        if self.reading == "lines":
            return "s._raw"
        pairs = ", ".join(f"{sql_string(c)}, s.{q(c)}" for c in self.columns)
        return f"json_object({pairs})::VARCHAR"


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def read_error(path: Path, exc: Exception) -> UnreadableFileError:
    """The error for a file DuckDB cannot read as a whole."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    msg = (
        f"Cannot read {path}: {first_line}\n"
        f"Nothing from {path.name} was loaded. Check that the file is complete and in the format its name says."
    )
    return UnreadableFileError(msg)


#: Names the loader uses inside its queries; a file may not use them as column names.
RESERVED_COLUMNS = frozenset({"_position", "_ord", "_raw", "_json", "_fields", "file_row_number", "_check", "_record",
                              "_first", "_guard", "_load_check", "_load_record", "_load_ord"})


def open_file(con: duckdb.DuckDBPyConnection, path: Path, *, max_line_bytes: int, workdir: Path,
              encoding: str | None = None, lf_only: bool = False, prepared: Prepared | None = None,
              skip: int = 0, sheet: Path | None = None) -> StagedFile:
    """Open ``path`` as a relation (JSON Lines and space-aligned text are staged into a temporary table).

    ``prepared`` reads a repaired copy made earlier in the same load (see :func:`.prepare.blank_lines`);
    ``skip``: lines of a CSV above its header that are a title, not comments (see :func:`.sniff.sniff`);
    ``sheet``: the CSV copy of a workbook's sheet (see :mod:`.spreadsheet`), read in place of ``path``."""
    source = sheet or path
    sniffed = sniff(source, encoding="utf-8" if sheet else encoding, skip=skip)
    drop_scratch(con)
    if sniffed.format == "csv" and not sniffed.header:  # zstd: Python cannot look inside, DuckDB can
        sniffed = with_dialect(path, sniffed, _first_lines(con, source, max_line_bytes), skip)
    if sniffed.format == "parquet":
        staged = _open_parquet(con, path)
    else:
        ready = prepared or prepare(source, sniffed, workdir, lf_only=lf_only)
        try:
            if sniffed.format == "jsonl":
                staged = _stage_jsonl(con, path, ready, sniffed, max_line_bytes)
            elif sniffed.delimiter == BLANKS:
                staged = _stage_blanks(con, path, ready, sniffed, max_line_bytes)
            else:
                staged = _open_csv(path, ready, sniffed, max_line_bytes)
        except duckdb.Error as exc:
            raise read_error(path, exc) from None
    if sheet is not None:
        staged = replace(staged, format="xlsx")
    reserved = [c for c in staged.columns if c.startswith("__") or c in RESERVED_COLUMNS]
    if reserved:
        msg = (f"{path.name} has column(s) {', '.join(reserved)}, names the loader keeps for itself "
               "(names starting with '__' and a few starting with '_'). Rename them; nothing was loaded.")
        raise UnreadableFileError(msg)
    return staged


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every temporary table of a load (named by :func:`scratch`; listing the catalog would take longer)."""
    con.execute("".join(f"drop table if exists temp.{q(name)};" for name in _SCRATCH))


def _first_lines(con: duckdb.DuckDBPyConnection, path: Path, max_line_bytes: int) -> list[str]:
    """The first lines of a file as DuckDB decompresses them."""
    try:
        rows = con.execute(
            f"select l from read_csv({sql_string(str(path))}, columns = {{'l': 'VARCHAR'}}, header = false, "
            f"auto_detect = false, delim = $delim, quote = '', escape = '', max_line_size = {int(max_line_bytes)}, "
            "ignore_errors = true) limit 60",
            {"delim": _LINE_DELIMITER},
        ).fetchall()
    except duckdb.Error as exc:
        raise read_error(path, exc) from None
    return [(r[0] or "").lstrip("\ufeff") for r in rows]


def _reject_options() -> str:
    return (
        "store_rejects = true, ignore_errors = true, "
        f"rejects_table = '{REJECT_ERRORS}', rejects_scan = '{_REJECT_SCANS}'"
    )


#: The reader's buffer (DuckDB's default is 16 lines of the longest allowed). The insert keeps the file's order
#: by writing each buffer's rows as a batch of their own; batches that are not whole row groups are written
#: again when the store checkpoints. With buffers of this size the row groups are whole: a 10M-row load's
#: close takes 0.04 s instead of 4.3 s, and 20 CPU seconds instead of 29 in all. A file smaller than the
#: buffer takes what it needs.
READ_BUFFER_BYTES = 256 * 2**20


def _file_options(prepared: Prepared, max_line_bytes: int) -> str:
    options = [f"encoding = {sql_string(prepared.encoding)}", f"max_line_size = {int(max_line_bytes)}",
               f"buffer_size = {max(READ_BUFFER_BYTES, 2 * int(max_line_bytes))}"]
    if prepared.compression is not None:
        options.append(f"compression = {sql_string(prepared.compression)}")
    return ", ".join(options)


def header_names(path: Path, sniffed: Sniffed) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The column names of a CSV header, an empty one named ``column_N`` and a repeat (in any case) given a
    suffix ``_2``, ``_3`` ...; and a note per name changed."""
    import csv

    if sniffed.delimiter == BLANKS:
        raw = sniffed.header.split()
    else:
        raw = next(csv.reader([sniffed.header], delimiter=sniffed.delimiter or ","), [])
    names: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(c.strip() for c in raw):
        chosen = name or f"column_{index + 1}"
        suffix = 2
        while chosen.casefold() in seen:
            chosen = f"{name or 'column'}_{suffix}"
            suffix += 1
        seen.add(chosen.casefold())
        if chosen != name:
            notes.append(f"header column {index + 1} ({name!r}) read as {chosen!r}"
                         + (" (the name repeats an earlier one)" if name else " (it had no name)"))
        names.append(chosen)
    if not names:
        msg = f"{path.name} has no header line. Add one with the column names, then load it again."
        raise UnreadableFileError(msg)
    return tuple(names), tuple(notes)


def _open_csv(path: Path, prepared: Prepared, sniffed: Sniffed, max_line_bytes: int) -> StagedFile:
    """Read with the dialect fixed from the header: the delimiter found by :func:`.sniff.sniff`, quoting RFC
    4180 (``"``, doubled inside quotes), the preamble skipped. Nothing about the dialect is guessed from data
    lines, so a sample full of bad lines cannot turn a comma file into one column."""
    columns, notes = header_names(path, sniffed)
    column_spec = "{" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in columns) + "}"
    options = (
        f"auto_detect = false, header = true, skip = {sniffed.preamble}, columns = {column_spec}, "
        f"delim = {sql_string(sniffed.delimiter or ',')}, quote = '\"', escape = '\"', "
        f"{_file_options(prepared, max_line_bytes)}"
    )
    # No row_number() here: a window over the whole file halves the reader's speed. When the plan
    # keeps the file's order, the order of the stored rows numbers them (see ingest.load).
    relation = f"read_csv({sql_string(str(prepared.path))}, {options}, {_reject_options()})"
    sample = f"read_csv({sql_string(str(prepared.path))}, {options}, ignore_errors = true)"
    return StagedFile(path=path, format="csv", reading="csv", columns=columns,
                      column_types=dict.fromkeys(columns, "VARCHAR"), relation=relation,
                      header_lines=sniffed.header_lines, sample=sample, prepared=prepared, sniffed=sniffed,
                      notes=notes)


def _stage_lines(con: duckdb.DuckDBPyConnection, prepared: Prepared, max_line_bytes: int, skip: int,
                 parsed: str) -> None:
    """``_scratch_stage``: one row per non-blank line after the first ``skip``: ``_ord`` (the line's number
    among the lines read, blank ones included), ``_raw`` and what ``parsed`` (SQL over ``_raw``) makes of it."""
    con.execute(
        f"""
        create temp table {STAGE} as
        select _ord, _raw, {parsed}
        from (
            select
                row_number() over () as _ord,  -- numbered before blank lines are dropped: lines stay true
                _raw
            from read_csv({sql_string(str(prepared.path))}, columns = {{'_raw': 'VARCHAR'}}, header = false,
                          auto_detect = false, delim = $delim, quote = '', escape = '',
                          {_file_options(prepared, max_line_bytes)}, {_reject_options()})
        )
        where trim(coalesce(_raw, '')) <> '' and _ord > {int(skip)}
        """,
        {"delim": _LINE_DELIMITER},
    )


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, prepared: Prepared, sniffed: Sniffed,
                 max_line_bytes: int) -> StagedFile:
    _stage_lines(con, prepared, max_line_bytes, 0,
                 "case when json_valid(_raw) and json_type(_raw) = 'OBJECT' then _raw::JSON end as _json")
    keys = con.execute(f"select distinct unnest(json_keys(_json)) as key from {STAGE} order by key").fetchall()
    columns = tuple(str(k[0]) for k in keys)
    return StagedFile(path=path, format="jsonl", reading="lines", columns=columns,
                      column_types=dict.fromkeys(columns, "VARCHAR"), relation=STAGE, header_lines=0,
                      ordinal="s._ord", sample=STAGE, prepared=prepared, sniffed=sniffed)


def _stage_blanks(con: duckdb.DuckDBPyConnection, path: Path, prepared: Prepared, sniffed: Sniffed,
                  max_line_bytes: int) -> StagedFile:
    """A space-aligned file: fields are separated by runs of blanks (no quoting)."""
    columns, notes = header_names(path, sniffed)
    _stage_lines(con, prepared, max_line_bytes, sniffed.header_lines,
                 r"string_split_regex(trim(_raw, ' ' || chr(9) || chr(13)), '[ \t]+') as _fields")
    return StagedFile(path=path, format="csv", reading="lines", columns=columns,
                      column_types=dict.fromkeys(columns, "VARCHAR"), relation=STAGE, header_lines=0,
                      ordinal="s._ord", sample=STAGE, prepared=prepared, sniffed=sniffed, notes=notes)


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> StagedFile:
    relation = f"read_parquet({sql_string(str(path))}, file_row_number = true)"
    try:
        described = con.execute(f"describe select * exclude (file_row_number) from {relation}").fetchall()
    except duckdb.Error as exc:
        raise read_error(path, exc) from None
    types = {str(r[0]): str(r[1]) for r in described}
    return StagedFile(path=path, format="parquet", reading="parquet", columns=tuple(types), column_types=types,
                      relation=relation, header_lines=0, ordinal="s.file_row_number + 1", sample=relation)


def collect_rejects(con: duckdb.DuckDBPyConnection, staged: StagedFile) -> list[tuple[int, str, str, str, str]]:
    """After the file was read: one row per line the reader rejected, as (line as the reader numbers it,
    reason, detail, record, DuckDB error types)."""
    if staged.reading == "parquet":
        return []
    lines_read = staged.reading == "lines"
    reasons = {k: (Reason.MALFORMED_RECORD if lines_read and v != Reason.BAD_ENCODING and v != Reason.LINE_TOO_LONG
                   else v) for k, v in DUCKDB_REJECT_REASONS.items()}
    try:
        rows = con.execute(
            f"""
            select line, list(error_type::VARCHAR order by error_type::VARCHAR),
                arg_min(error_message, error_type::VARCHAR), arg_min(csv_line, error_type::VARCHAR)
            from temp.{REJECT_ERRORS}
            group by line
            order by line
            """
        ).fetchall()
    except duckdb.CatalogException:  # the reader rejected nothing and made no table
        return []
    out = []
    for line, types, message, record in rows:
        reason = next((reasons[t] for t in types if t in reasons), Reason.MALFORMED_RECORD)
        out.append((int(line), reason.value, str(message), record or "", "|".join(types)))
    return out
