"""Discord, HubSpot, Eventbrite and Luma on synthetic fixtures written from the documented formats
(tests/data/exports/{discord,hubspot,eventbrite,luma}, see their READMEs).

Expected counts come from this file's own parse (json and csv modules), never from the connectors.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine, InputError

from .conftest import NOW, assert_conserved, assert_keys_unique

DATA = Path(__file__).parent / "data" / "exports"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _twice(engine: Engine, kind: str, path: Path, **options: Any) -> Any:
    """Load, check conservation, load again: the second load adds nothing."""
    reports = engine.load_dump(kind, path, now=NOW, **options)
    for report in reports:
        assert_conserved(engine, report)
    again = engine.load_dump(kind, path, now=NOW, **options)
    assert sum(r.rows_loaded for r in again) == 0
    assert sum(r.rows_duplicate for r in again) == sum(r.rows_loaded + r.rows_duplicate for r in reports)
    return reports


def test_discord_counts_match_an_independent_parse(engine: Engine) -> None:
    files = sorted((DATA / "discord").rglob("*.json"))
    messages = [m for f in files for m in json.loads(f.read_text())["messages"]]
    human = [m for m in messages if not m["author"]["isBot"]]
    loaded_types = [m for m in human if m["type"] in ("Default", "Reply", "GuildMemberJoin")]
    reactions = [(m["id"], u) for m in messages for r in m["reactions"] for u in r["users"]]
    human_reactions = {(mid, u["id"]) for mid, u in reactions if not u["isBot"]}
    distinct = {m["id"] for m in loaded_types}

    reports = _twice(engine, "discord", DATA / "discord")
    activities = next(r for r in reports if r.table == "activities")
    assert reports.records_read("activities") == len(messages) + len(reactions)
    assert reports.excluded["activities"] == {"bot": len(messages) - len(human) + len(reactions)
                                              - len([r for r in reactions if not r[1]["isBot"]]),
                                              "system_event": len(human) - len(loaded_types)}
    assert activities.rows_loaded == len(distinct) + len(human_reactions)  # the thread starter is in two files
    members = {m["author"]["id"] for m in human} | {u for _, u in human_reactions}
    assert engine.store.row_counts()["members"] == len(members)
    rows = dict(engine.store.con.execute("select activity_id, type from activities").fetchall())
    assert rows["900000000000000102"] == "reply"
    assert rows["900000000000000105"] == "reply"  # Default with a reference (older exports)
    assert rows["900000000000000100"] == "joined"
    ts = engine.store.con.execute("select ts from activities where activity_id = '900000000000000102'").fetchone()
    assert ts is not None
    assert ts[0].isoformat() == "2024-05-01T09:31:00.123456+00:00"  # -04:00 and 7 digits read
    thread = engine.store.con.execute("select channel from activities where activity_id = '900000000000000110'"
                                      ).fetchone()
    assert thread == ("general",)  # a thread counts under its parent channel
    joined = engine.store.con.execute("select joined_at from members where member_id = '900000000000000201'"
                                      ).fetchone()
    assert joined is not None
    assert joined[0].isoformat() == "2024-05-01T09:00:00.100000+00:00"  # the GuildMemberJoin message
    assert_keys_unique(engine, "activities")


def test_hubspot_csv_exports_match_an_independent_parse(engine: Engine) -> None:
    contacts, companies, deals = (_rows(DATA / "hubspot" / f"{n}.csv") for n in ("contacts", "companies", "deals"))
    samples = [c for c in contacts if "(Sample Contact)" in c["Last Name"]]
    won = [d for d in deals if d["Deal Stage"].lower().replace(" ", "") == "closedwon"]
    reports = _twice(engine, "hubspot", DATA / "hubspot", timezone="America/New_York")
    by = {r.table: r for r in reports}
    assert by["contacts"].rows_loaded == len(contacts) - len(samples)
    assert reports.excluded["contacts"] == {"sample_record": len(samples)}
    assert by["accounts"].rows_loaded == len(companies) - 1  # the company "HubSpot"
    assert by["outcomes"].rows_loaded == len(won)
    assert reports.excluded["outcomes"] == {"not_won": len(deals) - len(won)}
    outcomes = engine.store.con.execute("select outcome_id, type, value, account_id, contact_id, ts from outcomes "
                                        "order by 1").fetchall()
    assert [o[:5] for o in outcomes] == [
        ("9001", "purchase", Decimal("12000.00"), "5000000101", "201"),
        ("9002", "upgrade", Decimal("3000.00"), "5000000101", "201"),
        ("9005", "renewal", Decimal("12500.50"), "5000000101", None),
    ]
    assert outcomes[0][5].isoformat() == "2024-04-01T16:00:00+00:00"  # 12:00 in New York (EDT)
    contact = engine.store.con.execute("select email, account_id, lifecycle_stage from contacts "
                                       "where contact_id = '202'").fetchone()
    assert contact == ("ben@contoso.example", "5000000102", "marketingqualifiedlead")
    masked = engine.store.con.execute("select email from contacts where contact_id = '203'").fetchone()
    assert masked == (None,)
    domains = dict(engine.store.con.execute("select account_id, domain from accounts").fetchall())
    assert domains == {"5000000101": "northwind.example", "5000000102": "contoso.example"}


def test_hubspot_local_times_need_a_timezone(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--timezone"):
        engine.load_dump("hubspot", DATA / "hubspot", now=NOW)
    epoch = tmp_path / "contacts.csv"  # older API captures: epoch milliseconds, no zone needed
    epoch.write_text("Record ID,Email,Create Date\n1,a@example.com,1704067200000\n")
    engine.load_dump("hubspot", epoch, now=NOW)
    created = engine.store.con.execute("select created_at from contacts").fetchone()
    assert created is not None
    assert created[0].isoformat() == "2024-01-01T00:00:00+00:00"


def test_hubspot_amounts_in_a_portals_locale_are_read_by_the_column_not_guessed(engine: Engine,
                                                                                 tmp_path: Path) -> None:
    """A German portal writes 1.500,00 and 99,90: read as a decimal comma by the whole column (it was
    1.5 and 9990 when each amount lost its commas), and an amount that is not one is quarantined."""
    deals = tmp_path / "deals.csv"
    deals.write_text("Record ID,Deal Stage,Amount,Close Date,Associated Contact IDs\n"
                     '9101,Closed Won,"1.500,00",2024-04-01 12:00,201\n'
                     '9102,Closed Won,"99,90",2024-04-02 12:00,201\n'
                     "9103,Closed Won,1.500,2024-04-03 12:00,202\n"
                     "9104,Closed Won,soon,2024-04-04 12:00,202\n", encoding="utf-8")
    report = engine.load_dump("hubspot", deals, now=NOW, timezone="Europe/Berlin")
    outcomes = next(r for r in report if r.table == "outcomes")
    assert outcomes.number_formats == {"value": "a decimal comma (detected)"}
    values = dict(engine.store.con.execute("select outcome_id, value::VARCHAR from outcomes").fetchall())
    assert values == {"9101": "1500.00", "9102": "99.90", "9103": "1500.00"}
    assert engine.quarantine()["reason"].tolist() == ["bad_number"]


def test_eventbrite_orders_are_not_attendees(engine: Engine) -> None:
    rows = _rows(DATA / "eventbrite" / "attendees.csv")
    gone = [r for r in rows if r["Attendee Status"] in ("Refunded", "Not Attending")]
    people = {r["Email"] for r in rows if r not in gone}
    checked = {r["Email"] for r in rows if r["Attendee Status"] == "Checked In"}
    assert (len(rows), len({r["Order #"] for r in rows}), len(people)) == (6, 4, 3)
    reports = _twice(engine, "eventbrite", DATA / "eventbrite", timezone="Europe/London")
    assert reports.excluded["activities"] == {"not_attendee": len(gone), "extra_ticket": 1}
    types = dict(engine.store.con.execute("select type, count(*) from activities group by type").fetchall())
    assert types == {"event_registered": len(people), "event_attended": len(checked)}
    attended = engine.store.con.execute("select ts from activities where type = 'event_attended' "
                                        "and member_id = 'ada.park@northwind.example'").fetchone()
    assert attended is not None
    assert attended[0].isoformat() == "2024-06-01T17:05:00+00:00"  # check-in time, London summer time
    assert engine.store.row_counts()["members"] == len(people)


def test_luma_guests_registered_and_checked_in(engine: Engine) -> None:
    path = next((DATA / "luma").glob("*.csv"))
    rows = _rows(path)
    guests = [r for r in rows if r["approval_status"] in ("approved", "pending_approval")]
    reports = _twice(engine, "luma", path)
    assert reports.excluded["activities"] == {"not_attendee": len(rows) - len(guests)}
    types = dict(engine.store.con.execute("select type, count(*) from activities group by type").fetchall())
    assert types == {"event_registered": len(guests), "event_attended": sum(1 for r in rows if r["checked_in_at"])}
    ref = engine.store.con.execute("select distinct ref_id from activities").fetchall()
    assert ref == [("Guests - AI Builders Night",)]  # a guest list is one event: its file name
    assert engine.store.con.execute("select member_id from members where email = 'BEN@contoso.example'"
                                    ).fetchall() == [("ben@contoso.example",)]
