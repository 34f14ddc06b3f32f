"""The results cache, the data version and the read copy: a cached Result is the fresh one, table for table and
value for value; every write that can change a figure moves the version on and the cache with it; an erasure
takes the cache and the read copy at once; a reader goes on, from the read copy, while another process holds
the store to write."""

from __future__ import annotations

import contextlib
import decimal
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine, StoreUnavailableError
from commetrics.cli import app
from commetrics.config import parse_config
from commetrics.engine.cache import Uncacheable, cache_key, code_digest, read_result, write_result
from commetrics.privacy.suppression import SuppressionSummary
from commetrics.reports.build import build_report
from commetrics.reports.html import render_html
from commetrics.results import Diagnostic, Publication, Result
from commetrics.store import MIGRATIONS

from .conftest import NOW, write_csv
from .test_workspace_lock import _env

# ------------------------------------------------------------------------------------------------
# Comparing Results exactly
# ------------------------------------------------------------------------------------------------


def assert_same(left: Any, right: Any, where: str = "") -> None:
    """Equal tables (dtypes, index, values, attrs) and equal values, NaN equal to NaN, types kept."""
    if isinstance(left, pd.DataFrame):
        assert isinstance(right, pd.DataFrame), where
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=where)
        assert_same(dict(left.attrs), dict(right.attrs), f"{where}.attrs")
        return
    if isinstance(left, pd.Series):
        pd.testing.assert_series_equal(left, right, check_exact=True, obj=where)
        return
    assert type(left) is type(right), (where, type(left), type(right))
    if isinstance(left, Mapping):
        assert list(left) == list(right), where
        for key in left:
            assert_same(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list | tuple):
        assert len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(left, float | np.floating) and np.isnan(left):
        assert np.isnan(right), where
    elif left is pd.NaT or left is pd.NA:
        assert right is left, where
    else:
        assert left == right, where


def assert_same_result(cached: Result, fresh: Result) -> None:
    where = cached.analysis
    assert (cached.analysis, cached.title, cached.primary) == (fresh.analysis, fresh.title, fresh.primary)
    assert_same(dict(cached.params), dict(fresh.params), f"{where}.params")
    assert_same(dict(cached.published), dict(fresh.published), f"{where}.published")
    assert cached.publication == fresh.publication, where
    assert cached.diagnostics == fresh.diagnostics, where
    assert cached.notes == fresh.notes, where
    assert cached.to_json() == fresh.to_json()  # what --json prints, too


# ------------------------------------------------------------------------------------------------
# A Result on disk
# ------------------------------------------------------------------------------------------------


def test_a_result_reads_back_exactly_with_every_kind_of_value(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "cohort": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
        "eligible": pd.array([10, None, 3], dtype="Int64"), "rate": [0.1 + 0.2, np.nan, 1 / 3],
        "label": ["x", None, "z"],
        "at": pd.to_datetime(["2025-01-01T10:00:00.123456789Z", None, "2025-03-01T00:00:00.000000000Z"]),
        "flag": [True, False, True], "big": np.array([2**62, -1, 0], dtype="int64"),
        "missing": np.array([pd.NA, None, float("nan")], dtype=object),
        "numbers": np.array([1.5, None, 2.0], dtype=object), "mixed": np.array([13, 13.0, pd.NA], dtype=object)},
        index=[5, 7, 9])
    assert table["missing"].iloc[0] is pd.NA
    table.attrs["suppression"] = SuppressionSummary(5, 1, 2, ((("cohort",), ("a",)),))
    table.attrs["diagnostics"] = (Diagnostic("ess", "small", severity="warning", value=3.5),)
    published = {"rates": table, "empty": table.iloc[0:0], "raw": 0.1 + 0.2, "nan": float("nan"), "inf": float("-inf"),
                 "count": np.int64(7), "share": np.float32(0.25), "when": datetime(2025, 1, 2, 3, tzinfo=UTC),
                 "stamp": pd.Timestamp("2025-01-02T03:04:05.000000001Z"), "day": date(2025, 1, 2), "nat": pd.NaT,
                 "na": pd.NA, "span": timedelta(days=3, seconds=5), "money": decimal.Decimal("12.30"),
                 "nested": {"a": [1, (2, "3")], ("x", 1): {"deep": table[["rate"]]}}, "none": None,
                 "series": pd.Series([1.5, np.nan], name="s"), "text": "plain"}
    result = Result("conversion", {"windows": (30, 90), "as_of": datetime(2025, 6, 1, tzinfo=UTC), "by": ()},
                    {"secret": "exact figures"}, published, Publication(5, suppression_applied=True, withheld=("x",),
                                                                        note="hidden"),
                    (Diagnostic("balance", "poor", "trim", value=0.3, threshold=0.1),), ("a note",), "rates", "Title")
    write_result(result, tmp_path)
    back = read_result(tmp_path)
    assert back.exact == {}  # the cache never holds the exact figures
    assert [type(c) for c in back["rates"]["mixed"]] == [int, float, type(pd.NA)]
    assert "exact figures" not in "".join(p.read_text(errors="ignore") for p in tmp_path.iterdir())
    assert_same(dict(back.published), dict(result.published), "published")
    assert back.publication == result.publication
    assert back.diagnostics == result.diagnostics
    assert back.params == result.params
    assert (back.notes, back.primary, back.title) == (result.notes, result.primary, result.title)


def test_a_value_the_cache_cannot_hold_faithfully_is_refused_not_changed(tmp_path: Path) -> None:
    for i, value in enumerate([object(), pd.DataFrame({1: [1]}), pd.DataFrame({"mixed": [1, "a"]})]):
        folder = tmp_path / str(i)
        folder.mkdir()
        with pytest.raises(Uncacheable):
            write_result(Result("x", {}, {}, {"v": value}, Publication(5)), folder)


# ------------------------------------------------------------------------------------------------
# The data version
# ------------------------------------------------------------------------------------------------


def _members(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, ["member_id", "email", "joined_at", "consent"], rows)


def test_every_write_that_can_change_a_figure_moves_the_version_and_reads_do_not(workspace: Path,
                                                                                tmp_path: Path) -> None:
    with Engine(workspace) as engine:
        seen = [engine.data_version().key]

        def moved() -> bool:
            key = engine.data_version().key
            new = key not in seen
            seen.append(key)
            return new

        engine.load("members", _members(tmp_path / "m.csv", [["m1", "a@x.io", "2025-01-01", "true"],
                                                             ["m2", "b@x.io", "2025-01-02", "true"]]), now=NOW)
        assert moved()
        engine.status()
        engine.community_metrics()
        engine.crm_records()
        assert not moved()  # reading, and what a CRM push would send, change nothing
        engine.load("members", _members(tmp_path / "m2.csv", [["m1", "a@y.io", "2025-01-01", "true"]]),
                    replace=True, now=NOW)
        assert moved()  # a correction
        engine.resolve_identities()
        assert moved()
        engine.override_identity("m:m1", "m:m2", "unlink")
        assert moved()
        engine.scores("members", save=True)
        assert moved()  # score changes read the snapshots
        engine.forget("m2")
        assert moved()
        version = engine.data_version().version
    with Engine(workspace, read_only=True) as reader:
        assert reader.data_version().version == version
        assert reader.data_version().loaded_at is not None
        assert not reader.data_version().snapshot


def test_a_load_that_died_before_moving_the_counter_still_changes_the_version(workspace: Path, tmp_path: Path) -> None:
    with Engine(workspace) as engine:
        before = engine.data_version()
        engine._store_changed = lambda: None  # type: ignore[method-assign]  # as if it died right after the commit
        engine.load("members", _members(tmp_path / "m.csv", [["m1", "a@x.io", "2025-01-01", "true"]]), now=NOW)
        after = engine.data_version()
    assert after.version == before.version
    assert after.key != before.key  # the ledger's latest load is part of it


#: the migration that made the data version (a store older than it has none)
DATA_VERSION_MIGRATION = 8


def test_an_older_store_gets_the_version_table_on_open(workspace: Path) -> None:
    with Engine(workspace) as engine:  # a store as the migration before the data version left it
        engine.store.con.execute("drop table data_version")
        engine.store.con.execute("drop table identity_near_links")  # migration 9's
        engine.store.con.execute("delete from schema_migrations where version >= ?", [DATA_VERSION_MIGRATION])
    with Engine(workspace, read_only=True) as engine:  # a reader brings it up to date once, like every migration
        assert engine.data_version().version == 1
        assert engine.store.con.execute("select max(version) from schema_migrations").fetchone() == (len(MIGRATIONS),)
    with Engine(workspace) as engine:  # run again over the tables they made: still one version
        engine.store.con.execute("delete from schema_migrations where version >= ?", [DATA_VERSION_MIGRATION])
    with Engine(workspace, read_only=True) as engine:
        assert engine.store.con.execute("select count(*) from data_version").fetchone() == (1,)


# ------------------------------------------------------------------------------------------------
# Cached = fresh, on the report's own Results
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cache") / "ws"
    engine, _ = Engine.demo(folder, members=600, seed=7)
    engine.close()
    return folder


def _page(engine: Engine, results: list[Result] | None = None) -> str:
    """The report's page without its time of writing; ``results`` collects every Result the Engine returned."""
    if results is not None:
        run = engine.run

        def recorded(analysis: str, **params: Any) -> Result:
            result = run(analysis, **params)
            results.append(result)
            return result

        engine.run = recorded  # type: ignore[method-assign]
    return re.sub(r"generated <time[^<]*</time>", "", render_html(build_report(engine)))


def test_every_cached_result_of_the_report_equals_the_fresh_one_and_so_does_the_page(demo: Path) -> None:
    fresh: list[Result] = []
    with Engine(demo, read_only=True, cache=True) as engine:
        cold = _page(engine, fresh)
        assert engine.cache is not None
        stats = engine.cache.stats.as_dict()
        version = engine.data_version()
    assert stats["misses"] >= 10
    assert stats["uncacheable"] == 0
    assert stats["hits"] == 0
    cached: list[Result] = []
    with Engine(demo, read_only=True, cache=True) as engine:
        warm = _page(engine, cached)
        assert engine.cache is not None
        assert engine.cache.stats.as_dict() == {"hits": stats["misses"], "misses": 0, "uncacheable": 0}
    assert warm == cold
    assert len(cached) == len(fresh) >= stats["misses"]
    for hit, computed in zip(cached, fresh, strict=True):
        assert_same_result(hit, computed)  # bit for bit: what was computed is what is read back
    assert len(list((demo / "cache" / version.key).iterdir())) == stats["misses"]
    with Engine(demo, read_only=True) as engine:
        assert _page(engine) == cold  # and no cache at all gives the same page
        for hit in cached:  # the parameters kept are the question asked: run again, the same answer
            again = engine.run(hit.analysis, **hit.params)
            for name in hit.frames():  # DuckDB's parallel sums may differ in the last bit between two runs
                pd.testing.assert_frame_equal(hit[name], again[name], rtol=1e-12, obj=f"{hit.analysis}.{name}")


def test_exact_figures_never_come_from_the_cache(demo: Path) -> None:
    with Engine(demo, read_only=True, cache=True) as engine:
        published = engine.community_metrics()
        exact = engine.community_metrics(exact=True)
    assert published.exact == {}
    assert exact.publication.exact
    assert exact.exact


def test_cached_reads_back_what_the_cache_holds_and_never_computes(demo: Path) -> None:
    import shutil

    shutil.rmtree(demo / "cache", ignore_errors=True)
    try:
        with Engine(demo, read_only=True, cache=True) as engine:
            assert engine.cache is not None
            assert engine.cached("community") is None
            assert engine.cache.stats.as_dict() == {"hits": 0, "misses": 0, "uncacheable": 0}  # nothing computed
            computed = engine.community_metrics()
            hit = engine.cached("community", as_of=None)
        assert hit is not None
        assert_same_result(hit, computed)
        with Engine(demo, read_only=True) as engine:
            assert engine.cached("community") is None  # an Engine without a results cache
    finally:
        shutil.rmtree(demo / "cache", ignore_errors=True)  # the other tests count their own misses


def test_a_load_invalidates_and_the_next_result_counts_it(demo: Path, tmp_path: Path) -> None:
    with Engine(demo, read_only=True, cache=True) as engine:
        before = engine.run("scores.accounts")
        old = engine.data_version().key
    assert (demo / "cache" / old).is_dir()
    accounts = write_csv(tmp_path / "accounts.csv", ["account_id", "name", "domain"],
                         [["new-co", "New Co", "new-co.example"]])
    with Engine(demo) as writer:
        writer.load("accounts", accounts, now=NOW)
        new = writer.data_version().key
        assert (demo / "cache" / old).is_dir()  # readers of the read copy still use it while the writer works
    assert new != old
    assert not (demo / "cache" / old).exists()  # gone when the writer closed
    assert [p.name for p in (demo / "cache").iterdir()] == [new]
    with Engine(demo, read_only=True, cache=True) as engine:
        after = engine.run("scores.accounts")
        assert engine.cache is not None
        assert engine.cache.stats.misses == 1
    assert len(after["accounts"]) == len(before["accounts"]) + 1
    assert "new-co" in set(after["accounts"]["account_id"])


def test_a_settings_change_is_another_key(demo: Path) -> None:
    with Engine(demo, read_only=True, cache=True) as engine:
        engine.run("scores.accounts")
    config = parse_config({"privacy": {"min_cell_size": 11}})
    with Engine(demo, read_only=True, cache=True, config=config) as engine:
        engine.run("scores.accounts")
        assert engine.cache is not None
        assert engine.cache.stats.misses == 1


def test_a_change_of_code_is_another_key_though_the_release_number_stays(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    (package / "metrics").mkdir(parents=True)
    (package / "metrics" / "rate.py").write_text("RATE = 1\n")
    before = code_digest(package)
    assert code_digest(package) == before
    (package / "metrics" / "rate.py").write_text("RATE = 2\n")
    edited = code_digest(package)
    (package / "metrics" / "rate.py").rename(package / "metrics" / "rates.py")
    renamed = code_digest(package)
    assert len({before, edited, renamed}) == 3
    # and the key of a Result follows the code it was computed with
    key = cache_key("conversion", {"windows": [30]}, "settings")
    monkeypatch.setattr("commetrics.engine.cache._code_version", lambda: edited)
    assert cache_key("conversion", {"windows": [30]}, "settings") != key


# ------------------------------------------------------------------------------------------------
# Erasure: the cache and the read copy go first
# ------------------------------------------------------------------------------------------------


def test_an_erasure_deletes_the_cache_and_read_copy_before_it_deletes_and_they_come_back_without_the_person(
        workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import commetrics.engine.privacy as privacy_part
    from commetrics.store import connect

    rows = [[f"member-{i:04d}-x", f"p{i}@x.io", "2025-01-01", "true"] for i in range(30)]
    with Engine(workspace) as engine:
        engine.load("members", _members(tmp_path / "m.csv", rows), now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                                            [[f"a{i}", r[0], "2025-02-01", "post"] for i, r in enumerate(rows)]),
                    now=NOW)
    snapshot = workspace / "commetrics.snapshot.duckdb"
    assert snapshot.is_file()

    def holding(person: str) -> list[str]:
        """The cached Results that list ``person``."""
        entries = [p.parent for p in (workspace / "cache").rglob("result.json")]
        return [str(e) for e in entries if person in set(read_result(e).table["member_id"])]

    with Engine(workspace, read_only=True, cache=True) as engine:
        engine.run("scores.members")  # a person-level list: the members with consent
    assert holding("member-0007-x")
    seen: list[tuple[bool, bool]] = []
    real = privacy_part.forget

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append((snapshot.exists(), (workspace / "cache").exists()))
        return real(*args, **kwargs)

    monkeypatch.setattr(privacy_part, "forget", watched)
    with Engine(workspace) as engine:
        engine.forget("p7@x.io")
    assert seen == [(False, False)]  # both gone before anything was deleted from the store
    assert snapshot.is_file()  # published again when the erasure closed, without the person
    with connect(snapshot, read_only=True) as con:
        assert con.execute("select count(*) from members").fetchone() == (29,)
    with Engine(workspace, read_only=True, cache=True) as engine:
        assert "member-0007-x" not in set(engine.run("scores.members").table["member_id"])
    assert not holding("member-0007-x")
    assert holding("member-0008-x")


# ------------------------------------------------------------------------------------------------
# Reads go on while another process writes
# ------------------------------------------------------------------------------------------------

WRITER = """
import sys
from commetrics import Engine
engine = Engine(sys.argv[1])
engine.load("accounts", sys.argv[2])  # written to the store, not yet to the read copy
print("ready", flush=True)
sys.stdin.read()  # hold the store for writing until the test closes stdin
engine.close()
"""


def _writer(workspace: Path, path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(workspace), str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", process.stderr.read() if process.stderr else ""
    return process


def test_a_reader_reads_the_read_copy_at_once_while_another_process_writes(demo: Path, tmp_path: Path) -> None:
    with Engine(demo, read_only=True, cache=True) as engine:
        accounts = engine.status().tables["accounts"]
        expected = build_summary_json(demo)
        loaded_at = engine.data_version().loaded_at
    extra = write_csv(tmp_path / "more.csv", ["account_id", "name"], [["while-1", "While Co"]])
    config = parse_config({"store": {"lock_wait_seconds": 5}})
    holder = _writer(demo, extra)
    try:
        started = time.monotonic()
        with Engine(demo, read_only=True, config=config) as engine:
            assert time.monotonic() - started < 2  # no waiting for the writer
            version = engine.data_version()
            assert version.snapshot
            assert version.loaded_at == loaded_at
            assert "data as of the last completed load" in version.note()
            assert engine.status().tables["accounts"] == accounts  # the store as it was before the load
        cli = CliRunner().invoke(app, ["summary", "--json", "-w", str(demo)])
        assert cli.exit_code == 0, cli.output
        printed = json.loads(cli.output)
        assert printed["cards"] == expected["cards"]
        assert "data as of the last completed load" in printed["freshness"]
        text = CliRunner().invoke(app, ["summary", "-w", str(demo)])
        assert "Another command was changing the workspace" in text.output
        with pytest.raises(StoreUnavailableError):  # a writer still waits, and says busy
            Engine(demo, config=parse_config({"store": {"lock_wait_seconds": 0.2}}))
    finally:
        _, err = holder.communicate(timeout=60)
        assert holder.returncode == 0, err
    with Engine(demo, read_only=True) as engine:
        assert not engine.data_version().snapshot
        assert engine.status().tables["accounts"] == accounts + 1
    with Engine(demo, read_only=True, config=config) as engine:
        assert engine.status().tables["accounts"] == accounts + 1


def build_summary_json(workspace: Path) -> dict[str, Any]:
    cli = CliRunner().invoke(app, ["summary", "--json", "-w", str(workspace)])
    assert cli.exit_code == 0, cli.output
    out: dict[str, Any] = json.loads(cli.output)
    return out


def test_without_a_read_copy_readers_wait_for_the_writer_as_before(workspace: Path, tmp_path: Path) -> None:
    (workspace / "commetrics.toml").write_text("[store]\nread_copy = false\nlock_wait_seconds = 0.2\n",
                                               encoding="utf-8")
    with Engine(workspace) as engine:
        engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "name"], [["a1", "A"]]), now=NOW)
    assert not (workspace / "commetrics.snapshot.duckdb").exists()
    holder = _writer(workspace, write_csv(tmp_path / "b.csv", ["account_id", "name"], [["b1", "B"]]))
    try:
        with pytest.raises(StoreUnavailableError, match="cannot read it now"):
            Engine(workspace, read_only=True)
    finally:
        holder.communicate(timeout=60)


def test_the_same_question_asked_by_two_engines_at_once_is_computed_once(demo: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A dashboard's summary and one of its pages often ask the same question at the same moment: the second
    Engine waits for the first one's Result instead of computing it beside it; a wait ends when its Engine is
    interrupted (a server stopping)."""
    import threading

    from commetrics.engine.analyses import AnalysesPart

    shutil_cache = demo / "cache"
    computed, entered, release = [], threading.Event(), threading.Event()
    compute = AnalysesPart._compute

    def slow(self: Engine, entry: Any, spec: Any) -> Any:
        computed.append(entry.name)
        entered.set()
        assert release.wait(30)
        return compute(self, entry, spec)

    monkeypatch.setattr(AnalysesPart, "_compute", slow)
    import shutil

    shutil.rmtree(shutil_cache, ignore_errors=True)
    engines = [Engine(demo, read_only=True, cache=True) for _ in range(3)]
    answers: dict[int, Any] = {}
    waits: list[str] = []

    @contextlib.contextmanager
    def aside() -> Iterator[None]:  # what a pool of Engines does: lends the waiting one's place meanwhile
        waits.append("lent")
        yield
        waits.append("taken back")

    engines[1].waiting = aside

    def ask(n: int) -> None:
        try:
            answers[n] = engines[n].community_metrics()
        except Exception as exc:  # the interrupted wait
            answers[n] = exc

    try:
        first = threading.Thread(target=ask, args=(0,))
        first.start()
        assert entered.wait(30)
        second, third = (threading.Thread(target=ask, args=(n,)) for n in (1, 2))
        second.start()
        third.start()
        time.sleep(0.3)
        engines[2].interrupt()  # the third stops waiting at once
        third.join(timeout=10)
        assert isinstance(answers[2], StoreUnavailableError)
        release.set()
        first.join(timeout=60)
        second.join(timeout=60)
    finally:
        release.set()
        for engine in engines:
            engine.close()
        shutil.rmtree(shutil_cache, ignore_errors=True)  # the other tests count their own misses
    assert computed == ["community"]
    assert_same_result(answers[1], answers[0])
    assert waits == ["lent", "taken back"]


def test_an_attribution_s_journeys_are_built_once_for_every_model_and_engine_of_one_data_version(
        demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary's attribution (every model with intervals) and the dashboard's attribution pages (all models, one
    model) read the same journeys: with a results cache they are built once per data version in the process, an
    Engine that asks while another builds them waits, and the figures are those built for each alone."""
    import shutil
    import threading

    from commetrics.metrics import attribution_analysis

    built: list[datetime] = []
    entered, release = threading.Event(), threading.Event()
    build = attribution_analysis.build_journeys

    def slow(db: Any, **asked: Any) -> Any:
        built.append(asked["as_of"])
        entered.set()
        assert release.wait(30)
        return build(db, **asked)

    monkeypatch.setattr(attribution_analysis, "build_journeys", slow)
    shutil.rmtree(demo / "cache", ignore_errors=True)
    engines = [Engine(demo, read_only=True, cache=True) for _ in range(2)]
    answers: dict[str, Result] = {}
    try:
        first = threading.Thread(target=lambda: answers.update(ci=engines[0].attribution("all", ci=True)))
        first.start()
        assert entered.wait(30)
        second = threading.Thread(target=lambda: answers.update(all=engines[1].attribution("all")))
        second.start()
        time.sleep(0.3)
        release.set()
        first.join(timeout=60)
        second.join(timeout=60)
        answers["linear"] = engines[1].attribution("linear")
        assert len(built) == 1
        other = engines[0].attribution("all", lookback_days=30)  # other journeys
        assert len(built) == 2
        engines[0].cache.clear()  # type: ignore[union-attr]  # an erasure: nothing stays in memory
        engines[0].attribution("linear", lookback_days=30)
        assert len(built) == 3
    finally:
        release.set()
        for engine in engines:
            engine.close()
        shutil.rmtree(demo / "cache", ignore_errors=True)
    alone = Engine(demo, read_only=True)
    try:
        for name, params in (("ci", {"ci": True}), ("all", {}), ("linear", {"models": ("linear",)})):
            fresh = alone.run("attribution", **params)
            pd.testing.assert_frame_equal(answers[name]["models"], fresh["models"])
        pd.testing.assert_frame_equal(other["models"], alone.attribution("all", lookback_days=30)["models"])
    finally:
        alone.close()


def test_what_a_conversion_s_breakdowns_share_is_computed_once_per_data_version_for_every_engine(
        demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's conversion pages (all members, by entry path, by join month) each compute their own cohort
    base, but what does not depend on the cohort key — whether contacts never joined, the non-member baseline —
    once per data version with a results cache; the rates are those computed alone."""
    import shutil

    from commetrics.metrics import conversion_analysis

    asked: list[int] = []
    never_joined = conversion_analysis.has_never_joined_contacts

    def counted(db: Any) -> bool:
        asked.append(1)
        return never_joined(db)

    monkeypatch.setattr(conversion_analysis, "has_never_joined_contacts", counted)
    shutil.rmtree(demo / "cache", ignore_errors=True)
    engines = [Engine(demo, read_only=True, cache=True) for _ in range(2)]
    try:
        name = engines[0].config.summary.conversion
        rates = {key: engines[n % 2].conversion(name, by=[key] if key else []) for n, key in
                 enumerate(("", "entry_path", "join_month"))}
        assert len(asked) == 1
    finally:
        for engine in engines:
            engine.close()
        shutil.rmtree(demo / "cache", ignore_errors=True)
    alone = Engine(demo, read_only=True)
    try:
        for key, result in rates.items():
            fresh = alone.conversion(name, by=[key] if key else [])
            for figure in ("rates", "time_to_conversion"):
                pd.testing.assert_frame_equal(result[figure], fresh[figure])
    finally:
        alone.close()
    assert len(asked) == 4  # without a cache, each computed its own


def test_shared_data_is_bounded_in_bytes_follows_the_data_version_and_a_failure_is_computed_again() -> None:
    from commetrics.engine.cache import _Shared

    shared = _Shared(most=16, most_bytes=1_000)
    computed: list[str] = []

    def array(name: str) -> Any:
        computed.append(name)
        return np.zeros(50)  # 400 bytes

    for name in ("a", "b", "a", "c"):  # "a" read again before "c": "b" is the least recently read
        shared.get(("ws", "v1", name), lambda name=name: array(name), lambda: False)
    assert computed == ["a", "b", "c"]
    assert [ident[2] for ident in shared._kept] == ["a", "c"]  # 1,200 bytes would be over the bound
    shared.get(("ws", "v2", "a"), lambda: array("a2"), lambda: False)
    assert [ident[1] for ident in shared._kept] == ["v2"]  # another data version: the old ones go at once

    def failing() -> Any:
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        shared.get(("ws", "v2", "b"), failing, lambda: False)
    assert shared.get(("ws", "v2", "b"), lambda: array("b2"), lambda: False) is not None
    assert computed[-1] == "b2"
    shared.forget("ws")
    assert not shared._kept
