"""The shared per-unit base: inside ``shared_bases`` each conversion's base is built once per as-of, and every
table, curve and timing read from it equals the one computed without sharing (built for itself)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from commetrics import Engine
from commetrics.metrics.conversion import (
    ConversionSpec,
    conversion_counts,
    conversion_rates,
    cumulative_curves,
    has_never_joined_contacts,
    km_by_cohort,
    prepared,
    time_to_conversion,
)
from commetrics.metrics.conversion_base import active, shared_bases
from commetrics.metrics.conversion_revenue import add_revenue, conversion_revenue

AS_OF = datetime.fromisoformat("2026-06-30T00:00:00+00:00")
KEYS = ("entry_path", "join_month", "join_quarter", "segment", "first_activity", "program")


@pytest.fixture(scope="module")
def workspace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from commetrics.demo import generate

    directory = tmp_path_factory.mktemp("base")
    files = generate(1_500, 5, directory / "data")
    with Engine.init(directory / "ws") as engine, engine.batch():
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
    return directory / "ws"


@pytest.fixture(scope="module")
def demo(workspace_dir: Path) -> Iterator[Engine]:
    with Engine(workspace_dir, read_only=True) as engine:
        yield engine


def _temporary_tables(engine: Engine) -> set[str]:
    rows = engine.store.con.execute("select table_name from duckdb_tables() where temporary").fetchall()
    return {r[0] for r in rows}


def _figures(engine: Engine, name: str, by: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    result = engine.conversion(name, by=list(by), as_of=AS_OF, curves=True, exact=True)
    return {part: result.exact[part] for part in ("rates", "time_to_conversion", "curves")}


def _unshared(engine: Engine, name: str, by: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The same figures from the metric functions outside any scope: every one builds its own base."""
    assert active() is None
    spec = replace(engine.conversion_spec(name), by=by)
    db = engine.ibis()
    km = km_by_cohort(db, spec, AS_OF, "UTC")
    baseline = spec.unit == "person" and spec.anchor == "join" and has_never_joined_contacts(db)
    rates = conversion_rates(db, spec, as_of=AS_OF, baseline=baseline)
    revenue, _ = conversion_revenue(db, spec, AS_OF, "UTC")
    return {"rates": rates if revenue is None else add_revenue(rates, revenue),
            "time_to_conversion": time_to_conversion(db, spec, as_of=AS_OF, km=km),
            "curves": cumulative_curves(db, spec, as_of=AS_OF, km=km)}


@pytest.mark.parametrize("name", ["trial_after_join", "expansion_after_join", "question_resolved"])
def test_every_figure_equals_the_unshared_one(demo: Engine, name: str) -> None:
    """Person and account units, join and activity anchors, the landmark key: the same frames, exactly."""
    breakdowns = [(), *((key,) for key in KEYS), ("entry_path", "program")]
    alone = {by: _unshared(demo, name, by) for by in breakdowns}
    with shared_bases([k for k in KEYS if k != "first_activity"]) as bases:
        shared = {by: _figures(demo, name, by) for by in breakdowns}
        kept = _temporary_tables(demo)
    for by in breakdowns:
        for part, frame in alone[by].items():
            assert len(frame), (by, part)
            pd.testing.assert_frame_equal(shared[by][part], frame, check_exact=True, obj=f"{by} {part}")
    # one base at the anchor for every key the scope names, one more with the key it did not name, one at the
    # landmark (with every key by then)
    assert bases.built == 3
    assert bases.derived <= 2  # each unit's revenue, where the outcomes carry money: at the anchor, the landmark
    assert len(kept) == bases.built + bases.derived
    assert not _temporary_tables(demo)  # dropped when the scope ends
    assert active() is None


def test_one_base_serves_every_key_the_scope_names(demo: Engine) -> None:
    spec = ConversionSpec(name="t", outcomes=("trial_start",))
    with shared_bases(("entry_path", "join_month", "join_quarter")) as bases:
        for by in [(), ("entry_path",), ("join_month",), ("join_quarter",), ("entry_path", "join_month")]:
            counts = conversion_counts(demo.ibis(), ConversionSpec(name="t", outcomes=("trial_start",), by=by),
                                       AS_OF, "UTC")
            assert counts["eligible_90"].sum() > 0
        assert bases.built == 1
        base = prepared(demo.ibis(), spec, AS_OF, "UTC")
        assert {"entry_path", "join_month", "join_quarter"} <= set(base.columns)
        # another as-of is another base
        prepared(demo.ibis(), spec, datetime.fromisoformat("2026-03-31T00:00:00+00:00"), "UTC")
        assert bases.built == 2


def test_a_key_the_store_cannot_answer_fails_only_where_asked(demo: Engine) -> None:
    """A scope naming an unknown attribute still serves the breakdowns that do not ask for it."""
    from commetrics.errors import UnknownNameError

    with shared_bases(("entry_path", "no_such_attribute")):
        plain = _figures(demo, "trial_after_join", ("entry_path",))
        with pytest.raises(UnknownNameError):
            demo.conversion("trial_after_join", by=["no_such_attribute"], as_of=AS_OF)
    pd.testing.assert_frame_equal(plain["rates"], _unshared(demo, "trial_after_join", ("entry_path",))["rates"])


def test_the_report_builds_each_base_once(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from commetrics.metrics import conversion_base
    from commetrics.reports.build import build_report

    built: list[tuple[str, ...]] = []  # the columns of every table the scope built and kept
    scope = conversion_base.SharedBases

    def counting(method):  # type: ignore[no-untyped-def]
        def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            before = self.built + self.derived
            table = method(self, *args, **kwargs)
            if self.built + self.derived > before:
                built.append(tuple(table.columns))
            return table
        return counted

    monkeypatch.setattr(scope, "base", counting(scope.base))
    monkeypatch.setattr(scope, "kept", counting(scope.kept))
    from commetrics.metrics import conversion_analysis

    asked: list[bool] = []
    ask = conversion_analysis.has_never_joined_contacts
    monkeypatch.setattr(conversion_analysis, "has_never_joined_contacts",
                        lambda db: asked.append(ask(db)) or asked[-1])
    from commetrics.metrics import conversion_revenue

    valued: list[tuple[str, ...]] = []  # the pass over every outcome event for the currencies of their values
    events = conversion_revenue.outcome_events
    monkeypatch.setattr(conversion_revenue, "outcome_events",
                        lambda db, outcomes, *rest: valued.append(tuple(outcomes)) or events(db, outcomes, *rest))
    report = build_report(demo, as_of=AS_OF)
    assert asked == [True]  # the store's contacts, asked once for every conversion and key
    assert len(valued) == len(report.conversions)  # the currencies: once per conversion, not per key
    assert report.conversions
    # one base per conversion shown (the summary's conversion among them), never one per key or figure
    bases = [columns for columns in built if "revenue_unit" not in columns]
    assert len(bases) == len(report.conversions)
    assert all({"entry_path", "join_month", "join_quarter", "join_year"} <= set(columns) for columns in bases)
    # and each unit's revenue at most once per conversion, for the conversions whose outcomes carry money
    assert 1 <= len(built) - len(bases) <= len(report.conversions)
    assert not _temporary_tables(demo)


def test_a_conversion_alone_keeps_its_base_only_while_it_runs(demo: Engine) -> None:
    """``Engine.conversion`` shares one base between its rates, baseline, curves and timing, then drops it."""
    shared = _figures(demo, "trial_after_join", ("entry_path",))
    assert not _temporary_tables(demo)
    for part, frame in _unshared(demo, "trial_after_join", ("entry_path",)).items():
        pd.testing.assert_frame_equal(shared[part], frame, check_exact=True)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spark_keeps_the_base_as_a_cached_view(workspace_dir: Path, spark: Any) -> None:
    """On Spark the base is a cached view (typed as the expression typed it): the same figures as DuckDB's."""
    with Engine(workspace_dir, read_only=True) as duck, Engine(workspace_dir, read_only=True, spark=spark) as on_spark:
        for by in [(), ("entry_path",), ("program",)]:
            with shared_bases(("entry_path", "join_month")) as bases:
                left = _figures(duck, "trial_after_join", by)
                right = _figures(on_spark, "trial_after_join", by)
                assert bases.built == 2  # one per backend
            for part, frame in left.items():
                pd.testing.assert_frame_equal(frame.reset_index(drop=True), right[part].reset_index(drop=True),
                                              check_dtype=False, check_exact=False, rtol=1e-9, obj=f"{by} {part}")
        cached = [t for t in spark.catalog.listTables() if t.name.startswith("ibis_cached")]
        assert not cached  # released with the scope
