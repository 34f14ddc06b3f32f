"""The ``[engine]`` and ``[store]`` sections of ``commetrics.toml``: which engine runs the analyses, how it is
tuned, and how the workspace's store is waited for, backed up and copied for readers.

The store is always DuckDB — loads, the ledger, quarantine, identity and erasure write there, and it
stays the one source of truth. ``backend = "spark"`` moves the *analyses* onto Spark: they read a
Parquet mirror of the store's canonical tables (see :mod:`commetrics.engine.mirror`) through Ibis's
PySpark backend. ``[engine.duckdb]`` tunes the store's own DuckDB session either way.

``[dashboard]`` says how ``commetrics serve`` reads the store: how many computations at once, and whether it
computes its pages before anyone asks.

It lives beside :mod:`commetrics.config`, which includes it as ``Config.engine``, so that the settings of
how the engine runs stay apart from the definitions of what it measures.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DashboardSettings", "DuckDBSettings", "EngineSettings", "SparkSettings", "StoreSettings"]

#: Spark settings commetrics sets itself: changing them would break the guarantees the docs give.
PINNED_SPARK_CONF = {"spark.sql.session.timeZone": "UTC"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuckDBSettings(_Section):
    """The store's DuckDB session: memory and threads."""

    memory_limit: str | None = Field(
        None, description="Most memory DuckDB may use, e.g. '4GB' (default: DuckDB's own, 80% of RAM); beyond it "
        "DuckDB spills to disk beside the store, so large analyses slow down instead of failing")
    threads: int | None = Field(None, ge=1, description="Threads DuckDB may use (default: one per core)")

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value,
                                                  flags=re.IGNORECASE):
            msg = f"memory_limit {value!r} is not a size; write a number and a unit such as '512MB' or '4GB'"
            raise ValueError(msg)
        return value.strip() if value is not None else None


class SparkSettings(_Section):
    """Where Spark runs and where it reads the mirror of the store."""

    master: str = Field("local[2]", description="Spark master URL: 'local[N]' on this machine, 'spark://host:7077' "
                        "for a standalone cluster, 'yarn', ... (ignored when a Spark session is passed to the Engine "
                        "or the job runs under spark-submit, which set their own)")
    app_name: str = Field("commetrics", description="Spark application name, as the cluster's UI shows it")
    conf: dict[str, str] = Field(
        default_factory=dict, description="Extra Spark settings, e.g. { \"spark.driver.memory\" = \"4g\" }; "
        "spark.sql.session.timeZone is always UTC")
    warehouse: str = Field(
        "", description="Folder the mirror of the store is written to as Parquet (default: 'warehouse' in the "
        "workspace); on a cluster, a folder every executor can read")
    warehouse_uri: str = Field(
        "", description="The same folder as Spark names it, when that differs from `warehouse`, e.g. "
        "'dbfs:/commetrics' for a driver that writes to '/dbfs/commetrics' (default: `warehouse` itself)")
    mirror_on_load: bool = Field(True, description="Bring the mirror up to date after each load, identity run and "
                                 "erasure (false: only when an analysis or `commetrics mirror` needs it)")

    @field_validator("conf")
    @classmethod
    def _not_pinned(cls, values: dict[str, str]) -> dict[str, str]:
        for key, pinned in PINNED_SPARK_CONF.items():
            if key in values and values[key] != pinned:
                msg = (f"{key} must stay {pinned!r}: the store holds UTC instants and analyses bucket them in "
                       "reporting.timezone; remove it from engine.spark.conf")
                raise ValueError(msg)
        return values


class EngineSettings(_Section):
    """Which engine runs the analyses (the store is DuckDB either way)."""

    backend: Literal["duckdb", "spark"] = Field(
        "duckdb", description="'duckdb': analyses run in the store itself; 'spark': they run on Spark over a "
        "Parquet mirror of the store, kept up to date by load (see docs/scale.md)")
    duckdb: DuckDBSettings = Field(default_factory=lambda: DuckDBSettings(), description="The store's DuckDB session")
    spark: SparkSettings = Field(default_factory=lambda: SparkSettings(), description="Spark, for backend = 'spark'")


class StoreSettings(_Section):
    """The workspace's store: how long to wait for it, where backups go."""

    lock_wait_seconds: float = Field(
        10.0, ge=0, le=3600,
        description="How long a command waits for another one using the workspace (a load, an erasure) before "
                    "it stops with 'busy, run again'")
    backups_kept: int = Field(
        10, ge=1, le=1000,
        description="Backups `commetrics backup` keeps in the workspace's backups folder; older ones are deleted "
                    "(a backup holds personal data, so fewer is better)")
    read_copy: bool = Field(
        True,
        description="Keep a read copy of the store (commetrics.snapshot.duckdb), published after every command that "
                    "changed it, so reports, the summary and the dashboard read it while a load runs instead of "
                    "waiting (it takes as much disk as the store)")


class DashboardSettings(_Section):
    """How ``commetrics serve`` reads: computations at once, and pages computed before anyone asks."""

    readers: int = Field(
        2, ge=1, le=32,
        description="Questions the dashboard computes at once, each on its own read-only connection to the store's "
                    "read copy (more than the machine's cores only makes each of them slower); a question already "
                    "being computed is never computed twice")
    patience: float = Field(
        20.0, ge=1, le=3600,
        description="Seconds a page waits for figures being computed; past that it says they are being computed "
                    "and reloads itself until they are (the computation goes on). Keep it below the reverse proxy's "
                    "read timeout. The JSON API waits for the figures")
    warm: Literal["off", "pages", "variants", "all"] = Field(
        "variants",
        description="What the dashboard computes before anyone asks — when the server starts and when the data "
                    "changes (in the background), and in `commetrics refresh`: 'pages' (every page as it opens), "
                    "'variants' (also each picker changed on its own: every cohort key, window, impact question, "
                    "attribution model, member scores), 'all' (also every cohort key with every window), 'off'")
