"""One community at scale, end to end: generate, load, resolve, report, then an incremental day.

    python benchmarks/scale.py [--members 5000000] [--chunk 250000] [--activities-per-member 20]
                               [--jobs 1] [--memory-limit 16GB] [--data DIR] [--out benchmarks/results]

The community is generated in chunks of ``--chunk`` members (the demo generator, each chunk with its
own seed; ids and e-mail addresses carry the chunk's prefix so that chunks are different people) and
written to Parquet under ``--data``, so no step ever holds the whole community in Python. Then, in a
fresh workspace whose ``commetrics.toml`` sets ``[engine.duckdb] memory_limit`` (DuckDB spills to
disk beyond it):

* **load**: every chunk's files, table by table, people resolved once after the loads (``batch``);
* **resolve**: that resolution, timed on its own;
* **report**: ``commetrics report`` (the HTML report, every section);
* **incremental day**: 1,000 new members and 100,000 activities loaded, people resolved for them.

The default size is the target community (5M members, about 100M activities); targets on 2 cores /
24 GB: report under 60 s, the incremental day under 30 s, peak memory under 16 GB. Each step's time
and the process's peak resident memory after it go to ``scale.json`` / ``scale.md`` in ``--out``,
with the size, the DuckDB version, the machine's load average and the command. The run is long at
the default size; a smaller ``--members`` says how the steps scale, not whether the targets hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from commetrics import Engine, schema
from commetrics.demo import generate
from commetrics.reports.build import write_report

TARGETS = {"report": 60.0, "incremental_day": 30.0}
TARGET_PEAK_MIB = 16 * 1024
DAY_MEMBERS = 1_000
DAY_ACTIVITIES = 100_000


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prefixed(source: Path, target: Path, table: str, prefix: str) -> None:
    """Copy one generated Parquet file with its ids and e-mail addresses made unique to the chunk."""
    columns = {c.name: c.kind for c in schema.TABLES[table].columns} if table in schema.TABLES else {}
    con = duckdb.connect()
    present = [str(r[0]) for r in con.execute(f"describe select * from read_parquet('{source}')").fetchall()]
    swaps = []
    for name in present:
        kind = columns.get(name)
        if kind == "id" or name.endswith("_id"):
            swaps.append(f"'{prefix}-' || \"{name}\" as \"{name}\"")
        elif kind == "email":
            swaps.append(f"'{prefix}.' || \"{name}\" as \"{name}\"")
    replace = f" replace ({', '.join(swaps)})" if swaps else ""
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy (select *{replace} from read_parquet('{source}')) to '{target}' (format parquet)")
    con.close()


def _make_chunk(folder: Path, index: int, size: int, per_member: float) -> None:
    """One chunk's Parquet files, generated with the chunk's own seed into the chunk's own folder."""
    if (folder / "ready").exists():
        return
    raw = generate(size, index + 1, folder / "raw", activities_per_member=per_member)
    for table, path in raw.tables.items():
        _prefixed(path, folder / f"{table}.parquet", table, f"c{index}")
    shutil.rmtree(folder / "raw")
    (folder / "ready").write_text("ok")


def make_chunks(members: int, chunk: int, per_member: float, data: Path, jobs: int = 1) -> list[dict[str, Path]]:
    """The community as chunks of Parquet files (table -> file), made once per size under ``data``.

    ``jobs`` processes generate chunks side by side; each chunk depends only on its index, so the
    community is the same whatever the number of jobs.
    """
    root = data / f"community_{members}_{chunk}_{per_member:g}"
    work = [(root / f"chunk{index:04d}", index, min(chunk, members - start), per_member)
            for index, start in enumerate(range(0, members, chunk))]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for future in [pool.submit(_make_chunk, *item) for item in work]:
                future.result()
    else:
        for item in work:
            _make_chunk(*item)
    return [{p.stem: p for p in sorted(folder.glob("*.parquet"))} for folder, *_ in work]


def day_files(data: Path) -> dict[str, Path]:
    """One day's new members and activities (their own prefix: nobody loaded before)."""
    folder = data / "day"
    if not (folder / "ready").exists():
        raw = generate(DAY_MEMBERS, 999, data / "day_raw", activities_per_member=DAY_ACTIVITIES / DAY_MEMBERS)
        for table in ("members", "activities"):
            _prefixed(raw.tables[table], folder / f"{table}.parquet", table, "day")
        shutil.rmtree(data / "day_raw")
        (folder / "ready").write_text("ok")
    return {t: folder / f"{t}.parquet" for t in ("members", "activities")}


def _publish(args: argparse.Namespace, command: str, before: tuple[float, float, float],
             steps: dict[str, dict[str, float]], rows: dict[str, int], facts: dict[str, object]) -> None:
    """Write scale.json and scale.md with the steps done so far (after each long step and at the end)."""
    after = os.getloadavg()
    peak = _peak_mib()
    record = {
        "benchmark": "scale: generate, load, resolve, report, incremental day", "command": command,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "duckdb": duckdb.__version__},
        "load_average_before": before, "load_average_after": after,
        "size": {"members": args.members, "chunk": args.chunk, "rows": rows, "people": facts["people"]},
        "duckdb_memory_limit": facts["memory_limit"], "failed": facts["failed"],
        "steps": steps, "peak_rss_mib": round(peak),
        "targets": {**TARGETS, "peak_mib": TARGET_PEAK_MIB, "at_members": 5_000_000},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    loads = "; after: ".join(", ".join(f"{x:.2f}" for x in v) for v in (before, after))
    lines = ["# Scale benchmark", "", f"`{command}`", "",
             f"**Size: {args.members:,} members** ({', '.join(f'{n:,} {t}' for t, n in rows.items())}; "
             f"{facts['people']:,} people), generated in chunks of {args.chunk:,}. "
             "The targets are for 5,000,000 members; "
             "a smaller run shows how the steps scale, not whether the targets hold.", "",
             f"Run {record['run_at']} on {os.cpu_count()} CPUs, DuckDB {duckdb.__version__}, memory_limit "
             f"{facts['memory_limit']}. Machine load average (1, 5, 15 min) before: {loads}.", "",
             "| step | seconds | peak RSS so far MiB | target at 5M members |", "|---|---:|---:|---|"]
    for name, figures in steps.items():
        target = f"< {TARGETS[name]:g} s" if name in TARGETS else ""
        lines.append(f"| {name} | {figures['seconds']} | {figures['peak_mib_so_far']:,} | {target} |")
    lines += ["", f"Peak resident memory of the run: {round(peak):,} MiB (target < {TARGET_PEAK_MIB:,} MiB at 5M)."]
    if facts["failed"]:
        lines += ["", f"**The run stopped with an error:** {facts['failed']}"]
    elif "incremental_day" not in steps:
        lines += ["", "The run was still going when this was written: the steps missing above had not finished."]
    (args.out / "scale.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5_000_000)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--activities-per-member", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=1, help="processes generating chunks side by side")
    parser.add_argument("--memory-limit", default="16GB", help="[engine.duckdb] memory_limit of the workspace")
    parser.add_argument("--data", type=Path, default=Path("/tmp") / "commetrics-bench-scale")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    command = "python benchmarks/scale.py " + " ".join(sys.argv[1:] if argv is None else argv)
    before = os.getloadavg()
    steps: dict[str, dict[str, float]] = {}

    def step(name: str, started: float) -> None:
        steps[name] = {"seconds": round(time.perf_counter() - started, 2), "peak_mib_so_far": round(_peak_mib())}
        print(f"{name}: {steps[name]['seconds']:.1f}s, peak so far {steps[name]['peak_mib_so_far']:,} MiB", flush=True)

    started = time.perf_counter()
    chunks = make_chunks(args.members, args.chunk, args.activities_per_member, args.data, args.jobs)
    day = day_files(args.data)
    step("generate", started)
    workspace = args.data / f"workspace_{args.members}"
    shutil.rmtree(workspace, ignore_errors=True)
    Engine.init(workspace).close()
    with (workspace / "commetrics.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[engine.duckdb]\nmemory_limit = "{args.memory_limit}"\n')
    rows: dict[str, int] = {}
    facts: dict[str, object] = {"people": 0, "memory_limit": args.memory_limit, "failed": ""}
    try:
        with Engine(workspace) as engine:
            setting = "select current_setting('memory_limit')"
            facts["memory_limit"] = str(engine.store.con.execute(setting).fetchall()[0][0])
            started = time.perf_counter()
            with engine.batch():
                for files in chunks:
                    for table, path in files.items():
                        if table in schema.TABLES:
                            rows[table] = rows.get(table, 0) + engine.load(table, path, source="scale").rows_loaded
                step("load", started)
                started = time.perf_counter()
            step("resolve", started)
            people = "select count(distinct person_id) from people"
            facts["people"] = int(engine.store.con.execute(people).fetchall()[0][0])
            _publish(args, command, before, steps, rows, facts)
            started = time.perf_counter()
            write_report(engine, args.data / "report.html")
            step("report", started)
            _publish(args, command, before, steps, rows, facts)
            started = time.perf_counter()
            with engine.batch():
                for table in ("members", "activities"):
                    engine.load(table, day[table], source="scale")
            step("incremental_day", started)
    except BaseException as error:
        facts["failed"] = f"{type(error).__name__}: {error}"[:500]
        _publish(args, command, before, steps, rows, facts)
        raise
    shutil.rmtree(workspace, ignore_errors=True)
    _publish(args, command, before, steps, rows, facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
