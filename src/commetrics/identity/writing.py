"""Writing a resolution into the store: people with their accounts, the links, the records as
linkage saw them; only the rows that changed.

A full run and an incremental one both end here: each hands over the new rows for a set of
records (every record, or the people a load touched) and only the rows that differ are deleted
and inserted. Rows of ``people`` that did not change are never rewritten; a person whose records
did not change keeps its id and its rows.

**People → accounts.** A person's account is, in this order: the account of their most recent CRM
contact that names one (``contact``), else of their most recent member record that does
(``member``), else the account whose domain is the domain of one of their work addresses
(``domain``; free-mail domains never match, and a domain two accounts share matches neither).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from . import rules

__all__ = ["IdentityRun", "accounts_sql", "record_run", "replace_rows", "totals"]


@dataclass(frozen=True)
class IdentityRun:
    """What one resolution of the store did.

    ``records``, ``people``, ``links_by_rule``, ``with_account`` and ``accounts_by_rule`` describe the
    whole store after the run; ``mode`` is ``full`` or ``incremental``, and ``work`` says how much
    the run did (records read, re-normalised, rescored, re-clustered; rows written).
    """

    records: int
    people: int
    links_by_rule: dict[str, int]
    with_account: int
    accounts_by_rule: dict[str, int]
    seconds: float
    notes: tuple[str, ...] = ()
    mode: str = "full"
    work: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "people": self.people, "links_by_rule": self.links_by_rule,
                "people_with_account": self.with_account, "accounts_by_rule": self.accounts_by_rule,
                "seconds": round(self.seconds, 3), "notes": list(self.notes), "mode": self.mode, "work": self.work}


def totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """The store's records, people, links per rule and people with an account per rule."""
    records, people = con.execute("select count(*), count(distinct person_id) from people").fetchall()[0]
    links = dict(con.execute("select rule, count(*) from identity_links group by all order by all").fetchall())
    accounts = dict(con.execute("select account_rule, count(distinct person_id) from people "
                                "where account_rule is not null group by all order by all").fetchall())
    return (int(records), int(people), {str(k): int(v) for k, v in links.items()},
            {str(k): int(v) for k, v in accounts.items()})


def record_run(con: duckdb.DuckDBPyConnection, run: IdentityRun, *, threshold: float, probabilistic: bool,
               last_load_id: int | None, state: dict[str, Any], model: dict[str, Any]) -> None:
    """Add the run to ``identity_runs``, with the state the next run builds on (``state``) and the
    model it scored with (``model``), inside the caller's transaction."""
    stats = {**run.as_dict(), "state": state, "model": model}
    con.execute("insert into identity_runs select coalesce(max(run_id), 0) + 1, now(), ?, ?, ?, ?, ?, ?, ? "
                "from identity_runs",
                [last_load_id, run.records, run.people, threshold, probabilistic, run.seconds, json.dumps(stats)])


def accounts_sql(people: str, *, schema: str = "") -> str:
    """One row per person of ``people`` (``record_id``, ``person_id``, ``member_id``, ``contact_id``: all
    of each person's records) with an account: ``person_id``, ``account_id``, ``account_rule``.
    ``schema`` names where the store's tables are (``"db.main"``; "" for the current one). Binds
    ``$free_mail``.

    Within a rule the most recent record wins (a contact's ``created_at``, a member's ``joined_at``).
    """
    at = f"{schema}." if schema else ""
    return f"""
with chosen as (
    select record_id, person_id, member_id, contact_id from {people}
),
domains as (
    select {rules.domain_sql('domain')} as domain, min(account_id) as account_id
    from {at}accounts
    where domain is not null
    group by all
    having count(distinct account_id) = 1
),
addresses as materialized (
    select 'm:' || m.member_id as record_id, {rules.email_sql('m.email')} as email, m.joined_at as seen_at
    from {at}members as m
    where m.member_id in (select member_id from chosen)
    union all
    select 'c:' || c.contact_id, {rules.email_sql('c.email')}, c.created_at
    from {at}contacts as c
    where c.contact_id in (select contact_id from chosen)
),
candidates as (
    select p.person_id, 1 as rank, c.account_id, c.created_at as seen_at
    from chosen as p join {at}contacts as c on p.contact_id = c.contact_id
    where c.account_id is not null
    union all
    select p.person_id, 2, m.account_id, m.joined_at
    from chosen as p join {at}members as m on p.member_id = m.member_id
    where m.account_id is not null
    union all
    select p.person_id, 3, d.account_id, e.seen_at
    from chosen as p
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


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, new: str, *, key: tuple[str, ...],
                 scope: str | None = None) -> tuple[int, int]:
    """Make the rows of ``table`` within ``scope`` those of ``new``, touching only rows that differ;
    returns (rows deleted, rows inserted).

    ``new`` has ``table``'s columns; ``key`` names the columns that identify a row; ``scope`` is a
    condition on ``table``'s rows (``t.``) that says which rows ``new`` replaces (None: all).
    A row equal in every column (nulls equal) is left alone. Runs inside the caller's transaction.
    """
    where = f"where {scope}" if scope else ""
    con.execute(f"create or replace temp table _replace_added as select * from {new} "
                f"except select t.* from {table} as t {where}")
    con.execute(f"create or replace temp table _replace_removed as select t.* from {table} as t {where} "
                f"except select * from {new}")
    match = " and ".join(f"{table}.{k} = r.{k}" for k in key)
    deleted = int(con.execute(f"delete from {table} using (select distinct {', '.join(key)} "
                              f"from _replace_removed) as r where {match}").fetchall()[0][0])
    inserted = int(con.execute(f"insert into {table} select * from _replace_added").fetchall()[0][0])
    con.execute("drop table _replace_added")
    con.execute("drop table _replace_removed")
    return deleted, inserted
