"""Property tests: for any mix of rows, the loader agrees with a plain Python model of the rules."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from commetrics import Engine

from .conftest import NOW, assert_conserved, assert_keys_unique, write_csv

KEYS = [f"k{i}" for i in range(8)]
TIMESTAMPS = ["2025-01-01", "2025-01-02T10:00:00Z", " 2025-03-04 ", "not a date", "2099-01-01", ""]
TYPES = ["post", "reply", "Accepted Answer", "dancing", ""]
VALID_TS = {"2025-01-01", "2025-01-02T10:00:00Z", " 2025-03-04 "}
VALID_TYPES = {"post", "reply", "Accepted Answer"}

rows_strategy = st.lists(
    st.tuples(st.sampled_from([*KEYS, ""]), st.sampled_from(["m1", "m2"]), st.sampled_from(TIMESTAMPS),
              st.sampled_from(TYPES)),
    max_size=30,
)


def _model(rows: list[tuple[str, str, str, str]]) -> tuple[int, int, int]:
    """(loaded, quarantined, duplicates) of a first load, by the documented rules."""
    loaded: dict[str, tuple[str, str, str]] = {}
    quarantined = duplicates = 0
    for key, member, ts, kind in rows:
        if not key or ts.strip() not in {t.strip() for t in VALID_TS} or kind not in VALID_TYPES:
            quarantined += 1
            continue
        content = (member, ts.strip(), kind.lower().replace(" ", "_"))
        if key not in loaded:
            loaded[key] = content
        elif loaded[key] == content:
            duplicates += 1
        else:
            quarantined += 1  # same key, other content: duplicate_key_conflict
    return len(loaded), quarantined, duplicates


@settings(max_examples=40, deadline=None)
@given(rows=rows_strategy)
def test_loader_matches_the_model_and_reloading_adds_nothing(rows: list[tuple[str, str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Engine.in_memory() as engine:
        path = write_csv(Path(tmp) / "a.csv", ["activity_id", "member_id", "ts", "type"], rows)
        first = engine.load("activities", path, now=NOW)
        assert_conserved(engine, first)
        assert_keys_unique(engine, "activities")
        assert (first.rows_read, (first.rows_loaded, first.rows_quarantined, first.rows_duplicate)) == (
            len(rows), _model(rows))
        second = engine.load("activities", path, now=NOW)
        assert_conserved(engine, second)
        assert (second.rows_loaded, second.rows_quarantined, second.rows_duplicate) == (0, 0, len(rows))
