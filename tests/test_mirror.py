"""The Parquet mirror that Spark reads: one file per load, synced by what changed, never stale, and
erasure reaches it. None of this needs Spark (writing the mirror is DuckDB's job); the Spark side is
in test_spark_parity.py."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from commetrics import BackendError, Config, ConfigError, Engine
from commetrics.config import parse_config
from commetrics.engine.mirror import MANIFEST, Mirror, spark_ddl

from .conftest import load, write_csv

EMAIL = "ada.lovelace@analytical.example"
MEMBER = "m-ada"


def _spark_config(directory: Path) -> None:
    # mirror_on_load: every write syncs the mirror at once (the default), without starting Spark
    (directory / "commetrics.toml").write_text('[engine]\nbackend = "spark"\n', encoding="utf-8")


def _members(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, ["member_id", "email", "joined_at", "consent", "entry_path", "Plan"], rows)


@pytest.fixture
def spark_workspace(workspace: Path, tmp_path: Path) -> Path:
    _spark_config(workspace)
    with Engine(workspace) as engine:
        load(engine, "members", _members(tmp_path / "m1.csv", [
            [MEMBER, EMAIL, "2026-01-05", "true", "seo", "pro"], ["m-bob", "bob@example.org", "2026-01-06", "true",
                                                                 "webinar", "free"]]))
        load(engine, "activities", write_csv(tmp_path / "a1.csv", ["activity_id", "member_id", "ts", "type", "tags"], [
            ["a1", MEMBER, "2026-02-01", "post", "ask|help"], ["a2", "m-bob", "2026-02-02", "reply", ""]]))
        load(engine, "activities", write_csv(tmp_path / "a2.csv", ["activity_id", "member_id", "ts", "type"], [
            ["a3", "m-bob", "2026-02-03", "post"]]))
    return workspace


def _parquet_rows(folder: Path, sql: str = "select count(*) from rows") -> list[tuple[object, ...]]:
    con = duckdb.connect()
    files = sorted(str(p) for p in [*folder.glob("load-*.parquet"), *folder.glob("people.parquet")])
    if not files:
        return []
    con.execute(f"create view rows as select * from read_parquet({files!r})")
    return con.execute(sql).fetchall()


def test_each_load_is_one_file_and_the_manifest_says_what_it_holds(spark_workspace: Path) -> None:
    folder = spark_workspace / "warehouse"
    assert sorted(p.name for p in (folder / "activities").iterdir()) == ["load-2.parquet", "load-3.parquet"]
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert {k: v[0] for k, v in manifest["loads"]["activities"].items()} == {"2": 2, "3": 1}
    assert manifest["people"][0] == 2  # identities resolved after the members' load, and mirrored
    # The store's types: UTC instants, tags as a list, attributes as JSON text; no load-internal column.
    rows = _parquet_rows(folder / "members", "select member_id, joined_at, attributes from rows order by 1")
    assert str(rows[0][1]).startswith("2026-01-05 00:00:00+00")
    assert json.loads(str(rows[0][2])) == {"Plan": "pro"}
    tags = _parquet_rows(folder / "activities", "select tags from rows where tags is not null and len(tags) > 0")
    assert tags == [(["ask", "help"],)]
    columns = [c[0] for c in duckdb.connect().execute(
        f"describe select * from '{folder / 'members' / 'load-1.parquet'}'").fetchall()]
    assert columns == [*[c.split("`")[1] for c in spark_ddl("members").split(", ")]]


def test_a_sync_writes_only_what_changed(spark_workspace: Path, tmp_path: Path) -> None:
    with Engine(spark_workspace, read_only=True) as engine:  # a read-only store can still be mirrored
        assert engine.mirror().is_fresh(engine.store.con)
        assert not engine.sync_mirror().changed
    with Engine(spark_workspace) as engine:
        load(engine, "outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], [
            ["o1", "m-bob", "2026-03-01", "trial_start"]]))
        (spark_workspace / "warehouse" / "outcomes" / "load-4.parquet").unlink()  # a file lost: written again
        sync = engine.sync_mirror()
    assert sync.written == {"outcomes": 1}
    assert sync.rows_written == 1


def test_a_store_changed_behind_the_mirrors_back_is_seen(spark_workspace: Path) -> None:
    """Another process (or a restored backup) changed the store: the freshness check finds it, however
    the counts look — the manifest also records each load's finish time in the ledger."""
    with duckdb.connect(str(spark_workspace / "commetrics.duckdb")) as con:
        con.execute("update load_ledger set finished_at = finished_at + interval 1 second where load_id = 3")
    with Engine(spark_workspace, read_only=True) as engine:
        assert not engine.mirror().is_fresh(engine.store.con)
        assert engine.sync_mirror().written == {"activities": 1}
        assert engine.mirror().is_fresh(engine.store.con)


def test_a_sync_without_file_locks_still_works(spark_workspace: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Where fcntl is missing (not a POSIX system) the mirror syncs without its lock file."""
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with Engine(spark_workspace) as engine:
        load(engine, "outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], [
            ["o1", "m-bob", "2026-03-01", "trial_start"]]))
        assert engine.mirror().is_fresh(engine.store.con)
    assert sorted(p.name for p in (spark_workspace / "warehouse" / "outcomes").iterdir()) == ["load-4.parquet"]

def test_without_mirror_on_load_the_first_read_syncs(workspace: Path, tmp_path: Path) -> None:
    (workspace / "commetrics.toml").write_text('[engine]\nbackend = "spark"\n[engine.spark]\nmirror_on_load = false\n',
                                               encoding="utf-8")
    with Engine(workspace) as engine:
        load(engine, "members", _members(tmp_path / "m.csv", [[MEMBER, EMAIL, "2026-01-05", "true", "seo", ""]]))
        assert engine.mirror().recorded() is None
        assert engine.sync_mirror().written["members"] == 1


def test_forget_removes_the_person_from_the_mirror(spark_workspace: Path) -> None:
    folder = spark_workspace / "warehouse"
    before = {p: p.stat().st_ino for p in folder.rglob("*.parquet")}
    with Engine(spark_workspace) as engine:
        result = engine.forget(EMAIL)
        assert engine.mirror().is_fresh(engine.store.con)
    assert result["rows_deleted"]["members"] == 1
    blob = b"".join(p.read_bytes() for p in folder.rglob("*.parquet"))
    assert MEMBER.encode() not in blob
    assert EMAIL.encode() not in blob
    assert _parquet_rows(folder / "members", "select member_id from rows") == [("m-bob",)]
    # Only the files of the loads that held her were rewritten; the rest are the same files.
    after = {p: p.stat().st_ino for p in folder.rglob("*.parquet")}
    assert after[folder / "activities" / "load-3.parquet"] == before[folder / "activities" / "load-3.parquet"]
    assert after[folder / "activities" / "load-2.parquet"] != before[folder / "activities" / "load-2.parquet"]


def test_a_load_erased_to_its_last_row_leaves_no_file(workspace: Path, tmp_path: Path) -> None:
    _spark_config(workspace)
    with Engine(workspace) as engine:
        load(engine, "members", _members(tmp_path / "m.csv", [[MEMBER, EMAIL, "2026-01-05", "true", "seo", ""]]))
        engine.forget(MEMBER)
        assert list((workspace / "warehouse" / "members").glob("*.parquet")) == []
        assert engine.mirror().is_fresh(engine.store.con)


def test_an_in_memory_engine_mirrors_to_a_folder_it_removes(tmp_path: Path) -> None:
    engine = Engine.in_memory(parse_config({"engine": {"backend": "spark"}}))
    load(engine, "members", _members(tmp_path / "m.csv", [[MEMBER, EMAIL, "2026-01-05", "true", "seo", ""]]))
    folder = engine.mirror().folder
    assert (folder / "members" / "load-1.parquet").exists()
    engine.close()
    assert not folder.exists()


def test_the_engine_section_and_duckdb_settings(workspace: Path) -> None:
    assert Config().engine.backend == "duckdb"
    (workspace / "commetrics.toml").write_text('[engine.duckdb]\nmemory_limit = "1GB"\nthreads = 1\n',
                                               encoding="utf-8")
    with Engine(workspace) as engine:
        limit, threads = engine.store.con.execute(
            "select current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
        assert engine.backend == "duckdb"
    assert limit in ("1.0 GiB", "953.6 MiB")
    assert threads == 1


@pytest.mark.parametrize(("section", "expected"), [
    ({"backend": "sparkk"}, "engine.backend"),
    ({"duckdb": {"memory_limit": "lots"}}, "'512MB' or '4GB'"),
    ({"spark": {"conf": {"spark.sql.session.timeZone": "Europe/Paris"}}}, "must stay 'UTC'"),
    ({"spark": {"mastr": "local[2]"}}, "Did you mean 'master'"),
])
def test_bad_engine_settings_say_what_to_fix(section: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match="run the command again") as err:
        parse_config({"engine": section})
    assert expected in str(err.value)


def test_spark_without_pyspark_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if the spark extra were not installed
    with (Engine.in_memory(parse_config({"engine": {"backend": "spark"}})) as engine,
          pytest.raises(BackendError, match=r"needs pyspark.*commetrics\[spark\]")):
        engine.conversion(outcome="trial_start")


def test_the_duckdb_backend_writes_no_mirror(workspace: Path, tmp_path: Path) -> None:
    with Engine(workspace) as engine:
        load(engine, "members", _members(tmp_path / "m.csv", [[MEMBER, EMAIL, "2026-01-05", "true", "seo", ""]]))
    assert not (workspace / "warehouse").exists()
    assert Mirror(workspace / "warehouse").recorded() is None


def test_the_mirror_command_writes_and_checks(spark_workspace: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    runner = CliRunner()
    shutil.rmtree(spark_workspace / "warehouse")
    behind = runner.invoke(app, ["mirror", "--check", "--workspace", str(spark_workspace)])
    assert behind.exit_code == 1
    assert "Run `commetrics mirror`" in behind.output
    wrote = runner.invoke(app, ["mirror", "--json", "--workspace", str(spark_workspace)])
    assert wrote.exit_code == 0, wrote.output
    assert json.loads(wrote.stdout)["written"]["activities"] == 2
    again = runner.invoke(app, ["mirror", "--workspace", str(spark_workspace)])
    assert "up to date; nothing written" in again.output
    assert runner.invoke(app, ["mirror", "--check", "--workspace", str(spark_workspace)]).exit_code == 0
