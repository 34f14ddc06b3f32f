"""What identity resolution keeps in the store between runs, and how a run decides what to do.

* ``identity_records``: every record as linkage last saw it (``features.COLUMNS``), with its
  deterministic component (``det_cluster``) and the term frequencies of its values as the model
  knows them (``freq_*``). An incremental run compares a touched record with its row here, and
  scores new pairs from these rows without normalising the store again.
* ``identity_dropped_links``: the links a constraint set aside; a later change to the person may
  need them again.
* ``identity_overrides_applied``: the overrides the last run applied, so the next one sees which
  changed.
* ``identity_model``: each trained model (Splink's model JSON), the newest used; it holds no
  record's values. The frequencies stay with the records, so erasing a record erases them too.
* ``identity_runs.stats`` ``state``: what the rows above were built with (the settings, the model,
  how many records), so that a run knows whether it can build on them.

:func:`plan` decides between an incremental run, a full one with the stored model, and a full one
that trains a new model first (see ``docs/identity.md``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from ..store import table_exists
from . import features, rules
from .linkage import FREQUENCY_COLUMNS, MAX_BLOCK_SIZE, MIN_RECORDS_FOR_PROBABILISTIC, Model

__all__ = ["STATE_VERSION", "Plan", "StoredModel", "frequency_lookup_sql", "load_model", "maps_sql", "plan",
           "records_sql", "save_model"]

#: Bump when the rules or features change what a record's row holds: the next run is then a full one.
STATE_VERSION = 1

#: The columns of ``identity_records``, in order.
RECORD_COLUMNS = (*features.COLUMNS, "det_cluster", *(f"freq_{c}" for c in FREQUENCY_COLUMNS))


def records_sql(members: str = "", contacts: str = "", *, schema: str = "") -> str:
    """One identity record per member (``"m:" + member_id``: its latest e-mail, name and handle over
    its rows, and the domain of its account) and per contact (``"c:" + contact_id``), ordered by id;
    ``members`` / ``contacts`` restrict them (a condition on ``member_id`` / ``contact_id``), and
    ``schema`` names where the store's tables are (``"db.main"``; "" for the current one)."""
    at = f"{schema}." if schema else ""
    return f"""
with accounts_by_id as (
    select account_id, max({rules.domain_sql('domain')}) as domain from {at}accounts group by account_id
),
member_rows as (
    select
        member_id,
        arg_max(email, load_id) filter (where email is not null) as email,
        arg_max(name, load_id) filter (where name is not null) as name,
        arg_max(handle, load_id) filter (where handle is not null) as handle,
        arg_max(account_id, load_id) filter (where account_id is not null) as account_id
    from {at}members
    {f'where {members}' if members else ''}
    group by member_id
),
contact_rows as (
    select
        contact_id,
        arg_max(email, load_id) filter (where email is not null) as email,
        arg_max(name, load_id) filter (where name is not null) as name,
        arg_max(account_id, load_id) filter (where account_id is not null) as account_id
    from {at}contacts
    {f'where {contacts}' if contacts else ''}
    group by contact_id
)
select 'm:' || m.member_id as record_id, 'member' as source, m.email, m.name, m.handle, a.domain as account_domain
from member_rows as m left join accounts_by_id as a using (account_id)
union all
select 'c:' || c.contact_id, 'contact', c.email, c.name, null, a.domain
from contact_rows as c left join accounts_by_id as a using (account_id)
order by record_id
"""


def maps_sql(where: str = "", *, schema: str = "") -> str:
    """The explicit maps of ``identity_maps`` as linkage reads them (``record_id``, ``handle``,
    ``email``, normalised), optionally only the rows ``where`` names (``schema`` as in ``records_sql``)."""
    return (f"select distinct 'm:' || member_id as record_id, {rules.handle_sql('handle')} as handle, "
            f"{rules.email_sql('email')} as email from {f'{schema}.' if schema else ''}identity_maps "
            f"{f'where {where}' if where else ''}")


def frequency_lookup_sql(column: str, source: str = "identity_records", where: str = "") -> str:
    """The frequencies of ``column``'s values as the stored records hold them (``<column>``,
    ``tf_<column>``): the lookup a model scores with after it was trained."""
    return (f"select {column}, any_value(freq_{column}) as tf_{column} from {source} "
            f"where {column} is not null and freq_{column} is not null {f'and {where}' if where else ''} "
            "group by all")


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredModel:
    """The newest row of ``identity_model``: a model, or why there is none (``note``)."""

    model_id: int
    model: Model | None
    records: int
    trained_at: str
    note: str


def load_model(con: duckdb.DuckDBPyConnection) -> StoredModel | None:
    """The newest trained model of the store (None before the first training)."""
    row = con.execute("select model_id, settings, floor, company_floor, records, trained_at::varchar, note "
                      "from identity_model order by model_id desc limit 1").fetchone()
    if row is None:
        return None
    model_id, settings, floor, company_floor, records, trained_at, note = row
    model = Model(json.loads(settings), float(floor), float(company_floor), int(records)) if settings else None
    return StoredModel(int(model_id), model, int(records), str(trained_at), str(note or ""))


def save_model(con: duckdb.DuckDBPyConnection, model: Model | None, *, records: int, note: str,
               seconds: float) -> int:
    """Add a trained model (or the reason none could be trained) to the store; returns its id."""
    model_id = int(con.execute("select coalesce(max(model_id), 0) + 1 from identity_model").fetchall()[0][0])
    con.execute("insert into identity_model values (?, now(), ?, ?, ?, ?, ?, ?)",
                [model_id, records, json.dumps(model.settings) if model else None, model.floor if model else None,
                 model.company_floor if model else None, note or None, seconds])
    return model_id


# --- the plan of a run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a run does: ``incremental`` or not; ``train`` a new model first (then never
    incremental), or score with ``stored`` (None: no model, only the deterministic rules);
    ``reason`` says why, in words, when the run is a full one. The run resolves the loads after
    ``last_load_id`` (the last run's) up to ``newest_load``; ``records`` are the store's."""

    incremental: bool
    train: bool
    stored: StoredModel | None
    reason: str
    last_load_id: int | None
    newest_load: int | None
    records: int


def fingerprint(threshold: float, probabilistic: bool, free_mail: tuple[str, ...],
                review_margin: float = 0.0) -> dict[str, Any]:
    """The settings a store's identity state was built with: a change to any of them needs a full run."""
    return {"version": STATE_VERSION, "threshold": threshold, "probabilistic": probabilistic,
            "free_mail": sorted(free_mail), "max_block_size": MAX_BLOCK_SIZE, "review_margin": review_margin}


def last_state(con: duckdb.DuckDBPyConnection) -> tuple[int | None, dict[str, Any] | None]:
    """The last run's ``last_load_id`` and the ``state`` it recorded (None for neither)."""
    row = con.execute("select last_load_id, stats from identity_runs order by run_id desc limit 1").fetchone()
    if row is None:
        return None, None
    stats = json.loads(row[1]) if row[1] else {}
    return (int(row[0]) if row[0] is not None else None), stats.get("state")


def plan(con: duckdb.DuckDBPyConnection, *, settings: dict[str, Any], full: bool, retrain: bool, incremental: bool,
         retrain_growth: float) -> Plan:
    """Decide what a run does (see the module docstring and ``docs/identity.md``)."""
    records = int(con.execute("select (select count(distinct member_id) from members) "
                              "+ (select count(distinct contact_id) from contacts)").fetchall()[0][0])
    last_load, state = last_state(con)
    stored = load_model(con) if table_exists(con, "identity_model") else None
    probabilistic = bool(settings["probabilistic"]) and records >= MIN_RECORDS_FOR_PROBABILISTIC
    train, why_train = False, ""
    if probabilistic:
        if retrain:
            train, why_train = True, "asked to train the model again"
        elif stored is None:
            train, why_train = True, "no model was trained yet"
        elif records > retrain_growth * stored.records:
            train, why_train = True, (f"the records grew from {stored.records:,} to {records:,} since the model was "
                                      f"trained (more than {retrain_growth}×)")
        elif state is None or state.get("model_id") != stored.model_id:
            train, why_train = True, "the stored records were not scored with the stored model"
    model_id = (stored.model_id if stored else None) if probabilistic else None
    reasons = [why_train] if train else []
    if full:
        reasons.append("asked for a full resolution")
    elif not incremental:
        reasons.append("incremental resolution is off ([identity] incremental = false)")
    elif state is None:
        reasons.append("no earlier run kept its state")
    elif state.get("settings") != settings:
        reasons.append("the identity settings changed since the last run")
    elif not train and state.get("model_id") != model_id:
        reasons.append("the model changed since the last run")
    elif int(con.execute("select count(*) from identity_records").fetchall()[0][0]) != state.get("records"):
        reasons.append("the stored records changed outside resolution (an erasure, a restore)")
    newest = con.execute("select max(load_id) from load_ledger").fetchall()[0][0]
    return Plan(incremental=not reasons, train=train, stored=stored if probabilistic else None,
                reason="; ".join(reasons), last_load_id=last_load,
                newest_load=int(newest) if newest is not None else None, records=records)
