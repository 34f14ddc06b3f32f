"""The Engine's core: the workspace, its store and config, the data's "now", and looking at the store.

It also chooses where analyses run (``[engine] backend``): in the store's own DuckDB session, or on
Spark over the Parquet mirror of the store (:mod:`.mirror`, :mod:`.spark`), which every write of the
Engine — loads, identity runs, erasure — brings up to date.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import duckdb
import pandas as pd

from .. import schema
from ..config import Config
from ..errors import InputError, StoreUnavailableError, WorkspaceError
from ..lock import WorkspaceLock
from ..privacy.consent import consenting
from ..privacy.keys import Keyring
from ..progress import Progress, Reporter
from ..results import jsonable
from ..store import Store, Workspace, bump_data_version, connect, quote_identifier
from . import snapshot
from .cache import CACHE_FOLDER, Aside, DataVersion, ResultCache, data_version
from .mirror import Mirror, Sync

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as IbisBackend
    from ibis.expr.types import Table as IbisTable

    from .spark import SparkAnalytics

__all__ = ["EngineBase", "Status"]


@dataclass(frozen=True)
class Status:
    """What the store holds: rows per table, the latest loads, and quarantine by reason."""

    workspace: str
    tables: dict[str, int]
    loads: pd.DataFrame
    quarantine: pd.DataFrame
    people: int = 0  # resolved people (0: identities never resolved)
    identity_note: str = ""  # why the people may not describe the store ("" when they do)

    def as_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "tables": self.tables, "loads": jsonable(self.loads),
                "quarantine": jsonable(self.quarantine), "people": self.people, "identity_note": self.identity_note}


class EngineBase:
    """State every part of the Engine shares, and the read-only views of the store."""

    workspace: Workspace
    config: Config
    store: Store
    _keyring: Keyring | None
    _lock: WorkspaceLock | None
    _memory_entries: list[dict[str, Any]]
    _batch: list[str] | None
    #: where long operations report their stages (see :mod:`commetrics.progress`); ``None``: to the
    #: listener of the context, if any
    progress: Progress | None
    _spark_session: Any  # a SparkSession the caller passed (None: made from the config when needed)
    _analytics: SparkAnalytics | None
    _mirror_fresh: bool  # whether the mirror was checked against the store since the store last changed
    _scratch: Path | None  # the mirror folder of an in-memory store, removed on close
    #: the published Results of this workspace, when the Engine was opened with ``cache=True`` (see :mod:`.cache`)
    cache: ResultCache | None
    #: held while this Engine waits for a Result or shared data another Engine of the process is computing: a pool
    #: of Engines (the dashboard's) sets it to lend the waiting Engine's place to another question meanwhile
    waiting: Aside = contextlib.nullcontext
    _changed: bool  # this Engine wrote something that can change a figure (the read copy and cache follow on close)
    _on_snapshot: bool  # reading the store's read copy: another command holds the store
    _version: DataVersion | None  # the data version, remembered while nothing can change it
    _read_copy: Path | None  # the link to the read copy opened by choice (a long-lived reader, the dashboard)
    _now: datetime | None  # the data's latest instant, remembered while nothing can change it

    def __init__(self, workspace: str | Path | None = None, *, config: Config | None = None,
                 read_only: bool = False, progress: Progress | None = None, spark: Any = None,
                 cache: bool = False, read_copy: bool = False) -> None:
        self.progress = progress
        self.workspace = Workspace.locate(workspace)
        self.config = config if config is not None else self.workspace.config()
        self._spark_session, self._analytics, self._mirror_fresh, self._scratch = spark, None, False, None
        self._changed, self._on_snapshot, self._version, self._now = False, False, None, None
        self._read_copy, self._interrupted = None, False
        self.cache = ResultCache(self.workspace.directory / CACHE_FOLDER) if cache else None
        if read_copy:
            self._open_read_copy(read_only)
        self._lock = None if read_copy else self._hold(read_only)
        try:
            self.store = self._open_store(read_only=read_only)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            if self._read_copy is not None:
                snapshot.unlink(self._read_copy)
            raise
        self._keyring = None
        self._memory_entries = []  # the erasure ledger of an in-memory store
        self._batch = None  # identity inputs loaded inside ``batch()``
        if not read_only:
            try:
                self._settle_erasures()
            except BaseException:  # never leave the store open or the workspace locked behind an error
                self.close()
                raise

    @classmethod
    def init(cls, directory: str | Path | None = None, *, progress: Progress | None = None) -> Self:
        """Create the workspace (folder, ``commetrics.toml``, store) if needed and open it."""
        Workspace.locate(directory).init()
        return cls(directory, progress=progress)

    @classmethod
    def in_memory(cls, config: Config | None = None, *, progress: Progress | None = None, spark: Any = None) -> Self:
        """An engine over a fresh in-memory store (for notebooks and tests)."""
        engine = cls.__new__(cls)
        engine.progress = progress
        engine.workspace = Workspace(Path(":memory:"))
        engine.config = config or Config()
        engine._spark_session, engine._analytics, engine._mirror_fresh, engine._scratch = spark, None, False, None
        engine._changed, engine._on_snapshot, engine._version, engine.cache = False, False, None, None
        engine._read_copy, engine._now, engine._interrupted = None, None, False
        engine.store = Store(":memory:")
        engine._lock = None
        engine._tune(engine.store)
        engine._keyring = Keyring.create(None)  # lives as long as the store does
        engine._memory_entries = []
        engine._batch = None
        return engine

    @property
    def snapshot_path(self) -> Path:
        """The store's read copy (:mod:`.snapshot`)."""
        return self.workspace.directory / snapshot.SNAPSHOT_FILE

    def _hold(self, read_only: bool) -> WorkspaceLock | None:
        """The workspace lock; a reader that finds a writer holding it reads the read copy instead (None)."""
        wait = self.config.store.lock_wait_seconds
        if not read_only or not self.config.store.read_copy or not self.snapshot_path.is_file():
            return self.workspace.lock(exclusive=not read_only, wait=wait)
        try:
            return self.workspace.lock(exclusive=False, wait=0)
        except StoreUnavailableError:
            self._on_snapshot = True
            return None

    def _open_read_copy(self, read_only: bool) -> None:
        """Open the read copy without the workspace lock: writers never touch the file a reader has open (they
        publish a new one by renaming it over the old), so a long-lived reader never makes a load wait."""
        if not read_only:
            raise InputError("read_copy=True opens the store's read copy, which is read-only: pass read_only=True.")
        try:
            self._read_copy = snapshot.link(self.snapshot_path)
        except FileNotFoundError:
            raise StoreUnavailableError(f"The workspace has no read copy ({self.snapshot_path.name}) yet: run "
                                        "`commetrics refresh`, or open the store itself (read_copy=False).") from None
        self._on_snapshot = True

    def _open_store(self, *, read_only: bool = False) -> Store:
        if self._read_copy is not None:
            return self._tune(Store(self._read_copy, read_only=True))
        if self._on_snapshot:
            return self._tune(Store(self.snapshot_path, read_only=True))
        return self._tune(self.workspace.open_store(read_only=read_only))

    def _tune(self, store: Store) -> Store:
        settings = self.config.engine.duckdb
        store.tune(memory_limit=settings.memory_limit, threads=settings.threads)
        return store

    def _reporter(self, operation: str) -> Reporter:
        """Where ``operation`` reports its stages: this engine's callback, else the context's listener."""
        return Reporter(self.progress, operation)

    def _settle_erasures(self) -> None:
        """Overridden by the privacy part: re-apply erasures on open."""

    # -- the data's now -------------------------------------------------------------------------

    def as_of(self, as_of: datetime | None = None) -> datetime:
        """The "now" analyses use: ``as_of`` (naive read as UTC), else the latest instant loaded.

        Exports are snapshots: measuring against the clock would count the time since the export
        as time in which nobody converted.
        """
        if as_of is None:
            from ..metrics.conversion import data_as_of  # Ibis loads only when an analysis runs

            if self._now is not None:
                return self._now
            now = data_as_of(self.ibis())
            if self.store.read_only:  # nobody writes while a reader holds the workspace, nor the read copy
                self._now = now
            return now
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)

    # -- looking at the store ------------------------------------------------------------------

    def status(self, *, last_loads: int = 10) -> Status:
        """Rows per table, the latest loads and the quarantine summary."""
        con = self.store.con
        loads = con.execute(
            f"""
            select load_id, table_name, source, file, rows_read, rows_loaded, rows_quarantined,
                rows_duplicate, finished_at
            from {schema.LEDGER_TABLE}
            order by load_id desc
            limit $n
            """,
            {"n": last_loads},
        ).df()
        quarantine = con.execute(
            f"""
            select table_name, reason, count(*) as rows
            from {schema.QUARANTINE_TABLE}
            where resolved_by is null  -- rows a later load fixed are resolved
            group by table_name, reason
            order by table_name, rows desc, reason
            """
        ).df()
        people = int(con.execute("select count(distinct person_id) from people").fetchall()[0][0])
        return Status(str(self.workspace.directory), self.store.row_counts(), loads, quarantine, people=people,
                      identity_note=self.identity_note())

    def identity_note(self) -> str:
        """Why the resolved people may not describe the store ("" when they do)."""
        from ..identity.people import stale

        return stale(self.store.con)

    def quarantine(self, *, table: str | None = None, reason: str | None = None,
                   load_id: int | None = None, limit: int | None = None, resolved: bool = False) -> pd.DataFrame:
        """Quarantined rows (file, line, reason, column, detail and the raw record).

        Rows a later load fixed (it loaded their key) are left out unless ``resolved``; with it every
        row is listed, and ``resolved_by`` names the load that fixed it."""
        if table is not None and table not in schema.TABLES:
            msg = f"Unknown table {table!r}; quarantine holds rows of: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        sql = f"""
            select load_id, table_name, source, file, line, reason, column_name, detail, record{
                ", resolved_by" if resolved else ""}
            from {schema.QUARANTINE_TABLE}
            where ($table is null or table_name = $table)
                and ($resolved or resolved_by is null)
                and ($reason is null or reason = $reason)
                and ($load_id is null or load_id = $load_id)
            order by load_id, file, line
        """
        params: dict[str, Any] = {"table": table, "reason": reason, "load_id": load_id, "resolved": resolved}
        if limit is not None:
            sql += " limit $limit"
            params["limit"] = limit
        return self.store.con.execute(sql, params).df()

    def table(self, name: str) -> pd.DataFrame:
        """A whole canonical table as a DataFrame (small tables; analyses use :meth:`ibis`)."""
        if name not in schema.TABLES:
            msg = f"Unknown table {name!r}. Tables: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        columns = ", ".join(quote_identifier(c) for c in (*schema.TABLES[name].column_names, "source", "load_id"))
        return self.store.con.execute(f"select {columns} from {quote_identifier(name)} order by load_id").df()

    def ibis(self) -> IbisBackend:
        """The Ibis connection that analyses use: the store's DuckDB session, or with ``backend = "spark"``
        Spark's, over the mirror — brought up to date first when the store changed."""
        if self.backend != "spark":
            return self.store.ibis()
        if not self._mirror_fresh:
            self.sync_mirror()
        if self._analytics is None:
            self._analytics = self._start_spark()
        backend: IbisBackend = self._analytics.backend()
        return backend

    def ibis_table(self, name: str) -> IbisTable:
        """A canonical table as an Ibis expression: its columns plus ``source`` and ``load_id``."""
        if name not in schema.TABLES:
            msg = f"Unknown table {name!r}. Tables: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        return self.ibis().table(name).select(*schema.TABLES[name].column_names, "source", "load_id")

    # -- the analysis backend ------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """Where analyses run: ``"duckdb"`` or ``"spark"`` (a Spark session passed to the Engine chooses Spark)."""
        return "spark" if self._spark_session is not None else self.config.engine.backend

    def mirror(self) -> Mirror:
        """The Parquet mirror of the store that Spark reads (``[engine.spark] warehouse``)."""
        from .spark import default_warehouse

        settings = self.config.engine.spark
        if str(self.workspace.directory) == ":memory:" and not settings.warehouse:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="commetrics-mirror-"))
            return Mirror(self._scratch)
        return Mirror(default_warehouse(self.workspace.directory, settings))

    def sync_mirror(self) -> Sync:
        """Bring the mirror up to date with the store (only what changed is written); Spark's views are
        made again when a file changed. Runs by itself after loads, identity runs and erasures when
        ``backend = "spark"``, and before an analysis when the store changed since."""
        sync = self.mirror().sync(self.store.con)
        if self._analytics is not None and sync.changed:
            self._analytics.register()
        self._mirror_fresh = True
        return sync

    def data_version(self) -> DataVersion:
        """The version of the data this Engine reads (:class:`~commetrics.engine.cache.DataVersion`): moved on by
        every write that can change a figure, with when the last load finished and whether this is the store's
        read copy (another command is writing)."""
        if self._version is not None:
            return self._version
        version = data_version(self.store.con, snapshot=self._on_snapshot and self._read_copy is None)
        if self.store.read_only:  # nobody writes while a reader holds the workspace, and the read copy never changes
            self._version = version
        return version

    def read_copy_stale(self) -> bool:
        """Whether the store's read copy (:mod:`.snapshot`) is missing or holds another data version than the
        store (a workspace written before read copies were kept, or one whose last write was interrupted)."""
        if not self.snapshot_path.is_file():
            return True
        try:
            with connect(self.snapshot_path, read_only=True) as con:
                copy = data_version(con)
        except (WorkspaceError, duckdb.Error):
            return True
        return copy.key != self.data_version().key

    def publish_read_copy(self) -> None:
        """Publish the read copy of the store, and move the cache to its data version, when this Engine closes —
        even if it wrote nothing (``commetrics refresh`` does this when the copy is stale)."""
        self._writable("Publishing the read copy")
        self._changed = True

    def _store_changed(self) -> None:
        """Every write of the Engine that can change a figure calls this: the data version moves on (the read
        copy and the cache follow when the Engine closes), the mirror is behind now, and is synced at once if
        the config asks for it."""
        bump_data_version(self.store.con)
        self._changed, self._version = True, None
        self._mirror_fresh = False
        if self.backend == "spark" and self.config.engine.spark.mirror_on_load:
            self.sync_mirror()

    def _start_spark(self) -> SparkAnalytics:
        from .spark import SparkAnalytics, start_session

        settings = self.config.engine.spark
        session, owned = (self._spark_session, False) if self._spark_session is not None else start_session(settings)
        analytics = SparkAnalytics(session, self.mirror(), uri=settings.warehouse_uri, owned=owned)
        analytics.register()
        return analytics

    def consenting_members(self) -> set[str]:
        """Members whose person says consent = true on every record: their member rows, the CRM contacts
        resolved into the same person and the records sharing their e-mail (missing consent counts as no).
        See :mod:`commetrics.privacy.consent`."""
        return consenting(self.store.con, "member_id")

    def _writable(self, what: str) -> None:
        if self.store.read_only:
            raise StoreUnavailableError(f"{what} needs a writable workspace; open it without read_only.")

    # -- lifetime --------------------------------------------------------------------------------

    def interrupt(self) -> None:
        """From another thread: end the statement this Engine runs now, and its wait for a Result another Engine
        is computing (a server stopping). The computation under way ends with an error; close it after."""
        self._interrupted = True
        with contextlib.suppress(duckdb.Error, AttributeError):  # between two statements, or closed meanwhile
            self.store.con.interrupt()

    def close(self) -> None:
        if self._analytics is not None:
            self._analytics.close()
            self._analytics = None
        changed, self._changed = self._changed and self._on_disk_store(), False
        version = None
        if changed:
            try:  # closing checkpoints the store: the whole of it is in its file then, for the read copy
                version = data_version(self.store.con)
            except duckdb.Error:  # a store that cannot say its version now: the copy stays as of the last write
                version = None
        self.store.close()
        if self._read_copy is not None:
            snapshot.unlink(self._read_copy)
            self._read_copy = None
        try:
            if version is not None:
                self._publish(version)
        finally:
            if self._lock is not None:
                self._lock.release()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _on_disk_store(self) -> bool:
        return str(self.workspace.directory) != ":memory:" and not self.store.read_only

    def _publish(self, version: DataVersion) -> None:
        """After a write, still holding the workspace: the read copy of the store, then the cache moves to the new
        data version (the Results of older versions are deleted)."""
        try:
            if self.config.store.read_copy:
                snapshot.publish(self.workspace.database_path, self.snapshot_path)
            else:
                snapshot.remove(self.snapshot_path)
        except OSError:  # a full disk: the write itself is done; the copy stays as of the last write it could make
            return
        ResultCache(self.workspace.directory / CACHE_FOLDER).reset(version)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
