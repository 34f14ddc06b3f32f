"""The Engine: the one object behind the library, the command line, the service and reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import schema
from .config import Config
from .errors import InputError, WorkspaceError
from .ingest import LoadReport, load_file
from .store import Store, Workspace, quote_identifier

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as IbisBackend
    from ibis.expr.types import Table as IbisTable


@dataclass(frozen=True)
class Status:
    """What the store holds: rows per table, the latest loads, and quarantine by reason."""

    workspace: str
    tables: dict[str, int]
    loads: pd.DataFrame
    quarantine: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "tables": self.tables,
            "loads": _records(self.loads),
            "quarantine": _records(self.quarantine),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    rows: list[dict[str, Any]] = []
    for record in out.to_dict(orient="records"):
        rows.append({str(k): (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()})
    return rows


class Engine:
    """Everything commetrics can do, over one workspace.

    Parameters
    ----------
    workspace
        The workspace folder (``commetrics.toml`` + ``commetrics.duckdb``). ``None`` uses
        ``$COMMETRICS_WORKSPACE`` or the current folder. Use :meth:`in_memory` for a throw-away
        store.
    config
        Settings to use instead of the workspace's ``commetrics.toml``.

    Examples
    --------
    >>> engine = Engine.in_memory()
    >>> engine.status().tables["members"]
    0
    """

    def __init__(self, workspace: str | Path | None = None, *, config: Config | None = None,
                 read_only: bool = False) -> None:
        self.workspace = Workspace.locate(workspace)
        self.config = config if config is not None else self.workspace.config()
        self.store = self.workspace.open_store(read_only=read_only)

    @classmethod
    def init(cls, directory: str | Path | None = None) -> Engine:
        """Create the workspace (folder, ``commetrics.toml``, store) if needed and open it."""
        Workspace.locate(directory).init()
        return cls(directory)

    @classmethod
    def in_memory(cls, config: Config | None = None) -> Engine:
        """An engine over a fresh in-memory store (for notebooks and tests)."""
        engine = cls.__new__(cls)
        engine.workspace = Workspace(Path(":memory:"))
        engine.config = config or Config()
        engine.store = Store(":memory:")
        return engine

    # -- loading -------------------------------------------------------------------------------

    def load(
        self,
        table: str,
        path: str | Path,
        *,
        source: str | None = None,
        mapping: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> LoadReport:
        """Load one CSV, Parquet or JSON Lines file into a canonical table.

        Valid rows are loaded; malformed rows go to ``quarantine`` with a reason code; rows
        already loaded are counted as duplicates. The counts satisfy
        ``rows_read = rows_loaded + rows_quarantined + rows_duplicate`` and are committed with
        the rows in one transaction.

        Parameters
        ----------
        table
            A canonical table: members, accounts, contacts, activities, outcomes,
            subscriptions, surveys or experiments.
        path
            The file. Its format is taken from its name (.csv, .tsv, .parquet, .jsonl, .gz).
        source
            The system the rows come from (keys are unique within a source). Default
            ``"default"``; a ``source`` column in the file overrides it per row.
        mapping
            Canonical column -> file column, for columns whose names differ.
        now
            Load time, for the future-timestamp check (default: the clock).
        """
        return load_file(self.store.con, table, Path(path), settings=self.config.ingest, source=source,
                         mapping=mapping, now=now)

    def load_many(self, table: str, paths: Iterable[str | Path], **options: Any) -> list[LoadReport]:
        """Load several files into one table, each in its own transaction."""
        return [self.load(table, path, **options) for path in paths]

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
            group by table_name, reason
            order by table_name, rows desc, reason
            """
        ).df()
        return Status(str(self.workspace.directory), self.store.row_counts(), loads, quarantine)

    def quarantine(self, *, table: str | None = None, reason: str | None = None,
                   load_id: int | None = None, limit: int | None = None) -> pd.DataFrame:
        """Quarantined rows (file, line, reason, column, detail and the raw record)."""
        if table is not None and table not in schema.TABLES:
            msg = f"Unknown table {table!r}; quarantine holds rows of: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        sql = f"""
            select load_id, table_name, source, file, line, reason, column_name, detail, record
            from {schema.QUARANTINE_TABLE}
            where ($table is null or table_name = $table)
                and ($reason is null or reason = $reason)
                and ($load_id is null or load_id = $load_id)
            order by load_id, file, line
        """
        params: dict[str, Any] = {"table": table, "reason": reason, "load_id": load_id}
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
        """The Ibis connection that analyses use."""
        return self.store.ibis()

    def ibis_table(self, name: str) -> IbisTable:
        """A canonical table as an Ibis expression: its columns plus ``source`` and ``load_id``."""
        if name not in schema.TABLES:
            msg = f"Unknown table {name!r}. Tables: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        return self.store.ibis().table(name).select(*schema.TABLES[name].column_names, "source", "load_id")

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Engine", "Status", "WorkspaceError"]
