"""The conversion engine gives identical numbers on a local Spark session and on DuckDB.

Analyses are Ibis expressions, so the same code runs on both backends; this runs it on each over
the same small community (the demo, 3,000 members) and compares every count.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from commetrics import Engine
from commetrics.metrics.conversion import ConversionSpec, conversion_counts

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")

pytestmark = [
    pytest.mark.slow,
    # py4j leaves its gateway sockets for the garbage collector; that is Spark's business, not ours
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TABLES = ("members", "accounts", "activities", "outcomes")


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Any, datetime]]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java runtime (java on PATH or JAVA_HOME)")
    import ibis
    from pyspark.sql import SparkSession

    from commetrics.demo import generate

    directory = tmp_path_factory.mktemp("spark")
    files = generate(3_000, 4, directory / "data")
    engine = Engine.init(directory / "ws")
    for name, path in files.tables.items():
        engine.load(name, path, source="demo")
    spark = (SparkSession.builder.master("local[2]").appName("commetrics-parity")
             .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    from commetrics import schema

    for name in (*TABLES, "people"):  # the canonical columns, through Parquet (timestamps stay UTC instants)
        columns = (["*"] if name == "people" else  # resolved identities: both sides count people
                   [c for c in (*schema.TABLES[name].column_names, "source", "load_id") if c not in ("attributes",
                                                                                                    "tags")])
        path = directory / f"{name}.parquet"
        engine.store.con.execute(f"copy (select {', '.join(columns)} from {name}) to '{path}' (format parquet)")
        spark.read.parquet(str(path)).createOrReplaceTempView(name)
    yield engine, ibis.pyspark.connect(spark), datetime.fromisoformat("2026-06-30T00:00:00+00:00")
    spark.stop()
    engine.close()


@pytest.mark.parametrize("by", [(), ("entry_path",), ("join_month",), ("join_week",), ("first_activity",),
                                ("segment",), ("program",), ("arr:10000,100000",)])
def test_conversion_counts_are_identical_on_spark_and_duckdb(backends, by) -> None:  # type: ignore[no-untyped-def]
    engine, spark_db, as_of = backends
    spec = ConversionSpec("trial", ("trial_start", "purchase"), windows=(7, 30, 90), by=by)
    duck = conversion_counts(engine.ibis(), spec, as_of, "UTC")
    spark = conversion_counts(spark_db, spec, as_of, "UTC")
    columns = list(duck.columns)
    counts = [c for c in columns if c not in by]
    left = duck[columns].astype(dict.fromkeys(counts, "int64")).reset_index(drop=True)
    right = spark[columns].astype(dict.fromkeys(counts, "int64")).sort_values(list(by) or columns).reset_index(
        drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert left[[c for c in counts if c.startswith("converters_")]].to_numpy().sum() > 0
