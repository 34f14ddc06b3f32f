"""Full resolution of the store: every record read, normalised, scored and clustered again.

It runs the first time, after ``commetrics identity resolve --full`` or ``retrain``, when the
settings or the model changed, and when the stored state cannot be trusted (see
:func:`commetrics.identity.state.plan`). With the stored model it scores exactly as incremental
runs do; when the plan says so it trains a new model first and keeps it. Only the rows of
``people`` (and of the links) that changed are written.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import pandas as pd

from ..progress import Reporter
from . import rules, state
from .linkage import FREQUENCY_COLUMNS, MIN_RECORDS_FOR_PROBABILISTIC
from .linkage.clusters import _cluster, _override_links
from .linkage.inputs import _known_overrides, _maps_table, _overrides_table, _records_table
from .linkage.pipeline import _link, _scratch
from .writing import IdentityRun, accounts_sql, record_run, replace_rows, totals

__all__ = ["LINK_COLUMNS", "resolve_full"]

#: The columns of ``identity_links``, ``identity_dropped_links`` and ``identity_near_links``, in order.
LINK_COLUMNS = ("record_a", "record_b", "rule", "match_probability", "match_weight", "detail")


def resolve_full(con: duckdb.DuckDBPyConnection, plan: state.Plan, *, threshold: float, probabilistic: bool,
                 patterns: tuple[str, ...], settings: dict[str, Any], report: Reporter, started: float,
                 review_margin: float = 0.0) -> IdentityRun:
    """Resolve every record of the store (see the module docstring)."""
    with report.stage("reading", unit="records") as advance:
        records = _records_table(con.sql(state.records_sql()).to_arrow_table())
        maps = con.sql("select distinct email, member_id, handle from identity_maps").to_arrow_table()
        overrides = _overrides_table(con.execute("select record_a, record_b, decision from identity_overrides").df())
        advance(records.num_rows)
    store = str(con.execute("select current_database()").fetchall()[0][0])
    notes: list[str] = []
    with _scratch(con) as cur:
        stored = plan.stored.model if plan.stored and not plan.train else None
        lookups = None
        if stored is not None:
            lookups = {c: f"stored_{c}_frequency" for c in FREQUENCY_COLUMNS}
            for column, table in lookups.items():
                cur.execute(f"create table {table} as "
                            f"{state.frequency_lookup_sql(column, f'{store}.main.identity_records')}")
        few = records.num_rows < MIN_RECORDS_FOR_PROBABILISTIC  # the model is skipped, and says so
        use_model = probabilistic and (few or plan.train or stored is not None)
        if probabilistic and not use_model and plan.stored is not None:
            notes.append(f"probabilistic linkage skipped: {plan.stored.note}")
        linked = _link(cur, records, _maps_table(maps) if maps.num_rows else None, threshold=threshold,
                       probabilistic=use_model, free_mail_regex=rules.free_mail_pattern(patterns), report=report,
                       model=stored, lookups=lookups, review_margin=review_margin)
        if linked.stats.get("note"):
            notes.append(str(linked.stats["note"]))
        with report.stage("clustering", total=len(linked.index), unit="records"):
            overrides, skipped = _known_overrides(overrides, linked.index)
            links = pd.concat([linked.links, _override_links(overrides)], ignore_index=True)
            people, kept, dropped = _cluster(linked.index, links, overrides, linked.work_emails)
        if skipped:
            notes.append(f"{skipped} override{'s' if skipped != 1 else ''} name a record no longer in the store "
                         "(erased or never loaded) and were skipped.")
        with report.stage("writing", total=len(people), unit="records"):
            return _write(con, cur, linked, people, kept, dropped, plan=plan, threshold=threshold,
                          probabilistic=probabilistic, patterns=patterns, settings=settings, notes=notes,
                          started=started)


def _write(con: duckdb.DuckDBPyConnection, cur: duckdb.DuckDBPyConnection, linked: Any, people: pd.DataFrame,
           kept: pd.DataFrame, dropped: pd.DataFrame, *, plan: state.Plan, threshold: float, probabilistic: bool,
           patterns: tuple[str, ...], settings: dict[str, Any], notes: list[str], started: float) -> IdentityRun:
    """Write everything in one transaction: a failure leaves the previous resolution in place."""
    scratch = str(cur.execute("select current_database()").fetchall()[0][0])
    people = people.assign(
        member_id=lambda f: f["record_id"].where(f["record_id"].str.startswith("m:")).str.slice(2),
        contact_id=lambda f: f["record_id"].where(f["record_id"].str.startswith("c:")).str.slice(2),
    )
    have = set(cur.sql(f"select * from {linked.table} limit 0").columns)
    columns = ", ".join(c if c in have else f"null::double as {c}" for c in state.RECORD_COLUMNS)
    con.execute("begin transaction")
    try:
        model_id = plan.stored.model_id if plan.stored and not plan.train else None
        if plan.train:
            model_id = state.save_model(con, linked.model, records=len(linked.index),
                                        note=str(linked.stats.get("note", "")),
                                        seconds=float(linked.stats.get("seconds_probabilistic", 0.0)))
        elif linked.model is None:
            model_id = None
        con.execute("delete from identity_records")
        con.execute(f"insert into identity_records select {columns} from {scratch}.main.{linked.table}")
        con.register("_resolved_people", people)
        con.execute("create or replace temp table _people_new as select record_id, person_id, member_id, contact_id, "
                    "rule from _resolved_people")
        con.unregister("_resolved_people")
        con.execute(f"create or replace temp table _accounts_new as {accounts_sql('_people_new')}",
                    {"free_mail": rules.free_mail_pattern(patterns)})
        con.execute("create or replace temp table _people_rows as select p.*, a.account_id, a.account_rule "
                    "from _people_new as p left join _accounts_new as a using (person_id)")
        written = replace_rows(con, "people", "_people_rows", key=("record_id",))
        near = linked.near if linked.near is not None else pd.DataFrame(columns=list(LINK_COLUMNS))
        for table, frame in (("identity_links", kept), ("identity_dropped_links", dropped),
                             ("identity_near_links", near)):
            con.register("_resolved_links", frame[list(LINK_COLUMNS)])
            con.execute(f"create or replace temp table _links_new as select {', '.join(LINK_COLUMNS)} "
                        "from _resolved_links")
            con.unregister("_resolved_links")
            replace_rows(con, table, "_links_new", key=("record_a", "record_b"))
        con.execute("delete from identity_overrides_applied")
        con.execute("insert into identity_overrides_applied "
                    "select record_a, record_b, decision from identity_overrides")
        for temp in ("_people_new", "_accounts_new", "_people_rows", "_links_new"):
            con.execute(f"drop table {temp}")
        records, persons, links_by_rule, accounts = totals(con)
        run = IdentityRun(records=records, people=persons, links_by_rule=links_by_rule,
                          with_account=sum(accounts.values()), accounts_by_rule=accounts,
                          seconds=time.perf_counter() - started, notes=tuple(notes), mode="full",
                          work={"reason": plan.reason, "trained": bool(linked.trained), "records": records,
                                "people_rows_deleted": written[0], "people_rows_inserted": written[1]})
        record_run(con, run, threshold=threshold, probabilistic=probabilistic, last_load_id=plan.newest_load,
                   state={"settings": settings, "model_id": model_id, "records": records, "people": persons,
                          "accounts_by_rule": accounts},
                   model=_model_stats(linked))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return run


def _model_stats(linked: Any) -> dict[str, Any]:
    stats = linked.stats
    return {key: stats[key] for key in ("probability_two_random_records_match", "pairs_scored_above_threshold",
                                        "seconds_deterministic", "seconds_probabilistic") if key in stats}
