"""CR-1..3: a load killed at any point leaves the store consistent; re-running loads the rest once.

Each drill runs real loader processes (tests/crash_child.py) and kills them with SIGKILL.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from commetrics import Engine

CHILD = Path(__file__).with_name("crash_child.py")

pytestmark = pytest.mark.slow


def _batches(directory: Path, batches: int, rows: int) -> list[Path]:
    """``batches`` CSV files of ``rows`` activities each, with ids unique across files."""
    con = duckdb.connect()
    files = []
    for b in range(batches):
        path = directory / f"batch_{b:03d}.csv"
        con.execute(
            f"""
            copy (
                select
                    'act-' || ({b} * {rows} + i) as activity_id,
                    'm' || (i % 5000) as member_id,
                    timestamp '2025-01-01' + to_seconds(i * 7) as ts,
                    'post' as type
                from range({rows}) as r(i)
            ) to '{path}' (header, delimiter ',')
            """
        )
        files.append(path)
    con.close()
    return files


def _state(workspace: Path) -> tuple[int, int, int]:
    """(rows in activities, rows_loaded summed over the ledger, distinct activity ids)."""
    with Engine(workspace) as engine:
        con = engine.store.con
        rows, distinct = con.execute("select count(*), count(distinct activity_id) from activities").fetchone()
        ledger = con.execute(
            "select coalesce(sum(rows_loaded), 0) from load_ledger where table_name = 'activities'").fetchone()[0]
    return int(rows), int(ledger), int(distinct)


def _start(mode: str, workspace: Path, files: list[Path]) -> subprocess.Popen[str]:
    # A killed load cannot remove its scratch directory: keep the children's inside the test's own.
    scratch = workspace.parent / "child-tmp"
    scratch.mkdir(exist_ok=True)
    process = subprocess.Popen([sys.executable, str(CHILD), mode, str(workspace), *map(str, files)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(scratch)})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", process.stderr.read() if process.stderr else ""
    return process


def test_cr1_sigkill_during_a_batched_load(tmp_path: Path) -> None:
    """>= 50 SIGKILLs at random points of a 2M-row load in 20 batches; count = ledger after each."""
    files = _batches(tmp_path, batches=20, rows=100_000)
    workspace = tmp_path / "ws"
    Engine.init(workspace).close()
    rng = random.Random(61)
    kills = 0
    runs = 0
    while True:
        runs += 1
        process = _start("batches", workspace, files)
        if kills < 50:
            time.sleep(rng.uniform(0.0, 1.5))
            if process.poll() is None:
                process.kill()
                kills += 1
        process.communicate(timeout=600)
        rows, ledger, distinct = _state(workspace)
        assert rows == ledger == distinct, f"after kill {kills}: rows {rows}, ledger {ledger}, distinct {distinct}"
        if process.returncode == 0:
            break
        assert runs < 500
    assert kills >= 50
    print(f"CR-1: {kills} kills over {runs} runs, count = ledger after every one")
    assert _state(workspace) == (2_000_000, 2_000_000, 2_000_000)
    with Engine(workspace) as engine:
        con = engine.store.con
        loaded = con.execute("select sum(hash(activity_id)), min(activity_id), max(activity_id) from activities")
        source = duckdb.connect().execute(
            "select sum(hash(activity_id)), min(activity_id), max(activity_id) "
            f"from read_csv('{tmp_path}/batch_*.csv', all_varchar = true)")
        assert loaded.fetchone() == source.fetchone()
        # Every file is in the ledger with the loaded rows it added; re-runs added duplicates only.
        per_file = con.execute(
            "select file, sum(rows_loaded) from load_ledger group by file order by file").fetchall()
    assert [(Path(f).name, n) for f, n in per_file] == [(f.name, 100_000) for f in files]


def test_cr2_kill_before_commit_leaves_nothing_and_after_commit_everything(tmp_path: Path) -> None:
    files = _batches(tmp_path, batches=21, rows=2_000)
    workspace = tmp_path / "ws"
    Engine.init(workspace).close()
    with Engine(workspace) as engine:
        engine.load("activities", files[0])
    for _ in range(30):
        process = _start("before-commit", workspace, [files[1]])
        process.communicate(timeout=120)
        assert process.returncode == -9
        assert _state(workspace) == (2_000, 2_000, 2_000)  # 0 partial rows
    for trial in range(20):
        process = _start("after-commit", workspace, [files[trial + 1]])
        process.communicate(timeout=120)
        assert process.returncode == -9
        expected = 2_000 * (trial + 2)
        assert _state(workspace) == (expected, expected, expected)  # every committed row is there


def test_cr3_torn_wal_opens_with_data_equal_to_ledger_and_rerun_restores_totals(tmp_path: Path) -> None:
    files = _batches(tmp_path, batches=4, rows=20_000)
    pristine = tmp_path / "pristine"
    Engine.init(pristine).close()
    for name in files:  # killed right after each COMMIT: the loads sit in the WAL, never checkpointed
        process = _start("after-commit", pristine, [name])
        process.communicate(timeout=120)
    wal = pristine / "commetrics.duckdb.wal"
    assert wal.exists()
    assert wal.stat().st_size > 0
    rng = random.Random(12)
    seen = set()
    for _ in range(12):
        trial = tmp_path / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(pristine, trial)
        trial_wal = trial / "commetrics.duckdb.wal"
        if trial_wal.exists():
            with trial_wal.open("r+b") as f:
                f.truncate(rng.randrange(trial_wal.stat().st_size))
        rows, ledger, distinct = _state(trial)
        assert rows == ledger == distinct
        seen.add(rows)
        with Engine(trial) as engine:
            for name in files:
                engine.load("activities", name)
        assert _state(trial) == (80_000, 80_000, 80_000)
    assert len(seen) > 1  # the cuts landed in different places
