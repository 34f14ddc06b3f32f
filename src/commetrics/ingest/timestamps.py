"""Read timestamps as they come: ISO 8601, RFC 2822, epoch seconds or milliseconds, and the day-first,
month-first and year-first layouts of spreadsheets and exports.

A timestamp column is read by a **plan**: formats tried in order, the first that reads a value wins.
The user names them (``--date-format``: strftime codes, or ``iso``, ``epoch``, ``epoch_ms``, ``excel``: a
spreadsheet's serial days, as a date column saved unformatted gives them); otherwise
they are **detected** from the first ``ingest.detect_rows`` records. ISO 8601 (DuckDB's own reading, any
offset) is the plan whenever it reads every sampled value. Else every common layout whose shape fits
the values is tried on them, and the one that reads the most wins; when two read the same values but
disagree on some (``01/02/2024``: 1 February or 2 January?), the whole column decides, and when the
whole column cannot decide either the load stops before writing anything, showing two rows and the
formats it tried, and asks for ``--date-format``.

Times without an offset are read in the load's time zone (``--timezone``, default
``reporting.timezone``): the loader sets the session's zone for the load, so DuckDB reads naive text
and naive Parquet timestamps in it; values with an offset keep theirs. Epoch values are UTC. When
the zone is UTC a naive time is already its instant: its microseconds are taken as they are
(:func:`naive_instant_sql`) instead of going through the time-zone library, which costs as much as
reading the text (half of a day-first column's parse, measured in ``benchmarks/results/load.md``).

What is not a timestamp is refused, not guessed: text that does not start with a digit (``epoch``,
``-infinity``, ``-2024-05-01``) and offsets beyond ±14:00 are unreadable (``bad_timestamp``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb

from ..errors import InputError
from .files import sql_string

ISO = "iso"
EPOCH = "epoch"
EPOCH_MS = "epoch_ms"
#: a spreadsheet's serial date: days since 1899-12-30, a fraction for the time (``45292.5``: 2024-01-01 12:00)
EXCEL = "excel"
KEYWORDS = (ISO, EPOCH, EPOCH_MS, EXCEL)
_EXCEL_PATTERN = r"[0-9]{5}([.][0-9]+)?"

_DATES = (
    "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%Y.%m.%d",
    "%d/%m/%y", "%m/%d/%y", "%d-%m-%y", "%d.%m.%y", "%Y%m%d", "%Y-%m-%d",
    "%d %b %Y", "%d-%b-%Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%a, %d %b %Y", "%a %d %b %Y",
)
_TIMES = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p", "T%H:%M", "T%H:%M:%S",
          "T%H:%M:%S.%f", " %I:%M%p", " %I:%M:%S%p")
_ZONES = ("", " %z", "%z", " %Z")
#: every layout detection tries (its shape must also fit the values)
CANDIDATES = tuple(d + t + z for d in _DATES for t in _TIMES for z in (_ZONES if t else ("",)))

_DIGIT_DIRECTIVES = "dmYyHIMSfjU"
_WORD_DIRECTIVES = "bBaAp"


@dataclass(frozen=True)
class DatePlan:
    """How one column's text becomes an instant: the formats tried in order, and whether they were detected."""

    formats: tuple[str, ...] = (ISO,)
    detected: bool = True

    def describe(self) -> str:
        names = " then ".join({ISO: "ISO 8601", EXCEL: "spreadsheet serial days"}.get(f, f) for f in self.formats)
        return f"{names} ({'detected' if self.detected else '--date-format'})"


#: two characters above ``14`` as text compares them (``15``..``99``, and ``1`` or more followed by anything higher)
_ABOVE_14 = r"(?:[^\x{0}-1].|1[^\x{0}-4])"
#: an offset beyond ±14 at the end: ``+HH:MM`` (``HH`` above 14), ``+HHMM`` (``HH`` above 14, the four between
#: ``0000`` and ``9999`` as text), or ``+HH``. The same test as comparing the characters at -6, -5 and -3 from
#: the end, in one pass over the text instead of a dozen substrings counted from the end.
BAD_OFFSET_PATTERN = (r"(?s)[+-](?:" + _ABOVE_14 + r":..|1[^\x{0}-4]..|[2-8]...|"
                      r"9(?:[^9-\x{10FFFF}]..|9(?:[^9-\x{10FFFF}].|9[\x{0}-9]))|" + _ABOVE_14 + r")$")


def _bad_offset(t: str) -> str:
    """SQL true when ``t`` ends in a UTC offset beyond ±14 hours (+25:00, -1500, +99)."""
    return f"(strlen({t}) > 16 and regexp_matches({t}, {sql_string(BAD_OFFSET_PATTERN)}))"


#: zones in which a naive time is its UTC instant (no offset, no daylight saving)
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


def naive_instant_sql(naive: str, *, utc: bool) -> str:
    """SQL of the instant of a naive TIMESTAMP read in the session's zone.

    The cast goes through the time-zone library for every value; in UTC the instant is the naive
    value's microseconds as they are, which ``make_timestamptz`` takes exactly and without it."""
    return f"make_timestamptz(epoch_us({naive}))" if utc else f"{naive}::TIMESTAMPTZ"


def _one(t: str, fmt: str, *, utc: bool = False) -> str:
    if fmt == ISO:
        return (f"(case when ascii({t}) between 48 and 57 and not {_bad_offset(t)} "
                f"then try_cast({t} as TIMESTAMPTZ) end)")
    if fmt == EPOCH:
        return (f"(case when regexp_full_match({t}, '[0-9]{{9,11}}([.][0-9]*)?') "
                f"then to_timestamp(try_cast({t} as DOUBLE)) end)")
    if fmt == EPOCH_MS:
        return (f"(case when regexp_full_match({t}, '[0-9]{{12,14}}') "
                f"then to_timestamp(try_cast({t} as DOUBLE) / 1000) end)")
    if fmt == EXCEL:  # a naive date and time, read in the load's zone like any other
        days = f"try_cast({t} as DOUBLE)"
        naive = f"(timestamp '1899-12-30' + to_microseconds(round({days} * 86400000000)::BIGINT))"
        instant = naive_instant_sql(naive, utc=utc)
        return f"(case when regexp_full_match({t}, {sql_string(_EXCEL_PATTERN)}) then {instant} end)"
    # DuckDB reads its special words ('epoch', '-infinity') whatever the format: a format that starts
    # with a number needs a digit first, one that starts with a word is kept from those words.
    if fmt[:2] in ("%a", "%A", "%b", "%B"):
        guard = f"lower({t}) <> 'epoch' and not contains({t}, 'infinity')"
    else:
        guard = f"ascii({t}) between 48 and 57"
    if "%z" in fmt:
        guard += f" and not {_bad_offset(t)}"
    parsed = f"try_strptime({t}, {sql_string(fmt)})"
    # With %z or %Z DuckDB returns the instant itself; without, a naive time in the load's zone.
    value = f"{parsed}::TIMESTAMPTZ" if "%z" in fmt or "%Z" in fmt else naive_instant_sql(parsed, utc=utc)
    return f"(case when {guard} then {value} end)"


def parse_sql(t: str, plan: DatePlan, *, utc: bool = False) -> str:
    """SQL turning the text ``t`` into a TIMESTAMPTZ by ``plan`` (NULL when no format reads it).

    ``utc``: the load's zone is UTC (see :data:`UTC_ZONES`), so naive times need no zone rules."""
    parts = [_one(t, f, utc=utc) for f in plan.formats]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def check_formats(con: duckdb.DuckDBPyConnection, formats: tuple[str, ...], option: str = "--date-format") -> None:
    """Refuse a format DuckDB cannot use, naming it."""
    for fmt in formats:
        if fmt in KEYWORDS:
            continue
        if "%" not in fmt:
            msg = (f"{option} {fmt!r} has no strftime code; write it like '%d/%m/%Y %H:%M', or use iso, epoch "
                   "or epoch_ms.")
            raise InputError(msg)
        try:
            con.execute(f"select try_strptime('', {sql_string(fmt)})").fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            msg = f"{option} {fmt!r} is not a format the reader knows ({first}). See strftime codes."
            raise InputError(msg) from None


def _shape(text: str) -> str:
    """A value's shape: digits -> 9, letters -> a, runs collapsed (``19/11/2021 9:54 AM`` -> ``9/9/9 9:9 a``)."""
    classes = re.sub(r"[A-Za-z]", "a", re.sub(r"[0-9]", "9", text))
    return re.sub(r"(.)\1+", r"\1", classes)


def _format_shapes(fmt: str) -> set[str]:
    out = [""]
    index = 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%" and index + 1 < len(fmt):
            code = fmt[index + 1]
            index += 2
            if code in _DIGIT_DIRECTIVES:
                out = [o + "9" for o in out]
            elif code in _WORD_DIRECTIVES or code == "Z":
                out = [o + "a" for o in out]
            elif code == "z":
                out = [o + z for o in out for z in ("+9", "-9", "+9:9", "-9:9")]
            continue
        out = [o + ("a" if char.isalpha() else "9" if char.isdigit() else char) for o in out]
        index += 1
    return {re.sub(r"(.)\1+", r"\1", o) for o in out}


_SHAPES = {fmt: _format_shapes(fmt) for fmt in CANDIDATES}


def fitting(values: list[str]) -> list[str]:
    """The candidate formats whose shape fits at least one of ``values``, and the epoch forms where they fit."""
    shapes = {_shape(v) for v in values}
    found = [fmt for fmt in CANDIDATES if _SHAPES[fmt] & shapes]
    if any(re.fullmatch(r"[0-9]{9,11}([.][0-9]*)?", v) for v in values):
        found.append(EPOCH)
    if any(re.fullmatch(r"[0-9]{12,14}", v) for v in values):
        found.append(EPOCH_MS)
    if any(re.fullmatch(_EXCEL_PATTERN, v) for v in values):
        found.append(EXCEL)
    return found


@dataclass(frozen=True)
class Sample:
    """Distinct sampled values of one column, with the row (1-based, among records) where each first appears."""

    column: str  # the canonical column
    file_column: str  # for messages
    values: list[str]
    rows: list[int]


def _parsed(con: duckdb.DuckDBPyConnection, values: list[str], formats: list[str]) -> list[list[int | None]]:
    """For each format, the instant (epoch microseconds) it reads from each value, or None."""
    if not formats:
        return []
    columns = ", ".join(f"epoch_us({_one('v', f)})" for f in formats)
    rows = con.execute(f"select {columns} from (select unnest($values) as v, generate_subscripts($values, 1) as i) "
                       "order by i", {"values": values}).fetchall()
    return [[row[k] for row in rows] for k in range(len(formats))]


def _conflict(a: list[int | None], b: list[int | None]) -> bool:
    """Whether two formats read some value as two different instants."""
    return any(x is not None and y is not None and x != y for x, y in zip(a, b, strict=True))


def detect(con: duckdb.DuckDBPyConnection, sample: Sample, whole_column: str | None = None) -> DatePlan:
    """The plan for one column from its sample (``whole_column``: SQL relation ``(v)`` over every value,
    read only when the sample cannot tell two formats apart).

    ISO 8601 when it reads every value. Otherwise formats are chosen one by one, each time the one
    that reads the most values not read yet (ISO first among equals), skipping any that reads a
    value differently from one already chosen; up to three. When the best two disagree about a
    value (day-first or month-first), the whole column decides.
    """
    values = sample.values
    if not values:
        return DatePlan()
    candidates = [ISO, *fitting(values)]
    results = _parsed(con, values, candidates)
    if all(v is not None for v in results[0]):
        return DatePlan()
    chosen: list[int] = []
    covered = [False] * len(values)
    while len(chosen) < 3:
        gains = [-1 if i in chosen or any(_conflict(results[i], results[j]) for j in chosen)
                 else sum(v is not None and not c for v, c in zip(results[i], covered, strict=True))
                 for i in range(len(candidates))]
        best = max(gains)
        if best <= 0:
            break
        tied = [i for i, g in enumerate(gains) if g == best]
        pick = tied[0]
        rivals = [i for i in tied if _conflict(results[pick], results[i])]
        if rivals:
            names = [candidates[i] for i in [pick, *rivals]]
            decided = _decide(con, sample, names, [results[i] for i in [pick, *rivals]], whole_column)
            pick = [pick, *rivals][names.index(decided)]
        chosen.append(pick)
        covered = [c or v is not None for v, c in zip(results[pick], covered, strict=True)]
    if not chosen:
        return DatePlan()
    return DatePlan(tuple(candidates[i] for i in chosen))


def _decide(con: duckdb.DuckDBPyConnection, sample: Sample, formats: list[str], results: list[list[Any]],
            whole_column: str | None) -> str:
    """The one of ``formats`` that reads the most of the whole column, or an error naming two rows."""
    if whole_column is not None:
        counts = [f"count({_one('v', f)})" for f in formats]
        agree = " and ".join(f"{_one('v', formats[0])} is not distinct from {_one('v', f)}" for f in formats[1:])
        row = con.execute(f"select {', '.join(counts)}, count_if(not ({agree})) from {whole_column}").fetchall()[0]
        readable = [int(c) for c in row[:-1]]
        top = max(readable)
        if readable.count(top) == 1:
            return formats[readable.index(top)]
        if int(row[-1]) == 0:  # they read every value of the column alike
            return formats[0]
    differ = [k for k in range(len(sample.values)) if len({r[k] for r in results}) > 1][:2]
    shown = "; ".join(f"row {sample.rows[k]}: {sample.values[k]!r}" for k in differ)
    options = " or ".join(f"--date-format '{f}'" for f in formats[:3])
    msg = (f"Cannot tell the date format of {sample.column} (file column {sample.file_column!r}): {shown} "
           f"read differently as {' and as '.join(formats[:3])}, and the whole file does not decide. Load it "
           f"again with {options}. Formats tried: ISO 8601, {', '.join(fitting(sample.values))}.")
    raise InputError(msg)
