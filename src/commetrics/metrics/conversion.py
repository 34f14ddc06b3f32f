"""Community Conversion Rate: converters ÷ eligible cohort, per cohort cell and window.

Definitions (DESIGN.md, METHODS.md card (a)):

* **Anchor** ``t0``: a member's first join (``min(joined_at)`` over the member's rows), the first
  activity of a type (``"question"``) or in a program (``"program:ama"``), or an outcome
  (``"outcome:purchase"``, :mod:`.outcome_events`: repeat and nth purchases). Re-joins never make a
  new anchor.
* **Existing customers**: first conversion *before* the anchor; out of every denominator, counted apart.
* **Eligible for window W** (mature): ``t0 + W days <= as_of``. Anchors that are not mature are
  *in progress*, never non-converters.
* **Converter within W**: the first conversion at or after the anchor lies in ``[t0, t0 + W]``,
  elapsed time, both bounds inclusive (a conversion at exactly ``t0`` is day 0).
* **Staff** (``is_staff`` on any of the member's rows) are left out.
* **Cohort keys** come from the anchor (``docs/conversion.md`` lists them); ``program`` is a
  landmark: members converted before it are left out and every window starts there.

Everything heavy is one Ibis expression over the canonical tables (DuckDB and Spark alike); only one
row per cohort cell comes back to Python, where the Wilson and Newcombe intervals are added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pandas as pd

from ..errors import InputError, NotEnoughDataError, UnknownNameError
from ..stats import KaplanMeier, kaplan_meier, newcombe_interval, wilson_interval
from .cohort_attributes import add_attribute_keys, parse_key
from .conversion_base import remembered, shareable
from .local_time import local_time
from .outcome_events import anchor_type, conversion_events, outcome_anchors
from .people import Identities, identities

if TYPE_CHECKING:
    from ibis.expr.types import BooleanValue, Table, Value

__all__ = ["COHORT_KEYS", "ConversionSpec", "conversion_counts", "conversion_rates", "counts_expression",
           "cumulative_curves", "km_by_cohort", "time_to_conversion"]

CohortKey = Literal["join_month", "join_week", "join_quarter", "join_year", "entry_path", "first_activity",
                    "segment", "program"]
COHORT_KEYS: tuple[CohortKey, ...] = ("join_month", "join_week", "join_quarter", "join_year", "entry_path",
                                      "first_activity", "segment", "program")
SMALL_CELL = 30  # cells with fewer eligible anchors are flagged (never hidden here; privacy suppresses)
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class ConversionSpec:
    """One conversion to measure (a named definition of ``commetrics.toml`` or an ad-hoc one)."""

    name: str
    outcomes: tuple[str, ...]
    anchor: str = "join"
    windows: tuple[int, ...] = (7, 30, 60, 90)
    unit: Literal["person", "account"] = "person"
    description: str = ""
    owner: str = ""
    family: str | None = None
    landmark_days: int = 30
    by: tuple[str, ...] = field(default=())
    nth: int = 2  # with an outcome anchor: the anchor is the (nth - 1)th outcome of its type

    def __post_init__(self) -> None:
        if not self.outcomes:
            raise InputError(f"Conversion {self.name!r} names no outcome type; give at least one, e.g. trial_start.")
        if not self.windows or any(w <= 0 for w in self.windows):
            raise InputError(f"Conversion {self.name!r}: windows must be positive day counts, e.g. 7 30 60 90.")
        # Keys other than the built-in ones are member or account attributes, checked against the store when run.
        for key in self.by:
            if key not in COHORT_KEYS:
                parse_key(key)


# -- anchors --------------------------------------------------------------------------------------


def _members(db: Any, ids: Identities | None) -> Table:
    """One row per person: first join, entry path and account at that join, staff flag, and the
    member record of the first join. A person's member records (several platforms) are one."""
    m = db.table("members")
    m = m.select("member_id", "joined_at", "entry_path", "account_id", "is_staff")  # what the people need
    if ids is not None:
        m = m.join(ids.members, "member_id")
    else:  # each member is a person: no join
        m = m.mutate(person_id=m.member_id, person_account=ibis.null(str))
    return m.group_by("person_id").aggregate(
        joined_at=m.joined_at.min(),
        entry_path=m.entry_path.argmin(m.joined_at),
        account_id=m.account_id.argmin(m.joined_at).fill_null(m.person_account.max()),
        member_id=m.member_id.argmin(m.joined_at),
        staff=m.is_staff.fill_null(False).any(),
    )


def _activities(db: Any, ids: Identities | None) -> Table:
    """Activities keyed by ``person_id`` too (a person's touches on every platform)."""
    a = db.table("activities")
    if ids is None:
        return a.mutate(person_id=a.member_id)
    return a.join(ids.members.select("member_id", "person_id"), "member_id")


def _anchors(db: Any, spec: ConversionSpec, ids: Identities | None) -> Table:
    """``unit_id``, ``t0`` and the person attributes cohort keys need, staff removed."""
    if anchor_type(spec.anchor) is not None:
        return outcome_anchors(db, anchor=spec.anchor, nth=spec.nth, unit=spec.unit, ids=ids,
                               joined=_anchors(db, replace(spec, anchor="join"), ids), people=_members(db, ids))
    members = _members(db, ids)
    members = members.filter(~members.staff)
    if spec.anchor == "join":
        anchors = members.mutate(t0=members.joined_at)
    else:
        a = _activities(db, ids)
        if spec.anchor.startswith("program:"):
            hits = a.filter(a.program == spec.anchor.split(":", 1)[1])
        else:
            hits = a.filter(a.type == spec.anchor)
        first = hits.group_by("person_id").aggregate(t0=hits.ts.min())
        anchors = members.join(first, "person_id")
    if spec.unit == "account":
        anchors = anchors.filter(anchors.account_id.notnull())
        anchors = anchors.group_by(unit_id=anchors.account_id).aggregate(
            t0=anchors.t0.min(),
            entry_path=anchors.entry_path.argmin(anchors.t0),
            account_id=anchors.account_id.argmin(anchors.t0),
            person_id=anchors.person_id.argmin(anchors.t0),
        )
    else:
        anchors = anchors.mutate(unit_id=anchors.person_id)
    return anchors.select("unit_id", "person_id", "account_id", "entry_path", "t0")


def _conversions(db: Any, spec: ConversionSpec, ids: Identities | None) -> Table:
    """The outcome events of the conversion, keyed by ``unit_id``: a person's outcomes whether the
    CRM keyed them by contact or the platform by member."""
    if anchor_type(spec.anchor) is not None:  # the anchor outcome itself and those before it never convert
        return conversion_events(db, anchor=spec.anchor, nth=spec.nth, outcomes=spec.outcomes, unit=spec.unit,
                                 ids=ids, people=_members(db, ids)).select("unit_id", "ts")
    o = db.table("outcomes")
    o = o.filter(o.type.isin(spec.outcomes))
    if ids is not None:
        # the same member → person lookup the activities use: one common table expression, computed once
        keyed = ids.members.select("member_id", "person_id")
        via_member = o.join(keyed, o.member_id == keyed.member_id)
    else:
        via_member = o.filter(o.member_id.notnull()).mutate(person_id=o.member_id)
    if spec.unit == "person":
        by_member = via_member.select(unit_id=via_member.person_id, ts=via_member.ts)
        if ids is None:
            return by_member
        via_contact = o.join(ids.contacts, o.contact_id == ids.contacts.contact_id)
        return by_member.union(via_contact.select(unit_id=via_contact.person_id, ts=via_contact.ts), distinct=False)
    people = _members(db, ids)
    members = people.select("person_id", person_account=people.account_id)
    events = via_member.select("person_id", "ts")
    via_person = events.join(members, "person_id").select(unit_id=members.person_account, ts=events.ts)
    direct = o.filter(o.account_id.notnull()).select(unit_id=o.account_id, ts=o.ts)
    both = direct.union(via_person, distinct=False)
    return both.filter(both.unit_id.notnull())


def _with_first_conversions(anchors: Table, conversions: Table, start: str) -> Table:
    """Add ``existing`` (converted before ``start``) and ``first_ts`` (first conversion at/after it).

    ``anchors`` has one row per ``unit_id``. Only the units that have conversions meet them: their
    ``unit_id`` and start are joined to the conversions and grouped by unit alone, then the two columns are
    joined back to every unit (a unit without any conversion: ``existing`` false, ``first_ts`` null)."""
    starts = anchors.select("unit_id", _start=anchors[start])
    hits = starts.join(conversions, "unit_id")
    firsts = hits.group_by("unit_id").aggregate(
        _existing=(hits.ts < hits._start).any(),
        first_ts=hits.ts.min(where=hits.ts >= hits._start),
    )
    joined = anchors.left_join(firsts, "unit_id")
    return joined.select(*anchors.columns, existing=joined._existing.fill_null(False), first_ts=joined.first_ts)


def _cohorts(db: Any, units: Table, base: Table, spec: ConversionSpec, zone: str, ids: Identities | None) -> Table:
    """``base`` with the cohort key columns that ``spec.by`` asks for.

    ``units`` are the anchors with their ``start`` (one row per ``unit_id``): the keys read from other
    tables (first activity, program, segment) are built from them alone and joined to ``base`` by unit."""
    keys: dict[str, Value] = {}
    if {"join_month", "join_week", "join_quarter", "join_year"} & set(spec.by):
        local = local_time(base.t0, zone, *_span(db)) if zone != "UTC" else base.t0
        if "join_month" in spec.by:
            keys["join_month"] = local.strftime("%Y-%m")
        if "join_week" in spec.by:
            keys["join_week"] = local.truncate("W").strftime("%Y-%m-%d")
        if "join_quarter" in spec.by:  # the roll-up of months where most monthly cells would be hidden
            keys["join_quarter"] = local.strftime("%Y") + "-Q" + (local.quarter()).cast("string")
        if "join_year" in spec.by:
            keys["join_year"] = local.strftime("%Y")
    if "entry_path" in spec.by:
        keys["entry_path"] = base.entry_path.fill_null("unknown")
    if keys:
        base = base.mutate(**keys)
    base = add_attribute_keys(db, base, [k for k in spec.by if k not in COHORT_KEYS], ids, COHORT_KEYS)
    if "segment" in spec.by:
        accounts = db.table("accounts")
        segments = accounts.group_by("account_id").aggregate(segment=accounts.segment.argmax(accounts.load_id))
        base = base.left_join(segments, "account_id").drop("account_id_right")
        base = base.mutate(segment=base.segment.fill_null("unknown"))
    if "first_activity" in spec.by:
        act = units.select("unit_id", "person_id", "t0").join(_activities(db, ids), "person_id")
        act = act.filter(act.ts >= act.t0)
        first = act.group_by("unit_id").aggregate(first_activity=act.type.argmin(act.ts))
        base = base.left_join(first, "unit_id").drop("unit_id_right")
        base = base.mutate(first_activity=base.first_activity.fill_null("none"))
    if "program" in spec.by:  # ``start`` is the landmark, t0 + landmark_days: the programs up to it
        act = units.select("unit_id", "person_id", "t0", "start").join(_activities(db, ids), "person_id")
        act = act.filter(act.program.notnull() & (act.ts >= act.t0) & (act.ts <= act.start))
        first = act.group_by("unit_id").aggregate(program=act.program.argmin(act.ts))
        base = base.left_join(first, "unit_id").drop("unit_id_right")
        base = base.mutate(program=base.program.fill_null("none"))
    return base


def data_as_of(db: Any) -> datetime:
    """The latest instant in the loaded data (members, activities, outcomes): the default "now".

    Exports are snapshots: measuring windows against the clock would count the weeks since the
    export as time in which nobody converted.
    """
    latest: list[datetime] = []
    for table, column in (("members", "joined_at"), ("activities", "ts"), ("outcomes", "ts")):
        value = db.table(table)[column].max().execute()
        if value is not None and not pd.isna(value):
            moment: datetime = pd.Timestamp(value).to_pydatetime()
            latest.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    if not latest:
        raise NotEnoughDataError("The store holds no members, activities or outcomes yet. Load some, then measure.")
    return max(latest)


def _span(db: Any) -> tuple[datetime, datetime]:
    m = db.table("members")
    low, high = m.joined_at.min().execute(), m.joined_at.max().execute()
    if low is None or pd.isna(low):
        return datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC)
    low_dt = pd.Timestamp(low).to_pydatetime()
    high_dt = pd.Timestamp(high).to_pydatetime()
    # activity anchors can come later than any join: reach a year past the last join
    return low_dt, high_dt + timedelta(days=366 * 2)


@shareable  # one per conversion and as-of inside conversion_base.shared_bases (a report)
def prepared(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> Table:
    """One row per unit: cohort keys, ``start``, ``existing`` and ``first_ts`` (the shared base)."""
    ids = identities(db)  # looked up once: every part below keys people the same way
    anchors = _anchors(db, spec, ids)
    landmark = "program" in spec.by  # the program key's windows start at the landmark
    start = anchors.t0 + ibis.interval(days=spec.landmark_days) if landmark else anchors.t0
    units = anchors.mutate(start=start)
    units = units.filter(units.start <= ibis.literal(as_of))
    base = _cohorts(db, units, _with_first_conversions(units, _conversions(db, spec, ids), "start"), spec, zone, ids)
    keys = [k for k in spec.by if k not in anchors.columns]  # entry_path: the anchors' column, filled
    return base.select(*anchors.columns, *keys, "start", "existing", "first_ts")


def _window_columns(base: Table, windows: Sequence[int], as_of: datetime) -> dict[str, Value]:
    """Aggregates per window: eligible, converters, in progress (existing customers excluded)."""
    columns: dict[str, Value] = {"existing_customers": base.existing.sum(), "anchored": (~base.existing).sum()}
    for w in windows:
        mature: BooleanValue = base.start <= ibis.literal(as_of - timedelta(days=w))
        converted = base.first_ts.notnull() & (base.first_ts <= base.start + ibis.interval(days=w))
        fresh = ~base.existing
        columns[f"eligible_{w}"] = (fresh & mature).sum()
        columns[f"converters_{w}"] = (fresh & mature & converted).sum()
        columns[f"in_progress_{w}"] = (fresh & ~mature).sum()
    return columns


def counts_expression(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> Table:
    """The expression of :func:`conversion_counts` (what a benchmark compiles apart from running it)."""
    base = prepared(db, spec, as_of, zone)
    columns = _window_columns(base, spec.windows, as_of)
    if spec.by:
        return base.group_by(list(spec.by)).aggregate(**columns).order_by(list(spec.by))
    return base.aggregate(**columns)


def conversion_counts(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> pd.DataFrame:
    """The counts per cohort cell, wide (one row per cell, columns per window): one query."""
    result: pd.DataFrame = counts_expression(db, spec, as_of, zone).execute()
    return result


BASELINE_LABEL = "CRM contacts who never joined"


def _never_joined(db: Any, ids: Identities | None) -> Table:
    """One row per person known only to the CRM: ``unit_id``, ``t0`` (their first contact's creation).

    With resolved identities a person never joined when none of their records is a member (the
    CRM's duplicate contacts of one person are one unit); without, a contact never joined when no
    member has its e-mail address (compared in lower case)."""
    c = db.table("contacts")
    c = c.filter(c.created_at.notnull())
    if ids is not None:
        p = ids.people
        joined = p.filter(p.member_id.notnull()).select("person_id").distinct()
        keyed = c.join(ids.contacts, "contact_id")
        keyed = keyed.anti_join(joined, "person_id")
        never = keyed.group_by(unit_id=keyed.person_id).aggregate(t0=keyed.created_at.min())
        return never.mutate(start=never.t0)
    m = db.table("members")
    emails = m.filter(m.email.notnull()).select(email=m.email.lower()).distinct()
    contacts = c.group_by("contact_id").aggregate(t0=c.created_at.min(), email=c.email.lower().max())
    never = contacts.anti_join(emails, contacts.email == emails.email)
    return never.select(unit_id=never.contact_id, t0=never.t0, start=never.t0)


def has_never_joined_contacts(db: Any) -> bool:
    """Whether the store holds CRM contacts who never joined (so a baseline can be measured)."""
    return bool(_never_joined(db, identities(db)).count().execute())


@remembered
def baseline_counts(db: Any, spec: ConversionSpec, as_of: datetime) -> pd.DataFrame:
    """The same counts for CRM contacts who never joined the community (the non-community baseline).

    A person never joined when none of their resolved records is a member (without resolved
    identities: when no member has the contact's e-mail address); the anchor is
    ``contacts.created_at`` and the conversions are outcomes keyed by their ``contact_id``.
    """
    ids = identities(db)
    never = _never_joined(db, ids)
    o = db.table("outcomes")
    o = o.filter(o.type.isin(spec.outcomes) & o.contact_id.notnull())
    if ids is None:
        events = o.select(unit_id=o.contact_id, ts=o.ts)
    else:
        keyed = o.join(ids.contacts, o.contact_id == ids.contacts.contact_id)
        events = keyed.select(unit_id=keyed.person_id, ts=keyed.ts)
    base = _with_first_conversions(never, events, "start")
    base = base.filter(base.start <= ibis.literal(as_of))
    result: pd.DataFrame = base.aggregate(**_window_columns(base, spec.windows, as_of)).execute()
    return result


def conversion_rates(
    db: Any,
    spec: ConversionSpec,
    *,
    as_of: datetime | None = None,
    zone: str = "UTC",
    reference: str | None = None,
    confidence: float = 0.95,
    baseline: bool = False,
) -> pd.DataFrame:
    """The conversion table: one row per cohort cell and window.

    Columns: ``conversion``, the cohort key columns, ``cohort`` (their values joined, ``all``
    without keys), ``window_days``, ``eligible`` (mature anchors), ``in_progress`` (immature),
    ``converters``, ``rate``, ``ci_low`` and ``ci_high`` (Wilson), ``existing_customers``
    (converted before the anchor, excluded), ``small`` (fewer than 30 eligible), and with cohort
    keys the comparison with a ``reference`` cohort (default: the one with most eligible
    anchors): ``diff``, ``diff_low``, ``diff_high`` (Newcombe).
    """
    as_of = as_of or data_as_of(db)
    wide = conversion_counts(db, spec, as_of, zone)
    if baseline:
        if spec.unit != "person" or spec.anchor != "join":
            raise InputError("The non-community baseline compares people anchored at their first join (or contact "
                             "creation); drop --baseline for account or activity-anchored conversions.")
        extra = baseline_counts(db, spec, as_of)
        for k in spec.by:
            extra[k] = BASELINE_LABEL
        wide = pd.concat([wide.assign(_baseline=False), extra.assign(_baseline=True)], ignore_index=True)
        if reference is None and not spec.by:
            reference = BASELINE_LABEL
    rows: list[dict[str, Any]] = []
    for record in wide.to_dict(orient="records"):
        labels = {k: str(record[k]) for k in spec.by}
        for w in spec.windows:
            eligible = int(record[f"eligible_{w}"] or 0)
            converters = int(record[f"converters_{w}"] or 0)
            low, high = wilson_interval(converters, eligible, confidence)
            cohort = BASELINE_LABEL if record.get("_baseline") is True else (" / ".join(labels.values()) or "all")
            rows.append({
                "conversion": spec.name, **labels, "cohort": cohort,
                "window_days": w, "eligible": eligible, "in_progress": int(record[f"in_progress_{w}"] or 0),
                "converters": converters, "rate": converters / eligible if eligible else math.nan,
                "ci_low": low, "ci_high": high, "existing_customers": int(record["existing_customers"] or 0),
                "small": eligible < SMALL_CELL,
            })
    table = pd.DataFrame(rows, columns=["conversion", *spec.by, "cohort", "window_days", "eligible", "in_progress",
                                        "converters", "rate", "ci_low", "ci_high", "existing_customers", "small"])
    return _compare(table, spec, reference, confidence)


def _compare(table: pd.DataFrame, spec: ConversionSpec, reference: str | None, confidence: float) -> pd.DataFrame:
    """Add the difference of each cohort's rate from the reference cohort's, per window."""
    table["reference"] = None
    for column in ("diff", "diff_low", "diff_high"):
        table[column] = math.nan
    if table.empty or table["cohort"].nunique() < 2:
        return table
    sizes = table.groupby("cohort")["eligible"].max()
    if reference is None:
        reference = str(sizes.sort_values(ascending=False, kind="stable").index[0])
    elif reference not in sizes.index:
        raise UnknownNameError.for_name("reference cohort", reference, list(sizes.index), "Pick an existing cohort.")
    converters, eligible = table["converters"].to_numpy(), table["eligible"].to_numpy()
    windows, cohorts = table["window_days"].to_numpy(), table["cohort"].to_numpy()
    differences = np.full((len(table), 3), math.nan)  # filled row by row, set at once (a frame's .loc is slow)
    for w in spec.windows:
        ref = int(np.flatnonzero((cohorts == reference) & (windows == w))[0])
        for i in np.flatnonzero((windows == w) & (cohorts != reference)):
            differences[i] = newcombe_interval(int(converters[i]), int(eligible[i]), int(converters[ref]),
                                               int(eligible[ref]), confidence)
    table[["diff", "diff_low", "diff_high"]] = differences
    table["reference"] = reference
    return table


# -- time to conversion ---------------------------------------------------------------------------


def _durations(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> Table:
    """Per cohort and distinct time (days): events and units leaving observation at that time."""
    base = prepared(db, spec, as_of, zone)
    base = base.filter(~base.existing)
    horizon = ibis.literal(as_of)
    event = base.first_ts.notnull()
    end = ibis.ifelse(event, base.first_ts, horizon)
    days = (end.epoch_seconds() - base.start.epoch_seconds()) / DAY_SECONDS
    units = base.mutate(days=days, event=event.cast("int64"))
    return units.group_by([*spec.by, "days"]).aggregate(events=units.event.sum(), removed=units.count())


def km_by_cohort(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> dict[str, KaplanMeier]:
    """The Kaplan–Meier estimate of time to conversion per cohort label (one query's counts).

    :func:`time_to_conversion` and :func:`cumulative_curves` both read it; pass it to them as
    ``km`` to compute it once.
    """
    counts = _durations(db, spec, as_of, zone)
    keys = list(spec.by)
    window = ibis.cumulative_window(group_by=keys or None, order_by=ibis.desc("days"))
    counts = counts.mutate(at_risk=counts.removed.sum().over(window), total=counts.removed.sum().over(
        ibis.window(group_by=keys or None)))
    # One query: every event time, and each cohort's earliest time (where all of it is at risk), whose total is the
    # cohort's size even when nobody in it converted — not a second pass over the base for the sizes.
    frame = counts.filter((counts.events > 0) | (counts.at_risk == counts.total)).execute()
    events = frame["events"].to_numpy() > 0
    if not keys:
        part = frame[events].sort_values("days")
        return {"all": kaplan_meier(part["days"], part["events"], part["at_risk"],
                                    int(frame["total"].iloc[0]) if len(frame) else 0)}
    group = frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    event_rows = np.flatnonzero(events)
    rows_of = {g: event_rows[at] for g, at in pd.Series(group[event_rows]).groupby(group[event_rows]).indices.items()}
    # ordered: the cohorts' order (of the curves, too) must not depend on the backend's hash tables
    sizes = frame[frame["at_risk"] == frame["total"]].sort_values(keys, na_position="last", kind="stable")
    result: dict[str, KaplanMeier] = {}
    for position, record in zip(sizes.index, sizes.to_dict(orient="records"), strict=True):
        label = " / ".join(str(record[k]) for k in keys)
        part = frame.iloc[rows_of.get(group[position], np.zeros(0, dtype=np.int64))].sort_values("days")
        result[label] = kaplan_meier(part["days"], part["events"], part["at_risk"], int(record["total"]))
    return result


def time_to_conversion(
    db: Any,
    spec: ConversionSpec,
    *,
    as_of: datetime | None = None,
    zone: str = "UTC",
    quantile: float = 0.1,
    km: dict[str, KaplanMeier] | None = None,
) -> pd.DataFrame:
    """Median days among converters within the longest window, over every converter, and Kaplan–Meier.

    Columns: ``cohort``, ``eligible`` and ``converters`` (longest window), ``median_days_converters``
    (conditional on converting, truncated by the window), ``km_median_days`` (``inf`` when under
    half convert: "not reached"), ``km_quantile`` and ``km_quantile_days`` (time by which that
    share converted), ``km_n`` (anchors in the estimate, censored at ``as_of``), ``all_converters`` and
    ``median_days_all_converters`` (every first conversion after the anchor up to ``as_of``, whatever
    the windows — so it does not change with the longest window). ``km`` is
    :func:`km_by_cohort`'s result when the caller already has it.
    """
    as_of = as_of or data_as_of(db)
    longest = max(spec.windows)
    base = prepared(db, spec, as_of, zone)
    mature = base.filter(~base.existing & (base.start <= ibis.literal(as_of - timedelta(days=longest))))
    days = (mature.first_ts.epoch_seconds() - mature.start.epoch_seconds()) / DAY_SECONDS
    converted = mature.first_ts.notnull() & (mature.first_ts <= mature.start + ibis.interval(days=longest))
    stats = {"eligible": mature.count(), "converters": converted.sum(),
             # not median(where=): Spark's percentile takes no filter, and Ibis folds it into the percentage
             "median_days_converters": converted.ifelse(days, ibis.null()).median()}
    summary = (mature.group_by(list(spec.by)).aggregate(**stats) if spec.by else mature.aggregate(**stats))
    summary = summary.order_by(list(spec.by)).execute() if spec.by else summary.execute()
    # Over every converter up to as_of, whatever the windows: the same data give the same median.
    ever = base.filter(~base.existing & base.first_ts.notnull())
    all_days = (ever.first_ts.epoch_seconds() - ever.start.epoch_seconds()) / DAY_SECONDS
    everyone = {"all_converters": ever.count(), "median_days_all_converters": all_days.median()}
    overall = (ever.group_by(list(spec.by)).aggregate(**everyone) if spec.by else ever.aggregate(**everyone)).execute()
    medians = {(" / ".join(str(r[k]) for k in spec.by) or "all"): r for r in overall.to_dict(orient="records")}
    curves = km if km is not None else km_by_cohort(db, spec, as_of, zone)
    rows = []
    for record in summary.to_dict(orient="records"):
        label = " / ".join(str(record[k]) for k in spec.by) or "all"
        estimate = curves.get(label)
        rows.append({
            "cohort": label, "window_days": longest, "eligible": int(record["eligible"] or 0),
            "converters": int(record["converters"] or 0),
            "median_days_converters": _number(record["median_days_converters"]),
            "km_median_days": estimate.median if estimate else math.inf, "km_quantile": quantile,
            "km_quantile_days": estimate.quantile_time(1 - quantile) if estimate else math.inf,
            "km_n": estimate.n if estimate else 0,
            "all_converters": int(medians.get(label, {}).get("all_converters") or 0),
            "median_days_all_converters": _number(medians.get(label, {}).get("median_days_all_converters")),
        })
    return pd.DataFrame(rows, columns=["cohort", "window_days", "eligible", "converters", "median_days_converters",
                                       "km_median_days", "km_quantile", "km_quantile_days", "km_n",
                                       "all_converters", "median_days_all_converters"])


def _number(value: Any) -> float:
    return float(value) if value is not None and not pd.isna(value) else math.nan


def cumulative_curves(
    db: Any,
    spec: ConversionSpec,
    *,
    as_of: datetime | None = None,
    zone: str = "UTC",
    horizon_days: int | None = None,
    points: int = 150,
    km: dict[str, KaplanMeier] | None = None,
) -> pd.DataFrame:
    """Cumulative conversion ``1 - S(t)`` per cohort (Kaplan–Meier), up to the longest window.

    Columns: ``cohort``, ``day``, ``cumulative``, ``ci_low``, ``ci_high``, ``at_risk``; one row at
    day 0 and one per event time (at most about ``points`` per cohort: see :func:`_thin`). ``km``
    is :func:`km_by_cohort`'s result when the caller already has it.
    """
    as_of = as_of or data_as_of(db)
    horizon = horizon_days or max(spec.windows)
    rows = []
    estimates = km if km is not None else km_by_cohort(db, spec, as_of, zone)
    for label, estimate in estimates.items():
        rows.append({"cohort": label, "day": 0.0, "cumulative": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                     "at_risk": estimate.n})
        keep = estimate.times <= horizon
        for t, s, lo, hi, r in zip(estimate.times[keep], estimate.survival[keep], estimate.ci_low[keep],
                                   estimate.ci_high[keep], estimate.at_risk[keep], strict=True):
            rows.append({"cohort": label, "day": float(t), "cumulative": 1 - float(s), "ci_low": 1 - float(hi),
                         "ci_high": 1 - float(lo), "at_risk": int(r)})
    curves = pd.DataFrame(rows, columns=["cohort", "day", "cumulative", "ci_low", "ci_high", "at_risk"])
    return _thin(curves, horizon, points)


def _thin(curves: pd.DataFrame, horizon: float, points: int) -> pd.DataFrame:
    """At most about ``points`` steps per cohort: the last step in each of ``points`` equal slices of time
    (looks the same at report size, and the file stays small however many members converted)."""
    if curves.empty or curves.groupby("cohort").size().max() <= points:
        return curves
    bucket = (curves["day"] / (horizon / points)).astype(int)
    keep = ~curves.assign(_b=bucket).duplicated(subset=["cohort", "_b"], keep="last") | (curves["day"] == 0)
    return curves[keep].reset_index(drop=True)
