"""Every analysis the Engine runs gives the same figures on Spark (local[2]) as on DuckDB.

Analyses are Ibis expressions, so the same code runs on both backends. One workspace (the demo,
3,000 members) is opened twice: by an Engine on DuckDB, and by an Engine with ``spark=`` — which
mirrors the store to Parquet and reads it through Ibis's PySpark backend, exactly as
``[engine] backend = "spark"`` does. Counts must be identical; money and rates, computed by summing
in a different order, equal to 1e-9. Model fits (propensity, outcome models, Kaplan–Meier, Markov)
run on the driver over the frames the queries return, so identical frames give identical fits.

One Spark session (local[2], two shuffle partitions: the ``spark`` fixture of conftest.py) serves the
whole test run, since starting one costs 10–30 s; erasure and the command line run here too, on the
same session. The data are small on purpose (3,000 members) so the module suits a two-core machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.metrics.conversion import ConversionSpec, conversion_counts
from commetrics.metrics.impact.renewal import renewal_table

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")

pytestmark = [
    pytest.mark.slow,
    # py4j leaves its gateway sockets for the garbage collector; that is Spark's business, not ours
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

AS_OF = datetime.fromisoformat("2026-06-30T00:00:00+00:00")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from commetrics.demo import generate

    directory = tmp_path_factory.mktemp("spark")
    files = generate(3_000, 4, directory / "data")
    with Engine.init(directory / "ws") as engine, engine.batch():
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
        engine.load("experiments", _experiments(engine, directory / "experiments.csv"), source="demo")
    return directory / "ws"


def _experiments(engine: Engine, path: Path) -> Path:
    """The demo holds no experiments: an A/B test of members and a campaign reaching half the accounts."""
    from commetrics.metrics.causal import assign

    from .conftest import write_csv

    members = sorted(engine.ibis().table("members").member_id.execute())[:2_000]
    accounts = sorted(engine.ibis().table("accounts").account_id.execute())
    rows = [["welcome-email", m, assign(m, "welcome-email", ["control", "treatment"]), "2026-02-01"] for m in members]
    rows += [["spring", a, "treatment" if i % 2 else "control", "2026-03-01"] for i, a in enumerate(accounts)]
    return write_csv(path, ["experiment", "unit_id", "variant", "exposed_at"], rows)


@pytest.fixture(scope="module")
def engines(demo: Path, spark: Any) -> Iterator[tuple[Engine, Engine]]:
    with Engine(demo, read_only=True) as duck, Engine(demo, read_only=True, spark=spark) as on_spark:
        assert on_spark.backend == "spark"
        yield duck, on_spark


def _same(left: Any, right: Any, where: str) -> None:
    """Frames and values equal: exactly for counts and labels, to 1e-9 for floats."""
    if isinstance(left, pd.DataFrame):
        assert list(left.columns) == list(right.columns), where
        pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True), check_dtype=False,
                                      check_exact=False, rtol=1e-9, obj=where)
    elif isinstance(left, Mapping):
        assert set(left) == set(right), where
        for key in left:
            _same(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, float) and isinstance(right, float):
        assert left == pytest.approx(right, rel=1e-9, nan_ok=True), where
    else:
        assert left == right, where


def _both(engines: tuple[Engine, Engine], call: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    duck, on_spark = engines
    return getattr(duck, call)(*args, **kwargs), getattr(on_spark, call)(*args, **kwargs)


@pytest.mark.parametrize("by", [(), ("entry_path",), ("join_month",), ("join_week",), ("first_activity",),
                                ("segment",), ("program",), ("arr:10000,100000",)])
def test_conversion_counts_are_identical_on_spark_and_duckdb(engines, by) -> None:  # type: ignore[no-untyped-def]
    duck_engine, spark_engine = engines
    spec = ConversionSpec("trial", ("trial_start", "purchase"), windows=(7, 30, 90), by=by)
    duck = conversion_counts(duck_engine.ibis(), spec, AS_OF, "UTC")
    spark = conversion_counts(spark_engine.ibis(), spec, AS_OF, "UTC")
    columns = list(duck.columns)
    counts = [c for c in columns if c not in by]
    left = duck[columns].astype(dict.fromkeys(counts, "int64")).reset_index(drop=True)
    right = spark[columns].astype(dict.fromkeys(counts, "int64")).sort_values(list(by) or columns).reset_index(
        drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert left[[c for c in counts if c.startswith("converters_")]].to_numpy().sum() > 0


def test_conversion_rates_curves_and_timing(engines) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "conversion", "trial_after_join", by=["entry_path"], curves=True, as_of=AS_OF,
                        exact=True)
    for table in ("rates", "time_to_conversion", "curves"):
        _same(duck.exact[table], spark.exact[table], table)
    assert duck.exact["rates"]["converters"].sum() > 0
    assert len(duck.exact["curves"]) > 10


@pytest.mark.parametrize("anchor", ["join", "outcome:purchase"])
def test_revenue_and_repeat_purchases(engines, anchor: str) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "conversion", outcome=["purchase", "upgrade"], anchor=anchor, by=["segment"],
                        windows=[30, 180], as_of=AS_OF, exact=True)
    for table in ("rates", "time_to_conversion"):
        _same(duck.exact[table], spark.exact[table], table)
    assert duck.exact["rates"]["revenue"].sum() > 0


def test_attribution_journeys_from_the_store(engines) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "attribution", ["first", "last", "linear", "time_decay", "markov"], as_of=AS_OF,
                        exact=True)
    _same(dict(duck.exact), dict(spark.exact), "attribution")
    assert duck.exact["models"]["conversions"].sum() > 0


def test_impact_renewal_data_and_estimates(engines) -> None:  # type: ignore[no-untyped-def]
    """The per-renewal frame is built by the engine; the fits run on the driver over it."""
    duck_engine, spark_engine = engines
    settings = duck_engine.config.impact
    duck = renewal_table(duck_engine.ibis(), settings, AS_OF)
    spark = renewal_table(spark_engine.ibis(), settings, AS_OF)
    _same(duck, spark, "renewal_table")
    assert len(duck) > 100
    duck_result, spark_result = _both(engines, "impact", "renewal", as_of=AS_OF, exact=True)
    _same(duck_result.exact["levels"], spark_result.exact["levels"], "levels")
    _same(duck_result.exact["adjusted"], spark_result.exact["adjusted"], "adjusted")


@pytest.mark.parametrize(("question", "params"), [
    ("retention", {}), ("nps", {}), ("csat", {}), ("upsell", {}), ("feedback", {}),
    ("exposure", {"exposure": "program:ama", "outcome": "purchase"}),
    ("experiment", {"experiment": "welcome-email", "outcome": "purchase"}),
    ("campaign", {"name": "spring", "outcome": "purchase"}),
])
def test_impact_questions(engines, question: str, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "impact", question, as_of=AS_OF, exact=True, **params)
    assert duck.exact, question
    _same(dict(duck.exact), dict(spark.exact), f"impact.{question}")


def test_health_validation(engines) -> None:  # type: ignore[no-untyped-def]
    """Health taken before each renewal: the frame comes from the engine, AUC and its bootstrap from the driver."""
    duck, spark = _both(engines, "validate_health", as_of=AS_OF, replicates=50)
    _same(dict(duck.exact), dict(spark.exact), "scores.validation")

@pytest.mark.parametrize("level", ["members", "accounts"])
def test_scores(engines, level: str) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "scores", level, as_of=AS_OF, exact=True)
    _same(dict(duck.exact), dict(spark.exact), f"scores.{level}")


def test_community_metrics(engines) -> None:  # type: ignore[no-untyped-def]
    duck, spark = _both(engines, "community_metrics", as_of=AS_OF, exact=True)
    _same(dict(duck.exact), dict(spark.exact), "community")


def test_the_cli_gives_the_same_counts_on_either_backend(demo: Path, spark: Any) -> None:
    """Done when: `commetrics conversion NAME --json` agrees with backend = "spark" and "duckdb" on one
    workspace (the command finds the session already running, as under spark-submit or in a notebook)."""
    runner = CliRunner()
    config = demo / "commetrics.toml"
    original = config.read_text(encoding="utf-8")

    def counts() -> pd.DataFrame:
        out = runner.invoke(app, ["conversion", "trial_after_join", "--by", "entry_path", "--json",
                                  "--as-of", "2026-06-30", "--workspace", str(demo)])
        assert out.exit_code == 0, out.output
        rates = pd.DataFrame(json.loads(out.stdout)["rates"])
        return rates[["cohort", "window_days", "eligible", "in_progress", "converters", "existing_customers"]]

    try:
        on_duckdb = counts()
        config.write_text(original + '\n[engine]\nbackend = "spark"\n', encoding="utf-8")
        on_spark = counts()
    finally:
        config.write_text(original, encoding="utf-8")
    assert spark.sparkContext._jsc is not None  # the command used the running session and left it running
    pd.testing.assert_frame_equal(on_duckdb, on_spark)
    assert on_duckdb["converters"].sum() > 0


def test_forget_reaches_spark(tmp_path: Path, spark: Any) -> None:
    """Privacy holds on Spark: after `forget`, the person is in no Parquet file and no Spark query; and
    a load after the views were made is read at once (Spark never reads a stale mirror)."""
    from .conftest import load, write_csv

    members = write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at", "consent"], [
        ["m-ada", "ada@example.org", "2026-01-05", "true"], ["m-bob", "bob@example.org", "2026-01-06", "true"]])
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
        ["a1", "m-ada", "2026-02-01", "post"], ["a2", "m-bob", "2026-02-02", "post"]])
    with Engine.init(tmp_path / "ws") as setup:
        load(setup, "members", members)
    with Engine(tmp_path / "ws", spark=spark) as engine:
        assert engine.consenting_members() == {"m-ada", "m-bob"}  # views made over the first load
        load(engine, "activities", activities)
        assert engine.ibis().table("activities").count().execute() == 2  # the new load is read
        engine.forget("ada@example.org")
        db = engine.ibis()
        assert set(db.table("members").member_id.execute()) == {"m-bob"}
        assert set(db.table("activities").member_id.execute()) == {"m-bob"}
        assert set(db.table("people").member_id.execute()) == {"m-bob"}
        blob = b"".join(p.read_bytes() for p in engine.mirror().folder.rglob("*.parquet"))
    assert b"m-ada" not in blob
    assert b"ada@example.org" not in blob
