"""Backups of a workspace: a consistent snapshot of the store, the config, the keys and the erasure ledger.

A backup is a folder, readable by its owner only, holding

* ``commetrics.duckdb`` — a fresh copy of the store (``COPY FROM DATABASE``: only live rows, so values an
  erasure deleted are not carried into it, and no write-ahead log);
* ``commetrics.toml``, ``commetrics.keys`` and ``commetrics.erasures`` as they were;
* ``manifest.json`` — when, from which workspace, the store's schema version and rows per table, and the
  size and SHA-256 of every file, so that a restore can tell a whole backup from a damaged one.

The caller holds the workspace lock while the snapshot is taken (no command can change the workspace in
between), so the four parts agree with each other. A backup holds personal data and the pseudonym keys:
keep it as safe as the workspace. Restoring it (:mod:`commetrics.engine.maintenance`) applies again every
erasure made since, from the workspace's own ledger.

:func:`check_database` reads every row of every table of a store file: DuckDB checks each block's checksum
as it reads it, so damage anywhere in live data is found, not only where a query happens to look.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from .errors import StoreDamagedError, WorkspaceError
from .store import (
    DATABASE_FILE,
    ERASURE_FILE,
    KEY_FILE,
    MIGRATIONS,
    Workspace,
    connect,
    fsync_path,
    quote_identifier,
    sql_path,
    store_error,
)

__all__ = ["MANIFEST", "DatabaseCheck", "backups", "check_database", "prune", "snapshot", "verify"]

MANIFEST = "manifest.json"
PREFIX = "commetrics-backup-"
#: The workspace files a backup holds beside the store (copied as they are when present).
SIDE_FILES = ("commetrics.toml", KEY_FILE, ERASURE_FILE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _private_copy(source: Path, target: Path) -> None:
    """Copy ``source`` into a new file readable by its owner only."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as handle:
        shutil.copyfileobj(handle, out)
        out.flush()
        os.fsync(out.fileno())


def new_backup_path(folder: Path) -> Path:
    """A fresh folder name in ``folder``: ``commetrics-backup-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return folder / f"{PREFIX}{stamp}"


def snapshot(con: duckdb.DuckDBPyConnection, workspace: Workspace, target: Path) -> dict[str, Any]:
    """Write a backup of ``workspace`` (whose store ``con`` holds open) into the new folder ``target``;
    return its manifest. The caller holds the workspace lock."""
    if target.exists() and any(target.iterdir()):
        raise WorkspaceError(f"{target} already holds files; a backup goes into a new or empty folder.")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by an interrupted backup: never a backup
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.mkdir(mode=0o700)
    try:
        database = partial / DATABASE_FILE
        current = str(con.execute("select current_database()").fetchall()[0][0])
        con.execute(f"attach '{sql_path(database)}' as _backup (read_only false)")
        try:
            con.execute(f"copy from database {quote_identifier(current)} to _backup")
        finally:
            con.execute("detach _backup")
        database.chmod(0o600)
        for name in SIDE_FILES:
            if (workspace.directory / name).exists():
                _private_copy(workspace.directory / name, partial / name)
        manifest = {
            "format": 1,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "workspace": str(workspace.directory),
            "schema_version": len(MIGRATIONS),
            "tables": _row_counts(database),
            "files": {path.name: {"bytes": path.stat().st_size, "sha256": _sha256(path)}
                      for path in sorted(partial.iterdir())},
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (partial / MANIFEST).chmod(0o600)
        for path in partial.iterdir():
            fsync_path(path)
        if target.exists():
            target.rmdir()
        os.replace(partial, target)
        fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _row_counts(database: Path) -> dict[str, int]:
    with connect(database, read_only=True) as con:
        tables = [str(r[0]) for r in con.execute("select table_name from information_schema.tables where "
                                                 "table_schema = 'main' order by table_name").fetchall()]
        return {t: int(con.execute(f"select count(*) from {quote_identifier(t)}").fetchall()[0][0]) for t in tables}


def verify(folder: Path) -> dict[str, Any]:
    """The manifest of the backup in ``folder``, once every file it lists is there with its size and SHA-256
    and the store reads whole; a :class:`StoreDamagedError` (or :class:`WorkspaceError`) says what is wrong."""
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        raise WorkspaceError(f"{folder} is not a commetrics backup (no readable {MANIFEST}). Pass the folder "
                             "`commetrics backup` wrote.") from None
    if DATABASE_FILE not in files:
        raise WorkspaceError(f"The backup {folder} holds no store ({DATABASE_FILE}); it cannot be restored.")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise StoreDamagedError(f"The backup {folder} is incomplete: {name} is missing. Use another backup.")
        if path.stat().st_size != expected.get("bytes") or _sha256(path) != expected.get("sha256"):
            raise StoreDamagedError(f"The backup {folder} is damaged: {name} is not the file it was when the "
                                    "backup was made (its size or SHA-256 differs). Use another backup.")
    check = check_database(folder / DATABASE_FILE)
    if not check.ok:
        raise StoreDamagedError(f"The backup {folder} is damaged: {'; '.join(check.problems)}. Use another backup.")
    return dict(manifest)


def backups(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The backups in ``folder`` with their manifests, oldest first (folders without a manifest are skipped)."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            with contextlib.suppress(OSError, ValueError):
                if path.is_dir() and (path / MANIFEST).is_file():
                    found.append((path, json.loads((path / MANIFEST).read_text(encoding="utf-8"))))
    return sorted(found, key=lambda item: (str(item[1].get("created_at", "")), item[0].name))


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest backups ``commetrics backup`` made in ``folder`` beyond the newest ``keep``."""
    made = [path for path, _ in backups(folder) if path.name.startswith(PREFIX)]
    gone = made[:-keep] if keep > 0 else made
    for path in gone:
        shutil.rmtree(path)
    return gone


@dataclass
class DatabaseCheck:
    """What reading every row of a store file found."""

    ok: bool
    tables: dict[str, int] = field(default_factory=dict)  # rows per table read whole
    problems: list[str] = field(default_factory=list)
    schema_version: int | None = None


def check_database(path: Path) -> DatabaseCheck:
    """Open the store file at ``path`` read-only and read every row of every table (see the module)."""
    check = DatabaseCheck(ok=True)
    try:
        con = connect(path, read_only=True)
    except WorkspaceError as exc:
        return DatabaseCheck(ok=False, problems=[str(exc).split(". Nothing was changed")[0]])
    try:
        names = [str(r[0]) for r in con.execute("select table_name from information_schema.tables where "
                                                "table_schema = current_schema() order by table_name").fetchall()]
        for name in names:
            try:
                row = con.execute(f"select count(*), bit_xor(hash(t)) from {quote_identifier(name)} as t").fetchall()
                check.tables[name] = int(row[0][0])
            except duckdb.Error as exc:
                error = store_error(exc, path)
                check.ok = False
                check.problems.append(f"table {name} cannot be read whole ({str(exc).splitlines()[0]})"
                                      if error is not None else f"table {name}: {exc}")
        if "schema_migrations" in check.tables:
            check.schema_version = int(con.execute("select coalesce(max(version), 0) from schema_migrations"
                                                   ).fetchall()[0][0])
    except duckdb.Error as exc:
        check.ok = False
        check.problems.append(str(exc).splitlines()[0])
    finally:
        con.close()
    return check
