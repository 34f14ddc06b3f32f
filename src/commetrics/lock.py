"""The workspace lock: one writer at a time, readers only while nobody writes.

DuckDB lets one process write a database file, and commetrics replaces that file when it compacts the
store after an erasure (``forget``) or restores a backup. Without a lock of its own, a second command
could open the file between those steps and fail with a raw I/O error, or find a half-finished
compaction. So every :class:`~commetrics.engine.Engine` over a workspace holds ``commetrics.lock`` beside
the store while it is open: exclusively when it may write, shared when it only reads. A command that
cannot get the lock within ``store.lock_wait_seconds`` stops with a :class:`StoreUnavailableError` that
says who holds it and to run again once they are done. Nothing has been changed at that point.

The lock is an advisory ``flock`` on the lock file; the operating system releases it when the process
ends, however it ends, so a killed command never leaves the workspace locked. Within one process the
lock is shared by every engine over the same workspace (a library user may open two).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import StoreUnavailableError, WorkspaceError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; DuckDB's own lock still guards the file
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "WorkspaceLock"]

LOCK_FILE = "commetrics.lock"
_POLL_SECONDS = 0.05


@dataclass
class _Held:
    descriptor: int
    exclusive: bool
    count: int


_HELD: dict[Path, _Held] = {}  # lock file -> what this process holds


class WorkspaceLock:
    """A hold on a workspace's lock; :meth:`release` (or ``with``) gives it back."""

    def __init__(self, path: Path, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._released = False

    @classmethod
    def acquire(cls, directory: Path, *, exclusive: bool, wait: float = 10.0, what: str = "") -> WorkspaceLock:
        """Hold the lock of the workspace in ``directory`` (created if missing), waiting up to ``wait`` s."""
        path = directory / LOCK_FILE
        held = _HELD.get(path)
        if held is not None and (held.exclusive or not exclusive):
            held.count += 1
            return cls(path, exclusive)
        if held is not None:  # this process reads and now wants to write: upgrade the one lock it holds
            _lock(held.descriptor, path, exclusive=True, wait=wait)
            held.exclusive = True
            held.count += 1
            return cls(path, exclusive)
        cloexec = getattr(os, "O_CLOEXEC", 0)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o600)
        except OSError as exc:
            if exclusive:
                raise WorkspaceError(
                    f"Cannot change the workspace {directory}: {exc.strerror or exc} ({path}). The workspace folder "
                    "must be writable by you to change it: check its owner and permissions. Nothing was changed."
                ) from None
            try:  # reading a folder we may not write: a shared lock needs only read access
                descriptor = os.open(path, os.O_RDONLY | cloexec)
            except OSError:
                return cls(path, exclusive)  # no lock file and no right to make one: nobody else can write either
        try:
            _lock(descriptor, path, exclusive=exclusive, wait=wait)
        except BaseException:
            os.close(descriptor)
            raise
        if exclusive:
            _describe_holder(descriptor, what)
        _HELD[path] = _Held(descriptor, exclusive, 1)
        return cls(path, exclusive)

    def release(self) -> None:
        """Give the hold back (the last hold of the process unlocks the file)."""
        if self._released:
            return
        self._released = True
        held = _HELD.get(self.path)
        if held is None:
            return
        held.count -= 1
        if held.count == 0:
            del _HELD[self.path]
            if held.exclusive:  # the next reader must not name this process as the writer
                with contextlib.suppress(OSError):
                    os.ftruncate(held.descriptor, 0)
            os.close(held.descriptor)  # closing the descriptor releases the flock

    def __enter__(self) -> WorkspaceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(descriptor: int, path: Path, *, exclusive: bool, wait: float) -> None:
    if fcntl is None:
        return
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(descriptor, mode)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreUnavailableError(_busy(path, exclusive, wait)) from None
            time.sleep(_POLL_SECONDS)


def _describe_holder(descriptor: int, what: str) -> None:
    """Write who holds the lock for writing into the lock file, for the message another command shows."""
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    # The command's name only: its arguments may be a person's address (`forget`), never written down.
    command = what or ("commetrics " + first if re.fullmatch(r"[a-z][a-z-]*", first) else "commetrics")
    text = f"{os.getpid()}\n{command}\n{datetime.now(UTC).isoformat(timespec='seconds')}\n".encode()
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, text, 0)


def _holder(path: Path) -> str:
    """Who holds the lock for writing, as the lock file says (empty when unknown or gone)."""
    try:
        pid, command, since = path.read_text(encoding="utf-8").splitlines()[:3]
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return ""
    return f" (process {pid}, `{command}`, since {since})"


def _busy(path: Path, exclusive: bool, wait: float) -> str:
    doing = "change" if exclusive else "read"
    holder = _holder(path)
    other = f"another commetrics command is using it{holder}" if holder else "another commetrics command is using it"
    return (f"The workspace {path.parent} is busy: {other}, so this command cannot {doing} it now (waited "
            f"{wait:g} s). Nothing was changed. Run it again when the other command has finished; "
            "store.lock_wait_seconds sets how long to wait.")
