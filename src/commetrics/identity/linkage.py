"""Identity resolution: community members and CRM contacts linked into people.

``resolve(records)`` returns a :class:`Resolution`: which person each record belongs to, the
links that made each person, and ``explain(record_id)``. It runs in four steps:

1. **Normalise** every record in DuckDB (``rules.py``: e-mail, name, handle, company domain; a
   record without a name takes the one its address spells, ``jane.doe@`` → ``jane doe``).
2. **Deterministic links**: the same normalised e-mail address, or an explicit map row (member
   id or handle → address, from an export). Their connected components are computed with
   ``scipy.sparse.csgraph.connected_components``.
3. **Probabilistic links** (Splink 5 on DuckDB) between records that step 2 left apart: names,
   e-mail local parts, handles and company domains, with term-frequency adjustments (two
   "james smith" records are weaker evidence than two "ines kowalczyk"; a handle that nobody
   else holds is strong evidence), and whether anyone else has the name at the company
   (``Namesakes``). Trained on the data itself: the prior from deterministic rules, u by seeded
   random sampling, m by expectation maximisation on two blocking rules. Pairs at or above
   ``threshold`` link.
4. **People**: the connected components of all links (deterministic, probabilistic, and
   ``link`` overrides, which win over everything), then three constraints, enforced only in the
   components that break one:

   * an ``unlink`` override separates two records whatever the evidence;
   * a person has **one address per work domain**: a probabilistic link never joins
     ``jsmith@acme.com`` and ``jsmith2@acme.com`` (two colleagues with one name, bridged by a third
     record such as a member with a personal address and the account ``acme.com``);
   * a record whose links to two such addresses are about equally strong joins neither (a coin
     toss is not evidence).

   In such a component the links are re-added one at a time, strongest first (override, e-mail,
   map, then probabilistic by match weight), and a link that would break a constraint is dropped:
   the unlinked records end in different people, and each contested record goes with the side
   of its strongest link. When overrides contradict each other through other records (link a–b,
   link b–c, unlink a–c), the unlink wins.

Person ids are ``"p:"`` + the smallest record id of the person, so a re-run on the same records
(in any order) gives the same ids; when new records join a person, it keeps its id unless one of
them sorts first, and when two people merge, the merged person keeps the smaller id.

The comparisons guard against two false merges (see ``_comparisons``): the same name at another
company with another e-mail local part is a different person unless a handle agrees (someone
who changed employer needs an explicit map, or a record that bridges the two), and two contacts
with different addresses at the same company are colleagues, however alike their names. A
third record with that name at that company (a personal address and the account) links to
neither: ``namesake`` evidence, and the constraints above.

Splink's ``cluster_pairwise_predictions_at_threshold`` is not used: the clusters must combine the
deterministic links, the predictions and the overrides, and honour the constraints above, so
the components are computed here (the same connected components at the same threshold).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from commetrics.errors import InputError, MissingColumnError, UnknownNameError

from . import rules
from .rules import DEFAULT_FREE_MAIL

if TYPE_CHECKING:
    from splink import DuckDBAPI, Linker

#: Columns a records frame must have; ``handle`` and ``account_domain`` may be absent (all null).
RECORD_COLUMNS = ("record_id", "source", "email", "name")
OPTIONAL_RECORD_COLUMNS = ("handle", "account_domain")
SOURCES = ("member", "contact")

#: Below this many records the model cannot be trained; only deterministic rules run.
MIN_RECORDS_FOR_PROBABILISTIC = 500
#: A blocking key shared by more records than this does not block (too many pairs, little evidence).
MAX_BLOCK_SIZE = 200
#: At most about this many record pairs per expectation-maximisation rule (a hashed sample beyond).
EM_MAX_PAIRS = 1_000_000
#: Fixed m probability of the email level "another local part at the same work domain". The data
#: rarely shows this level among matches (EM often cannot observe it), and it depends on the company
#: level (same domain, same company): a small fixed m makes it cancel the company evidence, so that
#: two colleagues with the same name stay two people.
COLLEAGUE_M_PROBABILITY = 1e-4
#: Fixed m probability of "two different work domains (and local parts)": about the share of true
#: pairs where a person moved employer. EM, blocked on names or local parts, sees almost none and
#: would make the level a veto (weight -100); a changed employer plus a shared handle must still link.
TWO_WORK_DOMAINS_M_PROBABILITY = 0.02
#: Fixed m probability of "the names differ beyond a nickname, a typo or a similar surname", for the
#: same reason: unfixed, EM drives it to ~1e-10 and no other evidence could ever outweigh it.
NAME_DIFFERS_M_PROBABILITY = 0.005
#: Starting u and m probabilities of handle levels that the data may never show (a handle equal to
#: another record's e-mail local part): kept when training sees none, replaced when it sees some.
RARE_U_PROBABILITY = 1e-6
RARE_M_PROBABILITY = 0.01
#: The frequency of a name never counts as lower than this multiple of the prior probability that two
#: random records match: a name alone is then worth at most log2(m / 0.02) ≈ 5 bits more than the
#: prior needs, so a different company and a different e-mail local part always outweigh it.
NAME_FREQUENCY_FLOOR = 0.02
#: Match weight (bits) within which a record's links to two different addresses at one work domain
#: count as equally good: it then joins neither (see ``_ambiguous``).
AMBIGUITY_MARGIN = 3.0
#: A comparison level that carries no evidence (weight 0) but keeps its own label in explanations.
NEUTRAL: dict[str, Any] = {"m_probability": 0.5, "u_probability": 0.5, "fix_m_probability": True,
                           "fix_u_probability": True}
#: Seed of Splink's random sampling of u probabilities, so that runs repeat exactly.
SEED = 42

# Strength of each kind of link when overrides force a choice (higher wins).
_RULE_RANK: dict[str, int] = {"override": 4, "email": 3, "map": 2, "probabilistic": 1}


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
    stats: dict[str, Any] = {}
    record_table = _records_table(records)
    map_table = _maps_table(maps) if maps is not None else None
    override_table = _overrides_table(overrides)
    with _scratch(con) as cur:
        free_mail_regex = rules.free_mail_pattern(free_mail)
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
                    predicted, model_stats = _predict(cur, clusters, threshold)
            except _UntrainableError as error:
                stats["note"] = f"probabilistic linkage skipped: {error}"
            else:
                stats.update(model_stats)
                links = pd.concat([links, predicted], ignore_index=True)
            stats["seconds_probabilistic"] = time.perf_counter() - step
    step = time.perf_counter()
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


# --- inputs -------------------------------------------------------------------------------------


def _as_arrow(frame: pd.DataFrame | pa.Table, what: str) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    msg = f"{what} must be a pandas DataFrame or a pyarrow Table, got {type(frame).__name__}."
    raise InputError(msg)


def _text_columns(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    arrays = []
    for name in columns:
        if name in table.column_names:
            arrays.append(table.column(name).cast(pa.string()))
        else:
            arrays.append(pa.nulls(table.num_rows, pa.string()))
    return pa.table(arrays, names=list(columns))


def _require(table: pa.Table, what: str, required: Sequence[str], hint: str) -> None:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        msg = (f"The {what} have no column {', '.join(map(repr, missing))}. Columns found: "
               f"{', '.join(table.column_names) or '(none)'}.\n{hint}")
        raise MissingColumnError(msg)


def _records_table(records: pd.DataFrame | pa.Table) -> pa.Table:
    table = _as_arrow(records, "records")
    _require(table, "records", RECORD_COLUMNS,
             "Pass one row per identity record with record_id, source ('member' or 'contact'), email and name "
             "(handle and account_domain are optional).")
    table = _text_columns(table, RECORD_COLUMNS + OPTIONAL_RECORD_COLUMNS)
    ids = table.column("record_id").to_pandas()
    if ids.isna().any() or (ids.str.strip() == "").any():
        msg = (f"{int(ids.isna().sum() + (ids.str.strip() == '').sum())} records have no record_id. "
               "Every record needs a unique record_id, such as 'm:<member_id>' or 'c:<contact_id>'.")
        raise InputError(msg)
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(repr, sorted(duplicated)[:5]))
        msg = (f"{len(duplicated)} record_id values appear more than once (e.g. {shown}). Each record needs its "
               "own record_id: prefix ids by source ('m:' for members, 'c:' for contacts) and drop duplicate rows.")
        raise InputError(msg)
    sources = table.column("source").to_pandas()
    unknown = sorted(set(sources.dropna()) - set(SOURCES))
    if unknown or sources.isna().any():
        shown = ", ".join(map(repr, unknown[:5])) or "null"
        msg = f"Unknown source {shown} in records. source must be one of {', '.join(map(repr, SOURCES))}."
        raise InputError(msg)
    return table


def _maps_table(maps: pd.DataFrame | pa.Table) -> pa.Table:
    table = _as_arrow(maps, "maps")
    hint = "Each map row links an email to a member: give email and one of member_id, record_id or handle."
    _require(table, "maps", ("email",), hint)
    if not {"member_id", "record_id", "handle"} & set(table.column_names):
        _require(table, "maps", ("member_id",), hint)
    return _text_columns(table, ("email", "member_id", "record_id", "handle"))


MAPS_SQL = f"""
create table maps as
select
    coalesce(record_id, 'm:' || member_id) as record_id,
    {rules.handle_sql('handle')} as handle,
    {rules.email_sql('email')} as email
from input_maps
"""


def _overrides_table(overrides: pd.DataFrame | pa.Table | None) -> pd.DataFrame:
    columns = ["record_a", "record_b", "decision"]
    if overrides is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    table = _as_arrow(overrides, "overrides")
    _require(table, "overrides", columns, "Each override names two records and a decision, 'link' or 'unlink'.")
    frame = _text_columns(table, columns).to_pandas()
    frame["decision"] = frame["decision"].str.strip().str.lower()
    bad = sorted(set(frame["decision"].dropna()) - {"link", "unlink"})
    if bad or frame.isna().any().any():
        msg = (f"Overrides must name two records and a decision 'link' or 'unlink'; found "
               f"{', '.join(map(repr, bad)) or 'empty values'}.")
        raise InputError(msg)
    frame = frame[frame["record_a"] != frame["record_b"]]
    a, b = frame["record_a"].to_numpy(dtype=object), frame["record_b"].to_numpy(dtype=object)
    frame = pd.DataFrame({"record_a": np.where(a < b, a, b), "record_b": np.where(a < b, b, a),
                          "decision": frame["decision"].to_numpy()}).drop_duplicates()
    both = frame[frame.duplicated(["record_a", "record_b"], keep=False)]
    if not both.empty:
        pair = both.iloc[0]
        msg = (f"Overrides both link and unlink {pair.record_a!r} and {pair.record_b!r}. "
               "Keep the one decision you mean and remove the other.")
        raise InputError(msg)
    return frame.sort_values(["record_a", "record_b"]).reset_index(drop=True)


def _known_overrides(overrides: pd.DataFrame, index: pd.Index) -> tuple[pd.DataFrame, int]:
    known = overrides["record_a"].isin(index) & overrides["record_b"].isin(index)
    return overrides[known].reset_index(drop=True), int((~known).sum())


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


# --- deterministic links ------------------------------------------------------------------------


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected component of each of ``n`` nodes, given edges ``a[i]``–``b[i]``."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _deterministic_links(edges: pd.DataFrame) -> pd.DataFrame:
    a, b = edges["record_a"].to_numpy(dtype=object), edges["record_b"].to_numpy(dtype=object)
    detail = [json.dumps({"evidence": e}) for e in edges["evidence"]]
    return pd.DataFrame({"record_a": np.where(a < b, a, b), "record_b": np.where(a < b, b, a), "rule": edges["rule"],
                         "match_probability": np.nan, "match_weight": np.nan, "detail": detail})


def _override_links(overrides: pd.DataFrame) -> pd.DataFrame:
    chosen = overrides[overrides["decision"] == "link"]
    return pd.DataFrame({"record_a": chosen["record_a"], "record_b": chosen["record_b"], "rule": "override",
                         "match_probability": np.nan, "match_weight": np.nan,
                         "detail": json.dumps({"evidence": "manual override: the same person"})})


# --- probabilistic links ------------------------------------------------------------------------


#: Two names at most one edit (or one swap of neighbours) apart. DuckDB's ``damerau_levenshtein``
#: is slow (about 5 µs a pair, most of the model's run time), so the cheap bounds go first, in a
#: CASE (which, unlike AND, evaluates a branch only where the earlier ones failed): one edit changes
#: the length by at most one, and one swap is two Levenshtein edits.
ONE_EDIT_APART = ("(case when abs(length(name_l) - length(name_r)) > 1 then false "
                  "when levenshtein(name_l, name_r) > 2 then false "
                  "else damerau_levenshtein(name_l, name_r) <= 1 end)")


def _comparisons(namesakes: Namesakes | None = None) -> list[Any]:
    """The Splink comparisons, most specific level first.

    * ``name``: exact; the same name once nicknames are resolved (``bob smith`` / ``robert
      smith``); one edit apart; the same given name and a surname with Jaro-Winkler ≥ 0.92 (all
      four adjusted by how common the name is: ``name_frequency_sql``); the same surname; else.
    * ``email``: the same address; the same local part once dots, dashes and underscores are
      gone (``bluefox42@gmail.com`` / ``blue.fox42@yahoo.com``; term-frequency adjusted); the
      same local part but **made from the name** (``jane.doe``: no evidence beyond the name, so
      weight 0); **another local part at the same work domain** (two colleagues; fixed m, see
      ``COLLEAGUE_M_PROBABILITY``); **two different work domains** (another person, or a
      changed employer; fixed m); else (a free-mail address on one side).
    * ``handle``: the same handle (term-frequency adjusted); the same but for punctuation; one
      side's handle is the other's e-mail local part; none on a side (contacts have none: weight
      0); a handle made from the name (weight 0); else.
    * ``company``: the same company domain (the CRM account's, else a work address's; term-
      frequency adjusted); else.
    * ``namesake``, for two records with one name (or a typo, a nickname apart) at one company:
      the records with the name there hold at most one work address there (the name is one
      person's: about +3 bits on the benchmark); they hold two or more (namesake colleagues: about
      -5 bits); else (weight 0). Fixed m and u, estimated from the records (``Namesakes``).

    Handles and local parts are term-frequency adjusted by how many *other* people hold them
    (``value_frequency_sql``): Splink's own frequency of a handle that only one person's two
    records hold is 2 / records, as weak as a common name.

    The same name at another company with another local part collects at most the name's capped
    weight (``NAME_FREQUENCY_FLOOR``) minus the "two work domains" and company penalties, below
    what the prior needs: such a pair links only when a handle (or an explicit map) agrees.
    """
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    # Every name level that agrees on given name and surname is adjusted by how common the name is
    # (``name_frequency_sql``): "jim smith" / "james smith" is weak evidence, "jim kowalczyk" /
    # "james kowalczyk" strong.
    frequency: dict[str, Any] = {"tf_adjustment_column": "name_key", "tf_adjustment_weight": 1.0,
                                 "disable_tf_exact_match_detection": True}
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name").configure(**frequency),
            cll.CustomLevel("name_key_l = name_key_r", "nickname").configure(**frequency),
            cll.CustomLevel(ONE_EDIT_APART, "Damerau-Levenshtein distance of name <= 1").configure(**frequency),
            cll.CustomLevel("given_name_l = given_name_r and jaro_winkler_similarity(last_name_l, last_name_r) >= 0.92",
                            "same given name, surname Jaro-Winkler >= 0.92").configure(**frequency),
            cll.CustomLevel("last_name_l = last_name_r", "same surname"),
            cll.ElseLevel().configure(m_probability=NAME_DIFFERS_M_PROBABILITY, fix_m_probability=True),
        ],
    )
    made = "(email_local_from_name_l or email_local_from_name_r)"
    rare: dict[str, Any] = {"u_probability": RARE_U_PROBABILITY, "m_probability": RARE_M_PROBABILITY}
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email"),
            cll.CustomLevel(f"email_local_key_l = email_local_key_r and not {made}", "same local part"
                            ).configure(tf_adjustment_column="email_local_key", tf_adjustment_weight=1.0,
                                        disable_tf_exact_match_detection=True),
            cll.CustomLevel("email_local_key_l = email_local_key_r", "same local part, made from the name"
                            ).configure(**NEUTRAL),
            cll.CustomLevel("email_domain_l = email_domain_r and not email_is_free_l", "colleague at the same domain"
                            ).configure(m_probability=COLLEAGUE_M_PROBABILITY, fix_m_probability=True),
            cll.CustomLevel("not email_is_free_l and not email_is_free_r", "two work domains"
                            ).configure(m_probability=TWO_WORK_DOMAINS_M_PROBABILITY, fix_m_probability=True),
            cll.ElseLevel(),
        ],
    )
    handle = cl.CustomComparison(
        output_column_name="handle",
        comparison_levels=[
            cll.ExactMatchLevel("handle", term_frequency_adjustments=True).configure(label_for_charts="same handle"),
            cll.CustomLevel("handle_key_l = handle_key_r and not handle_from_name_l and not handle_from_name_r",
                            "same handle but punctuation").configure(**rare),
            cll.CustomLevel("(handle_key_l = email_local_key_r "
                            "and not handle_from_name_l and not email_local_from_name_r) "
                            "or (email_local_key_l = handle_key_r "
                            "and not email_local_from_name_l and not handle_from_name_r)",
                            "handle is the other's e-mail local part").configure(**rare),
            cll.NullLevel("handle_key"),
            cll.CustomLevel("handle_from_name_l or handle_from_name_r", "a handle made from the name"
                            ).configure(**NEUTRAL),
            cll.ElseLevel(),
        ],
    )
    company = cl.CustomComparison(
        output_column_name="company",
        comparison_levels=[
            cll.NullLevel("company"),
            cll.ExactMatchLevel("company", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ],
    )
    # The same name at the same company: is anyone else there called that? The name and company
    # comparisons count how often each occurs (as if independent); this one adds what the records
    # say about the name *at that company* (see ``Namesakes``).
    namesakes = namesakes or Namesakes()
    agree = (f"company_l = company_r and (name_key_l = name_key_r or {ONE_EDIT_APART} "
             "or (given_name_l = given_name_r and jaro_winkler_similarity(last_name_l, last_name_r) >= 0.92))")
    alone = ("name_company_works_l <= 1 and name_company_works_r <= 1 "
             "and (name_company_work_l is null or name_company_work_r is null "
             "or name_company_work_l = name_company_work_r)")
    namesake = cl.CustomComparison(
        output_column_name="namesake",
        comparison_levels=[
            cll.CustomLevel(f"{agree} and {alone}", "the name at the company is one person's"
                            ).configure(m_probability=namesakes.m_alone, u_probability=namesakes.u_alone,
                                        fix_m_probability=True, fix_u_probability=True),
            cll.CustomLevel(agree, "namesake colleagues: two work addresses with the name at the company"
                            ).configure(m_probability=1 - namesakes.m_alone, u_probability=1 - namesakes.u_alone,
                                        fix_m_probability=True, fix_u_probability=True),
            cll.ElseLevel().configure(**NEUTRAL, label_for_charts="not the same name at the same company"),
        ],
    )
    return [name, email, handle, company, namesake]


@dataclass(frozen=True)
class Namesakes:
    """How likely the records show one person with a name at a company, for the same and for two people.

    A person at a company usually shows up with their work address there. So when the records
    with a name at a company (``name_company_works``) hold at most one work address there, the
    name is one person's, unless a namesake colleague is known only by a personal address. When
    they hold two, there are namesake colleagues (``jsmith@`` and ``jsmith2@``).

    * ``m_alone``: for the records of one person, the share of names at companies that no namesake
      with another work address shares: 1 - the share of (name, company) with a work address
      that have two or more;
    * ``u_alone``: for two different people with one name at one company, the chance that at
      most one shows a work address: 1 - (1 - q)², where q is the share of (name, company) with
      no work address at all (an upper bound: a typo in one record's name also makes one).

    Both are estimated from the records (``_namesakes``); the defaults are typical values.
    """

    m_alone: float = 0.98
    u_alone: float = 0.1


#: Pairs scored by the model: each rule is an equi-join on a capped blocking key, and skips pairs
#: the deterministic rules already joined.
BLOCKING_KEYS = ("block_local", "block_name", "block_last_company", "block_given_company", "block_initial_last",
                 "block_handle")


def _settings(namesakes: Namesakes | None = None) -> Any:
    from splink import SettingsCreator
    from splink.blocking_rule_library import CustomRule

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=_comparisons(namesakes),
        blocking_rules_to_generate_predictions=[
            CustomRule(f"l.{key} = r.{key} and l.det_cluster <> r.det_cluster") for key in BLOCKING_KEYS],
        retain_matching_columns=True,  # the gamma columns, for explain()
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


#: Bounds of the estimated share of (name, company) without a work address, and of those with two
#: or more: with none (a few records, or all with work addresses) a level would become a certainty.
NAMESAKE_SHARE_BOUNDS = (0.01, 0.5)


def _namesakes(cur: duckdb.DuckDBPyConnection, table: str) -> Namesakes:
    """``Namesakes`` estimated from the (name, company) pairs of ``table`` (see there)."""
    none, several = cur.sql(f"""
        select
            avg((name_company_works = 0)::double),
            avg((name_company_works >= 2)::double) filter (where name_company_works >= 1)
        from (select distinct name_key, company, name_company_works from {table} where name_company_works is not null)
    """).fetchall()[0]
    low, high = NAMESAKE_SHARE_BOUNDS
    q = min(max(float(none if none is not None else high), low), high)  # no (name, company): say little
    crowded = min(max(float(several if several is not None else low), low), high)  # no work address: no namesakes
    return Namesakes(m_alone=1 - crowded, u_alone=1 - (1 - q) ** 2)


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


def value_frequency_sql(table: str, column: str, *, floor: float) -> str:
    """One row per value of ``column`` (a handle, a local part): ``tf_<column>``, its frequency among *other* people.

    Splink's own term frequency counts the records being compared: a handle such as
    ``tigerraven42`` that only one person's two records hold gets the frequency 2 / records, about
    as weak as a common name, although nobody else uses it. Here a value's frequency is the
    number of *other* holders (the two being compared left out) over the records that have one.
    A holder is a deterministic component (``det_cluster``: records already joined by address or
    map are one person), so three records of one person sharing an address count once. A value
    that no other holder has gets ``floor``, as the rarest names do: it is rare but not
    impossible, and alone it is worth a bounded number of bits (``NAME_FREQUENCY_FLOOR``).
    """
    return f"""
with holders as (
    select
        {column},
        count(distinct det_cluster) as holders,
        sum(count(*)) over () as records
    from {table}
    where {column} is not null
    group by {column}
)

select
    {column},
    greatest((holders - 2) / records, {float(floor)!r}) as tf_{column}
from holders
"""


def name_frequency_sql(table: str, *, floor: float) -> str:
    """One row per ``name_key`` of ``table``: ``tf_name_key``, how common the name is among *other* people.

    Splink's own term frequency of a value is its share of the records, which counts the records
    being compared: a name seen only on one person's three records looks as common as a name
    three different people share, and such records never link on their name. Here the frequency
    of a full name is instead

    * given-name frequency × surname frequency, each counted among the *other* records (the two
      being compared left out, and at least half a record, so a surname seen only on this pair
      is rare but not impossible): given names and surnames are close to independent, so for a
      common name this is about its observed share, and for a rare one it says how likely
      another person is to have it by chance (names whose parts go together, like "wei wang",
      come out somewhat rarer than they are);
    * but never below ``floor``, a small multiple of the prior, so that no name alone outweighs
      the e-mail and company evidence against a pair (the "changed employer" guard).
    """
    return f"""
with named as (
    select
        name_key,
        given_name,
        last_name,
        count(*) over () as records
    from {table}
    where name_key is not null
),

name_counts as (
    select
        name_key,
        any_value(given_name) as given_name,
        any_value(last_name) as last_name,
        count(*) as name_count,
        any_value(records) as records
    from named
    group by name_key
),

given_counts as (
    select
        given_name,
        count(*) as given_count
    from named
    group by given_name
),

surname_counts as (
    select
        last_name,
        count(*) as surname_count
    from named
    where last_name is not null
    group by last_name
)

select
    n.name_key,
    greatest(
        coalesce(
            greatest(g.given_count - 2, 0.5) * greatest(s.surname_count - 2, 0.5) / (n.records * n.records),
            greatest(n.name_count - 2, 0.5) / n.records  -- a one-word name has no parts
        ),
        {float(floor)!r}
    ) as tf_name_key
from name_counts as n
left join given_counts as g using (given_name)
left join surname_counts as s using (last_name)
"""


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


def _predict(cur: duckdb.DuckDBPyConnection, clusters: np.ndarray,
             threshold: float) -> tuple[pd.DataFrame, dict[str, Any]]:
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
        _train(linker, db_api, table, records)
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


# --- clusters and overrides ---------------------------------------------------------------------


def _cluster(index: pd.Index, links: pd.DataFrame, overrides: pd.DataFrame,
             work_emails: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People from the links, with the constraints enforced; returns (people, kept links).

    ``work_emails`` has ``record_id``, ``email_domain``, ``email`` of the records whose address is
    not free mail. Two constraints can split a connected component:

    * an ``unlink`` override: the two records end in different people, whatever links them;
    * **one address per work domain**: a person does not have two different addresses at the
      same work domain, so a probabilistic link that would join ``jsmith@acme.com`` and
      ``jsmith2@acme.com`` (two colleagues with one name, bridged by a third record such as a
      member with a personal address) is dropped. Deterministic links and overrides may join
      such addresses (an explicit map knows better).

    Where a component breaks a constraint, its links are re-added strongest first (override,
    e-mail, map, then probabilistic by match weight), skipping each link that would break one.
    """
    links = links.assign(rank=links["rule"].map(_RULE_RANK), weight=links["match_weight"].fillna(np.inf))
    links = links.sort_values(["rank", "weight", "record_a", "record_b"], ascending=[False, False, True, True])
    links = links.drop_duplicates(["record_a", "record_b"]).reset_index(drop=True)
    a = index.get_indexer(links["record_a"])
    b = index.get_indexer(links["record_b"])
    labels = _components(len(index), a, b)
    unlinks = overrides[overrides["decision"] == "unlink"]
    ua, ub = index.get_indexer(unlinks["record_a"]), index.get_indexer(unlinks["record_b"])
    work_nodes = index.get_indexer(work_emails["record_id"])
    work = pd.DataFrame({"label": labels[work_nodes], "domain": work_emails["email_domain"].to_numpy(),
                         "email": work_emails["email"].to_numpy()})
    crowded = work.groupby(["label", "domain"])["email"].nunique()
    contested = set(labels[ua][labels[ua] == labels[ub]].tolist()) | set(crowded[crowded > 1].index.get_level_values(0))
    keep = np.ones(len(links), dtype=bool)
    if contested:
        probabilistic = (links["rule"] == "probabilistic").to_numpy()
        ambiguous = _ambiguous(links, a, b, probabilistic & np.isin(labels[a], list(contested)), work_nodes, work)
        addresses = dict(zip(work_nodes.tolist(), zip(work["domain"], work["email"], strict=True), strict=True))
        labels, keep = _separate(labels, a, b, probabilistic, ~ambiguous,
                                 list(zip(ua.tolist(), ub.tolist(), strict=True)), addresses, contested)
    order = np.arange(len(index))
    first = np.full(labels.max(initial=-1) + 1, len(index))
    np.minimum.at(first, labels, order)
    person = "p:" + index.to_numpy(dtype=object)[first[labels]]
    kept = links[keep]
    best = pd.concat([kept[["record_a", "rank"]].rename(columns={"record_a": "record_id"}),
                      kept[["record_b", "rank"]].rename(columns={"record_b": "record_id"})])
    best_rank = best.groupby("record_id")["rank"].max()
    names = {rank: rule for rule, rank in _RULE_RANK.items()}
    rule = index.map(best_rank).to_series(index=index).map(names).fillna("singleton").to_numpy()
    people = pd.DataFrame({"record_id": index.to_numpy(dtype=object), "person_id": person, "rule": rule})
    people = people.sort_values(["person_id", "record_id"]).reset_index(drop=True)
    kept = kept.drop(columns=["rank", "weight"]).sort_values(["record_a", "record_b"]).reset_index(drop=True)
    return people, kept


class _Groups:
    """Union-find over the nodes of contested components, with what each group holds."""

    def __init__(self, apart: Sequence[tuple[int, int]], addresses: Mapping[int, tuple[str, str]]) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.domains: dict[int, dict[str, set[str]]] = {}
        self.apart: dict[int, set[int]] = {}
        self.addresses = addresses
        for x, y in apart:
            self.apart.setdefault(x, set()).add(y)
            self.apart.setdefault(y, set()).add(x)

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def _domains(self, root: int) -> dict[str, set[str]]:
        if root not in self.domains:
            domain, email = self.addresses.get(root, (None, None))
            self.domains[root] = {domain: {email}} if domain is not None and email is not None else {}
        return self.domains[root]

    def kept_apart(self, ra: int, rb: int) -> bool:
        """Whether an unlink override forbids joining the groups of roots ``ra`` and ``rb``."""
        small, other = (ra, rb) if len(self.members.get(ra, ())) <= len(self.members.get(rb, ())) else (rb, ra)
        return any(self.find(y) == other for x in self.members.get(small, {small}) for y in self.apart.get(x, ()))

    def two_addresses(self, ra: int, rb: int) -> bool:
        """Whether joining would give one person two different addresses at one work domain."""
        da, db = self._domains(ra), self._domains(rb)
        return any(domain in db and (emails - db[domain]) and (db[domain] - emails) for domain, emails in da.items())

    def join(self, ra: int, rb: int) -> None:
        if len(self.members.get(ra, (ra,))) < len(self.members.get(rb, (rb,))):
            ra, rb = rb, ra
        da, db = self._domains(ra), self._domains(rb)
        for domain, emails in db.items():
            da.setdefault(domain, set()).update(emails)
        self.members[ra] = self.members.pop(ra, {ra}) | self.members.pop(rb, {rb})
        self.domains.pop(rb, None)
        self.parent[rb] = ra


def _ambiguous(links: pd.DataFrame, a: np.ndarray, b: np.ndarray, candidates: np.ndarray, work_nodes: np.ndarray,
               work: pd.DataFrame) -> np.ndarray:
    """Which probabilistic links are an ambiguous choice between two people at one work domain.

    A record (say a member with a personal address and the account ``acme.com``) may link about
    as strongly to ``jsmith@acme.com`` as to ``jsmith2@acme.com``: two colleagues with one name.
    Linking it to the stronger one would be a coin toss, so when its best links to two different
    addresses at one domain are within ``AMBIGUITY_MARGIN`` match weight of each other, all its
    probabilistic links to addresses at that domain are dropped.
    """
    picked = np.flatnonzero(candidates)
    if len(picked) == 0:
        return np.zeros(len(a), dtype=bool)
    weight = links["match_weight"].to_numpy()[picked]
    ends = pd.DataFrame({"link": np.concatenate([picked, picked]), "node": np.concatenate([a[picked], b[picked]]),
                         "partner": np.concatenate([b[picked], a[picked]]), "weight": np.concatenate([weight, weight])})
    address = pd.DataFrame({"partner": work_nodes, "domain": work["domain"].to_numpy(),
                            "email": work["email"].to_numpy()})
    ends = ends.merge(address, on="partner")
    best = ends.groupby(["node", "domain", "email"], as_index=False)["weight"].max()
    best = best.sort_values("weight", ascending=False)
    best["rank"] = best.groupby(["node", "domain"]).cumcount()
    top = best[best["rank"] < 2].pivot_table(index=["node", "domain"], columns="rank", values="weight")
    if 1 not in top.columns:
        return np.zeros(len(a), dtype=bool)
    close = top[(top[0] - top[1]) < AMBIGUITY_MARGIN].reset_index()[["node", "domain"]]
    dropped = ends.merge(close, on=["node", "domain"])["link"].unique()
    ambiguous = np.zeros(len(a), dtype=bool)
    ambiguous[dropped] = True
    return ambiguous


def _separate(labels: np.ndarray, a: np.ndarray, b: np.ndarray, probabilistic: np.ndarray, usable: np.ndarray,
              apart: Sequence[tuple[int, int]], addresses: Mapping[int, tuple[str, str]],
              contested: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Re-cluster the contested components, strongest link first, skipping links that break a constraint.

    ``a``/``b`` are the links' nodes, sorted strongest first; links not ``usable`` are skipped.
    Returns new labels and which links were kept.
    """
    groups = _Groups(apart, addresses)
    keep = usable.copy()
    for i in np.flatnonzero(np.isin(labels[a], list(contested)) & usable).tolist():
        ra, rb = groups.find(int(a[i])), groups.find(int(b[i]))
        if ra == rb:
            continue
        if groups.kept_apart(ra, rb) or (probabilistic[i] and groups.two_addresses(ra, rb)):
            keep[i] = False
            continue
        groups.join(ra, rb)
    new = labels.copy()
    offset = labels.max() + 1
    for node in np.flatnonzero(np.isin(labels, list(contested))).tolist():
        new[node] = offset + groups.find(node)
    _, new = np.unique(new, return_inverse=True)
    return new.astype(np.int64), keep
