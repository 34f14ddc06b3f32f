"""The pseudonym key file is readable by its owner only, whatever was left lying around before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.privacy.keys import Keyring


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277])
def test_rotate_writes_0600_over_a_stale_world_readable_temporary(workspace: Path, umask: int) -> None:
    keys = workspace / "commetrics.keys"
    stale = workspace / "commetrics.keys.tmp"
    stale.write_text("left by a crash", encoding="utf-8")
    stale.chmod(0o644)
    old = os.umask(umask)
    try:
        result = CliRunner().invoke(app, ["keys", "rotate", "-w", str(workspace)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert _mode(keys) == 0o600
    assert not stale.exists()
    assert Keyring.open(keys).active == "k2"


def test_a_temporary_that_is_a_link_is_replaced_not_followed(workspace: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours", encoding="utf-8")
    (workspace / "commetrics.keys.tmp").symlink_to(target)
    with Engine(workspace) as engine:
        engine.rotate_keys()
    assert target.read_text(encoding="utf-8") == "not yours"
    assert _mode(workspace / "commetrics.keys") == 0o600


def test_opening_tightens_a_key_file_that_others_can_read(workspace: Path) -> None:
    keys = workspace / "commetrics.keys"
    keys.chmod(0o644)
    with Engine(workspace, read_only=True) as engine:
        _ = engine.keyring
    assert _mode(keys) == 0o600
