"""Journeys from the store: each conversion's touches in its lookback, aggregated into paths in the engine.

Also the group sizes that small-cell suppression needs (distinct converting people, or accounts,
per class) and the currencies of the attributed outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError
from .. import fetch
from ..conversion_base import keeping
from ..people import Identities, identities
from .paths import _JOIN, Paths

__all__ = ["GRAINS", "REVENUE_OUTCOMES", "UNITS", "Journeys", "build_journeys", "journeys_per_class",
           "outcome_currencies"]

#: The outcome types attributed by default: the ones that bring revenue.
REVENUE_OUTCOMES = ("purchase", "upgrade", "seat_expansion", "cross_sell", "renewal")
GRAINS = ("type", "channel", "program", "tag")
UNITS = ("person", "account")


@dataclass(frozen=True)
class Journeys:
    """Journeys built from the store: aggregated paths, and the touches of converting journeys.

    ``units_per_class``, ``units_with_touch`` and ``units_without_touch`` count distinct units
    (people, or accounts), not conversions: they are the group sizes that small-cell suppression
    needs (:func:`commetrics.privacy.outputs.suppress_attribution`).
    """

    paths: Paths
    touches: pd.DataFrame  # journey, class, days_before, conversions, value
    conversions_without_touch: int  # conversions with no community touch in the lookback
    value_without_touch: float
    #: class -> distinct converting units with at least one touch of the class in a conversion's lookback
    units_per_class: dict[str, int] = field(default_factory=dict)
    units_with_touch: int = 0  # distinct units with at least one touched conversion
    units_without_touch: int = 0  # distinct units with at least one conversion that had no touch


def _touchpoints(db: Any, grain: str, unit: str, ids: Identities | None) -> Any:
    """``unit_id``, ``ts``, ``cls``: one row per touch; a tagged activity is one touch per tag."""
    a = db.table("activities")
    cls = a.tags.unnest() if grain == "tag" else a[grain]
    a = a.select("member_id", "ts", cls=cls)
    a = a.filter(a.cls.notnull() & (a.cls.strip() != ""))
    if unit == "person":
        if ids is None:
            return a.select(unit_id=a.member_id, ts=a.ts, cls=a.cls)
        keyed = a.join(ids.members, "member_id")  # a person's touches on every platform
        return keyed.select(unit_id=keyed.person_id, ts=keyed.ts, cls=keyed.cls)
    accounts = _member_accounts(db)
    joined = a.join(accounts, "member_id")
    return joined.select(unit_id=joined.account_id, ts=joined.ts, cls=joined.cls)


def _ordered_path(ts: Any, cls: Any) -> Any:
    """A journey's touch classes in time order (ties by class), joined into one path.

    The (time, class) pairs are collected and sorted as a list inside the engine: an ordered
    aggregate (``collect(order_by=...)``) is not something Spark SQL has, and sorting the pairs
    gives the same order on every backend."""
    import ibis

    return ibis.struct({"ts": ts, "cls": cls}).collect().sort().map(lambda touch: touch.cls).join(_JOIN)


def _member_accounts(db: Any) -> Any:
    """``member_id`` -> ``account_id`` (the account at the member's first join)."""
    m = db.table("members")
    m = m.group_by("member_id").aggregate(account_id=m.account_id.argmin(m.joined_at))
    return m.filter(m.account_id.notnull())


def outcome_currencies(db: Any, outcomes: Sequence[str], as_of: datetime) -> list[str]:
    """The currencies of the valued outcomes of ``outcomes`` up to ``as_of`` (``(none)`` when unrecorded)."""
    import ibis

    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & (o.ts <= ibis.literal(as_of)) & (o.value > 0))
    return sorted(str(c) for c in o.select(c=o.currency.upper().fill_null("(none)")).distinct().execute()["c"])


def _conversion_events(db: Any, outcomes: Sequence[str], unit: str, as_of: datetime, currency: str | None,
                       ids: Identities | None) -> Any:
    """``journey``, ``unit_id``, ``cts``, ``value``: one row per outcome event of ``outcomes``.

    Values in several currencies cannot be added: then ``currency`` must pick one (outcomes with no
    value count in any currency).
    """
    import ibis

    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(outcomes)) & (o.ts <= ibis.literal(as_of)))
    if currency is not None:
        o = o.filter((o.currency.upper() == currency.upper()) | o.value.isnull() | (o.value == 0))
    else:
        found = outcome_currencies(db, outcomes, as_of)
        if len(found) > 1:
            raise InputError(f"The {', '.join(outcomes)} outcomes carry values in {len(found)} currencies "
                             f"({', '.join(found)}), which cannot be added up. Attribute one at a time with "
                             f"--currency {found[0] if found[0] != '(none)' else found[-1]} (currency= in Python).")
    if unit == "person" and ids is not None:  # the person's, whether keyed by their member or their contact
        members = ids.members.select(mid=ids.members.member_id, via_member=ids.members.person_id)
        contacts = ids.contacts.select(cid=ids.contacts.contact_id, via_contact=ids.contacts.person_id)
        o = o.left_join(members, o.member_id == members.mid).left_join(contacts, o.contact_id == contacts.cid)
        o = o.mutate(unit_id=o.via_member.fill_null(o.via_contact))
        o = o.filter(o.unit_id.notnull())
    elif unit == "person":
        o = o.filter(o.member_id.notnull()).mutate(unit_id=o.member_id)
    else:  # the outcome's own account, else the account of its member
        o = o.left_join(_member_accounts(db), "member_id")
        o = o.mutate(unit_id=o.account_id.fill_null(o.account_id_right))
        o = o.filter(o.unit_id.notnull())
    return o.select(journey=o.source.concat(":", o.outcome_id), unit_id=o.unit_id, cts=o.ts,
                    value=o.value.cast("float64").fill_null(0.0))


def build_journeys(db: Any, *, outcomes: Sequence[str], lookback_days: int, grain: str, as_of: datetime,
                   unit: str = "person", currency: str | None = None) -> Journeys:
    """Journeys for attribution, aggregated into paths in the engine.

    ``unit="person"``: for each conversion (an outcome of ``outcomes`` keyed by a member, or by a
    CRM contact resolved to a person), that person's touches on every platform within
    ``lookback_days`` before it, in time order (touches after it excluded); without resolved
    identities a person is a member.
    ``unit="account"``: the conversion is the account's (an outcome keyed by the account, or by
    one of its members), and its journey holds the touches of every member of the account, in
    time order — so the credit is split across the members' touches. Units that never converted
    give non-converting journeys: their touches within ``lookback_days`` before ``as_of`` (the
    Markov model needs them). Values must share one currency, or ``currency`` must pick one.
    """
    import ibis

    if grain not in GRAINS:
        raise InputError(f"Touchpoints are grouped by {', '.join(GRAINS)}; {grain!r} is not one of them.")
    if unit not in UNITS:
        raise InputError(f"Journeys are per {' or '.join(UNITS)}; {unit!r} is neither.")
    if lookback_days <= 0:
        raise InputError(f"The lookback must be a positive number of days, not {lookback_days}.")
    moment = ibis.literal(as_of)
    lookback = ibis.interval(days=lookback_days)
    ids = identities(db)  # looked up once for the touches and the conversions
    a = _touchpoints(db, grain, unit, ids)
    a = a.filter(a.ts <= moment)
    o = _conversion_events(db, outcomes, unit, as_of, currency, ids)
    # The conversions, and the conversions joined with their touches, are each read by several of the queries
    # below: each is computed once and kept on the backend while they run (which also compiles each one once).
    with keeping(db, o) as o, keeping(db, o.join(a, (o.unit_id == a.unit_id) & (a.ts <= o.cts)
                                                    & (a.ts >= o.cts - lookback))) as touched:
        return _journeys(o, a, touched, moment, lookback)


def _journeys(o: Any, a: Any, touched: Any, moment: Any, lookback: Any) -> Journeys:
    import ibis

    touches = touched.select(
        journey=touched.journey, cls=touched.cls, value=touched.value,
        days_before=(touched.cts.epoch_seconds() - touched.ts.epoch_seconds()) / 86_400,
        ts=touched.ts,
    )
    per_journey = touches.group_by(["journey", "value"]).aggregate(path=_ordered_path(touches.ts, touches.cls))
    converting = per_journey.group_by("path").aggregate(c=per_journey.count().cast("float64"),
                                                        v=per_journey.value.sum(), n=ibis.literal(0.0))
    all_conversions = o.aggregate(n=o.count(), value=o.value.sum()).execute().iloc[0]

    converters = o.select("unit_id").distinct()
    idle = a.anti_join(converters, "unit_id")
    idle = idle.filter(idle.ts >= moment - lookback)
    idle_paths = idle.group_by("unit_id").aggregate(path=_ordered_path(idle.ts, idle.cls))
    nulls = idle_paths.group_by("path").aggregate(c=ibis.literal(0.0), v=ibis.literal(0.0),
                                                  n=idle_paths.count().cast("float64"))
    # Ordered, so that the paths — and the bootstrap draws made over them — are the same on every run.
    table = pa.concat_tables([converting.order_by("path").to_pyarrow(), nulls.order_by("path").to_pyarrow()],
                             promote_options="permissive")
    paths = Paths.from_arrow(table["path"], table["c"], table["v"], table["n"], separator=_JOIN)
    touch_rows = fetch(touches.select("journey", "cls", "days_before", "value")
                       .order_by(["journey", "days_before", "cls"])).rename(columns={"cls": "class"})
    touch_rows["conversions"] = 1.0
    converted, converted_value = (float(pc.sum(table[c]).as_py() or 0.0) for c in ("c", "v"))
    # Group sizes for small-cell suppression: distinct units, not conversions (a unit may convert often).
    unit_class = touched.select(unit_id=touched.unit_id, cls=touched.cls.strip()).distinct()
    per_class = fetch(unit_class.group_by("cls").aggregate(units=unit_class.count()))
    touched_journeys = touched.select("journey").distinct()
    untouched = o.anti_join(touched_journeys, "journey")
    units = touched.select(unit_id=touched.unit_id).distinct().count().execute()
    units_untouched = untouched.select("unit_id").distinct().count().execute()
    return Journeys(paths=paths, touches=touch_rows,
                    conversions_without_touch=int(all_conversions["n"] or 0) - round(converted),
                    value_without_touch=float(all_conversions["value"] or 0.0) - converted_value,
                    units_per_class={str(c): int(n) for c, n in zip(per_class["cls"], per_class["units"], strict=True)},
                    units_with_touch=int(units), units_without_touch=int(units_untouched))


def journeys_per_class(journeys: Journeys | Paths) -> np.ndarray:
    """For each class of the paths (in ``paths.classes`` order), how many converting journeys went through it.

    From the store: the distinct converting units (people, or accounts) with at least one touch of
    the class in a conversion's lookback. From an aggregated path table, which holds no people: the
    converting journeys (``conversions``) of the paths that include the class, each path counted
    once however often it repeats the class, rounded down.
    """
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    if isinstance(journeys, Journeys):
        return np.array([journeys.units_per_class.get(c, 0) for c in paths.classes], dtype=np.int64)
    live = paths.converting
    k = len(live.classes)
    if not len(live.codes):
        return np.zeros(k, dtype=np.int64)
    pair = np.unique(live.path_of_touch.astype(np.int64) * k + live.codes)  # each (path, class) once
    counts = np.bincount(pair % k, weights=live.conversions[pair // k], minlength=k)
    whole: np.ndarray = np.floor(counts + 1e-9).astype(np.int64)
    return whole
