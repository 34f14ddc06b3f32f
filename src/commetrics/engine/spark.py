"""Spark behind the Engine: the session, the mirror's tables registered in it, and the Ibis backend.

With ``[engine] backend = "spark"`` every analysis gets, from ``Engine.ibis()``, an Ibis PySpark
backend whose tables are the mirror's Parquet folders (:mod:`.mirror`), registered as temporary
views. The same Ibis expressions that run in DuckDB compile to Spark SQL and run on the cluster;
what comes back to the driver are the results of those queries — aggregates, or per-unit frames
that the statistics (model fits, bootstrap, Kaplan–Meier, Markov chains) then use in Python.

The view names carry a digest of the mirror's folder (``commetrics_1a2b3c4d_members``), so several
workspaces can share one Spark session and nothing of a user's own catalog is shadowed. Spark
lists a folder's files when a view is made, so the views are made again after every sync that
changed a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine_settings import PINNED_SPARK_CONF, SparkSettings
from ..errors import BackendError
from .mirror import MIRRORED_TABLES, Mirror, spark_ddl

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkAnalytics", "start_session"]

INSTALL_HINT = "Install the Spark extra (pip install 'commetrics[spark]') or set [engine] backend = \"duckdb\"."


def _import_pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise BackendError(f"[engine] backend = \"spark\" needs pyspark, which is not installed. {INSTALL_HINT}") \
            from None
    return pyspark.sql


def start_session(settings: SparkSettings) -> tuple[SparkSession, bool]:
    """The Spark session analyses run in, and whether commetrics started it (and so stops it).

    A session already active in this process (a notebook's, a Databricks cluster's, one made by
    ``spark-submit``'s script) is used as it is. Otherwise one is built from ``[engine.spark]``:
    its master (unless ``spark-submit`` chose one), app name and conf; the session time zone is
    always UTC, and on a local master Spark's Python workers run this interpreter
    (``PYSPARK_PYTHON``, unless set), so that they find the same packages.
    """
    sql = _import_pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        return active, False
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise BackendError("Spark needs a Java runtime (17 or 21), and none was found: install one (e.g. apt-get "
                           "install openjdk-17-jre-headless) and put java on PATH or set JAVA_HOME; or set [engine] "
                           "backend = \"duckdb\".")
    builder = sql.SparkSession.builder.appName(settings.app_name)
    launched = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))  # spark-submit started the JVM with its own master
    if not launched:
        builder = builder.master(settings.master)
    conf = {"spark.ui.showConsoleProgress": "false", **settings.conf, **PINNED_SPARK_CONF}
    if settings.master.startswith("local") and not launched:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # what pyspark starts its workers with
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise BackendError(f"Spark did not start ({type(exc).__name__}: {str(exc).strip()[:300]}). Check "
                           "[engine.spark] master and conf (`commetrics config`), and that Java 17 or 21 is "
                           "installed.") from None
    session.sparkContext.setLogLevel("ERROR")  # a library prints what it was asked for, and errors
    return session, True


def view_prefix(mirror: Mirror) -> str:
    """The prefix of this mirror's views: one per folder, so workspaces sharing a session stay apart."""
    return "commetrics_" + hashlib.sha256(str(mirror.folder).encode()).hexdigest()[:8] + "_"


class SparkAnalytics:
    """One Spark session reading one mirror: registers its tables and hands out the Ibis backend."""

    def __init__(self, session: SparkSession, mirror: Mirror, *, uri: str = "", owned: bool = False) -> None:
        self.session = session
        self.mirror = mirror
        self.uri = (uri or mirror.folder.as_uri()).rstrip("/")
        self.owned = owned
        prefix = view_prefix(mirror)
        self.views: dict[str, str] = {name: prefix + name for name in MIRRORED_TABLES}
        self._backend: Any = None

    def register(self) -> None:
        """(Re)make the views over the mirror's folders, with the store's types (an empty folder is an
        empty table)."""
        for name, view in self.views.items():
            frame = self.session.read.schema(spark_ddl(name)).parquet(f"{self.uri}/{name}")
            frame.createOrReplaceTempView(view)

    def backend(self) -> Any:
        """The Ibis backend over the views (made once; the views behind it are remade on sync)."""
        if self._backend is None:
            from .spark_backend import MirrorBackend

            self._backend = MirrorBackend.over(self.session, self.views)
        return self._backend

    def close(self) -> None:
        """Drop the views; stop the session only if commetrics started it."""
        for view in self.views.values():
            self.session.catalog.dropTempView(view)
        if self.owned:
            self.session.stop()


def default_warehouse(workspace: Path, settings: SparkSettings) -> Path:
    """The mirror's folder: ``[engine.spark] warehouse`` (relative to the workspace), else ``warehouse``
    in the workspace."""
    chosen = Path(settings.warehouse).expanduser() if settings.warehouse else Path("warehouse")
    return chosen if chosen.is_absolute() else workspace / chosen

