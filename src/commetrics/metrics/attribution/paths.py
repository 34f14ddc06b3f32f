"""Aggregated paths: the table every model reads (each distinct path once, column-wise) and its readers.

One row per distinct path (the sequence of touchpoint classes before a conversion, or before the
end of a journey that did not convert) with ``conversions``, ``value`` and ``nulls`` (journeys of
that path that did not convert), read from the format of the common attribution libraries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError

__all__ = ["PATH_SEPARATOR", "Paths", "read_path_file", "read_paths"]

PATH_SEPARATOR = " > "
_JOIN = "\x1f"  # joins touches inside the engine: a control character no class name contains


@dataclass(frozen=True, eq=False)
class Paths:
    """Aggregated journeys: each path once, with its conversions, value and non-converting count.

    ``codes`` holds the class index (into ``classes``, which is sorted) of every touch of every
    path, end to end; path ``i`` is ``codes[offsets[i]:offsets[i + 1]]``. Paths are never empty
    and keep the order of their rows. A path may appear on several rows: every model adds rows up,
    so that gives the same credit as one row with the summed counts (and merging would cost a
    grouping of every path for nothing).
    """

    classes: tuple[str, ...]
    codes: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray

    @classmethod
    def from_records(cls, records: Iterable[tuple[Sequence[str], float, float, float]]) -> Paths:
        """Build from ``(path, conversions, value, nulls)`` records."""
        rows = [(_JOIN.join(str(t) for t in path), float(c), float(v), float(n)) for path, c, v, n in records]
        path, c, v, n = ([r[i] for r in rows] for i in range(4))
        return cls.from_arrow(pa.array(path, pa.string()), pa.array(c, pa.float64()), pa.array(v, pa.float64()),
                              pa.array(n, pa.float64()), separator=_JOIN)

    @classmethod
    def from_arrow(cls, path: pa.Array | pa.ChunkedArray, conversions: Any, value: Any, nulls: Any, *,
                   separator: str = ">") -> Paths:
        """Build from Arrow columns: ``path`` strings of touches joined by ``separator`` (each touch
        trimmed; empty touches and empty paths dropped) and the three counts (missing read as 0).

        Runs in Arrow's and numpy's vectorised kernels: the touches are dictionary-encoded as they
        are, and only the distinct names are trimmed and sorted.
        """
        numbers = [np.asarray(pc.fill_null(pc.cast(x, pa.float64()), 0.0), dtype=float)
                   for x in (conversions, value, nulls)]
        text = pc.fill_null(pc.cast(path, pa.string()), "")
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        parts = pc.split_pattern(text, separator)
        encoded = pc.dictionary_encode(pc.list_flatten(parts))
        raw = [str(name).strip() for name in encoded.dictionary.to_pylist()]
        names = sorted(set(raw) - {""})
        number = {name: i for i, name in enumerate(names)}
        code_of_raw = np.array([number.get(name, -1) for name in raw], dtype=np.int32)
        codes = code_of_raw[np.asarray(encoded.indices)] if len(raw) else np.zeros(0, np.int32)
        keep = codes >= 0
        parent = np.asarray(pc.list_parent_indices(parts))[keep]
        del encoded, parts
        lengths = np.bincount(parent, minlength=len(text))
        del parent
        rows = lengths > 0
        negative = rows & ((numbers[0] < 0) | (numbers[1] < 0) | (numbers[2] < 0))
        if negative.any():
            first = int(np.flatnonzero(negative)[0])
            shown = PATH_SEPARATOR.join(t.strip() for t in str(text[first].as_py()).split(separator) if t.strip())
            raise InputError(f"Path {shown!r} has a negative count or value; conversions, value and nulls must "
                             f"be 0 or more ({int(negative.sum()):,} such row(s)). Fix them and run again.")
        paths = cls(classes=tuple(names), codes=codes if keep.all() else codes[keep],
                    offsets=np.concatenate([[0], np.cumsum(lengths[rows])]).astype(np.int64),
                    conversions=numbers[0][rows], value=numbers[1][rows], nulls=numbers[2][rows])
        pa.default_memory_pool().release_unused()  # hand the Arrow buffers of the parse back
        return paths

    def with_counts(self, conversions: np.ndarray, value: np.ndarray, nulls: np.ndarray) -> Paths:
        """The same paths with other counts (a bootstrap replicate)."""
        return Paths(self.classes, self.codes, self.offsets, conversions, value, nulls)

    def subset(self, keep: np.ndarray) -> Paths:
        """Only the paths where ``keep`` is true (classes unchanged)."""
        lengths = np.diff(self.offsets)[keep]
        touch_keep = np.repeat(keep, np.diff(self.offsets))
        return Paths(self.classes, self.codes[touch_keep], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                     self.conversions[keep], self.value[keep], self.nulls[keep])

    @cached_property
    def converting(self) -> Paths:
        """The paths with conversions or value (the only ones that receive credit)."""
        keep = (self.conversions != 0) | (self.value != 0)
        return self if keep.all() else self.subset(keep)

    @cached_property
    def observed(self) -> Paths:
        """The paths seen at least once (converting or not): the ones that shape a Markov chain."""
        keep = (self.conversions + self.nulls) > 0
        return self if keep.all() else self.subset(keep)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """The paths as tuples of class names (for small tables: it builds Python objects)."""
        names = np.asarray(self.classes, dtype=object)[self.codes]
        return tuple(tuple(names[a:b]) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True))

    @cached_property
    def path_of_touch(self) -> np.ndarray:
        return np.repeat(np.arange(len(self), dtype=self._index_type), np.diff(self.offsets))

    @property
    def _index_type(self) -> type[np.signedinteger[Any]]:
        return np.int32 if len(self.codes) < 2**31 - 1 else np.int64

    @cached_property
    def position(self) -> np.ndarray:
        """Each touch's 0-based position in its path."""
        starts = self.offsets[:-1].astype(self._index_type)
        position: np.ndarray = np.arange(len(self.codes), dtype=self._index_type) - starts[self.path_of_touch]
        return position

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())


def read_paths(frame: pd.DataFrame | pa.Table) -> Paths:
    """Paths from a table with ``path`` (touches joined by " > "), ``total_conversions``,
    ``total_conversion_value`` and ``total_null`` (the format of the common attribution libraries).
    """
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    missing = [c for c in ("path", "total_conversions") if c not in table.column_names]
    if missing:
        raise InputError(f"The path table needs the column(s) {', '.join(missing)}; columns found: "
                         f"{', '.join(map(str, table.column_names))}. Expected: path, total_conversions, "
                         "total_conversion_value, total_null.")
    zeros = pa.nulls(table.num_rows, pa.float64())
    columns = {}
    for name in ("total_conversions", "total_conversion_value", "total_null"):
        column = table[name] if name in table.column_names else zeros
        try:
            columns[name] = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InputError(f"The path table's column {name} must hold numbers: {error}. Fix the file and "
                             "run the command again.") from error
    return Paths.from_arrow(table["path"], columns["total_conversions"], columns["total_conversion_value"],
                            columns["total_null"], separator=">")


def read_path_file(path: str | Any) -> Paths:
    """Paths from a CSV path file, comma or semicolon separated (told apart by the header line)."""
    from pathlib import Path

    import pyarrow.csv as pacsv

    file = Path(path)
    if not file.exists():
        raise InputError(f"Path file not found: {file}. Check the path and run the command again.")
    with file.open(encoding="utf-8", errors="replace") as handle:
        head = handle.readline()
    delimiter = ";" if head.count(";") > head.count(",") else ","
    try:
        table = pacsv.read_csv(file, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                               convert_options=pacsv.ConvertOptions(column_types={"path": pa.string()}))
    except pa.ArrowInvalid as error:
        raise InputError(f"Could not read the path file {file}: {error}. Expected a header line "
                         "path, total_conversions, total_conversion_value, total_null.") from error
    return read_paths(table)
