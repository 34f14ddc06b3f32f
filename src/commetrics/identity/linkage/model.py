"""The probabilistic model: trained on the records themselves, kept as Splink's model JSON.

Training (:func:`train`) estimates the prior, u and m probabilities and the term frequencies of
names, handles, e-mail local parts and companies. The frequencies stay with the *records* (the
``freq_*`` columns, see :func:`frequency_columns_sql`), not with the model, and a value the
model has not seen counts as rare (``Model.floor``): that is what lets a model trained once
score the records of later loads exactly as it would have scored them in a full run.

Splink is imported inside the functions, so that importing the package does not load it.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from .comparisons import _namesakes, _settings
from .frequencies import NAME_FREQUENCY_FLOOR, company_frequency_sql, name_frequency_sql, value_frequency_sql

if TYPE_CHECKING:
    from splink import DuckDBAPI, Linker

#: At most about this many record pairs per expectation-maximisation rule (a hashed sample of records beyond).
EM_MAX_PAIRS = 1_000_000
#: Seed of Splink's random sampling of u probabilities, so that runs repeat exactly.
SEED = 42
#: The columns whose values the model scores by how common they are (Splink's term frequencies).
FREQUENCY_COLUMNS = ("name_key", "handle", "email_local_key", "company")


@dataclass(frozen=True)
class Model:
    """A trained model.

    Attributes
    ----------
    settings
        Splink's model JSON (``Linker.misc.save_model_to_json``): comparisons with their m and u
        probabilities, the prior. Its blocking rules are replaced when it scores.
    floor
        The frequency of a name, handle or e-mail local part that no other person holds, and of
        one the model has not seen (``NAME_FREQUENCY_FLOOR`` × the prior).
    company_floor
        The frequency of a company the model has not seen: one record's share.
    records
        The records it was trained on.
    """

    settings: dict[str, Any]
    floor: float
    company_floor: float
    records: int

    def fill(self, column: str) -> float:
        """The frequency of a value of ``column`` (one of ``FREQUENCY_COLUMNS``) the model has not seen."""
        return self.company_floor if column == "company" else self.floor


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


def train(cur: duckdb.DuckDBPyConnection, table: str) -> tuple[Model, dict[str, str]]:
    """Train the model on ``table`` (normalised records with ``det_cluster``); returns it and, per
    column of ``FREQUENCY_COLUMNS``, a table of ``cur`` with its frequencies (``<column>``,
    ``tf_<column>``) in ``table``'s records.

    Raises ``_UntrainableError`` when the records give nothing to learn from.
    """
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(cur)
    try:
        with _quiet_splink():
            frame = db_api.register(table)
            linker = Linker(frame, _settings(_namesakes(cur, table)), log_level=None)
            records = int(cur.sql(f"select count(*) from {table}").fetchall()[0][0])
            floor = _train(linker, db_api, table, records)
            settings = linker.misc.save_model_to_json()
    finally:
        db_api.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]  # untyped in Splink 5.0
    lookups = {"name_key": name_frequency_sql(table, floor=floor),
               "handle": value_frequency_sql(table, "handle", floor=floor),
               "email_local_key": value_frequency_sql(table, "email_local_key", floor=floor),
               "company": company_frequency_sql(table)}
    tables = {}
    for column, sql in lookups.items():
        tables[column] = f"{table}_{column}_frequency_{uuid.uuid4().hex[:8]}"
        cur.execute(f"create table {tables[column]} as {sql}")
    companies = int(cur.sql(f"select count(company) from {table}").fetchall()[0][0])
    return Model(settings, floor, 1 / max(companies, 1), records), tables


def _train(linker: Linker, db_api: DuckDBAPI, table: str, records: int) -> float:
    """Estimate the model from the records themselves (no labels); returns the frequency floor.

    * the prior: pairs that near-certain rules find (the same address; the same name and handle;
      the same name and company with addresses at different domains), taken as 80 % of all
      true pairs;
    * u: a seeded random sample of up to a million pairs;
    * m: expectation maximisation on the pairs sharing an e-mail local part (for the name, handle
      and company comparisons), then on those sharing a name (for e-mail, handle and company),
      each on a hashed sample of records when the pairs would be many (``_pair_sample``).

    The frequency floor is ``NAME_FREQUENCY_FLOOR`` × the prior (see ``name_frequency_sql``).
    """
    from splink.internals.exceptions import EMTrainingException

    training = linker.training
    training.estimate_probability_two_random_records_match(
        ["l.email = r.email", "l.name = r.name and l.handle_key = r.handle_key",
         "l.name = r.name and l.company = r.company and l.email_domain <> r.email_domain"],
        recall=0.8,
    )
    prior = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
    training.estimate_u_using_random_sampling(max_pairs=min(1e6, max(1e5, records * 10.0)), seed=SEED)
    for key in ("email_local_key", "name"):
        rule = f"l.{key} = r.{key}" + _pair_sample(db_api.duckdb_con, table, key)
        try:
            training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
        except EMTrainingException as error:
            msg = f"no record pairs to train on where {key} = {key}"
            raise _UntrainableError(msg) from error
    return NAME_FREQUENCY_FLOOR * prior


#: ``hash(record_id) % SAMPLE_BUCKETS`` places a record in one of this many buckets (``_pair_sample``).
SAMPLE_BUCKETS = 1_000_000


def _pair_sample(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str:
    """A filter that keeps about ``EM_MAX_PAIRS`` of the pairs sharing ``key`` ("" when there are fewer).

    EM needs a sample of pairs, not all of them: a common value shared by thousands of records
    makes hundreds of millions of pairs, and filtering pairs only after the join still makes
    every one. So the sample is of *records*, before the join: each side keeps the records in
    the first ``share`` of hash buckets, and a pair survives with probability ``share²`` in
    every group alike (small groups as large ones), about ``EM_MAX_PAIRS`` in all. The hash is of
    the record id, so runs repeat exactly.
    """
    pairs = con.execute(f"select coalesce(sum(n * (n - 1) / 2), 0) from (select count(*) as n from {table} "
                        f"where {key} is not null group by {key})").fetchall()[0][0]
    if pairs <= EM_MAX_PAIRS:
        return ""
    kept = math.ceil(math.sqrt(EM_MAX_PAIRS / float(pairs)) * SAMPLE_BUCKETS)
    return (f" and hash(l.record_id) % {SAMPLE_BUCKETS} < {kept}"
            f" and hash(r.record_id) % {SAMPLE_BUCKETS} < {kept}")


def frequency_columns_sql(records: str, lookups: dict[str, str], model: Model) -> str:
    """``records`` with ``freq_<column>`` for each column of ``FREQUENCY_COLUMNS``: the frequency of
    the record's value in ``lookups`` (tables of ``<column>``, ``tf_<column>``), else the model's
    fill for a value it has not seen (null where the value is)."""
    joins, columns = [], []
    for i, column in enumerate(FREQUENCY_COLUMNS):
        joins.append(f"left join {lookups[column]} as f{i} on f{i}.{column} = r.{column}")
        columns.append(f"case when r.{column} is not null then coalesce(f{i}.tf_{column}, "
                       f"{model.fill(column)!r}) end as freq_{column}")
    return f"select r.*, {', '.join(columns)} from {records} as r {' '.join(joins)}"
