"""Hand community scores to a CRM: import files for HubSpot and Salesforce, or a push through their REST APIs.

Two frames come in: ``contacts`` (one row per consenting person, keyed by ``member_id``) and ``companies``
(one row per account, keyed by ``account_id``). Both are checked, scores are rounded to one decimal, dates
are reduced to the UTC calendar day, and rows are sorted by their external id, so the same input always
gives the same files and the same batches.

Files (:func:`export_files`)
    HubSpot: ``hubspot_contacts.csv`` and ``hubspot_companies.csv``, headed by the property labels and
    internal names that HubSpot's importer maps (dates as ``YYYY-MM-DD``). Salesforce:
    ``salesforce_contacts.csv`` and ``salesforce_accounts.csv`` for the Data Import Wizard or Data Loader,
    custom fields ending in ``__c``. UTF-8, missing values as empty cells.

Push (:func:`push`)
    HubSpot: ``POST /crm/v3/objects/{contacts,companies}/batch/upsert``, 100 records a batch; contacts are
    keyed by email (rows without one cannot be upserted and are reported), companies by the unique custom
    property ``commetrics_account_id``. Salesforce: ``PATCH /services/data/v60.0/composite/sobjects/...``
    (sObject Collections upsert by the external-id fields ``Commetrics_Member_Id__c`` and
    ``Commetrics_Account_Id__c``), 200 records a batch. One cheap authenticated GET comes first, so a refused
    token writes nothing. Records the CRM rejects one by one come back in ``PushReport.failed_records``.
    Missing values are left out of a record, so they never blank what the CRM already holds. Salesforce
    needs ``LastName`` for a new Contact and ``Name`` for a new Account, which commetrics does not hold: the
    push updates records that already carry the external id, and reports the others as the CRM rejects them.

Retries
    429, 5xx and connection failures are retried up to ``max_retries`` times, waiting what ``Retry-After``
    says (seconds or an HTTP date) or else 1, 2, 4 … seconds (at most 60) plus up to 10 % jitter drawn
    deterministically from the batch and attempt. 401 and 403 stop the run at once: retrying a refused token
    only burns the rate limit. Any other 4xx stops it with the CRM's own message.

Journal and idempotency
    ``journal`` is a JSON Lines file holding, for every batch the CRM acknowledged, its key: the SHA-256 of
    the target, the object type and the batch's canonical JSON body (plus the records it rejected, so that a
    re-run reports them again). A batch whose key is in the journal is skipped; a batch is journaled only
    after the CRM answered it, with write, flush and fsync. A kill can therefore leave at most one line torn
    (ignored and cut off when read: that batch was never acknowledged) and at most one batch applied but not
    journaled, which the re-run sends again. Every request is an upsert by external id with the same values,
    so sending it again changes nothing: idempotent here means that any number of runs, interrupted anywhere,
    leaves the CRM exactly as one clean run would, with at most one effective update per record. A journal
    belongs to one destination account; when the data changes, the batches from the first changed row on
    get new keys and are sent again, which is again harmless.
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import CommetricsError, InputError, MissingColumnError, UnknownNameError

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

# Per target and object: (field of the normalised record, CSV header, API name). The API name of the field
# a HubSpot upsert is keyed by is None: it travels as the input's "id", not as a property.
_FIELDS: dict[tuple[str, str], tuple[tuple[str, str, str | None], ...]] = {
    ("hubspot", "contacts"): (
        ("email", "Email", None),
        ("member_id", "commetrics_member_id", "commetrics_member_id"),
        ("score", "community_engagement_score", "community_engagement_score"),
        ("tier", "community_tier", "community_tier"),
        ("last_active", "community_last_active", "community_last_active"),
        ("tags", "community_tags", "community_tags"),
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
_FILES = {
    ("hubspot", "contacts"): "hubspot_contacts.csv",
    ("hubspot", "companies"): "hubspot_companies.csv",
    ("salesforce", "contacts"): "salesforce_contacts.csv",
    ("salesforce", "companies"): "salesforce_accounts.csv",
}
_ID_FIELD = {"contacts": "member_id", "companies": "account_id"}
# HubSpot's idProperty per object, and the record field holding its value.
_HUBSPOT_KEY = {"contacts": ("email", "email"), "companies": ("commetrics_account_id", "account_id")}
_NAME = {"hubspot": "HubSpot", "salesforce": "Salesforce"}

# Endpoints and shapes, as the vendors' public references give them:
# * HubSpot batch upsert (POST /crm/v3/objects/{objectType}/batch/upsert, bearer token):
#   https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
#   Body {"inputs": [{"id", "idProperty", "properties", "objectWriteTraceId"}]}; answer {"status", "results",
#   "startedAt", "completedAt"}, plus "errors": [{"status", "category", "message", "context", "errors"}] and
#   "numErrors" on a 207 Multi-Status, when some inputs failed. A unique objectWriteTraceId per input enables
#   those partial answers (https://developers.hubspot.com/docs/api-reference/error-handling); each input
#   carries its external id there, so an error can be traced to its record.
# * HubSpot date properties take UNIX milliseconds "set to midnight UTC for the date you want"; other times
#   are refused: https://developers.hubspot.com/docs/faq/how-should-timestamps-be-formatted-for-hubspots-apis
# * Salesforce sObject Collections upsert (API 46.0 and later):
#   https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
#   PATCH /services/data/vXX.X/composite/sobjects/{SObject}/{ExternalIdField}, body {"allOrNone", "records":
#   [{"attributes": {"type"}, ...}]}, at most 200 records, all of the URI's type; 200 OK with one UpsertResult
#   {"id", "success", "created", "errors": [{"statusCode", "message", "fields"}]} per record in request order,
#   400 when the request is malformed.
# * Salesforce limits (GET /services/data/vXX.X/limits, bearer token), the cheap credential check:
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm
_PROBE = {"hubspot": "/crm/v3/objects/contacts?limit=1", "salesforce": "/services/data/v60.0/limits"}
_ENDPOINT = {
    ("hubspot", "contacts"): ("POST", "/crm/v3/objects/contacts/batch/upsert"),
    ("hubspot", "companies"): ("POST", "/crm/v3/objects/companies/batch/upsert"),
    ("salesforce", "contacts"): ("PATCH", "/services/data/v60.0/composite/sobjects/Contact/Commetrics_Member_Id__c"),
    ("salesforce", "companies"): ("PATCH", "/services/data/v60.0/composite/sobjects/Account/Commetrics_Account_Id__c"),
}
_SOBJECT = {"contacts": "Contact", "companies": "Account"}
_BATCH_LIMIT = {"hubspot": 100, "salesforce": 200}
_TOKEN_HELP = {
    "hubspot": "Create a new private-app access token (Settings > Integrations > Private Apps) with the scopes "
    "crm.objects.contacts.read, crm.objects.contacts.write and crm.objects.companies.write, and run again.",
    "salesforce": "Get a fresh access token for the connected app (tokens expire with the session) and check "
    "that its user has API Enabled and edit access to Contact, Account and the Commetrics fields; then run again.",
}


class CrmError(CommetricsError):
    """The CRM refused the token, rejected a request, or stayed unavailable through every retry."""


@dataclass(frozen=True)
class PushReport:
    """What one :func:`push` did. ``failed_records`` holds ``{"object", "id", "error"}`` dicts."""

    target: str
    contacts_sent: int
    companies_sent: int
    batches_sent: int
    batches_skipped: int
    retries: int
    failed_records: list[dict[str, str]]


def export_files(contacts: pd.DataFrame, companies: pd.DataFrame, target: str, out: Path) -> list[Path]:
    """Write the two CSV import files for ``target`` into ``out`` and return their paths."""
    _check_target(target)
    rows = {"contacts": _contacts(contacts), "companies": _companies(companies)}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj, records in rows.items():
        fields = _FIELDS[target, obj]
        path = out / _FILES[target, obj]
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([header for _, header, _ in fields])
            writer.writerows([_cell(record[name]) for name, _, _ in fields] for record in records)
        os.replace(partial, path)
        paths.append(path)
    return paths


def push(
    contacts: pd.DataFrame,
    companies: pd.DataFrame,
    target: str,
    *,
    base_url: str,
    token: str,
    journal: Path,
    batch_size: int | None = None,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 30.0,
) -> PushReport:
    """Upsert contacts, then companies, into ``target``, resuming from ``journal``. See the module docstring."""
    _check_target(target)
    limit = _BATCH_LIMIT[target]
    size = limit if batch_size is None else batch_size
    if not 1 <= size <= limit:
        raise InputError(f"batch_size must be between 1 and {limit} for {target}, not {size}.")
    if max_retries < 0:
        raise InputError(f"max_retries must be 0 or more, not {max_retries}.")
    people = _contacts(contacts)
    failed: list[dict[str, str]] = []
    if target == "hubspot":
        people, failed = _keyed_by_email(people)
    batches = _batches(target, "contacts", people, size) + _batches(target, "companies", _companies(companies), size)
    done = _Journal(journal)
    pending = [batch for batch in batches if batch.key not in done.acknowledged]
    for batch in batches:
        failed += done.acknowledged.get(batch.key, [])
    client = _Client(target, base_url, token, max_retries, sleep, timeout)
    if pending:
        client.call("GET", _PROBE[target], None, "the token check")
    sent = {"contacts": 0, "companies": 0}
    for batch in pending:
        method, path = _ENDPOINT[target, batch.obj]
        rejected = _rejected(target, batch, client.call(method, path, batch.body, batch.label))
        done.append(batch, rejected)
        failed += rejected
        sent[batch.obj] += len(batch.ids)
    return PushReport(
        target=target,
        contacts_sent=sent["contacts"],
        companies_sent=sent["companies"],
        batches_sent=len(pending),
        batches_skipped=len(batches) - len(pending),
        retries=client.retries,
        failed_records=sorted(failed, key=lambda f: (f["object"], f["id"])),
    )


# ---- input ------------------------------------------------------------------------------------------------


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise UnknownNameError.for_name("CRM target", target, TARGETS)


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise MissingColumnError(
                f"The {name} frame has no column {column!r}. Add it (missing values are allowed except in the id "
                f"column); the {name} frame needs: {', '.join(columns)}."
            )


def _ids(frame: pd.DataFrame, name: str, column: str) -> list[str]:
    ids = [_text(value) for value in frame[column]]
    if None in ids:
        raise InputError(f"{ids.count(None)} row(s) of {name} have no {column}; every row needs its external id.")
    duplicates = sorted(str(i) for i, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise InputError(f"{name} has repeated {column} values ({', '.join(duplicates[:5])}); keep one row each.")
    return [str(i) for i in ids]


def _numbers(frame: pd.DataFrame, name: str, column: str) -> list[float | None]:
    try:
        values = pd.to_numeric(frame[column], errors="raise")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}.{column} must hold numbers ({exc}); fix or blank the bad values.") from None
    return [None if pd.isna(v) else float(v) for v in values]


def _dates(frame: pd.DataFrame, name: str, column: str) -> list[date | None]:
    try:
        stamps = pd.to_datetime(frame[column], utc=True, errors="raise")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}.{column} must hold timestamps ({exc}); fix or blank the bad values.") from None
    return [None if pd.isna(s) else s.date() for s in stamps]


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _contacts(frame: pd.DataFrame) -> list[Record]:
    _require(frame, "contacts", CONTACT_COLUMNS)
    columns = zip(
        _ids(frame, "contacts", "member_id"),
        frame["email"],
        _numbers(frame, "contacts", "community_engagement_score"),
        frame["community_tier"],
        _dates(frame, "contacts", "community_last_active"),
        frame["community_tags"],
        strict=True,
    )
    records = [
        {"member_id": i, "email": _text(e), "score": _score(s), "tier": _text(t), "last_active": d, "tags": _text(g)}
        for i, e, s, t, d, g in columns
    ]
    return sorted(records, key=lambda r: r["member_id"])


def _companies(frame: pd.DataFrame) -> list[Record]:
    _require(frame, "companies", COMPANY_COLUMNS)
    columns = zip(
        _ids(frame, "companies", "account_id"),
        frame["domain"],
        _numbers(frame, "companies", "health_score"),
        frame["health_band"],
        _numbers(frame, "companies", "community_engagement_score"),
        _numbers(frame, "companies", "community_active_members"),
        strict=True,
    )
    records = [
        {"account_id": i, "domain": _text(d), "health_score": _score(h), "health_band": _text(b), "score": _score(s),
         "active_members": None if n is None else int(n)}
        for i, d, h, b, s, n in columns
    ]
    return sorted(records, key=lambda r: r["account_id"])


def _keyed_by_email(people: list[Record]) -> tuple[list[Record], list[dict[str, str]]]:
    """HubSpot upserts contacts by email: rows without one, or repeating an earlier one, cannot be sent."""
    kept: list[Record] = []
    failed: list[dict[str, str]] = []
    owner: dict[str, str] = {}
    for person in people:
        email_address = person["email"]
        if email_address is None:
            failed.append(_failure("contacts", person["member_id"], "no email: HubSpot upserts contacts by email, "
                                   "so this member was not sent; add the email to send it."))
        elif email_address.lower() in owner:
            first = owner[email_address.lower()]
            failed.append(_failure("contacts", person["member_id"], f"shares email {email_address} with member "
                                   f"{first}; HubSpot keeps one contact per email, so only {first} was sent."))
        else:
            owner[email_address.lower()] = person["member_id"]
            kept.append(person)
    return kept, failed


def _failure(obj: str, record_id: str, error: str) -> dict[str, str]:
    return {"object": obj, "id": record_id, "error": error}


# ---- output values ----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _api_value(target: str, value: Any) -> Any:
    """HubSpot takes every property as a string, a date as midnight-UTC epoch ms; Salesforce takes JSON types."""
    if isinstance(value, date):
        if target == "hubspot":
            return str(int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()) * 1000)
        return value.isoformat()
    return _cell(value) if target == "hubspot" else value


# ---- batches and journal ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    obj: str
    label: str
    ids: tuple[str, ...]
    aliases: dict[str, str]  # every identifier an answer may name (external id, HubSpot id) -> external id
    body: bytes
    key: str


def _batches(target: str, obj: str, records: list[Record], size: int) -> list[_Batch]:
    fields = _FIELDS[target, obj]
    id_field = _ID_FIELD[obj]
    chunks = [records[i:i + size] for i in range(0, len(records), size)]
    batches = []
    for number, chunk in enumerate(chunks, 1):
        items = []
        aliases: dict[str, str] = {}
        for record in chunk:
            values = {api: _api_value(target, record[name]) for name, _, api in fields
                      if api is not None and record[name] is not None}
            external_id = record[id_field]
            aliases[external_id] = external_id
            if target == "hubspot":
                id_property, key_field = _HUBSPOT_KEY[obj]
                aliases[record[key_field]] = external_id
                items.append({"idProperty": id_property, "id": record[key_field], "objectWriteTraceId": external_id,
                              "properties": values})
            else:
                items.append({"attributes": {"type": _SOBJECT[obj]}, **values})
        body = {"inputs": items} if target == "hubspot" else {"allOrNone": False, "records": items}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ids = tuple(record[id_field] for record in chunk)
        batches.append(_Batch(
            obj=obj,
            label=f"{obj} batch {number}/{len(chunks)} ({ids[0]} .. {ids[-1]})",
            ids=ids,
            aliases=aliases,
            body=canonical,
            key=hashlib.sha256(f"{target}\n{obj}\n".encode() + canonical).hexdigest(),
        ))
    return batches


class _Journal:
    """Keys of acknowledged batches with the records the CRM rejected in them, one JSON object a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.acknowledged: dict[str, list[dict[str, str]]] = {}  # batch key -> records it rejected
        if not path.exists():
            return
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # torn by a kill mid-append: that batch was never acknowledged
            with path.open("r+b") as f:
                f.truncate(len(complete))
                os.fsync(f.fileno())
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                entry = json.loads(line)
                self.acknowledged[str(entry["key"])] = list(entry["failed"])
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    f"Line {number} of the journal {path} is damaged. Restore the file, or delete it to send "
                    "every batch again (upserts with the same values change nothing)."
                ) from None

    def append(self, batch: _Batch, failed: list[dict[str, str]]) -> None:
        line = {"key": batch.key, "batch": batch.label, "records": len(batch.ids), "failed": failed}
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(json.dumps(line, sort_keys=True).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if created:  # make the new directory entry durable too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self.acknowledged[batch.key] = failed


def _rejected(target: str, batch: _Batch, answer: Any) -> list[dict[str, str]]:
    """The records the CRM turned down in an acknowledged batch."""
    if target == "salesforce":
        if not isinstance(answer, list) or len(answer) != len(batch.ids):
            raise CrmError(f"Salesforce answered {batch.label} with something other than one result per record; "
                           "re-running sends the batch again (upserts with the same values change nothing).")
        return [
            _failure(batch.obj, record_id, "; ".join(f"{e.get('statusCode')}: {e.get('message')}"
                                                     for e in result.get("errors") or []) or "rejected")
            for record_id, result in zip(batch.ids, answer, strict=True)
            if not result.get("success")
        ]
    failed = []
    for error in (answer.get("errors") or []) if isinstance(answer, dict) else []:
        named = [error.get("id")]
        for value in (error.get("context") or {}).values():
            named += value if isinstance(value, list) else [value]
        ids = sorted({batch.aliases[n] for n in named if isinstance(n, str) and n in batch.aliases}) or ["unknown"]
        failed += [_failure(batch.obj, i, str(error.get("message") or error)) for i in ids]
    return failed


# ---- HTTP ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    headers: Message | None
    raw: bytes

    def payload(self) -> Any:
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def message(self) -> str:
        payload = self.payload()
        if isinstance(payload, dict) and payload.get("message"):
            return str(payload["message"])
        if isinstance(payload, list) and payload and all(isinstance(p, dict) for p in payload):
            return "; ".join(f"{p.get('errorCode', '')}: {p.get('message', '')}" for p in payload)
        return self.raw[:300].decode("utf-8", "replace").strip() or "no details"

    def describe(self) -> str:
        return f"no answer ({self.message()})" if self.status is None else f"HTTP {self.status}: {self.message()}"


class _Client:
    def __init__(self, target: str, base_url: str, token: str, max_retries: int,
                 sleep: Callable[[float], None], timeout: float) -> None:
        self.target, self.base_url, self.token = target, base_url.rstrip("/"), token
        self.max_retries, self.sleep, self.timeout = max_retries, sleep, timeout
        self.retries = 0

    def call(self, method: str, path: str, body: bytes | None, what: str) -> Any:
        """The JSON answer to one request, retried as the module docstring says."""
        name = _NAME[self.target]
        for attempt in range(self.max_retries + 1):
            answer = self._once(method, path, body)
            if answer.status is not None and 200 <= answer.status < 300:
                return answer.payload()
            if answer.status in (401, 403):
                raise CrmError(self._refused(answer, what))
            if answer.status is not None and answer.status != 429 and answer.status < 500:
                raise CrmError(f"{name} rejected {what} ({method} {self.base_url}{path}): {answer.describe()}. Fix "
                               "the base URL or the CRM setup (custom properties, field permissions) and run again; "
                               "the journal keeps what was acknowledged.")
            if attempt == self.max_retries:
                break
            wait = _retry_after(answer.headers)
            self.sleep(_backoff(attempt, what) if wait is None else wait)
            self.retries += 1
        raise CrmError(f"{name}: {what} failed after {self.max_retries} retries; last: {answer.describe()}. Batches "
                       "acknowledged so far are in the journal: running the same push again resumes where it stopped.")

    def _refused(self, answer: _Answer, what: str) -> str:
        if "REQUEST_LIMIT_EXCEEDED" in answer.message():
            return (f"Salesforce refused {what}: the org's API request limit is used up ({answer.describe()}). "
                    "Run again once the rolling 24-hour window frees requests; the journal keeps what was sent.")
        return (f"{_NAME[self.target]} refused the token at {what} ({answer.describe()}); nothing more was "
                f"written. {_TOKEN_HELP[self.target]}")

    def _once(self, method: str, path: str, body: bytes | None) -> _Answer:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            try:
                return _Answer(error.code, error.headers, error.read())
            finally:
                error.close()
        except (OSError, http.client.HTTPException) as error:
            return _Answer(None, None, str(error).encode())


def _retry_after(headers: Message | None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or an HTTP date), or None without one."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _backoff(attempt: int, what: str) -> float:
    """1, 2, 4 … seconds, at most 60, plus up to 10 % jitter that depends only on the request and attempt."""
    jitter = int.from_bytes(hashlib.sha256(f"{what}/{attempt}".encode()).digest()[:4], "big") / 2**32
    return min(60.0, 2.0**attempt * (1 + 0.1 * jitter))
