"""How the dashboard reads (:class:`commetrics.service.results.Reader`): long-lived Engines on the store's read copy,
one computation per question, questions side by side, the last figures while the data changes, warming.

The workspace is an empty store with its read copy: the questions here are the store's own counts, so each test
is about who waits for whom, not about an analysis.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine
from commetrics.errors import InputError, StoreUnavailableError
from commetrics.service import queries
from commetrics.service.pool import BACKGROUND, VISITOR, Slots
from commetrics.service.results import Reader


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    with Engine.init(folder) as engine:
        engine.publish_read_copy()
    assert (folder / "commetrics.snapshot.duckdb").is_file()
    return folder


def _publish(folder: Path) -> None:
    """What every write does when it ends: a new read copy, renamed over the old one."""
    with Engine(folder, config=None) as engine:
        engine.publish_read_copy()


def _until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _members(engine: Engine) -> int:
    return int(engine.status().tables["members"])


@contextlib.contextmanager
def _slow_question(reader: Reader) -> Iterator[None]:
    """A question that holds one of ``reader``'s Engines until the block ends (it has started when the block
    begins); its answer is the store's member count."""
    started, release = threading.Event(), threading.Event()

    def slow(engine: Engine) -> int:
        started.set()
        assert release.wait(30)
        return _members(engine)

    thread = threading.Thread(target=lambda: reader.read(("slow",), slow))
    thread.start()
    try:
        assert started.wait(30)
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def test_a_second_question_is_not_held_up_by_a_first_one_computing_nor_is_a_writer(workspace: Path) -> None:
    reader = Reader(workspace, readers=2)
    try:
        with _slow_question(reader):
            answered: list[int] = []
            second = threading.Thread(target=lambda: answered.append(reader.read(("fast",), _members).value))
            second.start()
            second.join(timeout=15)
            assert answered == [0]  # while the first is still computing
            # the Reader holds no lock on the workspace: a load can start while the dashboard computes
            with Engine(workspace, config=None) as writer:
                assert not writer.store.read_only
    finally:
        reader.close()


def test_a_freed_place_goes_to_a_visitor_before_the_warming_and_first_come_first_served_within_each() -> None:
    slots = Slots(1)
    slots.acquire(VISITOR)
    order: list[str] = []

    def take(name: str, rank: int) -> None:
        with slots.held(rank):
            order.append(name)

    threads = []
    for name, rank in (("warming 1", BACKGROUND), ("visitor 1", VISITOR), ("warming 2", BACKGROUND),
                       ("visitor 2", VISITOR)):
        threads.append(threading.Thread(target=take, args=(name, rank)))
        threads[-1].start()
        _until(lambda n=len(threads): len(slots._waiting) == n)  # each in line before the next comes
    slots.release(VISITOR)
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["visitor 1", "visitor 2", "warming 1", "warming 2"]


def test_the_warming_leaves_a_place_free_for_a_visitor() -> None:
    slots = Slots(2)
    slots.acquire(BACKGROUND)
    second = threading.Thread(target=slots.acquire, args=(BACKGROUND,))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive()  # the warming holds one place of two at most
    slots.acquire(VISITOR)  # at once
    slots.release(VISITOR)
    second.join(timeout=0.3)
    assert second.is_alive()
    slots.release(BACKGROUND)
    second.join(timeout=10)
    assert not second.is_alive()
    alone = Slots(1)  # one place: the warming takes it
    alone.acquire(BACKGROUND)
    alone.release(BACKGROUND)


def test_an_engine_waiting_for_what_another_one_computes_lends_its_connection(workspace: Path) -> None:
    """Two questions reading the same shared data, the first computing it: while the second waits for it, its
    connection answers a third question (with both held, the third would wait for the first to end)."""
    reader = Reader(workspace, readers=2)
    started, release = threading.Event(), threading.Event()
    built: list[int] = []

    def journeys() -> int:
        built.append(1)
        started.set()
        assert release.wait(30)
        return 41

    entered: list[Engine] = []

    def reading(engine: Engine) -> int:
        entered.append(engine)
        return engine.shared(("lent connection test",), journeys) + 1

    answers: dict[str, int] = {}
    first, second = (threading.Thread(target=lambda n=n: answers.setdefault(n, reader.read((n,), reading).value))
                     for n in ("first", "second"))
    try:
        first.start()
        assert started.wait(30)
        second.start()
        _until(lambda: len(entered) == 2 and reader._engines._slots._held == 1)  # the second waits, its place lent
        assert reader.read(("third",), _members).value == 0  # while the first still computes
        assert not answers
    finally:
        release.set()
        first.join(timeout=30)
        second.join(timeout=30)
        reader.close()
    assert answers == {"first": 42, "second": 42}
    assert built == [1]


def test_what_the_results_cache_holds_is_read_without_waiting_for_a_connection(workspace: Path) -> None:
    reader = Reader(workspace, readers=1)
    computed: list[str] = []

    def work(name: str) -> Callable[[Engine], int]:
        def compute(engine: Engine) -> int:
            computed.append(name)
            return _members(engine) + 10
        return compute

    try:
        with _slow_question(reader):  # the one analyses' connection is busy
            assert reader.read(("held",), work("held"), peek=lambda engine: _members(engine) + 7).value == 7
            assert computed == []
            waiting = threading.Thread(target=lambda: reader.read(("missing",), work("missing"),
                                                                   peek=lambda engine: None))
            waiting.start()
            waiting.join(timeout=0.5)
            assert waiting.is_alive()  # nothing to read back: it waits for the connection
        waiting.join(timeout=30)
        assert computed == ["missing"]
    finally:
        reader.close()


def test_many_asking_the_same_question_compute_it_once(workspace: Path) -> None:
    reader = Reader(workspace, readers=2)
    computed: list[int] = []

    def work(engine: Engine) -> int:
        computed.append(1)
        time.sleep(0.3)  # every other thread arrives while it computes
        return _members(engine)

    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(reader.read(("members",), work).value))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [0] * 8
    assert len(computed) == 1
    assert reader.read(("members",), work).value == 0
    assert len(computed) == 1

    def too_little(engine: Engine) -> int:
        computed.append(1)
        raise InputError("The store holds too few renewals.")

    for _ in range(3):  # the store's answer holds until the data changes
        with pytest.raises(InputError, match="too few renewals"):
            reader.read(("renewal",), too_little)
    assert len(computed) == 2
    reader.close()


def test_after_a_data_change_the_last_figures_are_shown_stale_then_the_new_ones(workspace: Path) -> None:
    reader = Reader(workspace, readers=2)
    counter = iter(range(100))
    engines: list[Any] = []

    def work(engine: Engine) -> int:
        engines.append(engine)
        return next(counter)

    first = reader.read(("n",), work)
    assert (first.value, first.stale) == (0, "")
    _publish(workspace)  # a load finished: the read copy is a new file
    during = reader.read(("n",), work)
    assert during.value == 0  # never a blank page ...
    assert "data changed" in during.stale  # ... and never a wrong "fresh" claim
    assert "being computed" in during.stale
    _until(lambda: reader.read(("n",), work).value == 1)
    after = reader.read(("n",), work)
    assert after.stale == ""
    assert after.read_at >= first.read_at
    assert engines[1] is not engines[0]  # the new copy was opened; the old Engine is not reused
    reader.close()


def test_the_warmer_runs_at_start_and_again_when_the_data_changes(workspace: Path) -> None:
    computed: list[str] = []

    def warmer(reader: Reader) -> None:
        for name in ("a", "b"):
            reader.read((name,), lambda engine, name=name: computed.append(name) or _members(engine))

    reader = Reader(workspace, warmer=warmer)
    reader.start()
    _until(lambda: not reader.warming() and len(computed) == 2)
    assert reader.read(("a",), lambda engine: pytest.fail("warmed, not computed again")).value == 0
    _publish(workspace)
    reader.read(("c",), _members)  # the first read after the change starts the warming again
    _until(lambda: not reader.warming() and len(computed) == 4)
    assert sorted(computed) == ["a", "a", "b", "b"]
    fresh = reader.read(("b",), lambda engine: pytest.fail("warmed, not computed again"))
    assert fresh.stale == ""
    reader.close()


def test_drawing_a_page_happens_once_while_others_wait(workspace: Path) -> None:
    reader = Reader(workspace)
    served = reader.read(("n",), _members)
    drawn: list[int] = []

    def draw() -> str:
        drawn.append(1)
        time.sleep(0.2)
        return "<p>page</p>"

    pages: list[str] = []
    threads = [threading.Thread(target=lambda: pages.append(reader.drawn(("page",), served, draw))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert pages == ["<p>page</p>"] * 6
    assert len(drawn) == 1
    reader.close()


def test_the_read_copy_engine(workspace: Path) -> None:
    with pytest.raises(InputError, match="read_only=True"):
        Engine(workspace, read_copy=True)
    with Engine(workspace, read_only=True, read_copy=True) as engine:
        assert engine.data_version().snapshot is False  # chosen, not because a writer was busy: no note
        assert engine.data_version().note() == ""
        with Engine(workspace) as writer:  # it holds no workspace lock
            writer.publish_read_copy()
        assert engine.status().tables["members"] == 0  # still reads the copy it opened
    (workspace / "commetrics.snapshot.duckdb").unlink()
    with pytest.raises(StoreUnavailableError, match="commetrics refresh"):
        Engine(workspace, read_only=True, read_copy=True)


def test_a_reader_remembers_the_datas_now(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from commetrics.metrics import conversion

    calls: list[int] = []
    moment = datetime(2026, 6, 30, tzinfo=UTC)
    monkeypatch.setattr(conversion, "data_as_of", lambda backend: calls.append(1) or moment)
    with Engine(workspace, read_only=True, read_copy=True) as engine:
        assert engine.as_of() == engine.as_of()
    assert len(calls) == 1
    with Engine(workspace) as writer:  # a writer asks each time: it may have loaded since
        writer.as_of()
        writer.as_of()
    assert len(calls) == 3


class _Recorder(Reader):
    """A Reader that records what it is asked and answers nothing (the plan of :func:`queries.warm_views`)."""

    def __init__(self, workspace: Path) -> None:
        super().__init__(workspace)
        self.asked: list[Any] = []

    def read(self, key: Any, work: Any, *, quick: bool = False, ahead: Any = None, peek: Any = None) -> Any:
        self.asked.append(key)
        raise InputError("not computed here")


def test_the_views_warmed_at_each_level(workspace: Path) -> None:
    reader = _Recorder(workspace)
    config = reader.config()
    assert queries.warm_views(reader, "off") == 0
    assert reader.asked == []
    queries.warm_views(reader, "pages")
    pages = list(reader.asked)
    assert pages[0] == ("summary",)
    assert ("data_health",) in pages
    names = [k[1] for k in pages if k[0] == "result"]
    assert names == ["conversion", "impact.renewal", "attribution", "scores.accounts"]
    reader.asked.clear()
    queries.warm_views(reader, "variants")
    variants = [dict(k[2]) for k in reader.asked if k[0] == "result" and k[1] == "conversion"]
    windows = config.conversions[config.summary.conversion].windows
    assert len(variants) == 1 + len(queries.CohortKey) + len(windows)
    assert not any(v["by"] and v["windows"] for v in variants)  # one picker changed at a time
    models = {dict(k[2])["models"][0] for k in reader.asked if k[0] == "result" and k[1] == "attribution"}
    assert models == set(queries.models())
    assert {k[1] for k in reader.asked if k[0] == "result"} >= {
        f"impact.{q}" for q in ("renewal", "retention", "nps", "csat", "upsell")} | {"scores.members"}
    reader.asked.clear()
    queries.warm_views(reader, "all")
    both = [dict(k[2]) for k in reader.asked if k[0] == "result" and k[1] == "conversion"]
    assert sum(1 for v in both if v["by"] and v["windows"]) == len(queries.CohortKey) * len(windows)
    reader.close()


def test_figures_read_before_an_erasure_are_never_shown_again(workspace: Path, tmp_path: Path) -> None:
    from .conftest import NOW, write_csv

    members = write_csv(tmp_path / "members.csv", ["member_id", "email", "joined_at"],
                        [["m1", "ann@example.com", "2026-01-05T10:00:00Z"], ["m2", "bob@example.com",
                                                                              "2026-02-05T10:00:00Z"]])
    with Engine(workspace) as engine:
        engine.load("members", members, now=NOW)
    reader = Reader(workspace, readers=2)
    assert reader.read(("n",), _members).value == 2
    with Engine(workspace) as engine:
        engine.forget("ann@example.com")
    after = reader.read(("n",), _members)  # not the last figures marked stale: they count Ann
    assert (after.value, after.stale) == (1, "")
    reader.close()


def test_the_new_copy_is_read_while_an_engine_on_the_old_one_is_still_busy(workspace: Path, tmp_path: Path) -> None:
    from .conftest import NOW, write_csv

    reader = Reader(workspace, readers=2)
    try:
        with _slow_question(reader):  # an Engine on the first copy is in use ...
            with Engine(workspace) as engine:  # ... when a load publishes a new copy
                engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at"],
                                                 [["m1", "2026-01-05T10:00:00Z"]]), now=NOW)
            # DuckDB shares one database per path within a process: the new Engine must not be handed the old copy
            assert reader.read(("n",), _members).value == 1
    finally:
        reader.close()
    assert not list(workspace.glob(".commetrics.snapshot.duckdb.*"))  # the links went with their Engines


def test_the_warming_gives_way_to_visitors(workspace: Path) -> None:
    reader = Reader(workspace)
    with _slow_question(reader):  # a visitor waits for a computation: the warming waits too
        began = time.monotonic()
        reader.give_way(most=0.5)
        assert time.monotonic() - began >= 0.45
    began = time.monotonic()
    reader.give_way(most=10)  # nobody waits: at once
    assert time.monotonic() - began < 2
    reader.close()


def test_a_link_left_by_a_killed_reader_is_removed(workspace: Path) -> None:
    import os
    import subprocess
    import sys

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    copy = workspace / "commetrics.snapshot.duckdb"
    left = workspace / f".commetrics.snapshot.duckdb.{ended.pid}.{copy.stat().st_ino}.duckdb"
    os.link(copy, left)  # what a dashboard killed with -9 leaves: a whole copy of the store
    with Engine(workspace, read_only=True, read_copy=True):
        assert not left.exists()


def test_closing_the_reader_interrupts_a_computation_under_way(workspace: Path) -> None:
    """A server that stops does not run on until its longest computation is done: the Reader's close
    interrupts the statement an Engine is running, and the computation ends with an error at once."""
    reader = Reader(workspace, readers=2)
    started, outcome = threading.Event(), []

    def endless(engine: Engine) -> int:
        started.set()
        return int(engine.store.con.execute("select sum(hash(i)) from range(1000000000000) as t(i)").fetchall()[0][0])

    def ask() -> None:
        try:
            reader.read(("endless",), endless)
            outcome.append("answered")
        except Exception as exc:  # the interruption, as the request waiting for it would see it
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=ask, daemon=True)  # daemon: a regression fails the test, not the run
    thread.start()
    assert started.wait(30)
    time.sleep(0.3)  # inside the statement
    stopping = time.perf_counter()
    reader.close()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert time.perf_counter() - stopping < 15
    assert len(outcome) == 1
    assert outcome[0] != "answered"


def test_a_read_past_its_patience_says_the_figures_are_being_computed_and_the_computation_goes_on(
        workspace: Path) -> None:
    from commetrics.service.results import PAGE, Computing

    reader = Reader(workspace, readers=2, patience=0.3)
    calls: list[int] = []

    def slow(engine: Engine) -> int:
        calls.append(1)
        time.sleep(2.0)
        return _members(engine)

    token = PAGE.set(True)  # a read for a page: it waits at most the Reader's patience
    try:
        started = time.perf_counter()
        with pytest.raises(Computing, match="being computed"):
            reader.read(("slow",), slow)
        assert time.perf_counter() - started < 1.5  # the page did not wait for the whole computation
        with pytest.raises(Computing):  # asked again meanwhile: the same computation, not a second one
            reader.read(("slow",), slow)

        def answered() -> bool:
            try:
                return reader.read(("slow",), slow).value == 0
            except Computing:
                return False
        _until(answered)  # then the figures
    finally:
        PAGE.reset(token)
        reader.close()
    assert calls == [1]
    # a read not for a page (the JSON API, the warming) waits for its figures, whatever the patience
    other = Reader(workspace, readers=1, patience=0.3)
    try:
        assert other.read(("slow",), slow).value == 0
    finally:
        other.close()


def test_the_header_s_last_load_never_waits_behind_an_analysis(workspace: Path) -> None:
    """Every page's header says when data was last loaded: that read has a connection of its own, so a page
    whose figures are ready does not wait for the analyses other pages are computing."""
    reader = Reader(workspace, readers=1)
    try:
        with _slow_question(reader):  # the only analysis connection is busy
            started = time.perf_counter()
            health = queries.data_health(reader)
            assert time.perf_counter() - started < 10
            assert health.value["tables"]["members"] == 0
            assert queries.last_load(reader) is None  # nothing loaded yet
    finally:
        reader.close()


def test_a_store_touched_without_a_change_keeps_its_read_copy(workspace: Path) -> None:
    """A store file written after its read copy was published is read directly (one question at a time) only
    when it holds other data than the copy: a write that changed nothing leaves the copy in use."""
    import os

    from commetrics.store import connect

    reader = Reader(workspace)
    try:
        assert reader.version()[0] == "copy"
        later = time.time() + 10
        os.utime(workspace / "commetrics.duckdb", (later, later))
        assert reader.version()[0] == "copy"
        with connect(workspace / "commetrics.duckdb") as con:  # a write that ended before publishing its copy
            con.execute("update data_version set version = version + 1")
        os.utime(workspace / "commetrics.duckdb", (later + 10, later + 10))
        assert reader.version()[0] == "store"
    finally:
        reader.close()


def test_a_server_starting_behind_its_read_copy_publishes_it_first(workspace: Path) -> None:
    """The last write was interrupted before it published its read copy: the server publishes it when it starts,
    so its readers do not wait for one another on the store itself."""
    import warnings

    from commetrics.service import create_app

    with warnings.catch_warnings():  # Starlette's TestClient warns about httpx itself
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    copy = workspace / "commetrics.snapshot.duckdb"
    copy.unlink()
    reader = Reader(workspace)
    assert reader.version()[0] == "store"
    with TestClient(create_app(workspace, reader=reader, warm_up=True)) as client:
        assert client.get("/health").status_code == 200
        assert copy.is_file()
        assert reader.version()[0] == "copy"
