"""The identity review: pairs the model scored near the match threshold, on both sides of it.

Resolution links the pairs at or above ``[identity] match_threshold`` and keeps those scored at most
``review_margin`` below it (``identity_near_links``) without linking them, so that a person can link them
by hand. A link by hand joins the two records' people at once; ``review_margin = 0`` keeps none.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from commetrics import Engine
from commetrics.config import Config, IdentitySettings

from .test_identity_incremental import AS_OF, _generated_files


def _resolved(paths: dict[str, Path], config: Config | None = None) -> Engine:
    engine = Engine.in_memory(config)
    with engine.batch():
        for table, path in paths.items():
            engine.load(table, path, source="crm", now=AS_OF)
    return engine


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _generated_files(tmp_path_factory.mktemp("review"), 2_000, 3, 1)[0]


def _person(engine: Engine, record: str) -> str:
    return str(engine.store.con.execute("select person_id from people where record_id = ?", [record]).fetchall()[0][0])


def test_pairs_scored_just_below_the_threshold_are_listed_unlinked_and_a_link_by_hand_joins_them(
        files: dict[str, Path]) -> None:
    with _resolved(files) as engine:
        review = engine.identity_review(limit=100_000)
        threshold, margin = 0.9, 0.05
        near = review[review["status"] == "not linked"]
        assert len(near) > 0
        assert near["match_probability"].between(threshold - margin, threshold, inclusive="left").all()
        assert (review.loc[review["status"] != "not linked", "match_probability"] >= threshold).all()
        stored = engine.store.con.execute("select count(*), min(match_probability), max(match_probability) "
                                          "from identity_near_links").fetchall()[0]
        assert stored[0] == len(near)  # every kept pair is within the default margin
        assert threshold - margin <= stored[1] <= stored[2] < threshold
        # the evidence of each comparison comes with the pair
        assert all(isinstance(e, dict) and e for e in near["evidence"])
        # the nearest first, on either side of the threshold
        distance = (review["match_probability"] - threshold).abs()
        assert distance.is_monotonic_increasing
        # a near pair of two people: linked by hand, they are one person, and the pair says so
        apart = next((a, b) for a, b in zip(near["record_a"], near["record_b"], strict=True)
                     if _person(engine, a) != _person(engine, b))
        engine.override_identity(*apart, "link")
        assert _person(engine, apart[0]) == _person(engine, apart[1])
        again = engine.identity_review(limit=100_000)
        row = again[(again["record_a"] == apart[0]) & (again["record_b"] == apart[1])]
        assert row[["status", "decision"]].to_dict("records") == [{"status": "not linked", "decision": "link"}]
        # a narrower margin lists fewer pairs, all within it
        narrow = engine.identity_review(margin=0.01, limit=100_000)
        assert 0 < len(narrow) < len(again)
        assert ((narrow["match_probability"] - threshold).abs() <= 0.01).all()


def test_a_review_margin_of_zero_keeps_no_pair_below_the_threshold_and_links_the_same(
        files: dict[str, Path]) -> None:
    with _resolved(files) as default, _resolved(files, Config(identity=IdentitySettings(review_margin=0))) as none:
        assert none.store.con.execute("select count(*) from identity_near_links").fetchall()[0][0] == 0
        assert (none.identity_review(limit=100_000)["status"] != "not linked").all()
        for table in ("people", "identity_links"):
            query = f"select * from {table} order by all"
            pd.testing.assert_frame_equal(default.store.con.execute(query).df(), none.store.con.execute(query).df())
