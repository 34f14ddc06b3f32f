"""Repeated keys: in the file, against earlier loads, and which version wins.

Deduplication is by natural key within ``source``, without a window. A key seen before with the
same content is a duplicate. With different content:

* earlier in the same file: the first row stays and the later one is quarantined as
  ``duplicate_key_conflict``;
* in an earlier load: the loaded row stays and the new one is quarantined — unless the load
  replaces (``--replace``: the new row wins and the old one is deleted), or the new row withdraws
  consent (``consent`` false where the loaded row has true: withdrawal wins at once, with or
  without ``--replace``, so no output keeps a person who said no). Within one file, a row that
  withdraws consent wins over the rows of its key that do not.

Rows whose file has no id column carry ids made from their content; identical rows of one file
are numbered (``-2``, ``-3`` ...) so that two equal votes stay two, and a re-load makes the same ids.

The tables carry no primary-key index; the anti-join below is the constraint, and the test suite
checks it after every load.
"""

from __future__ import annotations

from typing import Any

import duckdb

from .. import schema
from ..store import quote_identifier as q
from .files import scratch

INFILE = scratch("infile_duplicates")
EXISTING = scratch("existing")
NEW_KEYS = scratch("new_keys")
MATCHES = scratch("key_matches")
CHECK = schema.LOAD_CHECK_COLUMN
ORD = schema.LOAD_ORD_COLUMN


def count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = con.execute(sql, params or {}).fetchall()
    return int(row[0][0]) if row and row[0][0] is not None else 0


def ord_sql(alias: str, first_rowid: int) -> str:
    """A row's position in its file: as the reader gave it, else from its stored order."""
    return f"coalesce({alias}.{ORD}, {alias}.rowid - {int(first_rowid)} + 1)"


def same_content(table: schema.Table, left: str, right: str) -> str:
    return " and ".join(
        f"{left}.{q(c)}::VARCHAR is not distinct from {right}.{q(c)}::VARCHAR"
        if schema.SQL_TYPES[table.column(c).kind] == "JSON"
        else f"{left}.{q(c)} is not distinct from {right}.{q(c)}"
        for c in table.column_names
    )


def key_text_sql(table: schema.Table, alias: str) -> str:
    """The key of a row as one text (instants as UTC microseconds), to find it again in quarantine."""
    parts = [f"epoch_us({alias}.{q(k)})::VARCHAR" if table.column(k).kind == "timestamp" else f"{alias}.{q(k)}"
             for k in table.key]
    return f"to_json(list_value({', '.join(parts)}))::VARCHAR"


def _withdraws(table: schema.Table, new: str, old: str) -> str:
    if "consent" not in table.column_names:
        return "false"
    return f"({new}.consent is not distinct from false and {old}.consent is not distinct from true)"


def number_copies(con: duckdb.DuckDBPyConnection, table: schema.Table, load_id: int, first_rowid: int) -> None:
    """Generated ids: the second, third ... copy of the same content in this file gets ``-2``, ``-3`` ..."""
    key = q(table.key[0])
    valid = f"load_id = {int(load_id)} and {CHECK} is null"
    distinct = count(con, f"select count(*) from (select distinct source, {key} from {table.name} where {valid})")
    if distinct == count(con, f"select count(*) from {table.name} where {valid}"):
        return
    con.execute(
        f"""
        update {table.name} as t
        set {key} = t.{key} || '-' || r.copy
        from (
            select rowid as _rowid,
                row_number() over (partition by source, {key} order by {ord_sql(table.name, first_rowid)}) as copy
            from {table.name}
            where {valid}
        ) as r
        where t.rowid = r._rowid and r.copy > 1
        """
    )


def find_duplicates(con: duckdb.DuckDBPyConnection, table: schema.Table, load_id: int, first_rowid: int,
                    *, replace: bool) -> None:
    """Write the in-file duplicates and the matches against rows loaded before.

    ``_scratch_infile_duplicates``: each valid row whose key an earlier-ranked row of the file has
    (rank: a withdrawal of consent first, then file order), with the position of that row and
    whether the content is the same. ``_scratch_existing``: each other valid row whose key an earlier
    load holds, with that load, the old row, whether the content is the same and whether the new row
    wins (``--replace``, or a withdrawal of consent). Positions are the reader's, else
    ``rowid - first_rowid + 1``.
    """
    key_cols = ("source", *table.key)
    keys = ", ".join(q(k) for k in key_cols)
    t_keys = ", ".join(f"t.{q(k)}" for k in key_cols)
    valid = f"load_id = {int(load_id)} and {CHECK} is null"
    position = ord_sql("t", first_rowid)
    rank = f"{position}"
    if "consent" in table.column_names:
        rank = f"(t.consent is not distinct from false) desc, {position}"
    # A hash collision can only send us down the careful path, never past a real repeat.
    # (A distinct subquery is a quarter faster than count(distinct ...) over millions of rows.)
    distinct, total = con.execute(
        f"select (select count(*) from (select distinct hash({keys}) from {table.name} where {valid})), "
        f"(select count(*) from {table.name} where {valid})").fetchall()[0]
    if distinct == total:  # the usual case: nothing repeats, so skip the grouping
        con.execute(f"create temp table {INFILE} (_rowid BIGINT, _ord BIGINT, first_ord BIGINT, same BOOLEAN)")
    else:
        con.execute(
            f"""
            create temp table {INFILE} as
            with repeated as (
                select *
                from (
                    select
                        t.*,
                        t.rowid as _rowid,
                        row_number() over (partition by {t_keys} order by {rank}) as _rank,
                        {position} as _position,
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
                {same_content(table, 'a', 'b')} as same  -- false: same key, other content
            from repeated as b
            join repeated as a using ({keys})
            where a._rank = 1
                and b._rank > 1
            """
        )
    earlier = count(con, f"select count(*) from (select 1 from {table.name} where load_id <> {int(load_id)} limit 1)")
    if not earlier:
        con.execute(f"create temp table {EXISTING} (_rowid BIGINT, _ord BIGINT, existing_load BIGINT, "
                    "old_rowid BIGINT, same BOOLEAN, wins BOOLEAN)")
        return
    # Proportional to the load, not to the table: the new keys are set aside first (a small table whose
    # size DuckDB knows), so the join hashes them and streams only the key columns of the stored rows
    # past them; the full rows are read only for the keys that match, usually none.
    con.execute(
        f"""
        create temp table {NEW_KEYS} as
        select c.rowid as _rowid, {ord_sql("c", first_rowid)} as _ord, {', '.join(f"c.{q(k)}" for k in key_cols)}
        from {table.name} as c
        where c.load_id = {int(load_id)}
            and c.{CHECK} is null
            and c.rowid not in (select _rowid from {INFILE})
        """
    )
    con.execute(
        f"""
        create temp table {MATCHES} as
        select n._rowid, n._ord, t.load_id as existing_load, t.rowid as old_rowid
        from {NEW_KEYS} as n
        join {table.name} as t using ({keys})
        where t.load_id <> {int(load_id)}
        """
    )
    matched = count(con, f"select count(*) from {MATCHES}")
    if not matched:
        con.execute(f"create temp table {EXISTING} as select *, NULL::BOOLEAN as same, NULL::BOOLEAN as wins "
                    f"from {MATCHES}")
        return
    con.execute(
        f"""
        create temp table {EXISTING} as
        select
            m._rowid,
            m._ord,
            m.existing_load,
            m.old_rowid,
            {same_content(table, 'c', 't')} as same,
            ({'true' if replace else 'false'} or {_withdraws(table, 'c', 't')}) as wins
        from {MATCHES} as m
        join {table.name} as c on c.rowid = m._rowid
        join {table.name} as t on t.rowid = m.old_rowid
        """
    )


def settle_duplicates(con: duckdb.DuckDBPyConnection, table: schema.Table) -> tuple[int, int]:
    """Delete the duplicates and losing conflicts of this load, and the old rows that new ones replace.

    Returns ``(duplicates, replaced)``."""
    infile_same, infile, existing_same, existing, replaced = con.execute(
        f"select (select count_if(same) from {INFILE}), (select count(*) from {INFILE}), "
        f"(select count_if(same) from {EXISTING}), (select count(*) from {EXISTING}), "
        f"(select count_if(not same and wins) from {EXISTING})").fetchall()[0]
    duplicates = int(infile_same or 0) + int(existing_same or 0)
    replaced = int(replaced or 0)
    if infile:
        con.execute(f"delete from {table.name} where rowid in (select _rowid from {INFILE})")
    if existing:
        con.execute(f"delete from {table.name} where rowid in (select _rowid from {EXISTING} "
                    "where same or not wins)")
    if replaced:
        con.execute(f"delete from {table.name} where rowid in (select old_rowid from {EXISTING} "
                    "where not same and wins)")
    return duplicates, replaced
