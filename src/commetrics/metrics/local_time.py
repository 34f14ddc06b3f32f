"""Local wall-clock time as a portable expression: UTC plus the offset in force at each instant.

Conversion cohorts (join month, quarter ...) are cut in the reporting time zone; this turns a UTC
timestamp into that zone's wall-clock time with one ``CASE`` that every Ibis backend runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import ibis

if TYPE_CHECKING:
    from ibis.expr.types import TimestampValue

__all__ = ["local_time"]


def _utc_offsets(zone: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The UTC instants at which ``zone``'s offset changes between start and end, with the new offset.

    Returns ``[(since, offset_seconds), ...]`` in time order, the first entry holding the offset
    in force at ``start``. Found by scanning hour by hour then narrowing to the second, so it
    needs nothing but zoneinfo.
    """
    tz = ZoneInfo(zone)

    def offset(t: datetime) -> int:
        delta = t.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    changes = [(start, offset(start))]
    t = start
    step = timedelta(hours=6)
    while t < end:
        nxt = t + step
        if offset(nxt) != offset(t):
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == offset(lo) else (lo, mid)
            changes.append((hi.replace(microsecond=0), offset(hi)))
        t = nxt
    return changes


def local_time(ts: TimestampValue, zone: str, start: datetime, end: datetime) -> TimestampValue:
    """``ts`` (UTC) as wall-clock time in ``zone``: UTC plus the offset in force at that instant.

    The offsets between ``start`` and ``end`` become one ``CASE`` over the instant, which every
    Ibis backend runs (no backend-specific time-zone function), for the session in UTC.
    """
    if zone == "UTC":
        return ts
    changes = _utc_offsets(zone, start - timedelta(days=1), end + timedelta(days=1))
    if len(changes) == 1:
        return ts + ibis.interval(seconds=changes[0][1])
    branches = [(ts < ibis.literal(since), prev) for (since, _), (_, prev) in
                zip(changes[1:], changes[:-1], strict=True)]
    seconds = ibis.cases(*branches, else_=changes[-1][1])
    return ts + seconds.as_interval("s")
