"""Connector throughput: `load-dump slack` on a 1M-message export against DuckDB reading the same JSON bare.

    python benchmarks/connectors.py [--messages 1000000] [--data DIR] [--out benchmarks/results]

The export is generated once under ``--data`` in Slack's real layout: ``users.json`` (2,000 people and
a bot), ``channels.json`` (20 channels) and one folder per channel of ``YYYY-MM-DD.json`` day files,
each a JSON array of messages as Slack writes them (``type``, ``user``, ``text``, ``ts`` with
microseconds, ``client_msg_id``, ``blocks``; a third of the messages thread replies, one in ten with
reactions, one in twenty-five a bot message, channel joins). The run then times, on fresh on-disk
stores in one process:

* **bare**: ``create table t as select * from read_json([day files], format = 'array')``: DuckDB's
  own reader with its type detection over every day file, no mapping or validation: the limit;
* **commetrics**: ``Engine.load_dump("slack", folder)``: users and messages mapped, bots and system
  messages excluded and counted, reactions unnested, then members and activities loaded with every
  check, deduplication and the ledger; then, timed apart, the identity resolution a load runs after it
  (which depends on the 2,000 members, not on the messages).

Targets: the ratio of the load to the bare read at most 2, and load plus resolution under 60 s on 2 cores. Results go to
``connectors.json`` and ``connectors.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from commetrics import Engine
from commetrics.config import parse_config
from commetrics.store import connect, sql_path

TARGET_SECONDS = 60.0
TARGET_RATIO = 2.0
CHANNELS = 20
USERS = 2_000
START = datetime(2023, 1, 1, tzinfo=UTC)


def make_export(messages: int, directory: Path, seed: int = 7) -> Path:
    """A Slack export of ``messages`` messages in the real layout, made once per size."""
    root = directory / f"slack_{messages}"
    if (root / "users.json").exists():
        return root
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    users = [{"id": f"U{i:08d}", "name": f"user{i}", "real_name": f"User {i}", "deleted": False, "is_bot": False,
              "updated": 1700000000, "profile": {"email": f"user{i}@example.com", "real_name": f"User {i}"}}
             for i in range(USERS)]
    users.append({"id": "B00000001", "name": "deploybot", "is_bot": True, "profile": {}})
    (root / "users.json").write_text(json.dumps(users))
    channels = [{"id": f"C{i:08d}", "name": f"channel-{i}", "created": "1672531200", "members": []}
                for i in range(CHANNELS)]
    (root / "channels.json").write_text(json.dumps(channels))
    per_channel = messages // CHANNELS
    for c, channel in enumerate(channels):
        folder = root / channel["name"]
        folder.mkdir(exist_ok=True)
        day: list[dict[str, object]] = []
        current = START.date()
        roots: list[str] = []
        seconds = 0.0
        gap = 365 * 86400 / max(per_channel, 1)  # the export spans about a year of day files
        for n in range(per_channel + (messages % CHANNELS if c == 0 else 0)):
            seconds += rng.expovariate(1 / gap)
            at = START + timedelta(seconds=seconds)
            if at.date() != current and day:
                (folder / f"{current.isoformat()}.json").write_text(json.dumps(day))
                day = []
            current = at.date()
            ts = f"{int(at.timestamp())}.{n % 1_000_000:06d}"
            user = f"U{rng.randrange(USERS):08d}"
            roll = rng.random()
            message: dict[str, object] = {"type": "message", "user": user, "text": f"message {n} in {channel['name']}",
                                          "ts": ts, "client_msg_id": f"{c}-{n}",
                                          "blocks": [{"type": "rich_text", "block_id": "b", "elements": []}]}
            if roll < 0.04:
                message = {"type": "message", "subtype": "bot_message", "bot_id": "B00000001", "username": "deploy",
                           "text": "deployed", "ts": ts}
            elif roll < 0.05:
                message = {"type": "message", "subtype": "channel_join", "user": user, "text": "has joined", "ts": ts}
            elif roll < 0.38 and roots:
                message["thread_ts"] = rng.choice(roots[-50:])
                message["parent_user_id"] = user
            else:
                roots.append(ts)
                message["thread_ts"] = ts if roll < 0.5 else None
                if message["thread_ts"] is None:
                    del message["thread_ts"]
            if roll > 0.9:
                message["reactions"] = [{"name": "thumbsup", "count": 2,
                                         "users": [f"U{u:08d}" for u in rng.sample(range(USERS), 2)]}]
            day.append(message)
        if day:
            (folder / f"{current.isoformat()}.json").write_text(json.dumps(day))
    return root


def day_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.glob("*/*.json"))


def time_bare(root: Path, work: Path) -> tuple[float, int]:
    con = connect(work / "bare.duckdb")
    files = ", ".join(f"'{sql_path(f)}'" for f in day_files(root))
    started = time.perf_counter()
    con.execute(f"create table t as select * from read_json([{files}], format = 'array')")
    seconds = time.perf_counter() - started
    rows = con.execute("select count(*) from t").fetchone()
    con.close()
    return seconds, int(rows[0]) if rows else 0


def time_commetrics(root: Path, work: Path) -> tuple[float, float, dict[str, object]]:
    """Seconds of the load (convert and load, identities not yet resolved), seconds of identity resolution,
    and the counts."""
    Engine.init(work / "ws").close()
    deferred = parse_config({"identity": {"resolve_on_load": False}})  # resolution is timed on its own
    with Engine(work / "ws", config=deferred) as engine:
        started = time.perf_counter()
        report = engine.load_dump("slack", root)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        engine.resolve_identities()
        resolve = time.perf_counter() - started
    rows = {r["table"]: {k: r[k] for k in ("records_read", "rows_loaded", "rows_quarantined", "rows_duplicate",
                                           "rows_excluded", "excluded")} for r in report.as_dicts()}
    return seconds, resolve, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "commetrics-bench")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    made = time.perf_counter()
    root = make_export(args.messages, args.data)
    print(f"export: {root} ({len(day_files(root)):,} day files, made in {time.perf_counter() - made:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        bare_s, bare_rows = time_bare(root, Path(tmp))
        ours_s, resolve_s, counts = time_commetrics(root, Path(tmp))
    ratio = ours_s / bare_s
    total_s = ours_s + resolve_s
    result = {
        "benchmark": "load-dump slack", "messages": args.messages, "day_files": len(day_files(root)),
        "target_seconds": TARGET_SECONDS, "target_ratio": TARGET_RATIO,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "duckdb": duckdb.__version__},
        "bare_seconds": round(bare_s, 2), "bare_rows": bare_rows, "commetrics_seconds": round(ours_s, 2),
        "identity_resolution_seconds": round(resolve_s, 2), "total_seconds": round(total_s, 2),
        "ratio": round(ratio, 2), "within_target": total_s < TARGET_SECONDS and ratio <= TARGET_RATIO,
        "counts": counts,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "connectors.json").write_text(json.dumps(result, indent=2) + "\n")
    activities = counts["activities"]
    assert isinstance(activities, dict)
    (args.out / "connectors.md").write_text(
        "# Connector benchmark: load-dump slack\n\n"
        "Command: `python benchmarks/connectors.py --messages 1000000` (the export is generated once under "
        "`--data`).\n\n"
        f"Run {result['run_at']} on {os.cpu_count()} CPUs, DuckDB {duckdb.__version__}: a {args.messages:,}-message "
        f"Slack export ({result['day_files']:,} day files) generated in the real layout.\n\n"
        "| bare DuckDB read_json s | load-dump s (convert + load) | ratio (target ≤ 2) | + identity resolution s "
        "| total s (target < 60) |\n|---:|---:|---:|---:|---:|\n"
        f"| {bare_s:.2f} | {ours_s:.2f} | {ratio:.2f} | {resolve_s:.2f} | {total_s:.2f} |\n\n"
        f"Activities: read {activities['records_read']:,} = loaded {activities['rows_loaded']:,} + quarantined "
        f"{activities['rows_quarantined']:,} + duplicates {activities['rows_duplicate']:,} + excluded "
        f"{activities['rows_excluded']:,} ({activities['excluded']}).\n")
    print(json.dumps(result, indent=2))
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
