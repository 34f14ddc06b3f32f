"""Scoring: a trained :class:`~commetrics.identity.linkage.model.Model` applied to candidate pairs.

A pair's score depends on the two records and the model alone: the term frequencies come from
the records' own ``freq_*`` columns (registered as Splink's lookups), never from the other rows
of the table. So scoring the pairs that involve the records a load touched gives exactly what a
full run would give them (``marked_only``).

Splink is imported inside the functions, so that importing the package does not load it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pandas as pd

from .comparisons import BLOCKING_KEYS
from .model import FREQUENCY_COLUMNS, Model


def blocking_rules(*, marked_only: bool = False) -> list[str]:
    """The rules that find the pairs to score: an equi-join on each capped blocking key, skipping
    pairs the deterministic rules already joined; with ``marked_only``, only pairs with a record
    whose ``marked`` is true."""
    marked = " and (l.marked or r.marked)" if marked_only else ""
    return [f"l.{key} = r.{key} and l.det_cluster <> r.det_cluster{marked}" for key in BLOCKING_KEYS]


def score(cur: duckdb.DuckDBPyConnection, table: str, model: Model, threshold: float, *,
          marked_only: bool = False) -> pd.DataFrame:
    """The pairs of ``table`` at or above ``threshold`` (a match probability; see :func:`split_near` for
    the pairs to link and those kept for review): ``record_a`` < ``record_b``, ``rule``
    (``probabilistic``), ``match_probability``, ``match_weight``, ``detail`` (JSON text: per
    comparison its level, gamma and match weight).

    ``table`` holds normalised records with ``det_cluster`` and ``freq_*`` (and ``marked`` for
    ``marked_only``). Its name must be unique: Splink looks tables up by name alone, across catalogs.
    """
    from splink import DuckDBAPI, Linker

    settings = copy.deepcopy(model.settings)
    settings["blocking_rules_to_generate_predictions"] = blocking_rules(marked_only=marked_only)
    db_api = DuckDBAPI(cur)
    try:
        linker = Linker(db_api.register(table), settings, log_level=None)
        for column in FREQUENCY_COLUMNS:
            lookup = f"{table}_tf_{column}"
            cur.execute(f"create or replace table {lookup} as select {column}, any_value(freq_{column}) as tf_{column} "
                        f"from {table} where {column} is not null group by all")
            linker.table_management.register_term_frequency_lookup(db_api.register(lookup), column)
        predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
        columns = cur.sql(f"select * from {predictions.physical_name} limit 0").columns
        detail = _detail_sql(settings["comparisons"], columns)
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
    finally:
        db_api.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]  # untyped in Splink 5.0
        for column in FREQUENCY_COLUMNS:
            cur.execute(f"drop table if exists {table}_tf_{column}")
    return links


def split_near(predicted: pd.DataFrame, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs scored at or above ``threshold`` (links) and those below it (kept for review only)."""
    below = predicted["match_probability"].astype("float64") < threshold
    return predicted[~below].reset_index(drop=True), predicted[below].reset_index(drop=True)


def review_floor(threshold: float, margin: float) -> float:
    """The lowest match probability scored and kept: ``margin`` below ``threshold``, above zero."""
    return max(threshold - margin, 1e-6)


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
