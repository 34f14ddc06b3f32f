"""The load command's options end to end, several files where one fails, templates, and the report of a load."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commetrics import Engine, schema
from commetrics.cli import app
from commetrics.ingest.template import template_csv

from .conftest import load, write_csv


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env={"COMMETRICS_WORKSPACE": str(tmp_path / "ws"),
                                                     "COLUMNS": "200"})
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_one_bad_file_does_not_hide_the_loaded_ones(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    good = write_csv(tmp_path / "a.csv", ["member_id", "joined_at"], [["m1", "2024-01-01"]])
    bad = write_csv(tmp_path / "b.csv", ["member", "joined_at"], [["m2", "2024-01-01"]])
    also = write_csv(tmp_path / "c.csv", ["member_id", "joined_at"], [["m3", "2024-01-01"]])
    out = run("load", "members", str(good), str(bad), str(also), code=1)
    assert "Nothing was loaded" not in out
    assert f"Error: {bad}" in out
    assert "1 of 3 files could not be loaded; loaded: a.csv (load 1), c.csv (load 2)" in out
    assert json.loads(run("status", "--json"))["tables"]["members"] == 2


def test_load_options_through_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    deals = write_csv(tmp_path / "deals.csv", ["Deal", "Contact", "Closed"],
                      [["d1", "m1", "02/01/2024 09:00"], ["d2", "m2", "15/01/2024 17:30"]])
    out = run("load", "outcomes", str(deals), "--set", "type=purchase", "--map", "outcome_id=Deal", "--map",
              "member_id=Contact", "--map", "ts=Closed", "--date-format", "%d/%m/%Y %H:%M", "--timezone",
              "Europe/Paris")
    assert "ts read as %d/%m/%Y %H:%M (--date-format)" in out
    assert "times without an offset read in Europe/Paris" in out
    with Engine(tmp_path / "ws", read_only=True) as engine:
        outcomes = engine.table("outcomes").set_index("outcome_id")
        assert str(outcomes.loc["d1", "ts"]) == "2024-01-02 08:00:00+00:00"
        assert set(outcomes["type"]) == {"purchase"}
    bad = run("load", "outcomes", str(deals), "--set", "type", code=2)
    assert "--set 'type' is not of the form canonical=value" in bad


def test_decimal_separator_through_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    deals = write_csv(tmp_path / "deals.csv", ["outcome_id", "ts", "type", "value"],
                      [["d1", "2024-05-01", "purchase", "1,500"], ["d2", "2024-05-02", "purchase", "2,000"]])
    refused = run("load", "outcomes", str(deals), code=2)
    assert "--decimal-separator '.' (1,234 is 1234) or ','" in refused
    out = run("load", "outcomes", str(deals), "--decimal-separator", ".")
    assert "value read with a decimal point and commas between thousands (--decimal-separator)" in out
    with Engine(tmp_path / "ws", read_only=True) as engine:
        assert sorted(engine.table("outcomes")["value"]) == [1500, 2000]


def test_na_through_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "email"],
                        [["m1", "2024-01-01", "NULL"], ["m2", "2024-01-02", "a@x.com"]])
    out = run("load", "members", str(members))
    assert "--na 'NULL'" in out
    run("load", "members", str(members), "--na", "NULL", "--source", "again")
    with Engine(tmp_path / "ws", read_only=True) as engine:
        again = engine.table("members").query("source == 'again'").set_index("member_id")
        assert again["email"].isna().tolist() == [True, False]


def test_a_dry_run_says_what_a_load_would_do_and_writes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                     [["a1", "m1", "2024-01-01", "post"], ["a2", "m1", "never", "post"],
                      ["a3", "m2", "2024-01-02", "fork"]])
    config = (tmp_path / "ws" / "commetrics.toml").read_text()
    out = run("load", "activities", str(path), "--accept-types", "--dry-run")
    assert "a dry run: nothing was written" in out
    assert "dry run: new types would be added to commetrics.toml: fork" in out
    assert "dry run: 1 × bad_timestamp" in out
    assert (tmp_path / "ws" / "commetrics.toml").read_text() == config
    with Engine(tmp_path / "ws", read_only=True) as engine:
        assert engine.status().tables["activities"] == 0
        counts = engine.store.con.execute("select (select count(*) from load_ledger), "
                                          "(select count(*) from quarantine)").fetchone()
        assert counts == (0, 0)
    with Engine(tmp_path / "ws") as engine:
        dry = engine.load("activities", path, dry_run=True, accept_types=True)
        real = engine.load("activities", path, accept_types=True)
    assert (dry.dry_run, real.dry_run) == (True, False)
    assert (dry.load_id, dry.rows_read, dry.rows_loaded, dry.rows_quarantined, dry.reasons) == (
        real.load_id, real.rows_read, real.rows_loaded, real.rows_quarantined, real.reasons)


def test_unknown_types_then_accept_types_then_quarantine_all(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                     [["a1", "m1", "2024-01-01", "star"], ["a2", "m1", "2024-01-01", "fork"],
                      ["a3", "m1", "2024-01-01", "star"]])
    out = run("load", "activities", str(path))
    assert ("3 rows of 2 unknown types (star, fork): add them with --accept-types or in [ingest] activity_types of "
            "commetrics.toml") in out
    out = run("load", "activities", str(path), "--accept-types")
    assert "new types added to commetrics.toml and loaded: fork, star" in out
    assert "3 rows quarantined by earlier loads are now resolved" in out
    assert "unknown_enum" not in run("quarantine")
    assert "unknown_enum" in run("quarantine", "--all")


def test_replace_and_snapshot_through_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    first = write_csv(tmp_path / "a.csv", ["member_id", "email", "joined_at"], [["m1", "a@x.com", "2024-01-01"]])
    fixed = write_csv(tmp_path / "b.csv", ["member_id", "email", "joined_at"], [["m1", "b@x.com", "2024-01-01"]])
    run("load", "members", str(first))
    assert "duplicate_key_conflict" in run("load", "members", str(fixed))
    assert "1 loaded rows replaced the earlier version" in run("load", "members", str(fixed), "--replace")
    telco = write_csv(tmp_path / "t.csv", ["customerID", "tenure", "Churn"], [["c1", "12", "Yes"]])
    run("load", "subscriptions", str(telco), "--snapshot-as-of", "2024-06-30", "--map", "account_id=customerID")
    assert "is not a date" in run("load", "subscriptions", str(telco), "--snapshot-as-of", "30/06/2024", code=2)


def test_template_writes_a_file_that_loads(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    target = tmp_path / "members.csv"
    assert "Wrote" in run("template", "members", "--out", str(target))
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# commetrics template for members")
    assert "# member_id: Identifier on the community platform (required)" in text
    assert "exists" in run("template", "members", "--out", str(target), code=2)
    out = run("load", "members", str(target), "--json")
    assert [(r["rows_read"], r["rows_loaded"]) for r in json.loads(out)] == [(2, 2)]
    assert "activity_id,member_id,ts,type" in run("template", "activities", "--out", "-")


@pytest.mark.parametrize(("table", "snapshot"), [*((t, False) for t in schema.TABLES), ("subscriptions", True)])
def test_every_template_loads_its_two_example_rows(engine: Engine, tmp_path: Path, table: str,
                                                   snapshot: bool) -> None:
    path = tmp_path / f"{table}.csv"
    path.write_text(template_csv(table, snapshot=snapshot), encoding="utf-8")
    options = {"snapshot_as_of": date(2024, 6, 30)} if snapshot else {}
    report = load(engine, table, path, **options)
    assert (report.rows_read, report.rows_loaded, report.reasons) == (2, 2, {})
    lines = path.read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if not line.startswith("#")).split(",")
    described = {line[2:].split(":")[0] for line in lines[1:] if line.startswith("# ") and ":" in line}
    assert set(header) <= described  # a comment line per column
