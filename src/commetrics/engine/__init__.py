"""The Engine: the one object behind the library, the command line, the service and the report.

It is assembled from parts, one module each: :mod:`.base` (the workspace, its store and config, the
data's "now", looking at the store), :mod:`.identity` (people), :mod:`.privacy` (pseudonyms, erasure,
exports, keys), :mod:`.loading` (files and platform exports), :mod:`.analyses` (every registered
analysis, returned as a published :class:`~commetrics.results.Result`), :mod:`.operations` (CRM write-back,
demo) and :mod:`.maintenance` (backups, restores, the store check). Analyses run in the store's DuckDB
session, or on Spark over a Parquet mirror of the store (:mod:`.mirror`, :mod:`.spark`).
"""

from __future__ import annotations

from .base import Status
from .maintenance import MaintenancePart, StoreCheck
from .operations import DemoLoad, OperationsPart

__all__ = ["DemoLoad", "Engine", "Status", "StoreCheck"]


class Engine(OperationsPart, MaintenancePart):
    """Everything commetrics can do, over one workspace.

    Parameters
    ----------
    workspace
        The workspace folder (``commetrics.toml`` + ``commetrics.duckdb``). ``None`` uses
        ``$COMMETRICS_WORKSPACE`` or the current folder. Use :meth:`in_memory` for a throw-away
        store.
    config
        Settings to use instead of the workspace's ``commetrics.toml``.
    read_only
        Open the store for reading only (several readers may share it).
    spark
        A SparkSession to run the analyses in (a notebook's, a Databricks cluster's). It selects
        ``backend = "spark"`` whatever the config says; commetrics never stops a session it was given.
        Without it, ``[engine] backend = "spark"`` starts one from ``[engine.spark]`` on first use.
    cache
        Read published Results back from the workspace's results cache when the same analysis was run with the
        same parameters and settings on the same data version, and keep those computed (:mod:`.cache`). Results
        read back carry their published figures only; ``exact=True`` always computes.
    read_copy
        Read the store's read copy (:mod:`.snapshot`), read-only, without taking the workspace lock: for a
        long-lived reader such as the dashboard, which must never make a load wait. Its data is that of the last
        completed write; open a new Engine when the copy's file changes.

    A reader (``read_only=True``) that finds another command writing the store reads the store's read copy
    instead of waiting (:mod:`.snapshot`); :meth:`data_version` says so.

    Every analysis returns a :class:`~commetrics.results.Result` whose published figures have the
    workspace's publication policy applied (consent, small cells); ``exact=True`` gives the analyst
    the exact figures.

    Examples
    --------
    >>> engine = Engine.in_memory()
    >>> engine.status().tables["members"]
    0
    """
