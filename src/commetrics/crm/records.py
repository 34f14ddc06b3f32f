"""The records a CRM receives: the input frames checked and normalised, and values as files and APIs want them.

Two frames come in: ``contacts`` (one row per consenting person, keyed by ``member_id``) and ``companies``
(one row per account, keyed by ``account_id``). Both are checked, scores are rounded to one decimal, dates
are reduced to the UTC calendar day, and rows are sorted by their external id, so the same input always
gives the same files and the same batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from ..errors import CommetricsError, InputError, MissingColumnError, UnknownNameError

TARGETS = ("hubspot", "salesforce")
CONTACT_COLUMNS = (
    "email", "member_id", "community_engagement_score", "community_tier", "community_last_active",
    "community_tags",
)
COMPANY_COLUMNS = (
    "account_id", "domain", "health_score", "health_band", "community_engagement_score",
    "community_active_members",
)

Record = dict[str, Any]
#: An optional column of the contacts frame: the CRM contact ids (``;``-separated) resolved into the member's
#: person, for rows HubSpot cannot match by e-mail.
CRM_CONTACT_COLUMN = "crm_contact_id"

# Per target and object: (field of the normalised record, CSV header, API name). The API name of the field
# a HubSpot upsert is keyed by is None: it travels as the input's "id", not as a property.
FIELDS: dict[tuple[str, str], tuple[tuple[str, str, str | None], ...]] = {
    ("hubspot", "contacts"): (
        ("email", "Email", None),
        ("member_id", "commetrics_member_id", "commetrics_member_id"),
        ("score", "community_engagement_score", "community_engagement_score"),
        ("tier", "community_tier", "community_tier"),
        ("last_active", "community_last_active", "community_last_active"),
        ("tags", "community_tags", "community_tags"),
    ),
    # HubSpot's importer matches contacts by e-mail: rows without one go to a file of their own, with the ids of
    # the CRM contacts their person resolved to (to import as "Record ID"), never into the main file.
    ("hubspot", "contacts_without_email"): (
        ("member_id", "commetrics_member_id", None),
        ("crm_contact_id", "crm_contact_id", None),
        ("score", "community_engagement_score", None),
        ("tier", "community_tier", None),
        ("last_active", "community_last_active", None),
        ("tags", "community_tags", None),
    ),
    ("hubspot", "companies"): (
        ("domain", "Company Domain Name", "domain"),
        ("account_id", "commetrics_account_id", None),
        ("health_score", "health_score", "health_score"),
        ("health_band", "health_band", "health_band"),
        ("score", "community_engagement_score", "community_engagement_score"),
        ("active_members", "community_active_members", "community_active_members"),
    ),
    ("salesforce", "contacts"): (
        ("email", "Email", "Email"),
        ("member_id", "Commetrics_Member_Id__c", "Commetrics_Member_Id__c"),
        ("score", "Community_Engagement_Score__c", "Community_Engagement_Score__c"),
        ("tier", "Community_Tier__c", "Community_Tier__c"),
        ("last_active", "Community_Last_Active__c", "Community_Last_Active__c"),
        ("tags", "Community_Tags__c", "Community_Tags__c"),
    ),
    ("salesforce", "companies"): (
        ("domain", "Website", "Website"),
        ("account_id", "Commetrics_Account_Id__c", "Commetrics_Account_Id__c"),
        ("health_score", "Health_Score__c", "Health_Score__c"),
        ("health_band", "Health_Band__c", "Health_Band__c"),
        ("score", "Community_Engagement_Score__c", "Community_Engagement_Score__c"),
        ("active_members", "Community_Active_Members__c", "Community_Active_Members__c"),
    ),
}
FILES = {
    ("hubspot", "contacts"): "hubspot_contacts.csv",
    ("hubspot", "contacts_without_email"): "hubspot_contacts_without_email.csv",
    ("hubspot", "companies"): "hubspot_companies.csv",
    ("salesforce", "contacts"): "salesforce_contacts.csv",
    ("salesforce", "companies"): "salesforce_accounts.csv",
}
ID_FIELD = {"contacts": "member_id", "companies": "account_id"}
# HubSpot's idProperty per object, and the record field holding its value.
HUBSPOT_KEY = {"contacts": ("email", "email"), "companies": ("commetrics_account_id", "account_id")}
NAME = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


class CrmError(CommetricsError):
    """The CRM refused the token, rejected a request, or stayed unavailable through every retry."""




# ---- input ------------------------------------------------------------------------------------------------


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise UnknownNameError.for_name("CRM target", target, TARGETS)


def require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise MissingColumnError(
                f"The {name} frame has no column {column!r}. Add it (missing values are allowed except in the id "
                f"column); the {name} frame needs: {', '.join(columns)}."
            )


def ids(frame: pd.DataFrame, name: str, column: str) -> list[str]:
    ids = [text(value) for value in frame[column]]
    if None in ids:
        raise InputError(f"{ids.count(None)} row(s) of {name} have no {column}; every row needs its external id.")
    duplicates = sorted(str(i) for i, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise InputError(f"{name} has repeated {column} values ({', '.join(duplicates[:5])}); keep one row each.")
    return [str(i) for i in ids]


def numbers(frame: pd.DataFrame, name: str, column: str) -> list[float | None]:
    try:
        values = pd.to_numeric(frame[column], errors="raise")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}.{column} must hold numbers ({exc}); fix or blank the bad values.") from None
    return [None if pd.isna(v) else float(v) for v in values]


def dates(frame: pd.DataFrame, name: str, column: str) -> list[date | None]:
    try:
        stamps = pd.to_datetime(frame[column], utc=True, errors="raise")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}.{column} must hold timestamps ({exc}); fix or blank the bad values.") from None
    return [None if pd.isna(s) else s.date() for s in stamps]


def text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def score(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def contacts_records(frame: pd.DataFrame) -> list[Record]:
    require(frame, "contacts", CONTACT_COLUMNS)
    columns = zip(
        ids(frame, "contacts", "member_id"),
        frame["email"],
        numbers(frame, "contacts", "community_engagement_score"),
        frame["community_tier"],
        dates(frame, "contacts", "community_last_active"),
        frame["community_tags"],
        strict=True,
    )
    crm_ids = frame[CRM_CONTACT_COLUMN] if CRM_CONTACT_COLUMN in frame.columns else [None] * len(frame)
    records = [
        {"member_id": i, "email": text(e), "score": score(s), "tier": text(t), "last_active": d, "tags": text(g),
         "crm_contact_id": text(c)}
        for (i, e, s, t, d, g), c in zip(columns, crm_ids, strict=True)
    ]
    return sorted(records, key=lambda r: r["member_id"])


def companies_records(frame: pd.DataFrame) -> list[Record]:
    require(frame, "companies", COMPANY_COLUMNS)
    columns = zip(
        ids(frame, "companies", "account_id"),
        frame["domain"],
        numbers(frame, "companies", "health_score"),
        frame["health_band"],
        numbers(frame, "companies", "community_engagement_score"),
        numbers(frame, "companies", "community_active_members"),
        strict=True,
    )
    records = [
        {"account_id": i, "domain": text(d), "health_score": score(h), "health_band": text(b), "score": score(s),
         "active_members": None if n is None else int(n)}
        for i, d, h, b, s, n in columns
    ]
    return sorted(records, key=lambda r: r["account_id"])


def community_tags(tier: str | None, recent: bool) -> str:
    """The tags of a member: ``community-<tier>``, and ``community-recent`` when they did something in the last
    ``scores.engagement.active_days``. The recency tag has a name of its own: the tier ``active`` is a level of
    engagement, and a dormant member with one small recent activity is recent, not active."""
    tags = [f"community-{tier}"] if tier else []
    if recent:
        tags.append("community-recent")
    return ";".join(dict.fromkeys(tags))


def failure(obj: str, record_id: str, error: str) -> dict[str, str]:
    return {"object": obj, "id": record_id, "error": error}


# ---- output values ----------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def api_value(target: str, value: Any) -> Any:
    """HubSpot takes every property as a string, a date as midnight-UTC epoch ms; Salesforce takes JSON types."""
    if isinstance(value, date):
        if target == "hubspot":
            return str(int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()) * 1000)
        return value.isoformat()
    return cell(value) if target == "hubspot" else value
