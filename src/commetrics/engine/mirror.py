"""The mirror: the store's canonical tables and ``people`` as Parquet files, for Spark to read.

The DuckDB store stays the one source of truth; with ``[engine] backend = "spark"`` analyses read
this copy of it instead. Its layout follows how the store changes:

* A canonical table only ever gains rows a load at a time (each row carries its ``load_id``) and
  loses them only to erasure. So each load is one file, ``TABLE/load-ID.parquet``: a new load adds
  a file, and an erasure rewrites only the files of the loads that held the person.
* ``people`` is replaced whole by every identity run, so it is one file, ``people/people.parquet``.

``manifest.json`` records what the files hold: per table and load, the rows and the load's finish
time in the ledger (so a store restored from a backup, whose load ids may come back with other
rows, is never mistaken for the mirrored one), and the identity run behind ``people``. A
freshness check compares it with the store — one ``count(*) ... group by load_id`` per table, cheap
next to any analysis — and :meth:`Mirror.sync` writes exactly what differs. Files are written
under a dot-name (Spark skips those) and renamed into place, and the manifest last, so an
interrupted sync leaves files that are right for the store and a manifest that is behind: the
next check finishes the work. A lock file keeps two processes from syncing one folder at once.

Writing the Parquet is DuckDB's own job (``COPY ... TO``), so a sync needs no Spark session and
works on a store opened read-only.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import schema
from ..store import quote_identifier, sql_path, table_exists

__all__ = ["MIRRORED_TABLES", "Mirror", "MirrorState", "Sync", "spark_ddl", "store_state"]

MANIFEST = "manifest.json"
#: bumped when the layout of the files changes; a manifest of another version is rebuilt
LAYOUT_VERSION = 1
PEOPLE = "people"
#: the columns of ``people`` that analyses read (see commetrics.schema.IDENTITY_SQL)
PEOPLE_COLUMNS = ("record_id", "person_id", "member_id", "contact_id", "rule", "account_id", "account_rule")
#: what the mirror holds: every canonical table, and the resolved people
MIRRORED_TABLES = (*schema.TABLES, PEOPLE)

_SPARK_TYPES: dict[schema.ColumnKind, str] = {
    "id": "string", "text": "string", "email": "string", "enum": "string", "currency": "string",
    "timestamp": "timestamp", "bool": "boolean", "money": "decimal(18,2)", "int": "bigint", "score": "int",
    "tags": "array<string>", "json": "string",
}


def spark_ddl(name: str) -> str:
    """The Spark schema of a mirrored table (a DDL string), so that Spark reads the files — or an
    empty folder — with the store's types rather than guessing them."""
    if name == PEOPLE:
        return ", ".join(f"`{c}` string" for c in PEOPLE_COLUMNS)
    table = schema.TABLES[name]
    columns = [f"`{c.name}` {_SPARK_TYPES[c.kind]}" for c in table.columns]
    return ", ".join([*columns, "`source` string", "`load_id` bigint"])


def _select_sql(name: str) -> str:
    """The columns a mirrored table is written with: the canonical ones (JSON as text, which every
    Parquet reader understands), ``source`` and ``load_id``; never the load-internal columns."""
    if name == PEOPLE:
        return ", ".join(quote_identifier(c) for c in PEOPLE_COLUMNS)
    columns = [f"{quote_identifier(c.name)}::VARCHAR as {quote_identifier(c.name)}" if c.kind == "json"
               else quote_identifier(c.name) for c in schema.TABLES[name].columns]
    return ", ".join([*columns, "source", "load_id"])


@dataclass(frozen=True)
class MirrorState:
    """What the store holds, as far as the mirror cares: per table, load id -> [rows, finished_at];
    and for ``people``, [rows, identity run, resolved_at]."""

    loads: dict[str, dict[int, tuple[int, str]]]
    people: tuple[int, int, str]

    def as_json(self) -> dict[str, Any]:
        return {"layout": LAYOUT_VERSION,
                "loads": {t: {str(k): list(v) for k, v in sorted(loads.items())} for t, loads in self.loads.items()},
                "people": list(self.people)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MirrorState | None:
        if data.get("layout") != LAYOUT_VERSION:
            return None
        loads = {t: {int(k): (int(v[0]), str(v[1])) for k, v in entries.items()}
                 for t, entries in data.get("loads", {}).items()}
        rows, run, resolved = data.get("people", [0, 0, ""])
        return cls(loads, (int(rows), int(run), str(resolved)))


def store_state(con: duckdb.DuckDBPyConnection) -> MirrorState:
    """The store's state, read in a handful of cheap queries."""
    finished = {int(load_id): str(ts) for load_id, ts in
                con.execute(f"select load_id, finished_at from {schema.LEDGER_TABLE}").fetchall()}
    loads: dict[str, dict[int, tuple[int, str]]] = {}
    for name in schema.TABLES:
        rows = con.execute(f"select load_id, count(*) from {quote_identifier(name)} group by load_id").fetchall()
        loads[name] = {int(load_id): (int(n), finished.get(int(load_id), "")) for load_id, n in rows}
    people_rows = int(con.execute("select count(*) from people").fetchall()[0][0])
    run, resolved = 0, ""
    if table_exists(con, "identity_runs"):
        last = con.execute("select run_id, resolved_at from identity_runs order by run_id desc limit 1").fetchall()
        if last:
            run, resolved = int(last[0][0]), str(last[0][1])
    return MirrorState(loads, (people_rows, run, resolved))


@dataclass
class Sync:
    """What one :meth:`Mirror.sync` did."""

    folder: str
    written: dict[str, int] = field(default_factory=dict)  # table -> load files written (people: 1)
    removed: dict[str, int] = field(default_factory=dict)  # table -> load files removed
    rows_written: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "changed": self.changed, "written": self.written, "removed": self.removed,
                "rows_written": self.rows_written, "seconds": round(self.seconds, 3)}


class Mirror:
    """The Parquet mirror of one store in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()

    def path(self, table: str) -> Path:
        """The folder of one mirrored table."""
        return self.folder / table

    def _file(self, table: str, load_id: int | None) -> Path:
        return self.path(table) / (f"{PEOPLE}.parquet" if load_id is None else f"load-{load_id}.parquet")

    def recorded(self) -> MirrorState | None:
        """What the manifest says the files hold (None: no mirror yet, or one of another layout)."""
        try:
            data = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return MirrorState.from_json(data)

    def is_fresh(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the files hold exactly what the store holds now."""
        return self.recorded() == store_state(con)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not a POSIX system: one process at a time is the user's to ensure
            yield
            return
        with (self.folder / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # another process syncing: wait for it, then check again
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sync(self, con: duckdb.DuckDBPyConnection) -> Sync:
        """Bring the files up to date with the store: write new and changed loads, remove loads the
        store no longer holds (erased to the last row, or never there), rewrite ``people`` after an
        identity run. Does nothing — but the freshness check — when the mirror is up to date."""
        started = time.perf_counter()
        report = Sync(str(self.folder))
        with self._locked():
            state = store_state(con)
            before = self.recorded() or MirrorState({}, (-1, -1, ""))
            for name in schema.TABLES:
                self.path(name).mkdir(exist_ok=True)
                now, then = state.loads[name], before.loads.get(name, {})
                for load_id, entry in now.items():
                    if then.get(load_id) != entry or not self._file(name, load_id).exists():
                        report.rows_written += self._write(con, name, load_id)
                        report.written[name] = report.written.get(name, 0) + 1
                removed = self._remove_others(name, {self._file(name, load_id).name for load_id in now})
                if removed:
                    report.removed[name] = removed
            self.path(PEOPLE).mkdir(exist_ok=True)
            if state.people != before.people or not self._file(PEOPLE, None).exists():
                report.rows_written += self._write(con, PEOPLE, None)
                report.written[PEOPLE] = 1
            if report.changed or before != state:
                self._write_manifest(state)
        report.seconds = time.perf_counter() - started
        return report

    def _write(self, con: duckdb.DuckDBPyConnection, name: str, load_id: int | None) -> int:
        """Write one file under a dot-name, then rename it into place (a reader sees the old file or the
        new one, never half of one). Returns the rows written."""
        target = self._file(name, load_id)
        scratch = target.with_name(f".{target.name}.tmp")
        where = "" if load_id is None else f" where load_id = {int(load_id)}"
        con.execute(f"copy (select {_select_sql(name)} from {quote_identifier(name)}{where}) "
                    f"to '{sql_path(scratch)}' (format parquet)")
        os.replace(scratch, target)
        rows = con.execute(f"select count(*) from {quote_identifier(name)}{where}").fetchall()
        return int(rows[0][0])

    def _remove_others(self, name: str, keep: set[str]) -> int:
        """Remove the files of a table that the store's state does not name (erased or stale loads,
        scratch files an interrupted sync left). Returns how many load files went."""
        removed = 0
        for path in self.path(name).iterdir():
            if path.name in keep:
                continue
            if path.name.startswith("load-"):
                removed += 1
            path.unlink()
        return removed

    def _write_manifest(self, state: MirrorState) -> None:
        scratch = self.folder / f".{MANIFEST}.tmp"
        scratch.write_text(json.dumps(state.as_json(), indent=1, sort_keys=True), encoding="utf-8")
        os.replace(scratch, self.folder / MANIFEST)
