"""The line in the file of a record the reader numbered: blank lines and values spanning lines counted.

DuckDB's CSV reader numbers what it rejects by *logical* line: it counts the line ends outside
quoted values, blank lines included. The records it keeps carry no number at all; the loader knows
a kept record's position among the kept records. Neither is the line a person finds in an editor
when blank lines or quoted values spanning several lines come before the record. The
:class:`CsvLayout` of a file holds the two things that make the difference — its blank lines and its
records that span several lines — and turns positions and logical lines into physical lines.

It is worked out only when a load has something to quarantine, by one pass over the file: byte
counts for a file without quotes (blank lines are all there is), else Python's C ``csv`` reader,
which splits records as DuckDB does (a quote is special only at the start of a value, ``""`` inside
quotes is one quote). The pass stops as soon as it has passed the last line anyone asked about.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from typing import IO

import numpy as np

from .prepare import CHUNK, Prepared


@dataclass(frozen=True)
class CsvLayout:
    """Blank lines and multi-line records of a CSV file, in DuckDB's logical line numbers."""

    header_lines: int
    blank: np.ndarray  # logical lines of blank lines after the header (sorted)
    multi_start: np.ndarray  # logical line where each record spanning several lines starts (sorted)
    multi_extra: np.ndarray  # how many lines beyond the first each of them takes

    def physical(self, logical: np.ndarray) -> np.ndarray:
        """The physical lines of the given logical lines (record starts or blank lines)."""
        logical = np.asarray(logical, dtype=np.int64)
        if not len(self.multi_start):
            return logical
        before = np.searchsorted(self.multi_start, logical, side="left")
        extra = np.concatenate([[0], np.cumsum(self.multi_extra)])
        return np.asarray(logical + extra[before], dtype=np.int64)

    def logical_of_positions(self, positions: np.ndarray, rejected: np.ndarray) -> np.ndarray:
        """The logical line of the k-th record the reader kept, for each k in ``positions`` (1-based).

        The k-th kept record sits at logical line ``L = header + k + #{s in S: s < L}``, S being
        the rejected records' and the blank lines' logical lines: s_i (1-based i, sorted) lies
        before it exactly when ``s_i - i - header < k``.
        """
        skipped = np.unique(np.concatenate([np.asarray(rejected, dtype=np.int64), self.blank]))
        threshold = skipped - np.arange(1, len(skipped) + 1) - self.header_lines
        positions = np.asarray(positions, dtype=np.int64)
        return self.header_lines + positions + np.searchsorted(threshold, positions, side="left")

    def lines_of_positions(self, positions: np.ndarray, rejected: np.ndarray) -> np.ndarray:
        return self.physical(self.logical_of_positions(positions, rejected))


def plain_layout(header_lines: int) -> CsvLayout:
    """The layout of a file without blank lines or multi-line records (the old formula)."""
    empty = np.zeros(0, dtype=np.int64)
    return CsvLayout(header_lines, empty, empty, empty)


def _csv_text(stream: IO[bytes]) -> codecs.StreamReader:
    """The bytes as Latin-1 text: one character per byte, so line ends, quotes and delimiters stay where they
    are, whatever the file's (ASCII-compatible) encoding."""
    return codecs.getreader("latin-1")(stream)


def _byte_layout(prepared: Prepared, header_lines: int, stop: int) -> CsvLayout | None:
    """Blank lines by counting bytes; None when the file has a quote or a CR outside a CRLF (the csv pass is
    needed then)."""
    stream = prepared.open_binary()
    if stream is None:
        return None
    blank: list[np.ndarray] = []
    with stream as f:
        done = 0  # lines ended in earlier chunks
        run = 0  # bytes of the current line read in earlier chunks
        while chunk := f.read(CHUNK):
            if b'"' in chunk or chunk.count(b"\r") != chunk.count(b"\r\n"):
                return None
            data = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            if not len(ends):
                run += len(data)
                continue
            length = ends - np.concatenate([[0], ends[:-1] + 1])
            total = length.copy()
            total[0] += run
            # a CR here is always the first half of a CRLF in the same chunk (checked above)
            empty = (total == 0) | ((total == 1) & (length == 1) & (data[np.maximum(ends - 1, 0)] == 13))
            numbers = done + np.arange(1, len(ends) + 1, dtype=np.int64)
            blank.append(numbers[empty & (numbers > header_lines)])
            done += len(ends)
            run = len(data) - int(ends[-1]) - 1
            if done > stop:
                break
    empty64 = np.zeros(0, dtype=np.int64)
    found = np.concatenate(blank).astype(np.int64) if blank else empty64
    return CsvLayout(header_lines, found, empty64, empty64)


def _csv_layout(prepared: Prepared, delimiter: str, header_lines: int, stop: int) -> CsvLayout | None:
    stream = prepared.open_binary()
    if stream is None:
        return None
    blank: list[int] = []
    starts: list[int] = []
    extras: list[int] = []
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        with stream as f:
            lines = _LineCounter(_csv_text(f))
            for _ in range(header_lines - 1):  # the preamble: comment lines, read as plain lines
                lines.skip_line()
            reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
            next(reader, None)  # the header
            extra_so_far = 0
            previous = lines.count
            for row in reader:
                now = lines.count
                logical = previous + 1 - extra_so_far
                if not row:
                    blank.append(logical)
                elif now - previous > 1:
                    starts.append(logical)
                    extras.append(now - previous - 1)
                    extra_so_far += now - previous - 1
                previous = now
                if logical > stop:
                    break
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)
    return CsvLayout(header_lines, np.array(blank, dtype=np.int64), np.array(starts, dtype=np.int64),
                     np.array(extras, dtype=np.int64))


class _LineCounter:
    """Lines of a text stream split at LF, CRLF and lone CR (each with its end), counted as they go."""

    def __init__(self, text: codecs.StreamReader) -> None:
        self._text = text
        self._pending = ""
        self._eof = False
        self.count = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        while True:
            ends = [i for i in (self._pending.find("\n"), self._pending.find("\r")) if i >= 0]
            if ends:
                at = min(ends)
                if not (self._pending[at] == "\r" and at + 1 == len(self._pending) and not self._eof):
                    after = at + 2 if self._pending.startswith("\r\n", at) else at + 1
                    line, self._pending = self._pending[:after], self._pending[after:]
                    self.count += 1
                    return line
            if self._eof:
                if self._pending:
                    line, self._pending = self._pending, ""
                    self.count += 1
                    return line
                raise StopIteration
            chunk = self._text.read(CHUNK)
            if chunk:
                self._pending += chunk
            else:
                self._eof = True

    def skip_line(self) -> None:
        next(self, None)


def csv_layout(prepared: Prepared, delimiter: str, header_lines: int, stop: int) -> CsvLayout | None:
    """The layout of ``prepared`` up to logical line ``stop`` (None when it cannot be worked out: zstd)."""
    layout = _byte_layout(prepared, header_lines, stop)
    if layout is None:
        layout = _csv_layout(prepared, delimiter, header_lines, stop)
    return layout


def read_lines(prepared: Prepared, spans: dict[int, int]) -> dict[int, str]:
    """The text of the physical lines ``start .. start + count - 1`` for each ``start: count`` given."""
    stream = prepared.open_binary()
    if stream is None or not spans:
        return {}
    wanted = {start + i: start for start, count in spans.items() for i in range(count)}
    last = max(wanted)
    found: dict[int, list[str]] = {start: [] for start in spans}
    with stream as f:
        lines = _LineCounter(_csv_text(f))
        for line in lines:
            start = wanted.get(lines.count)
            if start is not None:
                found[start].append(line)
            if lines.count >= last:
                break
    return {start: "".join(parts).encode("latin-1").decode(
        "utf-8" if prepared.encoding == "utf-8" else prepared.encoding, errors="replace").rstrip("\r\n")
        for start, parts in found.items()}
