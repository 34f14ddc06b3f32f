"""Identity resolution in the store: members and contacts into ``people``, and people into accounts.

:func:`resolve_store` reads one identity record per member and per contact (``"m:" + member_id``,
``"c:" + contact_id``), the explicit ``identity_maps`` and the manual ``identity_overrides``,
runs :func:`commetrics.identity.linkage.resolve`, and replaces three tables in one transaction:

* ``people``: one row per record, its ``person_id`` (``"p:"`` + the person's smallest record id,
  stable across runs), the rule that put it there, and the person's account;
* ``identity_links``: every link that formed a person, with its evidence or match weights;
* ``identity_runs``: one row per run (counts, threshold, the last load it saw).

**People → accounts.** A person's account is, in this order: the account of their most recent CRM
contact that names one (``contact``), else of their most recent member record that does
(``member``), else the account whose domain is the domain of one of their work addresses
(``domain``; free-mail domains never match, and a domain two accounts share matches neither).

Overrides live in ``identity_overrides`` and are inputs to every run, so they survive re-runs
and re-loads. Analyses read ``people`` through :func:`person_keys` (see
:mod:`commetrics.metrics.conversion`): a member or contact loaded after the last run counts as a
person of its own until the next run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from ..errors import InputError, UnknownNameError
from ..progress import Progress, Reporter
from ..store import table_exists
from . import rules

if TYPE_CHECKING:
    from .linkage import Resolution

__all__ = ["IDENTITY_INPUTS", "IdentityRun", "explain", "member_contacts", "record_ids", "remove_override",
           "resolve_store", "set_override", "stale"]


#: The loads that change who is who: a load of one of these tables makes the last run stale.
IDENTITY_INPUTS = ("members", "contacts", "identity_maps")

_RECORDS_SQL = f"""
with accounts_by_id as (
    select account_id, max({rules.domain_sql('domain')}) as domain from accounts group by account_id
),
member_rows as (
    select
        member_id,
        arg_max(email, load_id) filter (where email is not null) as email,
        arg_max(name, load_id) filter (where name is not null) as name,
        arg_max(handle, load_id) filter (where handle is not null) as handle,
        arg_max(account_id, load_id) filter (where account_id is not null) as account_id
    from members
    group by member_id
),
contact_rows as (
    select
        contact_id,
        arg_max(email, load_id) filter (where email is not null) as email,
        arg_max(name, load_id) filter (where name is not null) as name,
        arg_max(account_id, load_id) filter (where account_id is not null) as account_id
    from contacts
    group by contact_id
)
select 'm:' || m.member_id as record_id, 'member' as source, m.email, m.name, m.handle, a.domain as account_domain
from member_rows as m left join accounts_by_id as a using (account_id)
union all
select 'c:' || c.contact_id, 'contact', c.email, c.name, null, a.domain
from contact_rows as c left join accounts_by_id as a using (account_id)
order by record_id
"""

# One candidate account per record, best first: the CRM contact's own account, then the member
# record's, then the account whose domain is the record's work e-mail domain (a domain shared by
# two accounts names neither). Within a rule the most recent record wins.
_ACCOUNTS_SQL = f"""
with domains as (
    select {rules.domain_sql('domain')} as domain, min(account_id) as account_id
    from accounts
    where domain is not null
    group by all
    having count(distinct account_id) = 1
),
addresses as (
    select 'm:' || member_id as record_id, {rules.email_sql('email')} as email, joined_at as seen_at from members
    union all
    select 'c:' || contact_id, {rules.email_sql('email')}, created_at from contacts
),
candidates as (
    select p.person_id, 1 as rank, c.account_id, c.created_at as seen_at
    from people as p join contacts as c on p.contact_id = c.contact_id
    where c.account_id is not null
    union all
    select p.person_id, 2, m.account_id, m.joined_at
    from people as p join members as m on p.member_id = m.member_id
    where m.account_id is not null
    union all
    select p.person_id, 3, d.account_id, e.seen_at
    from people as p
    join addresses as e using (record_id)
    join domains as d on d.domain = split_part(e.email, '@', 2)
    where e.email is not null and not {rules.free_mail_sql("split_part(e.email, '@', 2)")}
),
ranked as (
    select person_id, account_id, rank,
        row_number() over (partition by person_id order by rank, seen_at desc nulls last, account_id) as n
    from candidates
)
select person_id, account_id, ['contact', 'member', 'domain'][rank] as account_rule
from ranked
where n = 1
"""


@dataclass(frozen=True)
class IdentityRun:
    """What one resolution of the store did."""

    records: int
    people: int
    links_by_rule: dict[str, int]
    with_account: int
    accounts_by_rule: dict[str, int]
    seconds: float
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "people": self.people, "links_by_rule": self.links_by_rule,
                "people_with_account": self.with_account, "accounts_by_rule": self.accounts_by_rule,
                "seconds": round(self.seconds, 3), "notes": list(self.notes)}


def resolve_store(con: duckdb.DuckDBPyConnection, *, threshold: float = 0.9, probabilistic: bool = True,
                  free_mail: Iterable[str] = (), progress: Progress | None = None) -> IdentityRun:
    """Resolve every member and contact of the store into ``people`` (see the module docstring).

    ``free_mail`` adds domain patterns to :data:`commetrics.identity.rules.DEFAULT_FREE_MAIL`.
    The tables are replaced in one transaction: a failure leaves the previous resolution in place.
    Stages reported to ``progress`` (operation ``identity``): ``reading``, ``normalising``,
    ``training``, ``scoring``, ``clustering``, ``writing`` (the model's two only when it runs).
    """
    from .linkage import resolve  # Splink and its stack load only when resolution runs

    started = time.perf_counter()
    patterns = (*rules.DEFAULT_FREE_MAIL, *free_mail)
    report = Reporter(progress, "identity")
    with report.stage("reading", unit="records") as advance:
        records = con.sql(_RECORDS_SQL).to_arrow_table()
        maps = con.sql("select distinct email, member_id, handle from identity_maps").to_arrow_table()
        overrides = con.execute("select record_a, record_b, decision from identity_overrides").df()
        advance(records.num_rows)
    result = resolve(records, maps=maps if maps.num_rows else None, overrides=overrides, threshold=threshold,
                     probabilistic=probabilistic, free_mail=patterns, con=con, progress=report)
    people = result.people.assign(
        member_id=lambda f: f["record_id"].where(f["record_id"].str.startswith("m:")).str.slice(2),
        contact_id=lambda f: f["record_id"].where(f["record_id"].str.startswith("c:")).str.slice(2),
    )
    links = result.links[["record_a", "record_b", "rule", "match_probability", "match_weight", "detail"]]
    with report.stage("writing", total=len(people), unit="records"):
        return _write(con, people, links, result, threshold=threshold, probabilistic=probabilistic,
                      patterns=patterns, started=started)


def _write(con: duckdb.DuckDBPyConnection, people: pd.DataFrame, links: pd.DataFrame, result: Resolution, *,
           threshold: float, probabilistic: bool, patterns: tuple[str, ...], started: float) -> IdentityRun:
    """Replace ``people`` and ``identity_links`` in one transaction and record the run."""
    con.execute("begin transaction")
    try:
        con.execute("delete from people")
        con.execute("delete from identity_links")
        con.register("_resolved_people", people)
        con.execute("insert into people select record_id, person_id, member_id, contact_id, rule, null, null "
                    "from _resolved_people")
        con.unregister("_resolved_people")
        con.register("_resolved_links", links)
        con.execute("insert into identity_links select record_a, record_b, rule, match_probability, match_weight, "
                    "detail from _resolved_links")
        con.unregister("_resolved_links")
        con.execute(f"create temp table _person_accounts as {_ACCOUNTS_SQL}",
                    {"free_mail": rules.free_mail_pattern(patterns)})
        con.execute("update people set account_id = a.account_id, account_rule = a.account_rule "
                    "from _person_accounts as a where people.person_id = a.person_id")
        con.execute("drop table _person_accounts")
        accounts = dict(con.execute("select account_rule, count(distinct person_id) from people "
                                    "where account_rule is not null group by all order by all").fetchall())
        seconds = time.perf_counter() - started
        run = IdentityRun(records=len(people), people=int(result.stats.get("people", 0)),
                          links_by_rule={str(k): int(v) for k, v in result.stats.get("links_by_rule", {}).items()},
                          with_account=sum(int(v) for v in accounts.values()),
                          accounts_by_rule={str(k): int(v) for k, v in accounts.items()}, seconds=seconds,
                          notes=_notes(result))
        con.execute(
            "insert into identity_runs select coalesce(max(run_id), 0) + 1, now(), "
            "(select max(load_id) from load_ledger), ?, ?, ?, ?, ?, ? from identity_runs",
            [run.records, run.people, threshold, probabilistic, seconds, json.dumps(run.as_dict())],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return run


def _notes(result: Resolution) -> tuple[str, ...]:
    notes = []
    if result.stats.get("note"):
        notes.append(str(result.stats["note"]))
    skipped = int(result.stats.get("overrides_skipped", 0))
    if skipped:
        notes.append(f"{skipped} override{'s' if skipped != 1 else ''} name a record no longer in the store "
                     "(erased or never loaded) and were skipped.")
    return tuple(notes)


def stale(con: duckdb.DuckDBPyConnection) -> str:
    """Why the last resolution does not describe the store ("" when it does, or nothing to resolve)."""
    if not table_exists(con, "identity_runs"):
        return ""
    records = con.execute("select (select count(*) from members) + (select count(*) from contacts)").fetchall()[0][0]
    last = con.execute("select max(last_load_id), count(*) from identity_runs").fetchall()[0]
    if not records:
        return ""
    if not last[1]:
        return ("Identities were never resolved: members and contacts count as separate people. "
                "Run `commetrics identity resolve`.")
    newer = con.execute(
        "select count(*) from load_ledger where load_id > coalesce(?, -1) and table_name in (select unnest(?)) "
        "and rows_loaded > 0",  # a re-load that added nothing leaves the people as they were
        [last[0], list(IDENTITY_INPUTS)],
    ).fetchall()[0][0]
    if newer:
        return (f"{newer} load{'s' if newer != 1 else ''} of members, contacts or identity maps came after the last "
                "identity resolution; their new records count as people of their own. "
                "Run `commetrics identity resolve`.")
    return ""


# -- looking up and overriding -------------------------------------------------------------------


def member_contacts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per member resolved with CRM contacts: ``crm_contact_id`` (their ids, sorted, ``;``-separated) and
    ``contact_email`` (the address of the most recently loaded one that has one, else null)."""
    return con.execute("""
        select m.member_id,
               string_agg(distinct c.contact_id, ';' order by c.contact_id) as crm_contact_id,
               arg_max(k.email, k.load_id) filter (where k.email is not null) as contact_email
        from people as m
        join people as c on c.person_id = m.person_id and c.contact_id is not null
        left join contacts as k on k.contact_id = c.contact_id
        where m.member_id is not null
        group by m.member_id
    """).df()


def record_ids(con: duckdb.DuckDBPyConnection, identifier: str) -> list[str]:
    """The records an identifier names: a record id (``m:…``, ``c:…``), a person id (``p:…``), a
    member id, a contact id, or an e-mail address (compared in normal form)."""
    text = identifier.strip()
    if not text:
        raise InputError("Give a member id, contact id, e-mail address, record id (m:…, c:…) or person id (p:…).")
    if text.startswith("p:"):
        found = _column(con, "select record_id from people where person_id = ? order by record_id", [text])
    elif text.startswith(("m:", "c:")):
        found = _column(con, "select record_id from people where record_id = ?", [text])
        if not found:
            table, column = ("members", "member_id") if text.startswith("m:") else ("contacts", "contact_id")
            found = [text] if _column(con, f"select {column} from {table} where {column} = ? limit 1",
                                      [text[2:]]) else []
    elif "@" in text:
        email = rules.normalise_identifier("email", text)
        found = _column(con, f"""
            select distinct 'm:' || member_id from members where {rules.email_key_sql('email')} = ?
            union select distinct 'c:' || contact_id from contacts where {rules.email_key_sql('email')} = ?
            order by 1""", [email, email])
    else:
        found = _column(con, "select distinct 'm:' || member_id from members where member_id = ? "
                             "union select distinct 'c:' || contact_id from contacts where contact_id = ? order by 1",
                        [text, text])
    if not found:
        raise UnknownNameError(f"No member, contact or person is known as {identifier!r}. Give a member id, "
                               "contact id, e-mail address, record id (m:ID for a member, c:ID for a contact) "
                               "or person id (p:…) as `commetrics identity explain` prints them.")
    return found


def _column(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[str]:
    return [str(r[0]) for r in con.execute(sql, params).fetchall()]


def _one_record(con: duckdb.DuckDBPyConnection, identifier: str) -> str:
    found = record_ids(con, identifier)
    if identifier.strip().startswith("p:") or len(found) > 1:
        raise InputError(f"{identifier!r} names {len(found)} records ({', '.join(found[:5])}); an override joins or "
                         "separates two records. Name each by its record id (m:ID for a member, c:ID for a contact).")
    return found[0]


def set_override(con: duckdb.DuckDBPyConnection, a: str, b: str, decision: str) -> tuple[str, str, str | None]:
    """Record that two records are (``link``) or are not (``unlink``) one person; returns the two
    record ids and the decision it replaced (``None`` if new). The next resolution applies it."""
    if decision not in ("link", "unlink"):
        raise InputError(f"decision must be 'link' or 'unlink', not {decision!r}.")
    first, second = sorted((_one_record(con, a), _one_record(con, b)))
    if first == second:
        raise InputError(f"{a!r} and {b!r} are the same record; name two different records.")
    before = con.execute("select decision from identity_overrides where record_a = ? and record_b = ?",
                         [first, second]).fetchall()
    con.execute("insert or replace into identity_overrides values (?, ?, ?, now())", [first, second, decision])
    return first, second, str(before[0][0]) if before else None


def remove_override(con: duckdb.DuckDBPyConnection, a: str, b: str) -> tuple[str, str, str | None]:
    """Drop the override between two records (the evidence decides again); returns the two record
    ids and the decision dropped (``None`` if there was none)."""
    first, second = sorted((_one_record(con, a), _one_record(con, b)))
    before = con.execute("select decision from identity_overrides where record_a = ? and record_b = ?",
                         [first, second]).fetchall()
    con.execute("delete from identity_overrides where record_a = ? and record_b = ?", [first, second]).fetchall()
    return first, second, str(before[0][0]) if before else None


def explain(con: duckdb.DuckDBPyConnection, identifier: str) -> dict[str, Any]:
    """Who an identifier is: the person, each of their records, the links that joined them (the rule,
    or each comparison's match weight) and the overrides that name them."""
    found = record_ids(con, identifier)
    persons = _column(con, "select distinct person_id from people where record_id in (select unnest(?)) "
                           "order by 1", [found])
    if not persons:
        return {"identifier": identifier, "person_id": None, "records": [{"record_id": r} for r in found],
                "links": [], "overrides": [], "note": stale(con) or "Not resolved yet: run `commetrics identity "
                "resolve`."}
    out: dict[str, Any] = {"identifier": identifier, "people": []}
    for person in persons:
        records = con.execute("""
            select p.record_id, p.rule, p.account_id, p.account_rule,
                coalesce(m.source, c.source) as source, coalesce(m.email, c.email) as email,
                coalesce(m.name, c.name) as name, m.handle
            from people as p
            left join (select member_id, any_value(source) as source, arg_max(email, load_id) as email,
                       arg_max(name, load_id) as name, arg_max(handle, load_id) as handle from members group by all)
                as m on p.member_id = m.member_id
            left join (select contact_id, any_value(source) as source, arg_max(email, load_id) as email,
                       arg_max(name, load_id) as name from contacts group by all)
                as c on p.contact_id = c.contact_id
            where p.person_id = ?
            order by p.record_id""", [person]).df()
        ids = records["record_id"].tolist()
        links = con.execute("select record_a, record_b, rule, match_probability, match_weight, detail "
                            "from identity_links where record_a in (select unnest(?)) or record_b in "
                            "(select unnest(?)) order by rule, match_weight desc nulls first, record_a, record_b",
                            [ids, ids]).df()
        overrides = con.execute("select record_a, record_b, decision, decided_at from identity_overrides "
                                "where record_a in (select unnest(?)) or record_b in (select unnest(?)) "
                                "order by record_a, record_b", [ids, ids]).df()
        out["people"].append({
            "person_id": person,
            "account_id": _first(records["account_id"]),
            "account_rule": _first(records["account_rule"]),
            "records": _plain(records.drop(columns=["account_id", "account_rule"])),
            "links": [{**row, "detail": json.loads(row["detail"]) if row["detail"] else None}
                      for row in _plain(links)],
            "overrides": _plain(overrides),
        })
    note = stale(con)
    if note:
        out["note"] = note
    return out


def _first(values: pd.Series) -> str | None:
    present = values.dropna()
    return str(present.iloc[0]) if len(present) else None


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    return [{str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in out.to_dict(orient="records")]
