"""Erasure: remove one person from every table, make the bytes unrecoverable, and remember it.

``commetrics forget EMAIL|MEMBER_ID|CONTACT_ID`` runs :func:`forget`:

1. **Who.** The identifier is matched against members and contacts (e-mails normalised), then
   widened through identity resolution (every member and contact resolved into the same person)
   and through the e-mails and handles those records carry.
2. **Remember first.** An entry for the erasure goes to the ledger file ``commetrics.erasures``
   beside the store (append-only JSON Lines, flushed to disk) before anything is deleted. It holds
   keyed pseudonyms only (:mod:`commetrics.privacy.keys`), never an identifier in clear.
3. **Delete.** In one transaction: every row of every registered person-keyed table
   (:data:`PERSON_TABLES`) that references the person, quarantined raw records that mention
   them, and the derived score history; the entry goes into the ``erasures`` table too.
4. **Compact.** DuckDB leaves deleted values readable in the file, so the database is copied
   into a fresh file (``COPY FROM DATABASE``) that replaces the old one in one atomic rename.
   An interrupted run leaves the ledger entry ``deleted``; the next run or open finishes it.

Later loads check every row against the ledger's pseudonyms: a re-loaded export that still holds
the person loads 0 of their rows (:func:`erase_loaded`). When the database is restored from a
backup older than an erasure, opening it re-applies the ledger file (:func:`reapply`).

The registry is the contract: a test lists every table of a fresh store and fails when one that
holds person identifiers is not in :data:`PERSON_TABLES` (and not declared person-free in
:data:`PERSON_FREE_TABLES`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from .. import schema
from ..errors import InputError
from ..identity.rules import email_key_sql, normalise_identifier
from ..schema import ERASURES_SQL, ERASURES_TABLE
from ..store import ERASURE_FILE, fsync_path, sql_path, table_exists
from .keys import Keyring

__all__ = [
    "ERASURE_FILE",
    "PERSON_FREE_TABLES",
    "PERSON_TABLES",
    "Erasure",
    "PersonTable",
    "compact",
    "erase_loaded",
    "forget",
    "pending_compaction",
    "reapply",
    "still_present",
]


#: what an identifier column holds: the kinds that are pseudonymised in the ledger
KINDS = ("member_id", "contact_id", "email", "handle")


@dataclass(frozen=True)
class PersonTable:
    """A table holding person identifiers: ``columns`` maps a column to the kind of identifier it
    holds (``unit`` matches member and contact ids; ``text`` is free text searched for any of the
    person's identifiers; ``name`` goes with the row). ``where`` limits the rows that are personal."""

    name: str
    columns: dict[str, str]
    where: str | None = None


_KIND_OF_COLUMN = {"member_id": "member_id", "contact_id": "contact_id", "email": "email", "handle": "handle",
                   "name": "name", "unit_id": "unit"}

#: Every table that can hold a person's identifiers.
PERSON_TABLES: tuple[PersonTable, ...] = (
    *(PersonTable(t.name, {c: _KIND_OF_COLUMN[c] for c in t.person_columns}) for t in schema.TABLES.values()
      if t.person_columns),
    PersonTable(schema.QUARANTINE_TABLE, {"record": "text"}),
    PersonTable("score_snapshots", {"id": "member_id"}, where="level = 'member'"),
    PersonTable("people", {"record_id": "record", "member_id": "member_id", "contact_id": "contact_id"}),
    PersonTable("identity_links", {"record_a": "record", "record_b": "record"}),
    PersonTable("identity_overrides", {"record_a": "record", "record_b": "record"}),
    PersonTable("identity_records", {"record_id": "record", "det_cluster": "record", "email": "email",
                                     "handle": "handle"}),
    PersonTable("identity_dropped_links", {"record_a": "record", "record_b": "record"}),
    PersonTable("identity_near_links", {"record_a": "record", "record_b": "record"}),
    PersonTable("identity_overrides_applied", {"record_a": "record", "record_b": "record"}),
)

#: Tables checked and found to hold no person identifiers (organisations, bookkeeping, pseudonyms).
PERSON_FREE_TABLES = frozenset({"accounts", "subscriptions", schema.LEDGER_TABLE, "schema_migrations",
                                ERASURES_TABLE, "identity_runs", "identity_model", "source_cursors",
                                "data_version"})



@dataclass
class Person:
    """The identifiers of one person found in the store."""

    member_ids: set[str] = field(default_factory=set)
    contact_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)

    def by_kind(self) -> dict[str, set[str]]:
        return {"member_id": self.member_ids, "contact_id": self.contact_ids, "email": self.emails,
                "handle": self.handles}

    @property
    def empty(self) -> bool:
        return not any(self.by_kind().values())


@dataclass(frozen=True)
class Erasure:
    """What one erasure did."""

    erasure_id: str
    found: dict[str, int]  # identifiers found per kind (counts only: the report names nobody)
    rows_deleted: dict[str, int]
    compacted: bool
    already_erased: bool = False
    entry: dict[str, Any] = field(default_factory=dict)  # the ledger entry written (pseudonyms only)

    def as_dict(self) -> dict[str, Any]:
        return {"erasure_id": self.erasure_id, "found": self.found, "rows_deleted": self.rows_deleted,
                "compacted": self.compacted, "already_erased": self.already_erased}


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> set[str]:
    return {str(r[0]) for r in con.execute(sql, list(params)).fetchall() if r[0] is not None}


def _find(con: duckdb.DuckDBPyConnection, identifier: str) -> Person:
    """The person an identifier names: the members and contacts with it, widened through resolved
    people and through the e-mails and handles of those records, until nothing new turns up."""

    person = Person()
    text = identifier.strip()
    if "@" in text:
        email = normalise_identifier("email", text) if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None
        if email is None:
            raise InputError(f"{identifier!r} looks like an e-mail address but is not a valid one; pass the "
                             "address as loaded, a member id or a contact id.")
        person.emails.add(email)
    else:
        person.member_ids |= _values(con, "select member_id from members where member_id = ?", [text])
        person.contact_ids |= _values(con, "select contact_id from contacts where contact_id = ?", [text])
    people, maps = table_exists(con, "people"), table_exists(con, "identity_maps")
    for _ in range(10):  # each round can only add identifiers; real clusters settle in two rounds
        before = sum(len(v) for v in person.by_kind().values())
        emails, members, contacts = sorted(person.emails), sorted(person.member_ids), sorted(person.contact_ids)
        person.member_ids |= _values(con, f"select member_id from members where {email_key_sql('email')} in "
                                          "(select unnest(?::varchar[]))", [emails])
        person.contact_ids |= _values(con, f"select contact_id from contacts where {email_key_sql('email')} in "
                                           "(select unnest(?::varchar[]))", [emails])
        if people:
            person.member_ids |= _values(con, "select p.member_id from people p join people q using (person_id) "
                                              "where q.member_id in (select unnest(?::varchar[])) or q.contact_id in "
                                              "(select unnest(?::varchar[]))", [members, contacts])
            person.contact_ids |= _values(con, "select p.contact_id from people p join people q using (person_id) "
                                               "where q.member_id in (select unnest(?::varchar[])) or q.contact_id in "
                                               "(select unnest(?::varchar[]))", [members, contacts])
        members, contacts = sorted(person.member_ids), sorted(person.contact_ids)
        person.emails |= _values(con, f"select {email_key_sql('email')} from members where member_id in "
                                      "(select unnest(?::varchar[]))", [members])
        person.emails |= _values(con, f"select {email_key_sql('email')} from contacts where contact_id in "
                                      "(select unnest(?::varchar[]))", [contacts])
        person.handles |= _values(con, "select lower(ltrim(trim(handle), '@')) from members where member_id in "
                                       "(select unnest(?::varchar[])) and handle is not null", [members])
        _widen_from_quarantine(con, person)
        if maps:  # an export's map ties a member (or a handle) to one more address of theirs
            person.emails |= _values(con, f"select {email_key_sql('email')} from identity_maps where member_id in "
                                          "(select unnest(?::varchar[])) or lower(ltrim(trim(handle), '@')) in "
                                          "(select unnest(?::varchar[]))", [members, sorted(person.handles)])
            person.member_ids |= _values(con, f"select member_id from identity_maps where member_id is not null and "
                                              f"{email_key_sql('email')} in (select unnest(?::varchar[]))",
                                         [sorted(person.emails)])
        if sum(len(v) for v in person.by_kind().values()) == before:
            break
    return person


def _widen_from_quarantine(con: duckdb.DuckDBPyConnection, person: Person) -> None:
    """Add the identifiers of the person's quarantined member and contact records: a member whose own row was
    malformed still has activities under their id and a handle that other records mention."""
    if person.empty:
        return
    condition, params = _condition(PersonTable(schema.QUARANTINE_TABLE, {"record": "text"}), person)
    rows = con.execute(f"""
        select try(json_extract_string(record, '$.member_id')), try(json_extract_string(record, '$.contact_id')),
               try(json_extract_string(record, '$.email')), try(json_extract_string(record, '$.handle'))
        from {schema.QUARANTINE_TABLE}
        where table_name in ('members', 'contacts', 'identity_maps') and {condition}
    """, params).fetchall()
    for member_id, contact_id, email, handle in rows:
        for target, value, kind in ((person.member_ids, member_id, "member_id"),
                                    (person.contact_ids, contact_id, "contact_id"),
                                    (person.emails, email, "email"), (person.handles, handle, "handle")):
            if value is not None and str(value).strip():
                target.add(normalise_identifier(kind, str(value)))


def _pseudonyms(keyring: Keyring, person: Person) -> dict[str, list[str]]:
    return {kind: sorted(p for p in keyring.pseudonyms(kind, sorted(values)) if p)
            for kind, values in person.by_kind().items() if values}


#: An e-mail address inside free text (a raw record as JSON or as the file's line): what surrounds it in a JSON
#: object or a CSV line never belongs to it.
_EMAIL_TOKEN = r"""[^\[\]\s"'`,;:<>(){}|@]+@[^\[\]\s"'`,;:<>(){}|@]+"""


def _condition(table: PersonTable, person: Person) -> tuple[str, list[Any]]:
    """A SQL condition matching the person's rows of ``table`` and its parameters."""
    members, contacts = sorted(person.member_ids), sorted(person.contact_ids)
    records = [f"m:{m}" for m in members] + [f"c:{c}" for c in contacts]
    parts: list[str] = []
    params: list[Any] = []
    for column, kind in table.columns.items():
        quoted = f'"{column}"'
        if kind in ("member_id", "contact_id", "unit"):
            values = {"member_id": members, "contact_id": contacts, "unit": members + contacts}[kind]
            parts.append(f"{quoted} in (select unnest(?::varchar[]))")
            params.append(values)
        elif kind == "email":
            parts.append(f"{email_key_sql(quoted)} in (select unnest(?::varchar[]))")
            params.append(sorted(person.emails))
        elif kind == "handle":
            parts.append(f"lower(ltrim(trim({quoted}), '@')) in (select unnest(?::varchar[]))")
            params.append(sorted(person.handles))
        elif kind == "record":
            parts.append(f"{quoted} in (select unnest(?::varchar[]))")
            params.append(records)
        elif kind == "text":
            handles = [*person.handles, *(f"@{h}" for h in person.handles)]
            tokens = [*members, *contacts, *person.emails, *handles]
            if tokens:
                # The identifier as a whole token of the raw record: ``m1`` must not match ``m10``.
                alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
                parts.append(f"regexp_matches(lower({quoted}), ?)")
                params.append(f"(^|[^a-z0-9_.+@-])({alternatives.lower()})($|[^a-z0-9_.+@-])")
            if person.emails:
                # Every address in the raw record, normalised: ZELDA.QUUX@GMAIL.COM, zelda.quux+crm@gmail.com
                # and Zelda.Quux@GoogleMail.com are all zeldaquux@gmail.com.
                parts.append(f"list_has_any(list_transform(regexp_extract_all({quoted}, ?), "
                             f"lambda x: {email_key_sql('x')}), ?::varchar[])")
                params += [_EMAIL_TOKEN, sorted(person.emails)]
    condition = "(" + " or ".join(parts) + ")" if parts else "false"
    if table.where:
        condition = f"({table.where}) and {condition}"
    return condition, params


def _delete(con: duckdb.DuckDBPyConnection, person: Person) -> dict[str, int]:
    """Delete the person's rows from every registered table present; rows per table."""
    deleted: dict[str, int] = {}
    for table in PERSON_TABLES:
        if not table_exists(con, table.name):
            continue
        condition, params = _condition(table, person)
        count = int(con.execute(f'delete from "{table.name}" where {condition}', params).fetchall()[0][0])
        if count:
            deleted[table.name] = count
    return deleted


def _append(ledger: Path | None, entry: dict[str, Any]) -> None:
    """Append one entry to the ledger file and flush it to disk (before any row is deleted)."""
    if ledger is None:
        return
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_ledger(ledger: Path | None) -> list[dict[str, Any]]:
    """The entries of the ledger file (a damaged last line, from a crash while appending, is skipped)."""
    if ledger is None or not ledger.exists():
        return []
    entries = []
    for line in ledger.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def forget(con: duckdb.DuckDBPyConnection, keyring: Keyring, identifier: str, *, ledger: Path | None) -> Erasure:
    """Delete one person from every registered table and record the erasure (see the module docstring).

    Compaction is separate (:func:`compact`): it needs the database closed.
    """
    con.execute(ERASURES_SQL)
    person = _find(con, identifier)
    if person.empty or not _any_row(con, person):
        # Nothing holds them (never loaded, or already erased): a repeat request changes nothing.
        return Erasure(erasure_id="", found={k: len(v) for k, v in person.by_kind().items()}, rows_deleted={},
                       compacted=False, already_erased=True)
    entry = {"erasure_id": secrets.token_hex(8), "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
             "pseudonyms": _pseudonyms(keyring, person)}
    _append(ledger, entry)
    con.execute("begin transaction")
    try:
        deleted = _delete(con, person)
        con.execute(f"insert into {ERASURES_TABLE} values (?, ?, ?, ?, 'deleted')",
                    [entry["erasure_id"], entry["requested_at"], json.dumps(entry["pseudonyms"]), json.dumps(deleted)])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Erasure(erasure_id=str(entry["erasure_id"]), found={k: len(v) for k, v in person.by_kind().items()},
                   rows_deleted=deleted, compacted=False, entry=entry)


def _any_row(con: duckdb.DuckDBPyConnection, person: Person) -> bool:
    for table in PERSON_TABLES:
        if table_exists(con, table.name):
            condition, params = _condition(table, person)
            if con.execute(f'select count(*) from "{table.name}" where {condition}', params).fetchall()[0][0]:
                return True
    return False


def pending_compaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether an erasure deleted rows but the file was not compacted yet."""
    if not table_exists(con, ERASURES_TABLE):
        return False
    return bool(con.execute(f"select count(*) from {ERASURES_TABLE} where status = 'deleted'").fetchall()[0][0])


def compact(path: Path) -> None:
    """Copy the database at ``path`` into a fresh file and swap it in atomically, so deleted values
    are gone from the bytes; then mark the erasures done. The database must not be open elsewhere.

    A crash before the rename leaves the old file (and the ``.compact`` copy, removed next time);
    after it, the new one. Either way the store opens and a re-run finishes the job.
    """
    fresh = path.with_name(path.name + ".compact")
    for stale in (fresh, fresh.with_name(fresh.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(path), config={"autoinstall_known_extensions": False,
                                            "autoload_known_extensions": False})
    try:
        con.execute("checkpoint")
        con.execute(f"attach '{sql_path(fresh)}' as fresh")
        con.execute("copy from database " + _current(con) + " to fresh")
        if table_exists(con, ERASURES_TABLE):
            con.execute(f"update fresh.{ERASURES_TABLE} set status = 'done' where status = 'deleted'")
        con.execute("detach fresh")
    finally:
        con.close()
    with fresh.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(fresh, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    fsync_path(path.parent)


def _current(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("select current_database()").fetchall()[0][0])


# ---- after restores and in loads ---------------------------------------------------------------------


def _ledger_pseudonyms(entries: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """All pseudonyms of the ledger, per kind."""
    out: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for entry in entries:
        for kind, values in entry.get("pseudonyms", {}).items():
            out.setdefault(kind, set()).update(values)
    return out


def _matching(keyring: Keyring, kind: str, values: Iterable[str], pseudonyms: set[str]) -> set[str]:
    """The values whose pseudonym (under any key the ledger used) is in ``pseudonyms``."""
    key_ids = {p.split(":", 1)[0] for p in pseudonyms} & set(keyring.keys)
    found = set()
    for value in values:
        if any(keyring.pseudonym(kind, value, key_id) in pseudonyms for key_id in key_ids):
            found.add(value)
    return found


#: What separates the tokens of a raw record (the complement of what an identifier is made of, as in
#: ``_condition``'s whole-token match).
_TOKEN_SEPARATORS = "'[^A-Za-z0-9_.+@-]+'"
_PERSON_ATTRIBUTE = {"member_id": "member_ids", "contact_id": "contact_ids", "email": "emails", "handle": "handles"}


def _persons_in(con: duckdb.DuckDBPyConnection, keyring: Keyring, wanted: dict[str, set[str]],
                tables: Sequence[PersonTable] = PERSON_TABLES, where: str = "true") -> Person:
    """The identifiers in ``tables`` (rows matching ``where``) whose pseudonyms are wanted."""
    person = Person()
    for table in tables:
        if not table_exists(con, table.name):
            continue
        restriction = where
        for column, kind in table.columns.items():
            kinds = ("member_id", "contact_id") if kind == "unit" else (kind,)
            for k in kinds:
                if k not in KINDS or not wanted.get(k):
                    continue
                expression = email_key_sql(f'"{column}"') if k == "email" else f'"{column}"'
                values = _values(con, f'select distinct {expression} from "{table.name}" where {restriction}')
                getattr(person, _PERSON_ATTRIBUTE[k]).update(_matching(keyring, k, values, wanted[k]))
    return person


def _in_quarantine(con: duckdb.DuckDBPyConnection, keyring: Keyring, wanted: dict[str, set[str]], person: Person,
                   where: str = "true") -> None:
    """Add to ``person`` the identifiers in quarantined raw records (rows matching ``where``) whose pseudonyms
    are wanted: every token of a record is tried, so any spelling that normalises to the person counts."""
    tokens = _values(con, f"select distinct unnest(regexp_split_to_array(record, {_TOKEN_SEPARATORS})) "
                          f"from {schema.QUARANTINE_TABLE} where {where}") - {""}
    for kind, attribute in _PERSON_ATTRIBUTE.items():
        if wanted.get(kind) and tokens:
            getattr(person, attribute).update(_matching(keyring, kind, tokens, wanted[kind]))


def erase_loaded(con: duckdb.DuckDBPyConnection, keyring: Keyring, table: schema.Table, load_id: int,
                 entries: Sequence[dict[str, Any]]) -> int:
    """Inside a load's transaction: delete this load's rows (and quarantined records) of the people
    erased in ``entries`` (the ledger); return the rows removed from the table."""
    if not entries:
        return 0
    # Only this load's rows can hold an erased person: every earlier load was checked the same way.
    this_load = f"load_id = {int(load_id)}"
    loaded = [t for t in PERSON_TABLES if t.name == table.name]
    wanted = _ledger_pseudonyms(entries)
    person = _persons_in(con, keyring, wanted, loaded, where=this_load)
    # A person may appear only in this load's malformed rows: look at every token of those records.
    _in_quarantine(con, keyring, wanted, person, where=this_load)
    if person.empty:
        return 0
    removed = 0
    for registered in [*loaded, *(t for t in PERSON_TABLES if t.name == schema.QUARANTINE_TABLE)]:
        condition, params = _condition(registered, person)
        count = int(con.execute(f'delete from "{registered.name}" where {this_load} and {condition}',
                                params).fetchall()[0][0])
        if registered.name == table.name:
            removed += count
    return removed


def still_present(con: duckdb.DuckDBPyConnection, keyring: Keyring, entries: Sequence[dict[str, Any]]) -> int:
    """How many identifiers of the people erased in ``entries`` the store still holds (0 after every erasure
    was applied; more after a restore that was not followed by :func:`reapply`). Changes nothing."""
    if not entries:
        return 0
    wanted = _ledger_pseudonyms(entries)
    person = _persons_in(con, keyring, wanted)
    _in_quarantine(con, keyring, wanted, person)
    return sum(len(values) for values in person.by_kind().values())


def reapply(con: duckdb.DuckDBPyConnection, keyring: Keyring, entries: Sequence[dict[str, Any]]) -> int:
    """Re-apply ledger entries (:func:`read_ledger`) the database does not know (it was restored from an
    older copy, or its erasures table was lost): delete every row whose identifiers match their
    pseudonyms. Returns the rows deleted; the caller compacts when it is not 0."""
    if not entries:
        return 0
    con.execute(ERASURES_SQL)
    known = _values(con, f"select erasure_id from {ERASURES_TABLE}")
    missing = [e for e in entries if e.get("erasure_id") not in known]
    if not missing:
        return 0
    wanted = _ledger_pseudonyms(missing)
    person = _persons_in(con, keyring, wanted)
    _in_quarantine(con, keyring, wanted, person)
    con.execute("begin transaction")
    try:
        deleted = _delete(con, person) if not person.empty else {}
        for entry in missing:
            con.execute(f"insert into {ERASURES_TABLE} values (?, ?, ?, ?, 'deleted')",
                        [entry["erasure_id"], entry["requested_at"], json.dumps(entry["pseudonyms"]),
                         json.dumps({"reapplied": True, **deleted})])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return sum(deleted.values())
