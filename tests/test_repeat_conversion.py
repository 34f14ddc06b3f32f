"""Conversions anchored at an outcome — a second (or nth) purchase within the window after the previous one —
against a computation by hand in pandas on a small planted community."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Config, Engine, InputError
from commetrics.config import ConversionDefinition

from .conftest import write_csv

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)
MEMBERS = [  # member, staff
    ("m1", False), ("m2", False), ("m3", False), ("m4", False), ("m5", False), ("m6", False), ("m7", True),
    ("m9", False),
]
PURCHASES = [  # outcome id, member, time, value
    ("o01", "m1", "2025-01-10T00:00:00Z", 100.0), ("o02", "m1", "2025-02-01T00:00:00Z", 50.0),  # again 22 days on
    ("o03", "m2", "2025-01-15T00:00:00Z", 200.0), ("o04", "m2", "2025-05-01T00:00:00Z", 75.0),  # 106 days on
    ("o05", "m3", "2025-02-01T00:00:00Z", 10.0),                                               # once only
    ("o06", "m4", "2025-06-10T00:00:00Z", 20.0), ("o07", "m4", "2025-06-20T00:00:00Z", 30.0),  # too recent
    ("o08", "m5", "2025-03-01T00:00:00Z", 40.0), ("o09", "m5", "2025-03-01T00:00:00Z", 60.0),  # two at once
    ("o10", "m5", "2025-03-05T00:00:00Z", 5.0),
    ("o11", "m7", "2025-01-02T00:00:00Z", 1.0), ("o12", "m7", "2025-01-03T00:00:00Z", 1.0),    # staff
    ("o13", "m9", "2025-04-01T00:00:00Z", 15.0), ("o14", "m9", "2025-04-10T00:00:00Z", 25.0),  # 90 days: just mature
    ("o15", "m9", "2025-04-20T00:00:00Z", 35.0),
]
OTHER = [("o16", "m3", "2025-01-20T00:00:00Z", "trial_start"), ("o17", "m6", "2025-02-01T00:00:00Z", "trial_start")]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine.in_memory(Config())
    members = write_csv(tmp_path / "members.csv", ["member_id", "joined_at", "is_staff"],
                        [[m, "2025-01-01T00:00:00Z", str(staff).lower()] for m, staff in MEMBERS])
    outcomes = write_csv(tmp_path / "outcomes.csv", ["outcome_id", "member_id", "ts", "type", "value", "currency"],
                         [[o, m, ts, "purchase", value, "USD"] for o, m, ts, value in PURCHASES]
                         + [[o, m, ts, kind, "", ""] for o, m, ts, kind in OTHER])
    engine.load("members", members, source="shop", now=AS_OF)
    engine.load("outcomes", outcomes, source="shop", now=AS_OF)
    return engine


def by_hand(nth: int, windows: list[int]) -> pd.DataFrame:
    """eligible, in progress and converters per window, from the planted rows with pandas alone."""
    staff = {m for m, is_staff in MEMBERS if is_staff}
    frame = pd.DataFrame(PURCHASES, columns=["outcome_id", "member", "ts", "value"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame = frame[~frame["member"].isin(staff)].sort_values(["member", "ts", "outcome_id"])
    rows = []
    for w in windows:
        eligible = progress = converters = 0
        for _, purchases in frame.groupby("member"):
            if len(purchases) < nth - 1:
                continue  # no anchor
            anchor = purchases["ts"].iloc[nth - 2]
            if anchor + timedelta(days=w) > AS_OF:
                progress += 1
                continue
            eligible += 1
            if len(purchases) >= nth and purchases["ts"].iloc[nth - 1] - anchor <= timedelta(days=w):
                converters += 1
        rows.append({"window_days": w, "eligible": eligible, "in_progress": progress, "converters": converters})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("nth", [2, 3])
def test_nth_purchase_matches_pandas_by_hand(engine: Engine, nth: int) -> None:
    with engine:
        rates = engine.conversion(outcome="purchase", anchor="outcome:purchase", nth=nth, windows=[30, 90],
                                  as_of=AS_OF, exact=True)["rates"]
    got = rates[["window_days", "eligible", "in_progress", "converters"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, by_hand(nth, [30, 90]), check_dtype=False)


def test_second_purchase_known_answer(engine: Engine) -> None:
    """Anchors (first purchases): m1, m2, m3, m5, m9 mature for 30 and 90 days (m9's 90 days end exactly at
    as-of); m4's first purchase is 20 days old: in progress, though it bought again — never a failure, nor yet a
    success. Repeat within 30 and 90 days: m1 (22 days), m5 (a second purchase at the same instant: day 0), m9
    (9 days); m2 came back after 106 days. Staff (m7) and members who never bought (m6) have no anchor."""
    with engine:
        result = engine.conversion(outcome="purchase", anchor="outcome:purchase", windows=[30, 90], as_of=AS_OF,
                                   exact=True)
    rates = result["rates"].set_index("window_days")
    assert rates.loc[30, ["eligible", "in_progress", "converters"]].tolist() == [5, 1, 3]
    assert rates.loc[90, ["eligible", "in_progress", "converters"]].tolist() == [5, 1, 3]
    assert set(rates["existing_customers"]) == {0}  # the purchases before the anchor are the anchor's own
    assert result["definition"]["nth"] == 2
    timing = result["time_to_conversion"].iloc[0]
    assert timing["median_days_converters"] == pytest.approx(9.0)  # 0, 9 and 22 days
    assert timing["all_converters"] == 5  # m4 (10 days) and m2 (106 days) too, up to as-of
    assert timing["median_days_all_converters"] == pytest.approx(10.0)  # 0, 9, 10, 22, 106


def test_third_purchase_and_a_named_definition(engine: Engine, tmp_path: Path) -> None:
    """Anchors (second purchases) m1 02-01, m2 05-01, m5 03-01, m9 04-10 are mature for 30 days; m4 06-20 is not.
    A third purchase within 30 days: m5 (4 days) and m9 (10 days)."""
    config = Config(conversions={"third_purchase": ConversionDefinition(
        outcome="purchase", anchor="outcome:purchase", nth=3, windows=(30,))})
    with engine:
        engine.config = config
        rates = engine.conversion("third_purchase", as_of=AS_OF, exact=True)["rates"]
    assert rates[["eligible", "in_progress", "converters"]].iloc[0].tolist() == [4, 1, 2]


def test_another_outcome_after_an_outcome_anchor(engine: Engine) -> None:
    """A trial before the first purchase is an existing customer's (m3); m6 never bought: no anchor."""
    with engine:
        rates = engine.conversion(outcome="trial_start", anchor="outcome:purchase", windows=[30], as_of=AS_OF,
                                  exact=True)["rates"]
    assert rates[["eligible", "converters", "existing_customers"]].iloc[0].tolist() == [4, 0, 1]


def test_nth_needs_an_outcome_anchor(engine: Engine) -> None:
    with engine:
        with pytest.raises(InputError, match="--anchor outcome:TYPE"):
            engine.conversion(outcome="purchase", nth=2, as_of=AS_OF)
        with pytest.raises(InputError, match="2 or more"):
            engine.conversion(outcome="purchase", anchor="outcome:purchase", nth=1, as_of=AS_OF)
        with pytest.raises(InputError, match="names its type"):
            engine.conversion(outcome="purchase", anchor="outcome:", as_of=AS_OF)
    with pytest.raises(ValueError, match="nth counts outcomes"):
        ConversionDefinition(outcome="purchase", nth=2)


def test_one_purchase_keyed_by_member_and_contact_is_one_purchase(tmp_path: Path) -> None:
    """With resolved people, a purchase keyed by both the member and the CRM contact of one person is one purchase
    (p2 never bought again), and a contact-keyed purchase is the person's (p1 bought again 10 days on)."""
    with Engine.in_memory(Config()) as engine:
        members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "email"], [
            ["m1", "2025-01-01T00:00:00Z", "one@acme.io"], ["m2", "2025-01-01T00:00:00Z", "two@acme.io"]])
        contacts = write_csv(tmp_path / "c.csv", ["contact_id", "email", "created_at"], [
            ["c1", "one@acme.io", "2025-01-01T00:00:00Z"], ["c2", "two@acme.io", "2025-01-01T00:00:00Z"]])
        outcomes = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "contact_id", "ts", "type"], [
            ["x1", "m1", "c1", "2025-02-01T00:00:00Z", "purchase"],
            ["x2", "", "c1", "2025-02-11T00:00:00Z", "purchase"],
            ["x3", "m2", "c2", "2025-02-01T00:00:00Z", "purchase"]])
        engine.load("members", members, source="forum", now=AS_OF)
        engine.load("contacts", contacts, source="crm", now=AS_OF)
        engine.load("outcomes", outcomes, source="crm", now=AS_OF)
        engine.resolve_identities()
        rates = engine.conversion(outcome="purchase", anchor="outcome:purchase", windows=[30], as_of=AS_OF,
                                  exact=True)["rates"]
    assert rates[["eligible", "converters"]].iloc[0].tolist() == [2, 1]


# ------------------------------------------------------------------------------------------------
# Revenue beside the rate
# ------------------------------------------------------------------------------------------------


def revenue_by_hand(nth: int, window: int) -> float:
    """The value of the purchases after each mature member's anchor within the window, pandas alone."""
    staff = {m for m, is_staff in MEMBERS if is_staff}
    frame = pd.DataFrame(PURCHASES, columns=["outcome_id", "member", "ts", "value"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame = frame[~frame["member"].isin(staff)].sort_values(["member", "ts", "outcome_id"])
    total = 0.0
    for _, purchases in frame.groupby("member"):
        if len(purchases) < nth - 1:
            continue
        anchor = purchases["ts"].iloc[nth - 2]
        if anchor + timedelta(days=window) > AS_OF:
            continue  # in progress: brings nothing yet
        later = purchases.iloc[nth - 1:]
        total += float(later.loc[later["ts"] - anchor <= timedelta(days=window), "value"].sum())
    return total


def test_revenue_of_repeat_purchases_known_answer(engine: Engine) -> None:
    """Within 7 days of the first purchase: m5's 60 (day 0) and 5 (day 4) = 65, over 6 eligible members (m4's first
    purchase is 20 days old: mature for 7 days; it bought again on day 10, too late). Within 90 days: m1 50 + m5 65
    + m9 25 + 35 = 175 over 5 eligible (m4 in progress brings nothing; m2's 75 came after 106 days)."""
    with engine:
        rates = engine.conversion(outcome="purchase", anchor="outcome:purchase", windows=[7, 90], as_of=AS_OF,
                                  exact=True)["rates"].set_index("window_days")
    assert rates.loc[7, "eligible"] == 6
    assert rates.loc[7, "revenue"] == pytest.approx(65.0) == pytest.approx(revenue_by_hand(2, 7))
    assert rates.loc[90, "revenue"] == pytest.approx(175.0) == pytest.approx(revenue_by_hand(2, 90))
    assert rates.loc[7, "revenue_per_eligible"] == pytest.approx(65.0 / 6)
    assert rates.loc[90, "revenue_per_eligible"] == pytest.approx(175.0 / 5)
    assert set(rates["currency"]) == {"USD"}


def test_revenue_of_third_purchases_matches_pandas(engine: Engine) -> None:
    with engine:
        rates = engine.conversion(outcome="purchase", anchor="outcome:purchase", nth=3, windows=[7, 30], as_of=AS_OF,
                                  exact=True)["rates"].set_index("window_days")
    for w in (7, 30):
        assert rates.loc[w, "revenue"] == pytest.approx(revenue_by_hand(3, w))
    assert rates.loc[30, "revenue"] == pytest.approx(5.0 + 35.0)  # m5's third purchase, m9's


def test_revenue_of_first_purchases_by_cohort_matches_pandas(engine: Engine) -> None:
    """Anchored at the join (2025-01-01), a purchase conversion's revenue is every purchase of a mature member in
    the window (staff left out), by hand."""
    with engine:
        rates = engine.conversion(outcome="purchase", windows=[30, 120], by=["join_month"], as_of=AS_OF,
                                  exact=True)["rates"]
    assert set(rates["cohort"]) == {"2025-01"}
    frame = pd.DataFrame(PURCHASES, columns=["outcome_id", "member", "ts", "value"])
    frame = frame[frame["member"] != "m7"]
    days = pd.to_datetime(frame["ts"]) - pd.Timestamp("2025-01-01", tz="UTC")
    for w in (30, 120):
        row = rates[rates["window_days"] == w].iloc[0]
        assert row["revenue"] == pytest.approx(frame.loc[days <= pd.Timedelta(days=w), "value"].sum())
        assert row["revenue_per_eligible"] == pytest.approx(row["revenue"] / row["eligible"])


def test_no_values_no_revenue_and_small_cells_hide_it(engine: Engine) -> None:
    with engine:
        trial = engine.conversion(outcome="trial_start", windows=[30], as_of=AS_OF, exact=True)["rates"]
        published = engine.conversion(outcome="purchase", anchor="outcome:purchase", windows=[30], as_of=AS_OF)
    assert "revenue" not in trial.columns  # trials carry no value
    row = published["rates"].iloc[0]  # 3 converters < 10: hidden with them
    assert pd.isna(row["converters"])
    assert pd.isna(row["revenue"])
    assert pd.isna(row["revenue_per_eligible"])
    assert published.to_dict()["rates"][0]["revenue"] is None


def test_values_in_two_currencies_are_not_added_up(engine: Engine, tmp_path: Path) -> None:
    euros = write_csv(tmp_path / "eur.csv", ["outcome_id", "member_id", "ts", "type", "value", "currency"],
                      [["e1", "m3", "2025-02-10T00:00:00Z", "purchase", "9", "EUR"]])
    with engine:
        engine.load("outcomes", euros, source="shop2", now=AS_OF)
        result = engine.conversion(outcome="purchase", windows=[30], as_of=AS_OF, exact=True)
    assert "revenue" not in result["rates"].columns
    assert [d.name for d in result.diagnostics] == ["currencies"]
    assert "2 currencies (EUR, USD)" in result.diagnostics[0].message
