"""Outcome rows, and planted effect 1: acquisition by entry path.

**Acquisition by entry path.** Every member who is neither staff nor an existing customer (about
5 % of members had a trial, and often a purchase, *before* joining) starts a trial (outcome
``trial_start`` keyed by ``member_id``) within 90 days of joining with probability
``TRIAL_P[entry_path]``: seo 0.08, webinar 0.20 (2.5 x seo), referral 0.16 (2x), event 0.12
(1.5x), direct 0.08. The delay from join to trial is exponential with mean 20 days truncated to
[0, 90) days, so the probability of converting within W days is
``TRIAL_P[path] * (1 - exp(-W/20)) / (1 - exp(-90/20))`` and the webinar/seo ratio is 2.5 in every
window. A few non-converters start a trial later than 91 days. CRM contacts who never joined
convert at a lower base rate (0.04 within 90 days of their creation).

Besides sign-ups and demo requests, trials lead on to activations, purchases, upgrades and
cross-sells; customer accounts add their first purchase, renewals, churn and upgrades at renewal.
All outcomes (also the accepted answers and referrals derived in :mod:`commetrics.demo.activities`)
are gathered in :class:`_Outcomes`, which drops rows after ``as_of``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .entities import _Accounts, _Contacts, _Members
from .helpers import _NULL, _exp_seconds, _lognormal_money, _money, _seconds
from .params import (
    ACTIVATION_P,
    CONTACT_TRIAL_P,
    CROSS_SELL_P,
    DAY,
    DEMO_REQUEST_P,
    ENTRY_PATHS,
    LATE_TRIAL_MEAN_DAYS,
    LATE_TRIAL_MIN_DAYS,
    LATE_TRIAL_P,
    TRIAL_MAX_DAYS,
    TRIAL_MEAN_DAYS,
    TRIAL_P,
    TRIAL_PURCHASE_P,
    UPGRADE_P,
)
from .renewal import _Periods


@dataclass
class _Outcomes:
    """Outcome rows gathered from every stage; rows after ``as_of`` are dropped on entry."""

    as_of: int
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(
        self,
        kind: str,
        ts: np.ndarray,
        *,
        member: np.ndarray | None = None,
        contact: np.ndarray | None = None,
        account: np.ndarray | None = None,
        value: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add rows; return the mask of rows kept (``ts <= as_of``)."""
        ts = np.asarray(ts, dtype=np.int64)
        keep = ts <= self.as_of
        none = np.full(ts.size, _NULL, dtype=np.int64)

        def col(x: np.ndarray | None) -> np.ndarray:
            return none[keep] if x is None else np.asarray(x, dtype=np.int64)[keep]

        money = np.full(ts.size, np.nan) if value is None else np.asarray(value, dtype=np.float64)
        self.parts.append((kind, ts[keep], col(member), col(contact), col(account), money[keep]))
        return keep


def _trial_delay_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exponential(mean 20 d) truncated to [0, 90) d, by inverting its distribution function."""
    tail = 1.0 - math.exp(-TRIAL_MAX_DAYS / TRIAL_MEAN_DAYS)
    return -TRIAL_MEAN_DAYS * np.log1p(-rng.random(n) * tail)


def _trial_cdf(days: float) -> float:
    """P(delay <= days) of :func:`_trial_delay_days`."""
    days = min(max(days, 0.0), TRIAL_MAX_DAYS)
    return (1.0 - math.exp(-days / TRIAL_MEAN_DAYS)) / (1.0 - math.exp(-TRIAL_MAX_DAYS / TRIAL_MEAN_DAYS))


@dataclass
class _Converted:
    trial: np.ndarray  # bool per unit: a trial_start observed by as_of
    purchase: np.ndarray


def _purchases_and_more(
    rng: np.random.Generator,
    out: _Outcomes,
    unit: np.ndarray,
    trial_ts: np.ndarray,
    n_units: int,
    key: str,
    account: np.ndarray,
) -> _Converted:
    """Trials -> activation, purchase -> upgrade / cross-sell, for members or contacts."""
    extra = {key: unit, "account": account[unit]}
    kept = out.add("trial_start", trial_ts, **extra)
    trial = np.zeros(n_units, dtype=bool)
    trial[unit[kept]] = True
    act = rng.random(unit.size) < ACTIVATION_P
    out.add(
        "activation",
        (trial_ts + 3600 + _exp_seconds(rng, 4.0, unit.size))[act],
        **{k: v[act] for k, v in extra.items()},
    )
    buy = rng.random(unit.size) < TRIAL_PURCHASE_P
    buy_ts = trial_ts + 3 * DAY + _exp_seconds(rng, 25.0, unit.size)
    sel = {k: v[buy] for k, v in extra.items()}
    kept = out.add("purchase", buy_ts[buy], value=_lognormal_money(rng, 3000.0, 0.8, int(buy.sum())), **sel)
    purchase = np.zeros(n_units, dtype=bool)
    purchase[unit[buy][kept]] = True
    _expansions(rng, out, buy_ts[buy], sel)
    return _Converted(trial=trial, purchase=purchase)


def _expansions(rng: np.random.Generator, out: _Outcomes, buy_ts: np.ndarray, keys: dict[str, np.ndarray]) -> None:
    n = buy_ts.size
    for kind, p, lag, mean, median in (
        ("upgrade", UPGRADE_P, 30, 150.0, 1500.0),
        ("cross_sell", CROSS_SELL_P, 60, 200.0, 2000.0),
    ):
        hit = rng.random(n) < p
        ts = buy_ts + lag * DAY + _exp_seconds(rng, mean, n)
        out.add(
            kind,
            ts[hit],
            value=_lognormal_money(rng, median, 0.7, int(hit.sum())),
            **{k: v[hit] for k, v in keys.items()},
        )


def _member_outcomes(rng: np.random.Generator, m: _Members, out: _Outcomes) -> _Converted:
    """Sign-ups, pre-join conversions of existing customers, and planted trials."""
    people = np.flatnonzero(~m.staff)
    out.add("signup", m.join[people], member=people, account=m.account[people])
    # existing customers: a trial 5-400 days before joining, often a purchase before joining too
    ex = np.flatnonzero(m.existing)
    lead = _seconds(rng, 395, ex.size) + 5 * DAY
    ex_trial = m.join[ex] - lead
    out.add("trial_start", ex_trial, member=ex, account=m.account[ex])
    bought = rng.random(ex.size) < 0.6
    ex_buy = (ex_trial + lead * rng.uniform(0.1, 0.9, ex.size)).astype(np.int64)[bought]
    out.add(
        "purchase",
        ex_buy,
        member=ex[bought],
        account=m.account[ex[bought]],
        value=_lognormal_money(rng, 3000.0, 0.8, ex_buy.size),
    )
    _expansions(rng, out, ex_buy, {"member": ex[bought], "account": m.account[ex[bought]]})
    # planted: trial within 90 days with P = TRIAL_P[path]; a few late trials after 91 days
    eligible = np.flatnonzero(~m.staff & ~m.existing)
    p = np.array([TRIAL_P[name] for name in ENTRY_PATHS])[m.path[eligible]]
    hit = rng.random(eligible.size) < p
    delay = np.floor(_trial_delay_days(rng, int(hit.sum())) * DAY).astype(np.int64)
    rest = eligible[~hit]
    late = rest[rng.random(rest.size) < LATE_TRIAL_P]
    late_delay = int(LATE_TRIAL_MIN_DAYS * DAY) + _exp_seconds(rng, LATE_TRIAL_MEAN_DAYS, late.size)
    unit = np.concatenate([eligible[hit], late])
    trial_ts = np.concatenate([m.join[eligible[hit]] + delay, m.join[late] + late_delay])
    converted = _purchases_and_more(rng, out, unit, trial_ts, m.n, "member", m.account)
    converted.trial[ex[ex_trial <= out.as_of]] = True
    converted.purchase[ex[bought]] = True
    demo = eligible[rng.random(eligible.size) < DEMO_REQUEST_P]
    out.add("demo_request", m.join[demo] + _exp_seconds(rng, 30.0, demo.size), member=demo, account=m.account[demo])
    return converted


def _contact_outcomes(rng: np.random.Generator, c: _Contacts, out: _Outcomes) -> _Converted:
    """Contacts who never joined: trials at the lower base rate, within 90 days of creation."""
    others = c.others
    hit = others[rng.random(others.size) < CONTACT_TRIAL_P]
    delay = np.floor(_trial_delay_days(rng, hit.size) * DAY).astype(np.int64)
    return _purchases_and_more(rng, out, hit, c.created[hit] + delay, c.n, "contact", c.account)


def _account_outcomes(accounts: _Accounts, periods: _Periods, out: _Outcomes) -> None:
    customers = np.flatnonzero(accounts.customer)
    out.add("purchase", accounts.start[customers], account=customers, value=accounts.arr[customers])
    decided = np.flatnonzero(periods.decided)
    acc, end = periods.account[decided], periods.end[decided]
    renewed = periods.renewed[decided]
    before, after = periods.arr_before[decided], periods.arr_after[decided]
    out.add("renewal", end[renewed], account=acc[renewed], value=after[renewed])
    out.add("churn", end[~renewed], account=acc[~renewed], value=before[~renewed])
    grew = renewed & (after > before * 1.05)
    out.add("upgrade", end[grew], account=acc[grew], value=_money(after[grew] - before[grew]))


def _lifecycle(c: _Contacts, accounts: _Accounts, m_conv: _Converted, c_conv: _Converted) -> np.ndarray:
    trial = c_conv.trial.copy()
    purchase = c_conv.purchase.copy()
    trial[: c.member.size] |= m_conv.trial[c.member]
    purchase[: c.member.size] |= m_conv.purchase[c.member]
    customer_account = np.zeros(c.n, dtype=bool)
    has = c.account >= 0
    customer_account[has] = accounts.customer[c.account[has]]
    return np.where(purchase | customer_account, 2, np.where(trial, 1, 0))
