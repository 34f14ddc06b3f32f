"""The results cache: published Results kept on disk, keyed by what they answer and the data they read.

A Result is found again when the same analysis is asked with the same parameters — canonicalised: the
spec with its defaults filled in from the config and its as-of resolved — under the same settings and
the same **data version**. The data version (:class:`DataVersion`) is a counter and a random token in the
store's ``data_version`` table that every write of the Engine able to change a figure moves on (loads,
``--replace`` corrections, erasures, identity runs and overrides, accepted types, score snapshots, a
restore), together with the load ledger's latest load and the erasures and identity runs counted: a
write that committed but died before moving the counter on still changes the version.

What is kept, and where: ``cache/`` in the workspace, one folder per data version holding one folder per
Result — ``result.json`` (parameters, publication, diagnostics, notes and the published values) and one
Parquet file per published table. Only *published* figures are kept (what the report and ``--json`` show,
consent and small cells applied), never the exact ones, and nothing is unpickled: the cache holds no
more than the workspace's own outputs. A Result read back has an empty ``exact``.

Invalidation is by version: a write leaves the Results of the version before it in place (a reader of the
store's read copy, :mod:`.snapshot`, still reads that version while a load runs), and when the writing
Engine closes the folders of every other version are deleted. An erasure deletes the whole cache at once,
before it deletes anything from the store. A reader writes a Result only into the folder of its own version
when that folder exists (or the cache is empty), so a reader of an older copy never refills a cache a
writer has moved past.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from ..errors import StoreUnavailableError
from ..results import Diagnostic, Publication, Result, jsonable

if TYPE_CHECKING:
    import duckdb

    from ..config import Config

__all__ = ["CACHE_FOLDER", "DataVersion", "ResultCache", "Uncacheable", "cache_key", "code_digest", "data_version",
           "read_result", "settings_digest", "write_result"]

T = TypeVar("T")

CACHE_FOLDER = "cache"
_RESULT_FILE = "result.json"
#: settings that cannot change a figure: how to push to a CRM, wait for the store, run the engine, serve pages
_NOT_FIGURES = frozenset({"crm", "store", "engine", "dashboard"})


class Uncacheable(Exception):
    """A Result (or parameter) the cache cannot keep faithfully: it is computed every time instead."""


@dataclass(frozen=True)
class DataVersion:
    """The version of the data an Engine reads: ``version`` (a counter), ``key`` (what a cached Result is
    filed under), ``changed_at`` (the last write that could change a figure), ``loaded_at`` (when the last
    load finished) and ``snapshot`` (True: read from the store's read copy while another command writes)."""

    version: int
    key: str
    changed_at: datetime | None
    loaded_at: datetime | None
    snapshot: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "key": self.key, "changed_at": jsonable(self.changed_at),
                "loaded_at": jsonable(self.loaded_at), "snapshot": self.snapshot}

    def note(self) -> str:
        """One sentence for the reader when the data is the read copy ("" otherwise)."""
        if not self.snapshot:
            return ""
        when = f"{self.loaded_at:%Y-%m-%d %H:%M} UTC" if self.loaded_at else "the last completed write"
        return (f"Another command was changing the workspace: these figures are the data as of the last completed "
                f"load ({when}).")


def data_version(con: duckdb.DuckDBPyConnection, *, snapshot: bool = False) -> DataVersion:
    """The data version of the store on ``con`` (see the module docstring)."""
    version, token, changed_at = con.execute("select version, token, changed_at from data_version").fetchall()[0]
    last_load, loads, loaded_at = con.execute(
        "select coalesce(max(load_id), 0), count(*), max(finished_at) from load_ledger").fetchall()[0]
    erasures = con.execute("select count(*) from erasures").fetchall()[0][0]
    runs = con.execute("select count(*) from identity_runs").fetchall()[0][0]
    key = f"{int(version):08d}-{token[:16]}-{int(last_load)}-{int(loads)}-{int(erasures)}-{int(runs)}"
    return DataVersion(int(version), key, changed_at, loaded_at, snapshot)


def settings_digest(config: Config) -> str:
    """A digest of every setting that can change a figure (all of ``commetrics.toml`` but the CRM push,
    the store's waits, the engine's resources and how the dashboard reads)."""
    dumped = config.model_dump(mode="json", exclude=set(_NOT_FIGURES))
    return hashlib.sha256(json.dumps(dumped, sort_keys=True, default=str).encode()).hexdigest()


#: the libraries whose versions can change a figure (estimators, SQL, numerics)
_COMPUTING_LIBRARIES = ("duckdb", "ibis-framework", "numpy", "pandas", "scipy", "statsmodels", "lifelines",
                        "scikit-learn", "splink")


def code_digest(package: Path) -> str:
    """A digest of the Python source under ``package`` (names and contents) and of the versions of the
    libraries that compute: what a cached Result's figures depend on besides its data and settings."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for name in _COMPUTING_LIBRARIES:
        try:
            digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name}=absent\0".encode())
    return digest.hexdigest()[:20]


@functools.cache
def _code_version() -> str:
    """What computes a Result in this process: commetrics' own source (a change of code without a new release
    number must not read figures an older code computed) and the computing libraries (about 40 ms, once)."""
    return code_digest(Path(__file__).resolve().parents[1])


def cache_key(analysis: str, params: Mapping[str, Any], settings: str) -> str:
    """The file name of a Result: a digest of the analysis, its canonical parameters, the settings and the
    code that computes it (:func:`_code_version`: its source and the computing libraries' versions).
    Parameters that are tables or files (attribution's ``paths``) are not cached: their content is not in
    the key."""
    for value in params.values():
        if isinstance(value, pd.DataFrame | pd.Series | Path | np.ndarray):
            raise Uncacheable(f"the parameters of {analysis} hold a table or a file")
    text = json.dumps({"analysis": analysis, "params": jsonable(dict(params)), "settings": settings,
                       "commetrics": _code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


# -- a Result on disk -------------------------------------------------------------------------------------


class _Encoder:
    """Values as JSON with a tag for every type JSON would lose; tables to Parquet files beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tables = 0

    def table(self, frame: pd.DataFrame) -> dict[str, Any]:
        if not all(isinstance(c, str) for c in frame.columns) or frame.columns.duplicated().any():
            raise Uncacheable("a table whose column names are not distinct text")
        name = f"t{self.tables}.parquet"
        self.tables += 1
        attrs = self(dict(frame.attrs))  # Parquet would keep only what JSON can say; the encoder says the rest
        bare = frame.copy(deep=False)
        bare.attrs = {}
        try:
            bare.to_parquet(self.folder / name, engine="pyarrow")
        except (ValueError, TypeError, NotImplementedError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise Uncacheable(f"a table Parquet cannot hold faithfully ({exc})") from None
        # Parquet keeps the categories a column uses, not those it has (an empty table would lose them all)
        categories = [[c, self(list(bare[c].cat.categories)), bool(bare[c].cat.ordered)]
                      for c in bare.columns if isinstance(bare[c].dtype, pd.CategoricalDtype)]
        return {"$": "table", "file": name, "attrs": attrs, "categories": categories,
                "objects": {c: _missing(bare[c]) for c in bare.columns if bare[c].dtype == object}}

    def __call__(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int) and not isinstance(value, np.generic):
            return value
        if isinstance(value, float) and not isinstance(value, np.generic):
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if isinstance(value, pd.DataFrame):
            return self.table(value)
        if isinstance(value, pd.Series):
            return {"$": "series", "name": self(value.name), "table": self.table(value.to_frame("value"))}
        if isinstance(value, np.generic):
            return {"$": "numpy", "dtype": value.dtype.str, "v": base64.b64encode(value.tobytes()).decode()}
        if value is pd.NaT:
            return {"$": "NaT"}
        if value is pd.NA:
            return {"$": "NA"}
        if isinstance(value, pd.Timestamp):
            return {"$": "timestamp", "v": value.isoformat()}
        if isinstance(value, datetime):
            return {"$": "datetime", "v": value.isoformat()}
        if isinstance(value, date):
            return {"$": "date", "v": value.isoformat()}
        if isinstance(value, time):
            return {"$": "time", "v": value.isoformat()}
        if isinstance(value, timedelta):
            return {"$": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
        if isinstance(value, decimal.Decimal):
            return {"$": "decimal", "v": str(value)}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, tuple):
            return {"$": "tuple", "v": [self(v) for v in value]}
        if isinstance(value, Mapping):
            return {"$": "dict", "v": [[self(k), self(v)] for k, v in value.items()]}
        if type(value) in _records().values() and is_dataclass(value):
            return {"$": "record", "type": type(value).__name__,
                    "v": [[f.name, self(getattr(value, f.name))] for f in fields(value)]}
        raise Uncacheable(f"a value of type {type(value).__name__}")


_MISSING: dict[str, Any] = {"NA": pd.NA, "NaN": float("nan"), "NaT": pd.NaT}
_NUMBERS: dict[str, Callable[[Any], Any]] = {"int": int, "float": float}


def _missing(column: pd.Series) -> dict[str, list[int]]:
    """What Parquet would lose of an object column: where it holds a missing value other than None, by kind
    (Parquet reads them all as None), and, in a column of ints beside anything else, which cells are ints and
    which floats (Parquet makes them all floats)."""
    found: dict[str, list[int]] = {}
    kinds = {int: "int", float: "float", np.int64: "int", np.float64: "float"}
    for position, cell in enumerate(column.tolist()):
        if cell is pd.NA:
            found.setdefault("NA", []).append(position)
        elif cell is pd.NaT:
            found.setdefault("NaT", []).append(position)
        elif isinstance(cell, float) and math.isnan(cell):
            found.setdefault("NaN", []).append(position)
        elif type(cell) in kinds:
            found.setdefault(kinds[type(cell)], []).append(position)
    if len(found.get("int", ())) in (0, len(column)):  # no ints, or only ints: Parquet keeps them as they are
        found.pop("int", None)
        found.pop("float", None)
    return found


def _decode(value: Any, folder: Path) -> Any:
    if isinstance(value, list):
        return [_decode(v, folder) for v in value]
    if not isinstance(value, dict):
        return value
    tag: str = value["$"]
    v: Any = value.get("v")
    if tag == "table":
        frame = pd.read_parquet(folder / value["file"], engine="pyarrow")
        for column, categories, ordered in value["categories"]:
            dtype = pd.CategoricalDtype(pd.Index(_decode(categories, folder), dtype=frame[column].cat.categories.dtype)
                                        if len(frame) else _decode(categories, folder), ordered=ordered)
            frame[column] = frame[column].astype(dtype)
        for column, markers in value.get("objects", {}).items():
            # a text column keeps its dtype, and each missing value its own kind (None, pd.NA, NaN, NaT)
            cells = frame[column].to_numpy(dtype=object, copy=True)
            cells[pd.isna(cells)] = None
            for kind, positions in markers.items():
                if kind in _NUMBERS:
                    cells[positions] = [_NUMBERS[kind](cell) for cell in cells[positions]]
                else:
                    cells[positions] = _MISSING[kind]
            frame[column] = pd.Series(cells, index=frame.index, dtype=object)
        frame.attrs = _decode(value["attrs"], folder)
        return frame
    if tag == "record":  # only the record types the cache knows: nothing is imported by a name read from a file
        return _records()[value["type"]](**{name: _decode(item, folder) for name, item in v})
    if tag == "series":
        return _decode(value["table"], folder)["value"].rename(_decode(value["name"], folder))
    if tag == "dict":
        return {_hashable(_decode(k, folder)): _decode(item, folder) for k, item in v}
    if tag == "tuple":
        return tuple(_decode(item, folder) for item in v)
    simple: dict[str, Callable[[], Any]] = {"float": lambda: float(v), "NaT": lambda: pd.NaT, "NA": lambda: pd.NA,
              "timestamp": lambda: pd.Timestamp(v), "datetime": lambda: datetime.fromisoformat(v),
              "date": lambda: date.fromisoformat(v), "time": lambda: time.fromisoformat(v),
              "timedelta": lambda: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
              "decimal": lambda: decimal.Decimal(v),
              "numpy": lambda: np.frombuffer(base64.b64decode(v), dtype=np.dtype(value["dtype"]))[0]}
    return simple[tag]()


@functools.cache
def _records() -> dict[str, type]:
    """The record types a published value may hold, by name."""
    from ..privacy.suppression import SuppressionSummary

    return {t.__name__: t for t in (Diagnostic, Publication, SuppressionSummary)}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def write_result(result: Result, folder: Path) -> None:
    """Write the published side of ``result`` into the new folder ``folder`` (raises :class:`Uncacheable`)."""
    encode = _Encoder(folder)
    document = {
        "analysis": result.analysis, "title": result.title, "primary": result.primary,
        "params": encode(dict(result.params)), "published": encode(dict(result.published)),
        "publication": {**result.publication.as_dict(), "withheld": list(result.publication.withheld)},
        "diagnostics": [{"name": d.name, "message": d.message, "advice": d.advice, "severity": d.severity,
                         "value": encode(d.value), "threshold": encode(d.threshold), "about": d.about}
                        for d in result.diagnostics],
        "notes": list(result.notes),
    }
    (folder / _RESULT_FILE).write_text(json.dumps(document, allow_nan=False), encoding="utf-8")


def read_result(folder: Path) -> Result:
    """The Result written into ``folder`` by :func:`write_result` (its ``exact`` is empty)."""
    document = json.loads((folder / _RESULT_FILE).read_text(encoding="utf-8"))
    p = document["publication"]
    publication = Publication(int(p["min_cell_size"]), exact=bool(p["exact"]),
                              suppression_applied=bool(p["suppression_applied"]), withheld=tuple(p["withheld"]),
                              note=str(p["note"]))
    diagnostics = tuple(Diagnostic(name=d["name"], message=d["message"], advice=d["advice"], severity=d["severity"],
                                   value=_decode(d["value"], folder), threshold=_decode(d["threshold"], folder),
                                   about=d["about"]) for d in document["diagnostics"])
    return Result(document["analysis"], _decode(document["params"], folder), {},
                  _decode(document["published"], folder), publication, diagnostics, tuple(document["notes"]),
                  document["primary"], document["title"])


# -- the cache folder -------------------------------------------------------------------------------------


@dataclass
class CacheStats:
    """What the cache did for one Engine: Results found, computed and kept, and not cacheable."""

    hits: int = 0
    misses: int = 0
    uncacheable: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "uncacheable": self.uncacheable}


#: What an Engine holds while it waits for another one's computation (:attr:`EngineBase.waiting
#: <commetrics.engine.base.EngineBase.waiting>`): a pool of Engines lends the waiting one's place to another question.
Aside = Callable[[], contextlib.AbstractContextManager[object]]


def _wait(lock: threading.Lock, stop: Callable[[], bool], aside: Aside = contextlib.nullcontext) -> None:
    """Acquire ``lock``, held by another Engine computing the same thing, holding ``aside()`` while it waits;
    :class:`StoreUnavailableError` once ``stop()`` says so (the waiting Engine was interrupted)."""
    if lock.acquire(blocking=False):
        return
    with aside():
        while not lock.acquire(timeout=0.1):
            if stop():
                raise StoreUnavailableError("The computation was stopped while it waited for the same one in "
                                            "another Engine.")


class _Flights:
    """The questions Engines of this process are computing now, so that two asked the same question on the same
    data at once (a dashboard's summary and one of its pages) compute it once: the second waits for the first,
    then reads what it kept. A thread computing a question never waits for another one (an analysis that asks
    another would otherwise be able to wait in a circle): what it asks inside is computed there and then."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[tuple[str, str, str], tuple[threading.Lock, list[int]]] = {}
        self._inside = threading.local()

    @contextlib.contextmanager
    def one(self, ident: tuple[str, str, str], stop: Callable[[], bool],
            aside: Aside = contextlib.nullcontext) -> Iterator[bool]:
        """Hold ``ident`` while computing it; yields whether another thread had it first (and so may have kept it).
        Waiting (in ``aside()``) ends with :class:`~commetrics.errors.StoreUnavailableError` once ``stop()`` says
        so."""
        if getattr(self._inside, "depth", 0):
            self._inside.depth += 1
            try:
                yield False
            finally:
                self._inside.depth -= 1
            return
        with self._guard:
            lock, users = self._held.setdefault(ident, (threading.Lock(), [0]))
            users[0] += 1
        try:
            waited = not lock.acquire(blocking=False)
            if waited:
                _wait(lock, stop, aside)
            self._inside.depth = 1
            try:
                yield waited
            finally:
                self._inside.depth = 0
                lock.release()
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._held[ident]


_FLIGHTS = _Flights()


class _Shared:
    """Data that several analyses of one data version read — an attribution's journeys, which every model, the
    bootstrap and each page of the dashboard read — kept in this process's memory: computed once per (cache,
    data version, key) however many Engines ask at once, and only the latest kept (at most :attr:`most` entries
    and about :attr:`most_bytes` of tables and arrays; the latest one always). Whoever asks while it is being
    computed waits for it, at any depth: what is shared is a leaf (its computation asks for no Result and nothing
    shared), so no wait can close a circle; a computation that fails leaves it to the next one who asks. Entries
    of a cache's other data versions are dropped as soon as a new one is kept, and all of a cache's when it is
    cleared (an erasure): nothing erased stays in memory."""

    def __init__(self, most: int = 16, most_bytes: int = 2 << 30) -> None:
        self.most, self.most_bytes = most, most_bytes
        self._guard = threading.Lock()
        self._kept: OrderedDict[tuple[str, str, Hashable], Any] = OrderedDict()
        self._sizes: dict[tuple[str, str, Hashable], int] = {}
        self._computing: dict[tuple[str, str, Hashable], threading.Lock] = {}

    def get(self, ident: tuple[str, str, Hashable], compute: Callable[[], T], stop: Callable[[], bool],
            aside: Aside = contextlib.nullcontext) -> T:
        while True:
            with self._guard:
                if ident in self._kept:
                    self._kept.move_to_end(ident)
                    found: T = self._kept[ident]
                    return found
                lock = self._computing.get(ident)
                mine = lock is None
                if lock is None:
                    lock = self._computing[ident] = threading.Lock()
                    lock.acquire()
            if mine:
                return self._compute(ident, lock, compute)
            _wait(lock, stop, aside)  # then it is kept, or its computation failed: computed here
            lock.release()

    def _compute(self, ident: tuple[str, str, Hashable], lock: threading.Lock, compute: Callable[[], T]) -> T:
        try:
            value = compute()
            size = _size(value)
            with self._guard:
                for other in [i for i in self._kept if i[0] == ident[0] and i[1] != ident[1]]:
                    self._drop(other)
                self._kept[ident], self._sizes[ident] = value, size
                while len(self._kept) > 1 and (len(self._kept) > self.most
                                               or sum(self._sizes.values()) > self.most_bytes):
                    self._drop(next(iter(self._kept)))  # the least recently read
            return value
        finally:
            with self._guard:
                del self._computing[ident]
            lock.release()

    def _drop(self, ident: tuple[str, str, Hashable]) -> None:
        del self._kept[ident], self._sizes[ident]

    def forget(self, root: str) -> None:
        """Drop every entry of the cache at ``root``."""
        with self._guard:
            for ident in [i for i in self._kept if i[0] == root]:
                self._drop(ident)


def _size(value: Any) -> int:
    """About how many bytes ``value`` holds in its tables and arrays (what bounds :class:`_Shared`)."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return int(value.nbytes)
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=False).sum())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_size(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return sum(_size(getattr(value, f.name)) for f in fields(value))
    return 0


_SHARED = _Shared()


class ResultCache:
    """The ``cache`` folder of a workspace: one folder per data version, one folder per Result in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stats = CacheStats()

    @contextlib.contextmanager
    def computing(self, version: DataVersion, key: str, stop: Callable[[], bool] = lambda: False,
                  aside: Aside = contextlib.nullcontext) -> Iterator[bool]:
        """While the Result of ``key`` is computed: another Engine of this process asked the same question waits
        until it is kept (or ``stop()``), in ``aside()``. Yields whether this one waited (then :meth:`get` may find
        it)."""
        with _FLIGHTS.one((str(self.root), version.key, key), stop, aside) as waited:
            yield waited

    def shared(self, version: DataVersion, key: Hashable, compute: Callable[[], T],
               stop: Callable[[], bool] = lambda: False, aside: Aside = contextlib.nullcontext) -> T:
        """``compute()``, data that several analyses of ``version`` read, computed once in this process and kept
        in memory while the data stays at ``version`` (see :class:`_Shared`); ``key`` names it and what it depends
        on besides the data."""
        return _SHARED.get((str(self.root), version.key, key), compute, stop, aside)

    def _versions(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def get(self, version: DataVersion, key: str) -> Result | None:
        """The Result filed under ``key`` for ``version``, or None (missing, or unreadable: computed again)."""
        folder = self.root / version.key / key
        if not (folder / _RESULT_FILE).is_file():
            return None
        try:
            result = read_result(folder)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        self.stats.hits += 1
        return result

    def put(self, version: DataVersion, key: str, result: Result) -> Result:
        """Keep ``result`` under ``key`` (see the module docstring for when a reader may); return it as the cache
        serves it (published only). A failure to write leaves the cache as it was: it is only a cache."""
        served = replace(result, exact={})
        self.stats.misses += 1
        place = self.root / version.key
        if not place.is_dir() and self._versions():
            return served  # a writer has moved the cache past this version (or is about to)
        try:
            self.root.mkdir(exist_ok=True, mode=0o700)
            place.mkdir(exist_ok=True, mode=0o700)
            partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
        except OSError:
            return served  # a workspace this user may read but not write: no cache
        try:
            write_result(result, partial)
            os.replace(partial, place / key)
        except Uncacheable:
            self.stats.misses -= 1
            self.stats.uncacheable += 1
        except OSError:
            pass  # another reader kept the same Result first, or the disk is full: nothing is lost
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return served

    def reset(self, version: DataVersion) -> None:
        """After a write: delete the Results of every other version and start the folder of ``version``."""
        _SHARED.forget(str(self.root))
        for folder in self._versions():
            if folder.name != version.key:
                shutil.rmtree(folder, ignore_errors=True)
        for partial in self.root.glob(".partial-*") if self.root.is_dir() else ():
            shutil.rmtree(partial, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.mkdir(exist_ok=True, mode=0o700)
            (self.root / version.key).mkdir(exist_ok=True, mode=0o700)

    def clear(self) -> None:
        """Delete every cached Result, and the data kept in memory (an erasure does this first)."""
        _SHARED.forget(str(self.root))
        shutil.rmtree(self.root, ignore_errors=True)

    def size(self) -> int:
        """Results kept for every version."""
        return sum(1 for version in self._versions() for p in version.iterdir() if p.is_dir())
