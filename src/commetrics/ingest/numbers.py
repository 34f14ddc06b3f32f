"""Amounts as spreadsheets write them: groups of thousands, decimal commas, currency signs.

An amount read from text is a plain number (``1234.56``) unless the file writes its amounts another
way, which the load takes from ``--decimal-separator`` or finds in the column's values:

* a decimal point with commas between groups of three digits: ``1,234.56``, ``1,234,567``;
* a decimal comma, with points, blanks (also no-break and narrow no-break spaces) or nothing
  between groups of three digits: ``1.234,56``, ``1 234,56``, ``99,90``;
* either, with a currency sign or code before or after the number (``$1,234.56``, ``1.234,56 €``,
  ``EUR 12``), as a spreadsheet saves a cell formatted as currency. The sign is removed; a column
  with two different signs is refused unless the table's currency column is read too (else
  ``$10`` and ``€10`` would add up).

A value that only one of the two separators can read decides (``99,90``, ``1.234,56``: a comma;
``1,234.56``: a point); a value either can read (``1,234``: 1234 or 1.234) is left to the others,
first of the sample, then of the whole column. A column where both kinds appear, or only values
either can read, is refused with two examples. Plain numbers keep their meaning in a column read
with a decimal point; in a column read with a decimal comma a point only separates groups, so a
value such as ``12.50`` there is quarantined (``bad_number``) rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal

import duckdb

from ..errors import InputError
from .files import sql_string

POINT, COMMA = ".", ","
#: blanks a spreadsheet puts between groups of thousands: space, no-break space, narrow no-break space
_BLANKS = " \u00a0\u202f"
#: a number with a decimal point and commas between groups of three digits (at least one comma)
GROUPED_POINT = r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?"
#: a number with a decimal comma: groups of three digits (one separator throughout) or none, then ``,digits``
COMMA_FORM = (r"[+-]?([0-9]{1,3}((\.[0-9]{3})+|([" + _BLANKS + r"][0-9]{3})+)|[0-9]+)(,[0-9]*)?")
#: a plain number, as the loader reads amounts without a plan
NUMBER_PATTERN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
#: currency signs and codes a spreadsheet writes next to an amount
SIGNS = r"[A-Z]{3}|R\$|US\$|C\$|A\$|kr\.?|zł|Kč|Ft|[$€£¥₹₩₽₺₪₫₴₦฿₱]"
#: the currency a sign means, where it means one ($, ¥ and kr stand for several)
CURRENCY_OF_SIGN = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS", "₫": "VND",
                    "₴": "UAH", "₦": "NGN", "฿": "THB", "₱": "PHP", "zł": "PLN", "Kč": "CZK", "Ft": "HUF", "R$": "BRL",
                    "US$": "USD", "C$": "CAD", "A$": "AUD"}
_EDGE_SIGN = f"^(?:{SIGNS})[{_BLANKS}]*|[{_BLANKS}]*(?:{SIGNS})$"
_LEADING_SIGN = f"^({SIGNS})[{_BLANKS}]*[0-9.,+-]"
_TRAILING_SIGN = f"[0-9.,][{_BLANKS}]*({SIGNS})$"


@dataclass(frozen=True)
class NumberPlan:
    """How the amounts of one column are written: the decimal separator, told or found."""

    separator: str = POINT
    detected: bool = False  # the separator was found in the values, not told
    signs: tuple[str, ...] = ()  # the currency signs the values carry, removed

    def describe(self) -> str:
        how = "a decimal comma" if self.separator == COMMA else "a decimal point and commas between thousands"
        if self.signs:
            how += f", the currency sign{'s' if len(self.signs) > 1 else ''} {' '.join(self.signs)} removed"
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


def unsigned_sql(t: str, plan: NumberPlan) -> str:
    """SQL of the text ``t`` without a currency sign at its edges, when ``plan`` found signs."""
    if not plan.signs:
        return t
    return f"regexp_replace({t}, {sql_string(_EDGE_SIGN)}, '')"


def normalized_sql(t: str, plan: NumberPlan) -> str:
    """SQL of the text ``t`` as a plain number when ``plan`` reads it; any other text is left as it is."""
    if plan.separator == COMMA:
        groups = f"regexp_replace({t}, {sql_string('[.' + _BLANKS + ']')}, '', 'g')"
        return (f"(case when regexp_full_match({t}, {sql_string(COMMA_FORM)}) "
                f"then replace({groups}, ',', '.') else {t} end)")
    return (f"(case when contains({t}, ',') and regexp_full_match({t}, {sql_string(GROUPED_POINT)}) "
            f"then replace({t}, ',', '') else {t} end)")


def stray_point_sql(t: str, plan: NumberPlan) -> str | None:
    """SQL true when ``t`` has a point that ``plan`` cannot read as a group separator (``12.50`` with a comma)."""
    if plan.separator != COMMA:
        return None
    return (f"({t} is not null and contains({t}, '.') and regexp_full_match({t}, {sql_string(NUMBER_PATTERN)}) "
            f"and not regexp_full_match({t}, {sql_string(COMMA_FORM)}))")


@dataclass(frozen=True)
class _Kinds:
    """The values of a column that are not plain numbers, by which separator reads them (two examples each)."""

    comma: list[str]  # only a decimal comma reads them: 99,90 1.234,56 1.234.567
    point: list[str]  # only a decimal point reads them: 1,234.56 1,234,567
    either: list[str]  # both read them, differently: 1,234
    blanks: int  # blanks between groups, no decimals (1 234): both would read them alike, only a comma plan does
    odd: int  # every value that is not a plain number
    signs: list[str]  # the currency signs at the values' edges (three at most)

    @property
    def decides(self) -> bool:
        return bool(self.comma or self.point)


def _kinds(con: duckdb.DuckDBPyConnection, relation: str) -> _Kinds:
    """The kinds of the values of ``relation`` (text ``v``, row ``r``) that are not plain numbers, each
    without the currency sign at its edge (``b``)."""
    row = con.execute(
        f"""
        select
            list(b order by r) filter (where c and not p and (contains(b, ',') or contains(b, '.')))[1:2],
            list(b order by r) filter (where p and not c)[1:2],
            list(b order by r) filter (where p and c)[1:2],
            count(*) filter (where c and not p and not contains(b, ',') and not contains(b, '.')),
            count(*),
            list(distinct sign order by sign) filter (where sign <> '')[1:3]
        from (
            select r, b, sign, not regexp_full_match(b, $plain) and regexp_full_match(b, $comma) as c,
                not regexp_full_match(b, $plain) and regexp_full_match(b, $point) as p
            from (
                select r, regexp_replace(v, $edge, '') as b,
                    coalesce(nullif(regexp_extract(v, $leading, 1), ''), regexp_extract(v, $trailing, 1)) as sign
                from {relation}
                where v is not null and not regexp_full_match(v, $plain)
            )
        )
        """, {"plain": NUMBER_PATTERN, "comma": COMMA_FORM, "point": GROUPED_POINT, "edge": _EDGE_SIGN,
              "leading": _LEADING_SIGN, "trailing": _TRAILING_SIGN}
    ).fetchall()[0]
    return _Kinds(list(row[0] or []), list(row[1] or []), list(row[2] or []), int(row[3] or 0), int(row[4] or 0),
                  list(row[5] or []))


def detect(con: duckdb.DuckDBPyConnection, column: str, file_column: str, sample: str, whole_column: str, *,
           separator: str | None = None, currency_read: bool = False) -> NumberPlan | None:
    """The plan for one amount column, or None when its values are plain numbers.

    ``sample`` and ``whole_column`` are SQL relations with the column's trimmed text as ``v`` and
    the row as ``r``; the whole column is read only when the sample does not decide the separator
    or shows a currency sign (to find every sign). ``separator``: told (``--decimal-separator``).
    ``currency_read``: the table's currency column is read too, so several signs may share the column.
    """
    kinds = _kinds(con, sample)
    if not kinds.odd:
        return NumberPlan(separator) if separator is not None else None
    if kinds.signs or (separator is None and not kinds.decides):
        whole = _kinds(con, whole_column)
        kinds = whole if separator is None and not kinds.decides else replace(kinds, signs=whole.signs)
    if len({CURRENCY_OF_SIGN.get(sign, sign) for sign in kinds.signs}) > 1 and not currency_read:
        msg = (f"{column} (file column {file_column!r}) holds amounts in {' and '.join(kinds.signs[:2])}: added up "
               "they would mean nothing. Map the file's currency column (--map currency=...), or load each currency's "
               "rows from a file of their own.")
        raise InputError(msg)
    signs = tuple(kinds.signs)
    if separator is not None:
        return NumberPlan(separator, signs=signs)
    if kinds.comma and kinds.point:
        msg = (f"Cannot tell how {column} (file column {file_column!r}) writes its amounts: {kinds.comma[0]!r} "
               f"reads only with a decimal comma and {kinds.point[0]!r} only with a decimal point. Load the file "
               "again with --decimal-separator ',' or '.': the values the other way writes are then quarantined "
               "as bad_number.")
        raise InputError(msg)
    if kinds.comma:
        return NumberPlan(COMMA, detected=True, signs=signs)
    if kinds.point:
        return NumberPlan(POINT, detected=True, signs=signs)
    if kinds.either:
        shown = " and ".join(repr(v) for v in kinds.either)
        msg = (f"Cannot tell how {column} (file column {file_column!r}) writes its amounts: {shown} read as "
               "thousands with a decimal point and as decimals with a decimal comma, and no value decides. Load the "
               "file again with --decimal-separator '.' (1,234 is 1234) or ',' (1,234 is 1.234).")
        raise InputError(msg)
    if kinds.blanks:
        return NumberPlan(COMMA, detected=True, signs=signs)
    if signs:
        return NumberPlan(POINT, detected=True, signs=signs)
    return None  # values neither way reads: the load quarantines them as bad_number


def amount(text: str | None) -> Decimal | None:
    """One amount read on its own, where no column decides (a connector's single value): a plain number,
    groups of thousands with a decimal point (``1,500.00``), or a value only a decimal comma reads
    (``1.500,00``, ``99,90``), without a currency sign at its edge; None for anything else. A value
    either separator reads (``1,500``) is read with a decimal point, as plain numbers are."""
    if text is None:
        return None
    value = re.sub(_EDGE_SIGN, "", text.strip(), count=1)
    if re.fullmatch(GROUPED_POINT, value):
        value = value.replace(",", "")
    elif re.fullmatch(COMMA_FORM, value) and not re.fullmatch(NUMBER_PATTERN, value) and "," in value:
        value = re.sub(f"[.{_BLANKS}]", "", value).replace(",", ".")
    if not re.fullmatch(NUMBER_PATTERN, value):
        return None
    number = Decimal(value)
    return number if number.is_finite() else None
