"""Identity resolution in the store: members and contacts into ``people``, and people into accounts.

:func:`resolve_store` resolves one identity record per member and per contact (``"m:" +
member_id``, ``"c:" + contact_id``) with the explicit ``identity_maps`` and the manual
``identity_overrides`` into three tables, in one transaction:

* ``people``: one row per record, its ``person_id`` (``"p:"`` + the person's smallest record id,
  stable across runs), the rule that put it there, and the person's account (see
  :mod:`commetrics.identity.writing`);
* ``identity_links``: every link that formed a person, with its evidence or match weights;
* ``identity_runs``: one row per run (counts, threshold, the last load it saw, what it did).

A run is **incremental** by default (:mod:`commetrics.identity.incremental`): it resolves the
records the loads since the last run touched, and the people they may join or leave, with the
stored model, and writes only the rows that changed. It is **full**
(:mod:`commetrics.identity.full`) the first time, on request (``full=True``), after the settings
changed, when the model is trained again (``retrain=True``, or the records grew by
``retrain_growth`` since it was trained), and when the stored state does not add up (an erasure).
Both give the same people from the same records and model (see ``docs/identity.md``).

Overrides live in ``identity_overrides`` and are inputs to every run, so they survive re-runs
and re-loads. Analyses read ``people`` through :func:`person_keys` (see
:mod:`commetrics.metrics.conversion`): a member or contact loaded after the last run counts as a
person of its own until the next run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from typing import Any

import duckdb
import pandas as pd

from ..errors import InputError, UnknownNameError
from ..progress import Progress, Reporter
from ..store import table_exists
from . import rules
from .writing import IdentityRun

__all__ = ["IDENTITY_INPUTS", "IdentityRun", "explain", "member_contacts", "record_ids", "remove_override",
           "resolve_store", "set_override", "stale"]


#: The loads that change who is who, or a record's account domain (a value linkage compares) and a
#: person's account: a load of one of these tables makes the last run stale. A load of accounts
#: alone reaches only the records of the accounts it loaded, and the people with a work address at
#: one of their domains (see :mod:`commetrics.identity.changes`).
IDENTITY_INPUTS = ("members", "contacts", "identity_maps", "accounts")


def resolve_store(con: duckdb.DuckDBPyConnection, *, threshold: float = 0.9, probabilistic: bool = True,
                  free_mail: Iterable[str] = (), progress: Progress | None = None, full: bool = False,
                  retrain: bool = False, incremental: bool = True, retrain_growth: float = 1.25,
                  review_margin: float = 0.05) -> IdentityRun:
    """Resolve the members and contacts of the store into ``people`` (see the module docstring).

    ``free_mail`` adds domain patterns to :data:`commetrics.identity.rules.DEFAULT_FREE_MAIL`.
    ``full`` resolves every record; ``retrain`` trains the model again first (and resolves every
    record); ``incremental=False`` makes every run a full one. The tables are written in one
    transaction: a failure leaves the previous resolution in place. Stages reported to
    ``progress`` (operation ``identity``): ``reading``, ``normalising``, ``training`` (the model
    trained, or the stored one reused), ``scoring``, ``clustering``, ``writing`` (the model's
    two only when there is one).
    """
    from . import state  # Splink and its stack load only when resolution runs
    from .full import resolve_full
    from .incremental import NeedsFull, resolve_incremental
    from .linkage import check_threshold

    check_threshold(threshold)
    started = time.perf_counter()
    if _nothing_to_resolve(con):
        return IdentityRun(records=0, people=0, links_by_rule={}, with_account=0, accounts_by_rule={}, seconds=0.0,
                           mode="full", work={"reason": "nothing to resolve: no members or contacts yet",
                                              "trained": False, "records": 0})
    extra = tuple(free_mail)
    patterns = (*rules.DEFAULT_FREE_MAIL, *extra)
    report = Reporter(progress, "identity")
    settings = state.fingerprint(threshold, probabilistic, extra, review_margin)
    plan = state.plan(con, settings=settings, full=full or retrain, retrain=retrain, incremental=incremental,
                      retrain_growth=retrain_growth)
    options: dict[str, Any] = {"threshold": threshold, "probabilistic": probabilistic, "patterns": patterns,
                               "settings": settings, "report": report, "started": started,
                               "review_margin": review_margin}
    if plan.incremental:
        try:
            return resolve_incremental(con, plan, **options)
        except NeedsFull as reason:
            plan = dataclasses.replace(plan, incremental=False, reason=str(reason))
    return resolve_full(con, plan, **options)


def _nothing_to_resolve(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store holds no member or contact and was never resolved (e.g. accounts loaded
    first): a run would record an empty resolution, so none runs."""
    return not con.execute("select exists (select 1 from members) or exists (select 1 from contacts) "
                           "or exists (select 1 from identity_runs)").fetchall()[0][0]


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
        return (f"{newer} load{'s' if newer != 1 else ''} of members, contacts, identity maps or accounts came after "
                "the last identity resolution; their new records count as people of their own. "
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
