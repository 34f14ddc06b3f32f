"""The canonical data model: table names, columns, keys and types, declared once.

Ingest writes these tables, every analysis reads them, and the store creates them from this
module. Each loaded row also carries ``source`` (the system it came from) and ``load_id`` (the
row of ``load_ledger`` that wrote it). Keys are natural keys, namespaced by ``source``: the same
``activity_id`` from two sources is two rows, the same one from one source is one row.

All instants are ``TIMESTAMPTZ`` in UTC.

Each table also has three load-internal columns (see ``LOAD_CHECK_COLUMN``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

ColumnKind = Literal[
    "id",  # an identifier: trimmed text, never empty when it is a key
    "text",  # free text, trimmed
    "timestamp",  # an instant; text without an offset is read as UTC
    "email",  # an e-mail address, kept as given but trimmed
    "bool",  # true/false/yes/no/1/0/t/f/y/n
    "money",  # a finite decimal amount, never negative
    "int",  # a whole number written in ASCII digits
    "score",  # a survey score: an integer in the range of its survey kind
    "enum",  # one of a closed list (from the config where extensible)
    "currency",  # a three-letter ISO 4217 code
    "tags",  # a list of labels separated by ',', ';' or '|'
    "json",  # a JSON object
]

SQL_TYPES: dict[ColumnKind, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "email": "VARCHAR",
    "bool": "BOOLEAN",
    "money": "DECIMAL(18,2)",
    "int": "BIGINT",
    "score": "INTEGER",
    "enum": "VARCHAR",
    "currency": "VARCHAR",
    "tags": "VARCHAR[]",
    "json": "JSON",
}


@dataclass(frozen=True)
class Column:
    """One canonical column."""

    name: str
    kind: ColumnKind
    help: str
    required: bool = False
    enum: str | None = None  # name of the closed list (see ``commetrics.config.IngestSettings``)
    scheduled: bool = False  # a timestamp that may lie in the future (a renewal date), not an event


@dataclass(frozen=True)
class Table:
    """One canonical table that ``commetrics load`` writes."""

    name: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    one_of: tuple[str, ...] = ()  # at least one of these columns must be present in a row
    person_columns: tuple[str, ...] = ()  # columns that identify a person (erasure registry)
    has_attributes: bool = False  # extra file columns are kept in ``attributes``
    derivable_key: bool = False  # events: a file without the id column gets ids made from each row's content

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns the file must have (after mapping)."""
        return tuple(c.name for c in self.columns if c.required)


def _attributes() -> Column:
    return Column(
        "attributes",
        "json",
        "Extra columns of the file, kept as a JSON object (covariates for impact analyses)",
    )


MEMBERS = Table(
    name="members",
    grain="One community identity (an account on one community platform)",
    columns=(
        Column("member_id", "id", "Identifier on the community platform", required=True),
        Column("email", "email", "E-mail address, if the platform exports it"),
        Column("handle", "text", "User name or handle on the platform"),
        Column("name", "text", "Display name"),
        Column("joined_at", "timestamp", "When the member first joined", required=True),
        Column("entry_path", "enum", "How the member arrived (first touch)", enum="entry_paths"),
        Column("consent", "bool", "Consent to person-level processing; missing means no"),
        Column("account_id", "id", "Customer account the member belongs to, if known"),
        Column("is_staff", "bool", "Staff and moderators are excluded from cohorts"),
        _attributes(),
    ),
    key=("member_id",),
    person_columns=("member_id", "email", "handle", "name"),
    has_attributes=True,
)

ACCOUNTS = Table(
    name="accounts",
    grain="One customer organisation",
    columns=(
        Column("account_id", "id", "Account identifier (CRM)", required=True),
        Column("name", "text", "Organisation name"),
        Column("domain", "text", "Web/e-mail domain of the organisation"),
        Column("segment", "text", "Segment such as SMB, mid-market, enterprise"),
        Column("arr", "money", "Annual recurring revenue"),
        Column("seats", "int", "Licensed seats"),
        Column("created_at", "timestamp", "When the account was created"),
        _attributes(),
    ),
    key=("account_id",),
    has_attributes=True,
)

CONTACTS = Table(
    name="contacts",
    grain="One CRM contact",
    columns=(
        Column("contact_id", "id", "CRM contact identifier", required=True),
        Column("email", "email", "E-mail address"),
        Column("name", "text", "Full name"),
        Column("account_id", "id", "Account of the contact"),
        Column("lifecycle_stage", "text", "CRM lifecycle stage (lead, opportunity, customer, ...)"),
        Column("created_at", "timestamp", "When the contact was created"),
        Column("consent", "bool", "Consent to person-level processing; missing means no"),
    ),
    key=("contact_id",),
    person_columns=("contact_id", "email", "name"),
)

ACTIVITIES = Table(
    name="activities",
    grain="One community touchpoint",
    columns=(
        Column("activity_id", "id", "Identifier of the activity", required=True),
        Column("member_id", "id", "Member who did it", required=True),
        Column("ts", "timestamp", "When it happened", required=True),
        Column("type", "enum", "Activity type", required=True, enum="activity_types"),
        Column("channel", "text", "Channel or space (forum, slack, events, ...)"),
        Column("program", "text", "Program (AMA series, user group, advocacy, ...)"),
        Column("tags", "tags", "Labels, separated by ',', ';' or '|'"),
        Column("ref_id", "id", "What it responds to (a question, an event)"),
    ),
    key=("activity_id",),
    person_columns=("member_id",),
    derivable_key=True,
)

OUTCOMES = Table(
    name="outcomes",
    grain="One business event (sign-up, trial, purchase, renewal, ...)",
    columns=(
        Column("outcome_id", "id", "Identifier of the event", required=True),
        Column("member_id", "id", "Member it belongs to"),
        Column("contact_id", "id", "CRM contact it belongs to"),
        Column("account_id", "id", "Account it belongs to"),
        Column("ts", "timestamp", "When it happened", required=True),
        Column("type", "enum", "Outcome type", required=True, enum="outcome_types"),
        Column("value", "money", "Money value (deal amount, ARR change)"),
        Column("currency", "currency", "ISO 4217 currency of value"),
    ),
    key=("outcome_id",),
    one_of=("member_id", "contact_id", "account_id"),
    person_columns=("member_id", "contact_id"),
    derivable_key=True,
)

SUBSCRIPTIONS = Table(
    name="subscriptions",
    grain="One renewal decision of an account",
    columns=(
        Column("account_id", "id", "Account", required=True),
        Column("period_start", "timestamp", "Start of the subscription period", required=True),
        Column("period_end", "timestamp", "Renewal date (end of the period); may lie in the future",
               required=True, scheduled=True),
        Column("renewed", "bool", "Whether it renewed; empty while undecided"),
        Column("arr_before", "money", "ARR during the period"),
        Column("arr_after", "money", "ARR after the renewal (0 when churned)"),
    ),
    key=("account_id", "period_end"),
)

SURVEYS = Table(
    name="surveys",
    grain="One survey response",
    columns=(
        Column("response_id", "id", "Identifier of the response", required=True),
        Column("member_id", "id", "Member who answered"),
        Column("contact_id", "id", "CRM contact who answered"),
        Column("ts", "timestamp", "When it was answered", required=True),
        Column("kind", "enum", "nps (0-10), csat (1-5) or ces (1-7)", required=True, enum="survey_kinds"),
        Column("score", "score", "The score, in the range of its kind", required=True),
    ),
    key=("response_id",),
    one_of=("member_id", "contact_id"),
    person_columns=("member_id", "contact_id"),
    derivable_key=True,
)

EXPERIMENTS = Table(
    name="experiments",
    grain="One assignment of a unit to a variant",
    columns=(
        Column("experiment", "id", "Experiment name", required=True),
        Column("unit_id", "id", "Member, contact or account assigned", required=True),
        Column("variant", "text", "Variant (control, treatment, ...)", required=True),
        Column("exposed_at", "timestamp", "When the unit was first exposed"),
    ),
    key=("experiment", "unit_id"),
    person_columns=("unit_id",),
)

IDENTITY_MAPS = Table(
    name="identity_maps",
    grain="One e-mail address known to belong to a community member (from a platform export)",
    columns=(
        Column("email", "email", "An e-mail address of the member", required=True),
        Column("member_id", "id", "The member the address belongs to"),
        Column("handle", "text", "Or: the handle of the member(s) the address belongs to"),
    ),
    key=("email", "member_id", "handle"),
    one_of=("member_id", "handle"),
    person_columns=("member_id", "handle", "email"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (MEMBERS, ACCOUNTS, CONTACTS, ACTIVITIES, OUTCOMES, SUBSCRIPTIONS, SURVEYS, EXPERIMENTS, IDENTITY_MAPS)
}

#: survey kind -> (lowest, highest) valid score
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

LEDGER_TABLE = "load_ledger"

#: Columns of every canonical table that only loads use: the index of the first failed check and
#: the raw record of a failing row, and the record's position in its file when the reader gives
#: one. A load writes each parsed row once, straight into its table, then moves the failures to
#: quarantine and deletes them in the same transaction, so outside a load the first two are
#: NULL. Readers select the canonical columns (``Engine.table``, ``Engine.ibis_table``).
LOAD_CHECK_COLUMN = "_load_check"
LOAD_RECORD_COLUMN = "_load_record"
LOAD_ORD_COLUMN = "_load_ord"
QUARANTINE_TABLE = "quarantine"

#: Added to the ledger and quarantine for corrections (``load --replace``): how many loaded rows replaced
#: earlier versions, how the file was read, and the key of a quarantined row with the later load that
#: loaded that key (a resolved row leaves ``status``; ``quarantine --all`` still lists it).
CORRECTIONS_SQL: tuple[str, ...] = (
    f"alter table {LEDGER_TABLE} add column if not exists rows_replaced BIGINT default 0",
    f"alter table {LEDGER_TABLE} add column if not exists options JSON",
    f"alter table {QUARANTINE_TABLE} add column if not exists record_key VARCHAR",
    f"alter table {QUARANTINE_TABLE} add column if not exists resolved_by BIGINT",
)


def arrow_file_schema(
    table: Table, columns: Sequence[str] | None = None, extra: Sequence[tuple[str, pa.DataType]] = (),
    text: Sequence[str] = (),
) -> pa.Schema:
    """The Arrow schema of a file that ``commetrics load`` reads into ``table`` as it is.

    For writers of canonical files (the demo, platform-export converters): ``columns`` (default:
    all but ``attributes``) in schema order, then the ``extra`` columns, which land in
    ``attributes``. Tags are one text of labels joined by ``|``; instants are UTC microseconds.
    ``text`` columns are written as the export wrote them, for the load to read and check (amounts
    in a spreadsheet's own format).
    """
    import pyarrow as pa

    kinds: dict[ColumnKind, pa.DataType] = {
        "timestamp": pa.timestamp("us", tz="UTC"), "bool": pa.bool_(), "money": pa.float64(),
        "int": pa.int64(), "score": pa.int64(),
    }
    chosen = columns if columns is not None else [c for c in table.column_names if c != "attributes"]
    fields = [(name, pa.string() if name in text else kinds.get(table.column(name).kind, pa.string()))
              for name in chosen]
    return pa.schema([*fields, *extra])


# -- tables the store creates for the stages above it (the migrations live in the store) ----------------

#: the erasure ledger in the store: pseudonyms only (see commetrics.privacy.erasure)
ERASURES_TABLE = "erasures"
ERASURES_SQL = f"""
create table if not exists {ERASURES_TABLE} (
    erasure_id VARCHAR PRIMARY KEY,     -- random; never derived from the identifier
    requested_at TIMESTAMPTZ NOT NULL,
    pseudonyms JSON NOT NULL,           -- {{kind: [keyed pseudonym, ...]}}; no identifier in clear
    rows_deleted JSON,                  -- {{table: rows}}
    status VARCHAR NOT NULL             -- deleted (rows gone) | done (file compacted too)
)
"""

#: people and the links between their records (see commetrics.identity.people)
IDENTITY_SQL: tuple[str, ...] = (
    """
    create table if not exists people (
        record_id VARCHAR PRIMARY KEY,  -- 'm:' || member_id or 'c:' || contact_id
        person_id VARCHAR NOT NULL,     -- 'p:' || the person's smallest record_id (stable across runs)
        member_id VARCHAR,
        contact_id VARCHAR,
        rule VARCHAR NOT NULL,          -- how the record joined: email, map, probabilistic, override, singleton
        account_id VARCHAR,             -- the person's account (the same on each of their records)
        account_rule VARCHAR            -- contact | member | domain (null: no account)
    )
    """,
    """
    create table if not exists identity_links (
        record_a VARCHAR NOT NULL,      -- record_a < record_b
        record_b VARCHAR NOT NULL,
        rule VARCHAR NOT NULL,          -- email | map | probabilistic | override
        match_probability DOUBLE,       -- probabilistic links only
        match_weight DOUBLE,
        detail JSON                     -- the evidence, or each comparison's level and match weight
    )
    """,
    """
    create table if not exists identity_overrides (
        record_a VARCHAR NOT NULL,      -- record_a < record_b
        record_b VARCHAR NOT NULL,
        decision VARCHAR NOT NULL,      -- link | unlink
        decided_at TIMESTAMPTZ NOT NULL,
        primary key (record_a, record_b)
    )
    """,
    """
    create table if not exists identity_runs (
        run_id BIGINT PRIMARY KEY,
        resolved_at TIMESTAMPTZ NOT NULL,
        last_load_id BIGINT,            -- the newest load the run saw (later loads make it stale)
        records BIGINT NOT NULL,
        people BIGINT NOT NULL,
        threshold DOUBLE NOT NULL,
        probabilistic BOOLEAN NOT NULL,
        seconds DOUBLE NOT NULL,
        stats JSON                      -- links per rule, model figures, notes
    )
    """,
)

#: what incremental identity resolution keeps between runs (see commetrics.identity.state)
IDENTITY_NEAR_LINKS_SQL = """
create table if not exists identity_near_links (
    record_a VARCHAR NOT NULL,          -- pairs the model scored just below the match threshold: never links,
    record_b VARCHAR NOT NULL,          -- kept for review by hand (same columns as identity_links)
    rule VARCHAR NOT NULL,
    match_probability DOUBLE,
    match_weight DOUBLE,
    detail JSON
)
"""

IDENTITY_STATE_SQL: tuple[str, ...] = (
    """
    create table if not exists identity_records (
        record_id VARCHAR NOT NULL,     -- one row per record of people: the record as linkage last saw it
        source VARCHAR NOT NULL,        -- member | contact
        email VARCHAR,                  -- normalised (commetrics.identity.rules)
        email_local VARCHAR,
        email_local_key VARCHAR,
        email_domain VARCHAR,
        email_is_free BOOLEAN,
        name VARCHAR,                   -- normalised, or spelled by the address (name_spelled)
        name_spelled BOOLEAN,
        first_name VARCHAR,
        last_name VARCHAR,
        given_name VARCHAR,
        name_key VARCHAR,
        handle VARCHAR,
        handle_key VARCHAR,
        email_local_from_name BOOLEAN,
        handle_from_name BOOLEAN,
        company VARCHAR,
        account_domain VARCHAR,
        name_company_works BIGINT,      -- work addresses of the records with the name at the company
        name_company_work VARCHAR,
        block_local VARCHAR,            -- blocking keys: null where too many records share one
        block_name VARCHAR,
        block_last_company VARCHAR,
        block_given_company VARCHAR,
        block_initial_last VARCHAR,
        block_handle VARCHAR,
        det_cluster VARCHAR,            -- smallest record id joined to it by e-mail or map
        freq_name_key DOUBLE,           -- how common each value is, as the model knows it
        freq_handle DOUBLE,
        freq_email_local_key DOUBLE,
        freq_company DOUBLE
    )
    """,
    """
    create table if not exists identity_dropped_links (
        record_a VARCHAR NOT NULL,      -- links the evidence found but a constraint set aside
        record_b VARCHAR NOT NULL,      -- (same columns as identity_links)
        rule VARCHAR NOT NULL,
        match_probability DOUBLE,
        match_weight DOUBLE,
        detail JSON
    )
    """,
    """
    create table if not exists identity_overrides_applied (
        record_a VARCHAR NOT NULL,      -- the overrides the last run applied
        record_b VARCHAR NOT NULL,
        decision VARCHAR NOT NULL
    )
    """,
    """
    create table if not exists identity_model (
        model_id BIGINT NOT NULL,       -- one row per training; the newest is used
        trained_at TIMESTAMPTZ NOT NULL,
        records BIGINT NOT NULL,        -- records it was trained on
        settings JSON,                  -- Splink's model JSON (null: the records gave nothing to train on)
        floor DOUBLE,                   -- frequency of a name, handle or local part it has not seen
        company_floor DOUBLE,           -- frequency of a company it has not seen
        note VARCHAR,                   -- why there is no model
        seconds DOUBLE NOT NULL
    )
    """,
)

#: people without the primary key of its first version: resolution writes only the rows that
#: changed, and DuckDB's index made replacing many rows in one transaction slow (see docs/identity.md)
PEOPLE_SQL = """
create table people (
    record_id VARCHAR NOT NULL,     -- 'm:' || member_id or 'c:' || contact_id (one row per record)
    person_id VARCHAR NOT NULL,     -- 'p:' || the person's smallest record_id (stable across runs)
    member_id VARCHAR,
    contact_id VARCHAR,
    rule VARCHAR NOT NULL,          -- how the record joined: email, map, probabilistic, override, singleton
    account_id VARCHAR,             -- the person's account (the same on each of their records)
    account_rule VARCHAR            -- contact | member | domain (null: no account)
)
"""
