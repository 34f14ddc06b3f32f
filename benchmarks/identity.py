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
the name connects, ``identity_data.linkable_groups``), and per scenario; the pairs commetrics
misses are counted by reason (``MISSED_REASONS``). The targets are precision ≥ 0.98 and recall
≥ 0.95 at 100k records. Results go to ``identity.md`` in ``--out``.
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

from commetrics.identity import features, rules
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


#: Why a true pair was missed, first that applies (see ``missed_by_reason``).
MISSED_REASONS = {
    "only a name": "no evidence beyond the name connects the two records (`linkable_groups`): a changed "
                   "employer without a map, a personal address without a company. Only a rare name links "
                   "these; a common one would merge strangers",
    "namesake colleagues": "two people with the name hold work addresses at the company (`jsmith@`, "
                           "`jsmith2@`): a record with the name there and a personal address could be either, "
                           "so it joins neither",
    "a record without a name": "one record has no name, and its address spells none (`jsmith@`, `jane@`): "
                               "the company alone does not tell who it is",
    "other": "typos and nicknames with little else in common (a common name at a large company, say), "
             "and pairs whose link runs through one of the above",
}


def normalised_records(data: IdentityData) -> pd.DataFrame:
    """The records as ``resolve`` normalises them (``features.normalised_records_sql``), by record id."""
    con = duckdb.connect()
    con.register("raw_records", data.records)
    normalised = con.execute(features.normalised_records_sql("raw_records", max_block_size=10**9),
                             {"free_mail": rules.free_mail_pattern()}).df().set_index("record_id")
    con.close()
    return normalised


def same_name_pairs(normalised: pd.DataFrame, data: IdentityData) -> tuple[int, int]:
    """How many pairs of records have the same name (nicknames resolved), and how many of them are one person."""
    frame = normalised[["name_key"]].join(data.truth.set_index("record_id")["true_person"]).dropna()
    pairs = frame.groupby("name_key").size()
    people = frame.groupby(["name_key", "true_person"]).size()
    return int((pairs * (pairs - 1) // 2).sum()), int((people * (people - 1) // 2).sum())


def missed_by_reason(predicted: pd.Series, data: IdentityData, linkable: pd.Series,
                     normalised: pd.DataFrame) -> pd.Series:
    """Missed true pairs by the first reason of ``MISSED_REASONS`` that applies to them."""
    truth = data.truth.set_index("record_id")["true_person"]
    rows = [(a, b) for _, person in truth.groupby(truth) for a, b in combinations(person.index, 2)
            if predicted[a] != predicted[b]]
    pairs = pd.DataFrame(rows, columns=["a", "b"])
    a, b = normalised.reindex(pairs["a"]), normalised.reindex(pairs["b"])
    crowded = (a["name_company_works"].fillna(0).to_numpy() >= 2) | (b["name_company_works"].fillna(0).to_numpy() >= 2)
    reason = pd.Series("other", index=pairs.index)
    reason[(a["name"].isna().to_numpy() | b["name"].isna().to_numpy())] = "a record without a name"
    reason[crowded] = "namesake colleagues"
    reason[linkable.reindex(pairs["a"]).to_numpy() != linkable.reindex(pairs["b"]).to_numpy()] = "only a name"
    return reason.value_counts().reindex(list(MISSED_REASONS), fill_value=0)


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
    normalised = normalised_records(data)
    missed = missed_by_reason(predicted["commetrics"], data, linkable, normalised)
    named_pairs, named_one_person = same_name_pairs(normalised, data)
    lines += ["", f"The true pairs commetrics misses ({int(missed.sum()):,}), by the first reason that applies:", "",
              "| reason | missed pairs | share of true pairs | why they stay apart |", "|---|---:|---:|---|"]
    lines += [f"| {reason} | {int(missed[reason]):,} | {missed[reason] / true_pairs:.1%} | {why} |"
              for reason, why in MISSED_REASONS.items()]
    needed = int(missed.sum()) - int((1 - TARGET_RECALL) * true_pairs)
    if needed > 0:
        rest = int(missed.sum() - missed["only a name"])
        lines += ["", f"Recall ≥ {TARGET_RECALL} would need {needed:,} of these pairs"
                  + (f": all {rest:,} in the last three rows and {needed - rest:,} of those that share only a name"
                     if needed > rest else "")
                  + f". But of the {named_pairs:,} pairs of records with the same name, {named_one_person:,} "
                  f"({named_one_person / named_pairs:.0%}) are one person: a common name alone merges strangers "
                  "far more often than it finds someone, and picking one of two namesake colleagues is a coin toss. "
                  "Precision matters more: a false merge mixes two people's activity, a missed link only splits "
                  "one person's."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "identity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    ours = scores["commetrics"]
    return 0 if ours["precision"] >= TARGET_PRECISION and ours["recall"] >= TARGET_RECALL else 1


if __name__ == "__main__":
    raise SystemExit(main())
