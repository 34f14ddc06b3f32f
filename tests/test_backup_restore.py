"""ER-7: backups and restores. A backup is a consistent snapshot of store, config, keys and erasure ledger; a
restore puts it back, keeps what it replaces, and no one erased after the backup comes back."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from commetrics import Engine, StoreUnavailableError, WorkspaceError
from commetrics.cli import app
from commetrics.privacy.keys import Keyring

from .conftest import NOW, write_csv

PERSON = r"(^|[^a-z0-9.])(m-jane|c-jane|jane\.roe@acme\.io|janeroe)($|[^a-z0-9-])"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COMMETRICS_DEBUG": ""})
    assert isinstance(result.exception, SystemExit | None), result.exception  # handled, not raised
    return result.exit_code, result.output


def _mentions(con: duckdb.DuckDBPyConnection) -> int:
    total = 0
    for table, column in con.execute("select table_name, column_name from information_schema.columns where "
                                     "data_type in ('VARCHAR', 'JSON') and table_schema = current_schema()").fetchall():
        total += con.execute(f'select count(*) from "{table}" where regexp_matches(lower("{column}"::varchar), ?)',
                             [PERSON]).fetchall()[0][0]
    return int(total)


def _counts(workspace: Path) -> dict[str, int]:
    with Engine(workspace, read_only=True) as engine:
        return engine.status().tables


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    with Engine.init(workspace) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "email", "handle", "joined_at", "consent"], [
            ["m-jane", "Jane.Roe@acme.io", "@JaneRoe", "2026-01-05", "true"],
            *[[f"m{i}", f"p{i}@acme.io", f"p{i}", "2026-01-06", "true"] for i in range(40)],
            ["m-bad", "Jane.Roe+x@acme.io", "", "not a date", "true"],  # quarantined, and hers
        ]), now=NOW)
        engine.load("contacts", write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at"],
                                          [["c-jane", "jane.roe@acme.io", "Jane Roe", "2026-02-01"]]), now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
            *[[f"j{i}", "m-jane", "2026-03-01", "post"] for i in range(5)],
            *[[f"a{i}", f"m{i % 40}", "2026-03-02", "post"] for i in range(400)]]), now=NOW)
    return workspace


def test_backup_forget_restore_round_trip(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    code, out = _cli("backup", "-w", str(workspace))
    assert code == 0, out
    before = _counts(workspace)
    (backup,) = (workspace / "backups").iterdir()
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {"commetrics.duckdb", "commetrics.toml", "commetrics.keys"}
    assert manifest["tables"]["activities"] == 405
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert all(stat.S_IMODE((backup / n).stat().st_mode) == 0o600 for n in manifest["files"])
    with duckdb.connect(str(backup / "commetrics.duckdb"), read_only=True) as con:
        assert _mentions(con) > 0  # the backup holds her: the restore below can fail

    # After the backup: a key rotation, then the erasure (its ledger entry under the new key k2), then new data.
    assert _cli("keys", "rotate", "-w", str(workspace))[0] == 0
    assert _cli("forget", "jane.roe@acme.io", "--yes", "-w", str(workspace))[0] == 0
    with Engine(workspace) as engine:
        engine.load("activities", write_csv(tmp_path / "late.csv", ["activity_id", "member_id", "ts", "type"],
                                            [[f"late{i}", "m1", "2026-04-01", "post"] for i in range(7)]), now=NOW)
        after = engine.status().tables
    ledger = (workspace / "commetrics.erasures").read_text(encoding="utf-8")
    assert json.loads(ledger)["pseudonyms"]["email"][0].startswith("k2:")

    code, out = _cli("restore", "--yes", "-w", str(workspace))
    assert code == 0, out
    assert "1 erasure(s) made after the backup were applied again" in out
    with Engine(workspace, read_only=True) as engine:
        assert _mentions(engine.store.con) == 0  # she did not come back: not in any table, quarantine included
        tables = engine.status().tables
    assert tables["activities"] == before["activities"] - 5  # the backup's rows, less hers
    assert tables["members"] == before["members"] - 1
    assert tables["quarantine"] == before["quarantine"] - 1
    raw = (workspace / "commetrics.duckdb").read_bytes().lower()
    assert b"jane.roe" not in raw
    assert b"m-jane" not in raw
    ring = Keyring.open(workspace / "commetrics.keys")
    assert (sorted(ring.keys), ring.active) == (["k1", "k2"], "k2")  # both keys: both ledgers stay matchable
    assert stat.S_IMODE((workspace / "commetrics.keys").stat().st_mode) == 0o600
    assert (workspace / "commetrics.erasures").read_text(encoding="utf-8") == ledger

    # What the restore replaced was kept: restoring it brings the late rows back, and still not her.
    (kept,) = [p for p in (workspace / "backups").iterdir() if p.name.startswith("pre-restore-")]
    code, out = _cli("restore", str(kept), "--yes", "-w", str(workspace))
    assert code == 0, out
    assert _counts(workspace) == after
    with Engine(workspace, read_only=True) as engine:
        assert _mentions(engine.store.con) == 0
    code, out = _cli("store", "check", "-w", str(workspace))
    assert code == 0, out
    assert "Everything is in order." in out


def test_a_damaged_backup_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    with Engine(workspace, read_only=True) as engine:
        made = engine.backup(tmp_path / "b")
    assert made["path"] == str(tmp_path / "b")
    database = tmp_path / "b" / "commetrics.duckdb"
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))
    before = (workspace / "commetrics.duckdb").read_bytes()
    code, out = _cli("restore", str(tmp_path / "b"), "--yes", "-w", str(workspace))
    assert code == 1
    assert "is damaged" in out
    assert "commetrics.duckdb is not the file it was" in out
    assert (workspace / "commetrics.duckdb").read_bytes() == before
    assert not (workspace / "backups").exists()
    with pytest.raises(WorkspaceError, match="not a commetrics backup"):
        Engine.restore(workspace, tmp_path)


def test_a_damaged_store_is_found_by_the_check_and_replaced_by_the_latest_backup(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    assert _cli("backup", "-w", str(workspace))[0] == 0
    before = _counts(workspace)
    store = workspace / "commetrics.duckdb"
    data = bytearray(store.read_bytes())
    for offset in range(3 * 4096 + 500, len(data) - 4096, 16_384):  # damage in every 16 KiB of blocks
        data[offset] ^= 0xFF
    store.write_bytes(bytes(data))
    code, out = _cli("store", "check", "-w", str(workspace))
    assert code == 1
    assert re.search(r"PROBLEM\s+store\s+(table \w+ cannot be read whole|The store .* is damaged)", out), out
    code, out = _cli("restore", "--yes", "-w", str(workspace))
    assert code == 0, out
    assert "The damaged store it replaced was moved to" in out
    assert _counts(workspace) == before
    assert len(list(workspace.glob("commetrics.duckdb.damaged-*"))) == 1
    assert _cli("store", "check", "-w", str(workspace))[0] == 0


def test_a_backup_from_another_workspace_is_not_mixed_in(tmp_path: Path) -> None:
    one = _workspace(tmp_path / "one")
    other = tmp_path / "other"
    Engine.init(other).close()
    with Engine(other, read_only=True) as engine:
        engine.backup(tmp_path / "foreign")
    code, out = _cli("restore", str(tmp_path / "foreign"), "--yes", "-w", str(one))
    assert code == 1
    assert "comes from another workspace" in out
    assert _cli("restore", str(tmp_path / "foreign"), "--yes", "-w", str(tmp_path / "new"))[0] == 0  # a new one


def test_backups_are_pruned_and_a_busy_workspace_waits(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    config = workspace / "commetrics.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[store]\nbackups_kept = 2\nlock_wait_seconds = 0.2\n",
                      encoding="utf-8")
    for _ in range(3):
        assert _cli("backup", "-w", str(workspace))[0] == 0
    assert len(Engine.backups(workspace)) == 2
    from .test_workspace_lock import _hold, _release

    writer = _hold(workspace)  # a command changing the workspace: a backup now would not be consistent
    try:
        code, out = _cli("backup", "-w", str(workspace))
        assert code == 1
        assert "is busy" in out
        with pytest.raises(StoreUnavailableError):
            Engine.restore(workspace)
    finally:
        _release(writer)
    assert len(Engine.backups(workspace)) == 2
