"""People as the unit of analysis: the resolved identities (``people``) as Ibis expressions.

DESIGN: identity resolution runs before any cohorting. Analyses that count people key members and
CRM contacts by ``person_id`` through :func:`identities`, looked up once per analysis; without
resolved people (``None``) each member is a person and CRM-keyed events reach nobody, as before
resolution existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibis.expr.types import Table

__all__ = ["Identities", "identities"]


@dataclass(frozen=True)
class Identities:
    """The resolved people of a store, as expressions.

    ``members``: ``member_id`` → ``person_id`` and ``person_account`` (the person's account). A
    member loaded after the last resolution is a person of its own (``p:m:<id>``, the id
    resolution would give it). ``contacts``: ``contact_id`` → ``person_id``. ``people``: the table.
    """

    members: Table
    contacts: Table
    people: Table


def identities(db: Any) -> Identities | None:
    """The resolved identities, or ``None`` when the store was never resolved (or the backend has no
    ``people`` table, as a Spark session given only the canonical tables)."""
    try:
        people = db.table("people")
    except Exception:  # each backend says "no such table" its own way
        return None
    if not people.count().execute():
        return None
    m = db.table("members").select("member_id").distinct()
    p = people.filter(people.member_id.notnull()).select(pid=people.member_id, person_id=people.person_id,
                                                         person_account=people.account_id)
    joined = m.left_join(p, m.member_id == p.pid)
    members = joined.select("member_id", person_id=joined.person_id.fill_null("p:m:" + joined.member_id),
                            person_account=joined.person_account)
    contacts = people.filter(people.contact_id.notnull()).select("contact_id", "person_id")
    return Identities(members=members, contacts=contacts, people=people)
