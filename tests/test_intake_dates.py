"""Timestamps as exports write them: each layout its own small file, read to the instant Python's own
``datetime`` gives (the peer oracle), detected or named, in the right zone, and the impossible refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from commetrics import Config, Engine, InputError
from commetrics.config import IngestSettings, ReportingSettings
from commetrics.ingest.timestamps import DatePlan, parse_sql

from .conftest import NOW, load, write_csv

FIXTURES = Path(__file__).parent / "fixtures" / "exports"


def _members(tmp_path: Path, values: list[str], name: str = "m.csv") -> Path:
    return write_csv(tmp_path / name, ["member_id", "joined_at"], [[f"m{i}", v] for i, v in enumerate(values)])


def _joined(engine: Engine) -> list[datetime]:
    frame = engine.table("members").sort_values("member_id", key=lambda s: s.str[1:].astype(int))
    return [pd.Timestamp(t).to_pydatetime() for t in frame["joined_at"]]


def _utc(values: list[str], fmt: str, zone: str = "UTC") -> list[datetime]:
    """The instants Python's strptime reads, in ``zone``, as UTC."""
    return [datetime.strptime(v, fmt).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for v in values]


# -- the four layouts the issue names, each detected from its own file -----------------------------

LAYOUTS = [
    ("dd-mm-yyyy", ["13-01-2024", "02-03-2024", "28-02-2023"], "%d-%m-%Y"),
    ("YYYYMMDD", ["20240113", "19970101", "20201208"], "%Y%m%d"),
    ("MM/DD/YYYY hh:mm:ss AM", ["11/19/2021 9:54:15 AM", "11/19/2021 12:01:59 PM", "01/02/2022 12:00:00 AM"],
     "%m/%d/%Y %I:%M:%S %p"),
    ("2020/12/8 8:35", ["2020/12/8 8:35", "2020/12/10 17:05", "2021/1/31 0:00"], "%Y/%m/%d %H:%M"),
]


@pytest.mark.parametrize(("layout", "values", "fmt"), LAYOUTS, ids=[x[0] for x in LAYOUTS])
def test_layout_is_detected_and_every_row_loads(engine: Engine, tmp_path: Path, layout: str, values: list[str],
                                                 fmt: str) -> None:
    report = load(engine, "members", _members(tmp_path, values))
    assert (report.rows_loaded, report.rows_quarantined) == (3, 0), report.reasons
    assert _joined(engine) == _utc(values, fmt)
    assert "detected" in report.date_formats["joined_at"]


def test_rfc_2822_epoch_and_offsets(engine: Engine, tmp_path: Path) -> None:
    rfc = ["Tue, 01 May 2024 14:30:00 +0000", "Wed, 02 May 2024 16:30:00 +0200", "Thu, 03 May 2024 08:00:00 GMT"]
    load(engine, "members", _members(tmp_path, rfc, "rfc.csv"))
    assert _joined(engine) == [datetime(2024, 5, 1, 14, 30, tzinfo=UTC), datetime(2024, 5, 2, 14, 30, tzinfo=UTC),
                               datetime(2024, 5, 3, 8, 0, tzinfo=UTC)]
    with Engine.in_memory() as other:
        seconds = ["1714573800", "1714573860.5"]
        load(other, "members", _members(tmp_path, seconds, "s.csv"))
        assert _joined(other) == [datetime.fromtimestamp(float(s), UTC) for s in seconds]
    with Engine.in_memory() as other:
        millis = ["1714573800000", "1714573860123"]
        load(other, "members", _members(tmp_path, millis, "ms.csv"))
        assert _joined(other) == [datetime.fromtimestamp(int(s) / 1000, UTC) for s in millis]


def test_spreadsheet_serial_days_are_detected_and_read_in_the_zone(tmp_path: Path) -> None:
    """A date column saved unformatted gives serial days (45292 is 2024-01-01), a fraction for the time."""
    serials = ["45292", "45292.5", "36526.25", "45658.041666667"]
    expected = [(datetime(1899, 12, 30) + timedelta(days=float(v))).replace(tzinfo=ZoneInfo("Europe/Paris"))
                .astimezone(UTC) for v in serials]
    with Engine.in_memory() as engine:
        report = load(engine, "members", _members(tmp_path, serials), timezone="Europe/Paris")
        assert report.date_formats == {"joined_at": "spreadsheet serial days (detected)"}
        assert all(abs(got - want) <= timedelta(microseconds=1)
                   for got, want in zip(_joined(engine), expected, strict=True))
    with Engine.in_memory() as engine:
        report = load(engine, "members", _members(tmp_path, ["45292", "2024-01-02", "1234"], "mixed.csv"),
                      date_format=["excel", "iso"])
        assert report.date_formats == {"joined_at": "spreadsheet serial days then ISO 8601 (--date-format)"}
        assert _joined(engine)[:2] == [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]
        assert engine.quarantine()["reason"].tolist() == ["bad_timestamp"]


def test_salesforce_export_with_bom_and_offsets_without_colon(engine: Engine) -> None:
    path = FIXTURES / "salesforce_opportunity.csv"
    report = load(engine, "outcomes", path, source="salesforce", constants={"type": "purchase"},
                  mapping={"outcome_id": "Id", "account_id": "AccountId", "ts": "CreatedDate", "value": "Amount"})
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (6, 6, 0)
    outcomes = engine.table("outcomes")
    assert set(outcomes["ts"]) == {pd.Timestamp("2024-01-22T16:14:25Z")}
    assert outcomes["value"].astype(str).tolist()[:2] == ["1124741.15", "1651993.36"]


def test_zoom_times_without_a_zone_are_read_in_the_zone_given(engine: Engine) -> None:
    path = FIXTURES / "zoom_participants.csv"
    report = load(engine, "members", path, source="zoom", timezone="America/Chicago",
                  mapping={"member_id": "User Email", "email": "User Email", "joined_at": "Join Time"})
    assert report.rows_loaded == 8
    assert report.timezone == "America/Chicago"
    loki = engine.table("members").set_index("member_id").loc["loki_asgardian@marvel.com", "joined_at"]
    # 9:54:15 AM in Chicago on 19 November 2021 (CST, UTC-6) is 15:54:15 UTC
    assert loki == pd.Timestamp("2021-11-19T15:54:15Z")


# -- ambiguity: the sample, the whole column, or an error before anything is written --------------


def test_day_first_or_month_first_undecidable_stops_before_writing(engine: Engine, tmp_path: Path) -> None:
    path = _members(tmp_path, ["01/02/2024", "03/04/2024", "05/05/2024"])
    with pytest.raises(InputError) as err:
        engine.load("members", path, now=NOW)
    message = str(err.value)
    assert "row 1: '01/02/2024'" in message
    assert "row 2: '03/04/2024'" in message
    assert "%d/%m/%Y" in message
    assert "%m/%d/%Y" in message
    assert "--date-format" in message
    assert engine.status().tables["members"] == 0
    assert engine.store.con.execute("select count(*) from load_ledger").fetchone() == (0,)


def test_the_whole_column_decides_when_the_sample_cannot(tmp_path: Path) -> None:
    values = [f"{1 + i % 12:02d}/{1 + i % 12:02d}/2024" for i in range(150)]  # day = month in the sample
    values[120] = "07/03/2024"  # ambiguous, beyond the sample
    values[140] = "25/03/2024"  # only day-first reads it, beyond the sample
    with Engine.in_memory(Config(ingest=IngestSettings(detect_rows=100))) as engine:
        report = load(engine, "members", _members(tmp_path, values))
        assert report.rows_quarantined == 0
        assert report.date_formats["joined_at"].startswith("%d/%m/%Y")
        assert _joined(engine)[120] == datetime(2024, 3, 7, tzinfo=UTC)


def test_named_formats_are_tried_in_order_and_per_column(engine: Engine, tmp_path: Path) -> None:
    path = _members(tmp_path, ["01/02/2024", "2024-03-04", "05.06.2024"])
    report = load(engine, "members", path, date_format=["%d/%m/%Y", "iso", "%d.%m.%Y"])
    assert report.rows_quarantined == 0
    assert _joined(engine) == [datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC),
                               datetime(2024, 6, 5, tzinfo=UTC)]
    assert "--date-format" in report.date_formats["joined_at"]
    subs = tmp_path / "s.csv"
    subs.write_text("account_id,period_start,period_end\na1,20240101,01/01/2025\n", encoding="utf-8")
    load(engine, "subscriptions", subs, date_format={"period_start": "%Y%m%d", "period_end": "%m/%d/%Y"})
    row = engine.table("subscriptions").iloc[0]
    assert (row["period_start"], row["period_end"]) == (pd.Timestamp("2024-01-01T00:00Z"),
                                                        pd.Timestamp("2025-01-01T00:00Z"))


def test_a_format_the_reader_does_not_know_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = _members(tmp_path, ["2024-01-01"])
    with pytest.raises(InputError, match="%Q"):
        engine.load("members", path, now=NOW, date_format="%Q-%m")
    with pytest.raises(InputError, match="strftime code"):
        engine.load("members", path, now=NOW, date_format="dd/mm/yyyy")
    with pytest.raises(InputError, match="not a timestamp column"):
        engine.load("members", path, now=NOW, date_format="member_id=%Y")


# -- time zones -----------------------------------------------------------------------------------


def test_naive_times_take_the_zone_and_offsets_keep_theirs(engine: Engine, tmp_path: Path) -> None:
    values = ["2024-01-15 09:00", "2024-03-10 09:00", "2024-03-10 09:00:00+00:00", "15/01/2024 09:00"]
    report = load(engine, "members", _members(tmp_path, values[:3]), timezone="America/New_York")
    assert report.timezone == "America/New_York"
    # EST (UTC-5) in January, EDT (UTC-4) after the switch on 10 March 2024; an offset wins
    assert _joined(engine) == [datetime(2024, 1, 15, 14, tzinfo=UTC), datetime(2024, 3, 10, 13, tzinfo=UTC),
                               datetime(2024, 3, 10, 9, tzinfo=UTC)]
    with Engine.in_memory() as other:
        load(other, "members", _members(tmp_path, values[3:], "f.csv"), timezone="Asia/Tokyo")
        assert _joined(other) == [datetime(2024, 1, 15, 0, tzinfo=UTC)]


def test_the_zone_defaults_to_the_reporting_zone_and_the_session_stays_utc(tmp_path: Path) -> None:
    config = Config(reporting=ReportingSettings(timezone="Europe/Berlin"))
    with Engine.in_memory(config) as engine:
        report = load(engine, "members", _members(tmp_path, ["2024-07-01 12:00"]))
        assert report.timezone == "Europe/Berlin"
        assert _joined(engine) == [datetime(2024, 7, 1, 10, tzinfo=UTC)]
        assert engine.store.con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)


def test_an_unknown_zone_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Europe/Berlin"):
        engine.load("members", _members(tmp_path, ["2024-01-01"]), now=NOW, timezone="Mars/Olympus")


# -- impossible timestamps ------------------------------------------------------------------------


def test_impossible_timestamps_are_quarantined_not_stored(engine: Engine, tmp_path: Path) -> None:
    values = ["-infinity", "epoch", "0001-01-01", "-2024-05-01", "2024-05-01T10:00:00+25:00", "infinity",
              "2024-05-01 10:00:00-1500", "1970-01-01", "2024-05-01T10:00:00+14:00"]
    report = load(engine, "members", _members(tmp_path, values))
    assert report.rows_loaded == 1  # only the last: +14:00 is a real offset
    reasons = dict(zip(engine.quarantine()["line"], engine.quarantine()["reason"], strict=True))
    assert reasons == {2: "bad_timestamp", 3: "bad_timestamp", 4: "early_timestamp", 5: "bad_timestamp",
                       6: "bad_timestamp", 7: "bad_timestamp", 8: "bad_timestamp", 9: "early_timestamp"}
    cohorts = engine.store.con.execute("select distinct strftime(joined_at, '%Y-%m') from members").fetchall()
    assert cohorts == [("2024-04",)]


def test_special_words_are_refused_whatever_the_format(engine: Engine, tmp_path: Path) -> None:
    path = _members(tmp_path, ["13/01/2024", "epoch", "-infinity", "14/01/2024"])
    report = load(engine, "members", path)
    assert report.rows_loaded == 2
    assert set(engine.quarantine()["reason"]) == {"bad_timestamp"}


def test_the_earliest_date_is_a_setting(tmp_path: Path) -> None:
    with Engine.in_memory(Config(ingest=IngestSettings(earliest_timestamp=date(1900, 1, 1)))) as engine:
        report = load(engine, "members", _members(tmp_path, ["1950-06-01", "1899-12-31"]))
        assert (report.rows_loaded, report.reasons) == (1, {"early_timestamp": 1})


def test_scheduled_dates_may_lie_ahead_but_not_centuries(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("account_id,period_start,period_end\na1,2024-01-01,2031-01-01\na2,2024-01-01,2500-01-01\n",
                    encoding="utf-8")
    report = load(engine, "subscriptions", path)
    assert (report.rows_loaded, report.reasons) == (1, {"future_timestamp": 1})


def _offset_by_characters(text: str) -> bool:
    """The rule on offsets beyond ±14 hours, in Python: the characters at -6, -5 and -3 from the end
    compared as text, as the reader first wrote it."""
    if len(text.encode()) <= 16:
        return False
    c = text
    signs = ("+", "-")
    return ((c[-6:-5] in signs and c[-3:-2] == ":" and c[-5:-3] > "14")
            or (c[-5:-4] in signs and c[-4:-2] > "14" and "0000" <= c[-4:] <= "9999")
            or (c[-3:-2] in signs and c[-2:] > "14"))


def test_offset_rule_in_one_pattern_agrees_with_the_character_rule() -> None:
    """The one-pass pattern for offsets beyond ±14 hours says what the character comparisons say, on
    plain offsets and on fuzzed tails of digits, signs, colons, letters and non-ASCII characters."""
    import random

    import duckdb

    from commetrics.ingest.timestamps import BAD_OFFSET_PATTERN

    rng = random.Random(7)
    alphabet = list("+-:0123456789 aZé\n")
    values = [f"2024-01-01 10:00:00{tail}" for tail in
              ("+25:00", "-1500", "+99", "+14:00", "+1400", "+14", "-14:59", "+15", "+1:00", "+9999", "+9:99", "+1a",
               "Z", "", "+05:30", "-0800")]
    for _ in range(20_000):
        head = rng.choice(["2024-01-01 10:00:00", "20240101 1000", "x" * rng.randint(0, 20)])
        values.append(head + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))))
    con = duckdb.connect()
    found = con.execute("select list(strlen(v) > 16 and regexp_matches(v, $p) order by i) from "
                        "(select unnest($v) as v, unnest(range(len($v))) as i)",
                        {"v": values, "p": BAD_OFFSET_PATTERN}).fetchall()[0][0]
    expected = [_offset_by_characters(v) for v in values]
    assert sum(expected) > 1_000  # the fuzz reaches the rule's positive side
    assert found == expected


# -- naive times in UTC: the instant without the time-zone library ---------------------------------

EDGES = ["29/02/2024 23:59:59.999999", "01/01/1990 00:00:00", "31/12/1969 23:59:59.5", "15/07/2024 12:00:00.000001",
         "28/02/2023 00:00:00"]


def test_in_utc_a_naive_format_takes_the_microseconds_as_they_are() -> None:
    day_first = DatePlan(("%d/%m/%Y %H:%M:%S.%f",))
    assert "make_timestamptz(epoch_us(try_strptime(" in parse_sql("v", day_first, utc=True)
    assert "::TIMESTAMPTZ" not in parse_sql("v", day_first, utc=True)
    assert "::TIMESTAMPTZ" in parse_sql("v", day_first, utc=False)  # any other zone has rules to apply
    with_offset = DatePlan(("%d/%m/%Y %H:%M:%S %z", "%d %b %Y %H:%M %Z"))
    assert "make_timestamptz" not in parse_sql("v", with_offset, utc=True)  # DuckDB returns the instant itself


def test_in_utc_both_readings_give_the_same_instants_as_python() -> None:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    plan = DatePlan(("%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S"))
    rows = con.execute(f"select {parse_sql('v', plan, utc=True)}, {parse_sql('v', plan, utc=False)} "
                       "from (select unnest($v) as v, generate_subscripts($v, 1) as i) order by i",
                       {"v": EDGES}).fetchall()
    expected = [datetime.strptime(v, "%d/%m/%Y %H:%M:%S.%f" if "." in v else "%d/%m/%Y %H:%M:%S").replace(tzinfo=UTC)
                for v in EDGES]
    assert [r[0] for r in rows] == [r[1] for r in rows] == expected


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_naive_parquet_and_text_times_in_utc_and_in_a_zone_with_rules(tmp_path: Path, zone: str) -> None:
    naive = [datetime(2024, 3, 31, 1, 30), datetime(2024, 3, 31, 3, 30), datetime(1990, 1, 2, 23, 0, 0, 500000)]
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.table({"member_id": ["m0", "m1", "m2"], "joined_at": pa.array(naive, pa.timestamp("us"))}),
                   parquet)
    text = _members(tmp_path, [t.strftime("%d/%m/%Y %H:%M:%S.%f") for t in naive])
    expected = [t.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for t in naive]
    for path in (parquet, text):
        with Engine.in_memory() as engine:
            report = load(engine, "members", path, timezone=zone)
            assert report.rows_loaded == 3, report.reasons
            assert _joined(engine) == expected, path.name
