"""A workspace or output folder the user may not write to: every command says so, names the place and what
to do — never a raw PermissionError. (The suite runs as root in CI, where permissions do not bind; there the
operating system's refusal is simulated at the same calls.)"""

from __future__ import annotations

import builtins
import errno
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app

from .conftest import NOW, write_csv


def _under(path: Any, roots: list[Path]) -> bool:
    try:
        target = Path(os.fsdecode(path)).resolve()
    except TypeError:  # a file descriptor
        return False
    return any(target == root or root in target.parents for root in roots)


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """``read_only(folder)`` makes ``folder`` unwritable: chmod for ordinary users, simulated for root."""
    roots: list[Path] = []
    chmodded: list[Path] = []

    def deny(path: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    if os.geteuid() == 0:
        real_open, real_os_open = io.open, os.open
        real = {name: getattr(os, name) for name in ("mkdir", "replace", "rename", "unlink", "remove", "rmdir")}

        def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if any(c in mode for c in "wax+") and _under(file, roots):
                deny(file)
            return real_open(file, mode, *args, **kwargs)

        def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) and _under(path, roots):
                deny(path)
            return real_os_open(path, flags, *args, **kwargs)

        def guard(name: str) -> Callable[..., Any]:
            def fake(path: Any, *args: Any, **kwargs: Any) -> Any:
                if _under(path, roots) or any(_under(a, roots) for a in args if isinstance(a, str | Path)):
                    deny(path)
                return real[name](path, *args, **kwargs)
            return fake

        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(os, "open", fake_os_open)
        for name in real:
            monkeypatch.setattr(os, name, guard(name))

    def make(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        roots.append(folder.resolve())
        if os.geteuid() != 0:
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
            chmodded.append(folder)

    yield make
    for folder in chmodded:
        folder.chmod(stat.S_IRWXU)


def _workspace(tmp_path: Path) -> Path:
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at", "consent"],
                                         [[f"m{i}", f"p{i}@acme.io", "2026-01-01", "true"] for i in range(30)]),
                    now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                                            [[f"a{i}", f"m{i % 30}", "2026-06-01", "post"] for i in range(300)]),
                    now=NOW)
    return directory


def _refused(args: list[str], where: Path) -> str:
    result = CliRunner().invoke(app, args, env={"COMMETRICS_DEBUG": ""})
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not raised
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "PermissionError" not in result.output
    assert str(where) in result.output, result.output
    assert "Permission denied" in result.output or "permission" in result.output.lower()
    return result.output


def test_writing_into_a_folder_you_may_not_write(tmp_path: Path, read_only: Callable[[Path], None]) -> None:
    workspace = _workspace(tmp_path)
    locked = tmp_path / "locked"
    read_only(locked)
    out = _refused(["report", "--out", str(locked / "report.html"), "-w", str(workspace)], locked)
    assert "choose another folder" in out
    _refused(["export", "crm", "--target", "hubspot", "--out", str(locked / "crm"), "-w", str(workspace)], locked)
    _refused(["export", "pseudonymised", "--out", str(locked), "-w", str(workspace)], locked)
    _refused(["backup", "--out", str(locked / "b"), "-w", str(workspace)], locked)
    assert list(locked.iterdir()) == []


def test_a_read_only_workspace(tmp_path: Path, read_only: Callable[[Path], None]) -> None:
    workspace = _workspace(tmp_path)
    read_only(workspace)
    out = _refused(["keys", "rotate", "-w", str(workspace)], workspace)
    assert "nothing was changed" in out
    status = CliRunner().invoke(app, ["status", "-w", str(workspace)])  # reading still works
    assert status.exit_code == 0, status.output
    assert "members" in status.output
