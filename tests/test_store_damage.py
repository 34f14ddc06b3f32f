"""A damaged store (cut short, a flipped byte, a torn write-ahead log, not a database at all) is said to be
damaged, with what to do — never a raw DuckDB traceback, and never read as if nothing were wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.errors import StoreDamagedError

from .conftest import NOW, write_csv


def _filled(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    rows = [[f"a{i}", f"m{i % 300}", f"2026-03-{1 + i % 28:02d}", "post", f"channel {i}"] for i in range(40_000)]
    with Engine.init(workspace) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at", "consent"],
                                         [[f"m{i}", f"p{i}@acme.io", "2026-01-01", "true"] for i in range(300)]),
                    now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "channel"],
                                            rows), now=NOW)
    return workspace


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COMMETRICS_DEBUG": ""})
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not raised
    return result.exit_code, result.output


def _says_damaged(code: int, output: str) -> None:
    assert code == 1, output
    assert "is damaged" in output, output
    assert "commetrics store check" in output
    assert "commetrics restore" in output
    assert "Traceback" not in output
    assert "_duckdb" not in output


@pytest.mark.parametrize("damage", ["cut in half", "last block cut", "not a database", "empty"])
def test_a_cut_or_foreign_store_is_said_to_be_damaged_on_open(tmp_path: Path, damage: str) -> None:
    workspace = _filled(tmp_path)
    store = workspace / "commetrics.duckdb"
    size = store.stat().st_size
    with duckdb.connect(str(store), read_only=True) as con:
        used, block_size = con.execute("select used_blocks, block_size from pragma_database_size()").fetchall()[0]
    end = 3 * 4096 + int(used) * int(block_size)
    with store.open("r+b") as f:
        if damage == "cut in half":
            f.truncate(size // 2)
        elif damage == "last block cut":  # into the last block in use (free blocks may follow it)
            f.truncate(end - 1000)
        elif damage == "not a database":
            f.write(b"member_id,email\nm1,a@b.c\n" * 200)
        else:
            f.truncate(0)
    with pytest.raises(StoreDamagedError, match="is damaged"):
        Engine(workspace, read_only=True)
    _says_damaged(*_cli("status", "-w", str(workspace)))


def test_flipped_bytes_in_the_data_are_said_to_be_damaged_when_read(tmp_path: Path) -> None:
    workspace = _filled(tmp_path)
    store = workspace / "commetrics.duckdb"
    size = store.stat().st_size
    with store.open("r+b") as f:
        for offset in range(3 * 4096 + 1000, size - 4096, 32_768):  # one byte in every 32 KiB of blocks
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))
    code, output = _cli("export", "pseudonymised", "--out", str(tmp_path / "out"), "-w", str(workspace))
    _says_damaged(code, output)


def test_a_torn_write_ahead_log_is_named(tmp_path: Path) -> None:
    workspace = _filled(tmp_path)
    child = ("import sys, os, signal; from commetrics import Engine; e = Engine(sys.argv[1]); "
             "e.store.con.execute(\"set checkpoint_threshold = '1TB'\"); "
             "e.store.con.execute(\"update activities set channel = 'changed'\"); os.kill(os.getpid(), signal.SIGKILL)")
    source = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": source + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", child, str(workspace)], env=env, check=False, timeout=120)
    wal = workspace / "commetrics.duckdb.wal"
    assert wal.stat().st_size > 1000
    with wal.open("r+b") as f:
        f.seek(wal.stat().st_size // 2)
        byte = f.read(1)
        f.seek(wal.stat().st_size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    code, output = _cli("status", "-w", str(workspace))
    _says_damaged(code, output)
    assert "write-ahead log" in output
