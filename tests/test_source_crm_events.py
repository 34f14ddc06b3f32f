"""The Salesforce and Segment connectors on real samples (tests/data/exports, see PROVENANCE.md).

Expected counts come from this file's own parse (csv and json modules), never from the connectors.
"""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commetrics import ConfigError, Engine
from commetrics.config import Config, parse_config

from .conftest import NOW, assert_conserved, assert_keys_unique

DATA = Path(__file__).parent / "data" / "exports"


def _csv(name: str, folder: Path = DATA / "salesforce") -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _engine(settings: dict[str, Any]) -> Engine:
    return Engine.in_memory(config=parse_config({"sources": settings}))


def test_salesforce_real_export_matches_an_independent_parse() -> None:
    opportunities, cases, leads = _csv("Opportunity"), _csv("Case"), _csv("Lead")
    members = _csv("CampaignMember")
    won = [o for o in opportunities if o["IsWon"] == "1"]
    with _engine({"salesforce": {"campaign_statuses": {"Sent": "event_registered"}, "currency": "USD"}}) as engine:
        reports = engine.load_dump("salesforce", DATA / "salesforce", now=NOW)
        by = {r.table: r for r in reports}
        assert by["accounts"].rows_loaded == len(_csv("Account"))
        assert by["contacts"].rows_loaded == len(_csv("Contact")) + len(leads)
        assert by["outcomes"].rows_loaded == len(won) + len(cases)
        assert reports.excluded["outcomes"] == {"not_won": len(opportunities) - len(won)}
        assert by["activities"].rows_loaded == len(members)  # every status is Sent, mapped here to registered
        assert by["members"].rows_loaded == len({m["LeadOrContactId"] for m in members})
        for report in reports:
            assert_conserved(engine, report)
        total = engine.store.con.execute("select sum(value), min(currency), max(currency) from outcomes "
                                         "where type = 'purchase'").fetchone()
        assert total == (sum(Decimal(o["Amount"]) for o in won), "USD", "USD")
        stage = engine.store.con.execute("select lifecycle_stage from contacts where contact_id = ?",
                                         [leads[0]["Id"]]).fetchone()
        assert stage == (f"lead: {leads[0]['Status']}",)
        again = engine.load_dump("salesforce", DATA / "salesforce", now=NOW)
        assert sum(r.rows_loaded for r in again) == 0
        assert sum(r.rows_duplicate for r in again) == sum(r.rows_loaded for r in reports)


def test_salesforce_default_statuses_exclude_sent_and_types_map_outcomes(tmp_path: Path) -> None:
    """File names in lower case, no BOM; opportunity Type mapped by the config; converted leads left out."""
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(DATA / "salesforce" / "Account.csv", folder / "account.CSV")
    rows = _csv("Opportunity")
    rows[0].update(StageName="Closed Won", IsWon="1", Type="Existing Customer - Upgrade", Amount="10.5")
    rows[1].update(StageName="Closed Won", IsWon="", Type="Renewal", Amount="20")
    with (folder / "opportunity.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:2])
    leads = _csv("Lead")[:3]
    leads[0]["IsConverted"] = "1"
    with (folder / "Lead.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(leads[0]))
        writer.writeheader()
        writer.writerows(leads)
    shutil.copy(DATA / "salesforce" / "CampaignMember.csv", folder / "CampaignMember.csv")
    with Engine.in_memory() as engine:
        reports = engine.load_dump("salesforce", folder, now=NOW)
        assert reports.excluded["activities"] == {"not_attendee": len(_csv("CampaignMember"))}
        assert reports.excluded["contacts"] == {"converted_lead": 1}
        outcomes = engine.store.con.execute("select type, value from outcomes order by type").fetchall()
        assert outcomes == [("renewal", Decimal("20.00")), ("upgrade", Decimal("10.50"))]
        assert engine.store.row_counts()["contacts"] == 2


def _segment_events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((DATA / "segment").glob("*.json")):
        out += json.loads(path.read_text())["batch"]
    return out


def test_segment_real_payloads_match_an_independent_parse() -> None:
    events = _segment_events()
    tracks = [e for e in events if e["type"] == "track"]
    keys = {(e["messageId"], e["type"], e["timestamp"]) for e in tracks}
    other = [e for e in events if e["type"] in ("page", "screen", "alias")]
    with _engine({"segment": {"activity_events": {"Download": "course_completed"}}}) as engine:
        reports = engine.load_dump("segment", DATA / "segment", now=NOW)
        by = {r.table: r for r in reports}
        assert by["activities"].rows_read == len(tracks)
        assert by["activities"].rows_loaded == len(keys)  # messageId, type and timestamp together are the key
        assert by["activities"].rows_duplicate == len(tracks) - len(keys)
        assert reports.excluded["activities"] == {"not_loaded_kind": len(other)}
        member = engine.store.con.execute("select member_id, account_id from members").fetchall()
        assert member == [("B", "A")]  # identify B, then group B -> A
        assert engine.store.con.execute("select account_id from accounts").fetchall() == [("A",)]
        for report in reports:
            assert_conserved(engine, report)
        again = engine.load_dump("segment", DATA / "segment", now=NOW)
        assert sum(r.rows_loaded for r in again) == 0
        assert_keys_unique(engine, "activities")


def test_segment_json_lines_outcomes_and_unmapped_events(tmp_path: Path) -> None:
    lines = [
        {"type": "identify", "userId": "u1", "messageId": "m1", "timestamp": "2024-05-01T10:00:00Z",
         "traits": {"email": "u1@example.com", "firstName": "Una", "lastName": "One"}},
        {"type": "identify", "userId": "u1", "messageId": "m2", "timestamp": "2024-05-02T10:00:00Z",
         "traits": {"username": "una"}},
        {"type": "track", "userId": "u1", "messageId": "m3", "event": "Order Completed",
         "originalTimestamp": "2024-05-03T10:00:00Z", "sentAt": "2024-05-03T10:00:05Z",
         "receivedAt": "2024-05-03T11:00:05Z", "properties": {"revenue": 99.5, "currency": "EUR"}},
        {"type": "track", "anonymousId": "a9", "messageId": "m4", "event": "Button Clicked",
         "timestamp": "2024-05-03T10:00:00Z"},
        {"type": "track", "messageId": "m5", "event": "Order Completed", "timestamp": "2024-05-03T10:00:00Z"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with Engine.in_memory() as engine:
        reports = engine.load_dump("segment", path, now=NOW)
        assert reports.excluded["members"] == {"merged": 1}
        assert reports.excluded["activities"] == {"unmapped_event": 1, "no_author": 1}
        outcome = engine.store.con.execute("select member_id, type, value, currency, ts from outcomes").fetchone()
        assert outcome is not None
        assert outcome[:4] == ("u1", "purchase", Decimal("99.50"), "EUR")
        assert outcome[4].isoformat() == "2024-05-03T11:00:00+00:00"  # clock skew of the client corrected
        member = engine.store.con.execute("select email, name, handle from members").fetchone()
        assert member == ("u1@example.com", "Una One", "una")


def test_segment_traits_fill_member_and_account_columns_and_attributes(tmp_path: Path) -> None:
    """[sources.segment] member_traits / account_traits: a sign-up form's first-touch source and consent, a CRM or
    warehouse sync's ARR, segment and seats land in their columns; other mapped traits are attributes typed by
    their values; a later call that leaves a trait out keeps it."""
    lines = [
        {"type": "identify", "userId": "u1", "messageId": "m1", "timestamp": "2024-05-01T10:00:00Z",
         "traits": {"email": "u1@example.com", "first_touch": "webinar", "gdpr": "yes", "role": "admin",
                    "address": {"city": "Oslo"}}},
        {"type": "identify", "userId": "u1", "messageId": "m2", "timestamp": "2024-05-02T10:00:00Z",
         "traits": {"role": "developer"}},
        {"type": "group", "anonymousId": "sync", "groupId": "A", "messageId": "m3", "timestamp": "2024-05-01T09:00:00Z",
         "traits": {"name": "Acme", "arr": 12000.5, "segment": "enterprise", "seats": 40, "employees": 5200,
                    "product_usage": 61.5}},
        {"type": "group", "userId": "u1", "groupId": "A", "messageId": "m4", "timestamp": "2024-05-01T10:00:00Z",
         "traits": {"employees": 5300, "product_usage": 70}},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    settings = {"segment": {"member_traits": {"first_touch": "entry_path", "gdpr": "consent", "role": "job_role",
                                              "address": "address"},
                            "account_traits": {"arr": "arr", "segment": "segment", "seats": "seats",
                                               "employees": "employees", "product_usage": "product_usage"}}}
    with _engine(settings) as engine:
        engine.load_dump("segment", path, now=NOW)
        member = engine.store.con.execute("select member_id, entry_path, consent, account_id, attributes "
                                          "from members").fetchone()
        account = engine.store.con.execute("select name, arr, segment, seats, attributes from accounts").fetchone()
    assert member is not None
    assert account is not None
    assert member[:4] == ("u1", "webinar", True, "A")
    assert json.loads(member[4]) == {"job_role": "developer"}  # later wins; an object is no attribute
    assert account[:4] == ("Acme", Decimal("12000.50"), "enterprise", 40)
    assert json.loads(account[4]) == {"employees": 5300, "product_usage": 70.0}  # whole and decimal: numbers


def test_segment_traits_cannot_shadow_a_column_the_call_sets() -> None:
    with pytest.raises(ConfigError, match="email"):
        parse_config({"sources": {"segment": {"member_traits": {"mail": "email"}}}})


def test_default_config_has_the_source_mappings() -> None:
    settings = Config().sources
    assert settings.hubspot.deal_types["newbusiness"] == "purchase"
    assert settings.salesforce.opportunity_types["Renewal"] == "renewal"
    assert settings.segment.outcome_events["Signed Up"] == "signup"
