"""The Engine's care of the workspace itself: backups, restores and checking the store.

``backup`` writes a consistent snapshot (:mod:`commetrics.backup`) while the engine holds the workspace lock.
``restore`` puts a backup back: it checks the backup whole first, keeps the current state as a backup of its
own (or, when the store is damaged, moves it aside), merges the pseudonym keys and erasure ledgers so that
nothing erased since the backup can come back, replaces the store in one rename, and opens the workspace,
which applies every erasure the backup does not know and compacts the file. ``check_store`` reads every row
and says what is wrong and what to do.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import backup as backups_
from ..errors import ConfigError, StoreUnavailableError, WorkspaceError
from ..lock import WorkspaceLock
from ..privacy.erasure import pending_compaction, read_ledger, still_present
from ..privacy.keys import Keyring
from ..store import DATABASE_FILE, ERASURE_FILE, KEY_FILE, MIGRATIONS, Workspace, connect, fsync_path
from .privacy import PrivacyPart

__all__ = ["Finding", "MaintenancePart", "StoreCheck"]


@dataclass(frozen=True)
class Finding:
    """One thing ``check_store`` looked at: ``ok``, what it found, and what to do when it is not ok."""

    name: str
    ok: bool
    detail: str
    advice: str = ""


@dataclass
class StoreCheck:
    """What :meth:`MaintenancePart.check_store` found; ``ok`` when nothing needs doing."""

    workspace: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "ok": self.ok,
                "findings": [{"name": f.name, "ok": f.ok, "detail": f.detail, "advice": f.advice}
                             for f in self.findings]}


class MaintenancePart(PrivacyPart):
    """Backups, restores and the store check."""

    def backup(self, out: str | Path | None = None) -> dict[str, Any]:
        """Write a backup of the workspace — store, config, keys, erasure ledger — into ``out`` (a new folder),
        by default a new ``commetrics-backup-<time>`` in the workspace's ``backups`` folder, of which the newest
        ``store.backups_kept`` are kept. Returns its manifest with ``path`` and ``pruned`` (backups deleted)."""
        if not self._on_disk:
            raise WorkspaceError("An in-memory engine has no workspace to back up.")
        if self.data_version().snapshot:
            raise StoreUnavailableError(
                f"The workspace {self.workspace.directory} is busy: another commetrics command is changing it, so a "
                "backup now would copy the store's read copy, not the store. Nothing was written. Run it again when "
                "the other command has finished.")
        folder = self.workspace.backups_path
        target = Path(out) if out is not None else backups_.new_backup_path(folder)
        manifest = backups_.snapshot(self.store.con, self.workspace, target)
        pruned = [] if out is not None else backups_.prune(folder, self.config.store.backups_kept)
        return {"path": str(target), **manifest, "pruned": [str(p) for p in pruned]}

    @classmethod
    def backups(cls, directory: str | Path | None = None) -> list[dict[str, Any]]:
        """The backups in the workspace's ``backups`` folder, oldest first: ``path`` and their manifests."""
        workspace = Workspace.locate(directory)
        return [{"path": str(path), **manifest} for path, manifest in backups_.backups(workspace.backups_path)]

    @classmethod
    def restore(cls, directory: str | Path | None = None, backup: str | Path | None = None) -> dict[str, Any]:
        """Put a backup back (the latest in the workspace's ``backups`` folder unless ``backup`` names one).

        The backup is checked whole first; the current state is kept as a backup of its own
        (``pre-restore-<time>``), or moved aside as ``commetrics.duckdb.damaged-<time>`` when it cannot be
        read. Keys and erasure ledgers are merged, not replaced, and every erasure the backup does not know is
        applied again before anything can read the store. Returns what was done."""
        workspace = Workspace.locate(directory)
        workspace.directory.mkdir(parents=True, exist_ok=True)  # a new folder: the backup becomes its workspace
        with WorkspaceLock.acquire(workspace.directory, exclusive=True, wait=_config_wait(workspace)):
            source = _chosen(workspace, backup)
            manifest = backups_.verify(source)
            kept, set_aside = _keep_current(workspace)
            _merge_keys(workspace, source)
            entries = _merge_ledgers(workspace, source)
            known = _known_erasures(source / DATABASE_FILE)
            if (source / "commetrics.toml").exists():
                _replace(source / "commetrics.toml", workspace.config_path, mode=None)
            wal = workspace.database_path.with_name(workspace.database_path.name + ".wal")
            wal.unlink(missing_ok=True)  # the log of the store being replaced: applied to the backup it would harm
            _replace(source / DATABASE_FILE, workspace.database_path, mode=0o600)
            missing = [e for e in entries if e.get("erasure_id") not in known]
            with cls(workspace.directory) as engine:  # opening applies the missing erasures and compacts
                deleted = _reapplied_rows(engine, missing)
                tables = engine.store.row_counts()
                engine._store_changed()  # other data now: a new data version, read copy and cache
        return {"restored": str(source), "created_at": manifest.get("created_at"), "previous_state": kept,
                "damaged_store_moved_to": set_aside, "erasures_reapplied": len(missing), "rows_erased": deleted,
                "tables": tables}

    @classmethod
    def check_store(cls, directory: str | Path | None = None) -> StoreCheck:
        """Read the whole workspace and say what is wrong and what to do: the store (every row of every table,
        so damage anywhere in live data is found), the loads' accounting, erasures (applied, compacted, none of
        the erased present), the keys (readable, owner-only), the config, and the latest backup."""
        workspace = Workspace.locate(directory)
        if not workspace.exists:
            raise WorkspaceError(f"No commetrics workspace in {workspace.directory}. Run `commetrics init` there, or "
                                 "pass --workspace.")
        report = StoreCheck(str(workspace.directory))
        with workspace.lock(exclusive=False, wait=_config_wait(workspace)):
            database = backups_.check_database(workspace.database_path)
            restore = ("Run `commetrics restore` to go back to the latest backup (erasures made since are applied "
                       "again).")
            if database.ok:
                report.findings.append(Finding("store", True, f"{sum(database.tables.values()):,} rows in "
                                               f"{len(database.tables)} tables, every one read whole"))
                report.findings += _store_findings(workspace, database.schema_version)
            else:
                report.findings.append(Finding("store", False, "; ".join(database.problems), restore))
            report.findings += _file_findings(workspace)
        return report


# ---- restore ------------------------------------------------------------------------------------------------


def _config_wait(workspace: Workspace) -> float:
    try:
        return workspace.config().store.lock_wait_seconds
    except ConfigError:
        return 10.0


def _chosen(workspace: Workspace, backup: str | Path | None) -> Path:
    if backup is not None:
        return Path(backup).expanduser().resolve()
    found = backups_.backups(workspace.backups_path)
    if not found:
        raise WorkspaceError(f"No backup in {workspace.backups_path}. Name the backup folder to restore "
                             "(`commetrics restore FOLDER`); `commetrics backup` makes one.")
    return found[-1][0]


def _keep_current(workspace: Workspace) -> tuple[str | None, str | None]:
    """Keep the state being replaced: a backup when the store reads whole, else the files moved aside."""
    store = workspace.database_path
    if not store.exists():
        return None, None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    if backups_.check_database(store).ok:
        target = workspace.backups_path / f"pre-restore-{stamp}"
        with connect(store, read_only=True) as con:
            backups_.snapshot(con, workspace, target)
        return str(target), None
    aside = store.with_name(f"{store.name}.damaged-{stamp}")
    os.replace(store, aside)
    wal = store.with_name(store.name + ".wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + ".wal"))
    return None, str(aside)


def _merge_keys(workspace: Workspace, source: Path) -> None:
    """The workspace's keys plus those of the backup: every pseudonym in either ledger stays matchable."""
    theirs_path = source / KEY_FILE
    if not theirs_path.exists():
        return
    theirs = Keyring.open(theirs_path)
    if not workspace.keys_path.exists():
        Keyring(dict(theirs.keys), theirs.active, workspace.keys_path, dict(theirs.created)).save()
        return
    ours = Keyring.open(workspace.keys_path)
    clash = [k for k in theirs.keys if k in ours.keys and ours.keys[k] != theirs.keys[k]]
    if clash:
        raise WorkspaceError(f"The backup {source} comes from another workspace: its key {clash[0]} differs from "
                             "this workspace's. Restore it into a workspace of its own (commetrics restore FOLDER "
                             "--workspace NEW_FOLDER); nothing was changed here.")
    merged = {**theirs.keys, **ours.keys}
    if merged != ours.keys:
        Keyring(merged, ours.active, workspace.keys_path, {**theirs.created, **ours.created}).save()


def _merge_ledgers(workspace: Workspace, source: Path) -> list[dict[str, Any]]:
    """Every erasure of the workspace's ledger and of the backup's, once each, oldest first."""
    entries: dict[str, dict[str, Any]] = {}
    for entry in [*read_ledger(source / ERASURE_FILE), *read_ledger(workspace.erasure_path)]:
        entries.setdefault(str(entry.get("erasure_id")), entry)
    merged = sorted(entries.values(), key=lambda e: str(e.get("requested_at", "")))
    if merged and merged != read_ledger(workspace.erasure_path):
        temporary = workspace.erasure_path.with_name(ERASURE_FILE + ".tmp")
        temporary.unlink(missing_ok=True)
        with temporary.open("x", encoding="utf-8") as handle:
            handle.writelines(json.dumps(e, sort_keys=True) + "\n" for e in merged)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, workspace.erasure_path)
    return merged


def _known_erasures(database: Path) -> set[str]:
    with connect(database, read_only=True) as con:
        present = con.execute("select count(*) from information_schema.tables where table_name = 'erasures'"
                              ).fetchall()[0][0]
        return {str(r[0]) for r in con.execute("select erasure_id from erasures").fetchall()} if present else set()


def _replace(source: Path, target: Path, *, mode: int | None) -> None:
    """Copy ``source`` over ``target`` in one rename (a crash leaves the old file or the new one)."""
    temporary = target.with_name(target.name + ".restoring")
    temporary.unlink(missing_ok=True)
    backups_._private_copy(source, temporary)
    if mode is None:
        temporary.chmod(0o644 if not target.exists() else stat.S_IMODE(target.stat().st_mode))
    os.replace(temporary, target)
    fsync_path(target.parent)


def _reapplied_rows(engine: PrivacyPart, missing: list[dict[str, Any]]) -> int:
    if not missing:
        return 0
    ids = [str(e["erasure_id"]) for e in missing]
    rows = engine.store.con.execute("select rows_deleted from erasures where erasure_id in "
                                    "(select unnest(?::varchar[]))", [ids]).fetchall()
    detail = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    return sum(int(v) for k, v in detail.items() if k != "reapplied")


# ---- check --------------------------------------------------------------------------------------------------


def _store_findings(workspace: Workspace, version: int | None) -> list[Finding]:
    findings = []
    with connect(workspace.database_path, read_only=True) as con:
        if version is not None and version < len(MIGRATIONS):
            findings.append(Finding("schema", True, f"schema version {version}; the next command that changes "
                                    f"the workspace brings it to {len(MIGRATIONS)}"))
        unbalanced = con.execute("select count(*) from load_ledger where rows_read <> rows_loaded + "
                                 "rows_quarantined + rows_duplicate + coalesce(rows_erased, 0)").fetchall()[0][0]
        loads = con.execute("select count(*) from load_ledger").fetchall()[0][0]
        findings.append(Finding("loads", not unbalanced,
                                f"{_n(loads, 'load')}, each with read = loaded + quarantined + duplicates + erased"
                                if not unbalanced else f"{unbalanced:,} of {loads:,} loads do not add up",
                                "" if not unbalanced else "Load those files again (loading adds nothing twice)."))
        pending = pending_compaction(con)
        entries = read_ledger(workspace.erasure_path)
        present = still_present(con, Keyring.open(workspace.keys_path), entries) if entries and \
            workspace.keys_path.exists() else 0
    findings.append(Finding(
        "erasures", not pending and not present,
        f"{_n(len(entries), 'erasure')} in the ledger; none of those people is in the store" if not pending and
        not present else f"{present:,} identifiers of erased people are in the store" if present else
        "an erasure's compaction is unfinished: deleted values may still be in the file's bytes",
        "" if not pending and not present else "Run any command that changes the workspace (for example "
        "`commetrics identity resolve`): opening it applies every erasure and compacts the file."))
    return findings


def _file_findings(workspace: Workspace) -> list[Finding]:
    findings = []
    try:
        workspace.config()
        findings.append(Finding("config", True, f"{workspace.config_path.name} is valid"))
    except ConfigError as exc:
        findings.append(Finding("config", False, str(exc).splitlines()[0], "Fix the file; `commetrics config` "
                                "lists every setting."))
    keys = workspace.keys_path
    if not keys.exists():
        findings.append(Finding("keys", True, "no pseudonym keys yet (made on first use)"))
    else:
        mode = stat.S_IMODE(keys.stat().st_mode)
        try:
            ring = Keyring.open(keys)
            wide = stat.S_IMODE(keys.stat().st_mode) & 0o077
            findings.append(Finding("keys", not wide, f"{_n(len(ring.keys), 'key')}, active {ring.active}, mode "
                                    f"{mode:o}" if not wide else f"{keys} may be read by others (mode {mode:o})",
                                    "" if not wide else f"Run `chmod 600 {keys}` as its owner."))
        except WorkspaceError as exc:
            findings.append(Finding("keys", False, str(exc), "Restore commetrics.keys from a backup "
                                    "(`commetrics restore`)."))
    found = backups_.backups(workspace.backups_path)
    if found:
        created = str(found[-1][1].get("created_at", "?"))
        findings.append(Finding("backup", True, f"{_n(len(found), 'backup')}; the latest from {created} "
                                f"({found[-1][0]})"))
    else:
        findings.append(Finding("backup", True, f"no backup in {workspace.backups_path}; `commetrics backup` makes "
                                "one"))
    return findings


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
