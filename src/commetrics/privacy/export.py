"""Pseudonymised exports: the store's tables for analysts and BI tools, with no identifier in clear.

Every person identifier is replaced by its keyed pseudonym (:class:`~commetrics.privacy.keys.Keyring`,
HMAC-SHA-256 with the workspace key, purpose ``export``): member ids, contact ids, e-mail
addresses, handles, experiment units that are members or contacts, and resolved person ids. The
same identifier gets the same pseudonym in every table (so the tables still join), a different
one under another key (``commetrics keys rotate``), and never the erasure ledger's pseudonym.

What is not an identifier but still personal goes: names and the ``attributes`` JSON (free
columns of the source files) are left out. Person-level rows are exported only for members and
contacts whose person says consent = true on every record (:mod:`.consent`: missing counts as no), as every
person-level output; their activities, outcomes, answers and assignments go with them. Accounts
and subscriptions are organisations and are exported as they are. The quarantine, the load
ledger (file paths), identity maps and the erasure ledger are never exported.

A manifest (``manifest.json``) names the key id, the tables with their rows, the columns left out
and the people withheld for want of consent — counts only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from .. import schema
from ..errors import InputError, UnknownNameError
from ..spreadsheet import safe_cell_sql
from ..store import quote_identifier, sql_path
from .consent import CONSENT_SQL
from .keys import Keyring

__all__ = ["EXPORT_TABLES", "export_pseudonymised"]

PURPOSE = "export"

#: The tables an export can hold, in order.
EXPORT_TABLES = ("members", "contacts", "accounts", "activities", "outcomes", "subscriptions", "surveys",
                 "experiments", "people")

#: Columns that hold a person identifier, by the kind of pseudonym that replaces them.
_PSEUDONYMISED = {"member_id": "member_id", "contact_id": "contact_id", "email": "email", "handle": "handle",
                  "person_id": "person"}
#: Personal columns that are left out (a name cannot be pseudonymised usefully; attributes are anything;
#: a person's record id spells out the member or contact id, whose pseudonyms are exported beside it).
_LEFT_OUT = ("name", "attributes", "record_id")
#: Tables of organisations, exported as they are.
_ORGANISATIONS = ("accounts", "subscriptions")

#: Consent per member and contact: the most restrictive of their person's records (:mod:`.consent`).
_CONSENT_SQL = f"create or replace temp table _export_consent as {CONSENT_SQL}"

# The distinct identifiers of each kind that the export can write (consenting people only).
_VALUES_SQL = {
    "member_id": "select value from _export_consent where kind = 'member_id' and ok",
    "contact_id": "select value from _export_consent where kind = 'contact_id' and ok",
    "email": """select distinct email from members where email is not null and member_id in
                    (select value from _export_consent where kind = 'member_id' and ok)
                union select distinct email from contacts where email is not null and contact_id in
                    (select value from _export_consent where kind = 'contact_id' and ok)""",
    "handle": """select distinct handle from members where handle is not null and member_id in
                     (select value from _export_consent where kind = 'member_id' and ok)""",
    "person": "select distinct person_id from people",
}


def _columns(table: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    if table in schema.TABLES:
        return [*schema.TABLES[table].column_names, "source"]
    return [str(r[0]) for r in con.execute("select column_name from information_schema.columns where table_name = ? "
                                           "order by ordinal_position", [table]).fetchall()]


def _consented(alias: str, column: str, kind: str) -> str:
    """SQL: the row's ``column`` is empty, or a person of ``kind`` who consented."""
    return (f"({alias}.{column} is null or {alias}.{column} in "
            f"(select value from _export_consent where kind = '{kind}' and ok))")


def _select(table: str, con: duckdb.DuckDBPyConnection) -> tuple[str, list[str]]:
    """The export query of one table, and the columns it leaves out."""
    parts: list[str] = []
    joins: list[str] = []
    left_out: list[str] = []
    for column in _columns(table, con):
        if column in _LEFT_OUT and table not in _ORGANISATIONS:
            left_out.append(column)
            continue
        kind = _PSEUDONYMISED.get(column)
        if table == "experiments" and column == "unit_id":  # a member, a contact, or an account (kept)
            joins.append("left join _export_pseudonyms as u_m on u_m.kind = 'member_id' and u_m.value = t.unit_id "
                         "left join _export_pseudonyms as u_c on u_c.kind = 'contact_id' and u_c.value = t.unit_id")
            parts.append("coalesce(u_m.pseudonym, u_c.pseudonym, t.unit_id) as unit_id")
        elif kind is None:
            parts.append(f't."{column}"')
        else:
            alias = f"p_{column}"
            joins.append(f"left join _export_pseudonyms as {alias} on {alias}.kind = '{kind}' "
                         f"and {alias}.value = t.\"{column}\"")
            parts.append(f'{alias}.pseudonym as "{column}"')
    columns = set(_columns(table, con))
    where = []
    if "member_id" in columns:
        where.append(_consented("t", "member_id", "member_id"))
    if "contact_id" in columns:
        where.append(_consented("t", "contact_id", "contact_id"))
    if table == "experiments":  # units that are people who did not consent stay out
        where.append("t.unit_id not in (select value from _export_consent where not ok)")
    sql = (f"select {', '.join(parts)} from \"{table}\" as t {' '.join(joins)}"
           f"{' where ' + ' and '.join(where) if where else ''}")
    return sql, left_out


def _inert_text(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``sql`` with every text column passed through :func:`~commetrics.spreadsheet.safe_cell_sql`."""
    described = con.execute(f"describe ({sql})").fetchall()
    columns = [safe_cell_sql(quote_identifier(str(name))) + f" as {quote_identifier(str(name))}"
               if str(kind) == "VARCHAR" else quote_identifier(str(name)) for name, kind, *_ in described]
    return f"select {', '.join(columns)} from ({sql})"


def export_pseudonymised(con: duckdb.DuckDBPyConnection, keyring: Keyring, out: Path, *,
                         tables: Sequence[str] | None = None,
                         file_format: Literal["parquet", "csv"] = "parquet") -> dict[str, Any]:
    """Write the pseudonymised tables (see the module docstring) into the folder ``out``; return the
    manifest. Existing files of the same names are replaced."""
    chosen = list(tables) if tables else list(EXPORT_TABLES)
    for name in chosen:
        if name not in EXPORT_TABLES:
            raise UnknownNameError.for_name("table", name, EXPORT_TABLES,
                                            "Exports hold these tables; quarantine, identity maps and the ledgers "
                                            "are never exported.")
    if file_format not in ("parquet", "csv"):
        raise InputError(f"--format must be parquet or csv, not {file_format!r}.")
    out.mkdir(parents=True, exist_ok=True)
    # DuckDB writes the files itself and would report a refusal as its own error: try the folder first.
    probe = out / ".commetrics-write-test"
    probe.write_bytes(b"")
    probe.unlink()
    con.execute(_CONSENT_SQL)
    kinds, values, pseudonyms = [], [], []
    for kind, sql in _VALUES_SQL.items():
        found = [str(r[0]) for r in con.execute(sql).fetchall()]
        kinds += [kind] * len(found)
        values += found
        pseudonyms += keyring.pseudonyms(kind, found, purpose=PURPOSE)
    con.register("_export_pseudonyms_view", pa.table({"kind": kinds, "value": values, "pseudonym": pseudonyms}))
    written: dict[str, Any] = {}
    try:
        con.execute("create or replace temp table _export_pseudonyms as select * from _export_pseudonyms_view")
        for name in chosen:
            sql, left_out = _select(name, con)
            target = out / f"{name}.{file_format}"
            options = "format parquet, compression zstd"
            if file_format == "csv":  # opened in spreadsheets: every field quoted, no text cell a live formula
                sql = _inert_text(con, sql)
                options = "format csv, header, force_quote *"
            rows = con.execute(f"copy ({sql}) to '{sql_path(target)}' ({options})").fetchall()[0][0]
            written[name] = {"file": target.name, "rows": int(rows), "left_out": left_out}
        withheld = dict(con.execute("select kind, count(*) from _export_consent where not ok group by all "
                                    "order by all").fetchall())
    finally:
        con.unregister("_export_pseudonyms_view")
        con.execute("drop table if exists _export_pseudonyms")
        con.execute("drop table if exists _export_consent")
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_id": keyring.active,
        "pseudonyms": "HMAC-SHA-256 with the workspace key (purpose 'export'); the same identifier has the same "
                      "pseudonym in every table of this export",
        "tables": written,
        "withheld_without_consent": {"members": int(withheld.get("member_id", 0)),
                                     "contacts": int(withheld.get("contact_id", 0))},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
