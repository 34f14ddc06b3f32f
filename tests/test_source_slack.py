"""The Slack connector on a real workspace export (tests/data/exports/slack, see PROVENANCE.md) and a synthetic
one with threads, reactions, deleted placeholders, Slackbot and bot users.

Expected counts come from this file's own parse of the day files with the json module: every message read is
loaded, quarantined, a duplicate or excluded, and loading again adds nothing.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine, UnreadableFileError
from commetrics.cli import app
from commetrics.config import parse_config

from .conftest import NOW, assert_conserved, assert_keys_unique

REAL = Path(__file__).parent / "data" / "exports" / "slack" / "testarchive.zip"


def _day_messages(archive: Path) -> list[dict[str, Any]]:
    """Every message of every day file, read with the json module (the independent parse)."""
    out: list[dict[str, Any]] = []
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if name.count("/") == 1 and name.endswith(".json") and not name.endswith("/"):
                out.extend(json.loads(z.read(name)))
    return out


def test_real_export_counts_match_an_independent_parse(engine: Engine) -> None:
    messages = _day_messages(REAL)
    users = json.loads(zipfile.ZipFile(REAL).read("users.json"))
    bots = sum(1 for m in messages if "user" not in m and m.get("subtype") != "file_comment")
    system = sum(1 for m in messages if m.get("subtype") == "bot_add")
    reactions = sum(len(r["users"]) for m in messages for r in m.get("reactions", []))
    assert (len(messages), bots, system, reactions) == (158, 94, 3, 1)  # as the fixture's README says

    reports = engine.load_dump("slack", REAL, now=NOW)
    by_table = {r.table: r for r in reports}
    assert by_table["members"].rows_loaded == len([u for u in users if not u.get("is_bot")])
    activities = by_table["activities"]
    assert reports.records_read("activities") == len(messages) + reactions
    assert reports.excluded["activities"] == {"bot": bots, "system_event": system}
    assert activities.rows_loaded == len(messages) + reactions - bots - system
    for report in reports:
        assert_conserved(engine, report)
    types = dict(engine.store.con.execute("select type, count(*) from activities group by type").fetchall())
    assert types == {"post": 49 + 3, "joined": 8, "comment": 1, "reaction": 1}

    files = [f for (f,) in engine.store.con.execute("select file from load_ledger order by load_id").fetchall()]
    assert [Path(f).name for f in files] == ["testarchive.zip.members.parquet", "testarchive.zip.activities.parquet"]
    again = engine.load_dump("slack", REAL, now=NOW)
    assert [r.rows_loaded for r in again] == [0, 0]
    assert [r.rows_duplicate for r in again] == [r.rows_loaded for r in reports]
    assert_keys_unique(engine, "activities")


def test_ts_is_kept_exactly_and_times_are_utc(engine: Engine) -> None:
    engine.load_dump("slack", REAL, now=NOW)
    row = engine.store.con.execute(
        "select activity_id, ts from activities where activity_id like '%1452837318.000002'").fetchone()
    assert row is not None
    assert row[0] == "C0JGLMMNX:1452837318.000002"  # channel id from channels.json, ts as written
    assert row[1] == datetime(2016, 1, 15, 5, 55, 18, 2, tzinfo=UTC)


def _synthetic(root: Path) -> Path:
    """A small export with what the real one lacks: threads, e-mails, bots, Slackbot, tombstones, a channel
    listed without a folder, and a private channel whose folder is named by id."""
    root.mkdir()
    users = [
        {"id": "U1", "name": "ana", "real_name": "Ana Lima", "updated": 1700000000, "is_admin": True,
         "profile": {"email": "ana@example.com"}},
        {"id": "U2", "name": "bo", "deleted": True, "updated": 1600000000, "profile": {"email": "not shared"}},
        {"id": "B1", "name": "deploybot", "is_bot": True, "profile": {}},
        {"id": "USLACKBOT", "name": "slackbot", "profile": {}},
    ]
    (root / "users.json").write_text(json.dumps(users))
    (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general"}, {"id": "C9", "name": "quiet"}]))
    (root / "groups.json").write_text(json.dumps([{"id": "G1", "name": "private-team"}]))
    general = [
        {"type": "message", "user": "U1", "ts": "1650000000.000100", "thread_ts": "1650000000.000100",
         "reply_count": 2, "reactions": [{"name": "tada", "users": ["U2", "B1", "USLACKBOT"], "count": 5}]},
        {"type": "message", "user": "U2", "ts": "1650000100.000200", "thread_ts": "1650000000.000100"},
        {"type": "message", "subtype": "thread_broadcast", "user": "U1", "ts": "1650000200.000300",
         "thread_ts": "1650000000.000100"},
        {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "ts": "1650000300.000400"},
        {"type": "message", "subtype": "tombstone", "user": "U1", "ts": "1650000301.000400"},
        {"type": "message", "user": "B1", "ts": "1650000400.000500"},
        {"type": "message", "subtype": "channel_join", "user": "U2", "ts": "1649999000.000001"},
        {"type": "message", "subtype": "channel_topic", "user": "U1", "ts": "1650000500.000600"},
        {"type": "message", "user": "U3", "ts": "1650000600.000700"},
    ]
    (root / "general").mkdir()
    (root / "general" / "2022-04-15.json").write_text(json.dumps(general))
    (root / "G1").mkdir()
    (root / "G1" / "2022-04-16.json").write_text(json.dumps([{"type": "message", "user": "U1",
                                                              "ts": "1650100000.000001"}]))
    return root


def test_synthetic_export_threads_reactions_and_exclusions(engine: Engine, tmp_path: Path) -> None:
    reports = engine.load_dump("slack", _synthetic(tmp_path / "export"), now=NOW)
    assert reports.excluded["members"] == {"bot": 1, "system_user": 1}
    # messages: 1 Slackbot tombstone -> system_user, 1 user tombstone -> deleted, B1 -> bot, topic -> system_event;
    # reactions: B1 -> bot, USLACKBOT -> system_user (the count of 5 lists 3 users: 2 are not listed)
    assert reports.excluded["activities"] == {"system_user": 2, "deleted": 1, "bot": 2, "system_event": 1}
    assert reports.counts["reactions_not_listed"] == 2
    rows = engine.store.con.execute("select activity_id, member_id, type, channel, ref_id from activities "
                                    "order by activity_id").fetchall()
    assert rows == [
        ("C1:1649999000.000001", "U2", "joined", "general", None),
        ("C1:1650000000.000100", "U1", "post", "general", None),
        ("C1:1650000000.000100:tada:U2", "U2", "reaction", "general", "C1:1650000000.000100"),
        ("C1:1650000100.000200", "U2", "reply", "general", "C1:1650000000.000100"),
        ("C1:1650000200.000300", "U1", "reply", "general", "C1:1650000000.000100"),
        ("C1:1650000600.000700", "U3", "post", "general", None),  # an author missing from users.json stays
        ("G1:1650100000.000001", "U1", "post", "private-team", None),
    ]
    members = engine.store.con.execute("select member_id, email, is_staff, joined_at from members "
                                       "order by member_id").fetchall()
    assert members == [
        ("U1", "ana@example.com", True, datetime(2022, 4, 15, 5, 20, 0, 100, tzinfo=UTC)),  # the thread root
        ("U2", None, False, datetime.fromtimestamp(1600000000, UTC)),  # "not shared" is not an address
    ]
    assert reports.counts["authors_not_in_users_json"] == 1


def test_channel_programs_give_the_activities_of_a_channel_their_program(tmp_path: Path) -> None:
    """[sources.slack] channel_programs: a message, its replies and its reactions in a mapped channel carry the
    program; other channels none."""
    config = parse_config({"sources": {"slack": {"channel_programs": {"general": "onboarding"}}}})
    with Engine.in_memory(config=config) as engine:
        engine.load_dump("slack", _synthetic(tmp_path / "export"), now=NOW)
        rows = engine.store.con.execute("select channel, type, program from activities group by all "
                                        "order by all").fetchall()
    assert rows == [("general", "joined", "onboarding"), ("general", "post", "onboarding"),
                    ("general", "reaction", "onboarding"), ("general", "reply", "onboarding"),
                    ("private-team", "post", None)]


def test_zip_with_a_top_folder_loads_like_the_folder(engine: Engine, tmp_path: Path) -> None:
    folder = _synthetic(tmp_path / "export")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            z.write(path, f"my-export/{path.relative_to(folder).as_posix()}")
    from_zip = engine.load_dump("slack", archive, now=NOW)
    assert [r.rows_loaded for r in from_zip] == [2, 7]
    assert [r.rows_duplicate for r in engine.load_dump("slack", folder, now=NOW)] == [2, 7]


def test_a_broken_day_file_stops_before_anything_is_loaded(engine: Engine, tmp_path: Path) -> None:
    folder = _synthetic(tmp_path / "export")
    (folder / "general" / "2022-04-17.json").write_text('[{"type": "message", "user": "U1", "ts": ')
    with pytest.raises(UnreadableFileError, match="day files"):
        engine.load_dump("slack", folder, now=NOW)
    assert engine.store.row_counts()["activities"] == 0


def test_missing_users_json_says_what_an_export_is(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableFileError, match=r"users\.json is missing.*Export"):
        engine.load_dump("slack", tmp_path / "empty")


def test_cli_prints_read_as_loaded_quarantined_duplicates_excluded(workspace: Path) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    first = runner.invoke(app, ["load-dump", "slack", str(REAL), "--workspace", str(workspace), "--json"])
    assert first.exit_code == 0, first.output
    rows = {r["table"]: r for r in json.loads(first.output)}
    for row in rows.values():
        assert row["records_read"] == (row["rows_loaded"] + row["rows_quarantined"] + row["rows_duplicate"]
                                       + row["rows_excluded"])
    assert rows["activities"]["excluded"] == {"bot": 94, "system_event": 3}
    second = runner.invoke(app, ["load-dump", "slack", str(REAL), "--workspace", str(workspace)])
    assert second.exit_code == 0, second.output
    assert "excluded" in second.output
    assert "adds nothing" in second.output
    refused = runner.invoke(app, ["load-dump", "slack", str(REAL), "--workspace", str(workspace),
                                  "--timezone", "Europe/Paris"])
    assert refused.exit_code == 2  # bad usage
    assert "--timezone is not used" in refused.output
    assert Counter(r["table"] for r in rows.values()) == Counter({"members": 1, "activities": 1})


def test_an_archive_never_writes_outside_its_scratch_folder(engine: Engine, tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("users.json", json.dumps([{"id": "U1", "name": "ana", "updated": 1650000000}]))
        z.writestr("general/2022-04-15.json", json.dumps([{"type": "message", "user": "U1", "ts": "1650000000.1"}]))
        z.writestr("../escaped.json", "[]")
    reports = engine.load_dump("slack", archive, now=NOW)
    assert [r.rows_loaded for r in reports] == [1, 1]
    assert not (tmp_path.parent / "escaped.json").exists()
