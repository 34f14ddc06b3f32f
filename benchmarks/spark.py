"""Spark against DuckDB on one machine: the same conversion, on the demo community at two sizes.

    python benchmarks/spark.py [--members 3000 100000] [--data DIR] [--out benchmarks/results] [--repeat 2]

For each size, the demo community (``benchmarks/demo_data.py``; about 20 activities per member) is
generated and loaded once into ``--data``. Then, on the store's DuckDB and on Spark ``local[2]``
reading the Parquet mirror (``[engine] backend = "spark"``), it times, best of ``--repeat`` after a
first warm-up run:

* **counts**: ``conversion_counts`` by entry path, windows 7/30/60/90 days (one query), and
* **analysis**: ``Engine.conversion`` — rates with intervals, time to conversion and Kaplan–Meier
  (about fifteen queries, and the statistics on the driver),

and once each: Spark's start-up and the first mirror sync (writing every table as Parquet). It checks
that both backends give identical counts and writes ``spark.json`` and ``spark.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from demo_data import DEFAULT_DATA, prepared_workspace

from commetrics import Engine
from commetrics.engine.spark import start_session
from commetrics.engine_settings import SparkSettings
from commetrics.metrics.conversion import ConversionSpec, conversion_counts

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
SPEC = ConversionSpec("bench", ("trial_start", "purchase"), windows=(7, 30, 60, 90), by=("entry_path",))
#: few shuffle partitions on two cores; Spark's defaults are the cluster's business
CONF = {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false", "spark.driver.memory": "4g"}


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(first run's seconds, best of ``repeat`` later runs, the last result)."""
    t = time.perf_counter()
    result = run()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return first, min(times), result


def _measure(engine: Engine, repeat: int) -> tuple[dict[str, float], pd.DataFrame]:
    db = engine.ibis()
    first_counts, counts_s, counts = _best(lambda: conversion_counts(db, SPEC, AS_OF, "UTC"), repeat)
    first_analysis, analysis_s, _ = _best(lambda: engine.conversion(outcome=["trial_start", "purchase"],
                                                                    by=["entry_path"], as_of=AS_OF), repeat)
    return ({"counts_first_s": round(first_counts, 2), "counts_s": round(counts_s, 2),
             "analysis_first_s": round(first_analysis, 2), "analysis_s": round(analysis_s, 2)},
            counts.sort_values("entry_path").reset_index(drop=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[3_000, 100_000])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    t = time.perf_counter()
    session, _ = start_session(SparkSettings(master="local[2]", app_name="commetrics-bench", conf=CONF))
    startup = time.perf_counter() - t
    print(f"Spark started in {startup:.1f}s", flush=True)
    results = []
    for members in args.members:
        workspace = prepared_workspace(members, args.data)
        shutil.rmtree(workspace / "warehouse", ignore_errors=True)  # time the first sync in full
        with Engine(workspace, read_only=True) as duck, Engine(workspace, read_only=True, spark=session) as spark:
            rows = {t: duck.store.row_counts()[t] for t in ("members", "activities", "outcomes")}
            sync = spark.sync_mirror()
            duck_times, duck_counts = _measure(duck, args.repeat)
            spark_times, spark_counts = _measure(spark, args.repeat)
        columns = list(duck_counts.columns)
        counts = [c for c in columns if c != "entry_path"]
        same = duck_counts[columns].astype(dict.fromkeys(counts, "int64")).equals(
            spark_counts[columns].astype(dict.fromkeys(counts, "int64")))
        if not same:
            print(f"{members:,} members: Spark and DuckDB disagree", file=sys.stderr)
            return 1
        results.append({"members": members, "rows": rows, "mirror_first_sync_s": round(sync.seconds, 2),
                        "mirror_rows": sync.rows_written, "duckdb": duck_times, "spark": spark_times})
        print(f"{members:>9,} members: mirror {sync.seconds:.1f}s; counts DuckDB {duck_times['counts_s']}s, Spark "
              f"{spark_times['counts_s']}s; analysis DuckDB {duck_times['analysis_s']}s, Spark "
              f"{spark_times['analysis_s']}s", flush=True)
    session.stop()
    load = os.getloadavg()
    record = {
        "benchmark": "conversion on DuckDB and on Spark local[2] over the mirror",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "load_average_at_end": [round(x, 1) for x in load]},
        "spark": {"master": "local[2]", "conf": CONF, "startup_s": round(startup, 1)},
        "repeat": args.repeat, "identical_counts": True, "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "spark.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = ["# Spark and DuckDB on one machine", "",
             f"Run {record['run_at']} on {os.cpu_count()} CPUs (load average at the end "
             f"{', '.join(f'{x:.1f}' for x in load)}), DuckDB {duckdb.__version__}, Spark local[2]; "
             f"Spark started in {startup:.1f} s. Seconds, best of {args.repeat} after a warm-up run (the warm-up "
             "in brackets). Counts: one conversion_counts query by entry path, four windows. Analysis: "
             "`Engine.conversion` by entry path (rates, intervals, time to conversion). Both backends gave "
             "identical counts.", "",
             "| members | activities | mirror sync s | counts DuckDB | counts Spark | analysis DuckDB | "
             "analysis Spark |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        d, s = r["duckdb"], r["spark"]
        lines.append(f"| {r['members']:,} | {r['rows']['activities']:,} | {r['mirror_first_sync_s']} | "
                     f"{d['counts_s']} ({d['counts_first_s']}) | {s['counts_s']} ({s['counts_first_s']}) | "
                     f"{d['analysis_s']} ({d['analysis_first_s']}) | {s['analysis_s']} ({s['analysis_first_s']}) |")
    (args.out / "spark.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
