"""Salesforce: the weekly Data Export CSVs (one file per object, API field names) and ``pull salesforce``.

A folder or ``.zip`` of ``Account.csv``, ``Contact.csv``, ``Lead.csv``, ``Opportunity.csv``,
``Campaign.csv``, ``CampaignMember.csv`` and ``Case.csv`` (file names in any case, with or without a
UTF-8 BOM; other objects are ignored). Datetimes are ``2024-01-22T16:14:25.000+0000`` (UTC, an
offset without a colon), dates ``2024-11-10`` (read as midnight UTC), booleans ``1`` or empty.
Rows with ``IsDeleted = 1`` are excluded as ``deleted``.

Mapping
-------
accounts (Account)
    ``account_id`` = Id, ``name``, ``domain`` from Website (scheme, ``www.`` and path removed),
    ``created_at`` = CreatedDate; Type, Industry, AnnualRevenue and NumberOfEmployees kept as
    attributes (AnnualRevenue is the company's revenue, not what it pays: never ``arr``).
contacts (Contact, Lead)
    ``contact_id`` = Id, ``email``, ``name``, ``account_id``, ``created_at``; contacts have the stage
    ``contact``, leads ``lead: <Status>`` (``lead: Qualified``). Converted leads are excluded as
    ``converted_lead``: the person is loaded as the contact it became.
outcomes
    Closed Won opportunities (IsWon = 1, or StageName ``Closed Won``) -> the outcome type of its Type in
    ``[sources.salesforce] opportunity_types`` (default ``purchase``), at CloseDate, with Amount and
    CurrencyIsoCode (else ``[sources.salesforce] currency``); other opportunities are excluded as
    ``not_won``. Cases -> ``support_ticket`` at CreatedDate, for their contact and account (cases with
    neither are excluded as ``no_author``).
members and activities (CampaignMember)
    A campaign member whose Status is in ``[sources.salesforce] campaign_statuses`` (Registered ->
    ``event_registered``, Attended -> ``event_attended`` by default) -> an activity of that type for
    the lead or contact (``member_id`` = LeadOrContactId), ``program`` = the campaign's name, ``ref_id`` =
    CampaignId, at FirstRespondedDate (else CreatedDate); the person becomes a member (``entry_path``
    ``event``, e-mail and name from the row) so identity resolution links them to the CRM contact.
    Other statuses (``Sent``, ...) are excluded as ``not_attendee``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from ..source_settings import SalesforceSettings, SourcesSettings
from . import SOURCES, DumpReport, Source, common
from .common import Converted, ExportFiles, email_or_none, file_schema, instant, money, read_csv, text, truthy
from .http import HttpClient

__all__ = ["OBJECTS", "convert", "convert_records", "domain_of", "load"]

OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Campaign", "CampaignMember", "Case")
ACCOUNTS_SCHEMA = file_schema("accounts", ("account_id", "name", "domain", "created_at"),
                              extra=[("type", pa.string()), ("industry", pa.string()),
                                     ("annual_revenue", pa.float64()), ("employees", pa.int64())])
CONTACTS_SCHEMA = file_schema("contacts", ("contact_id", "email", "name", "account_id", "lifecycle_stage",
                                           "created_at"))
MEMBERS_SCHEMA = file_schema("members", ("member_id", "email", "name", "joined_at", "entry_path"))
#: amounts as the export writes them (1,500.00 or 1.500,00): the load finds how and checks them
OUTCOMES_SCHEMA = file_schema("outcomes", ("outcome_id", "contact_id", "account_id", "ts", "type", "value",
                                           "currency"), text=("value",))
_WHAT = ("A Salesforce export is the folder or .zip of Setup > Data Export: Account.csv, Contact.csv, Lead.csv, "
         "Opportunity.csv, Campaign.csv, CampaignMember.csv, Case.csv (any of them).")


def domain_of(website: Any) -> str | None:
    """``https://www.Example.com/about`` -> ``example.com``."""
    out = text(website)
    if out is None:
        return None
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", out.lower()).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.")
    return host if "." in host else None


def _name(row: Mapping[str, Any]) -> str | None:
    return text(row.get("Name")) or text(" ".join(filter(None, (text(row.get("FirstName")),
                                                                text(row.get("LastName")))))) or None


def _int(value: Any) -> int | None:
    amount = money(value)
    return int(amount) if amount is not None else None


class _Org:
    def __init__(self, converted: Converted, settings: SalesforceSettings) -> None:
        self.converted = converted
        self.settings = settings

    def live(self, table: str, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        out = []
        for row in rows:
            if truthy(row.get("IsDeleted")):
                self.converted.exclude(table, "deleted")
            else:
                out.append(row)
        return out

    def accounts(self, rows: list[Mapping[str, Any]]) -> None:
        self.converted.write("accounts", [{
            "account_id": text(r.get("Id")), "name": text(r.get("Name")), "domain": domain_of(r.get("Website")),
            "created_at": instant(r.get("CreatedDate")), "type": text(r.get("Type")),
            "industry": text(r.get("Industry")),
            "annual_revenue": None if money(r.get("AnnualRevenue")) is None else float(money(r.get("AnnualRevenue"))
                                                                                        or 0),
            "employees": _int(r.get("NumberOfEmployees")),
        } for r in self.live("accounts", rows)], ACCOUNTS_SCHEMA)

    def contacts(self, contacts: list[Mapping[str, Any]], leads: list[Mapping[str, Any]]) -> None:
        out = [{"contact_id": text(r.get("Id")), "email": email_or_none(r.get("Email")), "name": _name(r),
                "account_id": text(r.get("AccountId")), "lifecycle_stage": "contact",
                "created_at": instant(r.get("CreatedDate"))} for r in self.live("contacts", contacts)]
        for r in self.live("contacts", leads):
            if truthy(r.get("IsConverted")):
                self.converted.exclude("contacts", "converted_lead")
                continue
            status = text(r.get("Status"))
            out.append({"contact_id": text(r.get("Id")), "email": email_or_none(r.get("Email")), "name": _name(r),
                        "account_id": None, "lifecycle_stage": f"lead: {status}" if status else "lead",
                        "created_at": instant(r.get("CreatedDate"))})
        self.converted.write("contacts", out, CONTACTS_SCHEMA)

    def outcomes(self, opportunities: list[Mapping[str, Any]], cases: list[Mapping[str, Any]]) -> None:
        out = []
        for r in self.live("outcomes", opportunities):
            won = truthy(r.get("IsWon")) or (text(r.get("StageName")) or "").lower() == "closed won"
            if not won:
                self.converted.exclude("outcomes", "not_won")
                continue
            kind = self.settings.opportunity_types.get(text(r.get("Type")) or "", self.settings.default_outcome)
            out.append({"outcome_id": text(r.get("Id")), "contact_id": text(r.get("ContactId")),
                        "account_id": text(r.get("AccountId")),
                        "ts": instant(r.get("CloseDate")) or instant(r.get("CreatedDate")), "type": kind,
                        "value": text(r.get("Amount")),  # the load reads it as the org's locale writes it
                        "currency": text(r.get("CurrencyIsoCode")) or self.settings.currency or None})
        for r in self.live("outcomes", cases):
            contact, account = text(r.get("ContactId")), text(r.get("AccountId"))
            if contact is None and account is None:
                self.converted.exclude("outcomes", "no_author")
                continue
            out.append({"outcome_id": text(r.get("Id")), "contact_id": contact, "account_id": account,
                        "ts": instant(r.get("CreatedDate")), "type": "support_ticket"})
        self.converted.write("outcomes", out, OUTCOMES_SCHEMA)

    def campaigns(self, members: list[Mapping[str, Any]], campaigns: list[Mapping[str, Any]]) -> None:
        names = {text(c.get("Id")): text(c.get("Name")) for c in campaigns}
        statuses = {k.lower(): v for k, v in self.settings.campaign_statuses.items()}
        activities: list[dict[str, Any]] = []
        people: dict[str, dict[str, Any]] = {}
        for r in self.live("activities", members):
            kind = statuses.get((text(r.get("Status")) or "").lower())
            person = text(r.get("LeadOrContactId")) or text(r.get("ContactId")) or text(r.get("LeadId"))
            if kind is None:
                self.converted.exclude("activities", "not_attendee")
                continue
            if person is None:
                self.converted.exclude("activities", "no_author")
                continue
            created = instant(r.get("CreatedDate"))
            ts = instant(r.get("FirstRespondedDate")) if kind.endswith("attended") else None
            campaign = text(r.get("CampaignId"))
            activities.append({"activity_id": text(r.get("Id")) or f"{campaign}:{person}", "member_id": person,
                               "ts": ts or created, "type": kind, "channel": "events",
                               "program": names.get(campaign), "ref_id": campaign})
            known = people.setdefault(person, {"member_id": person, "email": email_or_none(r.get("Email")),
                                               "name": _name(r), "joined_at": created, "entry_path": "event"})
            if created is not None and (known["joined_at"] is None or created < known["joined_at"]):
                known["joined_at"] = created
        self.converted.write("members", list(people.values()), MEMBERS_SCHEMA)
        self.converted.write("activities", activities)


def convert_records(records: Mapping[str, list[Mapping[str, Any]]], out_dir: Path,
                    settings: SalesforceSettings | None = None) -> Converted:
    """Convert records by object name (``{"Account": [...], ...}``, API field names) into canonical files."""
    converted = Converted(Path(out_dir))
    org = _Org(converted, settings or SalesforceSettings())
    org.accounts(records.get("Account", []))
    org.contacts(records.get("Contact", []), records.get("Lead", []))
    org.campaigns(records.get("CampaignMember", []), records.get("Campaign", []))
    org.outcomes(records.get("Opportunity", []), records.get("Case", []))
    converted.tables = {t: converted.tables[t] for t in ("accounts", "contacts", "members", "activities", "outcomes")}
    return converted


def convert(path: Path, out_dir: Path, settings: SalesforceSettings | None = None) -> Converted:
    """Convert a Salesforce Data Export (folder or ``.zip`` of object CSVs) into canonical files."""
    files = ExportFiles(path, "Salesforce export")
    try:
        by_object = {name.lower(): name for name in OBJECTS}
        records: dict[str, list[Mapping[str, Any]]] = {}
        for name in files.names:
            pure = PurePosixPath(name)
            obj = by_object.get(pure.stem.lower())
            if obj is None or pure.suffix.lower() != ".csv":
                continue
            rows = read_csv(files.read_bytes(name), name)
            if not rows or ("Id" not in rows[0] and obj != "CampaignMember"):
                msg = f"{name} has no Id column: is it a Salesforce Data Export file? {_WHAT}"
                raise UnreadableFileError(msg)
            header = rows[0]
            records.setdefault(obj, []).extend(dict(zip(header, row, strict=False)) for row in rows[1:] if any(row))
        if not records:
            msg = f"Cannot read the Salesforce export {path}: none of {', '.join(OBJECTS)} is there. {_WHAT}"
            raise UnreadableFileError(msg)
        converted = convert_records(records, out_dir, settings)
        for obj, rows_ in records.items():
            converted.counts[f"{obj}_rows"] = len(rows_)
        return converted
    finally:
        files.close()


def load(loader: Loader, path: Path, source: str = "salesforce", now: datetime | None = None, *,
         settings: SourcesSettings | None = None) -> DumpReport:
    """Convert a Salesforce Data Export and load accounts, contacts, members, activities and outcomes."""
    with common.scratch_folder("salesforce") as scratch:
        converted = convert(Path(path), Path(scratch), (settings or SourcesSettings()).salesforce)
        return common.load_converted(loader, converted, source, now, Path(path).name)


API_VERSION = "v59.0"
#: the fields a pull asks for, per object (standard fields every org has)
FIELDS = {
    "Account": ("Id", "Name", "Website", "Type", "Industry", "AnnualRevenue", "NumberOfEmployees", "CreatedDate"),
    "Contact": ("Id", "AccountId", "FirstName", "LastName", "Email", "CreatedDate"),
    "Lead": ("Id", "FirstName", "LastName", "Email", "Status", "IsConverted", "CreatedDate"),
    "Opportunity": ("Id", "AccountId", "StageName", "Amount", "CloseDate", "Type", "IsWon", "CreatedDate"),
    "Campaign": ("Id", "Name", "Type", "StartDate"),
    "CampaignMember": ("Id", "CampaignId", "LeadId", "ContactId", "LeadOrContactId", "Status", "Email", "Name",
                       "FirstRespondedDate", "CreatedDate"),
    "Case": ("Id", "ContactId", "AccountId", "Status", "CreatedDate"),
}


def pull(loader: Loader, url: str, credentials: Mapping[str, str], source: str, now: datetime | None,
         cursor: Mapping[str, Any], *, settings: SourcesSettings | None = None,
         http: Mapping[str, Any] | None = None) -> tuple[DumpReport, dict[str, Any]]:
    """Query each object through the REST API (``/services/data/vXX.X/query``, following ``nextRecordsUrl``)
    for the records modified since the last pull (``SystemModstamp`` in the cursor), and load them as an
    export. Returns the report and the new cursor (the latest ``SystemModstamp`` per object)."""
    client = HttpClient(url, headers={"Authorization": f"Bearer {credentials['token']}"},
                        credential_env=credentials.get("env", "COMMETRICS_SALESFORCE_TOKEN"), **dict(http or {}))
    records: dict[str, list[Mapping[str, Any]]] = {}
    new_cursor: dict[str, Any] = dict(cursor)
    for obj, fields in FIELDS.items():
        since = instant(cursor.get(obj))  # SOQL takes ...T16:14:25Z; a second's records come again, as duplicates
        where = f" WHERE SystemModstamp >= {since.strftime('%Y-%m-%dT%H:%M:%SZ')}" if since else ""
        query = f"SELECT {', '.join(fields)}, SystemModstamp FROM {obj}{where} ORDER BY SystemModstamp"
        page = common.mapping(client.get(f"/services/data/{API_VERSION}/query", {"q": query}))
        while True:
            rows = [common.mapping(r) for r in page.get("records") or []]
            records.setdefault(obj, []).extend(rows)
            stamps = [s for r in rows if (s := text(r.get("SystemModstamp")))]
            if stamps:
                new_cursor[obj] = max(stamps + ([new_cursor[obj]] if new_cursor.get(obj) else []))
            following = text(page.get("nextRecordsUrl"))
            if page.get("done", True) or following is None:
                break
            page = common.mapping(client.get(following))
    with common.scratch_folder("salesforce") as scratch:
        converted = convert_records(records, Path(scratch), (settings or SourcesSettings()).salesforce)
        report = common.load_converted(loader, converted, source, now, "salesforce API")
    report.counts["http_requests"] = client.requests
    return report, new_cursor


SOURCES.register("salesforce", Source(
    name="salesforce", label="Salesforce Data Export CSVs",
    help="the Data Export folder or .zip (Account, Contact, Lead, Opportunity, Campaign, CampaignMember, Case .csv)",
    default_source="salesforce", load=load, options=("settings",), pull=pull,
    pull_help="--url https://yourorg.my.salesforce.com; an OAuth access token in COMMETRICS_SALESFORCE_TOKEN"))
