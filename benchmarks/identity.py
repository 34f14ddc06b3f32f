"""Identity resolution: commetrics' resolver beside Splink with its own defaults, on the same records.

    python benchmarks/identity.py [--records 100000] [--seed 7] [--threshold 0.9] [--repeat 3]
                                  [--out benchmarks/results]

``identity_data.generate`` makes ``--records`` member and contact records of made-up people with
known truth (see that module for the scenarios: typos, nicknames, plus-addressing, gmail dots,
personal and work addresses, changed employers, namesake colleagues). Then, interleaved and best
of ``--repeat`` for the time, it runs

* **commetrics**: ``commetrics.identity.linkage.resolve`` with the explicit maps, at
  ``--threshold`` (normalisation, deterministic rules, the Splink model, clusters);
* **Splink defaults**: a straightforward Splink 5 set-up on the raw fields, as its tutorials
  write it: the library comparisons for the same four fields (``NameComparison("name")``,
  ``EmailComparison("email")``, ``JaroWinklerAtThresholds("handle")``,
  ``ExactMatch("account_domain")``), blocking on exact email, name and handle, the prior from
  exact email (recall 0.7), u from the default one million random pairs, EM blocked on name
  and on email, and ``cluster_pairwise_predictions_at_threshold`` at the same threshold. No
  normalisation and no maps.

Both are scored pairwise against the truth, by counting (``identity_data.pairwise_scores``):
precision = true pairs in a predicted person / pairs in predicted people, recall = true pairs
found / true pairs. Recall is also given over the *linkable* pairs (those that evidence beyond
the name connects, ``identity_data.linkable_groups``), and per scenario. The targets are
precision ≥ 0.98 and recall ≥ 0.95 at 100k records. Results go to ``identity.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import duckdb
import pandas as pd
import splink
from identity_data import IdentityData, generate, linkable_groups, pairwise_scores

from commetrics.identity.linkage import resolve

TARGET_PRECISION = 0.98
TARGET_RECALL = 0.95


def run_commetrics(data: IdentityData, threshold: float) -> pd.Series:
    """Person id per record id, from ``resolve``."""
    resolution = resolve(data.records, maps=data.maps, threshold=threshold)
    return resolution.people.set_index("record_id")["person_id"]


def run_splink_defaults(data: IdentityData, threshold: float) -> pd.Series:
    """Cluster id per record id, from Splink as its tutorials set it up, on the raw fields."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    db_api = DuckDBAPI()
    frame = db_api.register(data.records)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("name"),
            cl.EmailComparison("email"),
            cl.JaroWinklerAtThresholds("handle"),
            cl.ExactMatch("account_domain"),
        ],
        blocking_rules_to_generate_predictions=[block_on("email"), block_on("name"), block_on("handle")],
    )
    linker = Linker(frame, settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match([block_on("email")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    result = clusters.as_pandas_dataframe()[["record_id", "cluster_id"]]
    db_api.duckdb_con.close()
    return result.set_index("record_id")["cluster_id"].astype(str)


def recall_by_scenario(predicted: pd.Series, data: IdentityData) -> pd.DataFrame:
    """Recall per kind of record pair (true people hold at most a handful of records each)."""
    truth = data.truth.set_index("record_id")
    rows = []
    for _, person in truth.groupby("true_person"):
        for a, b in combinations(person.index, 2):
            kinds = " + ".join(sorted((str(person.at[a, "kind"]), str(person.at[b, "kind"]))))
            rows.append((kinds, predicted[a] == predicted[b]))
    frame = pd.DataFrame(rows, columns=["pair", "found"])
    return frame.groupby("pair")["found"].agg(["size", "mean"]).rename(columns={"size": "pairs", "mean": "recall"})


def _timed(run: Callable[[IdentityData, float], pd.Series], data: IdentityData,
           threshold: float) -> tuple[pd.Series, float]:
    start = time.perf_counter()
    result = run(data, threshold)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = generate(args.records, args.seed)
    generate_s = time.perf_counter() - start
    linkable = linkable_groups(data)
    truth = data.truth.set_index("record_id")["true_person"]
    methods = {"commetrics": run_commetrics, "Splink defaults": run_splink_defaults}
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    predicted: dict[str, pd.Series] = {}
    for _ in range(args.repeat):
        for name, run in methods.items():
            predicted[name], elapsed = _timed(run, data, args.threshold)
            seconds[name].append(elapsed)
            print(f"{name}: {elapsed:.1f} s", flush=True)
    scores = {name: pairwise_scores(predicted[name], truth, linkable) for name in methods}
    scenarios = pd.concat({name: recall_by_scenario(predicted[name], data) for name in methods}, axis=1)

    true_pairs = scores["commetrics"]["true_pairs"]
    linkable_pairs = scores["commetrics"]["linkable_pairs"]
    lines = [
        "# Identity resolution benchmark", "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}, Splink {splink.__version__}: "
        f"{args.records:,} records (`identity_data.generate`, seed {args.seed}, generated in {generate_s:.1f} s), "
        f"{data.truth['true_person'].nunique():,} true people, {true_pairs:,} true pairs, of which "
        f"{linkable_pairs:,} ({linkable_pairs / true_pairs:.1%}) are linkable by evidence beyond the name. "
        f"Threshold {args.threshold}; time is the best of {args.repeat} interleaved runs "
        "(records in memory to people out).", "",
        f"| method | seconds | precision (target ≥ {TARGET_PRECISION}) | recall (target ≥ {TARGET_RECALL}) "
        "| recall, linkable pairs | predicted pairs | people |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in methods:
        s = scores[name]
        lines.append(f"| {name} | {min(seconds[name]):.1f} | {s['precision']:.4f} | {s['recall']:.4f} | "
                     f"{s['linkable_recall']:.4f} | {s['predicted_pairs']:,} | {predicted[name].nunique():,} |")
    lines += ["", "Recall per kind of record pair (the scenarios of `identity_data`):", "",
              "| pair | true pairs | " + " | ".join(f"recall, {name}" for name in methods) + " |",
              "|---|---:|" + "---:|" * len(methods)]
    ordered = scenarios.sort_values(("commetrics", "pairs"), ascending=False)
    for pair, row in ordered.iterrows():
        lines.append(f"| {pair} | {int(row[('commetrics', 'pairs')]):,} | "
                     + " | ".join(f"{row[(name, 'recall')]:.3f}" for name in methods) + " |")
    counts = ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in data.scenarios.items())
    lines += ["", f"Scenarios: {counts}.", "",
              "Linkable pairs: two records of one person connected by a chain of records that share an address, "
              "an explicit map, a handle, a handle equal to an e-mail local part, a local part not made from the "
              "name, or a company. The rest (a changed employer without a map, a member with a personal address "
              "and no company) have only a name, which for common names cannot tell people apart."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "identity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    ours = scores["commetrics"]
    return 0 if ours["precision"] >= TARGET_PRECISION and ours["recall"] >= TARGET_RECALL else 1


if __name__ == "__main__":
    raise SystemExit(main())
