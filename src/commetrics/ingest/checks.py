"""Set-based validation: one SQL statement types every staged record and names its first failure.

For each canonical column the builder writes a typed value expression and a list of checks
(SQL conditions that are true when the row fails). The statement evaluates the checks as one
``case`` chain, so each record gets the index of the first check it fails (``_check``), or NULL
when it is valid. Values are bound as parameters; identifiers come from the schema and the file
header and are quoted.

A column's value comes from a file column (or several spellings of one key, JSON Lines), from a
constant (``--set``), or is derived after typing: a key made from the row's content when the file
has no id column (:func:`generated_key_sql`), and a snapshot's period from its tenure (see
:class:`Plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .. import schema
from ..config import IngestSettings
from ..store import quote_identifier as q
from .files import StagedFile, sql_string
from .numbers import NUMBER_PATTERN, NumberPlan, normalized_sql, stray_point_sql, unsigned_sql
from .reasons import Reason
from .timestamps import DatePlan, naive_instant_sql, parse_sql

EMAIL_PATTERN = r"[^@\s\p{Z}\p{C}]+@[^@\s\p{Z}\p{C}]+\.[^@\s\p{Z}\p{C}.]+"
#: blanks at the edges of an address that trimming spaces misses: no-break, zero-width, BOM
INVISIBLE_EDGES = r"^[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+|[\s\p{Z}\x{200B}-\x{200D}\x{2060}\x{FEFF}]+$"
INTEGER_PATTERN = r"[+-]?[0-9]+"
NON_FINITE_WORDS = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
MONEY_LIMIT = 10**16  # DECIMAL(18,2) holds 16 digits before the point
#: the prefix of an id made from a row's content (see :func:`generated_key_sql`)
GENERATED_PREFIX = "row-"

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")


@dataclass(frozen=True)
class Check:
    """A condition (true when the row fails), the reason it gives, the column and a short detail."""

    condition: str
    reason: Reason
    column: str | None
    detail: str


@dataclass
class Validation:
    """The validation statement for one staged file and one canonical table."""

    sql: str
    checks: list[Check]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Where each canonical column's value comes from, beyond plain file columns.

    ``mapping`` maps canonical columns (and ``source``) to file columns (several: spellings of one
    JSON key, the first non-null wins); ``constants`` fills columns with one value; ``dates`` reads
    timestamp text; ``numbers`` reads amounts written with groups or a decimal comma; ``nulls`` are
    words that mean an empty cell;
    ``generated_key`` makes the key from the content; ``inputs`` are validated columns that are not
    stored (a snapshot's tenure and churn flag) and ``derived`` computes stored columns from typed
    values (``__v_NAME``) after typing. ``utc`` says the load's time zone is UTC.
    """

    mapping: dict[str, tuple[str, ...]]
    extras: tuple[str, ...] = ()
    constants: dict[str, str] = field(default_factory=dict)
    dates: dict[str, DatePlan] = field(default_factory=dict)
    generated_key: bool = False
    inputs: tuple[schema.Column, ...] = ()
    derived: dict[str, str] = field(default_factory=dict)
    derived_checks: tuple[Check, ...] = ()
    numbers: dict[str, NumberPlan] = field(default_factory=dict)
    nulls: tuple[str, ...] = ()  # words that mean an empty cell (--na)
    utc: bool = False  # the load's zone is UTC: naive times are their instants (see timestamps.naive_instant_sql)


def _listing(words: tuple[str, ...]) -> str:
    """The words as one string ``'|w1|w2|'``, the list form :func:`_in_listing` tests against."""
    return "|" + "|".join(words) + "|"


def _in_listing(expr: str, listing_sql: str) -> str:
    """SQL true when ``expr`` is one of the words of ``listing_sql`` (a ``'|w1|w2|'`` string).

    DuckDB plans ``x IN (...)`` and ``list_contains`` with a constant list as a join, which is
    slower and stores rows out of the file's order (see ingest.load); a substring test stays a
    plain projection.
    """
    return f"(not contains({expr}, '|') and contains({listing_sql}, '|' || {expr} || '|'))"


def _one_of(expr: str, words: tuple[str, ...]) -> str:
    """SQL true when ``expr`` is one of the fixed ``words`` (written into the statement)."""
    assert all("|" not in w and "'" not in w for w in words)
    return _in_listing(expr, f"'{_listing(words)}'")


def without_markers_sql(text: str, markers: tuple[str, ...]) -> str:
    """SQL of the trimmed ``text`` with the words that mean an empty cell (``--na``) as NULL."""
    if not markers:
        return text
    whens = " ".join(f"when {sql_string(m)} then NULL" for m in markers)
    return f"(case {text} {whens} else {text} end)"


def _is_numeric(sql_type: str) -> bool:
    return sql_type.startswith("DECIMAL") or sql_type in _NUMERIC_TYPES


def _typed_as_is(kind: str, src_type: str) -> bool:
    """Whether a column of ``kind`` read with ``src_type`` (Parquet) is used as read, never through its text."""
    if kind == "timestamp":
        return src_type.startswith(("TIMESTAMP", "DATE"))
    if kind == "bool":
        return src_type == "BOOLEAN"
    if kind in ("money", "int", "score"):
        return _is_numeric(src_type)
    return kind == "tags" and src_type.endswith("[]")


def enum_value_sql(t: str) -> str:
    """The normal form of a value of a closed list: lower case, blanks and hyphens as underscores."""
    return f"replace(replace(lower({t}), ' ', '_'), '-', '_')"


class _Builder:
    """Collects the value expressions and checks of one table, column by column."""

    def __init__(self, staged: StagedFile, settings: IngestSettings, markers: tuple[str, ...] = ()) -> None:
        self.staged = staged
        self.settings = settings
        self.markers = markers  # words that mean an empty cell (--na)
        self.texts: list[str] = []  # "expr as alias" of trimmed text forms
        self.values: list[str] = []  # "expr as alias" of typed values
        self.checks: list[Check] = []
        self.params: dict[str, Any] = {}

    def check(self, condition: str, reason: Reason, column: str | None, detail: str) -> None:
        self.checks.append(Check(condition, reason, column, detail))

    def text_alias(self, index: int, raw_sql: str) -> str:
        """Alias of the trimmed text of a raw value (empty text is NULL)."""
        alias = f"__t{index}"
        raw = f"{raw_sql}::VARCHAR"
        # trim() copies every string; testing for an edge blank first is twice as fast when, as
        # usual, there is none.
        trimmed = (f"(case when {raw} like ' %' or {raw} like '% ' then nullif(trim({raw}), '') "
                   f"else nullif({raw}, '') end)")
        self.texts.append(f"{without_markers_sql(trimmed, self.markers)} as {alias}")
        return alias

    def raw_checks(self, raw: str, src_type: str, column: str) -> None:
        """The check on the value as read: its size (an unclosed quote is the CSV reader's to find)."""
        if not src_type.startswith("VARCHAR"):
            return
        self.check(f"strlen({raw}::VARCHAR) > $max_field_bytes", Reason.FIELD_TOO_LONG, column,
                   f"longer than {self.settings.max_field_bytes} bytes")


def _timestamp(b: _Builder, column: schema.Column, t: str, src_type: str, raw: str, plan: DatePlan,
               utc: bool) -> str:
    name = column.name
    if src_type == "TIMESTAMP WITH TIME ZONE":
        value = raw
    elif src_type == "TIMESTAMP":
        value = naive_instant_sql(raw, utc=utc)  # a naive instant is read in the load's time zone
    elif src_type.startswith(("TIMESTAMP", "DATE")):
        value = f"{raw}::TIMESTAMPTZ"
    else:
        value = parse_sql(t, plan, utc=utc)
        b.check(f"{t} is not null and {value} is null", Reason.BAD_TIMESTAMP, name,
                f"cannot be read as a timestamp (read as {plan.describe()})")
    b.check(f"{value} < $earliest_limit", Reason.EARLY_TIMESTAMP, name, "before ingest.earliest_timestamp")
    if column.scheduled:
        b.check(f"{value} > $scheduled_limit", Reason.FUTURE_TIMESTAMP, name, "more than 100 years after load time")
    else:
        b.check(f"{value} > $future_limit", Reason.FUTURE_TIMESTAMP, name,
                "later than load time plus ingest.future_tolerance_hours")
    return value


def _money(b: _Builder, name: str, t: str, src_type: str, raw: str, plan: NumberPlan | None = None) -> str:
    """Amounts are exact to the cent: more decimals are refused, not rounded; up to 16 digits before the point.

    ``plan``: the text writes currency signs, groups of thousands or a decimal comma (see
    :mod:`commetrics.ingest.numbers`)."""
    if src_type.startswith("VARCHAR"):
        if plan is not None:
            t = unsigned_sql(t, plan)
            stray = stray_point_sql(t, plan)
            if stray is not None:
                b.check(stray, Reason.BAD_NUMBER, name, "a point in an amount read with a decimal comma")
            t = normalized_sql(t, plan)
        number = f"try_cast({t} as DOUBLE)"
        exact = f"try_cast({t} as DECIMAL(38,10))"
        b.check(f"{t} is not null and {_one_of(f'lower({t})', NON_FINITE_WORDS)}", Reason.NON_FINITE_MONEY, name,
                "NaN or infinite")
        detail = ("not a plain number (for 1.234,56 or 1,234.56 use --decimal-separator)" if plan is None
                  else f"not a number written with {plan.describe()}")
        b.check(f"{t} is not null and not regexp_full_match({t}, $number_pattern)", Reason.BAD_NUMBER, name, detail)
        b.check(f"{number} is not null and (not isfinite({number}) or {exact} is null "
                f"or abs({exact}) >= {MONEY_LIMIT})", Reason.NON_FINITE_MONEY, name,
                "NaN, infinite or more than 16 digits before the point")
        b.check(f"{number} < 0", Reason.NEGATIVE_MONEY, name, "negative")
        b.check(f"{exact} <> round({exact}, 2)", Reason.BAD_NUMBER, name, "more than two decimal places")
        return f"try_cast({exact} as DECIMAL(18,2))"
    if src_type.startswith("DECIMAL"):
        exact = f"{raw}::DECIMAL(38,10)"
        b.check(f"abs({exact}) >= {MONEY_LIMIT}", Reason.NON_FINITE_MONEY, name, "more than 16 digits before the point")
        b.check(f"{exact} < 0", Reason.NEGATIVE_MONEY, name, "negative")
        b.check(f"{exact} <> round({exact}, 2)", Reason.BAD_NUMBER, name, "more than two decimal places")
        return f"try_cast({exact} as DECIMAL(18,2))"
    number = f"{raw}::DOUBLE" if _is_numeric(src_type) else f"try_cast({raw} as DOUBLE)"
    if not _is_numeric(src_type):
        b.check(f"{raw} is not null and {number} is null", Reason.BAD_NUMBER, name, "not a number")
    b.check(f"{number} is not null and (not isfinite({number}) or abs({number}) >= {MONEY_LIMIT})",
            Reason.NON_FINITE_MONEY, name, "NaN, infinite or more than 16 digits before the point")
    b.check(f"{number} < 0", Reason.NEGATIVE_MONEY, name, "negative")
    # a binary fraction is never exact: a cent's millionth is rounding, a tenth of a cent is not
    b.check(f"abs({number} * 100 - round({number} * 100)) > 1e-6 * greatest(1, abs({number} * 100))",
            Reason.BAD_NUMBER, name, "more than two decimal places")
    return f"try_cast(round({number}, 2) as DECIMAL(18,2))"


def _value_and_checks(b: _Builder, column: schema.Column, t: str, src_type: str, raw: str,
                      plan: Plan) -> str:
    """Return the typed value expression of ``column`` and add its format checks to ``b``.

    ``t`` is the alias of the trimmed text, ``raw`` the untouched source expression and
    ``src_type`` its DuckDB type (VARCHAR except for Parquet).
    """
    name = column.name
    kind = column.kind
    text_input = src_type.startswith("VARCHAR")
    if kind == "id":
        json_type = b.staged.json_type_sql(plan.mapping[name]) if name in plan.mapping else None
        if json_type is not None:
            b.check(f"{json_type} <> 'VARCHAR' and {json_type} <> 'BIGINT' and {json_type} <> 'UBIGINT' "
                    f"and {json_type} <> 'NULL' and not ({json_type} = 'DOUBLE' and "
                    f"regexp_full_match({t}, '-?[0-9]+'))", Reason.BAD_ID, name,
                    "not a string or a whole number in JSON")
        b.check(f"contains({t}, chr(0))", Reason.BAD_ID, name, "holds a NUL character")
        return t
    if kind == "text":
        return t
    if kind == "email":
        value = f"regexp_replace({t}, $invisible_edges, '', 'g')"
        b.check(f"{t} is not null and not regexp_full_match({value}, $email_pattern)", Reason.BAD_EMAIL, name,
                "not of the form name@domain.tld")
        return value
    if kind == "timestamp":
        return _timestamp(b, column, t, src_type, raw, plan.dates.get(name, DatePlan()), plan.utc)
    if kind == "bool":
        if src_type == "BOOLEAN":
            return raw
        value = (f"(case when {_one_of(f'lower({t})', TRUE_WORDS)} then true "
                 f"when {_one_of(f'lower({t})', FALSE_WORDS)} then false end)")
        b.check(f"{t} is not null and {value} is null", Reason.BAD_BOOLEAN, name, "not true/false/yes/no/1/0")
        return value
    if kind == "money":
        return _money(b, name, t, src_type, raw, plan.numbers.get(name))
    if kind in ("int", "score"):
        target = "BIGINT" if kind == "int" else "INTEGER"
        if text_input:
            b.check(f"{t} is not null and not regexp_full_match({t}, $integer_pattern)", Reason.BAD_NUMBER,
                    name, "not a whole number in ASCII digits")
            value = f"try_cast({t} as {target})"
            b.check(f"{t} is not null and {value} is null", Reason.BAD_NUMBER, name, "too large")
        else:
            value = f"try_cast({raw} as {target})"
            b.check(f"{raw} is not null and ({value} is null or {raw}::DOUBLE <> {value})", Reason.BAD_NUMBER,
                    name, "not a whole number")
        if kind == "int":
            b.check(f"{value} < 0", Reason.BAD_NUMBER, name, "negative")
        return value
    if kind == "enum":
        assert column.enum is not None
        values = b.settings.enum_values(column.enum)  # from the user's config: quoted as literals
        value = enum_value_sql(t)
        # A ``case`` over the configured values (written as literals) is a plain projection, and three
        # times cheaper than the substring test over the joined list.
        known = " ".join(f"when {sql_string(v)} then false" for v in values)
        b.check(f"{value} is not null and (case {value} {known} else true end)" if values else f"{value} is not null",
                Reason.UNKNOWN_ENUM, name, f"not in ingest.{column.enum}")
        return value
    if kind == "currency":
        value = f"upper({t})"
        b.check(f"{value} is not null and not regexp_full_match({value}, '[A-Z]{{3}}')", Reason.BAD_CURRENCY,
                name, "not a three-letter code")
        return value
    if kind == "tags":
        if src_type.endswith("[]"):
            return f"{raw}::VARCHAR[]"
        # Usual case, plain labels joined by '|': a plain split. Otherwise one regular-expression
        # split (separators with the blanks around them), then drop empties.
        plain = (f"not (contains({t}, ' ') or contains({t}, ',') or contains({t}, ';') or contains({t}, '||') "
                 f"or contains({t}, chr(9)) or starts_with({t}, '|') or ends_with({t}, '|'))")
        return (f"(case when {plain} then string_split({t}, '|') else "
                f"list_filter(regexp_split_to_array({t}, '\\s*[,;|]\\s*'), lambda x: x <> '') end)")
    if kind == "json":
        b.check(f"{t} is not null and not (json_valid({t}) and json_type({t}) = 'OBJECT')", Reason.BAD_JSON,
                name, "not a JSON object")
        return f"(case when json_valid({t}) then {t} end)::JSON"
    msg = f"no validation for column kind {kind!r}"
    raise AssertionError(msg)


def _attributes_value(b: _Builder, explicit: str | None, extras: tuple[str, ...]) -> str:
    """The attributes object: an explicit `attributes` column merged with the extra columns.

    Keys whose value is null are dropped (a JSON merge patch deletes them), and an object left
    empty is NULL, so a file that merely has an empty extra column stores the same row as one
    without it.
    """
    merged = "'{}'::JSON"
    if explicit is not None:
        merged = f"json_merge_patch({merged}, coalesce({explicit}, '{{}}'::JSON))"
    if extras:
        pairs = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}', {b.staged.attribute_sql(c)}" for c in extras)
        merged = f"json_merge_patch({merged}, json_object({pairs}))"
    if explicit is None and not extras:
        return "NULL::JSON"
    return f"nullif({merged}, '{{}}'::JSON)"


def _table_checks(table: schema.Table, present: set[str]) -> list[Check]:
    """Checks that involve several columns of one table (they read the typed ``v_`` values)."""
    checks: list[Check] = []
    if table.one_of and present & set(table.one_of):
        cols = [f"__v_{c}" for c in table.one_of if c in present]
        checks.append(Check(" and ".join(f"{c} is null" for c in cols), Reason.MISSING_VALUE, None,
                            f"needs one of {', '.join(table.one_of)}"))
    if {"period_start", "period_end"} <= present:
        checks.append(Check("__v_period_end < __v_period_start", Reason.END_BEFORE_START, "period_end",
                            "before period_start"))
    if {"kind", "score"} <= present:
        ranges = " ".join(f"when '{k}' then __v_score between {lo} and {hi}"
                          for k, (lo, hi) in schema.SCORE_RANGES.items())
        checks.append(Check(f"__v_score is not null and not (case __v_kind {ranges} else true end)",
                            Reason.SCORE_OUT_OF_RANGE, "score", "outside the scale of its survey kind"))
    return checks


def _case(checks: list[Check], offset: int = 0) -> str:
    if not checks:
        return "NULL::INTEGER"
    whens = "\n            ".join(f"when {c.condition} then {offset + i}" for i, c in enumerate(checks))
    return f"case\n            {whens}\n        end"


def content_sql(table: schema.Table, alias: str = "", *, skip: tuple[str, ...] = ()) -> str:
    """SQL text of a row's canonical content, the same whatever the session's time zone (instants as
    microseconds since 1970 UTC): ``source`` and every column but ``skip``."""
    prefix = f"{alias}." if alias else ""
    parts = [f"{prefix}{'__v_source' if not alias else 'source'}"]
    for column in table.columns:
        if column.name in skip:
            continue
        ref = f"{prefix}{('__v_' + column.name) if not alias else q(column.name)}"
        parts.append(f"epoch_us({ref})::VARCHAR" if column.kind == "timestamp" else f"{ref}::VARCHAR")
    return f"to_json(list_value({', '.join(parts)}))::VARCHAR"


def generated_key_sql(table: schema.Table) -> str:
    """The key of a row whose file has no id column: a digest of its source and canonical content (the
    loader appends ``-2``, ``-3`` ... to later copies of the same content in one file)."""
    key = table.key[0]
    return f"'{GENERATED_PREFIX}' || substr(md5({content_sql(table, skip=(key,))}), 1, 20)"


def build_validation(table: schema.Table, staged: StagedFile, plan: Plan, settings: IngestSettings) -> Validation:
    """The query that types and checks the file: one row per parsed record, in file order.

    It yields ``_ord`` (the record's position among parsed records where the reader gives one,
    else NULL), ``source``, the canonical columns, ``_check`` (the index of the first failed check
    in ``checks``; a negative index for a record the reader could not split: -1 a JSON Lines record
    that is not an object, -2 a line of a space-aligned file with another number of fields; NULL
    when valid) and ``_record`` (the raw record, for failures only).
    """
    b = _Builder(staged, settings, plan.nulls)
    typed: dict[str, str] = {}
    late: dict[str, str] = dict(plan.derived)
    if plan.generated_key:
        late[table.key[0]] = generated_key_sql(table)
    columns = [*table.columns, *plan.inputs]
    for index, column in enumerate(columns):
        if column.name in late:
            continue
        raw: str | None = None
        src_type = "VARCHAR"
        if column.name in plan.constants:
            param = f"const_{index}"
            b.params[param] = plan.constants[column.name]
            raw = f"${param}::VARCHAR"
        elif column.name in plan.mapping:
            files = plan.mapping[column.name]
            raw = staged.value_sql(files)
            src_type = staged.column_types.get(files[0], "VARCHAR")
        if column.kind == "json":
            explicit = None
            if raw is not None:
                t = b.text_alias(index, raw)
                b.raw_checks(raw, src_type, column.name)
                explicit = _value_and_checks(b, column, t, "VARCHAR", raw, plan)
            typed[column.name] = _attributes_value(b, explicit, plan.extras)
            continue
        if raw is None:
            typed[column.name] = f"NULL::{schema.SQL_TYPES[column.kind]}"
            continue
        # A typed value read as such needs no text form: it is null exactly when its text would be empty.
        t = raw if _typed_as_is(column.kind, src_type) else b.text_alias(index, raw)
        b.raw_checks(raw, src_type, column.name)
        missing = Reason.MISSING_KEY if column.name in table.key else Reason.MISSING_VALUE
        if column.required:
            b.check(f"{t} is null", missing, column.name, "empty")
        first_new = len(b.checks)
        value = _value_and_checks(b, column, t, src_type, raw, plan)
        typed[column.name] = value
        if value != t:  # checks read the typed value computed once in ``typed``, not a second cast
            b.checks[first_new:] = [replace(c, condition=c.condition.replace(value, f"__v_{column.name}"))
                                    for c in b.checks[first_new:]]
    # Checks on the text as read run first, then missing keys, then the rest in column order.
    b.checks.sort(key=lambda c: (c.reason not in (Reason.FIELD_TOO_LONG, Reason.UNTERMINATED_QUOTE),
                                 c.reason != Reason.MISSING_KEY))
    present = {c for c in table.column_names if c in plan.mapping or c in plan.constants or c in late}
    table_checks = [*plan.derived_checks, *_table_checks(table, present)]
    checks = [*b.checks, *table_checks]

    source = plan.mapping.get("source")
    source_sql = (f"coalesce(nullif(trim({staged.value_sql(source)}::VARCHAR), ''), $default_source)"
                  if source else "$default_source")
    if staged.format == "jsonl":  # a record that is not an object fails before any column is looked at
        guard = "case when s._json is null then -1 end"
    elif staged.reading == "lines":
        guard = f"case when len(s._fields) <> {len(staged.columns)} then -2 end"
    else:
        guard = "NULL::INTEGER"
    texts = "".join(f",\n        {t}" for t in b.texts)
    values = "".join(f",\n        {expr} as __v_{name}" for name, expr in typed.items())
    derived = "".join(f",\n        {expr} as __v_{name}" for name, expr in late.items())
    output = "".join(f",\n    __v_{c.name} as {q(c.name)}" for c in table.columns)
    # Each step is its own CTE so that a text form or a cast is computed once per record.
    ordinal = staged.ordinal or "NULL::BIGINT"
    sql = f"""
with texts as (
    select
        s.*,
        {ordinal} as __ord,
        {source_sql} as __v_source,
        {guard} as _guard{texts}
    from {staged.relation} as s
),

typed as (
    select
        s.*{values}
    from texts as s
),

derived as (
    select
        s.*{derived}
    from typed as s
),

checked as (
    select
        s.*,
        {_case(b.checks)} as _first
    from derived as s
)

select
    __ord as _ord,
    __v_source as source{output},
    _check,
    case when _check is not null then {staged.record_sql()} end as _record  -- raw text of failures only
from (
    select
        *,
        coalesce(_guard, _first, {_case(table_checks, len(b.checks))}) as _check
    from checked as s
) as s
"""
    params: dict[str, Any] = {
        "email_pattern": EMAIL_PATTERN,
        "invisible_edges": INVISIBLE_EDGES,
        "number_pattern": NUMBER_PATTERN,
        "integer_pattern": INTEGER_PATTERN,
        "max_field_bytes": settings.max_field_bytes,
        **b.params,
    }
    return Validation(sql=sql, checks=checks, params=params)
