"""The entry point, :func:`resolve`, and its result, :class:`Resolution` (the steps: see the package)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from commetrics.errors import InputError, UnknownNameError
from commetrics.progress import Reporter

from .. import features, rules
from ..rules import DEFAULT_FREE_MAIL
from .clusters import _cluster, _components, _deterministic_links, _override_links
from .comparisons import MAX_BLOCK_SIZE
from .inputs import MAPS_SQL, _known_overrides, _maps_table, _overrides_table, _records_table
from .model import Model, _quiet_splink, _UntrainableError, frequency_columns_sql, train
from .scoring import review_floor, score, split_near

#: Below this many records the model cannot be trained; only deterministic rules run.
MIN_RECORDS_FOR_PROBABILISTIC = 500


@dataclass(frozen=True)
class Resolution:
    """The result of :func:`resolve`.

    Attributes
    ----------
    people
        One row per record: ``record_id``, ``person_id``, ``rule`` (how the record joined its
        person: ``email``, ``map``, ``probabilistic``, ``override``, or ``singleton`` when it
        stands alone), ordered by ``person_id``, ``record_id``.
    links
        One row per link that formed a person: ``record_a`` < ``record_b``, ``rule``,
        ``match_probability`` and ``match_weight`` (null for deterministic links and overrides),
        and ``detail``, a JSON text: the evidence of a deterministic link, or for a probabilistic
        one each comparison's level, gamma and match weight.
    overrides
        The overrides that were applied (``record_a`` < ``record_b``, ``decision``).
    stats
        Counts and seconds per step, the model's prior, and notes (e.g. overrides that name
        records not in the input).
    dropped
        The links that a constraint set aside (same columns as ``links``).
    model
        The model that scored the pairs (None when only the deterministic rules ran).
    """

    people: pd.DataFrame
    links: pd.DataFrame
    overrides: pd.DataFrame = field(repr=False)
    stats: Mapping[str, Any] = field(default_factory=dict)
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    model: Model | None = field(default=None, repr=False)

    def explain(self, record_id: str) -> list[dict[str, Any]]:
        """Why ``record_id`` belongs to its person: one dict per link that touches it.

        Each dict has ``record_id``, ``other_record_id``, ``person_id``, ``rule``,
        ``match_probability``, ``match_weight`` and ``detail`` (the parsed JSON: ``evidence``
        for deterministic links and overrides; per comparison ``level``, ``gamma`` and
        ``match_weight`` for probabilistic ones). Unlink overrides naming the record come last,
        with ``rule`` ``"override"`` and ``detail`` ``{"decision": "unlink"}``. A record that
        stands alone gives an empty list.

        Examples
        --------
        >>> import pandas as pd
        >>> records = pd.DataFrame({"record_id": ["m:1", "c:C1"], "source": ["member", "contact"],
        ...                         "email": ["Jane+forum@acme.com", "jane@acme.com"], "name": ["Jane", "Jane Doe"]})
        >>> resolve(records).explain("m:1")[0]["rule"]
        'email'
        """
        people = self.people
        person = people.loc[people["record_id"] == record_id, "person_id"]
        if person.empty:
            msg = (f"Unknown record {record_id!r}: it is not among the resolved records. "
                   "Pass a record_id from Resolution.people.")
            raise UnknownNameError(msg)
        person_id = str(person.iloc[0])
        explained: list[dict[str, Any]] = []
        touching = self.links[(self.links["record_a"] == record_id) | (self.links["record_b"] == record_id)]
        for link in touching.sort_values(["rule", "match_weight"], ascending=[True, False]).itertuples():
            explained.append({
                "record_id": record_id,
                "other_record_id": link.record_b if link.record_a == record_id else link.record_a,
                "person_id": person_id,
                "rule": link.rule,
                "match_probability": None if pd.isna(link.match_probability) else float(link.match_probability),
                "match_weight": None if pd.isna(link.match_weight) else float(link.match_weight),
                "detail": json.loads(link.detail),
            })
        overrides = self.overrides
        names = (overrides["record_a"] == record_id) | (overrides["record_b"] == record_id)
        unlinks = overrides[(overrides["decision"] == "unlink") & names]
        for row in unlinks.itertuples():
            explained.append({
                "record_id": record_id,
                "other_record_id": row.record_b if row.record_a == record_id else row.record_a,
                "person_id": person_id, "rule": "override", "match_probability": None, "match_weight": None,
                "detail": {"decision": "unlink", "evidence": "manual override: never the same person"},
            })
        return explained


def resolve(
    records: pd.DataFrame | pa.Table,
    *,
    maps: pd.DataFrame | pa.Table | None = None,
    overrides: pd.DataFrame | pa.Table | None = None,
    threshold: float = 0.9,
    probabilistic: bool = True,
    free_mail: Iterable[str] = DEFAULT_FREE_MAIL,
    con: duckdb.DuckDBPyConnection | None = None,
    progress: Reporter | None = None,
) -> Resolution:
    """Link identity records (community members, CRM contacts) into people.

    Parameters
    ----------
    records
        One row per identity record: ``record_id`` (unique text, e.g. ``"m:123"`` for a member,
        ``"c:C9"`` for a contact), ``source`` (``"member"`` or ``"contact"``), ``email``,
        ``name``, and optionally ``handle`` (members) and ``account_domain`` (the domain of the
        CRM account the record belongs to).
    maps
        Explicit maps from exports: ``email`` and one of ``member_id`` (the record ``"m:" +
        member_id``), ``record_id`` or ``handle`` (every member record with that handle).
    overrides
        Manual decisions: ``record_a``, ``record_b``, ``decision`` (``"link"`` or ``"unlink"``).
        They win over all evidence. Rows naming records not in ``records`` are skipped (a
        forgotten record) and counted in ``stats["overrides_skipped"]``.
    threshold
        Match probability at or above which a probabilistic pair links (0 < threshold < 1).
    probabilistic
        Run the Splink model; if false only the deterministic rules and overrides link. It is
        also skipped below ``MIN_RECORDS_FOR_PROBABILISTIC`` records (too few to train on).
    free_mail
        Domain patterns of free mail providers (``*`` stands for a top-level domain such as ``com``
        or ``co.uk``).
    con
        A DuckDB connection to run in. Resolution works in a private in-memory catalog attached
        to it for the duration of the call and detached afterwards, so no table is left behind.
        Without one, a private in-memory connection is used.
    progress
        Where the stages are reported (``normalising``, ``training``, ``scoring``,
        ``clustering``); see :mod:`commetrics.progress`.

    Returns
    -------
    Resolution
        ``people``, ``links``, ``stats`` and ``explain(record_id)``.

    Raises
    ------
    InputError
        A missing column, a duplicate or empty ``record_id``, an unknown ``source`` or
        ``decision``, contradicting overrides, or a threshold outside (0, 1).

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({
    ...     "record_id": ["m:1", "c:C1", "c:C2"],
    ...     "source": ["member", "contact", "contact"],
    ...     "email": ["Jane.Doe+forum@Acme.com", "jane.doe@acme.com", "bob@other.io"],
    ...     "name": ["Jane Doe", "Doe, Jane", "Bob Roe"],
    ... })
    >>> resolve(records).people.to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'record_id': 'c:C1', 'person_id': 'p:c:C1', 'rule': 'email'},
     {'record_id': 'm:1', 'person_id': 'p:c:C1', 'rule': 'email'},
     {'record_id': 'c:C2', 'person_id': 'p:c:C2', 'rule': 'singleton'}]
    """
    check_threshold(threshold)
    started = time.perf_counter()
    report = progress or Reporter(None, "identity")
    record_table = _records_table(records)
    map_table = _maps_table(maps) if maps is not None else None
    override_table = _overrides_table(overrides)
    with _scratch(con) as cur:
        linked = _link(cur, record_table, map_table, threshold=threshold, probabilistic=probabilistic,
                       free_mail_regex=rules.free_mail_pattern(free_mail), report=report)
    step = time.perf_counter()
    with report.stage("clustering", total=len(linked.index), unit="records"):
        override_table, skipped = _known_overrides(override_table, linked.index)
        links = pd.concat([linked.links, _override_links(override_table)], ignore_index=True)
        people, kept, dropped = _cluster(linked.index, links, override_table, linked.work_emails)
    stats = {**linked.stats, "overrides_skipped": skipped, "seconds_clustering": time.perf_counter() - step,
             "seconds_total": time.perf_counter() - started, "records": len(linked.index),
             "people": int(people["person_id"].nunique()),
             "links_by_rule": kept["rule"].value_counts().sort_index().to_dict()}
    return Resolution(people=people, links=kept, overrides=override_table, stats=stats, dropped=dropped,
                      model=linked.model)


def check_threshold(threshold: float) -> None:
    """Refuse a match threshold outside (0, 1)."""
    if not 0 < threshold < 1:
        msg = f"threshold must be a match probability between 0 and 1 (exclusive), got {threshold!r}."
        raise InputError(msg)


@dataclass
class _Linked:
    """What linking found, before clustering: ``table`` (in the scratch catalog) holds the records
    as linkage saw them (``features.COLUMNS``, ``det_cluster``, and ``freq_*`` where a model ran)."""

    table: str
    index: pd.Index
    links: pd.DataFrame
    work_emails: pd.DataFrame
    model: Model | None
    trained: bool
    stats: dict[str, Any]
    near: pd.DataFrame | None = None  # pairs scored just below the threshold: for review, never links


def _link(cur: duckdb.DuckDBPyConnection, records: pa.Table, maps: pa.Table | None, *, threshold: float,
          probabilistic: bool, free_mail_regex: str, report: Reporter, model: Model | None = None,
          lookups: Mapping[str, str] | None = None, review_margin: float = 0.0) -> _Linked:
    """Normalise, link deterministically, and score with ``model`` (and the frequencies in
    ``lookups``, tables of ``<column>``, ``tf_<column>``), or with a model trained here when none
    is given. The model is skipped below ``MIN_RECORDS_FOR_PROBABILISTIC`` records. Pairs scored up
    to ``review_margin`` below ``threshold`` are kept apart (``near``), for review."""
    started = time.perf_counter()
    stats: dict[str, Any] = {}
    near = None
    with report.stage("normalising", total=records.num_rows, unit="records"):
        index, edges, work_emails = _normalise_and_link(cur, records, maps, free_mail_regex)
        links = _deterministic_links(edges)
        a, b = index.get_indexer(edges["record_a"]), index.get_indexer(edges["record_b"])
        table = _with_det_clusters(cur, index, _components(len(index), a, b))
    stats["seconds_deterministic"] = time.perf_counter() - started
    trained = False
    if probabilistic and len(index) < MIN_RECORDS_FOR_PROBABILISTIC:
        stats["note"] = f"probabilistic linkage skipped: fewer than {MIN_RECORDS_FOR_PROBABILISTIC} records"
        model = None
    elif probabilistic:
        step = time.perf_counter()
        try:
            with report.stage("training", detail="reusing the stored model" if model else "") as advance:
                if model is None:
                    model, lookups = train(cur, table)
                    trained = True
                    advance(detail=f"trained on {model.records:,} records")
        except _UntrainableError as error:
            stats["note"] = f"probabilistic linkage skipped: {error}"
            model = None
        else:
            assert lookups is not None
            cur.execute(f"create or replace table {table} as {frequency_columns_sql(table, dict(lookups), model)}")
            with report.stage("scoring"), _quiet_splink():
                predicted, near = split_near(score(cur, table, model, review_floor(threshold, review_margin)),
                                             threshold)
            links = pd.concat([links, predicted], ignore_index=True)
            stats["probability_two_random_records_match"] = model.settings["probability_two_random_records_match"]
            stats["pairs_scored_above_threshold"] = len(predicted)
        stats["seconds_probabilistic"] = time.perf_counter() - step
    else:
        model = None
    return _Linked(table, index, links, work_emails, model, trained, stats, near)


def _with_det_clusters(cur: duckdb.DuckDBPyConnection, index: pd.Index, labels: np.ndarray) -> str:
    """A uniquely named table: ``normalised`` with ``det_cluster``, the smallest record id of the
    record's deterministic component (the name is unique because Splink looks tables up by name
    alone, across catalogs)."""
    first = np.full(labels.max(initial=-1) + 1, len(index))
    np.minimum.at(first, labels, np.arange(len(index)))
    clusters = pa.table({"record_id": pa.array(index.to_numpy(dtype=object), pa.string()),
                         "det_cluster": pa.array(index.to_numpy(dtype=object)[first[labels]], pa.string())})
    table = f"_scratch_identity_linkage_{uuid.uuid4().hex[:12]}"
    cur.register("det_clusters", clusters)
    cur.execute(f"create table {table} as select n.*, c.det_cluster from normalised as n "
                "join det_clusters as c using (record_id) order by record_id")
    cur.unregister("det_clusters")
    return table


def _normalise_and_link(cur: duckdb.DuckDBPyConnection, records: pa.Table, maps: pa.Table | None,
                        free_mail_regex: str) -> tuple[pd.Index, pd.DataFrame, pd.DataFrame]:
    """Normalise the records into ``normalised`` (ordered by record id) and find the deterministic links.

    Returns the record ids in order (a record's position is its node in the graphs), the
    deterministic edges (``record_a``, ``record_b``, ``rule``, ``evidence``) and the work
    addresses (``record_id``, ``email_domain``, ``email``) that the clustering constraints need.
    """
    cur.register("input_records", records)
    normalised = features.normalised_records_sql("input_records", max_block_size=MAX_BLOCK_SIZE)
    cur.execute(f"create table normalised as {normalised} order by record_id", {"free_mail": free_mail_regex})
    if maps is not None:
        cur.register("input_maps", maps)
        cur.execute(MAPS_SQL)
    edges = cur.sql(features.deterministic_edges_sql("normalised", "maps" if maps is not None else None))
    ids = cur.sql("select record_id from normalised order by record_id").to_arrow_table().column(0)
    work = cur.sql("select record_id, email_domain, email from normalised "
                   "where email is not null and not email_is_free")
    return (pd.Index(ids.to_numpy(zero_copy_only=False)), edges.to_arrow_table().to_pandas(),
            work.to_arrow_table().to_pandas())


# --- the connection -----------------------------------------------------------------------------


@contextmanager
def _scratch(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default catalog is private and in memory, gone when the block ends."""
    if con is None:
        private = duckdb.connect(":memory:")
        try:
            yield private
        finally:
            private.close()
        return
    catalog = f"_scratch_identity_{uuid.uuid4().hex[:12]}"
    con.execute(f"attach ':memory:' as {catalog}")
    cur = con.cursor()
    try:
        cur.execute(f"use {catalog}")
        yield cur
    finally:
        cur.close()
        con.execute(f"detach database if exists {catalog}")
