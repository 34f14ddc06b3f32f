"""Property-based fuzz of the analyses: any small workspace ends in a Result or one clear error of our own.

Hypothesis draws small workspaces — 0 to 50 members, tables missing, columns all null or single-valued,
text attributes, tied timestamps, one-level groups — and runs every analysis the command line offers
through the Engine, then renders each Result for the terminal and as JSON (what the commands print).
Every run must end in a :class:`~commetrics.results.Result` or a :class:`~commetrics.errors.CommetricsError`;
any other exception is a traceback a user would see, and fails the test.

One drawn workspace serves every analysis, so N examples give N runs of each command. The workspaces share one
in-memory store per process, emptied between examples, whose Ibis backend remembers the SQL of the
expressions it compiled (:class:`_Store`): compiling, not the data, was most of an example's time. ``make test``
runs ``COMMETRICS_FUZZ_EXAMPLES`` examples, default 25 (about four CPU seconds each after the first few, so
two to three minutes); ``make fuzz`` (``COMMETRICS_FUZZ_EXAMPLES=500``) is the long run, which CI runs after
``make test``: 500 examples took 1,390 CPU seconds (2.8 s each) and passed.
The examples are the same on every run (``derandomize``) and a failure is reported as drawn, without
shrinking, which can take longer than the run itself: the message names the analysis and ends with its
traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from commetrics import Engine, Result
from commetrics.config import Config
from commetrics.errors import CommetricsError
from commetrics.reports.text import render

from .conftest import NOW, write_csv

EXAMPLES = int(os.environ.get("COMMETRICS_FUZZ_EXAMPLES", "25"))
START = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 12, 31, tzinfo=UTC)

ACTIVITY_TYPES = ["post", "question", "webinar_attended", "reaction", "login", "feedback_submitted"]
OUTCOME_TYPES = ["trial_start", "purchase", "lead", "upgrade", "renewal", "churn", "feature_shipped"]
TEXT = st.sampled_from(["yes", "no", "", "fiber", "dsl", "n/a"])
DAY = st.integers(0, 360)


def _ts(day: int, tie: bool) -> str:
    """A day of 2025; ``tie`` puts every event of the day at midnight (tied timestamps)."""
    moment = START + timedelta(days=day, hours=0 if tie else day % 24)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def workspaces(draw: st.DrawFn) -> dict[str, Any]:
    """Rows of each table, as CSV headers and rows (an empty table is not loaded at all)."""
    tie = draw(st.booleans())
    # Half the workspaces are just big enough for the comparisons (40 renewals, answers, members) to run past
    # their "not enough data" refusals; the others are as small as anything.
    deep = draw(st.booleans())
    low = 40 if deep else 0
    n_accounts = draw(st.integers(low, 45))
    accounts = [f"a{i}" for i in range(n_accounts)]
    one_segment = draw(st.booleans())
    account_rows = [[a, "smb" if one_segment else draw(st.sampled_from(["smb", "mid", "ent", ""])),
                     draw(st.sampled_from(["", "1000", "250000", "0"])), draw(TEXT), draw(st.integers(1, 5))]
                    for a in accounts]
    n_members = draw(st.integers(low + 5 if deep else 0, 50))
    members = [f"m{i}" for i in range(n_members)]
    member_rows = [[m, _ts(draw(st.integers(0, 200)), tie), draw(st.sampled_from(["seo", "webinar", ""])),
                    draw(st.sampled_from(["", *accounts])) if accounts else "",
                    draw(st.sampled_from(["true", "false", ""])),
                    draw(st.sampled_from(["false", ""] if deep else ["false", "true", ""])), draw(TEXT)]
                   for m in members]
    pick = st.sampled_from(members) if members else st.just("m0")
    activity_rows = [[f"x{i}", draw(pick), _ts(draw(DAY), tie), draw(st.sampled_from(ACTIVITY_TYPES)),
                      draw(st.sampled_from(["", "ama", "onboarding"]))]
                     for i in range(draw(st.integers(low * 2, 200)))]
    outcome_rows = [[f"o{i}", draw(pick), draw(st.sampled_from(["", *accounts])) if accounts else "",
                     _ts(draw(DAY), tie), draw(st.sampled_from(OUTCOME_TYPES)),
                     draw(st.sampled_from(["", "100", "2500.5"]))]
                    for i in range(draw(st.integers(low, 60)))]
    subscription_rows = [[draw(st.sampled_from(accounts)), _ts(day, tie), _ts(min(day + 180, 364), tie),
                          draw(st.sampled_from(["true", "false"] if deep else ["true", "false", ""]))]
                         for day in (draw(st.integers(0, 150)) for _ in range(draw(st.integers(low, 90))))] \
        if accounts else []
    survey_rows = [[f"s{i}", draw(pick), _ts(draw(DAY), tie), kind, str(draw(st.integers(0, 10) if kind == "nps"
                                                                           else st.integers(1, 5)))]
                   for i, kind in enumerate(draw(st.lists(st.sampled_from(["nps", "csat"]), min_size=2 * low,
                                                          max_size=120)))]
    experiment_rows = [["exp", draw(pick), draw(st.sampled_from(["control", "treatment"])), _ts(draw(DAY), tie)]
                       for _ in range(draw(st.integers(0, 20)))]
    return {
        "accounts": (["account_id", "segment", "arr", "internet_type", "satisfaction"], account_rows),
        "members": (["member_id", "joined_at", "entry_path", "account_id", "consent", "is_staff", "referred"],
                    member_rows),
        "activities": (["activity_id", "member_id", "ts", "type", "program"], activity_rows),
        "outcomes": (["outcome_id", "member_id", "account_id", "ts", "type", "value"], outcome_rows),
        "subscriptions": (["account_id", "period_start", "period_end", "renewed"], subscription_rows),
        "surveys": (["response_id", "member_id", "ts", "kind", "score"], survey_rows),
        "experiments": (["experiment", "unit_id", "variant", "exposed_at"], experiment_rows),
    }


#: Every analysis the command line runs, as an Engine call (the commands are these calls and a rendering).
CALLS: dict[str, Callable[[Engine], Result]] = {
    "conversion": lambda e: e.conversion(outcome="trial_start", by=["entry_path", "segment"], as_of=AS_OF),
    "conversion named": lambda e: e.conversion("trial_after_join", as_of=AS_OF),
    "conversion repeat": lambda e: e.conversion(outcome=["purchase", "upgrade"], anchor="outcome:purchase",
                                                by=["entry_path"], as_of=AS_OF),
    "attribution": lambda e: e.attribution(outcome="purchase", as_of=AS_OF),
    "metrics": lambda e: e.community_metrics(as_of=AS_OF),
    "scores members": lambda e: e.scores("members", as_of=AS_OF),
    "scores accounts": lambda e: e.scores("accounts", as_of=AS_OF),
    "scores validate": lambda e: e.validate_health(as_of=AS_OF, replicates=20),
    "drivers": lambda e: e.drivers(outcome="lead", days=30, window_days=60, as_of=AS_OF),
    "impact renewal": lambda e: e.impact("renewal", as_of=AS_OF),
    "impact retention": lambda e: e.impact("retention", as_of=AS_OF),
    "impact nps": lambda e: e.impact("nps", as_of=AS_OF, replicates=20),
    "impact csat": lambda e: e.impact("csat", as_of=AS_OF, replicates=20),
    "impact upsell": lambda e: e.impact("upsell", as_of=AS_OF, replicates=20),
    "impact feedback": lambda e: e.feedback_contributors(as_of=AS_OF),
    "impact exposure": lambda e: e.impact("exposure", exposure="webinar_attended", outcome="lead",
                                          covariates=["referred"], as_of=AS_OF),
    "impact exposure flag": lambda e: e.impact("exposure", exposure="referred=yes", outcome="purchase",
                                               as_of=AS_OF),
    "impact experiment": lambda e: e.impact("experiment", name="exp", outcomes=("purchase",), as_of=AS_OF),
    "impact campaign": lambda e: e.impact("campaign", name="exp", as_of=AS_OF),
}


CONFIG = Config.model_validate({"impact": {"covariates": ["log:arr", "segment", "internet_type"]},
                                "identity": {"resolve_on_load": False},
                                "engine": {"duckdb": {"threads": 1}}})  # tiny tables: one thread, no hand-offs
#: The store's own table, kept when a store is emptied for the next example.
MIGRATIONS = "schema_migrations"




class _Store:
    """One in-memory store per test process, emptied and loaded again for each example.

    Where an example's time went (cProfile): about two thirds to Ibis compiling each analysis's expressions to
    SQL, and of DuckDB's share more than half to ``DESCRIBE`` queries — every ``db.table(name)`` asks the store
    for the table's schema; creating the store and loading the rows were a small part. Analyses over one store
    build the same expressions for different data, and an expression compiles to the same SQL whatever rows its
    tables hold, so the store's Ibis backend here keeps the SQL of every expression it compiled and, within an
    example, the tables it looked up (:class:`_Remembering`): after the first examples, an example costs its
    loads, its queries and the statistics.
    """

    engine: Engine | None = None
    memory: _Remembering | None = None

    @classmethod
    def with_rows(cls, tables: dict[str, Any], directory: Path) -> Engine:
        if cls.engine is None:
            cls.engine = Engine.in_memory(CONFIG)
            cls.memory = _Remembering(cls.engine.ibis())
        assert cls.memory is not None
        cls.memory.tables.clear()
        con = cls.engine.store.con
        for (name,) in con.execute("select table_name from information_schema.tables where table_schema = 'main' "
                                   "and table_type = 'BASE TABLE'").fetchall():
            if name != MIGRATIONS:
                con.execute(f'delete from "{name}"')
        for table, (header, rows) in tables.items():
            if rows:
                cls.engine.load(table, write_csv(directory / f"{table}.csv", header, rows), now=NOW)
        cls.memory.tables.clear()  # a load may have changed a table
        return cls.engine


class _Remembering:
    """Memoise an Ibis backend's ``compile`` per expression (expressions are immutable, hashed and compared by
    structure; one with query parameters is compiled afresh) and its ``table`` lookups until ``tables`` is
    cleared."""

    def __init__(self, backend: Any) -> None:
        self.sql: dict[tuple[Any, ...], str] = {}
        self.tables: dict[tuple[Any, ...], Any] = {}
        compile_, table = backend.compile, backend.table

        def compile(expr: Any, /, *, limit: Any = None, params: Any = None, pretty: bool = False) -> str:
            if params:
                return str(compile_(expr, limit=limit, params=params, pretty=pretty))
            key = (expr.op(), limit, pretty)
            if key not in self.sql:
                self.sql[key] = compile_(expr, limit=limit, pretty=pretty)
            return self.sql[key]

        def lookup(name: str, /, *args: Any, **kwargs: Any) -> Any:
            key = (name, args, tuple(sorted(kwargs.items())))
            if key not in self.tables:
                self.tables[key] = table(name, *args, **kwargs)
            return self.tables[key]

        backend.compile, backend.table = compile, lookup


def _build(tables: dict[str, Any], directory: Path) -> Engine:
    """A fresh in-memory workspace holding ``tables`` (for a single run outside the fuzz)."""
    engine = Engine.in_memory(CONFIG)
    for table, (header, rows) in tables.items():
        if rows:
            engine.load(table, write_csv(directory / f"{table}.csv", header, rows), now=NOW)
    return engine


def _outcome(engine: Engine, name: str) -> str:
    try:
        result = CALLS[name](engine)
        assert isinstance(result, Result)
        render(result)  # the terminal
        json.loads(result.to_json())  # --json: valid JSON, no NaN
    except CommetricsError as error:
        message = str(error).strip()
        assert message, f"{name}: an error without a message"
        return "error"
    except Exception as error:  # any other exception is what this test looks for
        raise AssertionError(f"{name} ended in {type(error).__name__}: {error}\n{traceback.format_exc()}") from None
    return "result"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(tables=workspaces())
def test_every_analysis_ends_in_a_result_or_a_clear_error(tables: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = _Store.with_rows(tables, Path(tmp))
        for name in CALLS:
            _outcome(engine, name)
