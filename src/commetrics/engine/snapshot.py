"""The store's read copy: commands that only read go on while another command writes.

DuckDB lets one process open a database file for writing, and no other process may open it meanwhile —
not even to read. So while ``commetrics load`` (or a pull, an identity run) holds the store, a report, the
summary or the dashboard would have to wait for it. Instead, every Engine that changed the store publishes
a copy of it when it closes: ``commetrics.snapshot.duckdb`` beside the store, written to a temporary file,
flushed and renamed over the old copy in one step, so a reader sees the old copy or the new one, never a
half-written file. A reader that finds the workspace busy opens that copy read-only at once
(:class:`~commetrics.engine.Engine` with ``read_only=True``) and says its figures are the data as of the
last completed load (:meth:`~commetrics.engine.Engine.data_version`).

The copy holds what the store held after the last write — no more than the workspace already holds; the
file gets the store's permissions. An erasure deletes it before it deletes anything from the store, and
publishes a new one when it is done; ``[store] read_copy = false`` turns it off (reads then wait for
writers, as before). It costs a copy of the store's file after each writing command (measured in
``docs/architecture.md``) and the disk it takes.

A long-lived reader (the dashboard, ``Engine(read_copy=True)``) opens the copy through a hard link of its own
named after the copy's inode (:func:`link`): DuckDB shares one open database per path within a process, so
without it an Engine opened after the copy was replaced would be handed the old copy while an Engine on the old
one is still open. The links go when their last Engine closes, and :func:`remove` deletes them all (an open
Engine keeps reading what it opened, as an open file does, until it is closed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

from ..store import fsync_path

__all__ = ["SNAPSHOT_FILE", "link", "publish", "remove", "unlink"]

SNAPSHOT_FILE = "commetrics.snapshot.duckdb"
_LINKS: dict[Path, int] = {}  # the links this process opened, and how many Engines read each
_LINKING = threading.Lock()


def publish(database: Path, target: Path) -> float:
    """Copy the closed, checkpointed store ``database`` to ``target`` atomically; return the seconds it took.

    A store with a write-ahead log left beside it is not whole in its file: then the old copy is removed
    rather than left describing data that changed."""
    started = time.perf_counter()
    if database.with_name(database.name + ".wal").exists():
        remove(target)
        return time.perf_counter() - started
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(database, partial)
        shutil.copymode(database, partial)
        fsync_path(partial)
        os.replace(partial, target)
        fsync_path(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return time.perf_counter() - started


def remove(target: Path) -> None:
    """Delete the read copy and the readers' links to it (an erasure does this before it deletes anything from the
    store)."""
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    for linked in target.parent.glob(f".{target.name}.*.duckdb"):
        linked.unlink(missing_ok=True)


def link(target: Path) -> Path:
    """A hard link to the read copy ``target`` named after this process and the copy's inode (see the module
    docstring), shared by the Engines of this process reading the same copy; :func:`unlink` when done. Where
    links cannot be made (another file system, no permission), ``target`` itself."""
    with _LINKING:
        _forget_the_dead(target)
        for _ in range(3):
            inode = target.stat().st_ino  # FileNotFoundError: no copy
            linked = target.with_name(f".{target.name}.{os.getpid()}.{inode}.duckdb")
            if linked in _LINKS:
                _LINKS[linked] += 1
                return linked
            try:
                with contextlib.suppress(FileExistsError):  # left by a process with the same id: checked below
                    os.link(target, linked)
                if linked.stat().st_ino == inode:
                    _LINKS[linked] = 1
                    return linked
                linked.unlink(missing_ok=True)  # the copy was replaced meanwhile, or an old link: again
            except OSError:
                return target
        return target


def _forget_the_dead(target: Path) -> None:
    """Remove the links of processes that ended without removing theirs (killed): each holds a whole copy."""
    for linked in target.parent.glob(f".{target.name}.*.duckdb"):
        try:
            pid = int(linked.name.split(".")[-3])
            os.kill(pid, 0)
        except ProcessLookupError:
            linked.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue  # not ours to judge: another user's process, or a name we did not make


def unlink(linked: Path) -> None:
    """One Engine stopped reading ``linked``; the last one removes it."""
    with _LINKING:
        left = _LINKS.get(linked, 0) - 1
        if left > 0:
            _LINKS[linked] = left
            return
        if _LINKS.pop(linked, None) is not None:
            linked.unlink(missing_ok=True)
