"""The probabilistic step: train the Splink model on the records themselves and score the candidate pairs.

Splink is imported inside the functions, so that importing the package does not load it.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ...progress import Reporter
from .comparisons import _namesakes, _settings
from .frequencies import NAME_FREQUENCY_FLOOR, name_frequency_sql, value_frequency_sql

if TYPE_CHECKING:
    from splink import DuckDBAPI, Linker

#: At most about this many record pairs per expectation-maximisation rule (a hashed sample beyond).
EM_MAX_PAIRS = 1_000_000
#: Seed of Splink's random sampling of u probabilities, so that runs repeat exactly.
SEED = 42


def _train(linker: Linker, db_api: DuckDBAPI, table: str, records: int) -> None:
    """Estimate the model from the records themselves (no labels).

    * the prior: pairs that near-certain rules find (the same address; the same name and handle;
      the same name and company with addresses at different domains), taken as 80 % of all
      true pairs;
    * the name frequencies (``name_frequency_sql``), and the frequencies of handles and e-mail
      local parts among other people (``value_frequency_sql``), all floored relative to that prior;
    * u: a seeded random sample of up to a million pairs;
    * m: expectation maximisation on the pairs sharing an e-mail local part (for the name, handle
      and company comparisons), then on those sharing a name (for e-mail, handle and company).
    """
    from splink.internals.exceptions import EMTrainingException

    training = linker.training
    training.estimate_probability_two_random_records_match(
        ["l.email = r.email", "l.name = r.name and l.handle_key = r.handle_key",
         "l.name = r.name and l.company = r.company and l.email_domain <> r.email_domain"],
        recall=0.8,
    )
    prior = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
    floor = NAME_FREQUENCY_FLOOR * prior
    lookups = {"name_key": name_frequency_sql(table, floor=floor),
               "handle": value_frequency_sql(table, "handle", floor=floor),
               "email_local_key": value_frequency_sql(table, "email_local_key", floor=floor)}
    for column, sql in lookups.items():
        db_api.duckdb_con.execute(f"create table {table}_{column}_frequency as {sql}")
        frequencies = db_api.register(f"{table}_{column}_frequency")
        linker.table_management.register_term_frequency_lookup(frequencies, column)
    training.estimate_u_using_random_sampling(max_pairs=min(1e6, max(1e5, records * 10.0)), seed=SEED)
    for key in ("email_local_key", "name"):
        rule = f"l.{key} = r.{key}" + _pair_sample(db_api.duckdb_con, table, key)
        try:
            training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
        except EMTrainingException as error:
            msg = f"no record pairs to train on where {rule.replace('l.', '').replace(' = r.', ' = ')}"
            raise _UntrainableError(msg) from error


def _pair_sample(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str:
    """A filter that keeps about ``EM_MAX_PAIRS`` of the pairs sharing ``key`` ("" when there are fewer).

    EM needs a sample of pairs, not all of them: a common value shared by thousands of records
    would otherwise make hundreds of millions of pairs, and memory grows with them. The sample is
    a fixed hash of the two record ids, so runs repeat exactly.
    """
    pairs = con.execute(f"select coalesce(sum(n * (n - 1) / 2), 0) from (select count(*) as n from {table} "
                        f"where {key} is not null group by {key})").fetchall()[0][0]
    if pairs <= EM_MAX_PAIRS:
        return ""
    every = math.ceil(float(pairs) / EM_MAX_PAIRS)
    return f" and hash(l.record_id || '|' || r.record_id) % {every} = 0"


class _UntrainableError(Exception):
    """The records give the model nothing to learn from (no two share a name, say)."""


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink logs its progress and its training notes; a library call should print nothing."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _predict(cur: duckdb.DuckDBPyConnection, clusters: np.ndarray, threshold: float,
             report: Reporter) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train the model on ``normalised`` and return the pairs at or above ``threshold``.

    ``clusters`` is each record's deterministic component (in record id order): pairs already
    in one component are not scored.
    """
    from splink import DuckDBAPI, Linker

    # A unique name: Splink looks tables up by name alone in information_schema, across catalogs.
    table = f"_scratch_identity_linkage_{uuid.uuid4().hex[:12]}"
    cur.register("clusters", pa.table({"node": np.arange(len(clusters)), "det_cluster": clusters}))
    cur.execute(f"""
        create table {table} as
        select
            n.*,
            c.det_cluster
        from (select *, row_number() over (order by record_id) - 1 as node from normalised) as n
        join clusters as c using (node)
    """)
    db_api = DuckDBAPI(cur)
    try:
        frame = db_api.register(table)
        linker = Linker(frame, _settings(_namesakes(cur, table)), log_level=None)
        records = int(cur.sql(f"select count(*) from {table}").fetchall()[0][0])
        with report.stage("training"):
            _train(linker, db_api, table, records)
        with report.stage("scoring"):
            predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
            model = linker.misc.save_model_to_json()
            columns = cur.sql(f"select * from {predictions.physical_name} limit 0").columns
            detail = _detail_sql(model["comparisons"], columns)
            links = cur.sql(f"""
            select
                least(record_id_l, record_id_r) as record_a,
                greatest(record_id_l, record_id_r) as record_b,
                'probabilistic' as rule,
                match_probability,
                match_weight,
                {detail} as detail
            from {predictions.physical_name}
            """).to_arrow_table().to_pandas()
        stats = {"probability_two_random_records_match": model["probability_two_random_records_match"],
                 "pairs_scored_above_threshold": len(links)}
    finally:
        db_api.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]  # untyped in Splink 5.0
    return links, stats


def _detail_sql(comparisons: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A SQL expression: JSON text of each comparison's level label, gamma and match weight.

    The match weight includes the term-frequency adjustment where the comparison has one.
    """
    names = set(columns)
    parts = []
    for comparison in comparisons:
        column = comparison["output_column_name"]
        levels = comparison["comparison_levels"]
        counter = len([level for level in levels if not level.get("is_null_level")]) - 1
        cases = []
        for level in levels:
            gamma = -1 if level.get("is_null_level") else counter
            counter -= 0 if level.get("is_null_level") else 1
            label = str(level.get("label_for_charts") or level["sql_condition"]).replace("'", "''")
            cases.append(f"when {gamma} then '{label}'")
        weight = f"mw_{column}"
        if f"mw_tf_adj_{column}" in names:
            weight = f"mw_{column} + coalesce(mw_tf_adj_{column}, 0)"
        parts.append(
            f"'{column}', json_object('level', case gamma_{column} {' '.join(cases)} end, "
            f"'gamma', gamma_{column}, 'match_weight', round({weight}, 3))")
    return f"json_object({', '.join(parts)})::varchar"
