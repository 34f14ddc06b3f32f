"""Amounts as spreadsheets write them: groups of thousands and decimal commas.

An amount read from text is a plain number (``1234.56``) unless the file writes its amounts another
way, which the load takes from ``--decimal-separator`` or finds in the column's values:

* a decimal point with commas between groups of three digits: ``1,234.56``, ``1,234,567``;
* a decimal comma, with points, blanks (also no-break and narrow no-break spaces) or nothing
  between groups of three digits: ``1.234,56``, ``1 234,56``, ``99,90``.

A value that only one of the two can read decides (``99,90``, ``1.234,56``: a comma;
``1,234.56``: a point); a value either can read (``1,234``: 1234 or 1.234) is left to the others,
first of the sample, then of the whole column. A column where both kinds appear, or only values
either can read, is refused with two examples. Plain numbers keep their meaning in a column read
with a decimal point; in a column read with a decimal comma a point only separates groups, so a
value such as ``12.50`` there is quarantined (``bad_number``) rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ..errors import InputError

POINT, COMMA = ".", ","
#: blanks a spreadsheet puts between groups of thousands: space, no-break space, narrow no-break space
_BLANKS = " \u00a0\u202f"
#: a number with a decimal point and commas between groups of three digits (at least one comma)
GROUPED_POINT = r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?"
#: a number with a decimal comma: groups of three digits (one separator throughout) or none, then ``,digits``
COMMA_FORM = (r"[+-]?([0-9]{1,3}((\.[0-9]{3})+|([" + _BLANKS + r"][0-9]{3})+)|[0-9]+)(,[0-9]*)?")
_PLAIN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"


@dataclass(frozen=True)
class NumberPlan:
    """How the amounts of one column are written: the decimal separator, told or found."""

    separator: str = POINT
    detected: bool = False

    def describe(self) -> str:
        how = "a decimal comma" if self.separator == COMMA else "a decimal point and commas between thousands"
        return f"{how} ({'detected' if self.detected else '--decimal-separator'})"


def check_separator(value: str | None) -> str | None:
    """``--decimal-separator``: ``.`` or ``,`` (also the words ``point`` and ``comma``), or a clear error."""
    if value is None:
        return None
    found = {".": POINT, "point": POINT, "dot": POINT, ",": COMMA, "comma": COMMA}.get(value.strip().lower())
    if found is None:
        msg = (f"--decimal-separator {value!r} is not a decimal separator; use '.' (1,234.56) or ',' "
               "(1.234,56 or 1 234,56).")
        raise InputError(msg)
    return found


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def normalized_sql(t: str, plan: NumberPlan) -> str:
    """SQL of the text ``t`` as a plain number when ``plan`` reads it; any other text is left as it is."""
    if plan.separator == COMMA:
        groups = f"regexp_replace({t}, {_sql_string('[.' + _BLANKS + ']')}, '', 'g')"
        return (f"(case when regexp_full_match({t}, {_sql_string(COMMA_FORM)}) "
                f"then replace({groups}, ',', '.') else {t} end)")
    return (f"(case when contains({t}, ',') and regexp_full_match({t}, {_sql_string(GROUPED_POINT)}) "
            f"then replace({t}, ',', '') else {t} end)")


def stray_point_sql(t: str, plan: NumberPlan) -> str | None:
    """SQL true when ``t`` has a point that ``plan`` cannot read as a group separator (``12.50`` with a comma)."""
    if plan.separator != COMMA:
        return None
    return (f"({t} is not null and contains({t}, '.') and regexp_full_match({t}, {_sql_string(_PLAIN)}) "
            f"and not regexp_full_match({t}, {_sql_string(COMMA_FORM)}))")


@dataclass(frozen=True)
class _Kinds:
    """The values of a column that are not plain numbers, by which separator reads them (two examples each)."""

    comma: list[str]  # only a decimal comma reads them: 99,90 1.234,56 1.234.567
    point: list[str]  # only a decimal point reads them: 1,234.56 1,234,567
    either: list[str]  # both read them, differently: 1,234
    blanks: int  # blanks between groups, no decimals (1 234): both would read them alike, only a comma plan does
    odd: int  # every value that is not a plain number

    @property
    def decides(self) -> bool:
        return bool(self.comma or self.point)


def _kinds(con: duckdb.DuckDBPyConnection, relation: str) -> _Kinds:
    """The kinds of the values of ``relation`` (text ``v``, row ``r``) that are not plain numbers."""
    row = con.execute(
        f"""
        select
            list(v order by r) filter (where c and not p and (contains(v, ',') or contains(v, '.')))[1:2],
            list(v order by r) filter (where p and not c)[1:2],
            list(v order by r) filter (where p and c)[1:2],
            count(*) filter (where c and not p and not contains(v, ',') and not contains(v, '.')),
            count(*)
        from (
            select v, r, regexp_full_match(v, {_sql_string(COMMA_FORM)}) as c,
                regexp_full_match(v, {_sql_string(GROUPED_POINT)}) as p
            from {relation}
            where v is not null and not regexp_full_match(v, {_sql_string(_PLAIN)})
        )
        """
    ).fetchall()[0]
    return _Kinds(list(row[0] or []), list(row[1] or []), list(row[2] or []), int(row[3] or 0), int(row[4] or 0))


def detect(con: duckdb.DuckDBPyConnection, column: str, file_column: str, sample: str,
           whole_column: str) -> NumberPlan | None:
    """The plan for one amount column, or None when its values are plain numbers.

    ``sample`` and ``whole_column`` are SQL relations with the column's trimmed text as ``v`` and
    the row as ``r``; the whole column is read only when the sample does not decide.
    """
    kinds = _kinds(con, sample)
    if not kinds.odd:
        return None
    if not kinds.decides:
        kinds = _kinds(con, whole_column)
    if kinds.comma and kinds.point:
        msg = (f"Cannot tell how {column} (file column {file_column!r}) writes its amounts: {kinds.comma[0]!r} "
               f"reads only with a decimal comma and {kinds.point[0]!r} only with a decimal point. Load the file "
               "again with --decimal-separator ',' or '.': the values the other way writes are then quarantined "
               "as bad_number.")
        raise InputError(msg)
    if kinds.comma:
        return NumberPlan(COMMA, detected=True)
    if kinds.point:
        return NumberPlan(POINT, detected=True)
    if kinds.either:
        shown = " and ".join(repr(v) for v in kinds.either)
        msg = (f"Cannot tell how {column} (file column {file_column!r}) writes its amounts: {shown} read as "
               "thousands with a decimal point and as decimals with a decimal comma, and no value decides. Load the "
               "file again with --decimal-separator '.' (1,234 is 1234) or ',' (1,234 is 1.234).")
        raise InputError(msg)
    if kinds.blanks:
        return NumberPlan(COMMA, detected=True)
    return None  # values neither way reads: the load quarantines them as bad_number
