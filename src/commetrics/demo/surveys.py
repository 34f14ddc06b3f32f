"""Planted effect 3: NPS and activity (and a few CSAT answers without an effect).

**NPS and activity.** NPS responses come after the member joined; the latent score rises with
``ln(1 + activities of the member before the response)``. The responses are planned before the
activities are written (:func:`_plan_nps`), the activities before each response are counted while
they are written (:meth:`_NpsPlan.count`), and the scores are drawn last (:func:`_surveys_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .entities import _Contacts, _Members, _Rows
from .helpers import _NULL, _ids, _labels, _pick, _seconds, _take, _timestamps, _width
from .params import (
    CONTACT_NPS_P,
    CSAT_P,
    CSAT_SHARES,
    DAY,
    NPS_BASE,
    NPS_NOISE_SD,
    NPS_RESPONSE_P,
    NPS_SECOND_P,
    NPS_SLOPE,
)


@dataclass
class _NpsPlan:
    member: np.ndarray
    ts: np.ndarray
    slot_ts: np.ndarray  # (2, members) response instants, int64 min where none
    slot_of: np.ndarray  # slot of each response
    before: np.ndarray = field(init=False)  # (2, members) activities before each response

    def __post_init__(self) -> None:
        self.before = np.zeros(self.slot_ts.shape, dtype=np.int64)

    def count(self, rows: _Rows, lo: int, hi: int) -> None:
        for s in range(self.slot_ts.shape[0]):
            hit = rows.ts < self.slot_ts[s, rows.member]
            self.before[s, lo:hi] += np.bincount(rows.member[hit] - lo, minlength=hi - lo)


def _plan_nps(rng: np.random.Generator, m: _Members, as_of: int) -> _NpsPlan:
    lead = 14 * DAY
    ok = np.flatnonzero(~m.staff & (m.join + lead < as_of))
    first = ok[rng.random(ok.size) < NPS_RESPONSE_P]
    ts1 = m.join[first] + lead + np.floor(rng.random(first.size) * (as_of - m.join[first] - lead)).astype(np.int64)
    again = rng.random(first.size) < NPS_SECOND_P
    ts2 = ts1 + _seconds(rng, 150, first.size) + 90 * DAY
    again &= ts2 <= as_of
    slot_ts = np.full((2, m.n), np.iinfo(np.int64).min, dtype=np.int64)
    slot_ts[0, first] = ts1
    slot_ts[1, first[again]] = ts2[again]
    member = np.concatenate([first, first[again]])
    slot_of = np.concatenate([np.zeros(first.size, np.int64), np.ones(int(again.sum()), np.int64)])
    return _NpsPlan(member=member, ts=np.concatenate([ts1, ts2[again]]), slot_ts=slot_ts, slot_of=slot_of)


def _surveys_table(
    rng: np.random.Generator,
    nps: _NpsPlan,
    m: _Members,
    c: _Contacts,
    member_ids: pa.Array,
    contact_ids: pa.Array,
    as_of: int,
) -> pa.Table:
    """NPS of members (shifted up by prior activity), a few CSAT, NPS of non-member contacts."""
    before = nps.before[nps.slot_of, nps.member]
    latent = NPS_BASE + NPS_SLOPE * np.log1p(before) + rng.normal(0.0, NPS_NOISE_SD, before.size)
    nps_score = np.clip(np.round(latent), 0, 10).astype(np.int64)
    ok = np.flatnonzero(~m.staff & (m.join + 7 * DAY < as_of))
    cs = ok[rng.random(ok.size) < CSAT_P]
    cs_ts = m.join[cs] + 7 * DAY + np.floor(rng.random(cs.size) * (as_of - m.join[cs] - 7 * DAY)).astype(np.int64)
    cs_score = _pick(rng, CSAT_SHARES, cs.size).astype(np.int64) + 1
    others = c.others[c.created[c.others] + 14 * DAY < as_of]
    co = others[rng.random(others.size) < CONTACT_NPS_P]
    co_ts = (
        c.created[co] + 14 * DAY + np.floor(rng.random(co.size) * (as_of - c.created[co] - 14 * DAY)).astype(np.int64)
    )
    co_score = np.clip(np.round(NPS_BASE + rng.normal(0.0, NPS_NOISE_SD, co.size)), 0, 10).astype(np.int64)
    none_m, none_c = np.full(co.size, _NULL), np.full(nps.member.size + cs.size, _NULL)
    member = np.concatenate([nps.member, cs, none_m])
    contact = np.concatenate([none_c, co])
    ts = np.concatenate([nps.ts, cs_ts, co_ts])
    kind = np.concatenate(
        [np.zeros(nps.member.size, np.int64), np.ones(cs.size, np.int64), np.zeros(co.size, np.int64)]
    )
    score = np.concatenate([nps_score, cs_score, co_score])
    order = np.lexsort((contact, member, kind, ts))
    return pa.table(
        {
            "response_id": _ids("r", np.arange(1, ts.size + 1), _width(ts.size, 8)),
            "member_id": _take(member_ids, member[order]),
            "contact_id": _take(contact_ids, contact[order]),
            "ts": _timestamps(ts[order]),
            "kind": _labels(("nps", "csat"), kind[order]),
            "score": pa.array(score[order], type=pa.int64()),
        }
    )
