"""The conversion engine on hand-computed cases, and on the demo's planted effect."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Config, Engine, InputError
from commetrics.config import ReportingSettings
from commetrics.metrics.conversion import local_time

from .conftest import write_csv

AS_OF = datetime(2025, 3, 31, tzinfo=UTC)


def _engine(tmp_path: Path, zone: str = "UTC") -> Engine:
    engine = Engine.in_memory(Config(reporting=ReportingSettings(timezone=zone)))
    members = write_csv(tmp_path / "members.csv", ["member_id", "joined_at", "entry_path", "is_staff", "account_id"], [
        ["m1", "2025-01-01T00:00:00Z", "seo", "false", "a1"],      # trial exactly 7 days later: day-7 converter
        ["m2", "2025-01-01T00:00:00Z", "webinar", "false", "a1"],  # trial 7 days + 1 s later: 30-day only
        ["m3", "2025-01-10T00:00:00Z", "seo", "false", "a2"],      # trial before joining: existing customer
        ["m4", "2025-03-20T00:00:00Z", "seo", "false", ""],        # mature for 7 days only
        ["m5", "2025-01-01T00:00:00Z", "seo", "true", ""],         # staff: never counted
        ["m6", "2025-01-05T00:00:00Z", "referral", "false", ""],   # re-joins later (other source)
        ["m7", "2025-01-31T23:30:00Z", "seo", "false", ""],        # Feb 1 00:30 in Berlin; no trial
        ["m8", "2025-01-02T00:00:00Z", "webinar", "false", ""],    # converts exactly at joining (day 0)
    ])
    rejoin = write_csv(tmp_path / "rejoin.csv", ["member_id", "joined_at", "entry_path"], [
        ["m6", "2025-02-01T00:00:00Z", "webinar"]])
    outcomes = write_csv(tmp_path / "outcomes.csv", ["outcome_id", "member_id", "ts", "type"], [
        ["o1", "m1", "2025-01-08T00:00:00Z", "trial_start"],
        ["o2", "m2", "2025-01-08T00:00:01Z", "trial_start"],
        ["o3", "m3", "2025-01-05T00:00:00Z", "trial_start"],
        ["o4", "m3", "2025-01-12T00:00:00Z", "trial_start"],
        ["o5", "m5", "2025-01-02T00:00:00Z", "trial_start"],
        ["o6", "m6", "2025-02-03T00:00:00Z", "trial_start"],  # 29 days after the first join
        ["o7", "m8", "2025-01-02T00:00:00Z", "trial_start"],
        ["o8", "m1", "2025-01-09T00:00:00Z", "trial_start"],  # a second trial: only the first counts
        ["o9", "m4", "2025-03-21T00:00:00Z", "purchase"],     # another outcome type: ignored
    ])
    engine.load("members", members, source="forum", now=AS_OF)
    engine.load("members", rejoin, source="slack", now=AS_OF)
    engine.load("outcomes", outcomes, source="crm", now=AS_OF)
    return engine


def _cells(frame, *keys):  # type: ignore[no-untyped-def]
    return {tuple(r[k] for k in keys): (r["eligible"], r["in_progress"], r["converters"])
            for r in frame.to_dict(orient="records")}


def test_hand_computed_counts_per_window(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        table = engine.conversion(outcome="trial_start", windows=[7, 30], as_of=AS_OF, exact=True)["rates"]
    # anchors: m1 m2 m4 m6 m7 m8 (m3 existing, m5 staff); 7 days: all mature; 30 days: m4 immature
    # converters 7 d: m1 (edge), m8 (day 0); 30 d: m1 m2 m6 m8
    assert _cells(table, "window_days") == {(7,): (6, 0, 2), (30,): (5, 1, 4)}
    assert set(table["existing_customers"]) == {1}
    row = table[table["window_days"] == 30].iloc[0]
    assert row["rate"] == pytest.approx(4 / 5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.3755, 0.9638), abs=5e-5)  # Wilson 4/5


def test_cohorts_by_entry_path_use_the_first_join(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        table = engine.conversion(outcome="trial_start", windows=[30], by=["entry_path"], as_of=AS_OF,
                                  exact=True)["rates"]
    # m6 joined first via referral: the later webinar re-join does not move it
    assert _cells(table, "entry_path") == {("referral",): (1, 0, 1), ("seo",): (2, 1, 1), ("webinar",): (2, 0, 2)}
    seo = table[table["entry_path"] == "seo"].iloc[0]
    assert seo["reference"] == "seo"  # most eligible (ties by name)
    webinar = table[table["entry_path"] == "webinar"].iloc[0]
    assert webinar["diff"] == pytest.approx(1.0 - 0.5)
    assert webinar["diff_low"] < webinar["diff"] < webinar["diff_high"]


def test_join_month_is_bucketed_in_the_reporting_time_zone(tmp_path: Path) -> None:
    with _engine(tmp_path, "UTC") as engine:
        utc = engine.conversion(outcome="trial_start", windows=[7], by=["join_month"], as_of=AS_OF,
                                exact=True)["rates"]
    with _engine(tmp_path, "Europe/Berlin") as engine:
        berlin = engine.conversion(outcome="trial_start", windows=[7], by=["join_month"], as_of=AS_OF,
                                   exact=True)["rates"]
    assert _cells(utc, "join_month") == {("2025-01",): (5, 0, 2), ("2025-03",): (1, 0, 0)}
    assert _cells(berlin, "join_month") == {("2025-01",): (4, 0, 2), ("2025-02",): (1, 0, 0),
                                            ("2025-03",): (1, 0, 0)}


def test_join_quarter_and_year_roll_months_up_in_the_reporting_time_zone(tmp_path: Path) -> None:
    with _engine(tmp_path, "Europe/Berlin") as engine:
        quarters = engine.conversion(outcome="trial_start", windows=[7], by=["join_quarter"], as_of=AS_OF,
                                     exact=True)["rates"]
        years = engine.conversion(outcome="trial_start", windows=[7], by=["join_year"], as_of=AS_OF,
                                  exact=True)["rates"]
    # Berlin: January 4 anchors, February 1 (m7), March 1 — all of them the first quarter of 2025
    assert _cells(quarters, "join_quarter") == {("2025-Q1",): (6, 0, 2)}
    assert _cells(years, "join_year") == {("2025",): (6, 0, 2)}


def test_local_time_follows_daylight_saving_changes() -> None:
    import ibis

    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC)
    instants = [datetime(2025, 3, 30, 0, 30, tzinfo=UTC),   # 01:30 CET, before the switch
                datetime(2025, 3, 30, 1, 30, tzinfo=UTC),   # 03:30 CEST, after it
                datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # 02:30 CEST
                datetime(2025, 10, 26, 1, 30, tzinfo=UTC)]  # 02:30 CET (the repeated hour)
    con = ibis.duckdb.connect()
    con.raw_sql("set TimeZone = 'UTC'")
    t = ibis.memtable({"ts": instants})
    local = con.execute(t.select(local=local_time(t.ts, "Europe/Berlin", start, end))["local"])
    assert [x.strftime("%H:%M") for x in local] == ["01:30", "03:30", "02:30", "02:30"]


def test_time_to_conversion_and_curves(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        alone = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, exact=True)
        together = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, curves=True, exact=True)
    timing, curves = together["time_to_conversion"], together["curves"]
    pd.testing.assert_frame_equal(alone["time_to_conversion"], timing)  # asking for curves changes no timing
    row = timing.iloc[0]
    # converters within 30 d among the 5 mature: m8 at 0, m1 at 7, m2 at 7 d + 1 s, m6 at 29 days
    assert row["converters"] == 4
    assert row["median_days_converters"] == pytest.approx((7 + 7 + 1 / 86_400) / 2)
    # KM over the 6 anchors (m4 censored at 11 days, m7 at 58.02): S drops at 0, 7, 7+, 29
    assert row["km_median_days"] == pytest.approx(7 + 1 / 86_400)
    assert curves["cumulative"].is_monotonic_increasing
    assert curves["cumulative"].iloc[-1] == pytest.approx(1 - (5 / 6) * (4 / 5) * (3 / 4) * (1 / 2))


def test_not_reached_when_under_half_convert(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        timing = engine.conversion(outcome="purchase", windows=[7], as_of=AS_OF, exact=True)["time_to_conversion"]
    assert math.isinf(timing.iloc[0]["km_median_days"])


def test_activity_anchor_and_account_unit(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "program"], [
            ["q1", "m1", "2025-01-03T00:00:00Z", "question", ""],
            ["q2", "m2", "2025-01-20T00:00:00Z", "question", ""],
            ["p1", "m2", "2025-01-05T00:00:00Z", "webinar_attended", "ama"],
        ])
        engine.load("activities", activities, now=AS_OF)
        by_question = engine.conversion(outcome="trial_start", anchor="question", windows=[30], as_of=AS_OF,
                                        exact=True)["rates"]
        # m1 converted (Jan 8) after asking (Jan 3); m2's trial (Jan 8) came before asking: existing
        assert _cells(by_question, "window_days") == {(30,): (1, 0, 1)}
        assert by_question["existing_customers"].iloc[0] == 1
        accounts = engine.conversion(outcome="trial_start", unit="account", windows=[30], as_of=AS_OF,
                                     exact=True)["rates"]
        # a1 (m1, m2): anchor Jan 1, converted Jan 8; a2 (m3): converted before its anchor
        assert _cells(accounts, "window_days") == {(30,): (1, 0, 1)}
        program = engine.conversion(outcome="trial_start", windows=[30], by=["program"], as_of=AS_OF,
                                    exact=True)["rates"]
        # landmark 30 days: m2 took part in "ama" on day 4 but converted before the landmark: left out
        ama = program[program["program"] == "ama"].iloc[0]
        assert (ama["eligible"], ama["existing_customers"]) == (0, 1)
        assert math.isnan(ama["rate"])


def test_named_definitions_and_errors(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        table = engine.conversion("trial_after_join", windows=[30], as_of=AS_OF, exact=True)["rates"]
        assert table["conversion"].iloc[0] == "trial_after_join"
        with pytest.raises(InputError, match="Did you mean 'trial_after_join'"):
            engine.conversion("trial_after_jion")
        with pytest.raises(InputError, match="--outcome"):
            engine.conversion()
        with pytest.raises(InputError, match="cohort key"):
            engine.conversion(outcome="trial_start", by=["country"])


def test_data_as_of_defaults_to_the_latest_loaded_instant(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        assert engine.as_of(None) == datetime(2025, 3, 21, tzinfo=UTC)


@pytest.mark.slow
def test_demo_planted_entry_path_effect_is_recovered(tmp_path: Path) -> None:
    from commetrics.demo import generate

    files = generate(40_000, 5, tmp_path / "data")
    truth = json.loads(files.ground_truth.read_text())
    as_of = datetime.fromisoformat(truth["as_of"])
    with Engine.init(tmp_path / "ws") as engine:
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
        table = engine.conversion(outcome="trial_start", by=["entry_path"], as_of=as_of, reference="seo",
                                  baseline=True, exact=True)["rates"]
    baseline = table[table["cohort"] == "CRM contacts who never joined"]
    for row in baseline.to_dict(orient="records"):  # the planted non-community rate
        planted = truth["conversion"]["non_member_contacts"]["probability"][str(row["window_days"])]
        assert row["ci_low"] <= planted <= row["ci_high"], row
    table = table[table["cohort"] != "CRM contacts who never joined"]
    for row in table.to_dict(orient="records"):
        planted = truth["conversion"]["probability"][row["entry_path"]][str(row["window_days"])]
        assert row["ci_low"] <= planted <= row["ci_high"], row
    webinar = table[table["entry_path"] == "webinar"]
    for row in webinar.to_dict(orient="records"):
        seo_rate = truth["conversion"]["probability"]["seo"][str(row["window_days"])]
        planted_diff = truth["conversion"]["probability"]["webinar"][str(row["window_days"])] - seo_rate
        assert row["diff_low"] <= planted_diff <= row["diff_high"]
        assert row["diff_low"] > 0  # webinar joiners convert more, clearly


def test_community_metrics_by_hand(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
            ["1", "m1", "2025-01-03", "question"], ["2", "m1", "2025-01-04", "reaction"],
            ["3", "m2", "2025-01-05", "login"], ["4", "m2", "2025-01-06", "answer"],
            ["5", "m4", "2025-03-21", "webinar_attended"], ["6", "m5", "2025-01-02", "post"],  # m5 is staff
        ])
        outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value", "currency"], [
            ["x1", "m1", "2025-01-09", "accepted_answer", "", ""], ["x2", "m2", "2025-02-01", "activation", "", ""],
            ["x3", "m1", "2025-02-02", "purchase", "100", "EUR"], ["x4", "m6", "2025-02-03", "upgrade", "50", "EUR"],
        ])
        engine.load("activities", activities, now=AS_OF)
        engine.load("outcomes", outcomes, now=AS_OF)
        table = engine.community_metrics(as_of=AS_OF, exact=True)["metrics"].set_index("metric")
    members = 7  # m1 m2 m3 m4 m6 m7 m8 (m5 staff)
    assert (table.loc["activation_rate", "numerator"], table.loc["activation_rate", "denominator"]) == (1, members)
    assert (table.loc["contributor_share", "numerator"], table.loc["contributor_share", "denominator"]) == (2, 3)
    assert table.loc["contribution_to_consumption", "value"] == pytest.approx(2 / 3)
    assert table.loc["accepted_answer_rate", "value"] == pytest.approx(1 / 1)
    assert table.loc["revenue_per_member[EUR]", "value"] == pytest.approx(150 / members)


def test_non_community_baseline_by_hand(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        members = write_csv(tmp_path / "mm.csv", ["member_id", "joined_at", "email"], [
            ["m9", "2025-01-01T00:00:00Z", "Known@Acme.io"]])
        contacts = write_csv(tmp_path / "c.csv", ["contact_id", "email", "created_at"], [
            ["c1", "known@acme.io", "2025-01-01T00:00:00Z"],  # joined the community (same e-mail)
            ["c2", "new@acme.io", "2025-01-01T00:00:00Z"],    # never joined, converts on day 9
            ["c3", "", "2025-03-20T00:00:00Z"],               # never joined, window still open
            ["c4", "old@acme.io", "2025-01-01T00:00:00Z"],    # converted before: existing
        ])
        outcomes = write_csv(tmp_path / "oc.csv", ["outcome_id", "contact_id", "ts", "type"], [
            ["k1", "c1", "2025-01-02T00:00:00Z", "trial_start"], ["k2", "c2", "2025-01-10T00:00:00Z", "trial_start"],
            ["k4", "c4", "2024-12-01T00:00:00Z", "trial_start"]])
        engine.load("members", members, source="events", now=AS_OF)
        engine.load("contacts", contacts, now=AS_OF)
        engine.load("outcomes", outcomes, source="crm2", now=AS_OF)
        table = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, baseline=True,
                                  exact=True)["rates"]
    rows = {r["cohort"]: r for r in table.to_dict(orient="records")}
    base = rows["CRM contacts who never joined"]
    assert (base["eligible"], base["in_progress"], base["converters"], base["existing_customers"]) == (1, 1, 1, 1)
    community = rows["all"]
    assert community["reference"] == "CRM contacts who never joined"
    assert community["diff"] == pytest.approx(community["rate"] - 1.0)


def test_join_at_2359_local_stays_in_its_month() -> None:
    import ibis

    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    instants = [datetime(2025, 1, 31, 22, 59, tzinfo=UTC),  # 23:59 on 31 January in Berlin
                datetime(2025, 1, 31, 23, 0, tzinfo=UTC)]   # 00:00 on 1 February in Berlin
    con = ibis.duckdb.connect()
    con.raw_sql("set TimeZone = 'UTC'")
    t = ibis.memtable({"ts": instants})
    months = con.execute(t.select(m=local_time(t.ts, "Europe/Berlin", start, end).strftime("%Y-%m"))["m"])
    assert list(months) == ["2025-01", "2025-02"]
