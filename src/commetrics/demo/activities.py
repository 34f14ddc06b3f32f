"""Activities: background activity around the exposure windows, written to Parquet in chunks.

Besides the rows of the exposure windows (:mod:`commetrics.demo.renewal`), every member gets a
heavy-tailed number of background activities placed outside their account's windows, so that the
engaged flag can be recomputed exactly from the activities table. While the chunks are written the
activities before each NPS response are counted, and accepted answers and referrals made are
derived as outcomes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commetrics import schema

from .drivers import _EarlyBehaviour
from .entities import _Members, _Rows
from .helpers import _NULL, Progress, _exp_seconds, _ids, _labels, _nullable, _pick, _timestamps, _width
from .outcomes import _Outcomes
from .params import (
    ACCEPTED_ANSWER_P,
    ACTIVITY_CHUNK_ROWS,
    ACTIVITY_SHAPE,
    ACTIVITY_SHARES,
    ACTIVITY_TYPES,
    BURST_SHARE,
    CHANNELS,
    DAY,
    ONBOARDING_DAYS,
    PROGRAMS,
    REFERRAL_MADE_P,
    STAFF_ACTIVITY_FACTOR,
    TAGGED_TYPES,
    TAGS,
)
from .surveys import _NpsPlan


@dataclass
class _Background:
    """Per-member background activity, avoiding the member's account's exposure windows."""

    count: np.ndarray
    avail: np.ndarray  # seconds of the member's life outside the windows
    win_lo: np.ndarray  # (members, w) windows clipped to the member's life
    win_len: np.ndarray


def _background(
    rng: np.random.Generator, m: _Members, lo: np.ndarray, hi: np.ndarray, target: float, as_of: int
) -> _Background:
    width = lo.shape[1]
    member_lo = np.full((m.n, width), as_of, dtype=np.int64)
    member_hi = member_lo.copy()
    inside = m.account >= 0
    member_lo[inside] = lo[m.account[inside]]
    member_hi[inside] = hi[m.account[inside]]
    join = m.join[:, None]
    win_lo = np.clip(member_lo, join, as_of)
    win_len = np.clip(member_hi, join, as_of) - win_lo
    avail = (as_of - m.join) - win_len.sum(axis=1)
    factor = np.where(m.staff, STAFF_ACTIVITY_FACTOR, 1.0)
    exposure = factor * avail / DAY
    scale = target / (ACTIVITY_SHAPE * exposure.sum()) if exposure.sum() > 0 else 0.0
    rate = rng.gamma(ACTIVITY_SHAPE, 1.0, m.n) * scale
    count = rng.poisson(rate * exposure).astype(np.int64)
    return _Background(count=count, avail=avail, win_lo=win_lo, win_len=win_len)


def _background_rows(rng: np.random.Generator, bg: _Background, m: _Members, lo: int, hi: int) -> _Rows:
    """Background rows of members ``lo..hi-1`` on a time axis with the windows cut out."""
    member = np.repeat(np.arange(lo, hi), bg.count[lo:hi])
    avail = bg.avail[member]
    burst = rng.random(member.size) < BURST_SHARE
    reach = np.where(burst, np.minimum(avail, ONBOARDING_DAYS * DAY), avail)
    ts = m.join[member] + np.floor(rng.random(member.size) * reach).astype(np.int64)
    for k in range(bg.win_lo.shape[1]):  # windows are in time order: shift past each one
        length = bg.win_len[member, k]
        ts += np.where((length > 0) & (ts >= bg.win_lo[member, k]), length, 0)
    return _Rows(member=member, ts=ts)


def _activity_table(
    rng: np.random.Generator, rows: _Rows, m: _Members, member_ids: pa.Array, first_id: int, width: int
) -> tuple[pa.Table, np.ndarray]:
    """Draw type, channel, program, tags and ref_id for sorted rows; also return type codes."""
    n = rows.member.size
    kind = _pick(rng, ACTIVITY_SHARES, n)
    code = {name: i for i, name in enumerate(ACTIVITY_TYPES)}
    event, webinar = kind == code["event_attended"], kind == code["webinar_attended"]
    u = rng.random(n)
    channel = np.where(event, 2, np.where(webinar, 3, np.where(u < 0.62, 0, 1)))
    early = rows.ts - m.join[rows.member] < ONBOARDING_DAYS * DAY
    advocacy = np.isin(kind, [code["referral"], code["case_study"], code["review"]])
    v = rng.random(n)
    program = np.select(
        [webinar & (v < 0.4), webinar & (v < 0.7), event & (v < 0.7), advocacy & (v < 0.9), early & (v < 0.5)],
        [0, 3, 1, 2, 3],
        default=_NULL,
    )
    tagged = np.isin(kind, [code[t] for t in TAGGED_TYPES]) & (rng.random(n) < 0.7)
    tag_code = np.where(tagged, rng.integers(0, len(_TAG_LABELS), n), _NULL)
    ref = np.where(webinar, rows.ts // (7 * DAY), np.where(event, rows.ts // (30 * DAY), _NULL))
    ref_prefix = np.where(webinar, 0, np.where(event, 1, _NULL))
    ref_id = pc.binary_join_element_wise(
        _labels(("wb", "ev"), ref_prefix), pc.cast(_nullable(ref, ref < 0, pa.int64()), pa.string()), ""
    )
    table = pa.table(
        {
            "activity_id": _ids("act", np.arange(first_id, first_id + n), width),
            "member_id": member_ids.take(pa.array(rows.member)),
            "ts": _timestamps(rows.ts),
            "type": _labels(ACTIVITY_TYPES, kind),
            "channel": _labels(CHANNELS, channel),
            "program": _labels(PROGRAMS, program),
            "tags": _labels(_TAG_LABELS, tag_code),
            "ref_id": ref_id,
        }
    )
    return table, kind


def _tag_labels() -> tuple[str, ...]:
    pairs = [f"{a}|{b}" for i, a in enumerate(TAGS) for b in TAGS[i + 1 :]]
    return (*TAGS, *pairs)


_TAG_LABELS = _tag_labels()

ACTIVITY_SCHEMA = schema.arrow_file_schema(schema.ACTIVITIES)


def _chunk_edges(count: np.ndarray) -> np.ndarray:
    """Member index edges so that each chunk holds about ``ACTIVITY_CHUNK_ROWS`` rows."""
    cum = np.cumsum(count)
    total = int(cum[-1]) if cum.size else 0
    targets = np.arange(ACTIVITY_CHUNK_ROWS, total, ACTIVITY_CHUNK_ROWS)
    inner = np.searchsorted(cum, targets, side="left") + 1
    return np.unique(np.concatenate([[0], inner, [count.size]])).astype(np.int64)


def _write_activities(
    path: Path,
    rng: np.random.Generator,
    m: _Members,
    member_ids: pa.Array,
    bg: _Background,
    window: _Rows,
    nps: _NpsPlan,
    outcomes: _Outcomes,
    report: Progress,
    early: _EarlyBehaviour | None = None,
) -> int:
    """Write activities in member-range chunks; count activities before NPS responses; derive
    accepted answers (for questions) and referrals made (for referral activities); record the early
    behaviours of planted effect 4 in ``early``."""
    per_member = bg.count + np.bincount(window.member, minlength=m.n)
    total = int(per_member.sum())
    width = _width(total, 8)
    edges = _chunk_edges(per_member)
    code = {name: i for i, name in enumerate(ACTIVITY_TYPES)}
    written = 0
    with pq.ParquetWriter(path, ACTIVITY_SCHEMA) as writer:
        for lo, hi in itertools.pairwise(edges.tolist()):
            a, b = np.searchsorted(window.member, [lo, hi])
            rows = _background_rows(rng, bg, m, lo, hi)
            member = np.concatenate([rows.member, window.member[a:b]])
            ts = np.concatenate([rows.ts, window.ts[a:b]])
            order = np.lexsort((ts, member))
            rows = _Rows(member=member[order], ts=ts[order])
            nps.count(rows, lo, hi)
            table, kind = _activity_table(rng, rows, m, member_ids, written + 1, width)
            writer.write_table(table)
            written += table.num_rows
            _derived_outcomes(rng, rows, kind, code, m, outcomes)
            if early is not None:
                early.record(rows, kind, m)
            report("activities", written / max(total, 1))
    return written


def _derived_outcomes(
    rng: np.random.Generator, rows: _Rows, kind: np.ndarray, code: dict[str, int], m: _Members, out: _Outcomes
) -> None:
    asked = np.flatnonzero(kind == code["question"])
    asked = asked[rng.random(asked.size) < ACCEPTED_ANSWER_P]
    who = rows.member[asked]
    out.add(
        "accepted_answer", rows.ts[asked] + 600 + _exp_seconds(rng, 1.5, asked.size), member=who, account=m.account[who]
    )
    referred = np.flatnonzero(kind == code["referral"])
    referred = referred[rng.random(referred.size) < REFERRAL_MADE_P]
    who = rows.member[referred]
    out.add(
        "referral_made", rows.ts[referred] + _exp_seconds(rng, 3.0, referred.size), member=who, account=m.account[who]
    )
