"""Tell what a file holds from its first bytes: compression, format, encoding, line ends, dialect, header.

Exports arrive as they come: a gzip named ``.csv``, a CSV inside a ``.zip``, UTF-16 from Excel,
Latin-1 from an older CRM, a space-aligned report, a UTF-8 BOM, a template with ``#`` comment lines
above its header. Nothing here reads more than the first MiB of the (decompressed) file; the reader
then reads the whole file once with what was found.

* **Compression** by magic number (gzip, zstd, zip), not by name; a zip must hold one data file.
* **Format** by name (``.csv .tsv .txt .parquet .pq .jsonl .ndjson .json``), else by content:
  Parquet's ``PAR1``, a first ``{`` for JSON Lines, text otherwise.
* **Encoding**: ``--encoding`` wins. Else a byte-order mark (UTF-8, UTF-16), NUL bytes in every other
  position (UTF-16 without a mark), or UTF-8. A header that is not UTF-8, or a sample where at least
  two lines and one in ten are not UTF-8 and none holds a valid multi-byte character, is Latin-1
  (Windows-1252 when it uses that code page's printable characters). Otherwise the odd bad line
  stays UTF-8 and is quarantined as ``bad_encoding`` (whose help names ``--encoding``).
* **Line ends**: CRLF and LF mixed in one file are noted (the reader then gets a copy with LF only).
* **Dialect** (CSV): leading lines starting with ``#`` (and blank ones) are a preamble; the header is
  the next line. A first line ``sep=;`` (Excel's way of naming the delimiter) is part of the preamble
  and names the delimiter. Otherwise the delimiter is the one of ``, ; TAB |`` that splits the header into the most
  fields (TAB for ``.tsv``); a header none of them splits, whose words line up with the data lines'
  (more than half of the first 50), is space-aligned: fields are separated by runs of blanks.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..errors import UnreadableFileError

FileFormat = Literal["csv", "parquet", "jsonl"]
Compression = Literal["gzip", "zstd"]

HEAD_BYTES = 1 << 20
#: the delimiter value that means "runs of blanks" (a space-aligned file)
BLANKS = " "
DELIMITERS = (",", ";", "\t", "|")
#: encodings DuckDB's CSV reader decodes itself (others are transcoded to UTF-8 first)
NATIVE_ENCODINGS = ("utf-8", "latin-1")

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}
_COMPRESSION_SUFFIXES = (".gz", ".gzip", ".zst", ".zip")
#: documents that hold tables but are not files a load reads: saved as CSV, they are
_DOCUMENTS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers", ".pdf", ".docx", ".doc")
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
_MAGIC_ZIP = b"PK\x03\x04"
_MAGIC_PARQUET = b"PAR1"
#: the first line Excel writes (and reads) to name a CSV's delimiter: ``sep=;``
_SEP_LINE = re.compile(r"(?i)sep=([,;\t|])")


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a file say about it."""

    format: FileFormat
    compression: Compression | None = None
    zip_member: str | None = None  # the one data file inside a zip
    encoding: str = "utf-8"  # a Python codec name (normalised)
    encoding_detected: bool = True  # False when --encoding named it
    mixed_newlines: bool = False
    delimiter: str | None = None  # CSV only; BLANKS for a space-aligned file
    preamble: int = 0  # comment or blank lines above the header (CSV)
    header: str = ""  # the header line (CSV), without a byte-order mark

    @property
    def header_lines(self) -> int:
        """Lines before the first record: the preamble and the header (CSV), else none."""
        return self.preamble + 1 if self.format == "csv" else 0


def normal_encoding(name: str) -> str:
    """The codec's canonical name (``UTF8`` -> ``utf-8``, ``iso-8859-1`` -> ``latin-1``), or a clear error."""
    try:
        codec = codecs.lookup(name.strip())
    except LookupError:
        msg = (f"--encoding {name!r} is not an encoding Python knows. Use e.g. utf-8, utf-16, latin-1 "
               "or cp1252.")
        raise UnreadableFileError(msg) from None
    return {"utf-8": "utf-8", "iso8859-1": "latin-1", "latin-1": "latin-1", "utf-8-sig": "utf-8"}.get(
        codec.name, codec.name)


def _zip_member(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()
                     and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith(".")]
    except zipfile.BadZipFile as exc:
        msg = f"{path.name} looks like a zip archive but cannot be opened ({exc}). Check that it is complete."
        raise UnreadableFileError(msg) from None
    if len(names) != 1:
        listing = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "no files"
        msg = (f"{path.name} is a zip archive holding {len(names)} files ({listing}); a load reads one file. "
               "Unzip it and load the file(s) you mean, one table at a time.")
        raise UnreadableFileError(msg)
    return names[0]


def _head(path: Path, compression: Compression | None, member: str | None) -> bytes | None:
    """The first HEAD_BYTES of the decompressed content (None for zstd, which the standard library lacks)."""
    if member is not None:
        with zipfile.ZipFile(path) as archive, archive.open(member) as f:
            data = f.read(HEAD_BYTES)
            member_magic = data[:4]
        if member_magic.startswith(_MAGIC_GZIP):
            msg = f"{path.name} holds a compressed file ({member}). Unzip it, then load what it holds."
            raise UnreadableFileError(msg)
        return data
    if compression == "gzip":
        try:
            with gzip.open(path, "rb") as f:
                return f.read(HEAD_BYTES)
        except (OSError, EOFError) as exc:
            msg = f"{path.name} is gzip-compressed but cannot be decompressed ({exc}). Check that it is complete."
            raise UnreadableFileError(msg) from None
    if compression == "zstd":
        return None
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


def _format_by_name(path: Path, member: str | None) -> FileFormat | None:
    name = Path(member) if member is not None else path
    suffixes = [s.lower() for s in name.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def _utf16(head: bytes) -> str | None:
    """UTF-16 from a byte-order mark, or from NUL bytes in every other position of a text sample."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


def _valid_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(head: bytes) -> str:
    """UTF-16, UTF-8 or Latin-1 / Windows-1252 from a sample (see the module docstring)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    wide = _utf16(head)
    if wide is not None:
        return wide
    lines = head.split(b"\n")
    if len(head) == HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut inside a character
    if all(_valid_utf8(line) for line in lines):
        return "utf-8"
    header = next((line for line in lines if line.strip()), b"")
    multibyte = any(max(line, default=0) >= 0x80 and _valid_utf8(line) for line in lines)
    invalid = sum(not _valid_utf8(line) for line in lines)
    if _valid_utf8(header) and (multibyte or invalid < 2 or invalid * 10 < len(lines)):
        return "utf-8"
    # Windows-1252 prints 0x80-0x9F (€, curly quotes, ...) where Latin-1 has control codes; five of
    # those bytes are unassigned in it, and a file using them can only be Latin-1.
    high = {b for b in head if 0x80 <= b <= 0x9F}
    return "cp1252" if high and not high & {0x81, 0x8D, 0x8F, 0x90, 0x9D} else "latin-1"


def _mixed_newlines(head: bytes) -> bool:
    crlf = head.count(b"\r\n")
    lone_lf = head.count(b"\n") - crlf
    lone_cr = head.count(b"\r") - crlf
    return sum(1 for n in (crlf, lone_lf, lone_cr) if n) > 1


def _fields(line: str, delimiter: str) -> list[str]:
    if delimiter == BLANKS:
        return line.split()
    return next(csv.reader([line], delimiter=delimiter), [])


def _dialect(path: Path, lines: list[str], skip: int = 0) -> tuple[str, int, str]:
    """The delimiter, the preamble's length and the header line of a CSV sample (``skip``: lines that
    are preamble whatever they hold)."""
    preamble = skip
    while preamble < len(lines) and (not lines[preamble].strip() or lines[preamble].lstrip().startswith("#")):
        preamble += 1
    if preamble >= len(lines):
        msg = f"{path.name} has no header line. Add one with the column names, then load it again."
        raise UnreadableFileError(msg)
    header = lines[preamble]
    said = _SEP_LINE.fullmatch(header.strip(" \r\n"))
    if said is not None and preamble + 1 < len(lines):  # Excel's "sep=;" line names the delimiter
        return said.group(1), preamble + 1, lines[preamble + 1]
    if any(s.lower() == ".tsv" for s in path.suffixes):
        return "\t", preamble, header
    counts = {d: len(_fields(header, d)) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equals: ',' before ';' ...
    if counts[best] > 1:
        return best, preamble, header
    words = len(header.split())
    data = [line for line in lines[preamble + 1:preamble + 51] if line.strip()]
    if words > 1 and data and sum(len(line.split()) == words for line in data) * 2 > len(data):
        return BLANKS, preamble, header
    return ",", preamble, header


def sniff(path: Path, *, encoding: str | None = None, skip: int = 0) -> Sniffed:
    """What ``path`` holds; raises :class:`UnreadableFileError` for files that cannot be read at all.

    ``skip``: lines above the header that are not comments (a report's title), for a CSV."""
    if not path.exists():
        msg = f"File not found: {path}. Check the path and run the command again."
        raise UnreadableFileError(msg)
    if not path.is_file():
        msg = f"{path} is not a file. Pass a CSV, Parquet or JSON Lines file."
        raise UnreadableFileError(msg)
    if path.stat().st_size == 0:
        msg = f"{path} is empty: it has no header and no rows. Nothing from it was loaded."
        raise UnreadableFileError(msg)
    if path.suffix.lower() in _DOCUMENTS:
        msg = (f"Cannot tell the format of {path.name}: it is a {path.suffix[1:].upper()} document, not a data file. "
               "Save or export it as CSV (UTF-8) and load that.")
        raise UnreadableFileError(msg)
    with path.open("rb") as f:
        magic = f.read(4)
    compression: Compression | None = None
    member = None
    if magic.startswith(_MAGIC_ZIP):
        member = _zip_member(path)
    elif magic.startswith(_MAGIC_GZIP):
        compression = "gzip"
    elif magic.startswith(_MAGIC_ZSTD):
        compression = "zstd"
    head = _head(path, compression, member)
    named = _format_by_name(path, member)
    if head is not None and head.startswith(_MAGIC_PARQUET):
        if compression is not None or member is not None:
            msg = f"{path.name} is a compressed Parquet file; decompress it first (Parquet compresses itself)."
            raise UnreadableFileError(msg)
        return Sniffed(format="parquet")
    if named == "parquet":
        msg = f"{path.name} is named as Parquet but does not start like a Parquet file. Check the file."
        raise UnreadableFileError(msg)
    given = encoding is not None
    chosen = normal_encoding(encoding) if encoding is not None else (
        detect_encoding(head) if head is not None else "utf-8")
    if head is None:  # zstd: the reader finds the header itself
        return Sniffed(format=named or "csv", compression=compression, encoding=chosen, encoding_detected=not given)
    text = _decode(head, chosen)
    if named is None and "\x00" in text:
        msg = (f"Cannot tell the format of {path.name}: it is not text. Use a CSV, Parquet or JSON Lines file "
               "(optionally gzip-compressed or zipped).")
        raise UnreadableFileError(msg)
    if named is None:
        named = "jsonl" if text.lstrip().startswith("{") else "csv"
    if named == "jsonl" and _json_array(text):
        msg = (f"{path.name} is one JSON document (an array), not JSON Lines (one object per line). Write one "
               "record per line, e.g. with jq -c '.[]', then load it again.")
        raise UnreadableFileError(msg)
    mixed = _mixed_newlines(head if not chosen.startswith("utf-16") else text.encode("utf-8"))
    base = Sniffed(format=named, compression=compression, zip_member=member, encoding=chosen,
                   encoding_detected=not given, mixed_newlines=mixed)
    if named != "csv":
        return base
    lines = text.splitlines()
    if len(head) == HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]
    return with_dialect(path, base, lines, skip)


def with_dialect(path: Path, sniffed: Sniffed, lines: list[str], skip: int = 0) -> Sniffed:
    """``sniffed`` completed with the CSV dialect found in its first ``lines`` (``skip``: see :func:`sniff`)."""
    delimiter, preamble, header = _dialect(path, lines, skip)
    return replace(sniffed, delimiter=delimiter, preamble=preamble, header=header)


def _json_array(text: str) -> bool:
    """Whether the sample is one JSON array document rather than JSON Lines: its first line opens an array
    that the line alone does not close, or is an array and the only line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].lstrip().startswith("["):
        return False
    try:
        json.loads(lines[0])
    except ValueError:
        return True
    return len(lines) == 1


def _decode(head: bytes, encoding: str) -> str:
    """The sample as text (a character cut at the end of the sample is dropped), without a byte-order mark."""
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)(errors="replace")
    text = decoder.decode(head, final=False)
    return text.lstrip("\ufeff")
