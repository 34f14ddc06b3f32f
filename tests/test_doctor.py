"""``commetrics doctor``: every check healthy on a good workspace, and each one broken on purpose."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import stat
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.engine import doctor
from commetrics.store import Workspace

from .conftest import write_csv


@pytest.fixture
def healthy(tmp_path: Path) -> Workspace:
    directory = tmp_path / "ws"
    members = write_csv(tmp_path / "members.csv", ["member_id", "email", "joined_at"],
                        [[f"m{i}", f"u{i}@example.com", "2025-01-01"] for i in range(20)])
    with Engine.init(directory) as engine:
        engine.load("members", members)
    return Workspace.locate(directory)


def _fake_program(folder: Path, name: str, output: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text(f"#!/bin/sh\necho '{output}' >&2\n", encoding="utf-8")
    program.chmod(0o755)
    return program


def test_a_healthy_workspace_is_all_ok(healthy: Workspace) -> None:
    found = {check.name: check for check in doctor.run(healthy.directory)}
    assert list(found) == ["packages", "java", "browser", "config", "store", "disk", "keys", "erasures"]
    for name in ("packages", "config", "store", "disk", "keys", "erasures"):
        assert found[name].level == "ok", found[name]
    assert "tables" in found["store"].detail
    assert "rows" in found["store"].detail
    shown = CliRunner().invoke(app, ["doctor", "-w", str(healthy.directory)])
    assert shown.exit_code in (0, 1)  # java and browser depend on the machine; the workspace's lines do not
    assert "ok       store" in shown.output


def test_packages_below_the_required_version_are_an_error(healthy: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.1" if name == "duckdb" else real(name))
    check = doctor.packages(healthy)
    assert check.level == "error"
    assert "duckdb 0.1 (needs" in check.detail
    assert "pip install" in check.fix


def test_java_found_missing_and_too_old(healthy: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if doctor.java(healthy).detail.startswith("Spark backend not installed"):
        pytest.skip("the Spark extra is not installed")
    home = tmp_path / "jdk"
    _fake_program(home / "bin", "java", 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert doctor.java(healthy).level == "ok"
    _fake_program(home / "bin", "java", 'java version "1.8.0_392"')
    old = doctor.java(healthy)
    assert old.level == "warning"
    assert "Java 8" in old.detail
    assert "openjdk-17" in old.fix
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    missing = doctor.java(healthy)
    assert missing.level == "warning"
    assert "no Java" in missing.detail


def test_browser_found_and_missing(healthy: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    chromium = _fake_program(bin_dir, "chromium", "Chromium 131")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert doctor.browser(healthy) == doctor.Check("browser", "ok", str(chromium))
    chromium.unlink()
    missing = doctor.browser(healthy)
    assert missing.level == "warning"
    assert "apt-get install chromium" in missing.fix


def test_config_invalid_and_workspace_missing(healthy: Workspace, tmp_path: Path) -> None:
    assert doctor.config(healthy).level == "ok"
    healthy.config_path.write_text("[privacy]\nmin_cell_size = 'ten'\n", encoding="utf-8")
    broken = doctor.config(healthy)
    assert broken.level == "error"
    assert "min_cell_size" in broken.detail
    assert "commetrics config" in broken.fix
    nowhere = doctor.config(Workspace.locate(tmp_path / "nowhere"))
    assert nowhere.level == "error"
    assert "commetrics init" in nowhere.fix


def test_store_damaged_busy_and_from_a_newer_version(healthy: Workspace) -> None:
    assert doctor.store(healthy).level == "ok"
    writer = subprocess.Popen(  # another process holds the write lock
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', flush=True);"
         " time.sleep(60)", str(healthy.database_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "open\n"
        busy = doctor.store(healthy)
    finally:
        writer.kill()
        writer.communicate()
    assert busy.level == "error"
    assert "Wait for the other" in busy.fix
    with Engine(healthy.directory) as engine:
        engine.store.con.execute("insert into schema_migrations values (99, now())")
    newer = doctor.store(healthy)
    assert newer.level == "error"
    assert "newer" in newer.detail
    assert "upgrade" in newer.fix
    data = bytearray(healthy.database_path.read_bytes())
    data[:4096] = b"\x00" * 4096  # the header is gone
    healthy.database_path.write_bytes(bytes(data))
    damaged = doctor.store(healthy)
    assert damaged.level == "error"
    assert "backup" in damaged.fix


def test_disk_too_full_for_a_compaction(healthy: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor.disk(healthy).level == "ok"
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9, 1000))
    full = doctor.disk(healthy)
    assert full.level == "warning"
    assert "1,000 B free" in full.detail
    assert "full copy" in full.fix


def test_keys_open_to_others_damaged_or_lost_with_erasures(healthy: Workspace) -> None:
    assert doctor.keys(healthy).level == "ok"
    os.chmod(healthy.keys_path, 0o644)
    shared = doctor.keys(healthy)
    assert shared.level == "warning"
    assert shared.fix == f"chmod 600 {healthy.keys_path}"
    os.chmod(healthy.keys_path, stat.S_IRUSR | stat.S_IWUSR)
    with Engine(healthy.directory) as engine:
        engine.forget("m3")
    healthy.keys_path.rename(healthy.directory / "keys.bak")
    lost = doctor.keys(healthy)
    assert lost.level == "error"
    assert "1 erasures are recorded" in lost.detail
    healthy.keys_path.write_text("{not json", encoding="utf-8")
    assert doctor.keys(healthy).level == "error"


def test_erasures_pending_after_a_restore(healthy: Workspace) -> None:
    before = healthy.database_path.read_bytes()  # a backup taken before the erasure
    with Engine(healthy.directory) as engine:
        engine.forget("m3")
    assert doctor.erasures(healthy) == doctor.Check("erasures", "ok", "1 recorded, all applied and compacted")
    healthy.database_path.write_bytes(before)  # the backup restored: the ledger knows what it does not
    pending = doctor.erasures(healthy)
    assert pending.level == "warning"
    assert "1 not applied" in pending.detail
    assert "commetrics init" in pending.fix
    Engine(healthy.directory).close()  # opening for writing re-applies and compacts
    assert doctor.erasures(healthy).level == "ok"


def test_doctor_exits_one_on_an_error_and_speaks_json(healthy: Workspace) -> None:
    healthy.config_path.write_text("[nonsense]\n", encoding="utf-8")
    shown = CliRunner().invoke(app, ["doctor", "-w", str(healthy.directory)])
    assert shown.exit_code == 1
    assert any(line.startswith("error    config") for line in shown.output.splitlines())
    assert "fix: Fix commetrics.toml" in shown.output
    payload = json.loads(CliRunner().invoke(app, ["doctor", "--json", "-w", str(healthy.directory)]).output)
    assert {"name": "config", "level": "error"}.items() <= next(c for c in payload if c["name"] == "config").items()
