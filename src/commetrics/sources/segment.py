"""Segment / RudderStack events: track, identify and group calls, as batch payloads or one JSON per line.

A file, a folder or a ``.zip`` of ``.json`` files (an HTTP batch body ``{"batch": [...], "context": ...,
"sentAt": ...}``, one event object, or a list of events) and ``.jsonl`` / ``.ndjson`` / ``.json.gz``
files (one event per line, as Segment's S3 and warehouse exports write them). An envelope's ``context``
is merged into each event (RudderStack puts it on the events themselves).

Mapping
-------
The person is ``userId``, else ``anon:<anonymousId>``. An event's time is ``timestamp``; without one,
``originalTimestamp`` corrected by ``receivedAt - sentAt`` (the client's clock skew), else
``originalTimestamp`` (never ``receivedAt`` alone). Events are keyed by ``messageId``, ``type`` and
that time together (``<messageId>:<type>:<time>``): SDKs that reuse a ``messageId`` for different calls
keep them apart, and a retried call (the same three) is a duplicate.

activities and outcomes (track)
    The event name in ``[sources.segment] activity_events`` -> that activity type (channel ``product``,
    ``program`` = ``properties.program`` or the campaign name); in ``outcome_events`` -> that outcome
    type, with ``value`` = ``properties.revenue`` (else ``.value``) and ``currency``. Other names are
    excluded as ``unmapped_event``.
members (identify)
    ``member_id`` = the person; ``email`` = ``traits.email``; ``name``; ``handle`` = ``traits.username``;
    ``joined_at`` = ``traits.createdAt``, else the person's first identify. The traits named in
    ``[sources.segment] member_traits`` fill ``entry_path``, ``consent`` and ``is_staff`` or are kept as
    attributes (a sign-up form's first-touch source and consent, a role). A person's identifies are
    merged into one member (later traits win; ``merged``), the account from their latest group call.
accounts (group)
    ``account_id`` = ``groupId``, ``name`` = ``traits.name``, ``domain`` from ``traits.website`` or
    ``.domain``; the traits named in ``account_traits`` fill ``segment``, ``arr`` and ``seats`` or are
    kept as attributes (``employees``, ``industry``, ``plan`` by default: what a CRM or warehouse sync
    sends); later group calls of the same group are merged, a trait they leave out keeps its value.
excluded
    page, screen and alias calls (``not_loaded_kind``); events without a person (``no_author``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from ..source_settings import ACCOUNT_TRAIT_COLUMNS, MEMBER_TRAIT_COLUMNS, SegmentSettings, SourcesSettings
from . import SOURCES, DumpReport, Source, common
from .common import Converted, ExportFiles, email_or_none, file_schema, instant, mapping, money, text, truthy
from .salesforce import domain_of

__all__ = ["convert", "events", "load"]

MEMBER_COLUMNS = ("member_id", "email", "handle", "name", "joined_at", "account_id", *MEMBER_TRAIT_COLUMNS)
ACCOUNT_COLUMNS = ("account_id", "name", "domain", "created_at", *ACCOUNT_TRAIT_COLUMNS)
OUTCOMES_SCHEMA = file_schema("outcomes", ("outcome_id", "member_id", "account_id", "ts", "type", "value",
                                           "currency"))
_WHAT = ("Segment input is batch payloads ({\"batch\": [...]}), event objects or JSON Lines (.jsonl, .json.gz) of "
         "track, identify and group calls.")


def _documents(files: ExportFiles, name: str) -> Iterator[Any]:
    """The JSON values of one file: a whole document, or one per line."""
    data = files.read_bytes(name)
    if name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            msg = f"Cannot read {name}: {exc}. Download it again."
            raise UnreadableFileError(msg) from exc
    content = data.decode("utf-8-sig", errors="replace")
    try:
        yield json.loads(content)
        return
    except ValueError:
        pass
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as exc:
                msg = f"Cannot read {name}, line {number}: not JSON ({exc}). Nothing was loaded. {_WHAT}"
                raise UnreadableFileError(msg) from exc


def events(document: Any) -> Iterator[dict[str, Any]]:
    """The events of a document: a batch (its envelope's context merged down), a list, or one event."""
    if isinstance(document, list):
        for item in document:
            yield from events(item)
    elif isinstance(document, dict) and isinstance(document.get("batch"), list):
        envelope = mapping(document.get("context"))
        for event in document["batch"]:
            if isinstance(event, dict):
                context = {**envelope, **mapping(event.get("context"))}
                yield {**event, "context": context, "sentAt": event.get("sentAt") or document.get("sentAt")}
    elif isinstance(document, dict) and "type" in document:
        yield document


def _when(event: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """The event's time and the text it was read from (see the module)."""
    if text(event.get("timestamp")):
        return instant(event.get("timestamp")), text(event.get("timestamp"))
    original = instant(event.get("originalTimestamp"))
    if original is None:
        return None, None
    sent, received = instant(event.get("sentAt")), instant(event.get("receivedAt"))
    corrected = original + (received - sent) if sent is not None and received is not None else original
    return corrected, corrected.isoformat()


class _Stream:
    def __init__(self, converted: Converted, settings: SegmentSettings) -> None:
        self.converted = converted
        self.settings = settings
        self.activities: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        self.members: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, tuple[datetime | None, str]] = {}
        self.member_attributes: list[str] = []  # attribute names in the order first seen
        self.account_attributes: list[str] = []

    def event(self, event: dict[str, Any]) -> None:
        kind = (text(event.get("type")) or "").lower()
        self.converted.counts[f"{kind or 'untyped'}_events"] += 1
        table = {"track": "activities", "identify": "members", "group": "accounts"}.get(kind)
        if table is None:
            self.converted.exclude("activities", "not_loaded_kind")
            return
        person = text(event.get("userId")) or (f"anon:{a}" if (a := text(event.get("anonymousId"))) else None)
        if person is None:
            self.converted.exclude(table, "no_author")
            return
        ts, ts_text = _when(event)
        key = f"{text(event.get('messageId'))}:{kind}:{ts_text}"
        traits = mapping(event.get("traits"))
        if kind == "track":
            self.track(event, person, ts, key)
        elif kind == "identify":
            self.identify(traits, person, ts)
        else:
            self.group(event, traits, person, ts)

    def track(self, event: dict[str, Any], person: str, ts: datetime | None, key: str) -> None:
        name = text(event.get("event")) or ""
        props = mapping(event.get("properties"))
        account = text(mapping(event.get("context")).get("groupId"))
        if name in self.settings.outcome_events:
            value = money(props.get("revenue")) if props.get("revenue") is not None else money(props.get("value"))
            self.outcomes.append({"outcome_id": key, "member_id": person, "account_id": account, "ts": ts,
                                  "type": self.settings.outcome_events[name], "value": value,
                                  "currency": text(props.get("currency"))})
            self.converted.counts["track_outcomes"] += 1
        elif name in self.settings.activity_events:
            campaign = mapping(mapping(event.get("context")).get("campaign"))
            self.activities.append({"activity_id": key, "member_id": person, "ts": ts,
                                    "type": self.settings.activity_events[name], "channel": "product",
                                    "program": text(props.get("program")) or text(campaign.get("name"))})
        else:
            self.converted.exclude("activities", "unmapped_event")

    def identify(self, traits: dict[str, Any], person: str, ts: datetime | None) -> None:
        known = self.members.get(person)
        if known is None:
            known = self.members[person] = {"member_id": person, "joined_at": ts}
        else:
            self.converted.exclude("members", "merged")
        name = text(traits.get("name")) or text(" ".join(filter(None, (text(traits.get("firstName")),
                                                                       text(traits.get("lastName")))))) or None
        for column, value in (("email", email_or_none(traits.get("email"))), ("name", name),
                              ("handle", text(traits.get("username")))):
            if value is not None:
                known[column] = value
        created = instant(traits.get("createdAt") or traits.get("created_at"))
        if created is not None:
            known["joined_at"] = created
        elif ts is not None and (known["joined_at"] is None or ts < known["joined_at"]):
            known["joined_at"] = ts
        _mapped(traits, self.settings.member_traits, MEMBER_TRAIT_COLUMNS, known, self.member_attributes)

    def group(self, event: dict[str, Any], traits: dict[str, Any], person: str, ts: datetime | None) -> None:
        group_id = text(event.get("groupId"))
        if group_id is None:
            self.converted.exclude("accounts", "no_author")
            return
        if group_id in self.accounts:
            self.converted.exclude("accounts", "merged")
        known = self.accounts.setdefault(group_id, {"account_id": group_id})
        known["name"] = text(traits.get("name")) or known.get("name")
        known["domain"] = domain_of(traits.get("website") or traits.get("domain")) or known.get("domain")
        known["created_at"] = instant(traits.get("createdAt")) or known.get("created_at")
        _mapped(traits, self.settings.account_traits, ACCOUNT_TRAIT_COLUMNS, known, self.account_attributes)
        latest = self.groups.get(person)
        if latest is None or (ts is not None and (latest[0] is None or ts >= latest[0])):
            self.groups[person] = (ts, group_id)

    def write(self) -> None:
        for person, (_, group_id) in self.groups.items():
            if person in self.members:
                self.members[person]["account_id"] = group_id
        accounts, members = list(self.accounts.values()), list(self.members.values())
        self.converted.write("accounts", accounts, file_schema("accounts", ACCOUNT_COLUMNS,
                                                               _extra(accounts, self.account_attributes)))
        self.converted.write("members", members, file_schema("members", MEMBER_COLUMNS,
                                                             _extra(members, self.member_attributes)))
        self.converted.write("activities", self.activities)
        self.converted.write("outcomes", self.outcomes, OUTCOMES_SCHEMA)


def _trait(column: str, value: Any) -> Any:
    """A trait's value for ``column``: booleans, money and counts read as such; an attribute keeps a number or a
    boolean as it is and anything else as text (objects and lists are left out: ``None``)."""
    if column in ("consent", "is_staff"):
        return truthy(value)
    if column == "arr":
        return money(value)
    if column == "seats":
        amount = money(value)
        return int(amount) if amount is not None and amount == amount.to_integral_value() else None
    if column in ("entry_path", "segment"):
        return text(value)
    return value if isinstance(value, (bool, int, float)) else text(value)


def _mapped(traits: Mapping[str, Any], names: Mapping[str, str], columns: tuple[str, ...], known: dict[str, Any],
            attributes: list[str]) -> None:
    """Fill ``known`` from the traits ``names`` maps (trait -> column or attribute); a trait left out or null keeps
    the value an earlier call gave."""
    for trait, target in names.items():
        value = _trait(target, traits.get(trait)) if traits.get(trait) is not None else None
        if value is None:
            continue
        known[target] = value
        if target not in columns and target not in attributes:
            attributes.append(target)


def _extra(rows: list[dict[str, Any]], names: list[str]) -> list[tuple[str, pa.DataType]]:
    """The attribute columns, each typed by its values: all booleans, all whole numbers, all numbers, else text
    (a column of mixed kinds is written as text, so no value is lost)."""
    extra: list[tuple[str, pa.DataType]] = []
    for name in names:
        values = [row[name] for row in rows if row.get(name) is not None]
        if values and all(isinstance(v, bool) for v in values):
            kind: pa.DataType = pa.bool_()
        elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kind = pa.int64()
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kind = pa.float64()
        else:
            kind = pa.string()
            for row in rows:
                if row.get(name) is not None and not isinstance(row[name], str):
                    row[name] = text(row[name])
        extra.append((name, kind))
    return extra


def convert(path: Path, out_dir: Path, settings: SegmentSettings | None = None) -> Converted:
    """Convert Segment / RudderStack event files into canonical files (see the module)."""
    files = ExportFiles(path, "Segment events")
    try:
        names = [n for n in files.names
                 if PurePosixPath(n.lower().removesuffix(".gz")).suffix in (".json", ".jsonl", ".ndjson")]
        if not names:
            msg = f"Cannot read the Segment events {path}: no .json, .jsonl or .ndjson file. {_WHAT}"
            raise UnreadableFileError(msg)
        converted = Converted(Path(out_dir))
        stream = _Stream(converted, settings or SegmentSettings())
        for name in names:
            for document in _documents(files, name):
                for event in events(document):
                    stream.event(event)
        stream.write()
        return converted
    finally:
        files.close()


def load(loader: Loader, path: Path, source: str = "segment", now: datetime | None = None, *,
         settings: SourcesSettings | None = None) -> DumpReport:
    """Convert Segment / RudderStack events and load accounts, members, activities and outcomes."""
    with common.scratch_folder("segment") as scratch:
        converted = convert(Path(path), Path(scratch), (settings or SourcesSettings()).segment)
        return common.load_converted(loader, converted, source, now, Path(path).name)


SOURCES.register("segment", Source(
    name="segment", label="Segment / RudderStack events",
    help="batch payloads or JSON Lines of track, identify and group calls (file, folder or .zip; .gz too)",
    default_source="segment", load=load, options=("settings",)))
