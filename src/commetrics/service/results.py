"""Where the dashboard gets its figures: the Engine's published Results, remembered per store version.

:func:`result_for` is the one call through which every page and API route gets a Result — the same
``Engine.run`` the command line and the report make, so the dashboard has no computation of its own. The
Engines it is given use the workspace's results cache (``Engine(cache=True)``): a Result that ``commetrics
refresh``, ``report`` or ``summary`` computed for the current data version is read back, not computed again.

:class:`Reader` opens the workspace for each piece of work that is not remembered yet, read-only and
for as short a time as it can (DuckDB lets one process write the file; a load in another process must
not wait for the dashboard), and remembers what it read per (what, parameters, store version): the
version is the store file's size and modification time, so a load, an identity run or an erasure makes
the next request compute again. When the store cannot be opened because another process is writing
it, the Reader serves the last figures it has for the same question and says since when; with none, a
:class:`Busy` that the pages show as a one-line message.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import duckdb

from ..errors import InputError, StoreUnavailableError, WorkspaceError
from ..results import Result
from ..store import Workspace, store_error

if TYPE_CHECKING:
    from ..config import Config
    from ..engine import Engine

__all__ = ["Busy", "Reader", "Served", "result_for"]

T = TypeVar("T")


def result_for(engine: Engine, name: str, params: Mapping[str, Any]) -> Result:
    """The published Result of the registered analysis ``name`` with ``params`` (the Engine's own call)."""
    return engine.run(name, **params)


class Busy(WorkspaceError):
    """The store is being written by another process and nothing was read before."""


@dataclass(frozen=True)
class Served(Generic[T]):
    """What was read, when, and — when the store was busy — why it may be behind (``stale``)."""

    value: T
    read_at: datetime
    stale: str = ""


def _frozen(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_frozen(v) for v in value)
    return value if isinstance(value, Hashable) else repr(value)


class Reader:
    """Reads of one workspace for the dashboard: remembered per store version, never blocked by a writer.

    ``wait``: how long to wait for the workspace lock before serving the last figures (seconds).
    ``remember``: how many answers to keep.
    """

    def __init__(self, workspace: str | Workspace | None = None, *, wait: float = 0.5, remember: int = 256) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.locate(workspace)
        self.wait = wait
        self.remember = remember
        self._answers: OrderedDict[Hashable, tuple[Hashable, Served[Any]]] = OrderedDict()
        self._drawn: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._config: tuple[Hashable, Config] | None = None
        self._refusals: dict[Hashable, tuple[Hashable, InputError]] = {}
        self._memory = threading.Lock()  # guards what is remembered
        self._engine = threading.Lock()  # one Engine at a time in this process (DuckDB: one configuration per file)

    def version(self) -> Hashable:
        """The store's version: size and modification time of its file and write-ahead log."""
        parts = []
        for path in (self.workspace.database_path, self.workspace.database_path.with_suffix(".duckdb.wal")):
            try:
                stat = path.stat()
            except OSError:
                parts.append((0, 0))
            else:
                parts.append((stat.st_size, stat.st_mtime_ns))
        return tuple(parts)

    @contextlib.contextmanager
    def _open(self, *, write: bool) -> Iterator[Engine]:
        from ..engine import Engine

        config = self.config()
        config = config.model_copy(update={"store": config.store.model_copy(
            update={"lock_wait_seconds": self.wait if not write else max(self.wait, 5.0)})})
        try:
            engine = Engine(self.workspace.directory, config=config, read_only=not write, cache=True)
        except duckdb.Error as exc:
            raise store_error(exc) or exc from None
        with engine:
            yield engine

    @contextlib.contextmanager
    def engine(self, *, write: bool = False) -> Iterator[Engine]:
        """The workspace's Engine, read-only unless ``write``, waiting at most ``wait`` for the lock."""
        with self._engine, self._open(write=write) as engine:
            yield engine

    def _refused(self, key: Hashable, version: Hashable) -> None:
        """Raise again what the store answered to ``key`` at this version (an :class:`InputError`), if anything."""
        with self._memory:
            refused = self._refusals.get(key)
        if refused is not None and refused[0] == version:
            error = refused[1]
            raise type(error)(*error.args)

    def _known(self, key: Hashable) -> tuple[Hashable, Served[Any]] | None:
        with self._memory:
            return self._answers.get(key)

    def read(self, key: Hashable, work: Callable[[Engine], T]) -> Served[T]:
        """``work(engine)``, or what it gave before for ``key`` at this store version; the last answer for
        ``key`` (said to be stale) when the store is being written."""
        key = _frozen(key)
        known = self._known(key)
        if known is not None and known[0] == self.version():
            return known[1]
        self._refused(key, self.version())
        try:
            with self._engine:
                known = self._known(key)  # another request may have read it while this one waited
                version = self.version()
                if known is not None and known[0] == version:
                    return known[1]
                self._refused(key, version)
                with self._open(write=False) as engine:
                    try:
                        served = Served(work(engine), datetime.now(UTC).replace(microsecond=0))
                    except InputError as error:  # too little data, a name the store does not hold: until it changes
                        with self._memory:
                            self._refusals[key] = (version, error)
                            while len(self._refusals) > self.remember:
                                self._refusals.pop(next(iter(self._refusals)))
                        raise
        except StoreUnavailableError as exc:
            if known is None:
                raise Busy(f"The store is being changed by another process ({_first(exc)}); nothing was read yet. "
                           "Reload the page in a moment.") from None
            stamp = known[1].read_at.strftime("%Y-%m-%d %H:%M UTC")
            return Served(known[1].value, known[1].read_at, stale=f"The store is being changed by another process "
                          f"(a load or an identity run): these figures were read at {stamp}. Reload in a moment "
                          "for the latest.")
        with self._memory:
            self._answers[key] = (version, served)
            self._answers.move_to_end(key)
            while len(self._answers) > self.remember:
                self._answers.popitem(last=False)
        return served

    def drawn(self, key: Hashable, served: Served[Any], draw: Callable[[], T]) -> T:
        """What ``draw()`` makes of ``served`` (a page's HTML, an API body), made once per value read: drawing
        charts takes longer than reading a remembered Result."""
        key = _frozen(key)
        with self._memory:
            hit = self._drawn.get(key)
        if hit is not None and hit[0] is served.value:
            drawn: T = hit[1]
            return drawn
        made = draw()
        with self._memory:
            self._drawn[key] = (served.value, made)  # holding the value keeps its identity from being reused
            self._drawn.move_to_end(key)
            while len(self._drawn) > self.remember:
                self._drawn.popitem(last=False)
        return made

    def config(self) -> Config:
        """The workspace's config, read again when ``commetrics.toml`` changes."""
        path = self.workspace.config_path
        try:
            stat = path.stat()
            stamp: Hashable = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        known = self._config
        if known is not None and known[0] == stamp:
            return known[1]
        config = self.workspace.config()
        self._config = (stamp, config)
        return config

    def result(self, name: str, params: Mapping[str, Any]) -> Served[Result]:
        """The published Result of ``name`` with ``params`` (see :func:`result_for`)."""
        return self.read(("result", name, params), lambda engine: result_for(engine, name, params))

    def write(self, work: Callable[[Engine], T]) -> T:
        """``work`` on the workspace opened for writing (an identity decision); what was read is forgotten."""
        with self.engine(write=True) as engine:
            done = work(engine)
        with self._memory:
            self._answers.clear()
            self._refusals.clear()
        return done


def _first(exc: BaseException) -> str:
    text = str(exc).split(". ")[0]
    return text[:160]
