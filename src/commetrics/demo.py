"""A seeded synthetic B2B customer community with known, planted effects.

``generate(members, seed, out_dir)`` writes one Parquet file per canonical table (see
:mod:`commetrics.schema`) plus ``ground_truth.json``, which states the effects planted in the
data, so that every analysis of commetrics can be checked against a known answer. The same
``(members, seed, as_of, activities_per_member)`` always gives byte-identical files: all
randomness comes from ``numpy.random.default_rng`` seeded from ``seed``, never from the clock.

Planted effects
---------------
1. **Acquisition by entry path.** Every member who is neither staff nor an existing customer
   (about 5 % of members had a trial, and often a purchase, *before* joining) starts a trial
   (outcome ``trial_start`` keyed by ``member_id``) within 90 days of joining with probability
   ``TRIAL_P[entry_path]``: seo 0.08, webinar 0.20 (2.5 x seo), referral 0.16 (2x), event 0.12
   (1.5x), direct 0.08. The delay from join to trial is exponential with mean 20 days truncated
   to [0, 90) days, so the probability of converting within W days is
   ``TRIAL_P[path] * (1 - exp(-W/20)) / (1 - exp(-90/20))`` and the webinar/seo ratio is 2.5 in
   every window. A few non-converters start a trial later than 91 days. CRM contacts who never
   joined convert at a lower base rate (0.04 within 90 days of their creation).
2. **Confounded renewal.** Customer accounts have yearly subscription periods. For every
   decided renewal (``period_end <= as_of``) the account is *engaged* with a probability that
   grows with its size (log ARR, segment) and product usage; engaged means the account's members
   together have at least ``K = 5`` activities in ``[period_end - 180 d, period_end - 60 d)``,
   and the activities table is built so that this definition recovers the planted flag exactly.
   Renewal is then drawn from a logistic model in the same covariates plus ``tau * engaged``. The
   raw renewal difference (engaged minus not engaged) is therefore much larger than the true
   average effect; ``ground_truth.json`` gives the true ATE and ATT on the risk-difference scale
   and the expected naive difference.
3. **NPS and activity.** NPS responses come after the member joined; the latent score rises
   with ``ln(1 + activities of the member before the response)``.

Everything else (names, e-mails, programs, tags, purchases, upgrades, accepted answers, ...) is
plausible noise around these effects.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commetrics import schema
from commetrics.errors import InputError

__all__ = ["DEFAULT_AS_OF", "GENERATOR_VERSION", "DemoFiles", "generate"]

GENERATOR_VERSION = "1"
DEFAULT_AS_OF = datetime(2026, 6, 30, tzinfo=UTC)

#: canonical tables in load order
LOAD_ORDER = ("accounts", "members", "contacts", "activities", "outcomes", "subscriptions", "surveys")
GROUND_TRUTH_FILE = "ground_truth.json"
ENGAGED_FILE = "truth_renewal_engaged.parquet"
#: extra columns that the loader folds into ``attributes``
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("employees", "product_usage", "support_tickets", "prior_nps", "tenure_days"),
    "members": ("job_role",),
}

DAY = 86_400  # seconds
HISTORY_DAYS = 730
JOIN_GROWTH = 3.0  # joins per day at as_of / joins per day two years earlier
ACTIVITY_CHUNK_ROWS = 2_000_000

# --- members -------------------------------------------------------------------------------
ENTRY_PATHS = ("seo", "webinar", "referral", "event", "direct")
ENTRY_SHARES = (0.35, 0.15, 0.12, 0.13, 0.25)
STAFF_SHARE = 0.03
ACCOUNT_MEMBER_SHARE = 0.60
EXISTING_CUSTOMER_SHARE = 0.05
NO_EMAIL_SHARE = 0.08
CONSENT_SHARES = (0.85, 0.10, 0.05)  # true, null, false
JOB_ROLES = ("developer", "admin", "analyst", "manager", "executive", "consultant", "other")
JOB_ROLE_SHARES = (0.30, 0.20, 0.15, 0.15, 0.05, 0.05, 0.10)
STAFF_ROLE = "staff"
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Emeka", "Farah",
    "Felix", "Grace", "Hana", "Ivan", "Jonas", "Kai", "Lena", "Luis", "Maya", "Mei", "Nadia",
    "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Sofia", "Tariq", "Uma", "Victor", "Wen",
    "Yara", "Zoe", "Ravi", "Ingrid", "Kofi", "Lucia", "Marek",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoang", "Ito", "Jensen",
    "Kowalski", "Lopez", "Mensah", "Novak", "Okafor", "Park", "Quispe", "Rossi", "Schmidt", "Tanaka",
    "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Moreau", "Silva", "Nakamura", "Olsen",
    "Patel", "Reyes", "Santos", "Toth", "Walsh", "Kim", "Larsen", "Murphy", "Singh", "Berg",
)  # fmt: skip
PERSONAL_DOMAINS = ("mail.example", "inbox.example", "post.example")
STAFF_DOMAIN = "vendor.example"

# --- accounts ------------------------------------------------------------------------------
SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_SHARES = (0.60, 0.30, 0.10)
SEGMENT_MEDIAN_EMPLOYEES = (40.0, 500.0, 6000.0)
SEGMENT_MEMBER_WEIGHT = (1.0, 4.0, 15.0)  # relative number of community members per account
MEMBERS_PER_ACCOUNT = 8.0
CUSTOMER_SHARE = 0.75
LOG_ARR_CENTER, LOG_ARR_SCALE = 8.7, 1.75  # z_log_arr = (ln(arr) - 8.7) / 1.75
USAGE_CENTER, USAGE_SCALE = 55.0, 15.0  # z_usage = (product_usage - 55) / 15
ACCOUNT_WORDS_1 = (
    "North", "Blue", "Bright", "Silver", "Rapid", "Quiet", "Green", "Iron", "Clear", "Open",
    "Summit", "Harbor", "Pioneer", "Crimson", "Golden", "Polar", "Solar", "Vivid", "Urban", "Nimble",
)  # fmt: skip
ACCOUNT_WORDS_2 = (
    "Analytics", "Systems", "Labs", "Logistics", "Health", "Robotics", "Media", "Foods", "Energy",
    "Finance", "Networks", "Software", "Retail", "Works", "Dynamics", "Cloud", "Data", "Motors",
    "Bio", "Studio",
)  # fmt: skip
ACCOUNT_SUFFIXES = ("Inc", "Ltd", "GmbH", "LLC", "Group", "AG")

# --- planted effect 1: acquisition -----------------------------------------------------------
TRIAL_P = {"seo": 0.08, "webinar": 0.20, "referral": 0.16, "event": 0.12, "direct": 0.08}
TRIAL_MEAN_DAYS = 20.0
TRIAL_MAX_DAYS = 90.0
CONVERSION_WINDOWS = (7, 30, 60, 90)
LATE_TRIAL_P = 0.03
LATE_TRIAL_MIN_DAYS, LATE_TRIAL_MEAN_DAYS = 91.0, 120.0
CONTACT_TRIAL_P = 0.04
TRIAL_PURCHASE_P = 0.25
ACTIVATION_P = 0.5
DEMO_REQUEST_P = 0.06
UPGRADE_P, CROSS_SELL_P = 0.20, 0.10
ACCEPTED_ANSWER_P = 0.35  # per question asked
REFERRAL_MADE_P = 0.5  # per referral activity

# --- planted effect 2: renewal ---------------------------------------------------------------
PERIOD_DAYS = 365
ENGAGED_MIN_ACTIVITIES = 5  # K
EXPOSURE_START_DAYS, EXPOSURE_END_DAYS = 180, 60  # window [end - 180 d, end - 60 d)
ENGAGED_EXTRA_MEAN = 8.0  # engaged windows get K + Geometric(mean 8) activities
PROPENSITY: dict[str, Any] = {
    "intercept": -0.6,
    "z_log_arr": 0.8,
    "z_usage": 0.4,
    "segment": {"smb": 0.0, "mid_market": 0.3, "enterprise": 0.6},
}
RENEWAL: dict[str, Any] = {
    "intercept": 1.5,
    "z_log_arr": 0.8,
    "z_usage": 0.5,
    "segment": {"smb": 0.0, "mid_market": 0.25, "enterprise": 0.5},
    "engaged": 0.7,
}

# --- planted effect 3: NPS -------------------------------------------------------------------
NPS_RESPONSE_P, NPS_SECOND_P = 0.15, 0.30
NPS_BASE, NPS_SLOPE, NPS_NOISE_SD = 6.8, 0.6, 2.0
CSAT_P = 0.03
CSAT_SHARES = (0.05, 0.08, 0.17, 0.40, 0.30)  # scores 1..5
CONTACT_NPS_P = 0.05

# --- activities ------------------------------------------------------------------------------
ACTIVITY_TYPES = (
    "post", "reply", "accepted_answer", "reaction", "event_attended", "webinar_attended",
    "feedback_submitted", "referral", "case_study", "review", "question", "answer", "comment",
    "login",
)  # fmt: skip
ACTIVITY_SHARES = (
    0.07, 0.10, 0.02, 0.24, 0.03, 0.04, 0.025, 0.01, 0.002, 0.008, 0.07, 0.06, 0.10, 0.225,
)  # fmt: skip
ACTIVITY_SHAPE = 0.3  # gamma shape of the member's activity rate: many lurkers, few champions
STAFF_ACTIVITY_FACTOR = 4.0
ONBOARDING_DAYS = 30
BURST_SHARE = 0.3  # share of a member's activities drawn in the first 30 days
CHANNELS = ("forum", "slack", "events", "webinars")
PROGRAMS = ("ama", "user_group", "advocacy", "onboarding")
TAGS = ("onboarding", "api", "billing", "integrations", "security", "reporting", "sso", "performance")
TAGGED_TYPES = ("post", "reply", "question", "answer", "comment")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = pa.timestamp("us", tz="UTC")
_NULL = -1

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DemoFiles:
    """What :func:`generate` wrote."""

    directory: Path
    tables: dict[str, Path]  # canonical table name -> Parquet file, in load order
    ground_truth: Path
    counts: dict[str, int]  # rows per table


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _pick(rng: np.random.Generator, shares: Sequence[float], n: int) -> np.ndarray:
    """Draw ``n`` category codes (int8) with the given shares."""
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))
    cum /= cum[-1]
    codes = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(codes, len(shares) - 1).astype(np.int8)


def _seconds(rng: np.random.Generator, days: np.ndarray | float, n: int | None = None) -> np.ndarray:
    """Whole seconds of a uniform draw in ``[0, days)`` days (``days`` may be an array)."""
    size = n if n is not None else np.shape(days)
    return np.asarray(np.floor(rng.random(size) * np.asarray(days) * DAY), dtype=np.int64)


def _exp_seconds(rng: np.random.Generator, mean_days: float, n: int) -> np.ndarray:
    return np.floor(rng.exponential(mean_days * DAY, n)).astype(np.int64)


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(np.maximum(np.asarray(x, dtype=np.float64), 0.0), 2)


def _lognormal_money(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return _money(median * np.exp(rng.normal(0.0, sigma, n)))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as a string array (vectorised in Arrow)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _width(n: int, minimum: int) -> int:
    return max(minimum, len(str(max(n, 1))))


def _take(values: pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` with ``codes < 0`` giving null."""
    codes = np.asarray(codes, dtype=np.int64)
    return values.take(pa.array(codes, mask=codes < 0))


def _labels(labels: Sequence[str], codes: np.ndarray) -> pa.Array:
    return _take(pa.array(labels, type=pa.string()), codes)


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=_TS)


def _nullable(values: np.ndarray, null: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(values, mask=np.asarray(null, dtype=bool), type=kind)


def _write(path: Path, table: pa.Table) -> int:
    pq.write_table(table, path)
    return int(table.num_rows)


def _trial_delay_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exponential(mean 20 d) truncated to [0, 90) d, by inverting its distribution function."""
    tail = 1.0 - math.exp(-TRIAL_MAX_DAYS / TRIAL_MEAN_DAYS)
    return -TRIAL_MEAN_DAYS * np.log1p(-rng.random(n) * tail)


def _trial_cdf(days: float) -> float:
    """P(delay <= days) of :func:`_trial_delay_days`."""
    days = min(max(days, 0.0), TRIAL_MAX_DAYS)
    return (1.0 - math.exp(-days / TRIAL_MEAN_DAYS)) / (1.0 - math.exp(-TRIAL_MAX_DAYS / TRIAL_MEAN_DAYS))


def _join_times(rng: np.random.Generator, n: int, start: int, as_of: int) -> np.ndarray:
    """Instants in ``[start, as_of)`` with a density growing ``JOIN_GROWTH``-fold."""
    span = as_of - start
    frac = np.log1p(rng.random(n) * (JOIN_GROWTH - 1.0)) / math.log(JOIN_GROWTH)
    return np.minimum(start + np.floor(frac * span).astype(np.int64), as_of - 1)


def _linear(coefs: dict[str, Any], z_arr: np.ndarray, z_usage: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The linear predictor of a logistic model of :data:`PROPENSITY` or :data:`RENEWAL`."""
    seg = np.array([coefs["segment"][s] for s in SEGMENTS])
    lin = coefs["intercept"] + coefs["z_log_arr"] * z_arr + coefs["z_usage"] * z_usage + seg[segment]
    return np.asarray(lin, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# entities
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# planted effect 2: subscriptions, engagement and renewal
# ---------------------------------------------------------------------------------------------


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
    if not parts:
        empty = {name: np.zeros(0) for name in _Periods.__dataclass_fields__}
        return _Periods(**empty)
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


@dataclass
class _Rows:
    """Activity rows before their columns are drawn: member index and instant."""

    member: np.ndarray
    ts: np.ndarray


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


# ---------------------------------------------------------------------------------------------
# activities
# ---------------------------------------------------------------------------------------------


@dataclass
class _Background:
    """Per-member background activity, avoiding the member's account's exposure windows."""

    count: np.ndarray
    avail: np.ndarray  # seconds of the member's life outside the windows
    win_lo: np.ndarray  # (members, w) windows clipped to the member's life
    win_len: np.ndarray


def _background(
    rng: np.random.Generator, m: _Members, lo: np.ndarray, hi: np.ndarray, target: float, as_of: int
) -> _Background:
    width = lo.shape[1]
    member_lo = np.full((m.n, width), as_of, dtype=np.int64)
    member_hi = member_lo.copy()
    inside = m.account >= 0
    member_lo[inside] = lo[m.account[inside]]
    member_hi[inside] = hi[m.account[inside]]
    join = m.join[:, None]
    win_lo = np.clip(member_lo, join, as_of)
    win_len = np.clip(member_hi, join, as_of) - win_lo
    avail = (as_of - m.join) - win_len.sum(axis=1)
    factor = np.where(m.staff, STAFF_ACTIVITY_FACTOR, 1.0)
    exposure = factor * avail / DAY
    scale = target / (ACTIVITY_SHAPE * exposure.sum()) if exposure.sum() > 0 else 0.0
    rate = rng.gamma(ACTIVITY_SHAPE, 1.0, m.n) * scale
    count = rng.poisson(rate * exposure).astype(np.int64)
    return _Background(count=count, avail=avail, win_lo=win_lo, win_len=win_len)


def _background_rows(rng: np.random.Generator, bg: _Background, m: _Members, lo: int, hi: int) -> _Rows:
    """Background rows of members ``lo..hi-1`` on a time axis with the windows cut out."""
    member = np.repeat(np.arange(lo, hi), bg.count[lo:hi])
    avail = bg.avail[member]
    burst = rng.random(member.size) < BURST_SHARE
    reach = np.where(burst, np.minimum(avail, ONBOARDING_DAYS * DAY), avail)
    ts = m.join[member] + np.floor(rng.random(member.size) * reach).astype(np.int64)
    for k in range(bg.win_lo.shape[1]):  # windows are in time order: shift past each one
        length = bg.win_len[member, k]
        ts += np.where((length > 0) & (ts >= bg.win_lo[member, k]), length, 0)
    return _Rows(member=member, ts=ts)


def _activity_table(
    rng: np.random.Generator, rows: _Rows, m: _Members, member_ids: pa.Array, first_id: int, width: int
) -> tuple[pa.Table, np.ndarray]:
    """Draw type, channel, program, tags and ref_id for sorted rows; also return type codes."""
    n = rows.member.size
    kind = _pick(rng, ACTIVITY_SHARES, n)
    code = {name: i for i, name in enumerate(ACTIVITY_TYPES)}
    event, webinar = kind == code["event_attended"], kind == code["webinar_attended"]
    u = rng.random(n)
    channel = np.where(event, 2, np.where(webinar, 3, np.where(u < 0.62, 0, 1)))
    early = rows.ts - m.join[rows.member] < ONBOARDING_DAYS * DAY
    advocacy = np.isin(kind, [code["referral"], code["case_study"], code["review"]])
    v = rng.random(n)
    program = np.select(
        [webinar & (v < 0.4), webinar & (v < 0.7), event & (v < 0.7), advocacy & (v < 0.9), early & (v < 0.5)],
        [0, 3, 1, 2, 3],
        default=_NULL,
    )
    tagged = np.isin(kind, [code[t] for t in TAGGED_TYPES]) & (rng.random(n) < 0.7)
    tag_code = np.where(tagged, rng.integers(0, len(_TAG_LABELS), n), _NULL)
    ref = np.where(webinar, rows.ts // (7 * DAY), np.where(event, rows.ts // (30 * DAY), _NULL))
    ref_prefix = np.where(webinar, 0, np.where(event, 1, _NULL))
    ref_id = pc.binary_join_element_wise(
        _labels(("wb", "ev"), ref_prefix), pc.cast(_nullable(ref, ref < 0, pa.int64()), pa.string()), ""
    )
    table = pa.table(
        {
            "activity_id": _ids("act", np.arange(first_id, first_id + n), width),
            "member_id": member_ids.take(pa.array(rows.member)),
            "ts": _timestamps(rows.ts),
            "type": _labels(ACTIVITY_TYPES, kind),
            "channel": _labels(CHANNELS, channel),
            "program": _labels(PROGRAMS, program),
            "tags": _labels(_TAG_LABELS, tag_code),
            "ref_id": ref_id,
        }
    )
    return table, kind


def _tag_labels() -> tuple[str, ...]:
    pairs = [f"{a}|{b}" for i, a in enumerate(TAGS) for b in TAGS[i + 1 :]]
    return (*TAGS, *pairs)


_TAG_LABELS = _tag_labels()

ACTIVITY_SCHEMA = schema.arrow_file_schema(schema.ACTIVITIES)


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


@dataclass
class _NpsPlan:
    member: np.ndarray
    ts: np.ndarray
    slot_ts: np.ndarray  # (2, members) response instants, int64 min where none
    slot_of: np.ndarray  # slot of each response
    before: np.ndarray = field(init=False)  # (2, members) activities before each response

    def __post_init__(self) -> None:
        self.before = np.zeros(self.slot_ts.shape, dtype=np.int64)

    def count(self, rows: _Rows, lo: int, hi: int) -> None:
        for s in range(self.slot_ts.shape[0]):
            hit = rows.ts < self.slot_ts[s, rows.member]
            self.before[s, lo:hi] += np.bincount(rows.member[hit] - lo, minlength=hi - lo)


def _plan_nps(rng: np.random.Generator, m: _Members, as_of: int) -> _NpsPlan:
    lead = 14 * DAY
    ok = np.flatnonzero(~m.staff & (m.join + lead < as_of))
    first = ok[rng.random(ok.size) < NPS_RESPONSE_P]
    ts1 = m.join[first] + lead + np.floor(rng.random(first.size) * (as_of - m.join[first] - lead)).astype(np.int64)
    again = rng.random(first.size) < NPS_SECOND_P
    ts2 = ts1 + _seconds(rng, 150, first.size) + 90 * DAY
    again &= ts2 <= as_of
    slot_ts = np.full((2, m.n), np.iinfo(np.int64).min, dtype=np.int64)
    slot_ts[0, first] = ts1
    slot_ts[1, first[again]] = ts2[again]
    member = np.concatenate([first, first[again]])
    slot_of = np.concatenate([np.zeros(first.size, np.int64), np.ones(int(again.sum()), np.int64)])
    return _NpsPlan(member=member, ts=np.concatenate([ts1, ts2[again]]), slot_ts=slot_ts, slot_of=slot_of)


def _chunk_edges(count: np.ndarray) -> np.ndarray:
    """Member index edges so that each chunk holds about ``ACTIVITY_CHUNK_ROWS`` rows."""
    cum = np.cumsum(count)
    total = int(cum[-1]) if cum.size else 0
    targets = np.arange(ACTIVITY_CHUNK_ROWS, total, ACTIVITY_CHUNK_ROWS)
    inner = np.searchsorted(cum, targets, side="left") + 1
    return np.unique(np.concatenate([[0], inner, [count.size]])).astype(np.int64)


def _write_activities(
    path: Path,
    rng: np.random.Generator,
    m: _Members,
    member_ids: pa.Array,
    bg: _Background,
    window: _Rows,
    nps: _NpsPlan,
    outcomes: _Outcomes,
    report: Progress,
) -> int:
    """Write activities in member-range chunks; count activities before NPS responses; derive
    accepted answers (for questions) and referrals made (for referral activities)."""
    per_member = bg.count + np.bincount(window.member, minlength=m.n)
    total = int(per_member.sum())
    width = _width(total, 8)
    edges = _chunk_edges(per_member)
    code = {name: i for i, name in enumerate(ACTIVITY_TYPES)}
    written = 0
    with pq.ParquetWriter(path, ACTIVITY_SCHEMA) as writer:
        for lo, hi in itertools.pairwise(edges.tolist()):
            a, b = np.searchsorted(window.member, [lo, hi])
            rows = _background_rows(rng, bg, m, lo, hi)
            member = np.concatenate([rows.member, window.member[a:b]])
            ts = np.concatenate([rows.ts, window.ts[a:b]])
            order = np.lexsort((ts, member))
            rows = _Rows(member=member[order], ts=ts[order])
            nps.count(rows, lo, hi)
            table, kind = _activity_table(rng, rows, m, member_ids, written + 1, width)
            writer.write_table(table)
            written += table.num_rows
            _derived_outcomes(rng, rows, kind, code, m, outcomes)
            report("activities", written / max(total, 1))
    return written


def _derived_outcomes(
    rng: np.random.Generator, rows: _Rows, kind: np.ndarray, code: dict[str, int], m: _Members, out: _Outcomes
) -> None:
    asked = np.flatnonzero(kind == code["question"])
    asked = asked[rng.random(asked.size) < ACCEPTED_ANSWER_P]
    who = rows.member[asked]
    out.add(
        "accepted_answer", rows.ts[asked] + 600 + _exp_seconds(rng, 1.5, asked.size), member=who, account=m.account[who]
    )
    referred = np.flatnonzero(kind == code["referral"])
    referred = referred[rng.random(referred.size) < REFERRAL_MADE_P]
    who = rows.member[referred]
    out.add(
        "referral_made", rows.ts[referred] + _exp_seconds(rng, 3.0, referred.size), member=who, account=m.account[who]
    )


# ---------------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# contacts
# ---------------------------------------------------------------------------------------------


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


def _contact_outcomes(rng: np.random.Generator, c: _Contacts, out: _Outcomes) -> _Converted:
    """Contacts who never joined: trials at the lower base rate, within 90 days of creation."""
    others = c.others
    hit = others[rng.random(others.size) < CONTACT_TRIAL_P]
    delay = np.floor(_trial_delay_days(rng, hit.size) * DAY).astype(np.int64)
    return _purchases_and_more(rng, out, hit, c.created[hit] + delay, c.n, "contact", c.account)


def _lifecycle(c: _Contacts, accounts: _Accounts, m_conv: _Converted, c_conv: _Converted) -> np.ndarray:
    trial = c_conv.trial.copy()
    purchase = c_conv.purchase.copy()
    trial[: c.member.size] |= m_conv.trial[c.member]
    purchase[: c.member.size] |= m_conv.purchase[c.member]
    customer_account = np.zeros(c.n, dtype=bool)
    has = c.account >= 0
    customer_account[has] = accounts.customer[c.account[has]]
    return np.where(purchase | customer_account, 2, np.where(trial, 1, 0))


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


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


def _surveys_table(
    rng: np.random.Generator,
    nps: _NpsPlan,
    m: _Members,
    c: _Contacts,
    member_ids: pa.Array,
    contact_ids: pa.Array,
    as_of: int,
) -> pa.Table:
    """NPS of members (shifted up by prior activity), a few CSAT, NPS of non-member contacts."""
    before = nps.before[nps.slot_of, nps.member]
    latent = NPS_BASE + NPS_SLOPE * np.log1p(before) + rng.normal(0.0, NPS_NOISE_SD, before.size)
    nps_score = np.clip(np.round(latent), 0, 10).astype(np.int64)
    ok = np.flatnonzero(~m.staff & (m.join + 7 * DAY < as_of))
    cs = ok[rng.random(ok.size) < CSAT_P]
    cs_ts = m.join[cs] + 7 * DAY + np.floor(rng.random(cs.size) * (as_of - m.join[cs] - 7 * DAY)).astype(np.int64)
    cs_score = _pick(rng, CSAT_SHARES, cs.size).astype(np.int64) + 1
    others = c.others[c.created[c.others] + 14 * DAY < as_of]
    co = others[rng.random(others.size) < CONTACT_NPS_P]
    co_ts = (
        c.created[co] + 14 * DAY + np.floor(rng.random(co.size) * (as_of - c.created[co] - 14 * DAY)).astype(np.int64)
    )
    co_score = np.clip(np.round(NPS_BASE + rng.normal(0.0, NPS_NOISE_SD, co.size)), 0, 10).astype(np.int64)
    none_m, none_c = np.full(co.size, _NULL), np.full(nps.member.size + cs.size, _NULL)
    member = np.concatenate([nps.member, cs, none_m])
    contact = np.concatenate([none_c, co])
    ts = np.concatenate([nps.ts, cs_ts, co_ts])
    kind = np.concatenate(
        [np.zeros(nps.member.size, np.int64), np.ones(cs.size, np.int64), np.zeros(co.size, np.int64)]
    )
    score = np.concatenate([nps_score, cs_score, co_score])
    order = np.lexsort((contact, member, kind, ts))
    return pa.table(
        {
            "response_id": _ids("r", np.arange(1, ts.size + 1), _width(ts.size, 8)),
            "member_id": _take(member_ids, member[order]),
            "contact_id": _take(contact_ids, contact[order]),
            "ts": _timestamps(ts[order]),
            "kind": _labels(("nps", "csat"), kind[order]),
            "score": pa.array(score[order], type=pa.int64()),
        }
    )


# ---------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------


def _conversion_truth() -> dict[str, Any]:
    by_path = {
        path: {str(w): round(TRIAL_P[path] * _trial_cdf(w), 12) for w in CONVERSION_WINDOWS} for path in ENTRY_PATHS
    }
    ratio = {str(w): TRIAL_P["webinar"] / TRIAL_P["seo"] for w in CONVERSION_WINDOWS}
    return {
        "description": (
            "Each non-staff member who is not an existing customer starts a trial (outcome trial_start, "
            "keyed by member_id) within 90 days of joining with probability p90[entry_path]. The delay "
            "from joined_at is exponential with mean 20 days truncated to [0, 90) days, so "
            "P(trial within W days) = p90 * (1 - exp(-W/20)) / (1 - exp(-90/20)). The webinar/seo ratio "
            "is 2.5 in every window. About 3% of non-converters start a trial later, 91+ days after "
            "joining. Existing customers (trial before joining) are excluded and counted apart."
        ),
        "outcome_type": "trial_start",
        "anchor": "join",
        "unit": "person",
        "windows_days": list(CONVERSION_WINDOWS),
        "window_bounds": "elapsed time, 0 <= ts - joined_at <= W days (inclusive)",
        "eligible": "is_staff = false, no trial_start/purchase before joined_at, joined_at + W <= as_of",
        "p90": dict(TRIAL_P),
        "probability": by_path,
        "ratio_webinar_to_seo": ratio,
        "relative_to_seo": {path: TRIAL_P[path] / TRIAL_P["seo"] for path in ENTRY_PATHS},
        "delay_distribution": {
            "kind": "truncated_exponential",
            "mean_days": TRIAL_MEAN_DAYS,
            "max_days": TRIAL_MAX_DAYS,
        },
        "late_trials": {
            "probability": LATE_TRIAL_P,
            "min_days": LATE_TRIAL_MIN_DAYS,
            "extra_mean_days": LATE_TRIAL_MEAN_DAYS,
        },
        "non_member_contacts": {
            "description": "CRM contacts who never joined; trial_start keyed by contact_id, anchor contacts.created_at",
            "p90": CONTACT_TRIAL_P,
            "probability": {str(w): round(CONTACT_TRIAL_P * _trial_cdf(w), 12) for w in CONVERSION_WINDOWS},
        },
        "existing_customer_share": EXISTING_CUSTOMER_SHARE,
    }


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _difference(x: np.ndarray, group: np.ndarray) -> float | None:
    """mean(x | group) - mean(x | not group), or None when a group is empty."""
    if not 0 < group.sum() < group.size:
        return None
    return float(x[group].mean() - x[~group].mean())


def _renewal_truth(periods: _Periods) -> dict[str, Any]:
    d = np.flatnonzero(periods.decided)
    engaged = periods.engaged[d].astype(bool)
    p0, p1 = periods.p0[d], periods.p1[d]
    renewed = periods.renewed[d].astype(bool)
    return {
        "description": (
            "Each decided renewal (subscriptions.renewed not null) is first made engaged with probability "
            "sigmoid(propensity), then renews with probability sigmoid(outcome + engaged * tau). Both "
            "models rise with account size and usage, so the raw renewal difference engaged - not engaged "
            "overstates the effect; true_ate/true_att are the planted effects on the risk-difference "
            "scale (means of p(renew|x, engaged=1) - p(renew|x, engaged=0) over the decided renewals, "
            "respectively the engaged ones)."
        ),
        "K": ENGAGED_MIN_ACTIVITIES,
        "engaged_definition": (
            "the account's members (members.account_id) together have >= K activities with ts in "
            "[period_end - 180 days, period_end - 60 days)"
        ),
        "window": {
            "start_days_before_period_end": EXPOSURE_START_DAYS,
            "end_days_before_period_end": EXPOSURE_END_DAYS,
            "bounds": "[start, end)",
        },
        "covariates": ["accounts.arr", "accounts.segment", "accounts.product_usage"],
        "covariate_proxies": ["accounts.employees", "accounts.seats"],
        "model_terms": {
            "z_log_arr": f"(ln(accounts.arr) - {LOG_ARR_CENTER}) / {LOG_ARR_SCALE}",
            "z_usage": f"(accounts.product_usage - {USAGE_CENTER}) / {USAGE_SCALE}",
            "segment": "accounts.segment (smb is the reference level)",
        },
        "coefficients": {
            "engaged": {"link": "logit", **PROPENSITY},
            "renewed": {"link": "logit", **RENEWAL},
        },
        "tau": RENEWAL["engaged"],
        "n_decided": int(d.size),
        "n_engaged": int(engaged.sum()),
        "true_ate": _mean(p1 - p0),
        "true_att": _mean((p1 - p0)[engaged]),
        "naive_difference_expected": _difference(np.where(engaged, p1, p0), engaged),
        "raw_difference_realised": _difference(renewed.astype(np.float64), engaged),
        "renewal_rate_realised": _mean(renewed),
        "engaged_file": ENGAGED_FILE,
    }


def _nps_truth() -> dict[str, Any]:
    return {
        "description": (
            f"About {NPS_RESPONSE_P:.0%} of non-staff members answer an NPS survey at least 14 days after "
            f"joining ({NPS_SECOND_P:.0%} of them again 90-240 days later). score = clip(round({NPS_BASE} + "
            f"{NPS_SLOPE} * ln(1 + n) + Normal(0, {NPS_NOISE_SD})), 0, 10), where n is the member's number "
            "of activities strictly before the response. Non-member contacts answer with n = 0. A few CSAT "
            "answers (1..5) carry no effect."
        ),
        "kind": "nps",
        "base": NPS_BASE,
        "slope_per_log1p_activities": NPS_SLOPE,
        "noise_sd": NPS_NOISE_SD,
        "exposure": "activities of the member with ts < survey ts",
    }


def _ground_truth(
    members: int, seed: int, as_of: datetime, activities_per_member: float, periods: _Periods
) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "members": members,
        "activities_per_member": activities_per_member,
        "as_of": as_of.isoformat(),
        "history_days": HISTORY_DAYS,
        "conversion": _conversion_truth(),
        "renewal": _renewal_truth(periods),
        "nps": _nps_truth(),
        "description": {
            "conversion": "Webinar joiners start trials 2.5x as often as SEO joiners within every window.",
            "renewal": "Big accounts both engage more and renew more: raw renewal lift exceeds the true effect.",
            "nps": "Members with more activity before answering give higher NPS scores.",
            "staff": "About 3% of members are staff (is_staff = true): exclude them from cohorts.",
            "consent": "Consent is about 85% true, 10% missing, 5% false.",
        },
    }


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


def _as_of_seconds(as_of: datetime) -> tuple[datetime, int]:
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    return as_of, (as_of - _EPOCH) // timedelta(seconds=1)


def _check(members: int, seed: int, activities_per_member: float) -> None:
    if not isinstance(members, int) or members < 1:
        raise InputError(f"members must be a whole number >= 1, got {members!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}.")
    if not math.isfinite(activities_per_member) or activities_per_member < 0:
        raise InputError(f"activities_per_member must be a finite number >= 0, got {activities_per_member!r}.")


def generate(
    members: int,
    seed: int,
    out_dir: Path,
    *,
    as_of: datetime = DEFAULT_AS_OF,
    activities_per_member: float = 20.0,
    progress: Callable[[str, float], None] | None = None,
) -> DemoFiles:
    """Write a synthetic B2B community with planted effects as Parquet files.

    Parameters
    ----------
    members
        Number of community members (>= 1). Accounts (~7.5 % of members), CRM contacts (one per
        member with an e-mail plus half as many non-members) and the other tables scale with it.
    seed
        Seed of ``numpy.random.default_rng``; the same arguments give byte-identical files.
    out_dir
        Folder to write into (created if missing); existing files of the same names are replaced.
    as_of
        The "now" of the data set: every timestamp is ``<= as_of``. Naive datetimes are read as UTC.
    activities_per_member
        Average number of activities per member (heavy-tailed: many lurkers, a few champions).
    progress
        Called as ``progress(stage, fraction)`` while the files are written.

    Returns
    -------
    DemoFiles
        The folder, the Parquet file of each canonical table (in load order), the path of
        ``ground_truth.json`` and the number of rows per table.

    Raises
    ------
    InputError
        If ``members``, ``seed`` or ``activities_per_member`` is out of range.

    Notes
    -----
    The planted effects (see the module docstring) are stated in ``ground_truth.json``; the
    engaged flag of every decided renewal is in ``truth_renewal_engaged.parquet``.
    """
    _check(members, seed, activities_per_member)
    report: Progress = progress or (lambda stage, fraction: None)
    as_of, now = _as_of_seconds(as_of)
    start = now - HISTORY_DAYS * DAY
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = {
        name: np.random.default_rng([seed, i])
        for i, name in enumerate(
            ("accounts", "members", "periods", "windows", "activities", "outcomes", "contacts", "surveys", "nps")
        )
    }

    report("accounts", 0.0)
    accounts = _make_accounts(rng["accounts"], _account_count(members), start, now)
    report("members", 0.0)
    m = _make_members(rng["members"], members, accounts, start, now)
    periods = _make_periods(rng["periods"], accounts, now)
    win_lo, win_hi = _windows(periods, accounts.n, now)
    _settle_champions(rng["windows"], m, win_lo, start, now)
    window, window_count = _window_rows(rng["windows"], periods, m)
    target = max(activities_per_member * members - window.member.size, 0.0)
    bg = _background(rng["activities"], m, win_lo, win_hi, target, now)
    nps = _plan_nps(rng["nps"], m, now)

    account_ids = _ids("a", np.arange(1, accounts.n + 1), _width(accounts.n, 5))
    member_ids = _ids("m", np.arange(1, members + 1), _width(members, 6))
    contacts = _make_contacts(rng["contacts"], m, accounts, start, now)
    contact_ids = _ids("c", contacts.number, _width(contacts.n, 7))
    domains = _account_domains(accounts)
    paths = {name: out / f"{name}.parquet" for name in LOAD_ORDER}
    counts: dict[str, int] = {}

    outcomes = _Outcomes(as_of=now)
    report("activities", 0.0)
    counts["activities"] = _write_activities(
        paths["activities"], rng["activities"], m, member_ids, bg, window, nps, outcomes, report
    )
    report("outcomes", 0.0)
    m_conv = _member_outcomes(rng["outcomes"], m, outcomes)
    c_conv = _contact_outcomes(rng["outcomes"], contacts, outcomes)
    _account_outcomes(accounts, periods, outcomes)
    counts["outcomes"] = _write(paths["outcomes"], _outcome_table(outcomes, member_ids, contact_ids, account_ids))
    del outcomes

    report("tables", 0.0)
    members_table = _members_table(m, member_ids, account_ids, domains)
    counts["accounts"] = _write(paths["accounts"], _accounts_table(accounts, account_ids, now))
    counts["members"] = _write(paths["members"], members_table)
    stage = _lifecycle(contacts, accounts, m_conv, c_conv)
    contacts_table = _contacts_table(contacts, contact_ids, members_table, account_ids, domains, stage)
    counts["contacts"] = _write(paths["contacts"], contacts_table)
    counts["subscriptions"] = _write(paths["subscriptions"], _subscriptions_table(periods, account_ids))
    surveys = _surveys_table(rng["surveys"], nps, m, contacts, member_ids, contact_ids, now)
    counts["surveys"] = _write(paths["surveys"], surveys)
    _write(out / ENGAGED_FILE, _engaged_table(periods, window_count, account_ids))

    truth = _ground_truth(members, seed, as_of, activities_per_member, periods)
    truth_path = out / GROUND_TRUTH_FILE
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report("done", 1.0)
    return DemoFiles(
        directory=out,
        tables=dict(paths),
        ground_truth=truth_path,
        counts={name: counts[name] for name in LOAD_ORDER},
    )
