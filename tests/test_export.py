"""Pseudonymised exports: no identifier in clear, consenting people only, tables still join,
pseudonyms keyed (rotation changes them) and apart from the erasure ledger's."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from commetrics import Engine
from commetrics.errors import UnknownNameError

from .conftest import write_csv

IDENTIFIERS = ("m-ann-1", "m-bob-2", "m-cy-3", "c-ann-9", "c-dee-8", "ann.lee@acme.io", "Ann.Lee@Acme.io",
               "bob@initech.com", "cy@hooli.dev", "dee@globex.com", "@annl", "annl", "bobby", "Ann Lee", "Bob Roe",
               "Cy Young", "Dee Dunn")


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    with Engine.init(ws) as engine, engine.batch():
        engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "name", "domain"],
                                          [["A1", "Acme Corp", "acme.io"]]))
        columns = ["member_id", "email", "handle", "name", "joined_at", "consent", "account_id"]
        engine.load("members", write_csv(tmp_path / "m.csv", columns, [
            ["m-ann-1", "Ann.Lee@Acme.io", "@annl", "Ann Lee", "2026-01-01", "true", "A1"],
            ["m-bob-2", "bob@initech.com", "bobby", "Bob Roe", "2026-01-02", "false", ""],
            ["m-cy-3", "cy@hooli.dev", "", "Cy Young", "2026-01-03", "", ""]]))
        engine.load("contacts", write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at", "consent"],
                                          [["c-ann-9", "ann.lee@acme.io", "Ann Lee", "2025-12-01", "true"],
                                           ["c-dee-8", "dee@globex.com", "Dee Dunn", "2025-12-02", "false"]]))
        engine.load("activities", write_csv(tmp_path / "act.csv", ["activity_id", "member_id", "ts", "type"],
                                            [["x1", "m-ann-1", "2026-02-01", "post"],
                                             ["x2", "m-bob-2", "2026-02-01", "post"],
                                             ["x3", "m-cy-3", "2026-02-02", "reply"]]))
        engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "contact_id", "account_id",
                                                               "ts", "type"],
                                          [["o1", "", "c-ann-9", "", "2026-03-01", "trial_start"],
                                           ["o2", "", "c-dee-8", "", "2026-03-01", "trial_start"],
                                           ["o3", "", "", "A1", "2026-03-02", "renewal"]]))
        engine.load("experiments", write_csv(tmp_path / "e.csv", ["experiment", "unit_id", "variant"],
                                             [["welcome", "m-ann-1", "treatment"], ["welcome", "m-bob-2", "control"],
                                              ["abm", "A1", "treatment"]]))
    return ws


def test_the_export_holds_no_identifier_and_only_consenting_people(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    out = tmp_path / "out"
    with Engine(ws, read_only=True) as engine:
        manifest = engine.export_pseudonymised(out, file_format="csv")
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(out.iterdir()))
    for identifier in IDENTIFIERS:
        assert identifier.lower() not in text.lower(), identifier
    rows = {name: written["rows"] for name, written in manifest["tables"].items()}
    assert (rows["members"], rows["contacts"], rows["activities"]) == (1, 1, 1)  # Ann only
    assert rows["outcomes"] == 2  # Ann's trial and the account's renewal, not Dee's trial
    assert rows["experiments"] == 2  # Ann and the account A1 (an account id is kept as it is)
    assert rows["people"] == 2  # Ann's member and contact records
    assert manifest["withheld_without_consent"] == {"members": 2, "contacts": 1}
    assert manifest["tables"]["members"]["left_out"] == ["name", "attributes"]
    assert "Acme Corp" in (out / "accounts.csv").read_text(encoding="utf-8")  # organisations stay as they are
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest


def test_pseudonyms_join_across_tables_and_follow_the_key(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    with Engine(ws, read_only=True) as engine:
        engine.export_pseudonymised(tmp_path / "one")
        ledger_style = engine.keyring.pseudonym("member_id", "m-ann-1")  # what an erasure would record
    con = duckdb.connect()
    one = tmp_path / "one"
    member = con.execute(f"select member_id, email from '{one}/members.parquet'").fetchall()[0]
    assert con.execute(f"select member_id from '{one}/activities.parquet'").fetchall()[0][0] == member[0]
    assert con.execute(f"select email from '{one}/contacts.parquet'").fetchall()[0][0] == member[1]  # same address
    people = con.execute(f"select count(distinct person_id), count(*) from '{one}/people.parquet'").fetchall()[0]
    assert people == (1, 2)  # Ann's two records are one person, under a pseudonym
    assert member[0].startswith("k1:")
    assert member[0] != ledger_style  # export and ledger pseudonyms never coincide
    with Engine(ws) as engine:
        engine.keyring.rotate()
        engine.export_pseudonymised(tmp_path / "two", tables=["members"])
    rotated = con.execute(f"select member_id from '{tmp_path}/two/members.parquet'").fetchall()[0][0]
    assert rotated.startswith("k2:")
    assert rotated != member[0]
    assert not (tmp_path / "two" / "activities.parquet").exists()


def test_export_errors_and_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    ws = _workspace(tmp_path)
    with Engine(ws, read_only=True) as engine, pytest.raises(UnknownNameError, match="quarantine"):
        engine.export_pseudonymised(tmp_path / "bad", tables=["quarantine"])
    result = CliRunner().invoke(app, ["export", "pseudonymised", "--out", str(tmp_path / "cli"), "--table", "members",
                                      "--table", "activities", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "2 members and 1 contacts without consent are not exported" in result.output
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["activities.parquet", "manifest.json",
                                                                     "members.parquet"]
