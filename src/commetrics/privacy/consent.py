"""Consent: who may appear in a person-level output (member lists, CRM files, pseudonymised exports).

A person is listed only when every record of theirs says ``consent = true`` — the most restrictive consent
of their records applies, and a missing value counts as no. A person's records are

* every row of the member or contact (the same id loaded again, from another file or source), and
* every member and CRM contact record resolved into the same person (``people``), and
* every member and contact record with one of the person's e-mail addresses (normalised as identity
  resolution normalises them), so that a withdrawal counts at once even before identities are resolved
  again (``identity.resolve_on_load = false``).

A withdrawal on any of them — a re-loaded member row, a CRM contact saying no — takes the person out of
every person-level output on the next run. Aggregates still count everyone.
"""

from __future__ import annotations

import duckdb

from ..identity.rules import email_sql

__all__ = ["CONSENT_SQL", "consenting"]

#: One row per member and contact: ``kind`` (member_id or contact_id), ``value`` (the id), ``ok`` (listed).
CONSENT_SQL = f"""
with records as (
    select 'm:' || member_id as record_id, 'member_id' as kind, member_id as value, consent,
           {email_sql('email')} as email
    from members
    union all
    select 'c:' || contact_id, 'contact_id', contact_id, consent, {email_sql('email')}
    from contacts
),
per_record as (
    select record_id, kind, value, bool_and(coalesce(consent, false)) as ok
    from records group by record_id, kind, value
),
grouped as (
    select r.record_id, r.kind, r.value, r.ok, coalesce(p.person_id, r.record_id) as person_id
    from per_record as r left join people as p using (record_id)
),
person_emails as (
    select distinct g.person_id, e.email
    from grouped as g join records as e using (record_id)
    where e.email is not null
),
email_ok as (
    select e.email, bool_and(g.ok) as ok
    from (select distinct record_id, email from records where email is not null) as e
    join grouped as g using (record_id)
    group by e.email
),
person_ok as (
    select g.person_id, bool_and(g.ok) and coalesce(bool_and(x.ok), true) as ok
    from grouped as g
    left join person_emails as pe using (person_id)
    left join email_ok as x using (email)
    group by g.person_id
)
select g.kind, g.value, o.ok
from grouped as g join person_ok as o using (person_id)
"""


def consenting(con: duckdb.DuckDBPyConnection, kind: str = "member_id") -> set[str]:
    """The ids of ``kind`` (``member_id`` or ``contact_id``) whose person may be listed (see the module)."""
    rows = con.execute(f"select value from ({CONSENT_SQL}) where kind = ? and ok", [kind]).fetchall()
    return {str(r[0]) for r in rows}
