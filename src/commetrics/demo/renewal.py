"""Planted effect 2: yearly subscriptions, engagement and confounded renewal.

**Confounded renewal.** Customer accounts have yearly subscription periods. For every decided
renewal (``period_end <= as_of``) the account is *engaged* with a probability that grows with its
size (log ARR, segment) and product usage; engaged means the account's members together have at
least ``K = 5`` activities in ``[period_end - 180 d, period_end - 60 d)``, and the activities table
is built so that this definition recovers the planted flag exactly (:func:`_window_rows` puts the
activities inside the windows, :mod:`commetrics.demo.activities` keeps the rest outside them).
Renewal is then drawn from a logistic model in the same covariates plus ``tau * engaged``. The raw
renewal difference (engaged minus not engaged) is therefore much larger than the true average
effect; ``ground_truth.json`` gives the true ATE and ATT on the risk-difference scale and the
expected naive difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .entities import _Accounts, _Members, _Rows
from .helpers import _money, _seconds, _sigmoid
from .params import (
    DAY,
    ENGAGED_EXTRA_MEAN,
    ENGAGED_MIN_ACTIVITIES,
    EXPOSURE_END_DAYS,
    EXPOSURE_START_DAYS,
    PERIOD_DAYS,
    PROPENSITY,
    RENEWAL,
    SEGMENTS,
)


def _linear(coefs: dict[str, Any], z_arr: np.ndarray, z_usage: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The linear predictor of a logistic model of :data:`PROPENSITY` or :data:`RENEWAL`."""
    seg = np.array([coefs["segment"][s] for s in SEGMENTS])
    lin = coefs["intercept"] + coefs["z_log_arr"] * z_arr + coefs["z_usage"] * z_usage + seg[segment]
    return np.asarray(lin, dtype=np.float64)


@dataclass
class _Periods:
    account: np.ndarray
    start: np.ndarray
    end: np.ndarray
    decided: np.ndarray
    engaged: np.ndarray  # planted; False where undecided
    renewed: np.ndarray  # False where undecided
    arr_before: np.ndarray
    arr_after: np.ndarray  # NaN where undecided
    propensity: np.ndarray
    p0: np.ndarray  # P(renew | x, not engaged)
    p1: np.ndarray  # P(renew | x, engaged)


def _make_periods(rng: np.random.Generator, accounts: _Accounts, as_of: int) -> _Periods:
    """Yearly periods of customer accounts; engagement and renewal of each decided period."""
    period = PERIOD_DAYS * DAY
    z_arr, z_usage = accounts.z_log_arr(), accounts.z_usage()
    lin_e = _linear(PROPENSITY, z_arr, z_usage, accounts.segment)
    lin_r = _linear(RENEWAL, z_arr, z_usage, accounts.segment)
    parts: list[dict[str, np.ndarray]] = []
    alive = np.flatnonzero(accounts.customer)
    arr = accounts.arr.copy()
    k = 0
    while alive.size:
        begin = accounts.start[alive] + k * period
        alive = alive[begin <= as_of]
        if not alive.size:
            break
        begin = accounts.start[alive] + k * period
        end = begin + period
        decided = end <= as_of
        propensity = _sigmoid(lin_e[alive])
        engaged = decided & (rng.random(alive.size) < propensity)
        p0 = _sigmoid(lin_r[alive])
        p1 = _sigmoid(lin_r[alive] + RENEWAL["engaged"])
        renewed = decided & (rng.random(alive.size) < np.where(engaged, p1, p0))
        before = arr[alive]
        grown = _money(before * np.exp(rng.normal(0.06, 0.10, alive.size)))
        after = np.where(decided, np.where(renewed, grown, 0.0), np.nan)
        arr[alive] = np.where(renewed, grown, before)
        parts.append(
            {
                "account": alive,
                "start": begin,
                "end": end,
                "decided": decided,
                "engaged": engaged,
                "renewed": renewed,
                "arr_before": before,
                "arr_after": after,
                "propensity": propensity,
                "p0": p0,
                "p1": p1,
            }
        )
        alive = alive[renewed]
        k += 1
    if not parts:  # no customer account has begun a period: empty arrays of the types the later stages index with
        ints, flags = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        floats = np.zeros(0, dtype=np.float64)
        return _Periods(account=ints, start=ints, end=ints, decided=flags, engaged=flags, renewed=flags,
                        arr_before=floats, arr_after=floats, propensity=floats, p0=floats, p1=floats)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((merged["end"], merged["account"]))
    return _Periods(**{key: value[order] for key, value in merged.items()})


def _windows(periods: _Periods, n_accounts: int, as_of: int) -> tuple[np.ndarray, np.ndarray]:
    """Exposure windows ``[lo, hi)`` of decided renewals per account, shape (accounts, max)."""
    decided = np.flatnonzero(periods.decided)
    acc = periods.account[decided].astype(np.int64)
    counts = np.bincount(acc, minlength=n_accounts)
    width = int(counts.max()) if counts.size else 0
    lo = np.full((n_accounts, width), as_of, dtype=np.int64)
    hi = np.full((n_accounts, width), as_of, dtype=np.int64)
    if decided.size:
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(decided.size) - first[acc]  # periods are sorted by (account, end)
        lo[acc, slot] = periods.end[decided] - EXPOSURE_START_DAYS * DAY
        hi[acc, slot] = periods.end[decided] - EXPOSURE_END_DAYS * DAY
    return lo, hi


def _settle_champions(rng: np.random.Generator, m: _Members, lo: np.ndarray, start: int, as_of: int) -> None:
    """Make each account's champion join before its first exposure window (so it can engage)."""
    if lo.shape[1] == 0:
        return
    first_window = lo[:, 0]
    has_window = first_window < as_of  # accounts without a decided renewal hold the sentinel as_of
    champion = m.champion
    target = np.maximum(first_window - _seconds(rng, 30, len(champion)), start)
    m.join[champion] = np.where(has_window, np.minimum(m.join[champion], target), m.join[champion])


def _window_rows(rng: np.random.Generator, periods: _Periods, m: _Members) -> tuple[_Rows, np.ndarray]:
    """Activities inside the exposure windows: >= K when engaged, < K otherwise."""
    decided = np.flatnonzero(periods.decided)
    engaged = periods.engaged[decided]
    k = ENGAGED_MIN_ACTIVITIES
    extra = rng.negative_binomial(1, 1.0 / (1.0 + ENGAGED_EXTRA_MEAN), decided.size)
    low = np.where(rng.random(decided.size) < 0.5, 0, rng.integers(1, k, decided.size))
    count = np.where(engaged, k + extra, low).astype(np.int64)
    acc = periods.account[decided].astype(np.int64)
    lo = periods.end[decided] - EXPOSURE_START_DAYS * DAY
    hi = periods.end[decided] - EXPOSURE_END_DAYS * DAY
    # members of each account sorted by join; the first c joined at least a day before hi
    in_acc = np.flatnonzero(m.account >= 0)
    order = in_acc[np.lexsort((m.join[in_acc], m.account[in_acc]))]
    base, span = int(m.join.min()), 2**34  # key = account * span + seconds since the first join
    key = m.account[order] * span + (m.join[order] - base)
    first = np.searchsorted(key, acc * span)
    eligible = np.searchsorted(key, acc * span + np.maximum(hi - DAY - base, 0)) - first
    if np.any(eligible[count > 0] < 1):
        raise RuntimeError("an account has no member who joined before its exposure window")
    row_period = np.repeat(np.arange(decided.size), count)
    pos = first[row_period] + np.floor(rng.random(row_period.size) * eligible[row_period]).astype(np.int64)
    member = order[pos]
    begin = np.maximum(m.join[member], lo[row_period])
    ts = begin + np.floor(rng.random(row_period.size) * (hi[row_period] - begin)).astype(np.int64)
    sort = np.lexsort((ts, member))
    return _Rows(member=member[sort], ts=ts[sort]), count
