"""The Discourse and Zoom connectors on real samples (tests/data/exports, see PROVENANCE.md) and synthetic files.

Expected counts come from this file's own parse (json and csv modules), never from the connectors.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine, InputError

from .conftest import NOW, assert_conserved, assert_keys_unique

DATA = Path(__file__).parent / "data" / "exports"


# -- Discourse ------------------------------------------------------------------------------------


def _discourse_posts(folder: Path) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "post_stream" in data:
            posts += data["post_stream"]["posts"]
        elif isinstance(data, dict) and "latest_posts" in data:
            posts += data["latest_posts"]
    return posts


def test_discourse_real_fixtures_match_an_independent_parse(engine: Engine) -> None:
    folder = DATA / "discourse"
    posts = _discourse_posts(folder)
    system = [p for p in posts if p["user_id"] <= 0]
    staff_actions = [p for p in posts if p["user_id"] > 0 and p["post_type"] in (2, 3, 4)]
    people = {p["user_id"] for p in posts} | {u["id"] for u in json.loads((folder / "user_list.json").read_text())}
    assert (len(posts), len(system), len(staff_actions)) == (8, 2, 1)

    reports = engine.load_dump("discourse", folder, now=NOW)
    by = {r.table: r for r in reports}
    assert by["activities"].rows_loaded == len(posts) - len(system) - len(staff_actions)
    assert reports.excluded["activities"] == {"system_user": len(system), "staff_action": len(staff_actions)}
    assert by["members"].rows_loaded == len([p for p in people if p > 0])
    assert reports.excluded["members"] == {"system_user": 1}
    for report in reports:
        assert_conserved(engine, report)
    emails = engine.store.con.execute("select member_id, email, is_staff from members where email is not null"
                                      ).fetchall()
    assert emails == [("1", "batman@gotham.com", True)]  # from the admin user list
    reply = engine.store.con.execute("select type, ref_id, ts from activities where activity_id = '226'").fetchone()
    assert reply is not None
    assert reply[:2] == ("reply", "83")  # reply_to_post_number 1 -> the topic's first post, id 83
    assert reply[2].isoformat() == "2013-02-05T17:14:17.364000+00:00"  # -05:00 offset read, not cut off

    again = engine.load_dump("discourse", folder, now=NOW)
    assert sum(r.rows_loaded for r in again) == 0
    assert_keys_unique(engine, "activities")


def _post(post_id: int, number: int, user: int, **extra: Any) -> dict[str, Any]:
    return {"id": post_id, "topic_id": 7, "post_number": number, "post_type": 1, "user_id": user,
            "username": f"u{user}", "created_at": f"2025-09-25T19:{number:02d}:22.095Z", **extra}


def test_discourse_overlapping_pages_accepted_answers_and_exclusions(engine: Engine, tmp_path: Path) -> None:
    page_a = {"id": 7, "category_id": 4, "accepted_answer": {"post_number": 3},
              "post_stream": {"posts": [_post(70, 1, 5), _post(71, 2, 6, reply_to_post_number=1),
                                        _post(72, 3, 7, reply_to_post_number=2)], "stream": [70, 71, 72, 73, 74]}}
    page_b = {"post_stream": {"posts": [_post(72, 3, 7, reply_to_post_number=2),
                                        _post(73, 4, 5, post_type=3, action_code="closed.enabled"),
                                        _post(74, 5, -1), _post(75, 6, 8, deleted_at="2025-09-26T00:00:00Z")]}}
    (tmp_path / "t7.json").write_text(json.dumps(page_a))
    (tmp_path / "t7-posts-21.json").write_text(json.dumps(page_b))
    reports = engine.load_dump("discourse", tmp_path, now=NOW)
    by = {r.table: r for r in reports}
    assert (by["activities"].rows_read, by["activities"].rows_loaded, by["activities"].rows_duplicate) == (4, 3, 1)
    assert reports.excluded["activities"] == {"staff_action": 1, "system_user": 1, "deleted": 1}
    assert reports.records_read("activities") == 7
    rows = engine.store.con.execute("select activity_id, type, channel, ref_id from activities order by 1").fetchall()
    assert rows == [("70", "post", "category-4", None), ("71", "reply", "category-4", "70"),
                    ("72", "reply", "category-4", "71")]
    outcome = engine.store.con.execute("select outcome_id, member_id, type from outcomes").fetchall()
    assert outcome == [("accepted-72", "5", "accepted_answer")]  # for the asker, the author of post 1


def test_discourse_refuses_a_file_it_does_not_know(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(InputError, match="not a Discourse API response"):
        engine.load_dump("discourse", tmp_path)


# -- Zoom -----------------------------------------------------------------------------------------


def _zoom_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Name (Original Name)"))
    return list(csv.DictReader(lines[start:]))


def test_zoom_real_report_one_attendance_per_person_minutes_summed(engine: Engine) -> None:
    path = DATA / "zoom" / "participants_heroes_full.csv"
    rows = _zoom_rows(path)
    host = "green-goblin_human@marvel.com"
    people = {r["User Email"].lower() for r in rows}
    minutes = {p: sum(int(r["Duration (Minutes)"]) for r in rows if r["User Email"].lower() == p) for p in people}
    assert (len(rows), len(people)) == (31, 27)  # as the fixture's README says

    reports = engine.load_dump("zoom", path, timezone="America/New_York", now=NOW)
    by = {r.table: r for r in reports}
    assert by["activities"].rows_loaded == len(people) - 1  # the host is staff
    assert reports.excluded["activities"] == {"staff": 1, "rejoin": len(rows) - len(people)}
    assert reports.records_read("activities") == len(rows)
    for report in reports:
        assert_conserved(engine, report)
    loaded = dict(engine.store.con.execute("select member_id, tags[1] from activities").fetchall())
    assert host not in loaded
    assert loaded == {p: f"minutes:{m}" for p, m in minutes.items() if p != host}
    loki = engine.store.con.execute("select ts, type, ref_id, program from activities "
                                    "where member_id = 'loki_asgardian@marvel.com'").fetchone()
    assert loki is not None
    assert (loki[0].isoformat(), loki[1:]) == ("2021-11-19T14:54:15+00:00", ("event_attended", "60245167821",
                                                                            "Heroes meeting"))
    again = engine.load_dump("zoom", path, timezone="America/New_York", now=NOW)
    assert sum(r.rows_loaded for r in again) == 0


def test_zoom_needs_a_timezone(engine: Engine) -> None:
    with pytest.raises(InputError, match="--timezone"):
        engine.load_dump("zoom", DATA / "zoom" / "participants_heroes.csv")


def test_zoom_japanese_webinar_report_masked_emails(engine: Engine, tmp_path: Path) -> None:
    report = tmp_path / "webinar.csv"
    report.write_text(
        "\ufeffAttendee Report\r\n"
        "トピック,ウェビナーID,実際の開始時刻\r\n"
        "製品ウェビナー,987 6543 2100,2020/12/8 8:30\r\n"
        "\r\n"
        "パネリストの詳細\r\n"
        "名前 (元の名前),ユーザーメール,参加時刻,退出時刻,所要時間（分）\r\n"
        "講師,host@example.co.jp,2020/12/8 8:20,2020/12/8 9:40,80\r\n"
        "\r\n"
        "Attendee Details\r\n"
        "出席,名前 (元の名前),ユーザーメール,登録時間,参加時刻,退出時刻,所要時間（分）\r\n"
        "はい,山田 太郎,taro@example.jp,2020/12/1 10:00,2020/12/8 8:35,2020/12/8 9:00,25\r\n"
        "はい,山田 太郎,taro@example.jp,2020/12/1 10:00,2020/12/8 9:05,2020/12/8 9:30,25\r\n"
        "はい,匿名,********,2020/12/2 10:00,2020/12/8 8:40,2020/12/8 8:50,10\r\n"
        "いいえ,佐藤 花子,hanako@example.jp,2020/12/3 10:00,,,\r\n",
        encoding="utf-8")
    reports = engine.load_dump("zoom", report, timezone="Asia/Tokyo", now=NOW)
    assert reports.excluded["activities"] == {"staff": 1, "rejoin": 1}
    rows = engine.store.con.execute("select member_id, type, ts, tags[1], ref_id from activities order by 1, 2"
                                    ).fetchall()
    assert [(m, t, str(ts), tag, ref) for m, t, ts, tag, ref in rows] == [
        ("hanako@example.jp", "webinar_registered", "2020-12-03 01:00:00+00:00", None, "98765432100"),
        ("name:匿名", "webinar_attended", "2020-12-07 23:40:00+00:00", "minutes:10", "98765432100"),
        ("name:匿名", "webinar_registered", "2020-12-02 01:00:00+00:00", None, "98765432100"),
        ("taro@example.jp", "webinar_attended", "2020-12-07 23:35:00+00:00", "minutes:50", "98765432100"),
        ("taro@example.jp", "webinar_registered", "2020-12-01 01:00:00+00:00", None, "98765432100"),
    ]
    emails = engine.store.con.execute("select member_id, email from members order by 1").fetchall()
    assert emails == [("hanako@example.jp", "hanako@example.jp"), ("name:匿名", None),  # masked: missing
                      ("taro@example.jp", "taro@example.jp")]


def test_discourse_says_when_topics_list_posts_the_files_do_not_hold(engine: Engine, tmp_path: Path) -> None:
    page = {"id": 7, "post_stream": {"posts": [_post(70, 1, 5)], "stream": [70, 71, 72]}}
    (tmp_path / "t7.json").write_text(json.dumps(page))
    reports = engine.load_dump("discourse", tmp_path, now=NOW)
    assert reports.counts["posts_listed_not_in_files"] == 2
    assert any("2 posts listed" in note for note in reports.notes)
