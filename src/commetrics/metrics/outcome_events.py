"""Outcome events one by one, and conversions anchored at an outcome: repeat and nth purchases.

A conversion counts the *first* outcome after its anchor, so the conversion engine may see one
outcome twice (a purchase keyed by both the member and the CRM contact of one person) without harm.
Counting the *n*-th outcome, or adding up what outcomes were worth, may not: :func:`outcome_events`
gives every outcome of some types once per unit (``outcome_id``, ``type``, ``ts``, ``value``,
``currency``), with the unit it belongs to — the person (through the member or the CRM contact), or
the account (the outcome's own account, or its person's).

**Anchored at an outcome** (``anchor = "outcome:TYPE"``, ``nth = N``, default 2): the anchor of a
unit is its ``(N − 1)``-th outcome of ``TYPE`` in time order (ties by ``outcome_id``); the conversion
is the first outcome of the conversion's types after it, leaving out the anchor and the ``TYPE``
outcomes before it. With the conversion's outcome the anchor's type, that is the *N*-th outcome:
``anchor = "outcome:purchase"``, ``outcome = "purchase"``, ``nth = 2`` is a second purchase within
the window after the first. Two outcomes of the type at the same instant are two: the second
converts on day 0. Only members have an anchor (the community's customers: staff left out), and the
windows, maturity and in-progress rules are those of every conversion — a unit whose window after
its anchor has not fully elapsed is in progress, never a non-converter. Units that never had the
``N − 1`` outcomes have no anchor and are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import ibis

from ..errors import InputError

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from .people import Identities

__all__ = ["OUTCOME_ANCHOR", "anchor_type", "conversion_events", "outcome_anchors", "outcome_events"]

#: The prefix of an anchor that is an outcome (``outcome:purchase``).
OUTCOME_ANCHOR = "outcome:"
_COLUMNS = ("outcome_id", "type", "ts", "value", "currency")


def anchor_type(anchor: str) -> str | None:
    """The outcome type of an ``outcome:TYPE`` anchor, else ``None``."""
    if not anchor.startswith(OUTCOME_ANCHOR):
        return None
    kind = anchor.removeprefix(OUTCOME_ANCHOR).strip()
    if not kind:
        raise InputError("An outcome anchor names its type: anchor = \"outcome:purchase\".")
    return kind


def outcome_events(db: Any, types: Sequence[str], unit: Literal["person", "account"], ids: Identities | None,
                   people: Table) -> Table:
    """Every outcome of ``types``, once per unit: ``unit_id`` and :data:`_COLUMNS`.

    ``people``: one row per person with ``person_id`` and ``account_id`` (the account of their first
    join), for account units."""
    o = db.table("outcomes")
    o = o.filter(o.type.isin(list(types)))
    if ids is None:
        by_person = o.filter(o.member_id.notnull()).select(*_COLUMNS, person_id=o.member_id)
    else:
        via_member = o.join(ids.members.select("member_id", "person_id"), "member_id")
        via_contact = o.join(ids.contacts.select("contact_id", "person_id"), "contact_id")
        by_person = via_member.select(*_COLUMNS, "person_id").union(via_contact.select(*_COLUMNS, "person_id"),
                                                                    distinct=True)  # once per person
    if unit == "person":
        return by_person.select(*_COLUMNS, unit_id=by_person.person_id)
    accounts = people.select("person_id", person_account=people.account_id)
    via_person = by_person.join(accounts, "person_id")
    direct = o.filter(o.account_id.notnull()).select(*_COLUMNS, unit_id=o.account_id)
    both = direct.union(via_person.select(*_COLUMNS, unit_id=via_person.person_account), distinct=True)
    return both.filter(both.unit_id.notnull())


def _ranked(db: Any, kind: str, unit: Literal["person", "account"], ids: Identities | None, people: Table) -> Table:
    """The outcomes of ``kind`` per unit, numbered in time order from 0 (``position``; ties by ``outcome_id``)."""
    events = outcome_events(db, (kind,), unit, ids, people)
    return events.mutate(position=ibis.row_number().over(group_by="unit_id", order_by=["ts", "outcome_id"]))


def _checked(anchor: str, nth: int) -> str:
    kind = anchor_type(anchor)
    if kind is None:
        raise InputError(f"{anchor!r} is not an outcome anchor (outcome:TYPE).")
    if nth < 2:
        raise InputError(f"nth must be 2 or more (the anchor is the outcome before the nth), not {nth}.")
    return kind


def outcome_anchors(db: Any, *, anchor: str, nth: int, unit: Literal["person", "account"], ids: Identities | None,
                    joined: Table, people: Table) -> Table:
    """The units of a conversion anchored at an outcome (see the module docstring): ``joined``'s columns
    (``unit_id``, ``person_id``, ``account_id``, ``entry_path``; the units anchored at their first join, staff
    left out) with ``t0`` the time of their ``(nth − 1)``-th outcome of the anchor's type.

    ``people`` as for :func:`outcome_events`."""
    kind = _checked(anchor, nth)
    ranked = _ranked(db, kind, unit, ids, people)
    anchors = ranked.filter(ranked.position == nth - 2).select("unit_id", t0=ranked.ts)  # position counts from 0
    anchored = joined.drop("t0").join(anchors, "unit_id")
    return anchored.select("unit_id", "person_id", "account_id", "entry_path", "t0")


def conversion_events(db: Any, *, anchor: str, nth: int, outcomes: Sequence[str], unit: Literal["person", "account"],
                      ids: Identities | None, people: Table) -> Table:
    """The outcomes that can convert, each once per unit: ``unit_id``, ``ts``, ``value``, ``currency``.

    Every outcome of ``outcomes``; with an outcome anchor, without the anchor and the outcomes of its type
    before it."""
    kind = anchor_type(anchor)
    if kind is None:
        return outcome_events(db, outcomes, unit, ids, people).select("unit_id", "ts", "value", "currency")
    _checked(anchor, nth)
    parts = []
    if kind in outcomes:
        ranked = _ranked(db, kind, unit, ids, people)
        parts.append(ranked.filter(ranked.position >= nth - 1).select("unit_id", "ts", "value", "currency"))
    others = [t for t in outcomes if t != kind]
    if others:
        parts.append(outcome_events(db, others, unit, ids, people).select("unit_id", "ts", "value", "currency"))
    return parts[0] if len(parts) == 1 else parts[0].union(parts[1], distinct=False)
