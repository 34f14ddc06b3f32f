"""The command line: each command end to end through the Engine, and errors as one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commetrics.cli import app

from .conftest import write_csv


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env={"COMMETRICS_WORKSPACE": str(tmp_path / "ws"),
                                                     "COLUMNS": "160"})
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def _members(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "members.csv", ["Member ID", "E-mail", "Joined", "entry_path"], [
        ["m1", "a@example.com", "2025-01-01", "seo"],
        ["m2", "broken", "2025-01-02", "webinar"],
        ["m3", "c@example.com", "2025-01-03", "referral"],
    ])


def test_init_load_status_quarantine(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "Created" in run("init")
    path = _members(tmp_path)
    out = run("load", "members", str(path), "--map", "joined_at=Joined", "--map", "email=E-mail", "--source", "forum")
    assert "quarantined" in out
    assert "bad_email" in out

    report = json.loads(run("load", "members", str(path), "--map", "joined_at=Joined", "--map", "email=E-mail",
                            "--source", "forum", "--json"))
    assert [(r["rows_read"], r["rows_loaded"], r["rows_quarantined"], r["rows_duplicate"]) for r in report] == [
        (3, 0, 0, 3)]

    status = json.loads(run("status", "--json"))
    assert status["tables"]["members"] == 2
    assert status["quarantine"] == [{"table_name": "members", "reason": "bad_email", "rows": 1}]
    assert "members" in run("status")

    listing = run("quarantine")
    assert "bad_email" in listing
    assert "name@domain.tld" in listing  # the reason's help says what to do
    export = tmp_path / "bad.csv"
    assert "Wrote 1" in run("quarantine", "--reason", "bad_email", "--export", str(export))
    assert "broken" in export.read_text(encoding="utf-8")


def test_missing_column_fails_before_writing_and_says_how_to_map(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    out = run("load", "members", str(_members(tmp_path)), code=2)
    assert out.startswith("Error:")
    assert "joined_at" in out
    assert "--map joined_at=FILE_COLUMN" in out
    assert json.loads(run("status", "--json"))["tables"]["members"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("load", "memberz", "x.csv"), "Did you mean 'members'"),
        (("load", "members", "absent.csv"), "File not found"),
        (("load", "members", "x.xlsx"), "cannot be read as an Excel workbook"),
        (("load", "members", "m.csv", "--map", "joined_at"), "canonical=file_column"),
        (("quarantine", "--table", "nope"), "Unknown table"),
    ],
)
def test_errors_are_one_line_with_a_next_step(run, tmp_path: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    run("init")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    _members(tmp_path).rename(tmp_path / "m.csv")
    args = tuple(str(tmp_path / a) if a.endswith((".csv", ".xlsx")) else a for a in args)
    out = run(*args, code=2)
    assert out.startswith("Error:")
    assert message in out


def test_commands_outside_a_workspace_say_to_init(run) -> None:  # type: ignore[no-untyped-def]
    out = run("status", code=1)
    assert "commetrics init" in out


def test_config_lists_every_setting(run) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(run("config", "--json"))
    keys = {r["key"] for r in rows}
    assert {"ingest.schema_contract", "privacy.min_cell_size", "reporting.timezone"} <= keys
    assert all(r["help"] for r in rows)


def test_demo_generates_and_loads(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(run("demo", "--members", "500", "--seed", "3", "--workspace", str(tmp_path / "demo"), "--json"))
    loads = {r["table"]: r for r in out["loads"]}
    assert set(loads) == {"accounts", "members", "contacts", "activities", "outcomes", "subscriptions", "surveys"}
    assert all(r["rows_quarantined"] == 0 and r["rows_loaded"] == r["rows_read"] for r in loads.values())
    assert loads["members"]["rows_loaded"] == 500
    assert Path(out["ground_truth"]).exists()
    assert "already holds a demo workspace. Add --force" in run(
        "demo", "--members", "500", "--seed", "3", "--workspace", str(tmp_path / "demo"), code=2)
    (tmp_path / "demo" / "data" / "stale.parquet").write_bytes(b"left behind")
    again = json.loads(run("demo", "--members", "500", "--seed", "3", "--workspace", str(tmp_path / "demo"),
                           "--force", "--json"))
    assert [r["rows_loaded"] for r in again["loads"]] == [r["rows_loaded"] for r in out["loads"]]
    assert not (tmp_path / "demo" / "data" / "stale.parquet").exists()  # the old demo's files are gone


def test_demo_refuses_a_workspace_with_real_data(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    run("load", "members", str(_members(tmp_path)), "--map", "joined_at=Joined")
    out = run("demo", "--members", "100", "--workspace", str(tmp_path / "ws"), code=2)
    assert "not demo data" in out


def test_a_reload_that_adds_nothing_asks_for_no_identity_resolution(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at"], [["m1", "a@example.com", "2025-01-01"]])
    run("init")
    run("load", "members", str(path))
    assert "identity resolve" not in run("status")
    again = run("load", "members", str(path))
    assert "identity resolve" not in again
    assert "identity resolve" not in run("status")


def test_summary_command(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("init")
    run("load", "members", str(_members(tmp_path)), "--map", "joined_at=Joined", "--map", "email=E-mail")
    out = run("summary")
    assert out.startswith("What the community is worth")
    assert "Not shown:" in out  # three members fill no card; each says why, in one line
    cards = json.loads(run("summary", "--json"))
    assert cards["cards"] == []
    assert {o["key"] for o in cards["omitted"]} == {"conversion", "attribution", "renewal", "nps", "deflection",
                                                    "programs", "drivers"}
    page = tmp_path / "summary.html"
    run("summary", "--out", str(page))
    assert "<h2 id=\"summary-title\">What the community is worth</h2>" in page.read_text(encoding="utf-8")
    notes = tmp_path / "summary.md"
    run("summary", "--out", str(notes))
    assert notes.read_text(encoding="utf-8").startswith("# What the community is worth")
    assert "must end in .html or .md" in run("summary", "--out", str(tmp_path / "summary.pdf"), code=2)


def test_report_pdf_without_a_browser_says_how_to_get_one(run, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COMMETRICS_CHROMIUM", str(tmp_path / "no-such-browser"))
    run("init")
    run("load", "members", str(_members(tmp_path)), "--map", "joined_at=Joined", "--map", "email=E-mail")
    out = run("report", "--out", str(tmp_path / "r.html"), "--pdf", code=1)
    assert "Writing a PDF needs Chromium or Chrome" in out
    assert "apt-get install chromium" in out
    assert (tmp_path / "r.html").exists()  # the HTML is written either way
