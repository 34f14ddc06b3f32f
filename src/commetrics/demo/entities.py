"""The population: accounts, members and CRM contacts, and activity rows before their columns are drawn.

Each is a dataclass of parallel NumPy arrays (one entry per account, member or contact), drawn
first and then used by the later stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .helpers import _NULL, _money, _pick, _seconds
from .params import (
    ACCOUNT_MEMBER_SHARE,
    ACCOUNT_SUFFIXES,
    ACCOUNT_WORDS_1,
    ACCOUNT_WORDS_2,
    CONSENT_SHARES,
    CUSTOMER_SHARE,
    DAY,
    ENTRY_PATHS,
    ENTRY_SHARES,
    EXISTING_CUSTOMER_SHARE,
    FIRST_NAMES,
    HISTORY_DAYS,
    JOB_ROLE_SHARES,
    JOIN_GROWTH,
    LAST_NAMES,
    LOG_ARR_CENTER,
    LOG_ARR_SCALE,
    MEMBERS_PER_ACCOUNT,
    NO_EMAIL_SHARE,
    PERSONAL_DOMAINS,
    SEGMENT_MEDIAN_EMPLOYEES,
    SEGMENT_MEMBER_WEIGHT,
    SEGMENT_SHARES,
    STAFF_SHARE,
    USAGE_CENTER,
    USAGE_SCALE,
)


def _join_times(rng: np.random.Generator, n: int, start: int, as_of: int) -> np.ndarray:
    """Instants in ``[start, as_of)`` with a density growing ``JOIN_GROWTH``-fold."""
    span = as_of - start
    frac = np.log1p(rng.random(n) * (JOIN_GROWTH - 1.0)) / math.log(JOIN_GROWTH)
    return np.minimum(start + np.floor(frac * span).astype(np.int64), as_of - 1)


@dataclass
class _Accounts:
    segment: np.ndarray  # int8 code into SEGMENTS
    employees: np.ndarray
    seats: np.ndarray  # 0 for prospects
    arr: np.ndarray  # contracted ARR at purchase; 0 for prospects
    customer: np.ndarray  # bool
    start: np.ndarray  # first subscription start (seconds); meaningful for customers only
    created: np.ndarray
    usage: np.ndarray
    tickets: np.ndarray
    prior_nps: np.ndarray  # -1 = null
    member_weight: np.ndarray
    words: np.ndarray  # (n, 3) codes into ACCOUNT_WORDS_1, ACCOUNT_WORDS_2, ACCOUNT_SUFFIXES

    @property
    def n(self) -> int:
        return len(self.segment)

    def z_log_arr(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return (np.log(np.where(self.arr > 0, self.arr, np.nan)) - LOG_ARR_CENTER) / LOG_ARR_SCALE

    def z_usage(self) -> np.ndarray:
        return (self.usage - USAGE_CENTER) / USAGE_SCALE


def _make_accounts(rng: np.random.Generator, n: int, start: int, as_of: int) -> _Accounts:
    segment = _pick(rng, SEGMENT_SHARES, n)
    log_emp = np.log(np.array(SEGMENT_MEDIAN_EMPLOYEES))[segment] + rng.normal(0.0, 0.6, n)
    employees = np.maximum(np.round(np.exp(log_emp)), 2).astype(np.int64)
    seat_share = np.clip(np.exp(rng.normal(math.log(0.1), 0.5, n)), 0.01, 1.0)
    seats = np.maximum(np.round(employees * seat_share), 3).astype(np.int64)
    price = np.exp(rng.normal(math.log(400.0), 0.3, n))
    potential_arr = _money(seats * price)
    customer = rng.random(n) < CUSTOMER_SHARE
    # customers started between 150 d before the community opened and 20 d before as_of, so
    # every exposure window of a decided renewal lies inside the community's history
    first = start - 150 * DAY
    sub_start = first + np.floor(rng.random(n) * (as_of - 20 * DAY - first)).astype(np.int64)
    prospect_created = start - 365 * DAY + _seconds(rng, HISTORY_DAYS + 365 - 1, n)
    created = np.where(customer, sub_start - DAY - _seconds(rng, 365, n), prospect_created)
    z_arr = (np.log(potential_arr) - LOG_ARR_CENTER) / LOG_ARR_SCALE
    usage = np.round(np.clip(USAGE_CENTER + 8.0 * z_arr + rng.normal(0.0, USAGE_SCALE, n), 0, 100), 1)
    tickets = rng.poisson(1.0 + seats / 25.0).astype(np.int64)
    nps = np.clip(np.round(rng.normal(7.0 + 0.05 * (usage - USAGE_CENTER), 2.0)), 0, 10).astype(np.int64)
    words = np.stack([rng.integers(0, len(w), n) for w in (ACCOUNT_WORDS_1, ACCOUNT_WORDS_2, ACCOUNT_SUFFIXES)], axis=1)
    return _Accounts(
        segment=segment,
        employees=employees,
        seats=np.where(customer, seats, 0),
        arr=np.where(customer, potential_arr, 0.0),
        customer=customer,
        start=sub_start,
        created=created,
        usage=usage,
        tickets=tickets,
        prior_nps=np.where(customer, nps, _NULL),
        member_weight=np.array(SEGMENT_MEMBER_WEIGHT)[segment] * np.exp(rng.normal(0.0, 0.5, n)),
        words=words,
    )


@dataclass
class _Members:
    join: np.ndarray  # seconds
    path: np.ndarray  # int8 code into ENTRY_PATHS
    staff: np.ndarray
    consent: np.ndarray  # 0 true, 1 null, 2 false
    account: np.ndarray  # account index or -1
    champion: np.ndarray  # member index per account (the first member assigned)
    existing: np.ndarray  # existing customer: trial (and maybe purchase) before joining
    has_email: np.ndarray
    first: np.ndarray
    last: np.ndarray
    role: np.ndarray  # code into JOB_ROLES, -1 for staff
    personal_domain: np.ndarray

    @property
    def n(self) -> int:
        return len(self.join)


def _assign_accounts(rng: np.random.Generator, staff: np.ndarray, accounts: _Accounts) -> tuple[np.ndarray, np.ndarray]:
    """Account index per member (-1 = none) and the champion (first member) of each account."""
    n = len(staff)
    account = np.full(n, _NULL, dtype=np.int64)
    if accounts.n == 0:
        return account, np.zeros(0, dtype=np.int64)
    candidates = np.flatnonzero(~staff)
    chosen = rng.permutation(candidates)[: min(len(candidates), round(ACCOUNT_MEMBER_SHARE * n))]
    champion = chosen[: accounts.n]
    account[champion] = np.arange(accounts.n)
    rest = chosen[accounts.n :]
    cum = np.cumsum(accounts.member_weight)
    account[rest] = np.minimum(np.searchsorted(cum, rng.random(len(rest)) * cum[-1], side="right"), accounts.n - 1)
    return account, champion


def _account_count(members: int) -> int:
    account_members = round(ACCOUNT_MEMBER_SHARE * members)
    return 0 if account_members < 1 else max(1, min(account_members, round(account_members / MEMBERS_PER_ACCOUNT)))


def _make_members(rng: np.random.Generator, n: int, accounts: _Accounts, start: int, as_of: int) -> _Members:
    join = _join_times(rng, n, start, as_of)
    staff = rng.random(n) < STAFF_SHARE
    path = np.where(staff, ENTRY_PATHS.index("direct"), _pick(rng, ENTRY_SHARES, n)).astype(np.int8)
    account, champion = _assign_accounts(rng, staff, accounts)
    existing = ~staff & (rng.random(n) < EXISTING_CUSTOMER_SHARE / (1.0 - STAFF_SHARE))
    return _Members(
        join=join,
        path=path,
        staff=staff,
        consent=_pick(rng, CONSENT_SHARES, n),
        account=account,
        champion=champion,
        existing=existing,
        has_email=staff | (rng.random(n) >= NO_EMAIL_SHARE),
        first=rng.integers(0, len(FIRST_NAMES), n),
        last=rng.integers(0, len(LAST_NAMES), n),
        role=np.where(staff, _NULL, _pick(rng, JOB_ROLE_SHARES, n)),
        personal_domain=rng.integers(0, len(PERSONAL_DOMAINS), n),
    )


@dataclass
class _Contacts:
    member: np.ndarray  # member index per member contact
    created: np.ndarray  # all contacts: member contacts first, then the others
    account: np.ndarray
    consent: np.ndarray
    first: np.ndarray
    last: np.ndarray
    personal_domain: np.ndarray
    number: np.ndarray  # contact number used in the id (a permutation)

    @property
    def n(self) -> int:
        return len(self.created)

    @property
    def others(self) -> np.ndarray:
        return np.arange(self.member.size, self.n)


def _make_contacts(rng: np.random.Generator, m: _Members, accounts: _Accounts, start: int, as_of: int) -> _Contacts:
    member = np.flatnonzero(m.has_email & ~m.staff)
    n_other = round(0.5 * m.n)
    before = rng.random(member.size) < 0.3
    created_m = np.where(
        before,
        m.join[member] - _seconds(rng, 365, member.size),
        np.minimum(m.join[member] + _seconds(rng, 2, member.size), as_of),
    )
    created_o = _join_times(rng, n_other, start, as_of)
    other_account = np.full(n_other, _NULL, dtype=np.int64)
    if accounts.n:
        assigned = rng.random(n_other) < 0.4
        cum = np.cumsum(accounts.member_weight)
        pick = np.minimum(np.searchsorted(cum, rng.random(n_other) * cum[-1], side="right"), accounts.n - 1)
        other_account = np.where(assigned, pick, _NULL)
    n = member.size + n_other
    return _Contacts(
        member=member,
        created=np.concatenate([created_m, created_o]),
        account=np.concatenate([m.account[member], other_account]),
        consent=np.concatenate([m.consent[member], _pick(rng, (0.80, 0.12, 0.08), n_other)]),
        first=np.concatenate([m.first[member], rng.integers(0, len(FIRST_NAMES), n_other)]),
        last=np.concatenate([m.last[member], rng.integers(0, len(LAST_NAMES), n_other)]),
        personal_domain=np.concatenate([m.personal_domain[member], rng.integers(0, len(PERSONAL_DOMAINS), n_other)]),
        number=rng.permutation(n) + 1,
    )


@dataclass
class _Rows:
    """Activity rows before their columns are drawn: member index and instant."""

    member: np.ndarray
    ts: np.ndarray
