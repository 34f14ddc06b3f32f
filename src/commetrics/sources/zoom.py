"""Zoom meeting participant and webinar attendee reports (CSV), in English or Zoom's localised headers.

A report is one CSV (several in a folder or ``.zip``): optional title and meeting or webinar blocks
(``Meeting ID,Topic,Start Time,...`` with one row of values), then the people: one row per join
(people who drop and re-join appear once per join). Webinar attendee reports add sections (``Host
Details``, ``Panelist Details``, ``Attendee Details``) and an ``Attended`` and a ``Registration Time``
column. Headers follow the exporting user's language; English and Japanese (``名前 (元の名前)``,
``ユーザーメール``, ``参加時刻``, ``退出時刻``, ``所要時間（分）``) are known, and so are the date forms
``11/19/2021 9:54:15 AM``, ``2020/12/8 8:35`` and ISO. Times carry no zone: they are in the zone of
the exporting user's Zoom profile, which ``--timezone`` must name.

Mapping
-------
A person is their e-mail (lower-cased) when the e-mail column holds an address, else their display
name (``name:<name>``; weaker: masked exports and guests who are not signed in).

members
    one per person: ``member_id`` as above, ``email``, ``name``, ``joined_at`` = their first join or
    registration in the files.
activities (channel ``zoom``, ``program`` = the topic, ``ref_id`` = the meeting or webinar id)
    one ``webinar_attended`` (webinars) or ``event_attended`` (meetings) per person per meeting, at the
    first join, with the minutes summed over re-joins as the tag ``minutes:N``; one
    ``webinar_registered`` per registrant of a webinar, at the registration time.
excluded
    re-joins (``rejoin``: merged into the person's one attendance), the host (the meeting block's
    ``User Email``) and the panelists (``staff``), rows with neither an e-mail nor a name (``no_author``).

A report without a meeting block is keyed by its file name (export with "Show meeting data" to get
the meeting id).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError, UnreadableFileError
from ..ingest.loader import Loader
from . import SOURCES, DumpReport, Source, common
from .common import Converted, ExportFiles, email_or_none, file_schema, load_converted, naive_instant, read_csv

__all__ = ["convert", "load"]

#: canonical header -> the labels Zoom writes (normalised: NFKC, lower case, single spaces)
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name (original name)", "user name (original name)", "name", "participant", "名前 (元の名前)", "名前",
             "ユーザー名 (元の名前)"),
    "email": ("user email", "email", "e-mail", "ユーザーメール", "メール", "メールアドレス"),
    "join": ("join time", "参加時刻", "参加時間"),
    "leave": ("leave time", "退出時刻", "退出時間"),
    "minutes": ("duration (minutes)", "time in session (minutes)", "所要時間 (分)", "セッション時間 (分)"),
    "attended": ("attended", "出席"),
    "registered": ("registration time", "登録時間", "登録時刻"),
    "meeting": ("meeting id", "webinar id", "ミーティングid", "ウェビナーid"),
    "topic": ("topic", "トピック"),
    "host_email": ("user email", "host email", "ユーザーメール"),
}
DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
                "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                "%b %d, %Y %I:%M:%S %p", "%b %d, %Y %I:%M %p", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
MEMBERS_SCHEMA = file_schema("members", ("member_id", "email", "name", "joined_at"))
STAFF_SECTIONS = ("hostdetails", "panelistdetails", "ホストの詳細", "パネリストの詳細")
_NEEDS_ZONE = ("Zoom reports write local times without a zone (the zone of the exporting user's Zoom profile). "
               "Pass it with --timezone, e.g. --timezone America/New_York or --timezone Asia/Tokyo.")


def _norm(label: str) -> str:
    """A label compared without case, width or spaces (``所要時間（分）`` = ``所要時間 (分)``)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", label).lower())


_ALIASES = {name: {_norm(a) for a in aliases} for name, aliases in HEADERS.items()}


def _columns(header: list[str]) -> dict[str, int]:
    """Canonical name -> position, for the labels of ``header`` that Zoom writes."""
    found: dict[str, int] = {}
    labels = [_norm(h) for h in header]
    for name, aliases in _ALIASES.items():
        for i, label in enumerate(labels):
            if label in aliases and name not in found:
                found[name] = i
                break
    return found


@dataclass
class _Attendance:
    person: str
    email: str | None
    name: str | None
    first: datetime | None
    minutes: float = 0.0
    rows: int = 0


@dataclass
class _Meeting:
    meeting_id: str
    topic: str | None
    webinar: bool
    host: str | None = None
    attended: dict[str, _Attendance] = field(default_factory=dict)
    registered: dict[str, _Attendance] = field(default_factory=dict)


class _Reports:
    def __init__(self, converted: Converted, zone: tzinfo) -> None:
        self.converted = converted
        self.zone = zone
        self.meetings: list[_Meeting] = []

    def time(self, value: Any) -> datetime | None:
        return naive_instant(value, DATE_FORMATS, self.zone)

    def report(self, name: str, rows: list[list[str]]) -> None:
        """One report file: blocks and sections in order."""
        meeting = _Meeting(PurePosixPath(name).stem, None, False)
        section = ""
        header: dict[str, int] | None = None
        i = 0
        while i < len(rows):
            row = rows[i]
            cells = [c for c in row if c.strip()]
            if not cells:
                header = None
                i += 1
                continue
            columns = _columns(row)
            if "meeting" in columns and i + 1 < len(rows):  # a meeting or webinar block: one row of values
                values = rows[i + 1]
                meeting.meeting_id = re.sub(r"\s+", "", _cell(values, columns.get("meeting")) or meeting.meeting_id)
                meeting.topic = _cell(values, columns.get("topic")) or meeting.topic
                meeting.webinar = meeting.webinar or "webinarid" in [_norm(c) for c in row] or \
                    "ウェビナーid" in [_norm(c) for c in row]
                if "name" not in columns:
                    meeting.host = email_or_none(_cell(values, columns.get("host_email"))) or meeting.host
                    i += 2
                    continue
            if len(cells) == 1 and "name" not in columns:
                section = _norm(cells[0])
                header = None
                i += 1
                continue
            if "name" in columns and ("join" in columns or "attended" in columns):
                header = columns
                meeting.webinar = meeting.webinar or "attended" in columns
                i += 1
                continue
            if header is not None:
                self.person(meeting, header, row, staff=section in STAFF_SECTIONS)
            i += 1
        self.meetings.append(meeting)

    def person(self, meeting: _Meeting, header: dict[str, int], row: list[str], *, staff: bool) -> None:
        counts = self.converted.counts
        counts["rows_read"] += 1
        email = email_or_none(_cell(row, header.get("email")))
        name = _cell(row, header.get("name"))
        if email is None and name is None:
            self.converted.exclude("activities", "no_author")
            return
        person = email.lower() if email else f"name:{name}"
        if staff or (email is not None and meeting.host is not None and email.lower() == meeting.host.lower()):
            self.converted.exclude("activities", "staff")
            return
        attended = _cell(row, header.get("attended"))
        registered_at = self.time(_cell(row, header.get("registered")))
        if registered_at is not None and person not in meeting.registered:
            meeting.registered[person] = _Attendance(person, email, name, registered_at)
            counts["registrations"] += 1
        if attended is not None and _norm(attended) in ("no", "いいえ", "false", "0"):
            if registered_at is None:
                self.converted.exclude("activities", "not_attendee")
            return
        join = self.time(_cell(row, header.get("join")))
        minutes = _number(_cell(row, header.get("minutes")))
        known = meeting.attended.get(person)
        if known is None:
            meeting.attended[person] = _Attendance(person, email, name, join, minutes, 1)
            return
        self.converted.exclude("activities", "rejoin")
        known.minutes += minutes
        known.rows += 1
        if join is not None and (known.first is None or join < known.first):
            known.first = join

    def write(self) -> None:
        activities: list[dict[str, Any]] = []
        people: dict[str, dict[str, Any]] = {}
        for meeting in self.meetings:
            kind = "webinar" if meeting.webinar else "event"
            for what, entries in (("attended", meeting.attended), ("registered", meeting.registered)):
                for a in entries.values():
                    activities.append({
                        "activity_id": f"{meeting.meeting_id}:{a.person}:{what}", "member_id": a.person,
                        "ts": a.first, "type": f"{kind}_{what}", "channel": "zoom", "program": meeting.topic,
                        "ref_id": meeting.meeting_id,
                        "tags": f"minutes:{a.minutes:g}" if what == "attended" else None})
                    known = people.setdefault(a.person, {"member_id": a.person, "email": a.email, "name": a.name,
                                                         "joined_at": a.first})
                    if a.first is not None and (known["joined_at"] is None or a.first < known["joined_at"]):
                        known["joined_at"] = a.first
        self.converted.write("members", list(people.values()), MEMBERS_SCHEMA)
        self.converted.write("activities", activities)


def _cell(row: list[str], index: int | None) -> str | None:
    return common.text(row[index]) if index is not None and index < len(row) else None


def _number(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def convert(path: Path, out_dir: Path, zone: str | None) -> Converted:
    """Convert Zoom participant or attendee reports (a CSV, a folder or a ``.zip`` of them)."""
    if zone is None:
        raise InputError(_NEEDS_ZONE)
    files = ExportFiles(path, "Zoom report")
    try:
        names = [n for n in files.names if PurePosixPath(n).suffix.lower() == ".csv"]
        if not names:
            msg = f"Cannot read the Zoom report {path}: no .csv file. Export it from Reports > Usage > Participants."
            raise UnreadableFileError(msg)
        converted = Converted(Path(out_dir))
        tz = common.timezone(zone)
        if tz is None:
            raise InputError(_NEEDS_ZONE)
        reports = _Reports(converted, tz)
        for name in names:
            rows = read_csv(files.read_bytes(name), name)
            if not any("name" in (c := _columns(r)) and ("join" in c or "attended" in c) for r in rows):
                msg = (f"{name} has no participant or attendee table (a header with a name and a join time, such "
                       f"as 'Name (Original Name),User Email,Join Time,...'). Is it a Zoom participants report?")
                raise UnreadableFileError(msg)
            reports.report(name, rows)
        reports.write()
        return converted
    finally:
        files.close()


def load(loader: Loader, path: Path, source: str = "zoom", now: datetime | None = None, *,
         timezone: str | None = None) -> DumpReport:
    """Convert Zoom reports (local times in ``timezone``) and load members and attendances through ``loader``."""
    with common.scratch_folder("zoom") as scratch:
        return load_converted(loader, convert(Path(path), Path(scratch), timezone), source, now, Path(path).name)


SOURCES.register("zoom", Source(
    name="zoom", label="Zoom participant / webinar attendee reports",
    help="the report CSV (or a folder or .zip of them); needs --timezone, the zone of the exporting user's profile",
    default_source="zoom", load=load, options=("timezone",)))
