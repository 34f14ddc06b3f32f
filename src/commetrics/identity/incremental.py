"""Incremental resolution: only what the loads since the last run touched.

The first half (:class:`commetrics.identity.changes.Changes`) finds the records whose row as
linkage sees it changed (``dirty``: new and changed records, and the records of groups they
joined or left) and the deterministic links of the addresses concerned. Then:

1. **scoring**: with the stored model, the candidate pairs that involve a dirty record, and only
   those: the dirty records and the stored records that share a blocking key with one, with the
   Splink blocking rules restricted to pairs with a dirty side (``scoring.score(marked_only=True)``).
2. **scope**: the links of the store, less those the changes made stale (probabilistic links of
   dirty records, deterministic links of the addresses concerned, overrides), plus the new ones;
   from every record a change touched, the scope grows to whole people (as they were) and along
   the links (as they are now) until it is closed: a set of whole connected components.
3. **clustering** of the scope alone with the same constraint logic as a full run (one address
   per work domain, unlink overrides, ambiguous links dropped): a component's people depend on
   its records and links only, so the result is the full run's for these records.
4. **writing**: the rows of ``people`` (with accounts), the links and ``identity_records`` that
   changed, in one transaction. People outside the scope keep their ids and rows; their
   accounts are recomputed only where an account loaded since concerns them.

It stops with :class:`NeedsFull` (and the caller runs a full resolution) when the stored state
does not add up.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..progress import Reporter
from . import features, rules, state
from .changes import Changes
from .full import LINK_COLUMNS
from .linkage import BLOCKING_KEYS
from .linkage.clusters import _cluster, _override_links
from .linkage.inputs import _overrides_table
from .linkage.model import _quiet_splink
from .linkage.pipeline import _scratch
from .linkage.scoring import review_floor, score, split_near
from .writing import IdentityRun, accounts_sql, record_run, replace_rows

__all__ = ["NeedsFull", "resolve_incremental"]


class NeedsFull(Exception):
    """The stored state does not allow an incremental run; the message says why."""


def resolve_incremental(con: duckdb.DuckDBPyConnection, plan: state.Plan, *, threshold: float, probabilistic: bool,
                        patterns: tuple[str, ...], settings: dict[str, Any], report: Reporter,
                        started: float, review_margin: float = 0.0) -> IdentityRun:
    """Resolve what the loads since the last run touched (see the module docstring)."""
    store = str(con.execute("select current_database()").fetchall()[0][0])
    model = plan.stored.model if plan.stored else None
    _, last = state.last_state(con)
    assert last is not None  # the plan is incremental only after a run that kept its state
    with _scratch(con) as cur:
        changes = Changes(cur, store, rules.free_mail_pattern(patterns), model)
        with report.stage("reading", unit="records") as advance:
            work: dict[str, Any] = {"touched": changes.read(plan.last_load_id)}
            advance(work["touched"])
        if int(last["records"]) + changes.new_records() != plan.records:
            raise NeedsFull(f"the stored records ({int(last['records']):,} and {changes.new_records():,} new) do not "
                            f"match the store's {plan.records:,} members and contacts")
        with report.stage("normalising", unit="records") as advance:
            work["respelled"] = changes.respell()
            work["normalised"] = changes.featurise()
            changes.regroup()
            det_links = changes.relink()
            work["dirty"] = changes.finish()
            advance(work["normalised"])
        predicted = pd.DataFrame(columns=list(LINK_COLUMNS))
        near = pd.DataFrame(columns=list(LINK_COLUMNS))
        if model is not None and plan.stored is not None:
            with report.stage("training", detail=f"reusing the model trained {plan.stored.trained_at[:19]} on "
                                                 f"{plan.stored.records:,} records"):
                pass
            with report.stage("scoring", total=work["dirty"], unit="records"):
                if work["dirty"]:
                    table, work["candidates"] = _candidates(cur, changes.s)
                    with _quiet_splink():
                        predicted, near = split_near(score(cur, table, model, review_floor(threshold, review_margin),
                                                           marked_only=True), threshold)
        work["pairs_scored_above_threshold"] = len(predicted)
        with report.stage("clustering", unit="records") as advance:
            _links_now(cur, changes.s, det_links, predicted)
            index = _scope(cur, changes.s)
            people, kept, dropped = _cluster_scope(cur, changes.s, index)
            work["scope"] = len(index)
            advance(len(index))
        with report.stage("writing", total=plan.records, unit="records"):
            return _write(con, cur, people, kept, dropped, near, plan=plan, last=last, threshold=threshold,
                          probabilistic=probabilistic, patterns=patterns, settings=settings, work=work,
                          started=started)


def _candidates(cur: duckdb.DuckDBPyConnection, s: str) -> tuple[str, int]:
    """A uniquely named table of the records to score: the dirty ones (``marked``) and the stored
    records sharing a blocking key with one; a stored record's other keys are nulled, so that no
    pair without a dirty side is even formed. Returns its name and its size."""
    stored = ""  # the dirty records without a new row (an override changed): a read of every stored column
    if cur.execute("select exists (select 1 from dirty where record_id not in (select record_id from rows))"
                   ).fetchall()[0][0]:
        stored = f"""union all select * from {s}.identity_records
            where record_id in (select record_id from dirty) and record_id not in (select record_id from rows)"""
    cur.execute(f"""
        create or replace table dirty_rows as
        select * exclude (featured) from rows where record_id in (select record_id from dirty)
        {stored}
    """)
    shared = {key: f"(select {key} from dirty_rows where {key} is not null)" for key in BLOCKING_KEYS}
    kept = ", ".join(f"case when m.{key} in {shared[key]} then m.{key} end as {key}" for key in BLOCKING_KEYS)
    table = f"_scratch_identity_linkage_{uuid.uuid4().hex[:12]}"
    cur.execute(f"""
        create table {table} as
        select *, true as marked from dirty_rows
        union all
        select m.* replace ({kept}), false from {s}.identity_records as m
        where m.record_id not in (select record_id from dirty_rows)
            and ({' or '.join(f'm.{key} in {shared[key]}' for key in BLOCKING_KEYS)})
    """)
    return table, int(cur.execute(f"select count(*) from {table}").fetchall()[0][0])


def _links_now(cur: duckdb.DuckDBPyConnection, s: str, det_links: pd.DataFrame, predicted: pd.DataFrame) -> None:
    """``links_now``: every link of the store as it is after the changes, kept or dropped before;
    ``seeds``: the records whose links changed, or that a change names."""
    overrides = _overrides_table(cur.execute(f"select record_a, record_b, decision from {s}.identity_overrides "
                                             "where record_a in (select record_id from now_ids) "
                                             "and record_b in (select record_id from now_ids)").df())
    new = pd.concat([det_links, predicted, _override_links(overrides)], ignore_index=True)[list(LINK_COLUMNS)]
    cur.register("_new_links", new.astype({"match_probability": "float64", "match_weight": "float64"}))
    cur.execute("create or replace table new_links as select record_a, record_b, rule, match_probability, "
                "match_weight, detail::varchar as detail from _new_links")
    cur.unregister("_new_links")
    columns = ", ".join(c if c != "detail" else "detail::varchar as detail" for c in LINK_COLUMNS)
    cur.execute(f"""
        create or replace table stale as
        select record_a, record_b, rule from (
            select {columns} from {s}.identity_links union all select {columns} from {s}.identity_dropped_links
        )
        where rule = 'override'
            or (rule = 'probabilistic' and (record_a in (select record_id from dirty)
                                            or record_b in (select record_id from dirty)))
            or (rule in ('email', 'map') and {features.EVIDENCE_EMAIL_SQL} in (select email from emails2))
    """)
    cur.execute(f"""
        create or replace view links_now as
        select {columns} from {s}.identity_links as l
        where not exists (select 1 from stale as x where x.record_a = l.record_a and x.record_b = l.record_b
                          and x.rule = l.rule)
        union all
        select {columns} from {s}.identity_dropped_links as l
        where not exists (select 1 from stale as x where x.record_a = l.record_a and x.record_b = l.record_b
                          and x.rule = l.rule)
        union all
        select * from new_links
    """)
    cur.execute("""
        create or replace table seeds as
        select record_id from dirty
        union select record_id from override_records
        union select record_a from stale where rule <> 'override'
        union select record_b from stale where rule <> 'override'
        union select record_a from new_links where rule <> 'override'
        union select record_b from new_links where rule <> 'override'
    """)


def _scope(cur: duckdb.DuckDBPyConnection, s: str) -> pd.Index:
    """The closed scope: from the seeds, whole people as they were and the links as they are now,
    until nothing is added. Returns its record ids in order (the records the store holds now)."""
    cur.execute("create or replace table scope as select record_id from seeds "
                "where record_id in (select record_id from now_ids)")
    while int(cur.execute(f"""
            insert into scope
            select distinct record_id from (
                select record_id from {s}.people where person_id in (
                    select person_id from {s}.people where record_id in (select record_id from scope))
                union all select record_b from links_now where record_a in (select record_id from scope)
                union all select record_a from links_now where record_b in (select record_id from scope)
            ) where record_id not in (select record_id from scope)""").fetchall()[0][0]):
        pass  # each round reaches one link (or one old person) further
    ids = cur.execute("select record_id from scope order by record_id").df()["record_id"]
    return pd.Index(ids.to_numpy(dtype=object))


def _cluster_scope(cur: duckdb.DuckDBPyConnection, s: str,
                   index: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """People of the scope, with the constraints of a full run: (people, kept links, dropped links)."""
    links = cur.execute("select * from links_now where record_a in (select record_id from scope)").df()
    overrides = _overrides_table(cur.execute(f"select record_a, record_b, decision from {s}.identity_overrides "
                                             "where record_a in (select record_id from scope) "
                                             "and record_b in (select record_id from scope)").df())
    work = cur.execute(f"""
        select record_id, email_domain, email from (
            select record_id, email, email_domain, email_is_free from rows
            union all
            select record_id, email, email_domain, email_is_free from {s}.identity_records
            where record_id not in (select record_id from rows)
        )
        where record_id in (select record_id from scope) and email is not null and not email_is_free
    """).df()
    links["match_probability"] = links["match_probability"].astype("float64")
    links["match_weight"] = links["match_weight"].astype("float64")
    return _cluster(index, links, overrides, work)


def _write(con: duckdb.DuckDBPyConnection, cur: duckdb.DuckDBPyConnection, people: pd.DataFrame,
           kept: pd.DataFrame, dropped: pd.DataFrame, near: pd.DataFrame, *, plan: state.Plan, last: dict[str, Any],
           threshold: float, probabilistic: bool, patterns: tuple[str, ...], settings: dict[str, Any],
           work: dict[str, Any], started: float) -> IdentityRun:
    """Write the changed rows in one transaction: a failure leaves the previous resolution in place."""
    s = f"{con.execute('select current_database()').fetchall()[0][0]}.main"
    x = f"{cur.execute('select current_database()').fetchall()[0][0]}.main"
    ids = people["record_id"].to_numpy(dtype=object)
    member = np.where(pd.Series(ids).str.startswith("m:"), pd.Series(ids).str.slice(2), None)
    contact = np.where(pd.Series(ids).str.startswith("c:"), pd.Series(ids).str.slice(2), None)
    cur.register("_scope_people", people.assign(member_id=member, contact_id=contact))
    cur.execute("create or replace table scope_people as select record_id, person_id, member_id, contact_id, rule "
                "from _scope_people")
    cur.unregister("_scope_people")
    # the records whose account may change: the scope, the people of touched records, the people with a
    # work address at the domain of an account loaded since, and those a domain gave such an account (a
    # load that replaced the account's row may have taken the domain away)
    # (the last two only when accounts were loaded since: a join of every person with every record otherwise)
    finders = [f"select person_id from {s}.people where record_id in (select record_id from touched)"]
    if int(cur.execute("select count(*) from account_domains").fetchall()[0][0]):
        finders.append(f"""select p.person_id from {s}.people as p join {s}.identity_records as r using (record_id)
            where r.email_domain in (select domain from account_domains) and not r.email_is_free""")
    if int(cur.execute("select count(*) from changed_accounts").fetchall()[0][0]):
        finders.append(f"""select person_id from {s}.people
            where account_rule = 'domain' and account_id in (select account_id from changed_accounts)""")
    cur.execute(f"""
        create or replace table account_records as
        with persons as ({' union '.join(finders)})
        select record_id from scope
        union
        select record_id from {s}.people where person_id in (select person_id from persons)
    """)
    cur.execute(f"""
        create or replace table people_now as
        select * from scope_people
        union all
        select record_id, person_id, member_id, contact_id, rule from {s}.people
        where record_id in (select record_id from account_records) and record_id not in (select record_id from scope)
    """)
    cur.execute(f"create or replace table accounts_now as {accounts_sql('people_now', schema=s)}",
                {"free_mail": rules.free_mail_pattern(patterns)})
    cur.execute("create or replace table people_rows as select p.*, a.account_id, a.account_rule "
                "from people_now as p left join accounts_now as a using (person_id)")
    for name, frame in (("kept_links", kept), ("dropped_links", dropped), ("near_links", near)):
        cur.register("_frame", frame[list(LINK_COLUMNS)].astype({"match_probability": "float64",
                                                                "match_weight": "float64"}))
        cur.execute(f"create or replace table {name} as select * from _frame")
        cur.unregister("_frame")
    in_scope = f"(t.record_a in (select record_id from {x}.scope) or t.record_b in (select record_id from {x}.scope))"
    con.execute("begin transaction")
    try:
        old = con.execute(f"select count(distinct person_id) from {s}.people where record_id in "
                          f"(select record_id from {x}.account_records)").fetchall()[0][0]
        before = _accounts_by_rule(con, f"{s}.people", f"{x}.account_records")
        # the rows that differ from the stored ones are known (``differing``): replacing only those spares two
        # reads of every column of the stored records
        con.execute(f"delete from identity_records where record_id in (select record_id from {x}.differing)")
        con.execute(f"insert into identity_records select * exclude (featured) from {x}.rows "
                    f"where record_id in (select record_id from {x}.differing)")
        written = replace_rows(con, "people", f"{x}.people_rows", key=("record_id",),
                               scope=f"t.record_id in (select record_id from {x}.account_records)")
        replace_rows(con, "identity_links", f"{x}.kept_links", key=("record_a", "record_b"), scope=in_scope)
        replace_rows(con, "identity_dropped_links", f"{x}.dropped_links", key=("record_a", "record_b"),
                     scope=in_scope)
        # every pair with a dirty record was scored again: its near miss (or none) replaces the stored one
        replace_rows(con, "identity_near_links", f"{x}.near_links", key=("record_a", "record_b"),
                     scope=f"(t.record_a in (select record_id from {x}.dirty) "
                           f"or t.record_b in (select record_id from {x}.dirty))")
        con.execute("delete from identity_overrides_applied")
        con.execute("insert into identity_overrides_applied "
                    "select record_a, record_b, decision from identity_overrides")
        new = con.execute(f"select count(distinct person_id) from {x}.people_rows").fetchall()[0][0]
        after = _accounts_by_rule(con, f"{x}.people_rows", f"{x}.account_records")
        accounts = {rule: int(last.get("accounts_by_rule", {}).get(rule, 0)) - before.get(rule, 0) + after.get(rule, 0)
                    for rule in sorted({*last.get("accounts_by_rule", {}), *after})}
        accounts = {rule: n for rule, n in accounts.items() if n}
        persons = int(last["people"]) - int(old) + int(new)
        links_by_rule = {str(k): int(v) for k, v in con.execute(
            "select rule, count(*) from identity_links group by all order by all").fetchall()}
        records = int(con.execute("select count(*) from identity_records").fetchall()[0][0])
        work.update({"people_rows_deleted": written[0], "people_rows_inserted": written[1]})
        run = IdentityRun(records=records, people=persons, links_by_rule=links_by_rule,
                          with_account=sum(accounts.values()), accounts_by_rule=accounts,
                          seconds=time.perf_counter() - started, mode="incremental", work=work)
        record_run(con, run, threshold=threshold, probabilistic=probabilistic, last_load_id=plan.newest_load,
                   state={**last, "settings": settings, "records": records, "people": persons,
                          "accounts_by_rule": accounts},
                   model={"model_id": last.get("model_id")})
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return run


def _accounts_by_rule(con: duckdb.DuckDBPyConnection, people: str, records: str) -> dict[str, int]:
    """People with an account per rule among the rows of ``people`` for the records of ``records``."""
    rows = con.execute(f"select account_rule, count(distinct person_id) from {people} where account_rule is not null "
                       f"and record_id in (select record_id from {records}) group by all").fetchall()
    return {str(rule): int(n) for rule, n in rows}
