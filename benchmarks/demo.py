"""Scale check of the demo: generate N members (about 20 activities each) and load them.

    python benchmarks/demo.py [--members 1000000] [--out benchmarks/results]

Times the generation and each table's load into a fresh on-disk workspace, and records the peak
resident memory of the process. Results go to ``demo.json`` and ``demo.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from commetrics import Config, Engine
from commetrics.config import IdentitySettings
from commetrics.demo import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate(args.members, args.seed, Path(tmp) / "data")
        generate_s = time.perf_counter() - started
        loads = []
        Engine.init(Path(tmp) / "ws").close()
        timed_apart = Config(identity=IdentitySettings(resolve_on_load=False))  # resolution is timed on its own
        with Engine(Path(tmp) / "ws", config=timed_apart) as engine:
            for name, path in files.tables.items():
                t = time.perf_counter()
                report = engine.load(name, path, source="demo")
                loads.append({"table": name, "rows": report.rows_loaded, "quarantined": report.rows_quarantined,
                              "seconds": round(time.perf_counter() - t, 2)})
                print(f"{name:14s} {report.rows_loaded:>12,} rows  {loads[-1]['seconds']:7.2f}s", flush=True)
            t = time.perf_counter()
            run = engine.resolve_identities()  # what a load of members or contacts runs after itself
            resolve_s = round(time.perf_counter() - t, 2)
            print(f"identity resolution: {run['records']:,} records into {run['people']:,} people, {resolve_s:.2f}s",
                  flush=True)
        store_bytes = sum(p.stat().st_size for p in (Path(tmp) / "ws").iterdir())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "benchmark": "demo generate + load", "members": args.members, "seed": args.seed,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__},
        "generate_seconds": round(generate_s, 2), "load_seconds": round(sum(x["seconds"] for x in loads), 2),
        "peak_rss_mib": round(peak_mib), "store_mib": round(store_bytes / 2**20), "loads": loads,
        "identity": {"records": run["records"], "people": run["people"], "links_by_rule": run["links_by_rule"],
                     "seconds": resolve_s},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = ["# Demo scale benchmark", "",
             f"Run {record['run_at']} on {os.cpu_count()} CPUs: {args.members:,} members, seed {args.seed}.", "",
             f"- generate: {record['generate_seconds']} s",
             f"- load: {record['load_seconds']} s (store {record['store_mib']} MiB)",
             f"- identity resolution after the loads: {run['records']:,} records into {run['people']:,} people "
             f"in {resolve_s} s",
             f"- peak resident memory: {record['peak_rss_mib']} MiB", "",
             "| table | rows | quarantined | seconds |", "|---|---:|---:|---:|"]
    lines += [f"| {x['table']} | {x['rows']:,} | {x['quarantined']} | {x['seconds']} |" for x in loads]
    (args.out / "demo.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"generate {generate_s:.1f}s, load {record['load_seconds']}s, peak {record['peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
