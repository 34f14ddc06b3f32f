"""Erasure and keyed pseudonyms: ``commetrics forget`` leaves no trace, and the keys stay secret."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from pathlib import Path

import duckdb
import pytest

from commetrics import Engine, InputError
from commetrics.privacy.erasure import PERSON_FREE_TABLES, PERSON_TABLES, compact, forget
from commetrics.privacy.keys import Keyring

from .conftest import NOW, load, write_csv

EMAIL = "Jane.Roe+community@Acme.io"  # loaded in two spellings; both must go
CLEAN = "jane.roe@acme.io"
MEMBER, CONTACT = "m-jane-7", "c-jane-9"

#: Column names that identify a person wherever they appear.
PERSON_LIKE = {"member_id", "contact_id", "email", "handle", "unit_id", "record", "record_id", "record_a",
               "record_b"}


def _files(directory: Path) -> dict[str, Path]:
    directory.mkdir(exist_ok=True)
    members = write_csv(directory / "members.csv", ["member_id", "email", "handle", "name", "joined_at", "consent"], [
        [MEMBER, EMAIL, "@JaneR", "Jane Roe", "2026-01-05", "true"],
        ["m-other-1", "someone@example.org", "someone", "Some One", "2026-01-06", "true"],
        ["m-jane-70", "jr70@example.net", "jane70", "Jane Seventy", "2026-01-07", "true"],  # m-jane-7 is a prefix
    ])
    contacts = write_csv(directory / "contacts.csv", ["contact_id", "email", "name", "created_at"], [
        [CONTACT, " JANE.ROE@acme.io ", "Jane Roe", "2026-02-01"],
        ["c-other-1", "someone@example.org", "Some One", "2026-02-02"],
    ])
    activities = write_csv(directory / "activities.csv", ["activity_id", "member_id", "ts", "type"], [
        ["a1", MEMBER, "2026-03-01", "post"], ["a2", MEMBER, "2026-03-02", "reply"],
        ["a3", "m-other-1", "2026-03-03", "post"], ["a4", "m-jane-70", "2026-03-04", "post"],
        ["a5", MEMBER, "not a date", "post"],  # quarantined: its raw record names the member
    ])
    outcomes = write_csv(directory / "outcomes.csv", ["outcome_id", "member_id", "contact_id", "ts", "type"], [
        ["o1", "", CONTACT, "2026-04-01", "trial_start"], ["o2", MEMBER, "", "2026-04-02", "purchase"],
        ["o3", "m-other-1", "", "2026-04-03", "trial_start"],
    ])
    surveys = write_csv(directory / "surveys.csv", ["response_id", "member_id", "ts", "kind", "score"], [
        ["r1", MEMBER, "2026-05-01", "nps", "9"], ["r2", "m-other-1", "2026-05-01", "nps", "7"]])
    return {"members": members, "contacts": contacts, "activities": activities, "outcomes": outcomes,
            "surveys": surveys}


def _load_all(engine: Engine, files: dict[str, Path]) -> None:
    for table, path in files.items():
        load(engine, table, path)


def _person_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows anywhere that mention the person: every text column of every table, searched for their ids."""
    found: dict[str, int] = {}
    tables = con.execute("select table_name, column_name from information_schema.columns "
                         "where data_type in ('VARCHAR', 'JSON') and table_schema = current_schema()").fetchall()
    for table, column in tables:
        count = con.execute(f'select count(*) from "{table}" where regexp_matches(lower("{column}"::varchar), '
                            "'(^|[^a-z0-9-])(m-jane-7|c-jane-9|jane\\.roe[^@]*@acme\\.io|janer)($|[^a-z0-9-])')"
                            ).fetchall()[0][0]
        if count:
            found[f"{table}.{column}"] = int(count)
    return found


def test_every_table_holding_person_identifiers_is_registered(workspace: Path) -> None:
    """A new table with a person column fails here until it joins PERSON_TABLES (or is declared free)."""
    registered = {t.name: t for t in PERSON_TABLES}
    with Engine(workspace) as engine:
        rows = engine.store.con.execute("select table_name, column_name from information_schema.columns "
                                        "where table_schema = current_schema()").fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    unregistered = sorted(set(columns) - set(registered) - PERSON_FREE_TABLES)
    assert unregistered == [], f"register these tables in commetrics.privacy.erasure.PERSON_TABLES: {unregistered}"
    for table in PERSON_FREE_TABLES & set(columns):
        assert not (columns[table] & PERSON_LIKE), f"{table} holds {columns[table] & PERSON_LIKE}"
    for table, names in columns.items():
        if table in registered:
            missing = (names & PERSON_LIKE) - set(registered[table].columns)
            assert missing == set(), f"{table}: register {missing}"


def test_forget_leaves_no_row_and_no_byte_of_the_person(workspace: Path) -> None:
    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        engine.store.con.execute("pragma force_compression='uncompressed'")
        _load_all(engine, files)
        engine.scores("members", as_of=NOW, save=True)
        before = _person_rows(engine.store.con)
        others = engine.store.con.execute("select count(*) from activities where member_id <> ?", [MEMBER]).fetchall()
        assert {"members.member_id", "contacts.contact_id", "activities.member_id", "quarantine.record",
                "score_snapshots.id", "outcomes.contact_id", "surveys.member_id"} <= set(before)
        engine.store.con.execute("checkpoint")
        assert CLEAN.encode() in engine.workspace.database_path.read_bytes().lower() or \
            b"jane.roe" in engine.workspace.database_path.read_bytes().lower()
        result = engine.forget(EMAIL.upper())
        assert result["compacted"]
        assert result["found"]["member_id"] == 1
        assert result["found"]["contact_id"] == 1
        assert result["rows_deleted"]["activities"] == 2
        assert result["rows_deleted"]["quarantine"] == 1
        assert _person_rows(engine.store.con) == {}
        assert engine.store.con.execute("select count(*) from activities where member_id <> ?",
                                        [MEMBER]).fetchall() == others  # m-jane-70 and the rest stay
        status = engine.store.con.execute("select status from erasures").fetchall()
    assert status == [("done",)]
    raw = (workspace / "commetrics.duckdb").read_bytes().lower()
    for needle in (b"jane.roe", b"m-jane-7\x00", b"c-jane-9", b"janer"):
        assert needle not in raw
    assert not Path(str(workspace / "commetrics.duckdb") + ".wal").exists()
    ledger = (workspace / "commetrics.erasures").read_text(encoding="utf-8").lower()
    for needle in ("jane", "m-jane-7", "c-jane-9", "acme.io"):
        assert needle not in ledger
    entry = json.loads(ledger.splitlines()[0])
    assert set(entry["pseudonyms"]) == {"member_id", "contact_id", "email", "handle"}


def test_a_repeat_request_changes_nothing_and_a_reload_loads_none_of_the_person(workspace: Path) -> None:
    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        _load_all(engine, files)
        engine.forget(MEMBER)
        counts = engine.status().tables
        again = engine.forget(MEMBER)
        assert again["already_erased"]
        assert again["rows_deleted"] == {}
        assert engine.status().tables == counts
        # Re-loading the original exports (which still hold the person) as a new source loads none of them.
        reports = {table: load(engine, table, path, source="reexport") for table, path in files.items()}
        assert reports["members"].rows_erased == 1
        assert reports["activities"].rows_erased == 3  # two activities and the quarantined record
        assert reports["activities"].rows_quarantined == 0
        assert reports["contacts"].rows_erased == 1  # the contact resolved by e-mail went too
        assert _person_rows(engine.store.con) == {}
        assert reports["members"].rows_loaded == 2
        # A file in which the person appears only in a malformed row: that row is not kept either.
        only_bad = write_csv(workspace.parent / "only-bad.csv", ["activity_id", "member_id", "ts", "type"], [
            ["b1", "m-other-1", "2026-03-05", "post"], ["b2", MEMBER, "yesterday", "post"],
            ["b3", "m-jane-70", "not a date", "post"]])
        report = load(engine, "activities", only_bad, source="late")
        assert (report.rows_loaded, report.rows_quarantined, report.rows_erased) == (1, 1, 1)
        assert _person_rows(engine.store.con) == {}


def test_restoring_an_old_backup_reapplies_the_erasure_on_open(workspace: Path) -> None:
    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        _load_all(engine, files)
    backup = workspace.parent / "backup.duckdb"
    shutil.copy(workspace / "commetrics.duckdb", backup)
    with Engine(workspace) as engine:
        engine.forget(CONTACT)
    shutil.copy(backup, workspace / "commetrics.duckdb")  # the restore brings the person back
    with Engine(workspace, read_only=True) as engine:
        assert _person_rows(engine.store.con) != {}  # read-only opens never write: the test can fail
    with Engine(workspace) as engine:
        assert _person_rows(engine.store.con) == {}
        assert engine.store.con.execute("select status from erasures").fetchall() == [("done",)]
    assert b"c-jane-9" not in (workspace / "commetrics.duckdb").read_bytes()


def test_an_interrupted_compaction_is_finished_on_the_next_open(workspace: Path) -> None:
    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        _load_all(engine, files)
        forget(engine.store.con, engine.keyring, MEMBER, ledger=workspace / "commetrics.erasures")  # no compaction
    (workspace / "commetrics.duckdb.compact").write_bytes(b"half a copy")  # a crash mid-copy
    with Engine(workspace) as engine:
        assert engine.store.con.execute("select status from erasures").fetchall() == [("done",)]
        assert _person_rows(engine.store.con) == {}
    assert not (workspace / "commetrics.duckdb.compact").exists()
    compact(workspace / "commetrics.duckdb")  # idempotent
    with Engine(workspace) as engine:
        assert engine.status().tables["members"] == 2


def test_forget_refuses_a_broken_address_and_works_in_memory() -> None:
    with Engine.in_memory() as engine:
        with pytest.raises(InputError, match="not a valid one"):
            engine.forget("jane@@example")
        assert engine.forget("nobody@example.com")["already_erased"]


def test_keys_are_private_random_and_never_stored_with_the_data(workspace: Path) -> None:
    files = _files(workspace.parent / "files")
    key_file = workspace / "commetrics.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with Engine(workspace) as engine:
        _load_all(engine, files)
        ring = engine.keyring
        secret = ring.keys[ring.active]
        engine.forget(MEMBER)
    assert len(secret) == 32
    for path in (workspace / "commetrics.duckdb", workspace / "commetrics.toml", workspace / "commetrics.erasures"):
        data = path.read_bytes()
        assert secret not in data
        assert secret.hex().encode() not in data
    other = Keyring.create(None)
    assert other.keys[other.active] != secret  # a key per workspace


def test_a_dictionary_attack_without_the_key_recovers_nobody(workspace: Path) -> None:
    """PSE-1: guessing e-mails and hashing them (as a salted or plain hash would allow) finds no one."""
    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        _load_all(engine, files)
        engine.forget(EMAIL)
        ring = engine.keyring
    ledger = json.loads((workspace / "commetrics.erasures").read_text(encoding="utf-8").splitlines()[0])
    published = {p.split(":", 1)[1] for p in ledger["pseudonyms"]["email"]}
    candidates = [f"user{i}@example.com" for i in range(20_000)] + [CLEAN, "jane.roe@acme.io"]
    plain = {hashlib.sha256(f"email:{c}".encode()).hexdigest() for c in candidates}
    assert plain & published == set()
    guessed = {ring.pseudonym("email", c).split(":", 1)[1] for c in candidates}
    assert guessed & published  # with the key the guess matches: the attack above fails only for want of it


def test_rotation_makes_new_pseudonyms_and_keeps_the_old_key_for_the_ledger(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "commetrics.keys")
    first = ring.pseudonym("email", "A.B+x@Gmail.com")
    assert first == ring.pseudonym("email", "ab@gmail.com")  # normalised before hashing
    assert first.startswith("k1:")
    assert len(first.split(":")[1]) == 64
    assert ring.rotate() == "k2"
    second = ring.pseudonym("email", "ab@gmail.com")
    assert second.startswith("k2:")
    assert second != first
    reopened = Keyring.open(tmp_path / "commetrics.keys")
    assert reopened.active == "k2"
    assert reopened.pseudonym("email", "ab@gmail.com", "k1") == first


def test_the_forget_and_rotate_commands(workspace: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    files = _files(workspace.parent / "files")
    with Engine(workspace) as engine:
        _load_all(engine, files)
    runner = CliRunner()
    refused = runner.invoke(app, ["forget", MEMBER, "-w", str(workspace)], input="n\n")
    assert refused.exit_code == 1  # not confirmed: nothing happens
    with Engine(workspace, read_only=True) as engine:
        assert _person_rows(engine.store.con) != {}
    done = runner.invoke(app, ["forget", MEMBER, "--yes", "-w", str(workspace)])
    assert done.exit_code == 0, done.output
    assert "Erased 1 member id, 1 contact id, 1 email, 1 handle." in done.output
    assert "activities 2" in done.output
    again = runner.invoke(app, ["forget", MEMBER, "--json", "-w", str(workspace)])
    assert json.loads(again.output)["already_erased"] is True
    rotated = runner.invoke(app, ["keys", "rotate", "-w", str(workspace)])
    assert rotated.exit_code == 0, rotated.output
    assert "now made with key k2; k1 is retired" in rotated.output
    # The re-load after rotation still recognises the erased person (their ledger entry uses k1).
    with Engine(workspace) as engine:
        assert engine.load("members", files["members"], source="again", now=NOW).rows_erased == 1


def _cohorts(engine: Engine, tmp_path: Path, sizes: dict[str, int]) -> None:
    members, outcomes = [], []
    for path, n in sizes.items():
        for i in range(n):
            member = f"{path}-{i}"
            members.append([member, f"2026-01-{1 + i % 28:02d}", path, "true"])
            if i % 3 == 0:
                outcomes.append([f"o-{member}", member, f"2026-02-{1 + i % 28:02d}", "trial_start"])
    engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "entry_path", "consent"],
                                     members))
    engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], outcomes))


SIZES = {"seo": 60, "webinar": 25, "referral": 3}


def test_the_report_hides_small_cohorts_and_a_partner_for_each(tmp_path: Path) -> None:
    """AGG-1/2 on a real report: a cohort of 3 is hidden, and so is the next smallest, because the
    all-members rate of each window is shown too; nothing from a hidden cohort leaks into the charts."""
    import re

    from commetrics.reports.build import build_report

    sizes = SIZES
    with Engine.in_memory() as engine:
        _cohorts(engine, tmp_path, sizes)
        exact = engine.conversion("trial_after_join", by=["entry_path"], as_of=NOW, exact=True)["rates"]
        report = build_report(engine, conversions=["trial_after_join"], by=["entry_path"], as_of=NOW)
    assert set(exact["cohort"]) == set(sizes)  # the library gives the analyst every figure
    breakdown = report.conversions[0].parts[1]  # all members, then by entry path
    table = breakdown.table
    hidden = table.loc[table["suppressed"], "cohort"]
    assert set(hidden) == {"referral", "webinar"}  # the small one, and its partner for the window totals
    assert table.loc[table["suppressed"], ["eligible", "converters", "rate"]].isna().all().all()
    assert (table.loc[~table["suppressed"], "eligible"] >= 10).all()
    # the curves hold only cohorts whose timing is published: referral (3 people) is gone, and so is webinar,
    # whose 9 converters are a group of fewer than 10 (every count of people is protected, converters too)
    timing = breakdown.timing
    assert set(breakdown.curves["cohort"]) == set(timing.loc[~timing["suppressed"], "cohort"]) == {"seo"}
    assert any("protect groups of fewer than 10 people" in note for note in report.conversions[0].notes)
    from commetrics.reports.html import render_html

    page = render_html(report)
    assert "referral" in page  # named as suppressed, with no figure
    assert not re.search(r"referral[^<]*</th><td[^>]*>3<", page)


def test_the_conversion_command_hides_small_cohorts_and_says_so(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    with Engine.init(tmp_path / "ws") as engine:
        _cohorts(engine, tmp_path, SIZES)
    runner = CliRunner()
    base = ["conversion", "trial_after_join", "--by", "entry_path", "--as-of", "2026-07-01", "-w", str(tmp_path / "ws")]
    payload = json.loads(runner.invoke(app, [*base, "--json"]).output)
    assert payload["suppression_applied"] is True
    rows = {(r["cohort"], r["window_days"]): r for r in payload["rates"]}
    assert rows[("referral", 30)]["suppressed"] is True
    assert rows[("referral", 30)]["eligible"] is None
    assert rows[("seo", 30)]["eligible"] == 60
    shown = runner.invoke(app, base)
    assert "hidden to protect groups of fewer than 10 people" in shown.output
