"""The Engine's privacy part: keyed pseudonyms, erasure (``forget``), pseudonymised exports, key rotation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

from .. import schema
from ..errors import WorkspaceError
from ..privacy.erasure import compact, erase_loaded, forget, pending_compaction, read_ledger, reapply
from ..privacy.export import export_pseudonymised
from ..privacy.keys import Keyring
from ..progress import Progress
from . import snapshot
from .cache import CACHE_FOLDER, ResultCache
from .identity import IdentityPart

__all__ = ["PrivacyPart"]


class PrivacyPart(IdentityPart):
    """Everything that protects or removes people."""

    @classmethod
    def init(cls, directory: str | Path | None = None, *, progress: Progress | None = None) -> Self:
        """Create the workspace (folder, ``commetrics.toml``, store, pseudonym keys) if needed and open it.

        The keys (``commetrics.keys``: a random secret, readable by the owner only) are made with the
        workspace, so that every pseudonym of it is keyed from the start."""
        engine = super().init(directory, progress=progress)
        _ = engine.keyring  # opened, or created owner-only
        return engine

    @property
    def _on_disk(self) -> bool:
        return str(self.workspace.directory) != ":memory:"

    @property
    def keyring(self) -> Keyring:
        """The workspace's pseudonym keys (``commetrics.keys``; in memory for :meth:`in_memory`)."""
        if self._keyring is None:
            self._keyring = Keyring.open(self.workspace.keys_path)
        return self._keyring

    def rotate_keys(self) -> tuple[str, str]:
        """Make a new active pseudonym key; the old ones stay for the erasure ledger. Returns
        ``(retired, active)`` key ids. Pseudonymised exports must be written again to move to it."""
        if not self._on_disk:
            raise WorkspaceError("An in-memory engine has no key file to rotate.")
        if not self.workspace.exists:
            raise WorkspaceError(f"No commetrics workspace in {self.workspace.directory}. Run `commetrics init` "
                                 "there first.")
        ring = Keyring.open(self.workspace.keys_path)
        retired = ring.active
        active = ring.rotate()
        self._keyring = ring
        return retired, active

    def _erasure_ledger(self) -> Path | None:
        return self.workspace.erasure_path if self._on_disk else None

    def _erase_loaded(self, con: Any, table: schema.Table, load_id: int) -> int:
        entries = read_ledger(self._erasure_ledger()) if self._on_disk else self._memory_entries
        if not entries:
            return 0  # nothing was ever erased: no key needed, no cost
        return erase_loaded(con, self.keyring, table, load_id, entries)

    def _reopen(self) -> None:
        """Close the store, compact the file (erased values leave the bytes), open it again."""
        self.store.close()
        compact(self.workspace.database_path)
        self.store = self._open_store()

    def _settle_erasures(self) -> None:
        """On open: re-apply erasures the database does not know (restored from an older copy) and
        finish a compaction an interrupted ``forget`` left pending."""
        entries = read_ledger(self.workspace.erasure_path)
        if not entries:
            return
        if reapply(self.store.con, self.keyring, entries):
            self._drop_copies()
            self._store_changed()
        if pending_compaction(self.store.con):
            self._reopen()

    def _drop_copies(self) -> None:
        """Before an erasure: the store's read copy and every cached Result go, whatever they hold."""
        if self._on_disk:
            snapshot.remove(self.snapshot_path)
            ResultCache(self.workspace.directory / CACHE_FOLDER).clear()

    def export_pseudonymised(self, out: str | Path, *, tables: Sequence[str] | None = None,
                             file_format: Literal["parquet", "csv"] = "parquet") -> dict[str, Any]:
        """Write the store's tables into the folder ``out`` with every person identifier replaced by
        its keyed pseudonym (HMAC-SHA-256, workspace key), names and attributes left out, and only
        members and contacts with consent; returns the manifest (also ``manifest.json``). See
        :mod:`commetrics.privacy.export`."""
        return export_pseudonymised(self.store.con, self.keyring, Path(out), tables=tables, file_format=file_format)

    def forget(self, identifier: str) -> dict[str, Any]:
        """Erase one person — an e-mail, member id or contact id — from every table.

        Every member and contact resolved into the same person goes too. The erasure is recorded
        with keyed pseudonyms only (``erasures`` table and the ``commetrics.erasures`` file), the
        database file is compacted so the deleted bytes are gone, and later loads drop the
        person's rows on arrival. A repeated request changes nothing and says so. Exports and
        reports written before must be written again; the result says which tables changed.
        See :mod:`commetrics.privacy.erasure`.
        """
        self._writable("Erasure")
        self._drop_copies()
        reporter = self._reporter("erasure")
        with reporter.stage("deleting"):
            result = forget(self.store.con, self.keyring, identifier, ledger=self._erasure_ledger())
        if result.erasure_id and self.store.con.execute("select count(*) from identity_runs").fetchall()[0][0]:
            # the derived people: the rest of a merged person may stand apart now, and the groups the
            # erased records belonged to are smaller; every record is resolved again (with the stored model)
            self.resolve_identities(full=True)
        if not self._on_disk and result.erasure_id:
            self._memory_entries.append(result.entry)
        compacted = False
        if self._on_disk and result.erasure_id:
            with reporter.stage("compacting"):  # the store's file copied afresh: the deleted bytes go
                self._reopen()
            compacted = True
        if result.erasure_id:
            self._store_changed()  # the mirror's files of the loads that held the person are rewritten
        out = result.as_dict()
        out["compacted"] = compacted
        return out
