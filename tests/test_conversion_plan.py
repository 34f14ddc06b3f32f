"""The conversion counts against a reference written straight from the definitions, in pandas.

The per-unit base meets the outcomes through each unit's id and start alone and adds the cohort keys by
joins on the unit; these cases are the ones such a plan can get wrong: a person with two member records and
a CRM contact (converting through the contact), a person converted before joining (existing customer, out of
every denominator), staff, a person whose landmark lies past the as-of, programs exactly at and one second
past the landmark, an activity before the anchor, units with no outcome at all, and conversions exactly at
the window's edge. The reference reads the loaded tables and the resolved ``people`` with pandas only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd
import pytest

from commetrics import Engine
from commetrics.metrics.conversion import ConversionSpec, conversion_counts, counts_expression

from .conftest import write_csv

AS_OF = datetime(2025, 4, 30, tzinfo=UTC)
WINDOWS = (7, 30)
OUTCOMES = ("trial_start", "purchase")
LANDMARK = 30


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    d = tmp_path_factory.mktemp("plan")
    header = ["member_id", "email", "joined_at", "entry_path", "is_staff", "account_id"]
    members = write_csv(d / "members.csv", header, [
        ["m1", "ana@x.org", "2025-01-01T00:00:00Z", "seo", "false", "a1"],       # converts via her CRM contact
        ["m1b", "ana@x.org", "2025-01-05T00:00:00Z", "webinar", "false", ""],    # her second record: one person
        ["m2", "bo@x.org", "2025-01-01T00:00:00Z", "webinar", "false", "a2"],    # converts 7 days + 1 s later
        ["m3", "cy@x.org", "2025-01-10T00:00:00Z", "seo", "false", "a2"],        # trial before joining: existing
        ["m4", "di@x.org", "2025-04-20T00:00:00Z", "seo", "false", ""],          # 30 days, landmark: past as-of
        ["m5", "ed@x.org", "2025-01-01T00:00:00Z", "seo", "true", ""],           # staff
        ["m6", "fa@x.org", "2025-02-01T00:00:00Z", "", "false", "a3"],           # program exactly at the landmark
        ["m7", "gu@x.org", "2025-02-01T00:00:00Z", "referral", "false", ""],     # program one second past it
        ["m8", "hu@x.org", "2025-01-02T00:00:00Z", "webinar", "false", "a1"],    # converts at joining (day 0)
        ["m9", "io@x.org", "2025-03-01T00:00:00Z", "referral", "false", ""],     # nothing at all
    ])
    contacts = write_csv(d / "contacts.csv", ["contact_id", "email", "account_id", "created_at"], [
        ["c1", "ana@x.org", "a1", "2024-12-01T00:00:00Z"],
        ["c9", "zed@x.org", "a4", "2024-12-01T00:00:00Z"],                      # never joined
    ])
    accounts = write_csv(d / "accounts.csv", ["account_id", "segment"], [
        ["a1", "enterprise"], ["a2", "smb"], ["a3", "smb"]])
    activities = write_csv(d / "activities.csv", ["activity_id", "member_id", "ts", "type", "program"], [
        ["x1", "m1", "2024-12-20T00:00:00Z", "question", "ama"],    # before the anchor: neither key
        ["x2", "m1b", "2025-01-03T00:00:00Z", "answer", "ama"],     # the person's first after joining
        ["x3", "m2", "2025-01-02T00:00:00Z", "question", ""],
        ["x4", "m6", "2025-03-03T00:00:00Z", "event_attended", "user_group"],  # t0 + 30 days exactly
        ["x5", "m7", "2025-03-03T00:00:01Z", "event_attended", "user_group"],  # one second past the landmark
        ["x6", "m7", "2025-02-02T00:00:00Z", "question", ""],
        ["x7", "m8", "2025-01-20T00:00:00Z", "answer", "ama"],
    ])
    outcomes = write_csv(d / "outcomes.csv", ["outcome_id", "member_id", "contact_id", "ts", "type"], [
        ["o1", "", "c1", "2025-01-08T00:00:00Z", "trial_start"],   # ana, through the contact: day 7
        ["o2", "m2", "", "2025-01-08T00:00:01Z", "trial_start"],
        ["o3", "m3", "", "2025-01-05T00:00:00Z", "purchase"],      # before m3 joined
        ["o4", "m3", "", "2025-01-12T00:00:00Z", "trial_start"],
        ["o5", "m5", "", "2025-01-02T00:00:00Z", "trial_start"],   # staff
        ["o6", "m8", "", "2025-01-02T00:00:00Z", "purchase"],      # day 0
        ["o7", "m6", "", "2025-03-10T00:00:00Z", "trial_start"],   # 7 days after m6's landmark
        ["o8", "m7", "", "2025-03-05T00:00:00Z", "renewal"],       # another type: ignored
        ["o9", "", "c9", "2025-01-10T00:00:00Z", "trial_start"],   # never joined: not a member's
    ])
    with Engine.in_memory() as e:
        for table, path in (("accounts", accounts), ("members", members), ("contacts", contacts),
                            ("activities", activities), ("outcomes", outcomes)):
            e.load(table, path, source="crm" if table in ("accounts", "contacts") else "forum", now=AS_OF)
        yield e


def _reference(engine: Engine, key: str | None) -> pd.DataFrame:
    """The counts from the definitions (module docstring of commetrics.metrics.conversion), in pandas."""
    con = engine.store.con
    members = con.execute("select member_id, joined_at, entry_path, account_id, is_staff from members").df()
    people = con.execute("select person_id, member_id, contact_id, account_id from people").df()
    outcomes = con.execute("select member_id, contact_id, ts, type from outcomes").df()
    activities = con.execute("select member_id, ts, type, program from activities").df()
    accounts = con.execute("select account_id, segment from accounts").df()
    person_of_member = dict(zip(people["member_id"], people["person_id"], strict=True)) if len(people) else {}
    person_of_contact = {c: p for c, p in zip(people["contact_id"], people["person_id"], strict=True) if c}
    members["person_id"] = [person_of_member.get(m) or f"p:m:{m}" for m in members["member_id"]]
    rows = []
    for person, records in members.groupby("person_id"):
        if records["is_staff"].fillna(False).any():
            continue
        first = records.sort_values("joined_at").iloc[0]
        t0 = first["joined_at"]
        start = t0 + timedelta(days=LANDMARK) if key == "program" else t0
        if start > AS_OF:
            continue
        ids = set(records["member_id"])
        contacts = {c for c, p in person_of_contact.items() if p == person}
        mine = outcomes[outcomes["type"].isin(OUTCOMES)
                        & (outcomes["member_id"].isin(ids) | outcomes["contact_id"].isin(contacts))]
        existing = bool((mine["ts"] < start).any())
        later = mine.loc[mine["ts"] >= start, "ts"]
        acts = activities[activities["member_id"].isin(ids) & (activities["ts"] >= t0)].sort_values("ts")
        programs = acts[acts["program"].notna() & (acts["ts"] <= start)]
        segment = accounts.loc[accounts["account_id"] == first["account_id"], "segment"]
        rows.append({"existing": existing, "first_ts": later.min() if len(later) else None, "start": start,
                     "entry_path": first["entry_path"] if pd.notna(first["entry_path"]) else "unknown",
                     "first_activity": acts["type"].iloc[0] if len(acts) else "none",
                     "program": programs["program"].iloc[0] if len(programs) else "none",
                     "segment": segment.iloc[0] if len(segment) else "unknown"})
    units = pd.DataFrame(rows)
    cells = []
    for label, group in (units.groupby(key) if key else [("all", units)]):
        cell = {key: label} if key else {}
        fresh = group[~group["existing"]]
        cell.update(existing_customers=int(group["existing"].sum()), anchored=len(fresh))
        for w in WINDOWS:
            mature = fresh["start"] <= AS_OF - timedelta(days=w)
            converted = fresh["first_ts"].notna() & (fresh["first_ts"] <= fresh["start"] + timedelta(days=w))
            cell.update({f"eligible_{w}": int(mature.sum()), f"converters_{w}": int((mature & converted).sum()),
                         f"in_progress_{w}": int((~mature).sum())})
        cells.append(cell)
    return pd.DataFrame(cells)


@pytest.mark.parametrize("key", [None, "entry_path", "first_activity", "program", "segment"])
def test_counts_equal_the_reference_from_the_definitions(engine: Engine, key: str | None) -> None:
    spec = ConversionSpec("plan", OUTCOMES, windows=WINDOWS, by=(key,) if key else (), landmark_days=LANDMARK)
    ours = conversion_counts(engine.ibis(), spec, AS_OF, "UTC")
    expected = _reference(engine, key)
    columns = list(expected.columns)
    counts = [c for c in columns if c != key]
    got = ours[columns].astype(dict.fromkeys(counts, "int64")).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.astype(dict.fromkeys(counts, "int64")), check_dtype=False)


def test_known_answers_of_the_edge_cases(engine: Engine) -> None:
    """The same cases worked out by hand (the reference above could share a misreading with the engine)."""
    db = engine.ibis()
    everyone = conversion_counts(db, ConversionSpec("plan", OUTCOMES, windows=WINDOWS), AS_OF, "UTC").iloc[0]
    # people: ana (m1+m1b+c1), m2, m3 (existing), m4, m6, m7, m8, m9; m5 is staff
    assert (everyone["existing_customers"], everyone["anchored"]) == (1, 7)
    # 7 days: all mature (m4 joined Apr 20); converters ana (day 7 exactly, via her contact) and m8 (day 0)
    assert (everyone["eligible_7"], everyone["converters_7"], everyone["in_progress_7"]) == (7, 2, 0)
    # 30 days: m4 in progress; m2 (7 days + 1 s) converts too, m6 (37 days) does not
    assert (everyone["eligible_30"], everyone["converters_30"], everyone["in_progress_30"]) == (6, 3, 1)
    spec = ConversionSpec("plan", OUTCOMES, windows=WINDOWS, by=("program",), landmark_days=LANDMARK)
    programs = conversion_counts(db, spec, AS_OF, "UTC").set_index("program")
    # m4's landmark lies past the as-of: out. Converted before their landmark: ana and m8 (ama), m2 and m3 (none).
    # m6's program lies exactly at her landmark, and she converts 7 days after it; m7's lies one second past.
    columns = ["existing_customers", "anchored", "eligible_7", "converters_7", "eligible_30", "converters_30"]
    assert programs.loc["ama", columns].tolist() == [2, 0, 0, 0, 0, 0]
    assert programs.loc["user_group", columns].tolist() == [0, 1, 1, 1, 1, 1]
    assert programs.loc["none", columns].tolist() == [2, 2, 2, 0, 2, 0]  # m7 and m9 (landmark Mar 31: mature)


@pytest.mark.parametrize("key", [None, "first_activity", "program"])
def test_the_query_reads_the_people_twice_at_most(engine: Engine, key: str | None) -> None:
    """The member → person lookup is one common table expression shared by outcomes and activities; with the
    contacts' lookup that is two reads of ``people`` (three or more when each join repeated it)."""
    spec = ConversionSpec("plan", OUTCOMES, windows=WINDOWS, by=(key,) if key else (), landmark_days=LANDMARK)
    sql = ibis.to_sql(counts_expression(engine.ibis(), spec, AS_OF, "UTC"), dialect="duckdb")
    assert sql.count('FROM "people"') == 2
