"""The store: a workspace folder with ``commetrics.toml`` and ``commetrics.duckdb``.

The DuckDB connection is opened with the session time zone pinned to UTC (so cohort buckets do
not depend on the machine's zone) and extension auto-install/auto-load switched off (no network
at run time). Schema changes are numbered migrations recorded in ``schema_migrations``.
Analyses read the store through :meth:`Store.ibis`, an Ibis connection over the same DuckDB
session.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from . import schema
from .config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, Config, load_config
from .errors import StoreUnavailableError, WorkspaceError

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as IbisBackend

DATABASE_FILE = "commetrics.duckdb"
#: the pseudonym keys beside the store (never inside the config file or the database)
KEY_FILE = "commetrics.keys"
#: the append-only erasure ledger beside the store
ERASURE_FILE = "commetrics.erasures"
WORKSPACE_ENV = "COMMETRICS_WORKSPACE"

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


def _migration_5(con: duckdb.DuckDBPyConnection) -> None:
    """Incremental identity resolution: the records as linkage saw them, the links a constraint set
    aside, the overrides applied, the trained model; and ``people`` without its primary key."""
    for sql in schema.IDENTITY_STATE_SQL:
        con.execute(sql)
    con.execute("alter table people rename to people_with_key")
    con.execute(schema.PEOPLE_SQL)
    con.execute("insert into people select * from people_with_key")
    con.execute("drop table people_with_key")


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_migration_1, _migration_2, _migration_3,
                                                                        _migration_4, _migration_5)


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


def connect(path: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with commetrics' session settings."""
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_SETTINGS))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            msg = (
                f"Cannot open the store {path}: {exc}\n"
                "Another commetrics process may be writing to it (DuckDB allows one writer); "
                "wait for it to finish, or check the file's permissions."
            )
            raise StoreUnavailableError(msg) from None
        msg = (f"Cannot open the store {path}: {exc}\n"
               "Restore commetrics.duckdb from a backup, or load the data into a new workspace.")
        raise WorkspaceError(msg) from None
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")  # a library prints nothing it was not asked for
    return con


class Store:
    """One DuckDB database holding the canonical tables, with an Ibis view onto it."""

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        self.path = path
        self.con = connect(path, read_only=read_only)
        self.read_only = read_only
        if not read_only:
            migrate(self.con)
        elif schema_version(self.con) < len(MIGRATIONS):
            # A store written by an older commetrics: bring it up to date once, then read.
            self.con.close()
            with connect(path) as writable:
                migrate(writable)
            self.con = connect(path, read_only=True)
        self._ibis: IbisBackend | None = None

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
        if not self.config_path.exists():
            self.config_path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
        Store(self.database_path).close()
        return created

    def config(self) -> Config:
        return load_config(self.config_path)

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
