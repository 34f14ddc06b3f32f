"""The conversion engine on a real community: the shipped Stack Exchange dump (bicycles.meta).

Support deflection: of the members who asked a first question, how many had one of their
questions resolved by an accepted answer within 1, 7 and 30 days? The expected figures are
worked out below straight from the XML, with no commetrics code, and also written down.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from commetrics import Engine
from commetrics.sources.stackexchange import SAMPLE_DUMP

from .conftest import NOW

AS_OF = datetime(2023, 9, 1, tzinfo=UTC)
WINDOWS = (1, 7, 30)


def _rows(name: str) -> list[dict[str, str]]:
    root = ET.fromstring(gzip.decompress((SAMPLE_DUMP / f"{name}.xml.gz").read_bytes()))
    return [dict(row.attrib) for row in root.iter("row")]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _expected() -> dict[int, tuple[int, int]]:
    posts = {p["Id"]: p for p in _rows("Posts")}
    staff = {"-1"}
    first_question: dict[str, datetime] = {}
    for p in posts.values():
        owner = p.get("OwnerUserId")
        if p["PostTypeId"] == "1" and owner and owner not in staff:
            ts = _instant(p["CreationDate"])
            first_question[owner] = min(first_question.get(owner, ts), ts)
    votes = {}
    for v in _rows("Votes"):
        if v["VoteTypeId"] == "1":
            votes[v["PostId"]] = _instant(v["CreationDate"])
    accepted: dict[str, list[datetime]] = {}
    for q in posts.values():
        answer = posts.get(q.get("AcceptedAnswerId", ""))
        if q["PostTypeId"] != "1" or answer is None or not q.get("OwnerUserId"):
            continue
        when = max(votes.get(answer["Id"], _instant(answer["CreationDate"])), _instant(answer["CreationDate"]))
        accepted.setdefault(q["OwnerUserId"], []).append(when)
    result = {}
    for w in WINDOWS:
        eligible = converters = 0
        for owner, anchor in first_question.items():
            times = accepted.get(owner, [])
            if any(t < anchor for t in times) or anchor + timedelta(days=w) > AS_OF:
                continue
            eligible += 1
            after = [t for t in times if t >= anchor]
            if after and min(after) <= anchor + timedelta(days=w):
                converters += 1
        result[w] = (eligible, converters)
    return result


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = Engine.in_memory()
    engine.load_dump("stackexchange", SAMPLE_DUMP, now=NOW)
    return engine


def test_support_deflection_on_the_real_dump(engine: Engine) -> None:
    table = engine.conversion("question_resolved", windows=list(WINDOWS), as_of=AS_OF, exact=True)["rates"]
    got = {r["window_days"]: (r["eligible"], r["converters"]) for r in table.to_dict(orient="records")}
    assert got == _expected()
    assert got == {1: (155, 36), 7: (155, 53), 30: (155, 65)}  # written down from the computation above
    assert set(table["in_progress"]) == {0}  # the last question is from 2023: every window is mature


def test_time_to_resolution_on_the_real_dump(engine: Engine) -> None:
    result = engine.conversion("question_resolved", windows=list(WINDOWS), as_of=AS_OF, exact=True)
    timing = result["time_to_conversion"].iloc[0]
    assert timing["converters"] == 65
    assert 0 < timing["median_days_converters"] < 30
    assert timing["km_quantile_days"] < 1  # a tenth of askers had an accepted answer within a day
