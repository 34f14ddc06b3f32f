"""How to read one file: the options of ``commetrics load`` and ``Engine.load`` beyond the table and the path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import schema
from ..errors import InputError
from .timestamps import KEYWORDS

#: the key of ``LoadOptions.date_formats`` for formats that apply to every timestamp column
EVERY_COLUMN = "*"


@dataclass(frozen=True)
class LoadOptions:
    """Everything a load may be told about its file.

    ``constants`` fill canonical columns with one value (``--set type=purchase``); ``date_formats``
    maps a timestamp column (or ``*`` for all of them) to formats tried in order; ``timezone`` reads
    times without an offset; ``replace`` lets rows win over the rows of the same key that earlier
    loads of the source wrote; ``accept_types`` adds unknown activity / outcome types to the
    configuration; ``snapshot_as_of`` reads a subscriptions snapshot (tenure and churn flag as of a
    date); ``decimal_separator`` says how amounts are written (``.`` or ``,``; None: found in the
    values, see :mod:`commetrics.ingest.numbers`); ``null_values`` are words that mean an empty cell
    (``--na NULL``), compared with the trimmed text.
    """

    source: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    date_formats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str = "UTC"
    encoding: str | None = None
    replace: bool = False
    accept_types: bool = False
    snapshot_as_of: date | None = None
    decimal_separator: str | None = None
    null_values: tuple[str, ...] = ()
    sheet: str | None = None  # the sheet of a workbook (default: its first)
    dry_run: bool = False  # read and check, then roll back: the report of a load that writes nothing

    def formats_for(self, column: str) -> tuple[str, ...]:
        """The formats named for ``column`` (its own, else those for every column; empty: detect)."""
        return tuple(self.date_formats.get(column) or self.date_formats.get(EVERY_COLUMN) or ())

    def describe(self) -> dict[str, object]:
        """The options as plain data (for the ledger)."""
        return {"source": self.source, "mapping": dict(self.mapping), "constants": dict(self.constants),
                "date_formats": {k: list(v) for k, v in self.date_formats.items()}, "timezone": self.timezone,
                "encoding": self.encoding, "replace": self.replace, "accept_types": self.accept_types,
                "snapshot_as_of": self.snapshot_as_of.isoformat() if self.snapshot_as_of else None,
                "decimal_separator": self.decimal_separator, "null_values": list(self.null_values),
                "sheet": self.sheet, "dry_run": self.dry_run}


def parse_date_formats(value: str | Sequence[str] | Mapping[str, str | Sequence[str]] | None,
                       table: schema.Table) -> dict[str, tuple[str, ...]]:
    """``--date-format`` values: ``FORMAT`` for every timestamp column, or ``column=FORMAT`` for one.

    A value is ``column=...`` when the part before ``=`` is a column of ``table`` (which must then be
    a timestamp column); formats are tried in the order given."""
    if value is None:
        return {}
    stamps = [c.name for c in table.columns if c.kind == "timestamp"]
    out: dict[str, list[str]] = {}
    if isinstance(value, Mapping):
        items = [(str(k), [v] if isinstance(v, str) else list(v)) for k, v in value.items()]
    else:
        items = []
        for item in [value] if isinstance(value, str) else list(value):
            column, sep, fmt = item.partition("=")
            key = column.strip()
            named = sep and (key in stamps or key in table.column_names)
            items.append((key, [fmt]) if named else (EVERY_COLUMN, [item]))
    for column, formats in items:
        if column != EVERY_COLUMN and column not in stamps:
            msg = (f"--date-format names {column!r}, which is not a timestamp column of {table.name} "
                   f"({', '.join(stamps) or 'it has none'}).")
            raise InputError(msg)
        for fmt in formats:
            fmt = fmt.strip()
            if not fmt:
                raise InputError("--date-format needs a format, e.g. --date-format '%d/%m/%Y %H:%M'.")
            out.setdefault(column, []).append(fmt.lower() if fmt.lower() in KEYWORDS else fmt)
    return {k: tuple(v) for k, v in out.items()}


def check_timezone(zone: str) -> str:
    """An IANA zone name, or a clear error."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"--timezone {zone!r} is not a time zone; use an IANA name such as Europe/Berlin or America/New_York."
        raise InputError(msg) from None
    return zone


def check_null_values(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--na`` values: the words that mean an empty cell, trimmed (a value that is only blanks is refused)."""
    out: list[str] = []
    for value in values or ():
        word = value.strip()
        if not word:
            raise InputError("--na needs a word, e.g. --na NULL or --na 'N/A' (empty cells are empty already).")
        if word not in out:
            out.append(word)
    return tuple(out)
