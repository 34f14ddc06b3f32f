"""Quarantine: every record that failed, with the line it is on in the file, its reason and its key.

Failures come from four places: lines the reader rejected, records that failed a check, and
conflicting keys in the file or against earlier loads. Their lines are worked out here, in one
place, for the few records that need one (see :mod:`.lines`). A record quarantined before for
the same reason with the same raw text is ``already`` there: re-loading a file adds nothing, not
even to quarantine. A quarantined record keeps its key when it has one, so a later load that
loads that key marks it resolved (:func:`resolve_fixed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from .. import schema
from ..store import quote_identifier as q
from .dedup import CHECK, EXISTING, INFILE, count, key_text_sql, ord_sql
from .files import REJECTED, StagedFile, scratch
from .lines import CsvLayout, csv_layout, plain_layout, read_lines
from .reasons import Reason

QUARANTINE = scratch("quarantine")
CHECKS = scratch("checks")
_LINES = scratch("lines")
RECORD = schema.LOAD_RECORD_COLUMN
#: DuckDB cuts the raw line it keeps of a rejected record at this many characters
_REJECT_TEXT_LIMIT = 10_000


@dataclass(frozen=True)
class Reject:
    """A line the reader could not read, as it numbered it (logical, for CSV) or as found (physical)."""

    line: int
    reason: str
    detail: str
    record: str
    physical: bool = False


def register_checks(con: duckdb.DuckDBPyConnection, checks: list[tuple[int, str, str | None, str]]) -> None:
    rows = [(-1, Reason.MALFORMED_RECORD.value, None, "not a JSON object"),
            (-2, Reason.WRONG_COLUMN_COUNT.value, None, "another number of fields than the header"), *checks]
    con.execute(f"create temp table {CHECKS} as select unnest($idx)::INTEGER as idx, unnest($reason) as reason, "
                "unnest($column)::VARCHAR as column_name, unnest($detail) as detail",
                {"idx": [r[0] for r in rows], "reason": [r[1] for r in rows], "column": [r[2] for r in rows],
                 "detail": [r[3] for r in rows]})


def layout_for(staged: StagedFile, positions: np.ndarray, rejected: np.ndarray) -> CsvLayout:
    """The layout that places these positions and rejected lines (read as far as they need)."""
    if staged.reading != "csv" or staged.prepared is None or staged.sniffed is None:
        return plain_layout(0 if staged.reading == "lines" else staged.header_lines)
    header = staged.header_lines
    stop = int(max(rejected.max(initial=0), header + positions.max(initial=0) + len(rejected)))
    while True:
        layout = csv_layout(staged.prepared, staged.sniffed.delimiter or ",", header, stop)
        if layout is None:
            return plain_layout(header)
        furthest = int(layout.logical_of_positions(positions, rejected).max(initial=0))
        if furthest <= stop:
            return layout
        stop = max(furthest, 2 * stop)


def _reject_rows(staged: StagedFile, rejects: list[Reject], layout: CsvLayout) -> pd.DataFrame:
    logical = np.array([r.line for r in rejects if not r.physical], dtype=np.int64)
    physical = layout.physical(logical) if staged.reading == "csv" else logical
    lines = iter(physical.tolist())
    rows = [(r.line if r.physical else next(lines), r.reason, r.detail, r.record) for r in rejects]
    frame = pd.DataFrame(rows, columns=["line", "reason", "detail", "record"])
    cut = [i for i, r in enumerate(rejects) if not r.physical and len(r.record) >= _REJECT_TEXT_LIMIT]
    if cut and staged.prepared is not None:
        starts = layout.multi_start.tolist()
        spans = {int(frame.at[i, "line"]): 1 + (int(layout.multi_extra[starts.index(rejects[i].line)])
                                                if rejects[i].line in starts else 0) for i in cut}
        texts = read_lines(staged.prepared, spans)
        for i in cut:
            frame.at[i, "record"] = texts.get(int(frame.at[i, "line"]), frame.at[i, "record"])
    return frame


def collect_quarantine(con: duckdb.DuckDBPyConnection, staged: StagedFile, table: schema.Table, default_source: str,
                       load_id: int, first_rowid: int, rejects: list[Reject]) -> None:
    """Write ``_scratch_quarantine``: every record that fails, with its line, reason, key and raw text."""
    failing = f"t.load_id = {int(load_id)} and t.{CHECK} is not null"
    positions = np.array([r[0] for r in con.execute(
        f"""
        select {ord_sql('t', first_rowid)} from {table.name} as t where {failing}
        union select _ord from {INFILE} where not same
        union select first_ord from {INFILE} where not same
        union select _ord from {EXISTING} where not same and not wins
        """).fetchall()], dtype=np.int64)
    rejected = np.array(sorted(r.line for r in rejects if not r.physical), dtype=np.int64)
    layout = layout_for(staged, positions, rejected) if len(positions) or len(rejects) else plain_layout(0)
    lines = layout.lines_of_positions(positions, rejected) if staged.reading != "parquet" else positions
    # Lists bound as parameters: the loader needs nothing of the connection but ``execute``.
    con.execute(f"create temp table {_LINES} as select unnest($pos)::BIGINT as pos, unnest($line)::BIGINT as line",
                {"pos": positions.tolist(), "line": np.asarray(lines).tolist()})
    frame = _reject_rows(staged, rejects, layout)
    con.execute(f"create temp table {REJECTED} as select unnest($line)::BIGINT as line, unnest($reason) as reason, "
                "unnest($detail) as detail, unnest($record) as record",
                {"line": frame["line"].astype("int64").tolist(), "reason": frame["reason"].tolist(),
                 "detail": frame["detail"].tolist(), "record": frame["record"].tolist()})

    # Records that passed the checks but conflict are shown as they would have been loaded.
    typed_record = "to_json(struct_pack(" + ", ".join(f"{q(c)} := c.{q(c)}" for c in table.column_names) + "))::VARCHAR"
    conflict = Reason.DUPLICATE_KEY_CONFLICT.value
    con.execute(
        f"""
        create temp table {QUARANTINE} as
        with failures as (
            select $source as source, line, reason, null as column_name, detail, record, null as record_key
            from {REJECTED}

            union all

            select t.source, l.line, k.reason, k.column_name, k.detail, t.{RECORD}, {key_text_sql(table, 't')}
            from {table.name} as t
            join {CHECKS} as k on k.idx = t.{CHECK}
            join {_LINES} as l on l.pos = {ord_sql('t', first_rowid)}
            where {failing}

            union all

            select c.source, l.line, '{conflict}', null,
                'same key as line ' || f.line || ' of this file, other content', {typed_record},
                {key_text_sql(table, 'c')}
            from {INFILE} as n
            join {table.name} as c on c.rowid = n._rowid
            join {_LINES} as l on l.pos = n._ord
            join {_LINES} as f on f.pos = n.first_ord
            where not n.same

            union all

            select c.source, l.line, '{conflict}', null,
                'same key as a row of load ' || n.existing_load || ', other content (load with --replace to '
                || 'let the new one win)', {typed_record}, {key_text_sql(table, 'c')}
            from {EXISTING} as n
            join {table.name} as c on c.rowid = n._rowid
            join {_LINES} as l on l.pos = n._ord
            where not n.same and not n.wins
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


def write_quarantine(con: duckdb.DuckDBPyConnection, table: schema.Table, load_id: int, file: str) -> None:
    """Copy the new failures of this load into ``quarantine`` and delete the failing rows from the table."""
    con.execute(
        f"""
        insert into {schema.QUARANTINE_TABLE}
            (load_id, table_name, source, file, line, reason, column_name, detail, record, record_key)
        select $load_id, $table, source, $file, line, reason, column_name, detail, record, record_key
        from {QUARANTINE}
        where not already
        order by line
        """,
        {"load_id": load_id, "table": table.name, "file": file},
    )
    con.execute(f"delete from {table.name} where load_id = {int(load_id)} and {CHECK} is not null")


def resolve_fixed(con: duckdb.DuckDBPyConnection, table: schema.Table, load_id: int) -> int:
    """Mark resolved the earlier quarantined rows of this table and source whose key this load loaded."""
    return count(
        con,
        f"""
        update {schema.QUARANTINE_TABLE} as old
        set resolved_by = {int(load_id)}
        where old.table_name = $table
            and old.resolved_by is null
            and old.load_id <> {int(load_id)}
            and old.record_key is not null
            and exists (
                select 1 from {table.name} as t
                where t.load_id = {int(load_id)} and t.source = old.source
                    and {key_text_sql(table, 't')} = old.record_key
            )
        """,
        {"table": table.name},
    )


#: words exports write for an empty cell (compared in upper case)
EMPTY_WORDS = ("NULL", "N/A", "NA", "#N/A", "NONE", "NAN", "NIL", "-", "--", "\\N", "(NULL)", "#NULL!")


def empty_words_note(con: duckdb.DuckDBPyConnection, load_id: int, file_columns: dict[str, str],
                     given: tuple[str, ...] = ()) -> str | None:
    """A note when this load quarantined values that exports write for an empty cell (``NULL``, ``N/A`` ...),
    naming them as written and ``--na``. ``file_columns`` maps canonical columns to the file's names;
    ``given``: the words ``--na`` named already (their rows fail for being empty)."""
    if not file_columns:
        return None
    rows = con.execute(
        f"""
        select count(*), list(distinct v order by v)[1:3]
        from (
            select trim(json_extract_string(record, $names[list_position($columns, column_name)])) as v
            from {schema.QUARANTINE_TABLE}
            where load_id = $load_id and list_contains($columns, column_name)
        )
        where list_contains($words, upper(v)) and not list_contains($given, v)
        """, {"columns": list(file_columns), "names": list(file_columns.values()), "load_id": int(load_id),
              "words": list(EMPTY_WORDS), "given": list(given)}).fetchall()
    quarantined, words = int(rows[0][0] or 0), list(rows[0][1] or [])
    if not quarantined:
        return None
    options = " ".join(f"--na '{w}'" if "'" not in w else f'--na "{w}"' for w in words)
    return (f"{quarantined} quarantined row{'s' if quarantined != 1 else ''} hold {', '.join(map(repr, words))} "
            f"where a value belongs: if the file writes an empty cell so, load it again with {options}")
