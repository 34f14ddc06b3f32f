"""The report at scale, on the default path (people resolved): ``commetrics report`` timed section by section.

    python benchmarks/report.py --workspace demo-1m [--runs 1] [--out benchmarks/results]
    python benchmarks/report.py --members 300000          # generates a demo workspace first (in a temp folder)

A demo workspace (``commetrics demo --members N --workspace DIR``) has its people resolved, as every workspace
whose members are loaded has by default. The report is written as ``commetrics report`` writes it
(:func:`commetrics.write_report`, read-only), and each section's time comes from the report's own progress
events. Results go to ``report.json`` (``report-LABEL.json`` with ``--label``) in ``--out``, with the DuckDB
version, the machine's load before and after (``os.getloadavg``: on a shared machine the figures move with it)
and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from commetrics import Engine, write_report
from commetrics.progress import ProgressEvent


def _timed_report(workspace: Path, out: Path) -> dict[str, Any]:
    sections: list[dict[str, Any]] = []
    last = [time.perf_counter()]

    def listen(event: ProgressEvent) -> None:
        if event.operation == "report" and event.stage == "sections" and event.detail:
            now = time.perf_counter()
            sections.append({"section": event.detail, "seconds": round(now - last[0], 2)})
            last[0] = now

    with Engine(workspace, read_only=True, progress=listen) as engine:
        members = int(engine.ibis().table("members").count().execute())
        people = int(engine.ibis().table("people").person_id.nunique().execute())
        started, cpu = time.perf_counter(), time.process_time()
        last[0] = started
        write_report(engine, out / "report.html")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU seconds (every thread of the process, DuckDB's included) move less than wall time with the machine's load
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "members": members, "people": people,
            "sections": sections}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace to report on (a demo workspace)")
    parser.add_argument("--members", type=int, default=300_000, help="without --workspace: demo members")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--label", default="", help="what this run measures (written to report-LABEL.json)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    command = "python benchmarks/report.py " + shlex.join(argv if argv is not None else sys.argv[1:])

    with tempfile.TemporaryDirectory(prefix="commetrics-report-bench-") as tmp:
        workspace = args.workspace
        if workspace is None:
            workspace = Path(tmp) / "ws"
            engine, _ = Engine.demo(workspace, members=args.members, seed=7)  # loads, resolves people
            engine.close()
        load_before = os.getloadavg()
        runs = [_timed_report(workspace, Path(tmp)) for _ in range(args.runs)]
        load_after = os.getloadavg()
    best = min(runs, key=lambda r: r["seconds"])
    record = {
        "benchmark": "report", "command": command, "label": args.label,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after]},
        "members": best["members"], "people": best["people"], "seconds": [r["seconds"] for r in runs],
        "cpu_seconds": [r["cpu_seconds"] for r in runs],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "sections": best["sections"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"report-{args.label}" if args.label else "report"
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
