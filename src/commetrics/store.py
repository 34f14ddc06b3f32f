"""The store: a workspace folder with ``commetrics.toml`` and ``commetrics.duckdb``.

The DuckDB connection is opened with the session time zone pinned to UTC (so cohort buckets do
not depend on the machine's zone) and extension auto-install/auto-load switched off (no network
at run time). Schema changes are numbered migrations recorded in ``schema_migrations``.
Analyses read the store through :meth:`Store.ibis`, an Ibis connection over the same DuckDB
session.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from . import schema
from .config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, Config, load_config
from .errors import StoreDamagedError, StoreUnavailableError, WorkspaceError
from .lock import LOCK_FILE, WorkspaceLock

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as IbisBackend

DATABASE_FILE = "commetrics.duckdb"
#: the pseudonym keys beside the store (never inside the config file or the database)
KEY_FILE = "commetrics.keys"
#: the append-only erasure ledger beside the store
ERASURE_FILE = "commetrics.erasures"
WORKSPACE_ENV = "COMMETRICS_WORKSPACE"
#: the backups of the workspace, unless ``commetrics backup --out`` says otherwise
BACKUPS_FOLDER = "backups"

DUCKDB_SETTINGS: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def quote_identifier(identifier: str) -> str:
    """Quote a table or column name for DuckDB (the one place identifiers are quoted)."""
    return '"{}"'.format(identifier.replace('"', '""'))


def _canonical_table_sql(table: schema.Table) -> str:
    columns = [f"{quote_identifier(c.name)} {schema.SQL_TYPES[c.kind]}" for c in table.columns]
    columns += ["source VARCHAR NOT NULL", "load_id BIGINT NOT NULL",
                f"{schema.LOAD_CHECK_COLUMN} INTEGER", f"{schema.LOAD_RECORD_COLUMN} VARCHAR",
                f"{schema.LOAD_ORD_COLUMN} BIGINT"]
    return f"create table if not exists {table.name} (\n    " + ",\n    ".join(columns) + "\n)"


LEDGER_SQL = f"""
create table if not exists {schema.LEDGER_TABLE} (
    load_id BIGINT NOT NULL,            -- one row per load of one file
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- --source, or 'default' (a file column `source` overrides per row)
    file VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,       -- csv | parquet | jsonl
    file_bytes BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    rows_read BIGINT NOT NULL,          -- rows_read = rows_loaded + rows_quarantined + rows_duplicate
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL,
    drift_columns VARCHAR[] NOT NULL,   -- file columns outside the canonical schema
    schema_contract VARCHAR NOT NULL
)
"""

QUARANTINE_SQL = f"""
create table if not exists {schema.QUARANTINE_TABLE} (
    load_id BIGINT NOT NULL,
    table_name VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    line BIGINT,                        -- CSV/JSONL: line in the file (header = 1); Parquet: row number
    reason VARCHAR NOT NULL,            -- a code from commetrics.ingest.reasons.Reason
    column_name VARCHAR,                -- the column that failed, where one did
    detail VARCHAR,                     -- a short explanation
    record VARCHAR                      -- the raw row as the file had it (JSON object or raw line)
)
"""


def _migration_1(con: duckdb.DuckDBPyConnection) -> None:
    """The canonical tables, the load ledger and quarantine."""
    for table in schema.TABLES.values():
        con.execute(_canonical_table_sql(table))
    con.execute(LEDGER_SQL)
    con.execute(QUARANTINE_SQL)


SNAPSHOTS_SQL = """
create table if not exists score_snapshots (
    snapshot_date DATE NOT NULL,        -- the as-of date the scores describe (one snapshot per date)
    level VARCHAR NOT NULL,             -- member or account
    id VARCHAR NOT NULL,                -- member_id or account_id
    score DOUBLE,                       -- engagement (members) or health (accounts)
    label VARCHAR,                      -- tier (members) or band (accounts)
    details JSON,                       -- the roll-up figures and components behind the score
    saved_at TIMESTAMPTZ NOT NULL,
    primary key (snapshot_date, level, id)
)
"""


def _migration_2(con: duckdb.DuckDBPyConnection) -> None:
    """Score history: one snapshot of every member's and account's score per date."""
    con.execute(SNAPSHOTS_SQL)


def _migration_3(con: duckdb.DuckDBPyConnection) -> None:
    """Erasure: the erasures ledger (pseudonyms only) and the rows each load dropped for erased people."""
    con.execute(schema.ERASURES_SQL)
    con.execute(f"alter table {schema.LEDGER_TABLE} add column rows_erased BIGINT default 0")


def _migration_4(con: duckdb.DuckDBPyConnection) -> None:
    """Identity: the identity_maps input table, and people, identity_links, identity_overrides, identity_runs."""
    con.execute(_canonical_table_sql(schema.IDENTITY_MAPS))
    for sql in schema.IDENTITY_SQL:
        con.execute(sql)


CURSORS_SQL = """
create table if not exists source_cursors (
    kind VARCHAR NOT NULL,              -- the pull's platform (commetrics pull KIND)
    source VARCHAR NOT NULL,            -- the source its rows were loaded under
    url VARCHAR NOT NULL,               -- the platform's address (--url), without credentials
    cursor JSON NOT NULL,               -- where the next pull starts (per platform: last id, modstamps, ...)
    pulled_at TIMESTAMPTZ NOT NULL,
    primary key (kind, source, url)
)
"""


def _migration_5(con: duckdb.DuckDBPyConnection) -> None:
    """Pulls: where each platform's incremental pull stopped (``commetrics pull``)."""
    con.execute(CURSORS_SQL)


def _migration_6(con: duckdb.DuckDBPyConnection) -> None:
    """Corrections: replaced rows and read options in the ledger; keys and resolution of quarantined rows."""
    for sql in schema.CORRECTIONS_SQL:
        con.execute(sql)


def _migration_7(con: duckdb.DuckDBPyConnection) -> None:
    """Incremental identity resolution: the records as linkage saw them, the links a constraint set
    aside, the overrides applied, the trained model; and ``people`` without its primary key."""
    for sql in schema.IDENTITY_STATE_SQL:
        con.execute(sql)
    con.execute("alter table people rename to people_with_key")
    con.execute(schema.PEOPLE_SQL)
    con.execute("insert into people select * from people_with_key")
    con.execute("drop table people_with_key")


DATA_VERSION_SQL = """
create table if not exists data_version (
    version BIGINT NOT NULL,            -- one more at every write that can change a figure (one row)
    token VARCHAR NOT NULL,             -- a new random token at every such write (a restored copy cannot reuse one)
    changed_at TIMESTAMPTZ NOT NULL
)
"""


def _migration_8(con: duckdb.DuckDBPyConnection) -> None:
    """The data version: a counter and token every write that can change a figure moves on (results cache)."""
    con.execute(DATA_VERSION_SQL)
    con.execute("insert into data_version select 1, ?, now() where not exists (select 1 from data_version)",
                [uuid.uuid4().hex])


def _migration_9(con: duckdb.DuckDBPyConnection) -> None:
    """Identity review: the pairs scored just below the match threshold (``[identity] review_margin``)."""
    con.execute(schema.IDENTITY_NEAR_LINKS_SQL)


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_migration_1, _migration_2, _migration_3,
                                                                        _migration_4, _migration_5, _migration_6,
                                                                        _migration_7, _migration_8, _migration_9)


def bump_data_version(con: duckdb.DuckDBPyConnection) -> None:
    """Move the data version on: every write that can change a figure calls this (through the Engine)."""
    con.execute("update data_version set version = version + 1, token = ?, changed_at = now()", [uuid.uuid4().hex])


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists in the connection's current schema."""
    rows = con.execute("select count(*) from information_schema.tables where table_name = ? "
                       "and table_schema = current_schema()", [table]).fetchall()
    return bool(rows[0][0])


def sql_path(path: str | Path) -> str:
    """A file path as the text of a SQL string literal (``'`` doubled)."""
    return str(path).replace("'", "''")


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version of the schema the store holds (0: none yet), to compare with ``len(MIGRATIONS)``."""
    if not table_exists(con, "schema_migrations"):
        return 0
    return int(con.execute("select coalesce(max(version), 0) from schema_migrations").fetchall()[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations not yet applied, each in its own transaction; return the version."""
    con.execute("create table if not exists schema_migrations "
                "(version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    current = schema_version(con)
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        con.execute("begin transaction")
        try:
            migration(con)
            con.execute("insert into schema_migrations values (?, now())", [version])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return len(MIGRATIONS)


#: What DuckDB says when a file is damaged (truncated, a checksum that does not match, a torn log).
_DAMAGE_SIGNS = ("not a valid duckdb database", "corrupt", "checksum", "could not read enough bytes",
                 "failure while replaying wal", "serializ", "deserializ")
_BUSY_SIGNS = ("could not set lock", "conflicting lock", "file handle conflict")
_DENIED_SIGNS = ("permission denied", "operation not permitted", "read-only file system")
#: The three headers at the start of a DuckDB file, before its blocks.
_HEADER_BYTES = 3 * 4096


def store_error(exc: BaseException, path: str | Path | None = None) -> WorkspaceError | None:
    """The error to show for a DuckDB error about the store at ``path`` (None: the workspace's store), or
    None when it is not one about the file itself (then it is a bug, and shown as one)."""
    path = "of this workspace" if path is None else path
    text = str(exc)
    lowered = text.lower()
    first = text.splitlines()[0] if text else type(exc).__name__
    if any(sign in lowered for sign in _BUSY_SIGNS):
        return StoreUnavailableError(
            f"The store {path} is in use by another program ({first}). DuckDB lets one process write at a time: "
            "wait for the other commetrics command (or the program holding the file) to finish, and run again.")
    if any(sign in lowered for sign in _DENIED_SIGNS):
        return WorkspaceError(
            f"Cannot open the store {path}: {first}. You need read access to the file and its folder, and write "
            "access to change them: check their owner and permissions, or run as the workspace's owner.")
    if any(sign in lowered for sign in _DAMAGE_SIGNS):
        wal = " in its write-ahead log (the transactions after its last checkpoint)" if "wal" in lowered else ""
        return StoreDamagedError(
            f"The store {path} is damaged{wal}: {first}. Nothing was changed. `commetrics store check` shows what "
            "can still be read; `commetrics restore` brings back the latest backup (`commetrics backup` makes "
            "them) and applies again every erasure made since.")
    return None


def os_error(exc: OSError) -> WorkspaceError:
    """A file or folder that could not be written or read, said plainly with what to do about it."""
    where = exc.filename or "a file"
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        advice = ("You may not write there: choose another folder (--out, --workspace), or ask for write access "
                  "to it (check its owner and permissions).")
    elif exc.errno == errno.EROFS:
        advice = "That file system is read-only: choose a folder on a writable disk (--out, --workspace)."
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "The disk is full: free some space and run again."
    elif exc.errno == errno.ENOENT:
        advice = "It does not exist: check the path and run again."
    else:
        advice = "Check the path and its permissions and run again."
    return WorkspaceError(f"Cannot use {where}: {reason}. {advice}")


def fsync_path(path: Path) -> None:
    """Flush ``path`` — a file, or a folder after a file in it was created, renamed or replaced — to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def connect(path: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with commetrics' session settings; a file that is busy, not readable or
    damaged raises a :class:`WorkspaceError` saying which and what to do."""
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_SETTINGS))
    except duckdb.Error as exc:
        error = store_error(exc, path)
        if error is None:
            raise
        raise error from None
    con.execute("set TimeZone = 'UTC'")
    # progress of long statements is measured (Connection.query_progress, read by commetrics.progress.polling)
    # but never printed: a library prints nothing it was not asked for
    con.execute("set enable_progress_bar = true")
    con.execute("set enable_progress_bar_print = false")
    if str(path) != ":memory:":
        _check_size(con, Path(path))
    return con


def _check_size(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file too short to hold the blocks in use was cut off: some of them are gone, and reads of them would
    fail later, or never be noticed. (Blocks in use can sit anywhere in the file, and free ones at its end
    may be cut away on purpose, so only a file shorter than the blocks in use is surely damaged.)"""
    used, block_size = con.execute("select used_blocks, block_size from pragma_database_size()").fetchall()[0]
    expected = _HEADER_BYTES + int(used) * int(block_size)
    if int(used) and path.stat().st_size < expected:
        con.close()
        raise StoreDamagedError(
            f"The store {path} is damaged: it is {path.stat().st_size:,} bytes long, too short for the {used:,} "
            f"blocks in use ({expected:,} bytes), so it was cut off. Nothing was changed. `commetrics store check` "
            "shows what can still be read; `commetrics restore` brings back the latest backup.")


class Store:
    """One DuckDB database holding the canonical tables, with an Ibis view onto it."""

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        self.path = path
        self.con = connect(path, read_only=read_only)
        self.read_only = read_only
        try:
            if not read_only:
                migrate(self.con)
            elif schema_version(self.con) < len(MIGRATIONS):
                # A store written by an older commetrics: bring it up to date once, then read.
                self.con.close()
                with connect(path) as writable:
                    migrate(writable)
                self.con = connect(path, read_only=True)
        except duckdb.Error as exc:
            self.con.close()
            error = store_error(exc, path)
            if error is None:
                raise
            raise error from None
        self._ibis: IbisBackend | None = None

    def tune(self, *, memory_limit: str | None = None, threads: int | None = None) -> None:
        """Cap DuckDB's memory (beyond it, DuckDB spills to a temporary folder beside the store) and threads;
        ``None`` keeps DuckDB's own default."""
        if memory_limit is not None:
            self.con.execute(f"set memory_limit = '{sql_path(memory_limit)}'")
        if threads is not None:
            self.con.execute(f"set threads = {int(threads)}")

    def ibis(self) -> IbisBackend:
        """An Ibis backend over this store's DuckDB session (analyses use this)."""
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.con)
        return self._ibis

    def row_counts(self) -> dict[str, int]:
        """Rows per canonical table, quarantine and ledger."""
        names = [*schema.TABLES, schema.QUARANTINE_TABLE, schema.LEDGER_TABLE]
        counts: dict[str, int] = {}
        for name in names:
            row = self.con.execute(f"select count(*) from {quote_identifier(name)}").fetchall()
            counts[name] = int(row[0][0]) if row else 0
        return counts

    def close(self) -> None:
        self.con.close()


@dataclass(frozen=True)
class Workspace:
    """A folder holding ``commetrics.toml`` (definitions) and ``commetrics.duckdb`` (the store)."""

    directory: Path

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_FILE

    @property
    def database_path(self) -> Path:
        return self.directory / DATABASE_FILE

    @property
    def keys_path(self) -> Path:
        """The pseudonym keys (never inside the config file or the database)."""
        return self.directory / KEY_FILE

    @property
    def lock_path(self) -> Path:
        """The workspace lock (:mod:`commetrics.lock`)."""
        return self.directory / LOCK_FILE

    @property
    def backups_path(self) -> Path:
        """The folder ``commetrics backup`` writes into unless told otherwise."""
        return self.directory / BACKUPS_FOLDER

    @property
    def erasure_path(self) -> Path:
        """The append-only erasure ledger beside the store (survives a restore of the database)."""
        return self.directory / ERASURE_FILE

    @classmethod
    def locate(cls, directory: str | Path | None = None) -> Workspace:
        """The workspace at ``directory``, else ``$COMMETRICS_WORKSPACE``, else the current folder."""
        chosen = directory or os.environ.get(WORKSPACE_ENV) or "."
        return cls(Path(chosen).expanduser().resolve())

    @property
    def exists(self) -> bool:
        return self.config_path.exists() or self.database_path.exists()

    def init(self) -> bool:
        """Create the folder, a commented ``commetrics.toml`` and the store; False if it existed."""
        if self.directory.exists() and not self.directory.is_dir():
            msg = f"{self.directory} is a file, not a folder. Choose another --workspace."
            raise WorkspaceError(msg)
        created = not self.exists
        self.directory.mkdir(parents=True, exist_ok=True)
        with WorkspaceLock.acquire(self.directory, exclusive=True, wait=Config().store.lock_wait_seconds):
            if not self.config_path.exists():
                self.config_path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
            Store(self.database_path).close()
        return created

    def config(self) -> Config:
        return load_config(self.config_path)

    def lock(self, *, exclusive: bool, wait: float = 10.0) -> WorkspaceLock:
        """Hold the workspace lock (:mod:`commetrics.lock`): exclusively to change the workspace, shared to
        read it. A missing workspace needs no lock (opening it says so)."""
        if not self.directory.is_dir() or not self.exists:
            return WorkspaceLock(self.lock_path, exclusive)  # nothing to protect yet: a hold on nothing
        if not exclusive and not self.database_path.exists():
            exclusive = True  # opening creates the store
        return WorkspaceLock.acquire(self.directory, exclusive=exclusive, wait=wait)

    def open_store(self, *, read_only: bool = False) -> Store:
        if not self.exists:
            msg = (
                f"No commetrics workspace in {self.directory}. Run `commetrics init` there, "
                f"pass --workspace DIR, or set {WORKSPACE_ENV}."
            )
            raise WorkspaceError(msg)
        if read_only and not self.database_path.exists():
            read_only = False
        return Store(self.database_path, read_only=read_only)
