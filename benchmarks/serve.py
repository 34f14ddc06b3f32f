"""The dashboard under 20 concurrent users: p95 latency with cold and warm reads.

    python benchmarks/serve.py [--members 20000] [--users 20] [--seconds 30] [--out benchmarks/results]
                               [--workspace DIR] [--phases cold,warm,refreshed]

Builds (once) the demo workspace of ``--members`` members in ``benchmarks/data/serve-N`` (or uses ``--workspace``,
a copy of a workspace you may write to: the benchmark adds a user and removes the results cache), adds a user with
an API token, and starts ``commetrics serve`` on a free port of 127.0.0.1 in a child process. Then:

* **cold**: the server has read nothing yet; ``--users`` threads each request every page of the mix once,
  in their own shuffled order, at the same time (the first request of a page computes its Results, the
  others wait for or reuse them);
* **warm**: for ``--seconds``, the same threads request pages of the mix at random, back to back;
* **refreshed**: the server is stopped, ``commetrics refresh --no-pull`` computes the Results of the report,
  the summary and the dashboard's views into the workspace's results cache (what a scheduler runs after each
  load), a fresh server starts, and the cold round is run again at once — the first visit after a refreshed load;
* **settled**: another fresh server, once its start-up warming (reading the views back and drawing them) is done
  (``/health`` says ``warming: false``), and the cold round again — users arriving a little after a restart.

The warm round too starts once the background warming is done (at most ``--settle`` seconds).

The cold round starts from an empty results cache (the ``cache`` folder is removed first); the server computes
the dashboard's views in the background from its start (``[dashboard] warm``) while the users ask. With
``--phases refreshed,warm`` (a large workspace, where a cold round would take too long) the refresh comes first and
the warm round runs on the refreshed server.

Each request is timed from send to the last byte (``httpx``, one connection per user). p50/p95/max per
phase, per page and overall, go to ``serve.json`` and ``serve.md`` in ``--out``. Targets (the issue): p95 under
200 ms warm and under 2 s cold at 20k members (the refreshed round is the first visit users get after a
scheduled refresh). The run stops by itself: a request waits at most ``--timeout`` s (300),
the warm phase ends after ``--seconds``, and the server is stopped at the end whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_WARM_MS, TARGET_COLD_MS = 200.0, 2000.0
TIMEOUT = 300.0  # seconds a request may wait (--timeout)
LOG: Path | None = None  # where the server's output goes (--server-log; default: nowhere)
SOURCE = ROOT / "src"  # the commetrics the server and the refresh run (--src: another checkout, to compare)
#: The page mix: what a team opens in a morning (pages and the API routes a spreadsheet would pull).
MIX = ("/", "/conversion", "/conversion?by=entry_path", "/conversion?by=join_month&window=30", "/impact",
       "/impact?question=nps", "/attribution", "/attribution?model=linear", "/scores", "/data", "/api/summary",
       "/api/conversion?by=entry_path", "/api/data-health")


def workspace(members: int) -> Path:
    folder = ROOT / "benchmarks" / "data" / f"serve-{members}"
    if not (folder / "commetrics.duckdb").exists():
        from commetrics import Engine

        engine, _ = Engine.demo(folder, members=members, seed=7)
        engine.close()
    return folder


def token(folder: Path) -> str:
    from commetrics.service import Users

    users = Users.of(folder)
    if users.get("bench") is None:
        users.add("bench", "analyst", "benchmark password")
    return users.issue_token("bench")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SOURCE), "PYTHONFAULTHANDLER": "1"}
    log = open(LOG, "ab") if LOG else subprocess.DEVNULL  # noqa: SIM115 - the child writes it until stopped
    server = subprocess.Popen([sys.executable, "-m", "commetrics", "serve", "--port", str(port), "-w", str(folder)],
                              env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


def settle(base: str, seconds: float) -> float:
    """Wait until the server has computed and drawn its views in the background (``/health``: ``warming`` false),
    at most ``seconds``; return how long it took."""
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        try:
            if not httpx.get(f"{base}/health", timeout=5).json().get("warming", False):
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return round(time.perf_counter() - began, 1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def timed(client: httpx.Client, path: str) -> tuple[str, float, int]:
    """One request, timed to the last byte of its figures; one that timed out counts as a server error (599).

    A page whose figures are still being computed past the server's patience answers 202 with ``Retry-After``
    and reloads itself: the visitor is followed as a browser would, waiting ``Retry-After`` seconds between
    reloads, and the time counted is until the page with the figures arrived."""
    began = time.perf_counter()
    try:
        while True:
            response = client.get(path)
            status = response.status_code
            if status != 202 or "Retry-After" not in response.headers:
                break
            if time.perf_counter() - began > client.timeout.read:
                status = 599
                break
            time.sleep(float(response.headers["Retry-After"]))
    except httpx.TimeoutException:
        status = 599
    return path, (time.perf_counter() - began) * 1000, status


def crowd(base: str, key: str, users: int, walk: Callable[[int], Iterator[str]]) -> list[tuple[str, float, int]]:
    """``users`` threads, each with its own connection, requesting the pages ``walk(seed)`` yields."""
    samples: list[tuple[str, float, int]] = []
    lock = threading.Lock()

    def user(seed: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT) as client:
            for path in walk(seed):
                sample = timed(client, path)
                with lock:
                    samples.append(sample)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def cold(base: str, key: str, users: int) -> list[tuple[str, float, int]]:
    """Every user requests every page of the mix once, in an order of its own, all at the same time."""
    def walk(seed: int) -> Iterator[str]:
        order = list(MIX)
        random.Random(seed).shuffle(order)
        yield from order

    return crowd(base, key, users, walk)


def warm(base: str, key: str, users: int, seconds: float) -> list[tuple[str, float, int]]:
    """Random pages of the mix, back to back, for ``seconds``."""
    until = time.monotonic() + seconds

    def walk(seed: int) -> Iterator[str]:
        pick = random.Random(1000 + seed)
        while time.monotonic() < until:
            yield pick.choice(MIX)

    return crowd(base, key, users, walk)


def stats(samples: list[tuple[str, float, int]]) -> dict[str, Any]:
    times = np.array([ms for _, ms, _ in samples])
    errors = sum(1 for _, _, status in samples if status >= 500)
    out: dict[str, Any] = {"requests": len(samples), "errors": errors,
                           "p50_ms": round(float(np.percentile(times, 50)), 1),
                           "p95_ms": round(float(np.percentile(times, 95)), 1), "max_ms": round(float(times.max()), 1)}
    pages = {}
    for path in MIX:
        own = np.array([ms for p, ms, _ in samples if p == path])
        if len(own):
            pages[path] = {"requests": len(own), "p50_ms": round(float(np.percentile(own, 50)), 1),
                           "p95_ms": round(float(np.percentile(own, 95)), 1), "max_ms": round(float(own.max()), 1)}
    out["pages"] = pages
    return out


def write(out: Path, result: dict[str, Any], name: str = "serve") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    phases = [(phase, target) for phase, target in (("cold", TARGET_COLD_MS), ("warm", TARGET_WARM_MS),
                                                    ("refreshed", TARGET_COLD_MS), ("settled", TARGET_COLD_MS))
              if phase in result]
    lines = [
        f"# Dashboard latency: {result['users']} concurrent users, {result['members']:,} members",
        "",
        f"`python benchmarks/serve.py --members {result['members']} --users {result['users']} --seconds "
        f"{result['seconds']} --phases {','.join(result['phases'])}` on {result['machine']} ({result['cpus']} CPUs, "
        f"shared), {result['date']}. One `commetrics serve` process on 127.0.0.1; each user one HTTP connection with "
        "an API token. Cold: a fresh server and an empty results cache, every user requests every page of the mix "
        "once at the same time. Warm: random pages of the mix, back to back, once the server's background warming is "
        f"done ({result.get('warm_settle_seconds', result.get('settle_seconds'))} s after the cold round). Refreshed: "
        "the cold round again on a fresh server right after `commetrics refresh`. Settled: the same on another fresh "
        f"server once its start-up warming is done ({result.get('settle_seconds', '-')} s). Load average (1, 5, 15 "
        f"min) before: {result['load_before']}; after: {result['load_average']}.",
        "",
        "| phase | requests | 5xx | p50 | p95 | max | target p95 | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for phase, target in phases:
        s = result[phase]
        lines.append(f"| {phase} | {s['requests']:,} | {s['errors']} | {s['p50_ms']:,.0f} ms | {s['p95_ms']:,.0f} ms | "
                     f"{s['max_ms']:,.0f} ms | {target:,.0f} ms | {'yes' if s['p95_ms'] < target else 'no'} |")
    if "warm" in result:
        lines += ["", f"Warm throughput: {result['warm']['requests'] / result['seconds']:,.1f} requests/s."]
    lines += ["", "Per page (p95):", "", "| page | " + " | ".join(phase for phase, _ in phases) + " |",
              "|---|" + "---:|" * len(phases)]
    for path in MIX:
        cells = [result[phase]["pages"].get(path, {}).get("p95_ms", 0) for phase, _ in phases]
        lines.append(f"| `{path}` | " + " | ".join(f"{c:,.0f} ms" for c in cells) + " |")
    lines += ["", result["note"], ""]
    (out / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--workspace", type=Path, default=None,
                        help="a workspace to use instead of the demo of --members (a copy: it is written to)")
    parser.add_argument("--phases", default="cold,warm,refreshed",
                        help="which rounds, comma-separated: cold, warm, refreshed")
    parser.add_argument("--name", default="serve", help="results file names in --out (NAME.json, NAME.md)")
    parser.add_argument("--refresh-timeout", type=float, default=1800.0, help="seconds `commetrics refresh` may take")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait at most for the server's "
                        "background warming before the warm and settled rounds")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds a request may wait (then it counts "
                        "as a server error)")
    parser.add_argument("--src", type=Path, default=SOURCE, help="the source tree of commetrics the server and the "
                        "refresh run (another checkout's src, to compare before and after on the same machine)")
    parser.add_argument("--server-log", type=Path, default=None, help="append the server's output (errors, "
                        "a crash's trace) to this file")
    args = parser.parse_args()
    globals()["LOG"] = args.server_log
    globals()["TIMEOUT"] = args.timeout
    globals()["SOURCE"] = args.src.resolve()
    sys.path.insert(0, str(ROOT / "src"))
    folder = args.workspace.resolve() if args.workspace else workspace(args.members)
    key = token(folder)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - {"cold", "warm", "refreshed"}
    if unknown or not phases:
        raise SystemExit(f"--phases: choose among cold, warm, refreshed (not {', '.join(sorted(unknown)) or 'none'})")
    load_before = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"members": args.members, "users": args.users, "seconds": args.seconds,
                              "workspace": str(folder), "phases": sorted(phases), "src": str(SOURCE),
                              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.machine(),
                              "cpus": os.cpu_count(), "load_before": load_before}
    if "cold" in phases:
        shutil.rmtree(folder / "cache", ignore_errors=True)
        server = start(folder, port)
        try:
            began = time.perf_counter()
            result["cold"] = stats(cold(base, key, args.users))
            result["cold_seconds"] = round(time.perf_counter() - began, 1)
            if "warm" in phases:
                result["warm_settle_seconds"] = settle(base, args.settle)
                result["warm"] = stats(warm(base, key, args.users, args.seconds))
        finally:
            stop(server)
    if "refreshed" in phases:
        shutil.rmtree(folder / "cache", ignore_errors=True)
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "commetrics", "-q", "refresh", "--no-pull", "-w", str(folder)],
                       env={**os.environ, "PYTHONPATH": str(SOURCE)}, check=True, stdout=subprocess.DEVNULL,
                       timeout=args.refresh_timeout)
        result["refresh_seconds"] = round(time.perf_counter() - began, 1)
        server = start(folder, port)
        try:
            result["refreshed"] = stats(cold(base, key, args.users))
        finally:
            stop(server)
        server = start(folder, port)
        try:
            result["settle_seconds"] = settle(base, args.settle)
            result["settled"] = stats(cold(base, key, args.users))
            if "warm" in phases and "warm" not in result:
                result["warm"] = stats(warm(base, key, args.users, args.seconds))
        finally:
            stop(server)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["note"] = (
        (f"The cold round took {result['cold_seconds']:,.1f} s in all: the first request of each page computes its "
         "Results (the summary runs every attribution model with bootstrap intervals), different pages side by side "
         "on `[dashboard] readers` connections to the read copy, while the server computes the dashboard's views in "
         "the background. " if "cold" in result else "")
        + "Warm requests read what was computed (Results and their drawn pages), until the data changes. "
        + (f"`commetrics refresh` ({result['refresh_seconds']:,.1f} s) computes the report's Results and every "
           "view the dashboard offers with one picker changed (`[dashboard] warm = \"variants\"`) into the results "
           "cache; a fresh server then reads them back on the first visits (two pickers changed at once, e.g. a "
           "cohort key with one window, are computed on their first visit, or by the server's background warming)."
           if "refreshed" in result else ""))
    write(args.out, result, args.name)
    rounds = ("cold", "warm", "refreshed", "settled")
    print(json.dumps({k: v for k, v in result.items() if k not in rounds} |
                     {f"{phase}_p95_ms": result[phase]["p95_ms"] for phase in rounds if phase in result}, indent=2))


if __name__ == "__main__":
    main()
