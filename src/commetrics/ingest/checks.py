"""Set-based validation: one SQL statement types every staged record and names its first failure.

For each canonical column the builder writes a typed value expression and a list of checks
(SQL conditions that are true when the row fails). The statement evaluates the checks as one
``case`` chain, so each record gets the index of the first check it fails (``_check``), or NULL
when it is valid. Values are bound as parameters; identifiers come from the schema and the file
header and are quoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .. import schema
from ..config import IngestSettings
from ..store import quote_identifier as q
from .files import StagedFile
from .reasons import Reason

EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
NUMBER_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
INTEGER_PATTERN = r"[+-]?[0-9]+"
NON_FINITE_WORDS = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
MONEY_LIMIT = 1e16  # DECIMAL(18,2) holds 16 digits before the point

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


def _is_numeric(sql_type: str) -> bool:
    return sql_type.startswith("DECIMAL") or sql_type in _NUMERIC_TYPES


class _Builder:
    """Collects the value expressions and checks of one table, column by column."""

    def __init__(self, staged: StagedFile, settings: IngestSettings) -> None:
        self.staged = staged
        self.settings = settings
        self.texts: list[str] = []  # "expr as alias" of trimmed text forms
        self.values: list[str] = []  # "expr as alias" of typed values
        self.checks: list[Check] = []
        self.params: dict[str, Any] = {}

    def check(self, condition: str, reason: Reason, column: str | None, detail: str) -> None:
        self.checks.append(Check(condition, reason, column, detail))

    def text_alias(self, index: int, file_column: str) -> str:
        """Alias of the trimmed text of a file column (empty text is NULL)."""
        alias = f"__t{index}"
        raw = f"{self.staged.value_sql(file_column)}::VARCHAR"
        # trim() copies every string; testing for an edge blank first is twice as fast when, as
        # usual, there is none.
        self.texts.append(f"(case when {raw} like ' %' or {raw} like '% ' then nullif(trim({raw}), '') "
                          f"else nullif({raw}, '') end) as {alias}")
        return alias

    def raw_checks(self, index: int, file_column: str, column: str) -> None:
        """The check on the value as read: its size (an unclosed quote is the CSV reader's to find)."""
        if self.staged.format == "parquet" and not self.staged.column_types[file_column].startswith("VARCHAR"):
            return
        raw = self.staged.value_sql(file_column)
        self.check(
            f"strlen({raw}::VARCHAR) > $max_field_bytes",
            Reason.FIELD_TOO_LONG,
            column,
            f"longer than {self.settings.max_field_bytes} bytes",
        )


def _value_and_checks(b: _Builder, column: schema.Column, t: str, src_type: str, raw: str) -> str:
    """Return the typed value expression of ``column`` and add its format checks to ``b``.

    ``t`` is the alias of the trimmed text, ``raw`` the untouched source expression and
    ``src_type`` its DuckDB type (VARCHAR except for Parquet).
    """
    name = column.name
    kind = column.kind
    text_input = src_type.startswith("VARCHAR")
    if kind in ("id", "text"):
        return t
    if kind == "email":
        b.check(f"{t} is not null and not regexp_full_match({t}, $email_pattern)", Reason.BAD_EMAIL, name,
                "not of the form name@domain.tld")
        return t
    if kind == "timestamp":
        if src_type in ("TIMESTAMP WITH TIME ZONE",):
            value = raw
        elif src_type.startswith(("TIMESTAMP", "DATE")):
            value = f"{raw}::TIMESTAMPTZ"  # a naive instant is read as UTC
        else:
            value = f"try_cast({t} as TIMESTAMPTZ)"
            b.check(f"{t} is not null and {value} is null", Reason.BAD_TIMESTAMP, name,
                    "cannot be read as a timestamp")
        if not column.scheduled:
            b.check(f"{value} > $future_limit", Reason.FUTURE_TIMESTAMP, name,
                    "later than load time plus ingest.future_tolerance_hours")
        return value
    if kind == "bool":
        if src_type == "BOOLEAN":
            return raw
        value = (f"(case when {_one_of(f'lower({t})', TRUE_WORDS)} then true "
                 f"when {_one_of(f'lower({t})', FALSE_WORDS)} then false end)")
        b.check(f"{t} is not null and {value} is null", Reason.BAD_BOOLEAN, name, "not true/false/yes/no/1/0")
        return value
    if kind == "money":
        number = f"try_cast({t} as DOUBLE)" if text_input else f"{raw}::DOUBLE"
        if text_input:
            b.check(f"{t} is not null and {_one_of(f'lower({t})', NON_FINITE_WORDS)}", Reason.NON_FINITE_MONEY, name,
                    "NaN or infinite")
            b.check(f"{t} is not null and not regexp_full_match({t}, $number_pattern)", Reason.BAD_NUMBER,
                    name, "not a plain number")
        elif not _is_numeric(src_type):
            number = f"try_cast({raw} as DOUBLE)"
            b.check(f"{raw} is not null and {number} is null", Reason.BAD_NUMBER, name, "not a number")
        b.check(f"{number} is not null and (not isfinite({number}) or abs({number}) >= {MONEY_LIMIT})",
                Reason.NON_FINITE_MONEY, name, "NaN, infinite or too large")
        b.check(f"{number} < 0", Reason.NEGATIVE_MONEY, name, "negative")
        if text_input:
            return f"coalesce(try_cast({t} as DECIMAL(18,2)), try_cast({number} as DECIMAL(18,2)))"
        return f"try_cast({raw} as DECIMAL(18,2))"
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
        param = f"enum_{column.enum}"
        # The configured values are bound as a parameter (they come from the user's config).
        b.params[param] = _listing(b.settings.enum_values(column.enum))
        value = f"replace(replace(lower({t}), ' ', '_'), '-', '_')"
        b.check(f"{value} is not null and not {_in_listing(value, f'${param}')}", Reason.UNKNOWN_ENUM, name,
                f"not in ingest.{column.enum}")
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


def _table_checks(b: _Builder, table: schema.Table, present: set[str]) -> list[Check]:
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


def build_validation(
    table: schema.Table,
    staged: StagedFile,
    mapping: dict[str, str],
    extras: tuple[str, ...],
    settings: IngestSettings,
) -> Validation:
    """The query that types and checks the file: one row per parsed record, in file order.

    It yields ``_ord`` (the record's position among parsed records where the reader gives one,
    else NULL), ``source``, the canonical columns, ``_check`` (the index of the first failed check
    in ``checks``, -1 for a JSON Lines record that is not an object, NULL when valid) and
    ``_record`` (the raw record, for failures only).

    ``mapping`` maps canonical columns (and optionally ``source``) to file columns; ``extras``
    are file columns kept in ``attributes``.
    """
    b = _Builder(staged, settings)
    typed: dict[str, str] = {}
    for index, column in enumerate(table.columns):
        file_column = mapping.get(column.name)
        if column.kind == "json":
            explicit = None
            if file_column is not None:
                t = b.text_alias(index, file_column)
                b.raw_checks(index, file_column, column.name)
                explicit = _value_and_checks(b, column, t, "VARCHAR", staged.value_sql(file_column))
            typed[column.name] = _attributes_value(b, explicit, extras)
            continue
        if file_column is None:
            typed[column.name] = f"NULL::{schema.SQL_TYPES[column.kind]}"
            continue
        t = b.text_alias(index, file_column)
        b.raw_checks(index, file_column, column.name)
        raw = staged.value_sql(file_column)
        src_type = staged.column_types.get(file_column, "VARCHAR")
        missing = Reason.MISSING_KEY if column.name in table.key else Reason.MISSING_VALUE
        if column.required:
            b.check(f"{t} is null", missing, column.name, "empty")
        first_new = len(b.checks)
        value = _value_and_checks(b, column, t, src_type, raw)
        typed[column.name] = value
        if value != t:  # checks read the typed value computed once in ``typed``, not a second cast
            b.checks[first_new:] = [replace(c, condition=c.condition.replace(value, f"__v_{column.name}"))
                                    for c in b.checks[first_new:]]
    # Checks on the text as read run first, then missing keys, then the rest in column order.
    b.checks.sort(key=lambda c: (c.reason not in (Reason.FIELD_TOO_LONG, Reason.UNTERMINATED_QUOTE),
                                 c.reason != Reason.MISSING_KEY))
    table_checks = _table_checks(b, table, {c for c in table.column_names if c in mapping})
    checks = [*b.checks, *table_checks]

    source = mapping.get("source")
    source_sql = (f"coalesce(nullif(trim({staged.value_sql(source)}::VARCHAR), ''), $default_source)"
                  if source else "$default_source")
    # A JSON Lines record that is not an object fails before any column is looked at.
    guard = ("case when s._json is null then -1 end"
             if staged.format == "jsonl" else "NULL::INTEGER")
    texts = "".join(f",\n        {t}" for t in b.texts)
    values = "".join(f",\n        {expr} as __v_{name}" for name, expr in typed.items())
    output = "".join(f",\n    __v_{name} as {q(name)}" for name in typed)
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

checked as (
    select
        s.*,
        {_case(b.checks)} as _first
    from typed as s
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
        "number_pattern": NUMBER_PATTERN,
        "integer_pattern": INTEGER_PATTERN,
        "max_field_bytes": settings.max_field_bytes,
        **b.params,
    }
    return Validation(sql=sql, checks=checks, params=params)
