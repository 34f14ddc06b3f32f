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
import pandas as pd
import pyarrow as pa

from commetrics.errors import InputError, UnknownNameError
from commetrics.progress import Reporter

from .. import rules
from ..rules import DEFAULT_FREE_MAIL
from .clusters import _cluster, _components, _deterministic_links, _override_links
from .comparisons import MAX_BLOCK_SIZE
from .inputs import MAPS_SQL, _known_overrides, _maps_table, _overrides_table, _records_table
from .model import _predict, _quiet_splink, _UntrainableError

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
    """

    people: pd.DataFrame
    links: pd.DataFrame
    overrides: pd.DataFrame = field(repr=False)
    stats: Mapping[str, Any] = field(default_factory=dict)

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
    if not 0 < threshold < 1:
        msg = f"threshold must be a match probability between 0 and 1 (exclusive), got {threshold!r}."
        raise InputError(msg)
    started = time.perf_counter()
    report = progress or Reporter(None, "identity")
    stats: dict[str, Any] = {}
    record_table = _records_table(records)
    map_table = _maps_table(maps) if maps is not None else None
    override_table = _overrides_table(overrides)
    with _scratch(con) as cur:
        free_mail_regex = rules.free_mail_pattern(free_mail)
        with report.stage("normalising", total=record_table.num_rows, unit="records"):
            index, edges, work_emails = _normalise_and_link(cur, record_table, map_table, free_mail_regex)
            links = _deterministic_links(edges)
        stats["seconds_deterministic"] = time.perf_counter() - started
        if probabilistic and len(index) < MIN_RECORDS_FOR_PROBABILISTIC:
            stats["note"] = f"probabilistic linkage skipped: fewer than {MIN_RECORDS_FOR_PROBABILISTIC} records"
        elif probabilistic:
            step = time.perf_counter()
            a, b = index.get_indexer(edges["record_a"]), index.get_indexer(edges["record_b"])
            clusters = _components(len(index), a, b)
            try:
                with _quiet_splink():
                    predicted, model_stats = _predict(cur, clusters, threshold, report)
            except _UntrainableError as error:
                stats["note"] = f"probabilistic linkage skipped: {error}"
            else:
                stats.update(model_stats)
                links = pd.concat([links, predicted], ignore_index=True)
            stats["seconds_probabilistic"] = time.perf_counter() - step
    step = time.perf_counter()
    with report.stage("clustering", total=len(index), unit="records"):
        override_table, stats["overrides_skipped"] = _known_overrides(override_table, index)
        links = pd.concat([links, _override_links(override_table)], ignore_index=True)
        people, kept = _cluster(index, links, override_table, work_emails)
    stats["seconds_clustering"] = time.perf_counter() - step
    stats["seconds_total"] = time.perf_counter() - started
    stats["records"] = len(index)
    stats["people"] = int(people["person_id"].nunique())
    stats["links_by_rule"] = kept["rule"].value_counts().sort_index().to_dict()
    return Resolution(people=people, links=kept, overrides=override_table, stats=stats)


def _normalise_and_link(cur: duckdb.DuckDBPyConnection, records: pa.Table, maps: pa.Table | None,
                        free_mail_regex: str) -> tuple[pd.Index, pd.DataFrame, pd.DataFrame]:
    """Normalise the records into ``normalised`` (ordered by record id) and find the deterministic links.

    Returns the record ids in order (a record's position is its node in the graphs), the
    deterministic edges (``record_a``, ``record_b``, ``rule``, ``evidence``) and the work
    addresses (``record_id``, ``email_domain``, ``email``) that the clustering constraints need.
    """
    cur.register("input_records", records)
    normalised = rules.normalised_records_sql("input_records", max_block_size=MAX_BLOCK_SIZE)
    cur.execute(f"create table normalised as {normalised} order by record_id", {"free_mail": free_mail_regex})
    if maps is not None:
        cur.register("input_maps", maps)
        cur.execute(MAPS_SQL)
    edges = cur.sql(rules.deterministic_edges_sql("normalised", "maps" if maps is not None else None))
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
