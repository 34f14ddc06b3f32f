"""Scoring speed: the engine's engagement scores beside hand-written DuckDB queries.

    python benchmarks/scores.py [--members 1000000] [--data DIR] [--repeat 3] [--out benchmarks/results]

The demo community (1M members: about 20M activities) is generated and loaded once into
``--data`` by a child process (the same folder as ``benchmarks/conversion.py``, so either
benchmark reuses the other's data). Then, interleaved and best of ``--repeat``, it times

* **member engagement**: ``member_engagement`` (the Ibis expression and the tiering behind
  ``commetrics scores``) beside one DuckDB query computing score, activity count, last activity,
  the active flag and the tier of every non-staff member;
* **account roll-up**: the engine's roll-up of member scores to accounts at one instant
  (engagement, active members, last activity; what ``commetrics scores --accounts`` runs) beside
  one DuckDB query,

checks both give the same numbers (to 1e-9 relative), and writes the times, the ratio (target: at
most 1.3) and this process's peak memory to ``scores.json`` and ``scores.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from demo_data import DEFAULT_DATA, prepared_workspace

from commetrics import Engine
from commetrics.config import EngagementSettings
from commetrics.metrics import fetch
from commetrics.metrics.community import CONTRIBUTION_TYPES
from commetrics.metrics.scores import _rollup_at, member_engagement

TARGET_RATIO = 1.3
def _points_sql(settings: EngagementSettings) -> str:
    rows = ", ".join(
        f"('{t}', {p * (settings.contribution_weight if t in CONTRIBUTION_TYPES else settings.consumption_weight)})"
        for t, p in settings.points.items() if p > 0)
    return f"select * from (values {rows}) as p(type, pts)"


def _tier_sql(settings: EngagementSettings) -> str:
    cases = " ".join(f"when score >= {v} then '{k}'" for k, v in sorted(settings.tiers.items(), key=lambda i: -i[1]))
    lowest = min(settings.tiers.items(), key=lambda i: i[1])[0]
    return f"case {cases} else '{lowest}' end"


def hand_members(con: duckdb.DuckDBPyConnection, settings: EngagementSettings, as_of: datetime) -> pd.DataFrame:
    sql = f"""
    with m as (
        select member_id, arg_min(account_id, joined_at) as account_id
        from members group by member_id having not bool_or(coalesce(is_staff, false))
    ),
    p as ({_points_sql(settings)}),
    s as (
        select a.member_id,
            sum(p.pts * exp(-(epoch($as_of) - epoch(a.ts)) * {float(np.log(2) / (86_400 * settings.half_life_days))!r}))
                as score,
            count(*) as activities, max(a.ts) as last_active
        from activities a join p using (type) join m using (member_id)
        where a.ts <= $as_of
        group by a.member_id
    ),
    j as (
        select m.member_id, m.account_id, coalesce(s.score, 0.0) as score, coalesce(s.activities, 0) as activities,
            s.last_active
        from m left join s using (member_id)
    )
    select *, coalesce(last_active > $as_of - interval {settings.active_days} day, false) as active,
        {_tier_sql(settings)} as tier
    from j order by member_id
    """
    return con.execute(sql, {"as_of": as_of}).df()


def hand_accounts(con: duckdb.DuckDBPyConnection, settings: EngagementSettings, as_of: datetime) -> pd.DataFrame:
    sql = f"""
    with m as (
        select member_id, arg_min(account_id, joined_at) as account_id
        from members group by member_id having not bool_or(coalesce(is_staff, false))
    ),
    p as ({_points_sql(settings)})
    select m.account_id,
        sum(p.pts * exp(-(epoch($as_of) - epoch(a.ts)) * {float(np.log(2) / (86_400 * settings.half_life_days))!r}))
            as engagement,
        count(distinct a.member_id) filter (where a.ts > $as_of - interval {settings.active_days} day)
            as active_members,
        max(a.ts) as last_active
    from activities a join p using (type) join m using (member_id)
    where a.ts <= $as_of and m.account_id is not null
    group by m.account_id order by m.account_id
    """
    return con.execute(sql, {"as_of": as_of}).df()


def engine_accounts(engine: Engine, settings: EngagementSettings, as_of: datetime) -> pd.DataFrame:
    frame = fetch(_rollup_at(engine.ibis(), settings, as_of).order_by("account_id"))
    return frame.drop(columns="t")


def _same(left: pd.DataFrame, right: pd.DataFrame, column: str) -> bool:
    a, b = left[column].to_numpy(float), right[column].to_numpy(float)
    return len(a) == len(b) and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    engine = Engine(prepared_workspace(args.members, args.data), read_only=True)
    con = engine.store.con
    settings = engine.config.scores.engagement
    as_of = datetime(2026, 6, 30, tzinfo=UTC)
    sizes = {t: engine.store.row_counts()[t] for t in ("members", "accounts", "activities")}
    cases = {
        "member engagement": (lambda: member_engagement(engine.ibis(), settings, as_of),
                              lambda: hand_members(con, settings, as_of), ("score", "activities")),
        "account roll-up": (lambda: engine_accounts(engine, settings, as_of),
                            lambda: hand_accounts(con, settings, as_of), ("engagement", "active_members")),
    }
    results = []
    for name, (ours, hand, columns) in cases.items():
        engine_s, hand_s = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            mine = ours()
            engine_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs = hand()
            hand_s.append(time.perf_counter() - start)
        same = all(_same(mine, theirs, c) for c in columns)
        if "tier" in mine:
            same = same and bool((mine["tier"].astype(str).to_numpy() == theirs["tier"].astype(str).to_numpy()).all())
        results.append({"case": name, "rows": len(mine), "engine_s": min(engine_s), "hand_s": min(hand_s),
                        "ratio": min(engine_s) / min(hand_s), "identical": same})
        print(f"{name}: engine {min(engine_s):.2f}s, hand-written {min(hand_s):.2f}s, identical {same}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_engine = sum(r["engine_s"] for r in results)
    total_hand = sum(r["hand_s"] for r in results)
    record = {"run": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
              "python": platform.python_version(), "duckdb": duckdb.__version__, **sizes, "cases": results,
              "ratio": total_engine / total_hand, "peak_mib": peak}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scores.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = ["# Scores benchmark", "",
             f"Run {record['run']} on {record['cpus']} CPUs, DuckDB {duckdb.__version__}: "
             f"{sizes['members']:,} members, {sizes['accounts']:,} accounts, {sizes['activities']:,} activities; "
             f"best of {args.repeat} interleaved runs.", "",
             f"| case | rows | engine s | hand-written SQL s | ratio (target ≤ {TARGET_RATIO}) | same numbers |",
             "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['case']} | {r['rows']:,} | {r['engine_s']:.2f} | {r['hand_s']:.2f} | {r['ratio']:.2f} | "
              f"{'yes' if r['identical'] else 'NO'} |" for r in results]
    lines += [f"| **total** | | {total_engine:.2f} | {total_hand:.2f} | **{record['ratio']:.2f}** | |", "",
              f"Peak resident memory: {peak:,.0f} MiB."]
    (args.out / "scores.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
