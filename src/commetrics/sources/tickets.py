"""What the event-ticketing connectors (Eventbrite, Luma) share: guest rows -> registrations and attendances.

Each platform names its columns and statuses its own way (see :class:`GuestColumns`); the rest is the
same: a person is their e-mail (lower-cased), else their name; one ``event_registered`` per person per
event at the registration time, and one ``event_attended`` per person per event who checked in. Orders
are not attendees: an order of three tickets is three guests, and a person's second ticket to the same
event is not a second registration (``extra_ticket``). Guests who declined, were refunded or cancelled
are excluded as ``not_attendee``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from . import DumpReport, common
from .common import Converted, ExportFiles, LocalClock, email_or_none, file_schema, read_csv, text

__all__ = ["GuestColumns", "convert_guests", "guest_loader"]

MEMBERS_SCHEMA = file_schema("members", ("member_id", "email", "name", "joined_at", "entry_path"))


@dataclass(frozen=True)
class GuestColumns:
    """A platform's guest CSV: the labels of each column (first found wins) and what its statuses mean."""

    platform: str
    guest_id: tuple[str, ...]
    email: tuple[str, ...]
    name: tuple[str, ...]
    first_name: tuple[str, ...]
    last_name: tuple[str, ...]
    registered_at: tuple[str, ...]
    status: tuple[str, ...]
    checked_in_at: tuple[str, ...]
    event_id: tuple[str, ...]
    event_name: tuple[str, ...]
    #: status (normalised) -> None (not a guest: excluded), "registered" or "attended"
    statuses: dict[str, str | None]
    date_formats: tuple[str, ...] = ()


def _norm(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", unicodedata.normalize("NFKC", label).lower())


def _index(header: Sequence[str], labels: tuple[str, ...]) -> int | None:
    normal = [_norm(h) for h in header]
    for label in labels:
        if _norm(label) in normal:
            return normal.index(_norm(label))
    return None


def convert_guests(path: Path, out_dir: Path, columns: GuestColumns, zone: str | None,
                   what: str) -> Converted:
    """Convert guest / attendee CSVs (a file, a folder or a ``.zip``) into members and activities."""
    files = ExportFiles(path, f"{columns.platform} export")
    clock = LocalClock(zone, f"{columns.platform} exports", columns.date_formats)
    converted = Converted(Path(out_dir))
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    people: dict[str, dict[str, Any]] = {}
    try:
        names = [n for n in files.names if PurePosixPath(n).suffix.lower() == ".csv"]
        if not names:
            msg = f"Cannot read the {columns.platform} export {path}: no .csv file. {what}"
            raise UnreadableFileError(msg)
        for name in names:
            rows = read_csv(files.read_bytes(name), name)
            header = rows[0] if rows else []
            at: dict[str, int | None] = {f: _index(header, getattr(columns, f)) for f in (
                "guest_id", "email", "name", "first_name", "last_name", "registered_at", "status", "checked_in_at",
                "event_id", "event_name")}
            if at["email"] is None and at["name"] is None and at["first_name"] is None:
                msg = f"{name} has no e-mail or name column: is it a {columns.platform} guest export? {what}"
                raise UnreadableFileError(msg)
            for number, row in enumerate(rows[1:], start=2):
                if any(c.strip() for c in row):
                    _guest(row, at, PurePosixPath(name).stem, number, columns, clock, converted, seen, people)
    finally:
        files.close()
    converted.write("members", list(people.values()), MEMBERS_SCHEMA)
    converted.write("activities", list(seen.values()))
    converted.tables = {"members": converted.tables["members"], "activities": converted.tables["activities"]}
    return converted


def _guest(row: list[str], at: dict[str, int | None], file_stem: str, number: int, columns: GuestColumns,
           clock: Callable[[Any], datetime | None], converted: Converted,
           seen: dict[tuple[str, str, str], dict[str, Any]], people: dict[str, dict[str, Any]]) -> None:
    def cell(field: str) -> str | None:
        i = at[field]
        return text(row[i]) if i is not None and i < len(row) else None

    converted.counts["guest_rows"] += 1
    status = _norm(cell("status") or "")
    meaning = columns.statuses.get(status, "registered") if status else "registered"
    checked_in = clock(cell("checked_in_at"))
    if meaning is None:
        converted.exclude("activities", "not_attendee")
        return
    email = email_or_none(cell("email"))
    name = cell("name") or text(" ".join(filter(None, (cell("first_name"), cell("last_name"))))) or None
    if email is None and name is None:
        converted.exclude("activities", "no_author")
        return
    person = email.lower() if email else f"name:{name}"
    event = cell("event_id") or cell("event_name") or file_stem
    registered = clock(cell("registered_at"))
    attended = meaning == "attended" or checked_in is not None
    for kind, ts in (("registered", registered), ("attended", checked_in or registered)):
        if kind == "attended" and not attended:
            continue
        key = (event, person, kind)
        if key in seen:
            if kind == "registered":
                converted.exclude("activities", "extra_ticket")
            continue
        seen[key] = {"activity_id": f"{event}:{person}:{kind}", "member_id": person, "ts": ts,
                     "type": f"event_{kind}", "channel": columns.platform.lower(), "program": cell("event_name"),
                     "ref_id": event}
        known = people.setdefault(person, {"member_id": person, "email": email, "name": name, "joined_at": ts,
                                           "entry_path": "event"})
        if ts is not None and (known["joined_at"] is None or ts < known["joined_at"]):
            known["joined_at"] = ts


def guest_loader(kind: str, columns: GuestColumns, what: str) -> Callable[..., DumpReport]:
    """The ``load`` of a guest-list source ``kind``: its CSVs converted with ``columns`` (``what`` says how to
    export them), then members and registrations / attendances loaded through ``loader``."""

    def load(loader: Loader, path: Path, source: str = kind, now: datetime | None = None, *,
             timezone: str | None = None) -> DumpReport:
        with common.scratch_folder(kind) as scratch:
            converted = convert_guests(Path(path), Path(scratch), columns, timezone, what)
            return common.load_converted(loader, converted, source, now, Path(path).name)

    load.__doc__ = f"Convert {columns.platform} guest CSVs and load members and registrations / attendances."
    return load
