"""What the platform connectors share: reading an export (file, folder or .zip), times, writing and loading.

Each connector parses its platform's records into canonical rows itself (so it does not depend on
the options of the CSV loader), writes one Parquet file per canonical table with canonical column
names and UTC instants, and loads them through the :class:`~commetrics.ingest.loader.Loader` in one
batch: every check, quarantine rule and deduplication of a load applies, and loading the same
export again adds nothing. What it leaves out on purpose it counts by reason (:class:`Converted`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..errors import InputError, UnreadableFileError
from ..ingest.loader import Loader
from ..ingest.numbers import amount
from . import DumpReport

__all__ = ["Converted", "ExportFiles", "LocalClock", "email_or_none", "epoch_instant", "file_schema", "instant",
           "load_converted", "mapping", "money", "naive_instant", "read_csv", "text", "timezone", "truthy",
           "write_rows"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- reading an export ----------------------------------------------------------------------------


class ExportFiles:
    """The files of an export given as one file, a folder or a ``.zip`` archive, by relative POSIX name.

    Archives are read in place (never extracted to disk unless :meth:`local_folder` is asked for);
    ``__MACOSX/`` entries and dot files are ignored. When every name shares one top folder (a zip of
    a folder), that folder is dropped from the names.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if not self.path.exists():
            msg = f"Cannot read the {what} {self.path}: no such file or folder. Check the path."
            raise UnreadableFileError(msg)
        if self.path.is_dir():
            names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file())
        elif zipfile.is_zipfile(self.path):
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                msg = f"Cannot read the {what} {self.path}: {exc}. Download the export again."
                raise UnreadableFileError(msg) from exc
            names = sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
        else:
            names = [self.path.name]
        names = [n for n in names if not n.startswith("__MACOSX/") and not PurePosixPath(n).name.startswith(".")]
        tops = {n.split("/", 1)[0] for n in names}
        if self._zip is not None and len(tops) == 1 and all("/" in n for n in names):
            self._prefix = f"{tops.pop()}/"
        self.names = [n[len(self._prefix):] for n in names]

    def open(self, name: str) -> io.BufferedIOBase | Any:
        """The file ``name`` as a binary stream."""
        if self._zip is not None:
            return self._zip.open(self._prefix + name)
        if self.path.is_dir():
            return (self.path / name).open("rb")
        return self.path.open("rb")

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as stream:
            data: bytes = stream.read()
        return data

    def read_json(self, name: str) -> Any:
        """A JSON file; a clear error naming the file when it is not JSON."""
        try:
            return json.loads(self.read_bytes(name).decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            msg = (f"Cannot read {name} in the {self.what} {self.path}: it is not JSON ({exc}). Nothing was loaded; "
                   "export it again or remove the file.")
            raise UnreadableFileError(msg) from exc

    def local_folder(self, suffix: str = ".json") -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
        """A folder on disk holding the export (a zip's ``suffix`` files are extracted into a temporary one).

        Returns the folder and the temporary directory to clean up (``None`` when nothing was extracted).
        """
        if self._zip is None:
            return (self.path if self.path.is_dir() else self.path.parent), None
        scratch = tempfile.TemporaryDirectory(prefix="commetrics-export-")
        root = Path(scratch.name)
        for name in self.names:
            parts = PurePosixPath(name).parts
            if not name.endswith(suffix) or any(p in ("..", "") for p in parts) or PurePosixPath(name).is_absolute():
                continue  # never write outside the scratch folder
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._zip.open(self._prefix + name) as src, target.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        return root, scratch

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def read_csv(data: bytes, name: str) -> list[list[str]]:
    """The rows of a CSV file as lists of text: UTF-8 with or without a BOM, any line ends.

    A file that is not UTF-8 is read as UTF-16 when it starts with a UTF-16 BOM (spreadsheet
    exports), else refused with what to do.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        content = data.decode("utf-16")
    else:
        try:
            content = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            msg = f"Cannot read {name}: it is not UTF-8 text ({exc}). Save or export it again as UTF-8 CSV."
            raise UnreadableFileError(msg) from exc
    sample = content[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    return list(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter))


# -- values --------------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A value as trimmed text; ``None`` for missing or empty (numbers become their plain text)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    out = str(value).strip()
    return out or None


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (fields that may be missing or null)."""
    return value if isinstance(value, dict) else {}


def email_or_none(value: Any) -> str | None:
    """An e-mail address, or ``None`` when the value is missing or not an address (masked exports)."""
    out = text(value)
    return out if out is not None and _EMAIL.match(out) else None


def truthy(value: Any) -> bool | None:
    """``1/true/yes/y/t`` -> True, ``0/false/no/n/f`` -> False, anything else -> None."""
    if isinstance(value, bool):
        return value
    out = (text(value) or "").lower()
    if out in ("1", "true", "yes", "y", "t"):
        return True
    if out in ("0", "false", "no", "n", "f"):
        return False
    return None


def money(value: Any) -> Decimal | None:
    """An amount (``"1500.00"``, ``1500``, ``"1,500.00"``, ``"1.500,00"``, ``"$12"``; see
    :func:`commetrics.ingest.numbers.amount`); ``None`` when missing or not a number."""
    return amount(text(value))


def timezone(name: str | None) -> tzinfo | None:
    """The IANA zone ``name`` (``None`` stays ``None``); a clear error for an unknown name."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"Unknown time zone {name!r}. Use an IANA name such as 'America/New_York' or 'Asia/Tokyo'."
        raise InputError(msg) from None


def instant(value: Any, zone: tzinfo | None = UTC) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime: offsets ``Z``, ``+00:00`` and ``+0000``, 1 to 9
    fractional digits; a time without an offset is in ``zone``. ``None`` when unreadable (or naive
    with no zone)."""
    out = text(value)
    if out is None:
        return None
    out = re.sub(r"(\.\d{6})\d+", r"\1", out)  # fromisoformat keeps microseconds at most
    try:
        parsed = datetime.fromisoformat(out)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if zone is None:
            return None
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def naive_instant(value: Any, formats: Sequence[str], zone: tzinfo) -> datetime | None:
    """A local time written in one of ``formats`` (``strptime``), in ``zone``, as UTC; ISO 8601 too."""
    out = text(value)
    if out is None:
        return None
    for fmt in formats:
        try:
            return datetime.strptime(out, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    return instant(out, zone)


def epoch_instant(value: Any) -> datetime | None:
    """Seconds (``"1452837318"``, ``"1453305600.000002"``) or milliseconds since the epoch, as UTC.

    Decimal seconds are read exactly (no float rounding): the microseconds of a Slack ``ts`` survive.
    """
    out = text(value)
    if out is None:
        return None
    try:
        seconds = Decimal(out)
    except InvalidOperation:
        return None
    if not seconds.is_finite():
        return None
    if seconds > 100_000_000_000:  # milliseconds
        seconds /= 1000
    micros = int(seconds * 1_000_000)
    try:
        return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
    except (OverflowError, OSError, ValueError):
        return None


# -- writing and loading -------------------------------------------------------------------------


def file_schema(table: str, columns: Sequence[str] | None = None,
                extra: Sequence[tuple[str, pa.DataType]] = (), text: Sequence[str] = ()) -> pa.Schema:
    """The Arrow schema of a canonical file for ``table`` (see :func:`commetrics.schema.arrow_file_schema`)."""
    return schema.arrow_file_schema(schema.TABLES[table], columns, extra, text)


def write_rows(path: Path, file_schema_: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts by column name; missing keys are null) as one Parquet file."""
    columns = {name: [row.get(name) for row in rows] for name in file_schema_.names}
    for name in file_schema_.names:
        if pa.types.is_floating(file_schema_.field(name).type):
            columns[name] = [None if v is None else float(v) for v in columns[name]]
    pq.write_table(pa.Table.from_pydict(columns, schema=file_schema_), path)
    return path


@dataclass
class Converted:
    """What a connector wrote and what it left out.

    ``tables`` is canonical table -> Parquet file, in load order; ``excluded`` counts, per table and
    reason (see :data:`commetrics.sources.EXCLUSION_HELP`), the records read and left out on purpose;
    ``counts`` holds what else the connector noticed (records per kind, unlisted reactions, ...).
    """

    directory: Path
    tables: dict[str, Path] = field(default_factory=dict)
    excluded: dict[str, Counter[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def exclude(self, table: str, reason: str, n: int = 1) -> None:
        self.excluded.setdefault(table, Counter())[reason] += n

    def write(self, table: str, rows: Sequence[Mapping[str, Any]], file_schema_: pa.Schema | None = None,
              name: str | None = None) -> Path:
        """Write the rows of ``table`` (all of a table's rows go in one file) and remember the file."""
        path = self.directory / (name or f"{table}.parquet")
        write_rows(path, file_schema_ or file_schema(table), rows)
        self.tables[table] = path
        self.excluded.setdefault(table, Counter())
        return path


def load_converted(loader: Loader, converted: Converted, source: str, now: datetime | None,
                   label: str = "") -> DumpReport:
    """Load every file of ``converted`` through ``loader`` in one batch (identities resolved once).

    With a ``label`` (the export's file name, or ``<kind> API``), each file is named ``<label>.<table>.parquet``
    first, so the load ledger and ``commetrics status`` say which export a load came from.
    """
    if label:
        safe = re.sub(r"[^\w.@+-]+", "_", label).strip("._") or "export"
        for table, path in list(converted.tables.items()):
            converted.tables[table] = path.rename(path.with_name(f"{safe}.{table}.parquet"))
    with loader.batch():
        reports = [loader.load(table, path, source=source, now=now) for table, path in converted.tables.items()]
    return DumpReport(reports, excluded={t: dict(c) for t, c in converted.excluded.items()},
                      counts=dict(converted.counts), notes=converted.notes)


def scratch_folder(kind: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for a connector's canonical files."""
    return tempfile.TemporaryDirectory(prefix=f"commetrics-{kind}-")


class LocalClock:
    """Reads an export's times: those with an offset as they are, naive ones in the ``--timezone`` zone.

    A naive time without a zone is an error that says to pass ``--timezone`` (guessing UTC would shift
    every event by the exporting user's offset); ISO 8601 and ``formats`` (``strptime``) are read.
    """

    def __init__(self, zone: str | None, what: str, formats: Sequence[str] = ()) -> None:
        self.zone = timezone(zone)
        self.what = what
        self.formats = tuple(formats)

    def __call__(self, value: Any) -> datetime | None:
        out = text(value)
        if out is None:
            return None
        if out.isdigit() and len(out) >= 10:  # epoch seconds or milliseconds (older API versions)
            return epoch_instant(out)
        aware = instant(out, None)
        if aware is not None:
            return aware
        if self.zone is None:
            if instant(out, UTC) is None and naive_instant(out, self.formats, UTC) is None:
                return None  # unreadable: the load quarantines the row
            msg = (f"{self.what} write local times without a zone (e.g. {out!r}). Pass the zone of the exporting "
                   f"user with --timezone, e.g. --timezone America/New_York.")
            raise InputError(msg)
        return naive_instant(out, self.formats, self.zone)
