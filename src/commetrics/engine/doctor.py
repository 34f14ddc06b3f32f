"""``commetrics doctor``: is this machine and this workspace ready, and if not, what to do.

Each check returns one :class:`Check` (``ok``, ``warning`` or ``error``, what was found, and the
fix). Doctor never changes anything: the store is opened read-only (and not at all when it is
busy), the keys file is only looked at, the erasure ledger only read. It works on a workspace the
Engine cannot open, since that is when it is needed most.

The checks, in order: the Python packages against what commetrics requires; Java for the Spark
backend; a browser for PDF reports; the workspace's ``commetrics.toml``; the store (opens, its
schema version, every table read in full); free disk against the store's size; the pseudonym
keys file (present, readable, owner-only); erasures not yet applied or compacted.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
from packaging.requirements import Requirement

from .. import store as store_module
from ..errors import CommetricsError, StoreDamagedError, StoreUnavailableError
from ..privacy.erasure import read_ledger
from ..privacy.keys import Keyring
from ..schema import ERASURES_TABLE
from ..store import Workspace, quote_identifier, table_exists

__all__ = ["BROWSERS", "CHECKS", "Check", "run"]

Level = Literal["ok", "warning", "error"]

#: the browsers a PDF report can print with, looked up in this order on the PATH
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

#: Java versions each Spark line runs on (the oldest supported)
_SPARK_JAVA = {"4": 17, "3": 8}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer: ``name``, ``level``, what was found (``detail``) and the ``fix``."""

    name: str
    level: Level
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(workspace: str | Path | None = None) -> list[Check]:
    """Every check, for the workspace at ``workspace`` (default as for the Engine)."""
    where = Workspace.locate(workspace)
    return [check(where) for check in CHECKS]


# -- the machine -----------------------------------------------------------------------------------


def packages(_: Workspace) -> Check:
    """Python and every package commetrics requires, at versions it accepts."""
    problems = []
    for line in importlib.metadata.requires("commetrics") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an optional extra
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} missing")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name} {installed} (needs {requirement.specifier})")
    versions = ", ".join(f"{name} {_version(name)}" for name in ("commetrics", "duckdb", "ibis-framework", "splink"))
    python = ".".join(map(str, sys.version_info[:3]))
    if problems:
        return Check("packages", "error", f"Python {python}; " + "; ".join(problems),
                     "Reinstall commetrics in its environment: pip install --upgrade commetrics")
    return Check("packages", "ok", f"Python {python}, {versions}")


def java(_: Workspace) -> Check:
    """Java for the Spark backend (only when the Spark extra is installed)."""
    if importlib.util.find_spec("pyspark") is None:
        return Check("java", "ok", "Spark backend not installed (optional: pip install 'commetrics[spark]')")
    spark = _version("pyspark")
    needed = _SPARK_JAVA.get(spark.split(".")[0], 17)
    home = os.environ.get("JAVA_HOME")
    binary = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    fix = f"Install Java {needed} or later (Debian: apt-get install openjdk-{max(needed, 17)}-jre-headless) " \
          "or set JAVA_HOME to one."
    if binary is None or not Path(binary).exists():
        return Check("java", "warning", f"no Java found; the Spark backend (pyspark {spark}) needs it", fix)
    try:
        shown = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("java", "warning", f"{binary} does not run ({exc})", fix)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown.stderr + shown.stdout)
    if match is None:
        return Check("java", "warning", f"{binary} did not say its version", fix)
    major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))  # 1.8 is Java 8
    if major < needed:
        return Check("java", "warning", f"Java {major} at {binary}; pyspark {spark} needs {needed}+", fix)
    return Check("java", "ok", f"Java {major} at {binary} (pyspark {spark})")


def browser(_: Workspace) -> Check:
    """A Chromium-family browser, which PDF reports print with (HTML reports need none)."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        return Check("browser", "warning", "no Chromium or Chrome on the PATH: HTML reports work, PDF ones do not",
                     "Install one (Debian: apt-get install chromium) to write PDF reports.")
    return Check("browser", "ok", found)


# -- the workspace ---------------------------------------------------------------------------------


def config(where: Workspace) -> Check:
    """The workspace exists and its ``commetrics.toml`` is valid."""
    if not where.exists:
        return Check("config", "error", f"no commetrics workspace in {where.directory}",
                     "Run `commetrics init` there, pass --workspace FOLDER, or set COMMETRICS_WORKSPACE.")
    if not where.config_path.exists():
        return Check("config", "ok", "no commetrics.toml: the defaults apply")
    try:
        where.config()
    except CommetricsError as exc:
        return Check("config", "error", str(exc),
                     "Fix commetrics.toml; `commetrics config` prints every setting with its default.")
    return Check("config", "ok", str(where.config_path))


def store(where: Workspace) -> Check:
    """The store opens, its schema is one this version knows, and every table reads in full."""
    path = where.database_path
    if not path.exists():
        return Check("store", "ok" if not where.exists else "warning", f"no store yet at {path}",
                     "" if not where.exists else "`commetrics init` creates it; loads fill it.")
    try:
        con = store_module.connect(path, read_only=True)
    except StoreDamagedError as exc:
        return Check("store", "error", str(exc).splitlines()[0],
                     "`commetrics store check` shows what can still be read; `commetrics restore` brings back the "
                     "latest backup.")
    except StoreUnavailableError as exc:
        return Check("store", "error", str(exc).splitlines()[0],
                     "Wait for the other commetrics process to finish, or check the file's permissions.")
    except (CommetricsError, duckdb.Error) as exc:
        detail = str(exc).splitlines()[0] if isinstance(exc, CommetricsError) else f"{path} is not a store ({exc})"
        return Check("store", "error", detail,
                     "Restore commetrics.duckdb from a backup, or load the data into a new workspace.")
    try:
        version = store_module.schema_version(con)
        known = len(store_module.MIGRATIONS)
        if version > known:
            return Check("store", "error", f"schema version {version}, newer than this commetrics knows ({known})",
                         "Upgrade commetrics: pip install --upgrade commetrics")
        tables = [row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and table_type = 'BASE TABLE' order by table_name").fetchall()]
        rows = 0
        for table in tables:  # every column of every row read: a damaged block fails here
            rows += int(con.execute(f"select count(*), bit_xor(hash(t)) from {quote_identifier(table)} as t"
                                    ).fetchall()[0][0])
    except duckdb.Error as exc:
        return Check("store", "error", f"{path} cannot be read in full ({exc})",
                     "Restore commetrics.duckdb from a backup, or load the data into a new workspace.")
    finally:
        con.close()
    detail = f"{len(tables)} tables, {rows:,} rows, {_size(_store_bytes(where))}"
    if version < known:
        return Check("store", "warning", f"{detail}; schema version {version} of {known}",
                     "The next command that writes upgrades it (e.g. `commetrics init` in the workspace).")
    return Check("store", "ok", detail)


def disk(where: Workspace) -> Check:
    """Free disk against the store: a compaction (after an erasure) and a backup each write a full copy."""
    used = _store_bytes(where)
    directory = where.directory if where.directory.exists() else where.directory.parent
    free = shutil.disk_usage(directory).free
    if free < 2 * used:
        return Check("disk", "warning", f"{_size(free)} free beside a store of {_size(used)}",
                     "Free space or move the workspace: an erasure's compaction or a backup writes a full copy.")
    return Check("disk", "ok", f"{_size(free)} free, store {_size(used)}")


def keys(where: Workspace) -> Check:
    """The pseudonym keys file: present, readable and owner-only."""
    path = where.keys_path
    ledger = read_ledger(where.erasure_path)
    if not path.exists():
        if ledger:
            return Check("keys", "error", f"{path.name} is missing but {len(ledger)} erasures are recorded: "
                         "they cannot be re-applied without it",
                         f"Restore {path.name} from your backup of the workspace.")
        return Check("keys", "warning" if where.exists else "ok", f"no {path.name} yet",
                     "`commetrics init` in the workspace creates it." if where.exists else "")
    mode = stat.S_IMODE(path.stat().st_mode)  # before opening: opening a key file tightens it to owner-only
    try:
        ring = Keyring.open(path)
    except CommetricsError as exc:
        return Check("keys", "error", str(exc).split(". ")[0], f"Restore {path.name} from your backup.")
    if os.name == "posix" and mode & 0o077:
        return Check("keys", "warning", f"{path.name} is readable by others (mode {mode:o})", f"chmod 600 {path}")
    return Check("keys", "ok", f"{len(ring.keys)} key(s), active {ring.active}, owner-only")


def erasures(where: Workspace) -> Check:
    """Erasures the store has not applied (restored from an older copy) or not compacted yet."""
    ledger = read_ledger(where.erasure_path)
    if not where.database_path.exists():
        return Check("erasures", "ok", f"{len(ledger)} recorded, no store to apply them to")
    try:
        con = store_module.connect(where.database_path, read_only=True)
    except (CommetricsError, duckdb.Error):
        return Check("erasures", "warning", f"{len(ledger)} recorded; the store could not be opened to compare",
                     "See the store line above.")
    try:
        done: dict[str, str] = {}
        if table_exists(con, ERASURES_TABLE):
            done = dict(con.execute(f"select erasure_id, status from {ERASURES_TABLE}").fetchall())
    finally:
        con.close()
    missing = [entry for entry in ledger if entry.get("erasure_id") not in done]
    uncompacted = sum(status != "done" for status in done.values())
    if missing or uncompacted:
        parts = [f"{len(missing)} not applied to this store"] if missing else []
        parts += [f"{uncompacted} not compacted out of the file"] if uncompacted else []
        return Check("erasures", "warning", "pending erasures: " + ", ".join(parts),
                     "Run `commetrics init` in the workspace: opening the store for writing re-applies them "
                     "and compacts the file.")
    return Check("erasures", "ok", f"{len(ledger)} recorded, all applied and compacted" if ledger else "none")


CHECKS: tuple[Callable[[Workspace], Check], ...] = (packages, java, browser, config, store, disk, keys, erasures)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _store_bytes(where: Workspace) -> int:
    files = (where.database_path, where.database_path.with_name(where.database_path.name + ".wal"))
    return sum(path.stat().st_size for path in files if path.exists())


def _size(size: float) -> str:
    """``812 B``, ``3.4 MB``, ``1.2 GB``."""
    units = ("B", "KB", "MB", "GB", "TB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size, power = size / 1024, power + 1
    return f"{size:,.0f} B" if power == 0 else f"{size:,.1f} {units[power]}"
