"""Attribution speed and memory: commetrics beside ChannelAttribution on the same path data.

    python benchmarks/attribution.py [--journeys 1000000 10000000] [--repeat 3] [--out benchmarks/results] [--no-peer]
                                     [--store-members 1000000] [--data DIR]

For each size, synthetic journeys are generated (1-10 touches drawn from 10 classes with unequal
frequencies; conversion more likely the more touches of three "good" classes; a value per
conversion) and written as the aggregated path file of the attribution libraries (``path``,
``total_conversions``, ``total_conversion_value``, ``total_null``), plus the touch times of the
converting journeys (for time decay, which needs them). Then, each in its own child process so
that peak memory is its own:

* **commetrics**: reads the path file (``read_path_file``) and runs every path model — first,
  last, linear, position, Markov order 1 (exact) and Shapley — then time decay over the touches;
* **ChannelAttribution**: ``pandas.read_csv`` of the same file, ``heuristic_models`` (first, last,
  linear) and ``markov_model`` (order 1, its defaults — 100,000 simulated journeys — on every CPU).

Each side runs ``--repeat`` times (interleaved); times are the best run's steps, memory the
highest peak. Peak memory is each child's high-water mark of resident memory (``VmHWM``: the parent's size at
the fork does not count, as it would in ``ru_maxrss``). The ratio compares the same work (read +
heuristics + Markov) on both sides; the target is commetrics at least 3x faster at 1M journeys
with a peak under 2 GB, and 10M journeys within 8 GB. The run fails unless both sides give the
same first/last/linear credit (to 1e-6 of all conversions), and reports the Markov difference
(ChannelAttribution simulates; its spread is tested in ``tests/test_attribution_peers.py``).

**From the store** (``--store-members N``, 0 to skip): the demo community of N members, loaded on the
default path (people resolved; shared with the conversion benchmark under ``--data``), and in a child
process ``Engine.attribution("all")`` — journeys built from the loaded activities and outcomes, then
every model, published — and, timed on their own, the journey building and the models over them.

Results go to ``attribution.json`` and ``attribution.md`` in ``--out``, with the DuckDB version, the
machine's load average before and after, and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TARGET_SPEEDUP = 3.0
TARGET_PEAK_MIB = {1_000_000: 2048, 10_000_000: 8192}
CLASSES = ("forum", "webinar", "ama", "user_group", "docs", "slack", "champions", "events", "newsletter",
           "office_hours")
GOOD = (0, 3, 6)  # the classes whose touches raise the chance to convert


def generate(journeys: int, directory: Path, seed: int = 7) -> dict[str, int]:
    """Write ``paths.csv`` (aggregated) and ``touches.parquet`` (converting journeys) for ``journeys``."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 11, journeys)
    frequency = 1.0 / np.arange(1, len(CLASSES) + 1)
    codes = rng.choice(len(CLASSES), size=int(lengths.sum()), p=frequency / frequency.sum()).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    owner = np.repeat(np.arange(journeys), lengths)
    good = np.bincount(owner, weights=np.isin(codes, GOOD), minlength=journeys)
    converted = rng.random(journeys) < 1.0 / (1.0 + np.exp(3.0 - 0.4 * good))
    value = np.where(converted, np.round(rng.gamma(2.0, 500.0, journeys), 2), 0.0)
    names = pa.array(np.asarray(CLASSES, dtype=object)[codes], pa.string())
    path = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), names), " > ")
    table = pa.table({"path": path, "c": converted.astype(np.int64), "v": value, "n": (~converted).astype(np.int64)})
    table = table.group_by("path", use_threads=False).aggregate([("c", "sum"), ("v", "sum"), ("n", "sum")])
    table = table.rename_columns(["path", "total_conversions", "total_conversion_value", "total_null"])
    pacsv.write_csv(table, directory / "paths.csv")
    # Touch times for time decay: the converting journeys' touches, days before the conversion (latest last).
    keep = np.repeat(converted, lengths)
    position = np.arange(len(codes)) - offsets[:-1][owner]
    gaps = rng.exponential(6.0, len(codes))
    days = np.round((lengths[owner] - 1 - position) * gaps, 3)
    pq.write_table(pa.table({"journey": owner[keep], "class": names.filter(pa.array(keep)), "days_before": days[keep],
                             "conversions": np.ones(int(keep.sum())), "value": value[owner[keep]]}),
                   directory / "touches.parquet")
    return {"journeys": journeys, "distinct_paths": table.num_rows, "touches": int(lengths.sum()),
            "conversions": int(converted.sum()), "converting_touches": int(keep.sum())}


OURS = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import pandas as pd
from commetrics.metrics.attribution import (heuristic_attribution, markov_attribution, read_path_file,
                                            shapley_attribution, time_decay_attribution)
directory = Path(sys.argv[1])
steps, credit = {}, {}
def step(name, fn):
    start = time.perf_counter()
    out = fn()
    steps[name] = time.perf_counter() - start
    return out
steps["import"] = time.perf_counter() - t0
paths = step("read", lambda: read_path_file(directory / "paths.csv"))
for model in ("first", "last", "linear", "position"):
    frame = step(model, lambda: heuristic_attribution(paths, model))
    credit[model] = dict(zip(frame["class"], frame["conversions"]))
frame = step("markov", lambda: markov_attribution(paths, order=1))
credit["markov"] = dict(zip(frame["class"], frame["conversions"]))
frame = step("shapley", lambda: shapley_attribution(paths))
credit["shapley"] = dict(zip(frame["class"], frame["conversions"]))
touches = step("read_touches", lambda: pd.read_parquet(directory / "touches.parquet"))
frame = step("time_decay", lambda: time_decay_attribution(touches, half_life_days=7.0))
credit["time_decay"] = dict(zip(frame["class"], frame["conversions"]))
peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"steps": steps, "credit": credit, "peak_mib": peak, "distinct_paths": len(paths)}))
"""

PEER = r"""
import contextlib, io, json, os, sys, time
from pathlib import Path
t0 = time.perf_counter()
import pandas as pd
with contextlib.redirect_stdout(io.StringIO()):
    import ChannelAttribution as ca
directory = Path(sys.argv[1])
steps, credit = {"import": time.perf_counter() - t0}, {}
start = time.perf_counter()
frame = pd.read_csv(directory / "paths.csv")
steps["read"] = time.perf_counter() - start
with contextlib.redirect_stdout(io.StringIO()):
    start = time.perf_counter()
    heuristic = ca.heuristic_models(frame, "path", "total_conversions", var_value="total_conversion_value",
                                    sep=">", flg_pro=False)
    steps["heuristics"] = time.perf_counter() - start
    start = time.perf_counter()
    markov = ca.markov_model(frame, "path", "total_conversions", var_value="total_conversion_value",
                             var_null="total_null", sep=">", order=1, verbose=0, flg_pro=False,
                             ncore=os.cpu_count())
    steps["markov"] = time.perf_counter() - start
for model, column in (("first", "first_touch"), ("last", "last_touch"), ("linear", "linear_touch")):
    credit[model] = dict(zip(heuristic["channel_name"], heuristic[column + "_conversions"]))
credit["markov"] = dict(zip(markov["channel_name"], markov["total_conversions"]))
peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"steps": steps, "credit": credit, "peak_mib": peak}))
"""


STORE = r"""
import json, sys, time
from pathlib import Path
from commetrics import Engine
from commetrics.metrics.attribution import attribute, build_journeys
engine = Engine(Path(sys.argv[1]), read_only=True)
steps = {}
start = time.perf_counter()
result = engine.attribution("all")
steps["analysis"] = time.perf_counter() - start
as_of = engine.as_of(None)
start = time.perf_counter()
journeys = build_journeys(engine.ibis(), outcomes=tuple(engine.config.attribution.outcomes), lookback_days=
                          engine.config.attribution.lookback_days, grain=engine.config.attribution.by or "program",
                          as_of=as_of, unit=engine.config.attribution.unit or "person", currency=None)
steps["build_journeys"] = time.perf_counter() - start
start = time.perf_counter()
frame = attribute(journeys, ["first", "last", "linear", "position", "time_decay", "markov", "shapley"])
steps["models"] = time.perf_counter() - start
engine.close()
peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"steps": steps, "peak_mib": peak, "classes": int(frame["class"].nunique())}))
"""


def store_run(members: int, data: Path, repeat: int) -> dict[str, object]:
    """Attribution from the store of the demo community (journeys built from loaded rows)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from demo_data import prepared_workspace

    workspace = prepared_workspace(members, data, resolved=True)
    from commetrics import Engine

    with Engine(workspace, read_only=True) as engine:
        sizes = {t: engine.store.row_counts()[t] for t in ("members", "activities", "outcomes")}
    runs = []
    for _ in range(repeat):
        runs.append(_child(STORE, workspace))
        print(f"  from the store: {runs[-1]['steps']}, peak {runs[-1]['peak_mib']:.0f} MiB", flush=True)
    best = min(runs, key=lambda r: r["steps"]["analysis"])  # type: ignore[index]
    return {"members": members, **sizes, "steps": best["steps"],
            "peak_mib": max(float(r["peak_mib"]) for r in runs),  # type: ignore[arg-type]
            "runs_analysis_s": [round(r["steps"]["analysis"], 3) for r in runs]}  # type: ignore[index]


def _child(code: str, directory: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"A benchmark process failed:\n{done.stderr}")
    record: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


def _agreement(ours: dict[str, dict[str, float]], peer: dict[str, dict[str, float]], total: float
               ) -> dict[str, float]:
    """Largest difference in attributed conversions per model, as a share of all conversions."""
    return {model: max(abs(ours[model][c] - peer[model].get(c, 0.0)) for c in ours[model]) / total
            for model in peer}


def _fastest(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run with the least total time, with the highest peak memory of all runs."""
    best = min(runs, key=lambda r: sum(r["steps"].values()))  # type: ignore[attr-defined]
    return best | {"peak_mib": max(float(r["peak_mib"]) for r in runs),  # type: ignore[arg-type]
                   "runs_s": [round(sum(r["steps"].values()), 3) for r in runs]}  # type: ignore[attr-defined]


def run(journeys: int, peer: bool, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="commetrics-attribution-") as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        data = generate(journeys, directory)
        generated = time.perf_counter() - start
        print(f"{journeys:,} journeys: {data['distinct_paths']:,} distinct paths, generated in {generated:.1f}s",
              flush=True)
        our_runs: list[dict[str, object]] = []
        peer_runs: list[dict[str, object]] = []
        for _ in range(repeat):  # interleaved, so that drift in the machine hits both sides alike
            our_runs.append(_child(OURS, directory))
            print(f"  commetrics: {sum(our_runs[-1]['steps'].values()):.2f}s, "  # type: ignore[attr-defined]
                  f"peak {our_runs[-1]['peak_mib']:.0f} MiB", flush=True)
            if peer:
                peer_runs.append(_child(PEER, directory))
                print(f"  ChannelAttribution: {sum(peer_runs[-1]['steps'].values()):.2f}s, "  # type: ignore[attr-defined]
                      f"peak {peer_runs[-1]['peak_mib']:.0f} MiB", flush=True)
        ours = _fastest(our_runs)
        theirs = _fastest(peer_runs) if peer_runs else None
    steps: dict[str, float] = ours["steps"]  # type: ignore[assignment]
    same_work = steps["read"] + steps["first"] + steps["last"] + steps["linear"] + steps["markov"]
    record: dict[str, object] = {**data, "ours": ours | {"same_work_s": same_work,
                                                           "all_models_s": sum(steps.values()) - steps["import"]}}
    if theirs:
        peer_steps: dict[str, float] = theirs["steps"]  # type: ignore[assignment]
        peer_work = peer_steps["read"] + peer_steps["heuristics"] + peer_steps["markov"]
        record["peer"] = theirs | {"same_work_s": peer_work}
        record["speedup"] = peer_work / same_work
        record["largest_difference"] = _agreement(ours["credit"], theirs["credit"], data["conversions"])  # type: ignore[arg-type]
        wrong = {m: d for m, d in record["largest_difference"].items() if m != "markov" and d > 1e-6}  # type: ignore[attr-defined]
        if wrong:
            raise SystemExit(f"Heuristic credit differs from ChannelAttribution's: {wrong}")
    for side in ("ours", "peer"):
        if side in record:
            record[side].pop("credit", None)  # type: ignore[attr-defined]
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per side; the fastest counts.")
    parser.add_argument("--no-peer", action="store_true", help="Skip ChannelAttribution.")
    parser.add_argument("--store-members", type=int, default=1_000_000,
                        help="Members of the demo community to attribute from the store (0: skip).")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "commetrics-bench-conversion",
                        help="Where the demo community is prepared (shared with benchmarks/conversion.py).")
    args = parser.parse_args(argv)
    import duckdb

    before = os.getloadavg()
    command = "python benchmarks/attribution.py " + " ".join(sys.argv[1:] if argv is None else argv)
    runs = [run(n, not args.no_peer, args.repeat) for n in args.journeys]
    store = store_run(args.store_members, args.data, args.repeat) if args.store_members else None
    after = os.getloadavg()
    record = {"run": datetime.now(UTC).isoformat(timespec="seconds"), "command": command, "cpus": os.cpu_count(),
              "python": platform.python_version(), "duckdb": duckdb.__version__, "load_average_before": before,
              "load_average_after": after, "runs": runs, "from_store": store}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "attribution.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    loads = "; after: ".join(", ".join(f"{x:.2f}" for x in v) for v in (before, after))
    lines = ["# Attribution benchmark", "", f"`{command}`", "",
             f"Run {record['run']} on {record['cpus']} CPUs, DuckDB {duckdb.__version__}; machine load average "
             f"(1, 5, 15 min) before: {loads}.", "",
             "## From a path file", "", "Synthetic journeys of 1-10 touches over 10 classes; "
             "each side in its own process, reading the same aggregated path file; "
             f"best of {args.repeat} interleaved runs per side, highest peak.", "",
             "| journeys | distinct paths | commetrics: read + first/last/linear + Markov s | ChannelAttribution: "
             "the same s | speedup (target ≥ 3 at 1M) | commetrics all models s | peak MiB commetrics | "
             "peak MiB ChannelAttribution |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        ours, peer = r["ours"], r.get("peer")
        lines.append(
            f"| {r['journeys']:,} | {r['distinct_paths']:,} | {ours['same_work_s']:.2f} | "
            f"{peer['same_work_s']:.2f} | {r['speedup']:.1f}× | " if peer else
            f"| {r['journeys']:,} | {r['distinct_paths']:,} | {ours['same_work_s']:.2f} | – | – | ")
        lines[-1] += (f"{ours['all_models_s']:.2f} | {ours['peak_mib']:,.0f} "
                      f"(target < {TARGET_PEAK_MIB.get(r['journeys'], 0):,}) | "
                      + (f"{peer['peak_mib']:,.0f} |" if peer else "– |"))
    lines += ["", "Per step (seconds):", ""]
    for r in runs:
        ours_steps = ", ".join(f"{k} {v:.2f}" for k, v in r["ours"]["steps"].items())
        lines.append(f"- {r['journeys']:,} journeys, commetrics: {ours_steps}")
        if "peer" in r:
            peer_steps = ", ".join(f"{k} {v:.2f}" for k, v in r["peer"]["steps"].items())
            differences = ", ".join(f"{k} {v:.1e}" for k, v in r["largest_difference"].items())
            lines.append(f"- {r['journeys']:,} journeys, ChannelAttribution: {peer_steps}")
            lines.append(f"- largest difference in credit, share of all conversions: {differences} "
                         "(Markov: ChannelAttribution simulates; commetrics solves exactly)")
    if store:
        steps = store["steps"]
        lines += ["", "## From the store", "",
                  f"The demo community: {store['members']:,} members (people resolved, the default path), "
                  f"{store['activities']:,} activities, {store['outcomes']:,} outcomes. `Engine.attribution(\"all\")` "
                  "in a child process: journeys built from the loaded activities and outcomes, every model, "
                  f"published; best of {args.repeat}.", "",
                  "| analysis s | of which: building journeys s | the models over them s | peak MiB |",
                  "|---:|---:|---:|---:|",
                  f"| {steps['analysis']:.2f} | {steps['build_journeys']:.2f} | {steps['models']:.2f} | "  # type: ignore[index]
                  f"{store['peak_mib']:,.0f} |"]
    (args.out / "attribution.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
