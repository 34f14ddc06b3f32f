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
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..store import fsync_path

__all__ = ["SNAPSHOT_FILE", "publish", "remove"]

SNAPSHOT_FILE = "commetrics.snapshot.duckdb"


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
    """Delete the read copy (an erasure does this before it deletes anything from the store)."""
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
