"""Where the dashboard gets its figures: the Engine's published Results, remembered per data version.

:func:`result_for` is the one call through which every page and API route gets a Result — the same
``Engine.run`` the command line and the report make, so the dashboard has no computation of its own. The
Engines it is given use the workspace's results cache (``Engine(cache=True)``): a Result that ``commetrics
refresh``, ``report`` or ``summary`` computed for the current data version is read back, not computed again.

:class:`Reader` reads the store's **read copy** (:mod:`commetrics.engine.snapshot`) through a few long-lived
read-only Engines (``[dashboard] readers``), one per computation running at once: writers never touch the file
they hold open (a write publishes a new copy by renaming it over the old one), so a load never waits for the
dashboard and the dashboard never waits for a load. What it read is remembered per (what, parameters, data
version), the version being the read copy's file (its inode, size and modification time); when the file
changes the Engines are opened again on the new copy.

* **Once per question**: twenty visitors asking the same question that nothing has computed yet wait for one
  computation; different questions are computed side by side, up to ``readers`` at once.
* **Visitors first**: a visitor's computation takes the next free connection before the warming's (and before
  what the warming computes ahead), and a connection waiting for a question another one is computing is lent to
  another question meanwhile (:mod:`.pool`). A Result the results cache already holds — a summary's part computed
  it — is read on the connection of the quick reads, without waiting for one of the analyses'.
* **Stale while revalidating**: when the data changed since a question was answered, the last answer is shown
  at once, said to be from before the change, while one computation in the background replaces it — unless a
  person was erased in between: figures that may hold them are never shown again, the new ones are awaited.
* **Warm before anyone asks**: with a ``warmer`` (what ``commetrics serve`` gives it: every page and picker
  variant the dashboard offers), the Reader computes them in the background when it starts and each time the
  data changes.

Without a read copy (``[store] read_copy = false``, or a store written since its copy and not being written
now), the Reader opens the store itself, read-only, for each question and as briefly as it can, one at a time;
when another process is writing it, the last figures for the same question are served and said to be stale, and
with none a :class:`Busy` that the pages show as a one-line message.

A page waits at most ``[dashboard] patience`` seconds for a computation (a read for a page: :data:`PAGE`,
which the server sets for its page requests): past that, the computation goes on in the background and the
page says so, with a :class:`Computing` that it shows as a message reloading itself until the figures are
there — on a large workspace a first computation can take minutes, longer than a browser or a reverse proxy
waits. The JSON API and the warming wait for the figures, and so do reads without a read copy (one at a time,
as they are).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import duckdb

from ..engine import snapshot
from ..engine.snapshot import SNAPSHOT_FILE
from ..errors import CommetricsError, InputError, StoreUnavailableError, WorkspaceError
from ..results import Result
from ..store import Workspace, connect, store_error
from .pool import BACKGROUND, VISITOR, Engines

if TYPE_CHECKING:
    from ..config import Config
    from ..engine import Engine

__all__ = ["PAGE", "Busy", "Computing", "Reader", "Served", "result_for"]

T = TypeVar("T")


def result_for(engine: Engine, name: str, params: Mapping[str, Any]) -> Result:
    """The published Result of the registered analysis ``name`` with ``params`` (the Engine's own call)."""
    return engine.run(name, **params)


class Busy(WorkspaceError):
    """The store is being written by another process and nothing was read before."""

    retry_after = 5  # seconds: when to ask again


class Computing(Busy):
    """The figures asked for are still being computed, past the page's patience; asking again later finds them
    (or joins the same computation)."""


#: Whether the reads under way are for a page: those wait for a computation at most the Reader's ``patience``,
#: then raise :class:`Computing`; other reads (the JSON API, the warming) wait until it is done. The server sets
#: it for its page requests.
PAGE: contextvars.ContextVar[bool] = contextvars.ContextVar("commetrics_page", default=False)


@dataclass(frozen=True)
class Served(Generic[T]):
    """What was read, when, and — when it may be behind the data — why (``stale``)."""

    value: T
    read_at: datetime
    stale: str = ""


def _frozen(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_frozen(v) for v in value)
    return value if isinstance(value, Hashable) else repr(value)


def _stat(path: os.PathLike[str] | str) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class Reader:
    """Reads of one workspace for the dashboard: remembered per data version, never blocked by a writer.

    ``wait``: without a read copy, how long to wait for the workspace lock before serving the last figures (s).
    ``remember``: how many answers to keep. ``readers``: computations at once (default ``[dashboard] readers``).
    ``patience``: how long a page waits for a computation (default ``[dashboard] patience``; see :data:`PAGE`).
    ``warmer``: what to compute before anyone asks (called in a background thread with this Reader, whose reads
    wait for fresh figures there), when :meth:`start` is called and each time the data changes.
    """

    def __init__(self, workspace: str | Path | Workspace | None = None, *, wait: float = 0.5, remember: int = 256,
                 readers: int | None = None, warmer: Callable[[Reader], Any] | None = None,
                 patience: float | None = None) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.locate(workspace)
        self._patience = patience
        self.wait = wait
        self.remember = remember
        self.warmer = warmer
        self._answers: OrderedDict[Hashable, tuple[Hashable, Served[Any]]] = OrderedDict()
        self._drawn: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._drawing: dict[Hashable, threading.Lock] = {}
        self._config: tuple[Hashable, Config] | None = None
        self._compared: tuple[Hashable, bool] | None = None  # (store and copy stamps, whether the copy is behind)
        self._refusals: dict[Hashable, tuple[Hashable, InputError]] = {}
        self._flights: dict[Hashable, tuple[Hashable, Future[Served[Any]]]] = {}
        self._erased: dict[Hashable, int] = {}  # erasures recorded in each version of the read copy read
        self._memory = threading.Lock()  # guards what is remembered and the computations in flight
        self._engine = threading.Lock()  # without a read copy: one Engine on the store at a time in this process
        size = readers if readers is not None else self.config().dashboard.readers
        self._engines = Engines(self._open_copy, size)
        self._quick = Engines(self._open_copy, 1)  # reads of a few rows (every page's header): never behind analyses
        self._background = ThreadPoolExecutor(max_workers=size, thread_name_prefix="commetrics-revalidate")
        # a visitor's computation when the page will not wait for it to the end (PAGE)
        self._foreground = ThreadPoolExecutor(max_workers=size, thread_name_prefix="commetrics-compute")
        self._fresh = threading.local()  # set in the warming thread: its reads wait for fresh figures
        self._warming: threading.Thread | None = None
        self._warm_again = False
        self._warmed: Hashable = None
        self._asking = 0  # visitors waiting for a computation or a drawing: the warming gives way to them
        self._closed = False

    @property
    def patience(self) -> float:
        """Seconds a page waits for a computation before it says the figures are being computed."""
        return self._patience if self._patience is not None else self.config().dashboard.patience

    # -- the data version ------------------------------------------------------------------------------------

    def version(self) -> Hashable:
        """The version of what the Reader reads: the read copy's file, or without one the store's and its log's."""
        return self._source()[0]

    def _source(self) -> tuple[Hashable, bool]:
        """(the version, whether it is the read copy's)."""
        config, store = self.config(), self.workspace.database_path
        settings = _stat(self.workspace.config_path)
        if config.store.read_copy:
            copy = _stat(store.with_name(SNAPSHOT_FILE))
            if copy is not None and not self._copy_behind(copy):
                return ("copy", copy, settings), True
        return ("store", _stat(store), _stat(store.with_suffix(".duckdb.wal")), settings), False

    def _copy_behind(self, copy: tuple[int, int, int]) -> bool:
        """Whether the store was written after its copy was published and nobody is writing it now (a write
        with the read copy turned off, an interrupted one): then the copy is not the last completed write."""
        store = _stat(self.workspace.database_path)
        if store is None or store[2] <= copy[2]:
            return False
        if self._compared is not None and self._compared[0] == (store, copy):
            return self._compared[1]
        try:
            lock = self.workspace.lock(exclusive=False, wait=0)
        except StoreUnavailableError:
            return False  # a write is running: the copy is the data as of the last completed one
        try:  # the file may have been touched without a change of data (a write that changed nothing)
            behind = self._versions_differ()
        finally:
            lock.release()
        self._compared = ((store, copy), behind)
        return behind

    def _versions_differ(self) -> bool:
        """Whether the store holds another data version than its read copy (read once per pair of files)."""
        from ..engine.cache import data_version

        copy = self._from_copy(lambda con: data_version(con).key)
        if copy is None:
            return True
        try:
            with connect(self.workspace.database_path, read_only=True) as con:
                return data_version(con).key != copy
        except (WorkspaceError, duckdb.Error):
            return True

    def config(self) -> Config:
        """The workspace's config, read again when ``commetrics.toml`` changes."""
        stamp = _stat(self.workspace.config_path)
        known = self._config
        if known is not None and known[0] == stamp:
            return known[1]
        config = self.workspace.config()
        self._config = (stamp, config)
        return config

    # -- reading ---------------------------------------------------------------------------------------------

    def _open_copy(self) -> Engine:
        from ..engine import Engine

        try:
            return Engine(self.workspace.directory, config=self.config(), read_only=True, cache=True, read_copy=True)
        except duckdb.Error as exc:
            raise store_error(exc) or exc from None

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
        """The workspace's store in an Engine, read-only unless ``write``, waiting at most ``wait`` for the lock."""
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

    def _keep(self, key: Hashable, version: Hashable, served: Served[Any]) -> None:
        with self._memory:
            self._answers[key] = (version, served)
            self._answers.move_to_end(key)
            while len(self._answers) > self.remember:
                self._answers.popitem(last=False)

    def _refuse(self, key: Hashable, version: Hashable, error: InputError) -> None:
        with self._memory:
            self._refusals[key] = (version, error)
            while len(self._refusals) > self.remember:
                self._refusals.pop(next(iter(self._refusals)))

    def read(self, key: Hashable, work: Callable[[Engine], T], *, quick: bool = False,
             ahead: Mapping[Hashable, Callable[[Engine], Any]] | None = None,
             peek: Callable[[Engine], T | None] | None = None) -> Served[T]:
        """``work(engine)``, or what it gave before for ``key`` at this data version. When the data changed since,
        the last answer (said to be stale) while one computation in the background replaces it.

        ``quick``: ``work`` reads a few rows (row counts, the ledger): it runs on a connection of its own, so it
        never waits behind the analyses being computed, and its answer is always the current one. ``ahead``:
        questions ``work`` asks its Engine (key: work), started on the other connections in that order whenever
        ``work`` is computed, so that they are computed side by side (an Engine asked a question another one is
        computing waits for its Result instead of computing it again). ``peek``: what answers without computing
        when it can (a Result the results cache holds, which a summary's part computed), tried on the connection of
        the quick reads before waiting for one of the analyses'; None: ``work`` it is.

        A visitor's computation takes the next free connection before those of the warming and those started
        ahead of the warming's questions."""
        key = _frozen(key)
        rank = BACKGROUND if getattr(self._fresh, "on", False) else VISITOR
        version, on_copy = self._source()
        known = self._known(key)
        if known is not None and known[0] == version:
            return known[1]
        self._refused(key, version)
        if not on_copy:
            return self._direct(key, work, known)
        self._data_moved(version)
        if (known is not None and not quick and not getattr(self._fresh, "on", False)
                and self._no_erasure(known[0], version)):
            self._start_ahead(version, ahead, BACKGROUND)
            self._flight(key, version, work, background=True, rank=BACKGROUND, peek=peek)
            stamp = known[1].read_at.strftime("%Y-%m-%d %H:%M UTC")
            return Served(known[1].value, known[1].read_at, stale=(
                f"The data changed since these figures were read at {stamp}; the new figures are being computed. "
                "Reload in a moment for the latest."))
        patience = self.patience if PAGE.get() and not quick else None
        self._start_ahead(version, ahead, rank)
        try:
            with self._visitor():
                flight = self._flight(key, version, work, background=False, detached=patience is not None,
                                      engines=self._quick if quick else self._engines, rank=rank, peek=peek)
                served: Served[T] = flight.result(timeout=patience)
        except StoreUnavailableError as exc:  # the copy went away between looking and opening (an erasure)
            raise Busy(f"The store is being changed by another process ({_first(exc)}); nothing was read yet. "
                       "Reload the page in a moment.") from None
        except TimeoutError:
            raise Computing("These figures are being computed. The first computation after a load can take a few "
                            "minutes on a large community (running commetrics refresh after each load computes "
                            "them ahead). This page reloads itself until they are ready.") from None
        return served

    def _start_ahead(self, version: Hashable, ahead: Mapping[Hashable, Callable[[Engine], Any]] | None,
                     rank: int) -> None:
        for key, work in (ahead or {}).items():
            frozen = _frozen(key)
            known = self._known(frozen)
            if (known is None or known[0] != version) and not self._closed:
                self._flight(frozen, version, work, background=True, rank=rank)

    @contextlib.contextmanager
    def _visitor(self) -> Iterator[None]:
        """A visitor (not the warming) waits for a computation or a drawing while this is open."""
        if getattr(self._fresh, "on", False):
            yield
            return
        with self._memory:
            self._asking += 1
        try:
            yield
        finally:
            with self._memory:
                self._asking -= 1

    def give_way(self, most: float = 30.0) -> None:
        """Wait (at most ``most`` seconds) while visitors wait for a computation or a drawing: the warming calls
        this before each view, so on two cores it never makes the first visitors slower."""
        deadline = time.monotonic() + most
        while self._asking > 0 and not self._closed and time.monotonic() < deadline:
            time.sleep(0.05)

    def _no_erasure(self, before: Hashable, now: Hashable) -> bool:
        """Whether the copy at ``now`` records as many erasures as at ``before``: figures read before an erasure
        may hold the person erased, so they are never shown again, not even as stale ones."""
        then = self._erased.get(before)
        if then is None:
            return False
        if now not in self._erased:
            erased = self._from_copy(lambda con: int(con.execute("select count(*) from erasures").fetchall()[0][0]))
            if erased is None:
                return False
            self._erased.setdefault(now, erased)
        return self._erased[now] == then

    def _from_copy(self, read: Callable[[duckdb.DuckDBPyConnection], T]) -> T | None:
        """``read`` on the read copy as it is now, or None when it cannot be opened. Through a link of its own:
        DuckDB would hand back an older copy still open under the same path."""
        try:
            linked = snapshot.link(self.workspace.database_path.with_name(SNAPSHOT_FILE))
        except OSError:
            return None
        try:
            with connect(linked, read_only=True) as con:
                return read(con)
        except (WorkspaceError, duckdb.Error):
            return None
        finally:
            snapshot.unlink(linked)

    def _flight(self, key: Hashable, version: Hashable, work: Callable[[Engine], Any], *,
                background: bool, detached: bool = False, engines: Engines | None = None, rank: int = VISITOR,
                peek: Callable[[Engine], Any] | None = None) -> Future[Served[Any]]:
        """The one computation of ``key`` at ``version``: joined if one is running, else started here (or in the
        background; ``detached``: in a thread of its own, for a caller that may stop waiting) on one of
        ``engines`` (default: the analyses') taken at ``rank``, unless ``peek`` answers first."""
        with self._memory:
            flying = self._flights.get(key)
            if flying is not None and flying[0] == version:
                return flying[1]
            future: Future[Served[Any]] = Future()
            self._flights[key] = (version, future)
        compute = functools.partial(self._compute, key, version, work, future, engines or self._engines, rank, peek)
        if background and not self._closed:
            self._background.submit(compute)
        elif detached and not self._closed:
            self._foreground.submit(compute)
        else:
            compute()
        return future

    def _compute(self, key: Hashable, version: Hashable, work: Callable[[Engine], Any], future: Future[Served[Any]],
                 engines: Engines, rank: int, peek: Callable[[Engine], Any] | None) -> None:
        try:
            found = self._peek(version, peek) if peek is not None else None
            if found is not None:
                served = Served(found, datetime.now(UTC).replace(microsecond=0))
            else:
                with engines.engine(version, rank) as engine:
                    served = Served(work(engine), datetime.now(UTC).replace(microsecond=0))
                    self._count_erasures(engine, version)
        except InputError as error:  # too little data, a name the store does not hold: until the data changes
            self._refuse(key, version, error)
            future.set_exception(error)
        except BaseException as exc:  # handed to whoever waits for it
            future.set_exception(exc)
        else:
            self._keep(key, version, served)
            future.set_result(served)
        finally:
            with self._memory:
                if self._flights.get(key, (None, None))[1] is future:
                    del self._flights[key]

    def _peek(self, version: Hashable, peek: Callable[[Engine], T | None]) -> T | None:
        """``peek`` on the quick reads' connection; None when it cannot answer (or fails: the computation will say
        why)."""
        with contextlib.suppress(CommetricsError, duckdb.Error), self._quick.engine(version) as engine:
            found = peek(engine)
            if found is not None:
                self._count_erasures(engine, version)
            return found
        return None

    def _count_erasures(self, engine: Engine, version: Hashable) -> None:
        if version not in self._erased:
            self._erased[version] = int(engine.store.con.execute("select count(*) from erasures").fetchall()[0][0])

    def _direct(self, key: Hashable, work: Callable[[Engine], T], known: tuple[Hashable, Served[Any]] | None
                ) -> Served[T]:
        """Without a read copy: the store opened read-only for this question, one question at a time."""
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
                    except InputError as error:
                        self._refuse(key, version, error)
                        raise
        except StoreUnavailableError as exc:
            if known is None:
                raise Busy(f"The store is being changed by another process ({_first(exc)}); nothing was read yet. "
                           "Reload the page in a moment.") from None
            stamp = known[1].read_at.strftime("%Y-%m-%d %H:%M UTC")
            return Served(known[1].value, known[1].read_at, stale=f"The store is being changed by another process "
                          f"(a load or an identity run): these figures were read at {stamp}. Reload in a moment "
                          "for the latest.")
        self._keep(key, version, served)
        return served

    def drawn(self, key: Hashable, served: Served[Any], draw: Callable[[], T]) -> T:
        """What ``draw()`` makes of ``served`` (a page's HTML, an API body), made once per value read — by one
        request while the others asking wait for it: drawing charts takes longer than reading a remembered Result."""
        key = _frozen(key)
        with self._memory:
            hit = self._drawn.get(key)
            lock = self._drawing.setdefault(key, threading.Lock())
        if hit is not None and hit[0] is served.value:
            drawn: T = hit[1]
            return drawn
        with self._visitor(), lock:
            with self._memory:
                hit = self._drawn.get(key)
            if hit is not None and hit[0] is served.value:
                again: T = hit[1]
                return again
            made = draw()
            with self._memory:
                self._drawn[key] = (served.value, made)  # holding the value keeps its identity from being reused
                self._drawn.move_to_end(key)
                while len(self._drawn) > self.remember:
                    self._drawing.pop(self._drawn.popitem(last=False)[0], None)
        return made

    def result(self, name: str, params: Mapping[str, Any]) -> Served[Result]:
        """The published Result of ``name`` with ``params`` (see :func:`result_for`)."""
        return self.read(("result", name, params), lambda engine: result_for(engine, name, params),
                         peek=lambda engine: engine.cached(name, **params))

    def write(self, work: Callable[[Engine], T]) -> T:
        """``work`` on the workspace opened for writing (an identity decision); what was read is forgotten."""
        with self.engine(write=True) as engine:
            done = work(engine)
        with self._memory:
            self._answers.clear()
            self._refusals.clear()
        return done

    # -- warming and the end ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Compute what the ``warmer`` names in the background (``commetrics serve`` calls this at start-up)."""
        if self.warmer is None or self._closed:
            return
        self._warmed = self.version()
        with self._memory:
            if self._warming is not None and self._warming.is_alive():
                self._warm_again = True
                return
            self._warming = threading.Thread(target=self._warm, name="commetrics-warm", daemon=True)
            self._warming.start()

    def _data_moved(self, version: Hashable) -> None:
        if self.warmer is not None and self._warmed is not None and version != self._warmed:
            self.start()

    def _warm(self) -> None:
        assert self.warmer is not None
        self._fresh.on = True
        while not self._closed:
            with contextlib.suppress(Exception):  # a view that fails says so when it is asked for
                self.warmer(self)
            with self._memory:
                if not self._warm_again:
                    self._warming = None
                    return
                self._warm_again = False

    def warming(self) -> bool:
        """Whether the background warming is running."""
        thread = self._warming
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        """Stop computing in the background and close the Engines (the server does this when it stops)."""
        self._closed = True
        self._background.shutdown(wait=False, cancel_futures=True)  # a computation under way is not waited for
        self._foreground.shutdown(wait=False, cancel_futures=True)
        self._engines.close()  # those not in use; the statements of those in use are interrupted
        self._quick.close()
        thread = self._warming
        if thread is not None:
            thread.join(timeout=5)


def _first(exc: BaseException) -> str:
    text = str(exc).split(". ")[0]
    return text[:160]
