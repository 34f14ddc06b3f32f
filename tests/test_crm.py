"""CRM hand-off: import files, and pushes against a local fake of the HubSpot and Salesforce APIs.

The fake speaks the endpoints' request and response shapes, stores records by their id property, and counts
per record the writes and the *effective* updates (writes that change a stored value). It can be scripted
with forced answers, and it can hold its answer after applying a batch so that a real child process can be
SIGKILLed between "the CRM applied the batch" and "the client journaled it".
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from commetrics.crm import TARGETS, CrmError, PushReport, export_files, push
from commetrics.errors import InputError

TOKEN = "good-token"
BASE = pd.Timestamp("2026-06-30 18:30", tz="UTC")
TIERS = ("champion", "active", "casual", "dormant")
BANDS = ("red", "yellow", "green")
SF_PATH = "/services/data/v60.0/composite/sobjects/"
HS_KEY = {"contacts": "email", "companies": "commetrics_account_id"}
SF_KEY = {"Contact": ("contacts", "Commetrics_Member_Id__c"), "Account": ("companies", "Commetrics_Account_Id__c")}


# ---- the fake CRM -----------------------------------------------------------------------------------------


@dataclass
class Forced:
    """An answer given instead of normal handling, to the next request whose path contains ``path``."""

    status: int
    headers: dict[str, str]
    body: Any
    path: str
    after_batches: int  # only once the fake has applied this many batches
    times: int


@dataclass
class FakeCrm:
    target: str
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"contacts": {}, "companies": {}})
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    effective: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    forced: list[Forced] = field(default_factory=list)
    reject: dict[str, tuple[str, str]] = field(default_factory=dict)  # record id -> (code, message)
    hold_after: int | None = None  # hold the answer to this batch (1-based) until `release` is set
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.handle(self)

            do_POST = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def batches_applied(self) -> int:
        return len(self.batch_sizes)

    def writes_sent(self) -> list[tuple[str, str, int]]:
        return [r for r in self.requests if r[0] != "GET"]

    def force(self, status: int, *, headers: dict[str, str] | None = None, body: Any = None, path: str = "",
              after_batches: int = 0, times: int = 1) -> None:
        self.forced.append(Forced(status, headers or {}, body or {"message": f"forced {status}"}, path,
                                  after_batches, times))

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    # -- request handling --

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            status, headers, body = self.answer(h.command, h.path, h.headers.get("Authorization"), raw)
            self.requests.append((h.command, h.path, status))
            hold = status < 300 and h.command != "GET" and self.batches_applied == self.hold_after
        if hold:
            self.holding.set()
            self.release.wait(30)
        payload = json.dumps(body).encode()
        try:
            h.send_response(status)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except OSError:  # the client was killed while the answer was held
            pass

    def answer(self, method: str, path: str, auth: str | None, raw: bytes) -> tuple[int, dict[str, str], Any]:
        for forced in self.forced:
            if forced.times and forced.path in path and self.batches_applied >= forced.after_batches:
                forced.times -= 1
                return forced.status, forced.headers, forced.body
        if auth != f"Bearer {TOKEN}":
            if self.target == "hubspot":
                return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION",
                                 "message": "Authentication credentials not found."}
            return 401, {}, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        if method == "GET" and path in ("/crm/v3/objects/contacts?limit=1", "/services/data/v60.0/limits"):
            return 200, {}, {"results": []} if self.target == "hubspot" else {"DailyApiRequests": {"Max": 15000}}
        body = json.loads(raw)
        if self.target == "hubspot" and method == "POST" and path.startswith("/crm/v3/objects/"):
            return self.hubspot_upsert(path.split("/")[4], body)
        if self.target == "salesforce" and method == "PATCH" and path.startswith(SF_PATH):
            return self.salesforce_upsert(*path[len(SF_PATH):].split("/"), body)
        return 404, {}, {"message": f"no route {method} {path}"}

    def store(self, obj: str, record_id: str, values: dict[str, Any]) -> bool:
        old = self.records[obj].get(record_id)
        new = {**(old or {}), **values}
        self.writes[obj, record_id] += 1
        if new != old:
            self.effective[obj, record_id] += 1
        self.records[obj][record_id] = new
        return old is None

    def hubspot_upsert(self, obj: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": "1 to 100 inputs"}
        for item in inputs:
            properties = item.get("properties")
            if (item.get("idProperty") != HS_KEY[obj] or not item.get("id") or not isinstance(properties, dict)
                    or not all(isinstance(v, str) for v in properties.values())):
                return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": f"bad input {item}"}
            date = properties.get("community_last_active")
            if date is not None and int(date) % 86_400_000:
                return 400, {}, {"status": "error", "category": "VALIDATION_ERROR",
                                 "message": f"{date} is not midnight UTC"}
        results, errors = [], []
        for item in inputs:
            if item["id"] in self.reject:
                code, message = self.reject[item["id"]]
                errors.append({"status": "error", "category": code, "message": message,
                               "context": {"objectWriteTraceId": [item.get("objectWriteTraceId")]}})
                continue
            created = self.store(obj, item["id"], item["properties"])
            results.append({"id": str(len(self.records[obj])), "new": created, "properties": item["properties"]})
        self.batch_sizes.append(len(inputs))
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": "2026-07-01T00:00:00Z",
                                  "completedAt": "2026-07-01T00:00:01Z"}
        if errors:
            answer.update(errors=errors, numErrors=len(errors))
        return (207 if errors else 200), {}, answer

    def salesforce_upsert(self, sobject: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        obj, expected_key = SF_KEY[sobject]
        records = body.get("records")
        if (key != expected_key or body.get("allOrNone") is not False or not isinstance(records, list)
                or not 1 <= len(records) <= 200
                or any(r.get("attributes") != {"type": sobject} or not r.get(key) for r in records)):
            return 400, {}, [{"message": "malformed request", "errorCode": "JSON_PARSER_ERROR"}]
        results = []
        for record in records:
            if record[key] in self.reject:
                code, message = self.reject[record[key]]
                results.append({"id": None, "success": False, "created": False,
                                "errors": [{"statusCode": code, "message": message, "fields": []}]})
                continue
            created = self.store(obj, record[key], {k: v for k, v in record.items() if k != "attributes"})
            results.append({"id": f"003{len(self.records[obj]):012d}", "success": True, "created": created,
                            "errors": []})
        self.batch_sizes.append(len(records))
        return 200, {}, results


@pytest.fixture
def hubspot() -> Iterator[FakeCrm]:
    fake = FakeCrm("hubspot")
    yield fake
    fake.close()


@pytest.fixture
def salesforce() -> Iterator[FakeCrm]:
    fake = FakeCrm("salesforce")
    yield fake
    fake.close()


# ---- data ---------------------------------------------------------------------------------------------------


def make_contacts(n: int, no_email_every: int = 0) -> pd.DataFrame:
    """``n`` members in reverse id order (the module must sort them)."""
    frame = pd.DataFrame({
        "email": [None if no_email_every and i % no_email_every == 0 else f"person{i}@example.com" for i in range(n)],
        "member_id": [f"m{i:05d}" for i in range(n)],
        "community_engagement_score": [(i * 7.31) % 100 for i in range(n)],
        "community_tier": [TIERS[i % 4] for i in range(n)],
        "community_last_active": pd.to_datetime(
            [None if i % 9 == 0 else BASE - pd.Timedelta(hours=5 * i) for i in range(n)], utc=True),
        "community_tags": ["" if i % 3 == 0 else "forum;events" for i in range(n)],
    })
    return frame.iloc[::-1].reset_index(drop=True)


def make_companies(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": [f"a{i:04d}" for i in range(n)],
        "domain": [None if i % 5 == 0 else f"acct{i}.example" for i in range(n)],
        "health_score": [math.nan if i % 4 == 0 else (i * 13.37) % 100 for i in range(n)],
        "health_band": [None if i % 4 == 0 else BANDS[i % 3] for i in range(n)],
        "community_engagement_score": [(i * 3.3) % 100 for i in range(n)],
        "community_active_members": [i % 17 for i in range(n)],
    }).iloc[::-1].reset_index(drop=True)


def expected_hubspot(contacts: pd.DataFrame, companies: pd.DataFrame) -> dict[str, dict[str, dict[str, str]]]:
    """What HubSpot should hold: contacts by email, companies by account id; string properties, no blanks."""
    people = {}
    for row in contacts.to_dict("records"):
        if row["email"] is None:
            continue
        props = {"commetrics_member_id": row["member_id"], "community_tier": row["community_tier"],
                 "community_engagement_score": f"{row['community_engagement_score']:.1f}"}
        if not pd.isna(row["community_last_active"]):
            props["community_last_active"] = str(int(row["community_last_active"].normalize().timestamp()) * 1000)
        if row["community_tags"]:
            props["community_tags"] = row["community_tags"]
        people[row["email"]] = props
    accounts = {}
    for row in companies.to_dict("records"):
        props = {"community_engagement_score": f"{row['community_engagement_score']:.1f}",
                 "community_active_members": str(row["community_active_members"])}
        if row["domain"]:
            props["domain"] = row["domain"]
        if not pd.isna(row["health_score"]):
            props.update(health_score=f"{row['health_score']:.1f}", health_band=row["health_band"])
        accounts[row["account_id"]] = props
    return {"contacts": people, "companies": accounts}


def run(fake: FakeCrm, contacts: pd.DataFrame, companies: pd.DataFrame, journal: Path,
        waits: list[float] | None = None, **options: Any) -> PushReport:
    return push(contacts, companies, fake.target, base_url=fake.url, token=options.pop("token", TOKEN),
                journal=journal, sleep=(waits if waits is not None else []).append, **options)


def journal_keys(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text().splitlines()]


# ---- 1. import files ----------------------------------------------------------------------------------------

SMALL_CONTACTS = pd.DataFrame({
    "email": ["ana@example.com", None, "bo@example.com"],
    "member_id": ["m2", "m1", "m3"],
    "community_engagement_score": [87.46, 12.349, 0.0],
    "community_tier": ["champion", "casual", "dormant"],
    "community_last_active": pd.to_datetime(["2026-05-30 23:59:59", None, "2026-05-30 00:00:00"], utc=True),
    "community_tags": ["forum;events", "", "forum;café"],
})
SMALL_COMPANIES = pd.DataFrame({
    "account_id": ["a2", "a1"],
    "domain": ["acme.example", None],
    "health_score": [71.26, math.nan],
    "health_band": ["green", None],
    "community_engagement_score": [40.04, 3.96],
    "community_active_members": [12, 0],
})
EXPECTED_FILES = {  # every field quoted, so that a value never opens a cell of its own in a spreadsheet
    "hubspot": {
        "hubspot_contacts.csv":  # HubSpot matches contacts by e-mail: m1, without one, is in a file of its own
            '"Email","commetrics_member_id","community_engagement_score","community_tier","community_last_active",'
            '"community_tags"\n'
            '"ana@example.com","m2","87.5","champion","2026-05-30","forum;events"\n'
            '"bo@example.com","m3","0.0","dormant","2026-05-30","forum;café"\n',
        "hubspot_companies.csv":
            '"Company Domain Name","commetrics_account_id","health_score","health_band","community_engagement_score",'
            '"community_active_members"\n'
            '"","a1","","","4.0","0"\n'
            '"acme.example","a2","71.3","green","40.0","12"\n',
        "hubspot_contacts_without_email.csv":
            '"commetrics_member_id","crm_contact_id","community_engagement_score","community_tier",'
            '"community_last_active","community_tags"\n'
            '"m1","","12.3","casual","",""\n',
    },
    "salesforce": {
        "salesforce_contacts.csv":
            '"Email","Commetrics_Member_Id__c","Community_Engagement_Score__c","Community_Tier__c",'
            '"Community_Last_Active__c","Community_Tags__c"\n'
            '"","m1","12.3","casual","",""\n'
            '"ana@example.com","m2","87.5","champion","2026-05-30","forum;events"\n'
            '"bo@example.com","m3","0.0","dormant","2026-05-30","forum;café"\n',
        "salesforce_accounts.csv":
            '"Website","Commetrics_Account_Id__c","Health_Score__c","Health_Band__c","Community_Engagement_Score__c",'
            '"Community_Active_Members__c"\n'
            '"","a1","","","4.0","0"\n'
            '"acme.example","a2","71.3","green","40.0","12"\n',
    },
}


@pytest.mark.parametrize("target", TARGETS)
def test_export_files_exact_content_and_deterministic(target: str, tmp_path: Path) -> None:
    paths = export_files(SMALL_CONTACTS, SMALL_COMPANIES, target, tmp_path / "out")
    assert [p.name for p in paths] == list(EXPECTED_FILES[target])
    assert {p.name: p.read_bytes().decode("utf-8") for p in paths} == EXPECTED_FILES[target]
    again = export_files(SMALL_CONTACTS.iloc[::-1], SMALL_COMPANIES.sample(frac=1, random_state=3), target,
                         tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(EXPECTED_FILES[target])


def test_export_files_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'community_tier'"):
        export_files(SMALL_CONTACTS.drop(columns="community_tier"), SMALL_COMPANIES, "hubspot", tmp_path)
    with pytest.raises(InputError, match="'health_band'"):
        export_files(SMALL_CONTACTS, SMALL_COMPANIES.drop(columns="health_band"), "salesforce", tmp_path)
    with pytest.raises(InputError, match="hubspot, salesforce"):
        export_files(SMALL_CONTACTS, SMALL_COMPANIES, "pipedrive", tmp_path)
    with pytest.raises(InputError, match="repeated member_id"):
        export_files(pd.concat([SMALL_CONTACTS, SMALL_CONTACTS]), SMALL_COMPANIES, "hubspot", tmp_path)
    assert not any(tmp_path.iterdir())


# ---- 2, 3. happy paths --------------------------------------------------------------------------------------


def test_hubspot_push_stores_everything_in_batches_of_100(hubspot: FakeCrm, tmp_path: Path) -> None:
    contacts, companies = make_contacts(260, no_email_every=26), make_companies(30)
    report = run(hubspot, contacts, companies, tmp_path / "journal.jsonl")

    assert hubspot.records == expected_hubspot(contacts, companies)
    assert hubspot.records["contacts"]["person7@example.com"] == {  # hand-checked
        "commetrics_member_id": "m00007", "community_engagement_score": "51.2", "community_tier": "dormant",
        "community_last_active": "1782691200000", "community_tags": "forum;events"}  # 2026-06-29
    assert hubspot.records["companies"]["a0004"] == {"community_engagement_score": "13.2",
                                                     "community_active_members": "4", "domain": "acct4.example"}
    assert hubspot.batch_sizes == [100, 100, 50, 30]
    assert [r[:2] for r in hubspot.requests] == [("GET", "/crm/v3/objects/contacts?limit=1")] + [
        ("POST", "/crm/v3/objects/contacts/batch/upsert")] * 3 + [("POST", "/crm/v3/objects/companies/batch/upsert")]
    assert report == PushReport("hubspot", 250, 30, 4, 0, 0, report.failed_records)
    assert [f["id"] for f in report.failed_records] == [f"m{i:05d}" for i in range(0, 260, 26)]
    assert all(f["object"] == "contacts" and "no email" in f["error"] for f in report.failed_records)


def test_hubspot_push_reports_per_record_errors_from_a_207(hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.reject = {"person3@example.com": ("VALIDATION_ERROR", "Property values were not valid"),
                      "a0002": ("VALIDATION_ERROR", "health_band: unknown option")}
    contacts = make_contacts(10)
    contacts.loc[contacts["member_id"] == "m00009", "email"] = "PERSON1@example.com"  # HubSpot ignores case
    report = run(hubspot, contacts, make_companies(5), tmp_path / "journal.jsonl")
    assert [(r[0], r[2]) for r in hubspot.requests] == [("GET", 200), ("POST", 207), ("POST", 207)]
    assert report.failed_records == [
        {"object": "companies", "id": "a0002", "error": "health_band: unknown option"},
        {"object": "contacts", "id": "m00003", "error": "Property values were not valid"},
        {"object": "contacts", "id": "m00009",
         "error": "shares email PERSON1@example.com with member m00001; HubSpot keeps one contact per email, so only "
                  "m00001 was sent."},
    ]
    assert "person3@example.com" not in hubspot.records["contacts"]
    assert hubspot.records["contacts"]["person1@example.com"]["commetrics_member_id"] == "m00001"
    assert len(hubspot.records["contacts"]) == 8


def test_salesforce_push_with_rejected_records(salesforce: FakeCrm, tmp_path: Path) -> None:
    contacts, companies = make_contacts(450, no_email_every=50), make_companies(12)
    salesforce.reject = {
        "m00010": ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"),
        "m00321": ("INVALID_EMAIL_ADDRESS", "Email: invalid email address: person321@example.com"),
        "a0003": ("DUPLICATE_VALUE", "duplicate value found: Commetrics_Account_Id__c"),
    }
    report = run(salesforce, contacts, companies, tmp_path / "journal.jsonl")

    assert salesforce.batch_sizes == [200, 200, 50, 12]
    assert [r[:2] for r in salesforce.requests][:2] == [
        ("GET", "/services/data/v60.0/limits"),
        ("PATCH", "/services/data/v60.0/composite/sobjects/Contact/Commetrics_Member_Id__c")]
    assert salesforce.requests[-1][1] == "/services/data/v60.0/composite/sobjects/Account/Commetrics_Account_Id__c"
    assert report.failed_records == [
        {"object": "companies", "id": "a0003", "error": "DUPLICATE_VALUE: duplicate value found: "
                                                        "Commetrics_Account_Id__c"},
        {"object": "contacts", "id": "m00010", "error": "REQUIRED_FIELD_MISSING: Required fields are missing: "
                                                        "[LastName]"},
        {"object": "contacts", "id": "m00321", "error": "INVALID_EMAIL_ADDRESS: Email: invalid email address: "
                                                        "person321@example.com"},
    ]
    assert (report.contacts_sent, report.companies_sent, report.batches_sent) == (450, 12, 4)
    stored = salesforce.records["contacts"]
    assert len(stored) == 448
    assert "m00010" not in stored
    assert stored["m00007"] == {  # hand-checked; values keep their JSON types
        "Commetrics_Member_Id__c": "m00007", "Email": "person7@example.com", "Community_Engagement_Score__c": 51.2,
        "Community_Tier__c": "dormant", "Community_Last_Active__c": "2026-06-29", "Community_Tags__c": "forum;events"}
    assert stored["m00000"] == {"Commetrics_Member_Id__c": "m00000", "Community_Engagement_Score__c": 0.0,
                                "Community_Tier__c": "champion"}  # no email, no date, no tags: left out
    assert salesforce.records["companies"]["a0001"] == {
        "Commetrics_Account_Id__c": "a0001", "Website": "acct1.example", "Health_Score__c": 13.4,
        "Health_Band__c": "yellow", "Community_Engagement_Score__c": 3.3, "Community_Active_Members__c": 1}


# ---- 4. retries ---------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_5xx_backs_off(hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.force(429, headers={"Retry-After": "2"}, path="/batch/upsert")
    hubspot.force(503, path="/batch/upsert")
    hubspot.force(502, path="/batch/upsert", after_batches=1)
    waits: list[float] = []
    contacts, companies = make_contacts(150), make_companies(3)
    report = run(hubspot, contacts, companies, tmp_path / "journal.jsonl", waits)

    assert waits[0] == 2.0  # exactly what the header said
    assert 2.0 <= waits[1] <= 2.2  # second attempt of that batch: 2 s, with at most 10 % jitter
    assert 1.0 <= waits[2] <= 1.1
    assert len(waits) == 3
    assert [r[2] for r in hubspot.requests] == [200, 429, 503, 200, 502, 200, 200]
    assert report.retries == 3
    assert report.batches_sent == 3
    assert hubspot.records == expected_hubspot(contacts, companies)
    assert set(hubspot.effective.values()) == {1}
    assert run(hubspot, contacts, companies, tmp_path / "other.jsonl", waits).retries == 0


def test_retry_after_as_http_date_and_growing_backoff(salesforce: FakeCrm, tmp_path: Path) -> None:
    salesforce.force(503, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}, path="/limits")
    salesforce.force(500, path="/composite/", times=3)
    waits: list[float] = []
    report = run(salesforce, make_contacts(5), make_companies(2), tmp_path / "journal.jsonl", waits)
    assert 27 <= waits[0] <= 30
    assert len(waits) == 4
    assert all(step <= w <= step * 1.1 for step, w in zip([1, 2, 4], waits[1:], strict=True))
    assert report.retries == 4
    assert len(salesforce.records["contacts"]) == 5


# ---- 5. refused tokens --------------------------------------------------------------------------------------


def test_bad_hubspot_token_writes_nothing(hubspot: FakeCrm, tmp_path: Path) -> None:
    waits: list[float] = []
    with pytest.raises(CrmError, match="refused the token") as caught:
        run(hubspot, make_contacts(50), make_companies(5), tmp_path / "journal.jsonl", waits, token="expired")
    assert "private-app access token" in str(caught.value)
    assert "expired" not in str(caught.value)
    assert hubspot.requests == [("GET", "/crm/v3/objects/contacts?limit=1", 401)]
    assert waits == []
    assert not (tmp_path / "journal.jsonl").exists()


def test_salesforce_403_at_the_check_writes_nothing(salesforce: FakeCrm, tmp_path: Path) -> None:
    salesforce.force(403, path="/limits", body=[{"errorCode": "INSUFFICIENT_ACCESS",
                                                 "message": "insufficient access rights on object id"}])
    with pytest.raises(CrmError, match=r"refused the token.*INSUFFICIENT_ACCESS.*connected app"):
        run(salesforce, make_contacts(50), make_companies(5), tmp_path / "journal.jsonl")
    assert salesforce.requests == [("GET", "/services/data/v60.0/limits", 403)]
    assert salesforce.records == {"contacts": {}, "companies": {}}

    salesforce.force(403, path="/composite/", body=[{"errorCode": "REQUEST_LIMIT_EXCEEDED",
                                                     "message": "TotalRequests Limit exceeded."}])
    with pytest.raises(CrmError, match="API request limit is used up"):
        run(salesforce, make_contacts(50), make_companies(5), tmp_path / "journal.jsonl")
    assert [r[2] for r in salesforce.requests[1:]] == [200, 403]


def test_401_mid_run_stops_at_once(hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.force(401, path="/batch/upsert", after_batches=2, times=99)
    waits: list[float] = []
    journal = tmp_path / "journal.jsonl"
    with pytest.raises(CrmError, match="refused the token at contacts batch 3/5"):
        run(hubspot, make_contacts(500), make_companies(5), journal, waits)
    assert [r[2] for r in hubspot.requests] == [200, 200, 200, 401]  # check, two batches, the refusal: no retry
    assert waits == []
    assert len(journal_keys(journal)) == 2


def test_other_4xx_stops_with_the_crm_message(salesforce: FakeCrm, tmp_path: Path) -> None:
    salesforce.force(400, path="/composite/", body=[{"errorCode": "INVALID_FIELD",
                                                     "message": "No such column 'Community_Tier__c'"}])
    with pytest.raises(CrmError, match="No such column 'Community_Tier__c'"):
        run(salesforce, make_contacts(5), make_companies(2), tmp_path / "journal.jsonl")
    assert len(salesforce.requests) == 2


# ---- 6. exhausted retries and resumption ---------------------------------------------------------------------


def test_exhausted_retries_then_a_rerun_sends_only_the_rest(hubspot: FakeCrm, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    contacts, companies = make_contacts(250), make_companies(8)
    hubspot.force(503, path="/batch/upsert", after_batches=2, times=3)
    waits: list[float] = []
    with pytest.raises(CrmError, match=r"contacts batch 3/3 \(m00200 .. m00249\) failed after 2 retries; last: "
                                       r"HTTP 503.*resumes where it stopped"):
        run(hubspot, contacts, companies, journal, waits, max_retries=2)
    assert len(waits) == 2
    assert len(journal_keys(journal)) == 2
    assert len(hubspot.records["contacts"]) == 200

    before = len(hubspot.writes_sent())
    report = run(hubspot, contacts, companies, journal)
    assert (report.batches_skipped, report.batches_sent, report.contacts_sent) == (2, 2, 50)
    assert [r[1] for r in hubspot.writes_sent()[before:]] == [
        "/crm/v3/objects/contacts/batch/upsert", "/crm/v3/objects/companies/batch/upsert"]
    assert hubspot.records == expected_hubspot(contacts, companies)
    assert set(hubspot.writes.values()) == {1}


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    fake = FakeCrm("hubspot")
    url = fake.url
    fake.close()  # nothing listens there any more
    waits: list[float] = []
    with pytest.raises(CrmError, match="token check failed after 8 retries; last: no answer"):
        push(make_contacts(3), make_companies(1), "hubspot", base_url=url, token=TOKEN,
             journal=tmp_path / "journal.jsonl", max_retries=8, sleep=waits.append, timeout=2)
    steps = [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, capped at 60 s
    assert all(step <= wait <= min(60, step * 1.1) for step, wait in zip(steps, waits, strict=True))


# ---- 7. SIGKILL mid-run, torn journal -----------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
import pandas as pd
from commetrics.crm import push
push(pd.read_pickle(sys.argv[1]), pd.read_pickle(sys.argv[2]), "hubspot", base_url=sys.argv[3],
     token=sys.argv[4], journal=Path(sys.argv[5]))
"""


def test_sigkill_mid_run_then_rerun_updates_each_record_once(hubspot: FakeCrm, tmp_path: Path) -> None:
    contacts, companies = make_contacts(1000), make_companies(40)
    contacts.to_pickle(tmp_path / "contacts.pkl")
    companies.to_pickle(tmp_path / "companies.pkl")
    journal = tmp_path / "journal.jsonl"
    hubspot.hold_after = 4  # batch 4 is applied, then its answer waits: the child dies before journaling it
    args = [str(tmp_path / "contacts.pkl"), str(tmp_path / "companies.pkl"), hubspot.url, TOKEN, str(journal)]
    with subprocess.Popen([sys.executable, "-c", CHILD, *args], stderr=subprocess.PIPE) as child:
        deadline = time.monotonic() + 60
        while not hubspot.holding.wait(0.05):
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached batch 4"
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    hubspot.hold_after = None
    hubspot.release.set()
    assert hubspot.batches_applied == 4
    assert len(journal_keys(journal)) == 3

    report = run(hubspot, contacts, companies, journal)
    assert (report.batches_skipped, report.batches_sent, report.contacts_sent) == (3, 8, 700)
    assert hubspot.records == expected_hubspot(contacts, companies)
    assert len(hubspot.effective) == 1040
    assert set(hubspot.effective.values()) == {1}
    resent = {record_id for (obj, record_id), n in hubspot.writes.items() if n == 2}
    assert resent == {f"person{i}@example.com" for i in range(300, 400)}  # batch 4, applied twice, changed once
    assert len(journal_keys(journal)) == 11


def test_a_torn_last_journal_line_is_ignored_and_cut(hubspot: FakeCrm, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    contacts, companies = make_contacts(300), make_companies(5)
    run(hubspot, contacts, companies, journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])  # the last append was cut short by a kill

    before = len(hubspot.writes_sent())
    report = run(hubspot, contacts, companies, journal)
    assert (report.batches_skipped, report.batches_sent) == (3, 1)
    assert [r[1] for r in hubspot.writes_sent()[before:]] == ["/crm/v3/objects/companies/batch/upsert"]
    assert journal.read_bytes() == b"".join(lines)
    assert set(hubspot.effective.values()) == {1}

    journal.write_bytes(b"".join(lines[:2]) + b"{not json}\n" + lines[3])
    with pytest.raises(InputError, match="Line 3 of the journal"):
        run(hubspot, contacts, companies, journal)


# ---- 8. nothing to do ---------------------------------------------------------------------------------------


def test_rerunning_a_completed_push_sends_nothing(salesforce: FakeCrm, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    contacts, companies = make_contacts(420), make_companies(7)
    salesforce.reject = {"m00042": ("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]")}
    first = run(salesforce, contacts, companies, journal)
    requests = list(salesforce.requests)

    again = run(salesforce, contacts.sample(frac=1, random_state=1), companies, journal)
    assert salesforce.requests == requests  # not even the token check
    assert again == PushReport("salesforce", 0, 0, 0, 4, 0, first.failed_records)
    assert [f["id"] for f in again.failed_records] == ["m00042"]
