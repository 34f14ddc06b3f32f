"""Every quarantine reason, each with its own small file: the bad row is line 3, the rest load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Engine, Reason, schema
from commetrics.ingest.files import StagedFile

from .conftest import load


@dataclass(frozen=True)
class Case:
    reason: Reason
    table: str
    name: str  # file name (its suffix gives the format)
    header: str
    bad: bytes  # the bad line (line 3 of the file; line 2 for header-less JSON Lines)
    good: tuple[str, str]  # two valid lines around it
    column: str | None
    line: int = 3


MEMBERS = "member_id,email,joined_at,entry_path,consent"
GOOD_MEMBERS = ("m1,a@example.com,2025-01-01,seo,yes", "m9,b@example.com,2025-02-01T10:00:00Z,webinar,no")
ACCOUNTS = "account_id,arr,seats"
GOOD_ACCOUNTS = ("a1,100.50,3", "a9,0,1")
OUTCOMES = "outcome_id,member_id,ts,type,value,currency"
GOOD_OUTCOMES = ("o1,m1,2025-01-01,purchase,10,EUR", "o9,m2,2025-01-02,trial_start,,")
SURVEYS = "response_id,member_id,ts,kind,score"
GOOD_SURVEYS = ("r1,m1,2025-01-01,nps,9", "r9,m2,2025-01-01,csat,5")
SUBSCRIPTIONS = "account_id,period_start,period_end,renewed"
GOOD_SUBSCRIPTIONS = ("a1,2024-01-01,2025-01-01,true", "a2,2024-01-01,2027-01-01,")


CASES = [
    Case(Reason.BAD_ENCODING, "members", "m.csv", MEMBERS, b"m2,\xff\xfe@example.com,2025-01-01,seo,yes",
         GOOD_MEMBERS, None),
    Case(Reason.WRONG_COLUMN_COUNT, "members", "m.csv", MEMBERS, b"m2,c@example.com,2025-01-01,seo,yes,extra",
         GOOD_MEMBERS, None),
    Case(Reason.UNTERMINATED_QUOTE, "members", "m.csv", MEMBERS, b'm2,"c@example.com,2025-01-01,seo,yes',
         (GOOD_MEMBERS[0], ""), None),  # an open quote runs to the end of the file: it is the last line
    Case(Reason.LINE_TOO_LONG, "members", "m.csv", MEMBERS, b"m2," + b"x" * 2_200_000, GOOD_MEMBERS, None),
    Case(Reason.MALFORMED_RECORD, "members", "m.jsonl", "", b"this is not JSON",
         ('{"member_id": "m1", "joined_at": "2025-01-01"}', '{"member_id": "m9", "joined_at": "2025-01-02"}'),
         None, line=2),
    Case(Reason.FIELD_TOO_LONG, "members", "m.csv", MEMBERS,
         b"m2,c@example.com,2025-01-01,seo," + b"y" * 70_000, GOOD_MEMBERS, "consent"),
    Case(Reason.MISSING_KEY, "members", "m.csv", MEMBERS, b" ,c@example.com,2025-01-01,seo,yes", GOOD_MEMBERS,
         "member_id"),
    Case(Reason.MISSING_VALUE, "members", "m.csv", MEMBERS, b"m2,c@example.com,,seo,yes", GOOD_MEMBERS,
         "joined_at"),
    Case(Reason.BAD_ID, "members", "m.csv", MEMBERS, b"m2\x00x,c@example.com,2025-01-01,seo,yes", GOOD_MEMBERS,
         "member_id"),
    Case(Reason.BAD_TIMESTAMP, "members", "m.csv", MEMBERS, b"m2,c@example.com,2025-02-30,seo,yes", GOOD_MEMBERS,
         "joined_at"),
    Case(Reason.EARLY_TIMESTAMP, "members", "m.csv", MEMBERS, b"m2,c@example.com,0001-01-01,seo,yes", GOOD_MEMBERS,
         "joined_at"),
    Case(Reason.FUTURE_TIMESTAMP, "members", "m.csv", MEMBERS, b"m2,c@example.com,2026-07-02T01:00:00Z,seo,yes",
         GOOD_MEMBERS, "joined_at"),
    Case(Reason.BAD_EMAIL, "members", "m.csv", MEMBERS, b"m2,not-an-address,2025-01-01,seo,yes", GOOD_MEMBERS,
         "email"),
    Case(Reason.UNKNOWN_ENUM, "members", "m.csv", MEMBERS, b"m2,c@example.com,2025-01-01,billboard,yes",
         GOOD_MEMBERS, "entry_path"),
    Case(Reason.BAD_NUMBER, "surveys", "s.csv", SURVEYS, "r2,m1,2025-01-01,nps,١٠".encode(), GOOD_SURVEYS,
         "score"),
    Case(Reason.SCORE_OUT_OF_RANGE, "surveys", "s.csv", SURVEYS, b"r2,m1,2025-01-01,csat,6", GOOD_SURVEYS,
         "score"),
    Case(Reason.NON_FINITE_MONEY, "accounts", "a.csv", ACCOUNTS, b"a2,1e309,3", GOOD_ACCOUNTS, "arr"),
    Case(Reason.NEGATIVE_MONEY, "accounts", "a.csv", ACCOUNTS, b"a2,-0.01,3", GOOD_ACCOUNTS, "arr"),
    Case(Reason.BAD_BOOLEAN, "members", "m.csv", MEMBERS, b"m2,c@example.com,2025-01-01,seo,maybe", GOOD_MEMBERS,
         "consent"),
    Case(Reason.BAD_CURRENCY, "outcomes", "o.csv", OUTCOMES, b"o2,m1,2025-01-01,purchase,5,EURO", GOOD_OUTCOMES,
         "currency"),
    Case(Reason.BAD_JSON, "members", "m.csv", "member_id,joined_at,attributes", b'm2,2025-01-01,"[1, 2]"',
         ("m1,2025-01-01,", 'm9,2025-01-01,"{""plan"": ""pro""}"'), "attributes"),
    Case(Reason.END_BEFORE_START, "subscriptions", "s.csv", SUBSCRIPTIONS, b"a3,2024-01-01,2023-12-31,false",
         GOOD_SUBSCRIPTIONS, "period_end"),
    Case(Reason.DUPLICATE_KEY_CONFLICT, "members", "m.csv", MEMBERS, b"m1,other@example.com,2025-01-01,seo,yes",
         GOOD_MEMBERS, None),
]


@pytest.fixture(autouse=True)
def _fast_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table's checks must plan as an order-keeping insert: no CSV falls back to numbering."""

    def refuse(self: StagedFile) -> StagedFile:
        raise AssertionError(f"the insert for {self.path.name} does not keep the file's order")

    monkeypatch.setattr(StagedFile, "numbered", refuse)


def test_every_reason_has_a_case() -> None:
    assert {c.reason for c in CASES} == set(Reason)


def _write(case: Case, directory: Path) -> Path:
    path = directory / case.name
    lines = [case.header.encode()] if case.header else []
    lines += [case.good[0].encode(), case.bad]
    if case.good[1]:
        lines.append(case.good[1].encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.reason.value for c in CASES])
def test_reason_is_given_with_file_line_and_column(engine: Engine, tmp_path: Path, case: Case) -> None:
    path = _write(case, tmp_path)

    report = load(engine, case.table, path)

    expected_good = 2 if case.good[1] else 1
    assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == (expected_good, 1, 0)
    assert report.reasons == {case.reason.value: 1}
    row = engine.quarantine().iloc[0]
    assert (row["reason"], row["line"], row["file"], row["load_id"]) == (case.reason.value, case.line, str(path),
                                                                         report.load_id)
    assert row["column_name"] == case.column or (case.column is None and row["column_name"] is None)
    assert row["record"]  # the raw record is kept, to fix and re-load


def test_valid_rows_are_typed(engine: Engine, tmp_path: Path) -> None:
    path = _write(CASES[-1], tmp_path)  # the conflict case: m1 and m9 load
    load(engine, "members", path)
    members = engine.table("members").set_index("member_id")
    assert members.loc["m9", "joined_at"].isoformat() == "2025-02-01T10:00:00+00:00"
    assert members.loc["m1", "consent"]
    assert not members.loc["m9", "consent"]
    assert members.loc["m9", "entry_path"] == "webinar"


@pytest.mark.parametrize("table", list(schema.TABLES.values()), ids=list(schema.TABLES))
def test_every_table_loads_csv_on_the_order_keeping_path(engine: Engine, tmp_path: Path, table: schema.Table) -> None:
    path = tmp_path / f"{table.name}.csv"
    path.write_text(",".join(table.column_names) + "\n" + ",".join("" for _ in table.columns) + "\n",
                    encoding="utf-8")
    report = load(engine, table.name, path)  # the row is empty, so it is quarantined; the plan is what counts
    assert report.rows_read == 1


def test_tags_are_split_the_same_on_the_fast_and_the_careful_path(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("activity_id,member_id,ts,type,tags\n"
                    "1,m1,2025-01-01,post,api|sso\n"           # plain: split on '|'
                    "2,m1,2025-01-01,post,\" api ; sso ,, x|\"\n"  # blanks, mixed and doubled separators
                    "3,m1,2025-01-01,post,solo\n4,m1,2025-01-01,post,\n", encoding="utf-8")
    load(engine, "activities", path)
    tags = dict(zip(engine.table("activities")["activity_id"], engine.table("activities")["tags"], strict=True))
    assert list(tags["1"]) == ["api", "sso"]
    assert list(tags["2"]) == ["api", "sso", "x"]
    assert list(tags["3"]) == ["solo"]
    assert tags["4"] is None or tags["4"] is pd.NA
