"""The Stack Exchange dump loader, on a real dump and on a small synthetic one.

The real dump (bicycles.meta.stackexchange.com, CC BY-SA, Stack Exchange; see its PROVENANCE.md)
ships gzip-compressed in the package (commetrics/data). The expected figures are worked out here independently of
the loader: by regular expressions over the decompressed XML text (a dump has one ``<row .../>``
per line, and a ``"`` inside a value is escaped, so ``Name="`` only starts an attribute), and by
rows picked out and checked by hand.
"""

from __future__ import annotations

import gzip
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from commetrics import Engine, UnreadableFileError
from commetrics.sources import stackexchange
from commetrics.sources.stackexchange import ConvertedDump, convert

from .conftest import NOW, assert_conserved, assert_keys_unique

DUMP = stackexchange.SAMPLE_DUMP
FILES = ("Users", "Posts", "Comments", "Votes", "Badges")


# -- independent figures from the XML text ------------------------------------------------------


def _text(name: str) -> str:
    return gzip.decompress((DUMP / f"{name}.xml.gz").read_bytes()).decode("utf-8-sig")


def _rows_text(name: str) -> list[str]:
    """The ``<row .../>`` lines of one dump file, from the decompressed text."""
    return re.findall(r"<row [^\n]*/>", _text(name))


def _attr(row: str, name: str) -> str | None:
    match = re.search(rf'\s{name}="([^"]*)"', row)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def xml_rows() -> dict[str, list[str]]:
    return {name: _rows_text(name) for name in FILES}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> ConvertedDump:
    return convert(DUMP, tmp_path_factory.mktemp("se"))


def _table(converted: ConvertedDump, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(converted.tables[name]).to_pylist()
    return rows


def test_the_copied_dump_has_the_rows_its_provenance_states(xml_rows: dict[str, list[str]]) -> None:
    for name in FILES:  # one row per line: the per-row regular expressions below see whole rows
        assert len(xml_rows[name]) == _text(name).count("<row ")
    counts = {name: len(rows) for name, rows in xml_rows.items()}
    assert counts == {"Users": 2551, "Posts": 1446, "Comments": 2448, "Votes": 5671, "Badges": 6585}
    post_types = [_attr(r, "PostTypeId") for r in xml_rows["Posts"]]
    assert (post_types.count("1"), post_types.count("2")) == (453, 971)


def test_rows_per_table_are_the_rows_read_minus_the_documented_skips(
    converted: ConvertedDump, xml_rows: dict[str, list[str]]
) -> None:
    posts = xml_rows["Posts"]
    owned = [r for r in posts if _attr(r, "OwnerUserId") is not None]
    questions = sum(_attr(r, "PostTypeId") == "1" for r in owned)
    answers = sum(_attr(r, "PostTypeId") == "2" for r in owned)
    comments = sum(_attr(r, "UserId") is not None for r in xml_rows["Comments"])
    votes = sum(_attr(r, "UserId") is not None for r in xml_rows["Votes"])
    badges = len(xml_rows["Badges"])
    assert (questions, answers, comments, votes, badges) == (428, 955, 2363, 0, 6585)

    members = _table(converted, "members")
    activities = _table(converted, "activities")
    assert len(members) == len(xml_rows["Users"]) == 2551
    assert len(activities) == questions + answers + comments + votes + badges == 10331
    kinds = {kind: sum(a["type"] == kind for a in activities) for kind in ("question", "answer", "comment", "vote",
                                                                             "badge")}
    assert kinds == {"question": questions, "answer": answers, "comment": comments, "vote": votes, "badge": badges}

    c, s = converted.counts, converted.skipped
    assert c["users_read"] == c["members_written"] + s["users_unreadable"] == 2551
    assert c["posts_read"] == len(posts) == (c["questions_read"] + c["answers_read"] + s["posts_other_type"]
                                             + s["posts_unreadable"])
    assert s["posts_other_type"] == sum(_attr(r, "PostTypeId") not in ("1", "2") for r in posts) == 22
    assert c["questions_read"] == c["questions_written"] + s["questions_no_owner"]
    assert c["answers_read"] == c["answers_written"] + s["answers_no_owner"]
    assert (s["questions_no_owner"], s["answers_no_owner"]) == (25, 16)
    assert c["comments_read"] == c["comments_written"] + s["comments_no_author"] + s["comments_unreadable"]
    assert s["comments_no_author"] == 85
    # this dump names no voter at all: every vote is anonymous
    assert c["votes_read"] == s["votes_no_voter"] == 5671
    assert c["badges_read"] == c["badges_written"] == 6585
    assert c["activities_written"] == len(activities)
    assert {k: v for k, v in s.items() if v} == {"posts_other_type": 22, "questions_no_owner": 25,
                                                 "answers_no_owner": 16, "comments_no_author": 85,
                                                 "votes_no_voter": 5671, "accepted_answers_no_asker": 6}
    assert list(converted.tables) == ["members", "activities", "outcomes"]


def test_activity_ids_are_unique_and_point_at_their_rows(converted: ConvertedDump) -> None:
    activities = _table(converted, "activities")
    assert len({a["activity_id"] for a in activities}) == len(activities)
    by_id = {a["activity_id"]: a for a in activities}
    # hand-picked: post 4 is an answer by user 47 to question 2; question 1 is tagged
    # <discussion><essential-meta-questions>; comment 1 is by user 47 on post 5; badge 1 is user 2's Autobiographer
    assert by_id["post-4"] == {"activity_id": "post-4", "member_id": "47", "type": "answer", "channel": "q&a",
                               "ts": datetime(2010, 8, 25, 20, 40, 10, 597000, tzinfo=UTC), "program": None,
                               "tags": None, "ref_id": "2"}
    assert by_id["post-1"]["tags"] == "discussion|essential-meta-questions"
    assert (by_id["comment-1"]["member_id"], by_id["comment-1"]["ref_id"]) == ("47", "5")
    assert by_id["badge-1"] == {"activity_id": "badge-1", "member_id": "2", "type": "badge", "channel": "q&a",
                                "ts": datetime(2010, 8, 25, 19, 26, 49, 550000, tzinfo=UTC),
                                "program": "Autobiographer", "tags": None, "ref_id": None}


def test_members_kevin_montrose_and_the_community_bot(converted: ConvertedDump) -> None:
    members = {m["member_id"]: m for m in _table(converted, "members")}
    kevin = members["2"]
    assert (kevin["handle"], kevin["name"]) == ("Kevin Montrose", "Kevin Montrose")
    assert kevin["joined_at"] == datetime(2010, 8, 25, 18, 36, 14, tzinfo=UTC)
    assert kevin["is_staff"] is False
    assert kevin["consent"] is None
    assert (kevin["reputation"], kevin["network_account_id"]) == (101, "29738")
    assert members["-1"]["name"] == "Community"
    assert members["-1"]["is_staff"] is True
    assert [m for m, row in members.items() if row["is_staff"]] == ["-1"]


def test_accepted_answers_become_outcomes_of_the_asker(
    converted: ConvertedDump, xml_rows: dict[str, list[str]]
) -> None:
    answers = {_attr(r, "Id") for r in xml_rows["Posts"] if _attr(r, "PostTypeId") == "2"}
    expected = {}
    for row in xml_rows["Posts"]:
        accepted, asker = _attr(row, "AcceptedAnswerId"), _attr(row, "OwnerUserId")
        if _attr(row, "PostTypeId") == "1" and accepted in answers and asker is not None:
            expected[f"accepted-{accepted}"] = asker
    outcomes = _table(converted, "outcomes")
    assert len(outcomes) == len(expected) == 151
    assert {o["outcome_id"]: o["member_id"] for o in outcomes} == expected
    assert {o["type"] for o in outcomes} == {"accepted_answer"}
    questions_with_accepted = sum(_attr(r, "AcceptedAnswerId") is not None for r in xml_rows["Posts"])
    assert converted.counts["accepted_answers_read"] == questions_with_accepted == 157
    assert converted.skipped["accepted_answers_no_asker"] == 6

    by_id = {o["outcome_id"]: o for o in outcomes}
    # By hand. Question 2 (asked by user 19) accepted answer 4 (2010-08-25T20:40:10.597);
    # Votes.xml: <row Id="168" PostId="4" VoteTypeId="1" CreationDate="2010-09-03T00:00:00.000" />.
    assert by_id["accepted-4"]["member_id"] == "19"
    assert by_id["accepted-4"]["ts"] == datetime(2010, 9, 3, tzinfo=UTC)
    # Question 13 (user 8) accepted answer 15, written 2010-08-26T06:02:32.677; its acceptance vote
    # <row Id="33" PostId="15" VoteTypeId="1" CreationDate="2010-08-26T00:00:00.000" /> is truncated
    # to the day, before the answer existed: the outcome takes the answer's time.
    assert by_id["accepted-15"]["member_id"] == "8"
    assert by_id["accepted-15"]["ts"] == datetime(2010, 8, 26, 6, 2, 32, 677000, tzinfo=UTC)
    assert converted.counts["outcomes_dated_by_vote"] == 151
    assert converted.counts["outcomes_vote_before_answer"] == 50


def test_loading_the_real_dump_quarantines_nothing_and_reloading_adds_nothing(engine: Engine) -> None:
    first = stackexchange.load(engine, DUMP, now=NOW)
    assert [r.table for r in first] == ["members", "activities", "outcomes"]
    for report in first:
        assert_conserved(engine, report)
        assert_keys_unique(engine, report.table)
        assert report.source == "stackexchange"
        assert report.rows_quarantined == 0
        assert report.rows_duplicate == 0
    assert [r.rows_loaded for r in first] == [2551, 10331, 151]
    assert set(first[0].attribute_columns) == {"reputation", "views", "up_votes", "down_votes", "location",
                                               "website_url", "network_account_id"}

    members = engine.table("members").set_index("member_id")
    assert members.loc["2", "name"] == "Kevin Montrose"
    assert members.loc["2", "joined_at"].to_pydatetime() == datetime(2010, 8, 25, 18, 36, 14, tzinfo=UTC)
    assert bool(members.loc["-1", "is_staff"]) is True
    assert '"network_account_id":"29738"' in members.loc["2", "attributes"]

    second = stackexchange.load(engine, DUMP, now=NOW)
    for report in second:
        assert_conserved(engine, report)
        assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == (0, 0, report.rows_read)
    assert {k: engine.status().tables[k] for k in ("members", "activities", "outcomes", "quarantine")} == {
        "members": 2551, "activities": 10331, "outcomes": 151, "quarantine": 0}


# -- a small synthetic dump ---------------------------------------------------------------------


def _write(directory: Path, name: str, root: str, rows: list[str], *, compress: bool = False) -> None:
    text = '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<' + root + ">\n"
    text += "".join(f"  {row}\n" for row in rows) + f"</{root}>\n"
    data = text.encode("utf-8")
    if compress:
        (directory / f"{name}.gz").write_bytes(gzip.compress(data))
    else:
        (directory / name).write_bytes(data)


@pytest.fixture
def tiny_dump(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    _write(d, "Users.xml", "users", [
        '<row Id="-1" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Community" Views="0" '
        'UpVotes="0" DownVotes="0" AccountId="-1" AboutMe="&lt;p&gt;bot&lt;/p&gt;" />',
        '<row Id="5" Reputation="120" CreationDate="2020-01-02T10:00:00.500" DisplayName="Ann &amp; Co" '
        'Views="3" UpVotes="4" DownVotes="1" AccountId="900" Location="Oslo" WebsiteUrl="https://ann.example" />',
        '<row Id="6" Reputation="7" CreationDate="2020-01-03T11:00:00.000" DisplayName="Bo" Views="0" '
        'UpVotes="0" DownVotes="0" />',
    ])
    _write(d, "Posts.xml", "posts", [
        # question by 5, new-style tags, accepted answer 11
        '<row Id="10" PostTypeId="1" AcceptedAnswerId="11" CreationDate="2020-02-01T09:00:00.000" '
        'OwnerUserId="5" Body="&lt;p&gt;long&lt;/p&gt;" Tags="|bikes|brakes|" />',
        '<row Id="11" PostTypeId="2" ParentId="10" CreationDate="2020-02-01T12:30:00.250" OwnerUserId="6" />',
        # an answer whose author was deleted
        '<row Id="12" PostTypeId="2" ParentId="10" CreationDate="2020-02-02T08:00:00.000" '
        'OwnerDisplayName="user99" />',
        # a question whose asker was deleted: its accepted answer is no outcome
        '<row Id="13" PostTypeId="1" AcceptedAnswerId="14" CreationDate="2020-02-03T08:00:00.000" '
        'OwnerDisplayName="user98" Tags="&lt;a&gt;&lt;b&gt;" />',
        '<row Id="14" PostTypeId="2" ParentId="13" CreationDate="2020-02-03T09:00:00.000" OwnerUserId="5" />',
        # a tag wiki
        '<row Id="20" PostTypeId="5" CreationDate="2020-02-04T00:00:00.000" OwnerUserId="-1" />',
        # self-accepted, old-style tags, no acceptance vote: dated by the answer
        '<row Id="15" PostTypeId="1" AcceptedAnswerId="16" CreationDate="2020-02-05T08:00:00.000" '
        'OwnerUserId="6" Tags="&lt;a&gt;&lt;b&gt;" />',
        '<row Id="16" PostTypeId="2" ParentId="15" CreationDate="2020-02-05T09:15:00.000" OwnerUserId="6" />',
        # accepts an answer that is not in the dump
        '<row Id="17" PostTypeId="1" AcceptedAnswerId="99" CreationDate="2020-02-06T08:00:00.000" '
        'OwnerUserId="5" />',
    ], compress=True)
    _write(d, "Comments.xml", "comments", [
        '<row Id="1" PostId="10" Score="0" Text="nice" CreationDate="2020-02-01T13:00:00.000" UserId="6" />',
        '<row Id="2" PostId="10" Score="0" Text="gone" CreationDate="2020-02-01T14:00:00.000" '
        'UserDisplayName="user99" />',
    ])
    _write(d, "Votes.xml", "votes", [
        '<row Id="1" PostId="10" VoteTypeId="2" CreationDate="2020-02-01T00:00:00.000" />',
        '<row Id="2" PostId="10" VoteTypeId="5" UserId="6" CreationDate="2020-02-07" />',
        '<row Id="3" PostId="11" VoteTypeId="1" CreationDate="2020-02-04T00:00:00.000" />',
    ])
    _write(d, "Badges.xml", "badges", [
        '<row Id="1" UserId="5" Name="Teacher" Date="2020-02-08T10:00:00.123" Class="3" TagBased="False" />',
    ], compress=True)
    return d


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
         microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def test_synthetic_dump_converts_exactly(tiny_dump: Path, tmp_path: Path) -> None:
    out = convert(tiny_dump, tmp_path / "out")
    assert out.directory == tmp_path / "out"
    base = {"consent": None, "location": None, "website_url": None}
    assert _table(out, "members") == [
        {**base, "member_id": "-1", "handle": "Community", "name": "Community", "joined_at": _utc(2020, 1, 1),
         "is_staff": True, "reputation": 1, "views": 0, "up_votes": 0, "down_votes": 0, "network_account_id": "-1"},
        {**base, "member_id": "5", "handle": "Ann & Co", "name": "Ann & Co", "joined_at": _utc(2020, 1, 2, 10, 0, 0,
         500000), "is_staff": False, "reputation": 120, "views": 3, "up_votes": 4, "down_votes": 1,
         "location": "Oslo", "website_url": "https://ann.example", "network_account_id": "900"},
        {**base, "member_id": "6", "handle": "Bo", "name": "Bo", "joined_at": _utc(2020, 1, 3, 11),
         "is_staff": False, "reputation": 7, "views": 0, "up_votes": 0, "down_votes": 0, "network_account_id": None},
    ]
    none = {"channel": "q&a", "program": None, "tags": None, "ref_id": None}
    assert _table(out, "activities") == [
        {**none, "activity_id": "post-10", "member_id": "5", "ts": _utc(2020, 2, 1, 9), "type": "question",
         "tags": "bikes|brakes"},
        {**none, "activity_id": "post-11", "member_id": "6", "ts": _utc(2020, 2, 1, 12, 30, 0, 250000),
         "type": "answer", "ref_id": "10"},
        {**none, "activity_id": "post-14", "member_id": "5", "ts": _utc(2020, 2, 3, 9), "type": "answer",
         "ref_id": "13"},
        {**none, "activity_id": "post-15", "member_id": "6", "ts": _utc(2020, 2, 5, 8), "type": "question",
         "tags": "a|b"},
        {**none, "activity_id": "post-16", "member_id": "6", "ts": _utc(2020, 2, 5, 9, 15), "type": "answer",
         "ref_id": "15"},
        {**none, "activity_id": "post-17", "member_id": "5", "ts": _utc(2020, 2, 6, 8), "type": "question"},
        {**none, "activity_id": "comment-1", "member_id": "6", "ts": _utc(2020, 2, 1, 13), "type": "comment",
         "ref_id": "10"},
        {**none, "activity_id": "vote-2", "member_id": "6", "ts": _utc(2020, 2, 7), "type": "vote", "ref_id": "10"},
        {**none, "activity_id": "badge-1", "member_id": "5", "ts": _utc(2020, 2, 8, 10, 0, 0, 123000),
         "type": "badge", "program": "Teacher"},
    ]
    assert _table(out, "outcomes") == [
        {"outcome_id": "accepted-11", "member_id": "5", "ts": _utc(2020, 2, 4), "type": "accepted_answer"},
        {"outcome_id": "accepted-16", "member_id": "6", "ts": _utc(2020, 2, 5, 9, 15), "type": "accepted_answer"},
    ]
    assert out.counts == {
        "users_read": 3, "members_written": 3,
        "posts_read": 9, "questions_read": 4, "answers_read": 4, "questions_written": 3, "answers_written": 3,
        "comments_read": 2, "comments_written": 1,
        "votes_read": 3, "votes_written": 1,
        "badges_read": 1, "badges_written": 1,
        "activities_written": 9,
        "accepted_answers_read": 4, "outcomes_written": 2,
        "outcomes_dated_by_vote": 1, "outcomes_dated_by_answer": 1, "outcomes_vote_before_answer": 0,
        "outcomes_self_accepted": 1,
    }  # fmt: skip
    assert {k: v for k, v in out.skipped.items() if v} == {
        "posts_other_type": 1, "questions_no_owner": 1, "answers_no_owner": 1, "comments_no_author": 1,
        "votes_no_voter": 2, "accepted_answers_no_asker": 1, "accepted_answers_missing_answer": 1,
    }


def test_synthetic_dump_loads_and_reloads(engine: Engine, tiny_dump: Path) -> None:
    reports = stackexchange.load(engine, tiny_dump, source="se-tiny", now=NOW)
    assert [(r.table, r.rows_read, r.rows_loaded, r.rows_quarantined) for r in reports] == [
        ("members", 3, 3, 0), ("activities", 9, 9, 0), ("outcomes", 2, 2, 0)]
    for report in reports:
        assert_conserved(engine, report)
    tags = engine.table("activities").set_index("activity_id")["tags"]
    assert list(tags["post-10"]) == ["bikes", "brakes"]
    again = stackexchange.load(engine, tiny_dump, source="se-tiny", now=NOW)
    assert [r.rows_duplicate for r in again] == [3, 9, 2]
    assert [r.rows_loaded for r in again] == [0, 0, 0]


def test_an_answer_before_its_question_is_still_found(tmp_path: Path) -> None:
    d = tmp_path / "merged"
    d.mkdir()
    _write(d, "Users.xml", "users", ['<row Id="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="A" />'])
    _write(d, "Posts.xml", "posts", [
        '<row Id="3" PostTypeId="2" ParentId="4" CreationDate="2020-01-02T00:00:00.000" OwnerUserId="1" />',
        '<row Id="4" PostTypeId="1" AcceptedAnswerId="3" CreationDate="2020-01-01T12:00:00.000" OwnerUserId="1" />',
    ])
    for name, root in (("Comments.xml", "comments"), ("Votes.xml", "votes"), ("Badges.xml", "badges")):
        _write(d, name, root, [])
    out = convert(d, tmp_path / "out")
    assert _table(out, "outcomes") == [
        {"outcome_id": "accepted-3", "member_id": "1", "ts": _utc(2020, 1, 2), "type": "accepted_answer"}]


# -- errors ---------------------------------------------------------------------------------------


def test_a_missing_file_is_named(tiny_dump: Path, tmp_path: Path) -> None:
    (tiny_dump / "Votes.xml").unlink()
    with pytest.raises(UnreadableFileError, match=r"Votes\.xml \(or Votes\.xml\.gz\) is missing") as info:
        convert(tiny_dump, tmp_path / "out")
    assert "must contain Users.xml, Posts.xml, Comments.xml, Votes.xml and Badges.xml" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_the_real_dump_without_one_file_names_it(tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(DUMP, partial)
    (partial / "Badges.xml.gz").unlink()
    with Engine.in_memory() as engine:
        with pytest.raises(UnreadableFileError, match=r"Badges\.xml"):
            stackexchange.load(engine, partial, now=NOW)
        assert engine.status().tables["members"] == 0


def test_other_unreadable_dumps(tiny_dump: Path, tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="not a folder"):
        convert(tmp_path / "nowhere", tmp_path / "out")

    (tiny_dump / "Posts.xml").write_bytes(b"<posts/>")  # Posts.xml.gz is there too
    with pytest.raises(UnreadableFileError, match=r"both Posts\.xml and Posts\.xml\.gz"):
        convert(tiny_dump, tmp_path / "out")
    (tiny_dump / "Posts.xml").unlink()

    (tiny_dump / "Comments.xml").write_bytes(b"<comments>\n  <row Id=\"1\" \n")
    with pytest.raises(UnreadableFileError, match=r"Comments\.xml: it is not well-formed XML"):
        convert(tiny_dump, tmp_path / "out")

    (tiny_dump / "Comments.xml").write_bytes(b"<users/>")
    with pytest.raises(UnreadableFileError, match=r"root element is <users>, not <comments>"):
        convert(tiny_dump, tmp_path / "out")

    (tiny_dump / "Comments.xml").write_bytes(b"<comments/>")
    (tiny_dump / "Badges.xml.gz").write_bytes(b"not gzip")
    with pytest.raises(UnreadableFileError, match=r"Badges\.xml\.gz"):
        convert(tiny_dump, tmp_path / "out")


def test_load_counts_the_rows_it_skips_as_excluded(engine: Engine, xml_rows: dict[str, list[str]]) -> None:
    """read = loaded + quarantined + duplicates + excluded, per table, read being the dump's own rows."""
    reports = engine.load_dump("stackexchange", DUMP, now=NOW)
    activity_rows = sum(len(xml_rows[name]) for name in ("Posts", "Comments", "Votes", "Badges"))
    assert reports.records_read("members") == len(xml_rows["Users"])
    assert reports.records_read("activities") == activity_rows
    anonymous_votes = sum(1 for row in xml_rows["Votes"] if _attr(row, "UserId") is None)
    assert reports.excluded["activities"]["no_author"] >= anonymous_votes
