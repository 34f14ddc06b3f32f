"""Make a copy the reader can read, only when the file as it came cannot be read as it is.

DuckDB reads UTF-8 and Latin-1, plain or gzip- or zstd-compressed, with one kind of line end. A
file outside that — a member of a zip, UTF-16 or another code page, CRLF and LF mixed — is copied
once, streaming, into a temporary UTF-8 (or Latin-1) file with LF line ends. Every copy keeps the
file's lines one for one (a CRLF or a lone CR becomes one LF), so line numbers stay those of the
original. The same streaming copy blanks the lines of a quote that never closes (see
:func:`blank_lines`), which the loader quarantines itself before the reader reads on.
"""

from __future__ import annotations

import codecs
import gzip
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, cast

from ..errors import UnreadableFileError
from .sniff import NATIVE_ENCODINGS, Compression, Sniffed

CHUNK = 1 << 22


@dataclass(frozen=True)
class Prepared:
    """The file the reader reads: its path, compression and (DuckDB) encoding."""

    path: Path
    compression: Compression | None
    encoding: str  # utf-8 or latin-1
    original: Path  # the file the user named
    copied: bool = False  # whether ``path`` is a copy made here

    def open_binary(self) -> IO[bytes] | None:
        """The decompressed bytes, or None when Python cannot decompress them (zstd)."""
        if self.compression == "gzip":
            return cast(IO[bytes], gzip.open(self.path, "rb"))
        if self.compression == "zstd":
            return None
        return self.path.open("rb")


def _source_bytes(path: Path, sniffed: Sniffed) -> IO[bytes]:
    if sniffed.zip_member is not None:
        return zipfile.ZipFile(path).open(sniffed.zip_member)
    if sniffed.compression == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _lf_only(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The bytes with every CRLF and lone CR turned into LF (a CR at a chunk's end waits for the next)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        carry = b"\r" if data.endswith(b"\r") else b""
        if carry:
            data = data[:-1]
        yield data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if carry:
        yield b"\n"


def _transcoded(chunks: Iterator[bytes], encoding: str, name: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = 0
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            yield (text.removeprefix("\ufeff") if done == 0 else text).encode("utf-8")
            done += len(chunk)
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as exc:
        msg = (f"{name} is not valid {encoding} (byte {done + exc.start:,}). Name the file's encoding with "
               "--encoding (e.g. utf-8, utf-16, latin-1, cp1252), or re-export it as UTF-8.")
        raise UnreadableFileError(msg) from None


def prepare(path: Path, sniffed: Sniffed, workdir: Path, *, lf_only: bool = False) -> Prepared:
    """The file to read: ``path`` itself, or a copy in ``workdir`` (see the module docstring).

    ``lf_only`` forces LF line ends (the reader failed on mixed ones the sample did not show)."""
    transcode = sniffed.encoding not in NATIVE_ENCODINGS
    newlines = sniffed.mixed_newlines or lf_only
    if not (transcode or newlines or sniffed.zip_member is not None):
        return Prepared(path, sniffed.compression, sniffed.encoding, path)
    if sniffed.compression == "zstd":
        msg = (f"{path.name} is zstd-compressed and needs converting ({'its encoding' if transcode else 'line ends'})"
               " before it can be read. Decompress it (zstd -d) and load the plain file.")
        raise UnreadableFileError(msg)
    name = Path(sniffed.zip_member).name if sniffed.zip_member else path.name.removesuffix(".gz")
    target = workdir / f"prepared-{name}"
    with _source_bytes(path, sniffed) as source, target.open("wb") as out:
        if not (transcode or newlines):  # a zip member as it is
            shutil.copyfileobj(source, out, CHUNK)
        else:
            chunks: Iterator[bytes] = _chunks(source)
            if transcode:
                chunks = _transcoded(chunks, sniffed.encoding, path.name)
            if newlines:
                chunks = _lf_only(chunks)
            for chunk in chunks:
                out.write(chunk)
    return Prepared(target, None, "utf-8" if transcode else sniffed.encoding, path, copied=True)


def blank_lines(prepared: Prepared, lines: set[int], workdir: Path) -> Prepared:
    """A copy of ``prepared`` with the given (1-based, physical) lines made empty, their line ends kept.

    Lines end at LF, CRLF or a lone CR, as in the line map (:mod:`commetrics.ingest.lines`)."""
    stream = prepared.open_binary()
    if stream is None:
        msg = f"{prepared.original.name}: cannot repair a zstd-compressed file; decompress it and load it again."
        raise UnreadableFileError(msg)
    target = workdir / f"repaired-{len(list(workdir.iterdir()))}-{prepared.original.name.removesuffix('.gz')}"
    last = max(lines)
    number = 0  # lines written so far
    with stream as source, target.open("wb") as out:
        pending = b""
        for chunk in _chunks(source):
            data, start = pending + chunk, 0
            while number < last:
                ends = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
                if not ends or (data[min(ends)] == 13 and min(ends) + 1 == len(data)):
                    break  # no whole line left, or a CR that may be the first half of a CRLF
                end_at = min(ends)
                after = end_at + 2 if data[end_at:end_at + 2] == b"\r\n" else end_at + 1
                number += 1
                out.write(data[end_at:after] if number in lines else data[start:after])
                start = after
            pending = data[start:]
            if number >= last:
                break
        out.write(pending)
        shutil.copyfileobj(source, out, CHUNK)
    return replace(prepared, path=target, compression=None, copied=True)
