"""The Ibis PySpark backend as analyses see it: canonical names, UTC instants, JSON attributes.

Imported only when Spark runs (it imports pyspark). Three differences from the plain backend, each
so that one Ibis expression means the same on Spark as on the DuckDB store:

* ``table("members")`` reads the mirror's view of ``members`` (see :class:`.spark.SparkAnalytics`).
* Spark's ``TIMESTAMP`` is an instant shown in the session time zone (pinned to UTC); Ibis types it
  as a timestamp *without* a zone, so results came back naive where DuckDB's are UTC-aware. The
  mirror's timestamps are typed as UTC instants, as the store's are.
* ``attributes`` is JSON in the store and text in Parquet; it is typed as JSON again, so
  ``attributes["product_usage"]`` works (Spark's ``get_json_object``), and so does
  ``attributes.map`` (Spark's ``from_json``), which the plain backend cannot compile: its keys are
  how analyses learn which attributes the rows hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.schema as sch
from ibis.backends.pyspark import Backend
from ibis.backends.sql.compilers.pyspark import PySparkCompiler

__all__ = ["MirrorBackend"]


class MirrorCompiler(PySparkCompiler):  # type: ignore[misc]  # ibis ships no type information
    """Ibis's PySpark compiler, with JSON objects as maps (``json.map``; DuckDB compiles it already)."""

    __slots__ = ()

    def visit_ToJSONMap(self, op: Any, *, arg: Any) -> Any:
        # Spark's JSON is text: the values come back as their JSON text, strings without their quotes;
        # what is not an object is null, as on DuckDB.
        return self.f.from_json(arg, "map<string, string>")


class MirrorBackend(Backend):  # type: ignore[misc]  # ibis ships no type information
    """Ibis's PySpark backend over the mirror's views."""

    compiler = MirrorCompiler()
    views: Mapping[str, str] = {}

    @classmethod
    def over(cls, session: Any, views: Mapping[str, str]) -> MirrorBackend:
        _ = ibis.pyspark  # loading the backend through Ibis registers its options (ibis.options.pyspark)
        backend: MirrorBackend = cls().connect(session)
        backend.views = dict(views)
        return backend

    def table(self, name: str, /, *, database: Any = None) -> Any:
        return super().table(self.views.get(name, name), database=database)

    def get_schema(self, table_name: str, *, catalog: str | None = None, database: str | None = None) -> sch.Schema:
        schema = super().get_schema(table_name, catalog=catalog, database=database)
        if table_name not in self.views.values():
            return schema
        return sch.Schema({name: _as_in_store(name, kind) for name, kind in schema.items()})


def _as_in_store(name: str, kind: dt.DataType) -> dt.DataType:
    if kind.is_timestamp() and kind.timezone is None:
        return dt.Timestamp(timezone="UTC", scale=kind.scale, nullable=kind.nullable)
    if name == "attributes" and kind.is_string():
        return dt.JSON(nullable=kind.nullable)
    return kind
