"""People as the unit of analysis: the resolved identities (``people``) as Ibis expressions.

DESIGN: identity resolution runs before any cohorting. Analyses that count people key members and
CRM contacts by ``person_id`` through these; without resolved people each member is a person (and
CRM-keyed events reach nobody), as before resolution existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    from ibis.expr.types import Table

__all__ = ["contact_people", "member_people", "resolved"]


def resolved(db: Any) -> bool:
    """Whether identities were resolved into ``people`` (a backend without the table counts members)."""
    try:
        people = db.table("people")
    except Exception:  # each backend says "no such table" its own way
        return False
    return bool(people.count().execute())


def member_people(db: Any) -> Table:
    """``member_id`` → ``person_id`` and the person's account (DESIGN: resolution runs before any
    cohorting). A member loaded after the last resolution is a person of its own (``p:m:<id>``,
    the id resolution would give it); without resolved people each member is one."""
    m = db.table("members").select("member_id").distinct()
    if not resolved(db):
        return m.mutate(person_id=m.member_id, person_account=ibis.null(str))
    p = db.table("people")
    p = p.filter(p.member_id.notnull()).select(pid=p.member_id, person_id=p.person_id, person_account=p.account_id)
    joined = m.left_join(p, m.member_id == p.pid)
    return joined.select("member_id", person_id=joined.person_id.fill_null("p:m:" + joined.member_id),
                         person_account=joined.person_account)


def contact_people(db: Any) -> Table | None:
    """``contact_id`` → ``person_id`` when identities were resolved (else ``None``)."""
    if not resolved(db):
        return None
    p = db.table("people")
    return p.filter(p.contact_id.notnull()).select("contact_id", "person_id")
