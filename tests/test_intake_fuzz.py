"""Fuzzing the CSV and JSON Lines readers with generated files: quoting, delimiters, encodings, compression,
line ends, blank lines, values spanning lines, nesting, key spellings, broken lines and quotes that never close.

The property: every record written is read, and ends in exactly one place — loaded with its values,
quarantined on the line where it starts, or counted as a duplicate — so that every physical line of
the file is accounted for (the header, a blank line, or a line of exactly one record). The generator
knows where each record starts, what it holds and where it must end; the loader is checked against it.

The suite runs ``FAST_EXAMPLES`` files of each format (derandomised, so CI sees the same files); the
slow run (``-m slow``, part of ``make test``) runs ``SLOW_EXAMPLES`` more of each, at random.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commetrics import Engine

from .conftest import NOW, assert_conserved

FAST_EXAMPLES = 60
SLOW_EXAMPLES = 1_000  # of each format: 2,000 files in all

HEADER = ["activity_id", "member_id", "ts", "type", "channel"]
TIMESTAMPS = ["2024-01-01", "2024-02-29T10:00:00Z", "2024-03-04 05:06:07+02:00"]
_sources = count()
_engine: list[Engine] = []


def _shared_engine() -> Engine:
    """One in-memory store for every example; each example loads under a source of its own."""
    if not _engine:
        _engine.append(Engine.in_memory())
    return _engine[0]


@dataclass
class Expected:
    """What the generator wrote: records by id, the lines where bad records start, the duplicates."""

    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_lines: set[int] = field(default_factory=set)
    duplicates: int = 0
    records: int = 0


TEXT = st.text(alphabet=st.sampled_from(list('ab ,;|\t"\'\nxé€字#\\{}')), max_size=8).map(
    lambda s: s.strip(" \t\n"))
LATIN = st.text(alphabet=st.sampled_from(list('ab ,;|\t"\'\nxé#\\')), max_size=8).map(lambda s: s.strip(" \t\n"))
PLAIN = st.text(alphabet=st.sampled_from(list("abcxyz019")), min_size=1, max_size=6)
KINDS = ["good", "good", "good", "good", "blank", "bad_value", "wrong_count", "duplicate", "conflict"]


def _good(draw: Callable[..., Any], n: int, text: st.SearchStrategy[str]) -> dict[str, Any]:
    return {"activity_id": f"a{n}", "member_id": draw(st.sampled_from(["m1", "m2"])),
            "ts": draw(st.sampled_from(TIMESTAMPS)), "type": draw(st.sampled_from(["post", "reply"])),
            "channel": draw(text)}


@st.composite
def csv_files(draw: Callable[..., Any]) -> tuple[bytes, str, dict[str, Any], Expected]:
    """A CSV file as bytes, its name, load options and what a load must find."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    endings = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    text = LATIN if encoding == "latin-1" else TEXT
    kinds = draw(st.lists(st.sampled_from(KINDS), max_size=25))
    unterminated = draw(st.booleans())
    tail = draw(st.integers(min_value=0, max_value=4)) if unterminated else 0

    def ending() -> str:
        return draw(st.sampled_from(["\n", "\r\n"])) if endings == "mixed" else endings

    def row(values: list[str]) -> str:
        out = io.StringIO()  # the terminator makes the writer quote values holding CR or LF; it is replaced
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerow(values)
        return out.getvalue().removesuffix("\r\n") + ending()

    expected = Expected()
    lines = [row(HEADER)]
    line = 2
    goods: list[dict[str, Any]] = []
    for n, kind in enumerate(kinds):
        if kind == "blank":
            lines.append(ending())
            line += 1
            continue
        record = _good(draw, n, text)
        if kind == "duplicate" and goods:
            record = dict(draw(st.sampled_from(goods)))
            expected.duplicates += 1
        elif kind == "conflict" and goods:
            record = {**draw(st.sampled_from(goods)), "member_id": "m9"}
            expected.bad_lines.add(line)
        elif kind == "bad_value":
            record["ts"] = "never"
            expected.bad_lines.add(line)
        elif kind == "wrong_count":
            record = {"activity_id": f"w{n}", "member_id": "m1"}
            expected.bad_lines.add(line)
        else:
            goods.append(record)
            expected.loaded[record["activity_id"]] = record
        written = row(list(record.values()))
        lines.append(written)
        expected.records += 1
        line += written.count("\n") if "\r\n" not in written.rstrip("\r\n") else written.replace("\r\n", "\n").count(
            "\n")
    if unterminated:  # a quote that never closes, and nothing after it that could close it
        lines.append(f'u1{delimiter}"m1{delimiter}2024-01-01{delimiter}post{delimiter}x' + ending())
        expected.bad_lines.add(line)
        expected.records += 1
        line += 1
        for k in range(tail):
            record = {"activity_id": f"t{k}", "member_id": "m2", "ts": "2024-01-01", "type": "post",
                      "channel": draw(PLAIN)}
            lines.append(delimiter.join(record.values()) + ending())
            expected.loaded[record["activity_id"]] = record
            expected.records += 1
    data = "".join(lines).encode(encoding)
    compressed = draw(st.booleans())
    options = {"encoding": "latin-1"} if encoding == "latin-1" else {}
    return (gzip.compress(data) if compressed else data), "events.csv", options, expected


@st.composite
def jsonl_files(draw: Callable[..., Any]) -> tuple[bytes, str, dict[str, Any], Expected]:
    """A JSON Lines file: records spell their keys their own way, nest extra values, break."""
    endings = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    # at least one good record: a file whose records name none of the columns is refused as a whole
    kinds = draw(st.lists(st.sampled_from([*KINDS, "malformed"]), max_size=25).map(lambda k: [*k, "good"]))
    spellings = {"activity_id": ["activity_id", "Activity ID", "ACTIVITY-ID"], "member_id": ["member_id", "Member Id"],
                 "ts": ["ts", "TS"], "type": ["type", "Type"], "channel": ["channel", "Channel"]}

    def ending() -> str:
        return draw(st.sampled_from(["\n", "\r\n"])) if endings == "mixed" else endings

    expected = Expected()
    lines: list[str] = []
    goods: list[dict[str, Any]] = []
    for n, kind in enumerate(kinds):
        number = len(lines) + 1
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", "   "])) + ending())
            continue
        if kind == "malformed":
            lines.append(draw(st.sampled_from(["not json", "[1, 2]", '{"activity_id": ', "42", '"text"'])) + ending())
            expected.bad_lines.add(number)
            expected.records += 1
            continue
        record = _good(draw, n, TEXT)
        if kind == "duplicate" and goods:
            record = dict(draw(st.sampled_from(goods)))
            expected.duplicates += 1
        elif kind == "conflict" and goods:
            record = {**draw(st.sampled_from(goods)), "member_id": "m9"}
            expected.bad_lines.add(number)
        elif kind in ("bad_value", "wrong_count"):
            record["ts"] = "never"
            expected.bad_lines.add(number)
        else:
            goods.append(record)
            expected.loaded[record["activity_id"]] = record
        obj = {draw(st.sampled_from(spellings[k])): v for k, v in record.items()}
        obj["meta"] = {"depth": [n, {"x": record["channel"]}]}
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())) + ending())
        expected.records += 1
    data = "".join(lines).encode("utf-8")
    return (gzip.compress(data) if draw(st.booleans()) else data), "events.jsonl", {}, expected


def _check(case: tuple[bytes, str, dict[str, Any], Expected]) -> None:
    data, name, options, expected = case
    engine = _shared_engine()
    source = f"fuzz{next(_sources)}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        report = engine.load("activities", path, source=source, now=NOW, **options)
    assert_conserved(engine, report)
    assert report.rows_read == expected.records
    assert (report.rows_loaded, report.rows_duplicate) == (len(expected.loaded), expected.duplicates)
    quarantine = engine.quarantine(load_id=report.load_id)
    assert sorted(quarantine["line"]) == sorted(expected.bad_lines)
    rows = engine.store.con.execute(
        "select activity_id, member_id, type, channel, epoch_us(ts) from activities where source = ?", [source]
    ).fetchall()
    stamps = dict(engine.store.con.execute(
        "select t, epoch_us(t::TIMESTAMPTZ) from unnest(?) as u(t)", [TIMESTAMPS]).fetchall())
    assert {r[0]: r[1:] for r in rows} == {
        k: (v["member_id"], v["type"], v["channel"].replace("\r\n", "\n") or None, stamps[v["ts"]])
        for k, v in expected.loaded.items()}


_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(_FUZZ, max_examples=FAST_EXAMPLES, derandomize=True)
@given(case=csv_files())
def test_csv_files_lose_no_line(case: tuple[bytes, str, dict[str, Any], Expected]) -> None:
    _check(case)


@settings(_FUZZ, max_examples=FAST_EXAMPLES, derandomize=True)
@given(case=jsonl_files())
def test_jsonl_files_lose_no_line(case: tuple[bytes, str, dict[str, Any], Expected]) -> None:
    _check(case)


@pytest.mark.slow
@settings(_FUZZ, max_examples=SLOW_EXAMPLES)
@given(case=st.one_of(csv_files(), jsonl_files()))
def test_many_more_generated_files_lose_no_line(case: tuple[bytes, str, dict[str, Any], Expected]) -> None:
    _check(case)
