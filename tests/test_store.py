"""The workspace and its store: creation, migrations, UTC sessions, the Ibis connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from commetrics import Engine, WorkspaceError, schema
from commetrics.store import MIGRATIONS, Workspace

from .conftest import write_csv


def test_init_creates_config_and_store_and_is_idempotent(tmp_path: Path) -> None:
    ws = Workspace.locate(tmp_path / "w")
    assert ws.init() is True
    assert ws.init() is False
    assert ws.config_path.exists()
    assert ws.database_path.exists()
    with Engine(ws.directory) as engine:
        tables = engine.status().tables
        version = engine.store.con.execute("select max(version) from schema_migrations").fetchone()
    assert set(tables) == {*schema.TABLES, schema.QUARANTINE_TABLE, schema.LEDGER_TABLE}
    assert version == (len(MIGRATIONS),)


def test_opening_a_folder_that_is_not_a_workspace_says_to_init(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="commetrics init"):
        Engine(tmp_path)


def test_workspace_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMETRICS_WORKSPACE", str(tmp_path / "env"))
    assert Workspace.locate().directory == (tmp_path / "env").resolve()


def test_ibis_reads_the_canonical_tables(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                     [["1", "m1", "2025-01-01", "post"], ["2", "m1", "2025-01-02", "reply"]])
    engine.load("activities", path)
    activities = engine.ibis_table("activities")
    assert activities.count().execute() == 2
    assert activities.columns == (*schema.ACTIVITIES.column_names, "source", "load_id")
    assert engine.table("activities").columns.tolist() == [*schema.ACTIVITIES.column_names, "source", "load_id"]


def test_machine_time_zone_does_not_change_what_is_stored(tmp_path: Path) -> None:
    """A naive timestamp is read as UTC and stays the same instant whatever TZ the machine has."""
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                     [["1", "m1", "2025-03-30 01:30:00", "post"], ["2", "m1", "2025-03-30T03:30:00+02:00", "post"]])
    code = (
        "import sys; from commetrics import Engine; e = Engine.in_memory(); e.load('activities', sys.argv[1]); "
        "print(e.store.con.execute(\"select current_setting('TimeZone'), "
        "list(epoch(ts)::BIGINT order by activity_id) from activities\").fetchone())"
    )
    outputs = set()
    for zone in ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Europe/Berlin"):
        env = {**os.environ, "TZ": zone}
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                             check=True)
        outputs.add(out.stdout.strip())
    assert outputs == {"('UTC', [1743298200, 1743298200])"}
