"""The Arrow tables of accounts, members, contacts, outcomes and subscriptions, and writing them.

(The activities and surveys tables are drawn in :mod:`commetrics.demo.activities` and
:mod:`commetrics.demo.surveys`.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .entities import _Accounts, _Contacts, _Members
from .helpers import _NULL, _ids, _labels, _nullable, _take, _timestamps, _width
from .outcomes import _Outcomes
from .params import (
    ACCOUNT_SUFFIXES,
    ACCOUNT_WORDS_1,
    ACCOUNT_WORDS_2,
    DAY,
    ENTRY_PATHS,
    FIRST_NAMES,
    JOB_ROLES,
    LAST_NAMES,
    PERSONAL_DOMAINS,
    SEGMENTS,
    STAFF_DOMAIN,
    STAFF_ROLE,
)
from .renewal import _Periods


def _write(path: Path, table: pa.Table) -> int:
    pq.write_table(table, path)
    return int(table.num_rows)


def _email(first: pa.Array, last: pa.Array, tail: pa.Array, domain: pa.Array | str) -> pa.Array:
    local = pc.utf8_lower(pc.binary_join_element_wise(first, last, "."))
    return pc.binary_join_element_wise(pc.binary_join_element_wise(local, tail, ""), domain, "@")


def _account_domains(accounts: _Accounts) -> pa.Array:
    w1 = pc.utf8_lower(_labels(ACCOUNT_WORDS_1, accounts.words[:, 0]))
    w2 = pc.utf8_lower(_labels(ACCOUNT_WORDS_2, accounts.words[:, 1]))
    number = pc.cast(pa.array(np.arange(1, accounts.n + 1)), pa.string())
    return pc.binary_join_element_wise(w1, w2, number, ".example", "")


def _accounts_table(accounts: _Accounts, account_ids: pa.Array, as_of: int) -> pa.Table:
    words = accounts.words
    name = pc.binary_join_element_wise(
        _labels(ACCOUNT_WORDS_1, words[:, 0]),
        _labels(ACCOUNT_WORDS_2, words[:, 1]),
        _labels(ACCOUNT_SUFFIXES, words[:, 2]),
        " ",
    )
    prospect = ~accounts.customer
    return pa.table(
        {
            "account_id": account_ids,
            "name": name,
            "domain": _account_domains(accounts),
            "segment": _labels(SEGMENTS, accounts.segment),
            "arr": pa.array(accounts.arr, type=pa.float64()),
            "seats": pa.array(accounts.seats, type=pa.int64()),
            "created_at": _timestamps(accounts.created),
            "employees": pa.array(accounts.employees, type=pa.int64()),
            "product_usage": pa.array(accounts.usage, type=pa.float64()),
            "support_tickets": pa.array(accounts.tickets, type=pa.int64()),
            "prior_nps": _nullable(accounts.prior_nps, prospect, pa.int64()),
            "tenure_days": _nullable((as_of - accounts.start) // DAY, prospect, pa.int64()),
        }
    )


def _people_columns(
    first: np.ndarray,
    last: np.ndarray,
    tail: pa.Array,
    account: np.ndarray,
    personal: np.ndarray,
    domains: pa.Array,
) -> tuple[pa.Array, pa.Array]:
    """Display names and e-mails (account domain for account members, personal otherwise)."""
    first_a, last_a = _labels(FIRST_NAMES, first), _labels(LAST_NAMES, last)
    name = pc.binary_join_element_wise(first_a, last_a, " ")
    work = _take(domains, account)
    domain = pc.coalesce(work, _labels(PERSONAL_DOMAINS, personal))
    return name, _email(first_a, last_a, tail, domain)


def _members_table(m: _Members, member_ids: pa.Array, account_ids: pa.Array, domains: pa.Array) -> pa.Table:
    number = pc.cast(pa.array(np.arange(1, m.n + 1)), pa.string())
    name, email = _people_columns(m.first, m.last, number, m.account, m.personal_domain, domains)
    staff_email = _email(_labels(FIRST_NAMES, m.first), _labels(LAST_NAMES, m.last), number, STAFF_DOMAIN)
    email = pc.if_else(pa.array(m.staff), staff_email, email)
    email = pc.if_else(pa.array(m.has_email), email, pa.scalar(None, pa.string()))
    handle = pc.binary_join_element_wise(
        pc.utf8_lower(_labels(FIRST_NAMES, m.first)),
        pc.utf8_lower(pc.utf8_slice_codeunits(_labels(LAST_NAMES, m.last), 0, 1)),
        number,
        "",
    )
    return pa.table(
        {
            "member_id": member_ids,
            "email": email,
            "handle": handle,
            "name": name,
            "joined_at": _timestamps(m.join),
            "entry_path": _labels(ENTRY_PATHS, m.path),
            "consent": _nullable(m.consent == 0, m.consent == 1, pa.bool_()),
            "account_id": _take(account_ids, m.account),
            "is_staff": pa.array(m.staff, type=pa.bool_()),
            "job_role": pc.coalesce(_labels(JOB_ROLES, m.role), pa.scalar(STAFF_ROLE)),
        }
    )


def _contacts_table(
    c: _Contacts,
    contact_ids: pa.Array,
    members: pa.Table,
    account_ids: pa.Array,
    domains: pa.Array,
    stage: np.ndarray,
) -> pa.Table:
    tail = pc.binary_join_element_wise("x", pc.cast(pa.array(c.number[c.member.size :]), pa.string()), "")
    name_o, email_o = _people_columns(
        c.first[c.member.size :],
        c.last[c.member.size :],
        tail,
        c.account[c.member.size :],
        c.personal_domain[c.member.size :],
        domains,
    )
    idx = pa.array(c.member)
    return pa.table(
        {
            "contact_id": contact_ids,
            "email": pa.concat_arrays([members["email"].combine_chunks().take(idx), email_o]),
            "name": pa.concat_arrays([members["name"].combine_chunks().take(idx), name_o]),
            "account_id": _take(account_ids, c.account),
            "lifecycle_stage": _labels(("lead", "opportunity", "customer"), stage),
            "created_at": _timestamps(c.created),
            "consent": _nullable(c.consent == 0, c.consent == 1, pa.bool_()),
        }
    )


def _outcome_table(out: _Outcomes, member_ids: pa.Array, contact_ids: pa.Array, account_ids: pa.Array) -> pa.Table:
    kinds = sorted({p[0] for p in out.parts})
    kind = np.concatenate([np.full(p[1].size, kinds.index(p[0]), np.int64) for p in out.parts])
    ts, member, contact, account, value = (np.concatenate([p[i] for p in out.parts]) for i in range(1, 6))
    order = np.lexsort((account, contact, member, kind, ts))
    kind, ts, member, contact, account, value = (x[order] for x in (kind, ts, member, contact, account, value))
    missing = np.isnan(value)
    return pa.table(
        {
            "outcome_id": _ids("o", np.arange(1, ts.size + 1), _width(ts.size, 9)),
            "member_id": _take(member_ids, member),
            "contact_id": _take(contact_ids, contact),
            "account_id": _take(account_ids, account),
            "ts": _timestamps(ts),
            "type": _labels(kinds, kind),
            "value": _nullable(np.where(missing, 0.0, value), missing, pa.float64()),
            "currency": _labels(("USD",), np.where(missing, _NULL, 0)),
        }
    )


def _subscriptions_table(periods: _Periods, account_ids: pa.Array) -> pa.Table:
    undecided = ~periods.decided.astype(bool)
    return pa.table(
        {
            "account_id": _take(account_ids, periods.account),
            "period_start": _timestamps(periods.start),
            "period_end": _timestamps(periods.end),
            "renewed": _nullable(periods.renewed.astype(bool), undecided, pa.bool_()),
            "arr_before": pa.array(periods.arr_before, type=pa.float64()),
            "arr_after": _nullable(np.nan_to_num(periods.arr_after), undecided, pa.float64()),
        }
    )


def _engaged_table(periods: _Periods, window_count: np.ndarray, account_ids: pa.Array) -> pa.Table:
    d = np.flatnonzero(periods.decided)
    return pa.table(
        {
            "account_id": _take(account_ids, periods.account[d]),
            "period_start": _timestamps(periods.start[d]),
            "period_end": _timestamps(periods.end[d]),
            "engaged": pa.array(periods.engaged[d].astype(bool)),
            "window_activities": pa.array(window_count, type=pa.int64()),
            "propensity": pa.array(periods.propensity[d], type=pa.float64()),
            "p_renew_if_engaged": pa.array(periods.p1[d], type=pa.float64()),
            "p_renew_if_not_engaged": pa.array(periods.p0[d], type=pa.float64()),
            "renewed": pa.array(periods.renewed[d].astype(bool)),
        }
    )
