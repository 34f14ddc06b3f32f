"""HubSpot: CRM CSV exports (contacts, companies, deals) and ``pull hubspot`` (CRM v3 objects).

UI exports (a CSV per object view, or a folder or ``.zip`` of them) name their columns by property
*label* (``Record ID``, ``Email``, ``Company Domain Name``, ``Deal Stage`` ...); the API names them by
internal name (``email``, ``domain``, ``dealstage`` ...). Both are read into the internal names, then
mapped the same way. Which object a file holds comes from its name (``contacts``, ``companies``,
``deals``), else from its columns. Multi-valued associations are joined with ``;``. UI exports write
times in the exporting user's zone without saying which: ``--timezone`` names it (the API writes UTC).

Mapping
-------
accounts (companies)
    ``account_id`` = Record ID, ``name``, ``domain``, ``created_at``; industry kept as an attribute.
contacts
    ``contact_id`` = Record ID, ``email``, ``name`` (first and last), ``account_id`` = the first associated
    company, ``lifecycle_stage`` (``Lifecycle Stage``, internal value or label), ``created_at``.
outcomes (deals)
    A deal whose stage is in ``[sources.hubspot] won_stages`` (``closedwon`` / ``Closed Won``) -> the
    outcome type of its deal type in ``[sources.hubspot] deal_types`` (default ``purchase``), at its
    close date, with ``value`` = amount and ``currency`` (the deal's, else ``[sources.hubspot]
    currency``), for its first associated company and contact. Other deals are excluded as ``not_won``.
excluded
    HubSpot's sample records ("Maria Johnson (Sample Contact)", "Brian Halligan (Sample Contact)", the
    company "HubSpot") as ``sample_record``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from ..source_settings import HubspotSettings, SourcesSettings
from . import SOURCES, DumpReport, Source, common
from .common import Converted, ExportFiles, LocalClock, email_or_none, file_schema, mapping, read_csv, text
from .http import HttpClient
from .salesforce import domain_of

__all__ = ["LABELS", "convert", "convert_records", "load"]

OBJECTS = ("contacts", "companies", "deals")
#: property label (lower case) -> internal name, for UI exports
LABELS: dict[str, str] = {
    "record id": "hs_object_id", "email": "email", "first name": "firstname", "last name": "lastname",
    "lifecycle stage": "lifecyclestage", "create date": "createdate", "associated company id": "associatedcompanyid",
    "associated company ids": "associatedcompanyid", "associated company ids (primary)": "associatedcompanyid",
    "company name": "name", "name": "name", "company domain name": "domain", "website url": "website",
    "industry": "industry", "deal name": "dealname", "deal stage": "dealstage", "amount": "amount",
    "close date": "closedate", "deal type": "dealtype", "pipeline": "pipeline", "currency": "deal_currency_code",
    "associated contact ids": "associatedcontactid", "associated contact id": "associatedcontactid",
    "associated contact": "associatedcontactid",
}
SAMPLE_NAMES = ("maria johnson (sample contact)", "brian halligan (sample contact)")
SAMPLE_COMPANIES = ("hubspot",)
ACCOUNTS_SCHEMA = file_schema("accounts", ("account_id", "name", "domain", "created_at"),
                              extra=[("industry", pa.string())])
CONTACTS_SCHEMA = file_schema("contacts", ("contact_id", "email", "name", "account_id", "lifecycle_stage",
                                           "created_at"))
#: amounts as the export writes them (1,500.00 or 1.500,00): the load finds how and checks them
OUTCOMES_SCHEMA = file_schema("outcomes", ("outcome_id", "contact_id", "account_id", "ts", "type", "value",
                                           "currency"), text=("value",))
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p",
                "%m/%d/%Y", "%d/%m/%Y %H:%M")
_WHAT = ("A HubSpot export is the CSV of a contacts, companies or deals view (Export), or a folder or .zip of them; "
         "name the files contacts.csv, companies.csv and deals.csv, or keep HubSpot's columns.")


def _first(value: Any) -> str | None:
    out = text(value)
    return text(re.split(r"[;,]", out)[0]) if out else None


def _object_of(name: str, header: Sequence[str]) -> str | None:
    stem = PurePosixPath(name).stem.lower()
    for obj in OBJECTS:
        if obj in stem or obj.rstrip("s") in stem or (obj == "companies" and "company" in stem):
            return obj
    labels = {h.strip().lower() for h in header}
    if "deal stage" in labels:
        return "deals"
    if "company domain name" in labels:
        return "companies"
    if "email" in labels:
        return "contacts"
    return None


def _associated(record: Mapping[str, Any], key: str, association: str) -> str | None:
    """The first associated id: an ``associatedcompanyid`` property, or the API's ``associations`` lists."""
    found = _first(mapping(record.get("properties")).get(key))
    if found:
        return found
    results = mapping(mapping(record.get("associations")).get(association)).get("results") or []
    return next((text(mapping(r).get("id")) for r in results if text(mapping(r).get("id"))), None)


class _Portal:
    def __init__(self, converted: Converted, settings: HubspotSettings, clock: LocalClock) -> None:
        self.converted = converted
        self.settings = settings
        self.clock = clock

    def companies(self, records: list[Mapping[str, Any]]) -> None:
        rows = []
        for record in records:
            p = mapping(record.get("properties"))
            if (text(p.get("name")) or "").lower() in SAMPLE_COMPANIES:
                self.converted.exclude("accounts", "sample_record")
                continue
            rows.append({"account_id": text(record.get("id")) or text(p.get("hs_object_id")),
                         "name": text(p.get("name")),
                         "domain": domain_of(p.get("domain") or p.get("website")),
                         "created_at": self.clock(p.get("createdate") or record.get("createdAt")),
                         "industry": text(p.get("industry"))})
        self.converted.write("accounts", rows, ACCOUNTS_SCHEMA)

    def contacts(self, records: list[Mapping[str, Any]]) -> None:
        rows = []
        for record in records:
            p = mapping(record.get("properties"))
            name = " ".join(filter(None, (text(p.get("firstname")), text(p.get("lastname"))))) or None
            if (name or "").lower() in SAMPLE_NAMES:
                self.converted.exclude("contacts", "sample_record")
                continue
            rows.append({"contact_id": text(record.get("id")) or text(p.get("hs_object_id")),
                         "email": email_or_none(p.get("email")), "name": name,
                         "account_id": _associated(record, "associatedcompanyid", "companies"),
                         "lifecycle_stage": text(p.get("lifecyclestage")),
                         "created_at": self.clock(p.get("createdate") or record.get("createdAt"))})
        self.converted.write("contacts", rows, CONTACTS_SCHEMA)

    def deals(self, records: list[Mapping[str, Any]]) -> None:
        won = {s.lower().replace(" ", "") for s in self.settings.won_stages}
        rows = []
        for record in records:
            p = mapping(record.get("properties"))
            if (text(p.get("dealstage")) or "").lower().replace(" ", "") not in won:
                self.converted.exclude("outcomes", "not_won")
                continue
            kind = self.settings.deal_types.get(text(p.get("dealtype")) or "", self.settings.default_outcome)
            rows.append({"outcome_id": text(record.get("id")) or text(p.get("hs_object_id")),
                         "contact_id": _associated(record, "associatedcontactid", "contacts"),
                         "account_id": _associated(record, "associatedcompanyid", "companies"),
                         "ts": self.clock(p.get("closedate")) or self.clock(p.get("createdate")), "type": kind,
                         "value": text(p.get("amount")),  # the load reads it as the portal's locale writes it
                         "currency": text(p.get("deal_currency_code")) or self.settings.currency or None})
        self.converted.write("outcomes", rows, OUTCOMES_SCHEMA)


def convert_records(records: Mapping[str, list[Mapping[str, Any]]], out_dir: Path,
                    settings: HubspotSettings | None = None, zone: str | None = None) -> Converted:
    """Convert HubSpot records by object (``{"contacts": [{"id", "properties", "associations"}], ...}``)."""
    converted = Converted(Path(out_dir))
    portal = _Portal(converted, settings or HubspotSettings(), LocalClock(zone, "HubSpot CSV exports", DATE_FORMATS))
    portal.companies(records.get("companies", []))
    portal.contacts(records.get("contacts", []))
    portal.deals(records.get("deals", []))
    return converted


def convert(path: Path, out_dir: Path, settings: HubspotSettings | None = None, zone: str | None = None) -> Converted:
    """Convert HubSpot CRM CSV exports (a file, a folder or a ``.zip``) into canonical files."""
    files = ExportFiles(path, "HubSpot export")
    try:
        records: dict[str, list[Mapping[str, Any]]] = {}
        for name in files.names:
            if PurePosixPath(name).suffix.lower() != ".csv":
                continue
            rows = read_csv(files.read_bytes(name), name)
            if not rows:
                continue
            obj = _object_of(name, rows[0])
            if obj is None:
                msg = f"Cannot tell which HubSpot object {name} holds. {_WHAT}"
                raise UnreadableFileError(msg)
            keys = [LABELS.get(h.strip().lower(), h.strip()) for h in rows[0]]
            if "hs_object_id" not in keys:
                msg = f"{name} has no 'Record ID' column, which every HubSpot export has. {_WHAT}"
                raise UnreadableFileError(msg)
            records.setdefault(obj, []).extend({"properties": dict(zip(keys, row, strict=False))}
                                               for row in rows[1:] if any(c.strip() for c in row))
        if not records:
            msg = f"Cannot read the HubSpot export {path}: no contacts, companies or deals CSV. {_WHAT}"
            raise UnreadableFileError(msg)
        return convert_records(records, out_dir, settings, zone)
    finally:
        files.close()


def load(loader: Loader, path: Path, source: str = "hubspot", now: datetime | None = None, *,
         settings: SourcesSettings | None = None, timezone: str | None = None) -> DumpReport:
    """Convert HubSpot CSV exports and load accounts, contacts and closed-won deals through ``loader``."""
    with common.scratch_folder("hubspot") as scratch:
        converted = convert(Path(path), Path(scratch), (settings or SourcesSettings()).hubspot, timezone)
        return common.load_converted(loader, converted, source, now, Path(path).name)


#: properties asked for per object (the API returns only the properties named)
PROPERTIES = {
    "contacts": ("email", "firstname", "lastname", "lifecyclestage", "createdate", "associatedcompanyid"),
    "companies": ("name", "domain", "website", "industry", "createdate"),
    "deals": ("dealname", "dealstage", "amount", "closedate", "dealtype", "pipeline", "deal_currency_code",
              "createdate"),
}


def pull(loader: Loader, url: str, credentials: Mapping[str, str], source: str, now: datetime | None,
         cursor: Mapping[str, Any], *, settings: SourcesSettings | None = None, timezone: str | None = None,
         http: Mapping[str, Any] | None = None) -> tuple[DumpReport, dict[str, Any]]:
    """Fetch CRM v3 objects (``/crm/v3/objects/{contacts,companies,deals}``, ``after`` paging, with their
    associations) and load them as an export.

    Companies resume after the last company id of the previous pull (only new ones are fetched). Contacts
    and deals are fetched in full each time: a deal won since the last pull must become an outcome (won
    deals already loaded are duplicates), and a contact id in the cursor would be a person identifier
    kept outside the tables that erasure clears (the cursor holds company ids only).
    """
    del timezone  # the API writes UTC
    client = HttpClient(url, headers={"Authorization": f"Bearer {credentials['token']}"},
                        credential_env=credentials.get("env", "COMMETRICS_HUBSPOT_TOKEN"), **dict(http or {}))
    records: dict[str, list[Mapping[str, Any]]] = {}
    new_cursor: dict[str, Any] = dict(cursor)
    for obj in OBJECTS:
        incremental = obj == "companies"
        after = text(cursor.get(f"{obj}_after")) if incremental else None
        params = {"limit": 100, "properties": ",".join(PROPERTIES[obj]),
                  "associations": "companies,contacts" if obj != "companies" else None}
        while True:
            page = mapping(client.get(f"/crm/v3/objects/{obj}", {**params, "after": after}))
            results = [mapping(r) for r in page.get("results") or []]
            records.setdefault(obj, []).extend(results)
            ids = [int(i) for r in results if (i := text(r.get("id"))) and i.isdigit()]
            if ids and incremental:
                new_cursor[f"{obj}_after"] = str(max([*ids, int(new_cursor.get(f"{obj}_after") or 0)]))
            following = text(mapping(mapping(page.get("paging")).get("next")).get("after"))
            if not results or following is None or following == after:
                break
            after = following
    with common.scratch_folder("hubspot") as scratch:
        converted = convert_records(records, Path(scratch), (settings or SourcesSettings()).hubspot, "UTC")
        report = common.load_converted(loader, converted, source, now, "hubspot API")
    report.counts["http_requests"] = client.requests
    return report, new_cursor


SOURCES.register("hubspot", Source(
    name="hubspot", label="HubSpot CRM exports",
    help="contacts, companies and deals CSV exports (file, folder or .zip); --timezone for their local times",
    default_source="hubspot", load=load, options=("settings", "timezone"), pull=pull,
    pull_help="--url https://api.hubapi.com; a private app token in COMMETRICS_HUBSPOT_TOKEN (CRM read scopes)"))
