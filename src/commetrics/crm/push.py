"""Pushing records through a CRM's REST API in batches, with a journal that makes re-runs resume."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..store import fsync_path
from .http import MAX_WAIT_SECONDS, Client, check_url
from .records import (
    FIELDS,
    HUBSPOT_KEY,
    ID_FIELD,
    NAME,
    CrmError,
    Record,
    api_value,
    check_target,
    companies_records,
    contacts_records,
    failure,
)

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
    max_wait: float = MAX_WAIT_SECONDS,
) -> PushReport:
    """Upsert contacts, then companies, into ``target``, resuming from ``journal``. See the package docstring.

    ``base_url`` must be ``https://`` (``http://`` only to this machine); redirects are never followed, and a
    batch counts as sent only when the CRM's own answer acknowledges every record of it. A ``Retry-After``
    longer than ``max_wait`` seconds stops the push (run it again later)."""
    check_target(target)
    check_url(base_url)
    limit = _BATCH_LIMIT[target]
    size = limit if batch_size is None else batch_size
    if not 1 <= size <= limit:
        raise InputError(f"batch_size must be between 1 and {limit} for {target}, not {size}.")
    if max_retries < 0:
        raise InputError(f"max_retries must be 0 or more, not {max_retries}.")
    people = contacts_records(contacts)
    failed: list[dict[str, str]] = []
    if target == "hubspot":
        people, failed = _keyed_by_email(people)
    batches = (_batches(target, "contacts", people, size)
               + _batches(target, "companies", companies_records(companies), size))
    done = _Journal(journal)
    pending = [batch for batch in batches if batch.key not in done.acknowledged]
    for batch in batches:
        failed += done.acknowledged.get(batch.key, [])
    client = Client(target, base_url, token, max_retries, sleep, timeout, max_wait)
    if pending and not isinstance(client.call("GET", _PROBE[target], None, "the token check"), dict):
        raise CrmError(f"The token check at {client.base_url} did not answer as the {NAME[target]} API does (a JSON "
                       "object); check --url. Nothing was sent.")
    sent = {"contacts": 0, "companies": 0}
    for batch in pending:  # journaled only once the CRM's own answer accounts for every record
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



def _keyed_by_email(people: list[Record]) -> tuple[list[Record], list[dict[str, str]]]:
    """HubSpot upserts contacts by email: rows without one, or repeating an earlier one, cannot be sent."""
    kept: list[Record] = []
    failed: list[dict[str, str]] = []
    owner: dict[str, str] = {}
    for person in people:
        email_address = person["email"]
        if email_address is None:
            failed.append(failure("contacts", person["member_id"], "no email: HubSpot upserts contacts by email, "
                                   "so this member was not sent; add the email to send it."))
        elif email_address.lower() in owner:
            first = owner[email_address.lower()]
            failed.append(failure("contacts", person["member_id"], f"shares email {email_address} with member "
                                   f"{first}; HubSpot keeps one contact per email, so only {first} was sent."))
        else:
            owner[email_address.lower()] = person["member_id"]
            kept.append(person)
    return kept, failed



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
    fields = FIELDS[target, obj]
    id_field = ID_FIELD[obj]
    chunks = [records[i:i + size] for i in range(0, len(records), size)]
    batches = []
    for number, chunk in enumerate(chunks, 1):
        items = []
        aliases: dict[str, str] = {}
        for record in chunk:
            values = {api: api_value(target, record[name]) for name, _, api in fields
                      if api is not None and record[name] is not None}
            external_id = record[id_field]
            aliases[external_id] = external_id
            if target == "hubspot":
                id_property, key_field = HUBSPOT_KEY[obj]
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
            fsync_path(self.path.parent)
        self.acknowledged[batch.key] = failed


def _rejected(target: str, batch: _Batch, answer: Any) -> list[dict[str, str]]:
    """The records the CRM turned down in a batch it acknowledged. An answer that is not the CRM's own (a proxy's
    page, an empty object) or that does not account for every record acknowledges nothing: CrmError."""
    again = ("Nothing of it was recorded as sent; re-running sends it again (upserts with the same values change "
             "nothing).")
    if target == "salesforce":
        if (not isinstance(answer, list) or len(answer) != len(batch.ids)
                or not all(isinstance(result, dict) for result in answer)):
            raise CrmError(f"Salesforce answered {batch.label} with something other than one result per record. "
                           f"{again}")
        return [
            failure(batch.obj, record_id, "; ".join(f"{e.get('statusCode')}: {e.get('message')}"
                                                     for e in result.get("errors") or []) or "rejected")
            for record_id, result in zip(batch.ids, answer, strict=True)
            if not result.get("success")
        ]
    results = answer.get("results") if isinstance(answer, dict) else None
    errors = answer.get("errors") or [] if isinstance(answer, dict) else []
    if not isinstance(results, list) or not isinstance(errors, list):
        shown = json.dumps(answer)[:200] if answer is not None else "no JSON"
        raise CrmError(f"The answer to {batch.label} is not HubSpot's answer to a batch upsert (no list of results: "
                       f"{shown}); check --url. {again}")
    failed = []
    for error in errors:
        error = error if isinstance(error, dict) else {"message": str(error)}
        named = [error.get("id")]
        context = error.get("context")
        for value in (context.values() if isinstance(context, dict) else []):
            named += value if isinstance(value, list) else [value]
        ids = sorted({batch.aliases[n] for n in named if isinstance(n, str) and n in batch.aliases}) or ["unknown"]
        failed += [failure(batch.obj, i, str(error.get("message") or error)) for i in ids]
    if len(results) + len(failed) < len(batch.ids):
        results_text = f"{len(results)} result{'s' if len(results) != 1 else ''}"
        raise CrmError(f"HubSpot's answer to {batch.label} gives {results_text} for {len(batch.ids)} records and "
                       f"names {len(failed)} failure(s). {again}")
    return failed
