"""The Stack Exchange data dump: members, activities and accepted answers as canonical Parquet files.

A dump folder holds one XML file per table (``Users.xml``, ``Posts.xml``, ``Comments.xml``,
``Votes.xml``, ``Badges.xml``, plus ``Tags.xml`` and ``PostLinks.xml``, which are not needed), one
``<row .../>`` element per record; each file may also be gzip-compressed (``Users.xml.gz``).
Stack Exchange publishes dumps as ``.7z`` archives: extract the archive first. The content is
published under CC BY-SA: attribute Stack Exchange and the authors when showing it.

:func:`convert` streams the files (``xml.etree.ElementTree.iterparse``, each element cleared once
read, only the attributes named below kept) into three Parquet files with canonical column names;
:func:`load` converts into a temporary folder and loads them through :meth:`Engine.load`, so every
check, quarantine rule and deduplication of a load applies, and loading a dump twice adds nothing.

Mapping
-------
``members.parquet`` (from Users)
    ``member_id`` = Id, ``handle`` and ``name`` = DisplayName, ``joined_at`` = CreationDate,
    ``is_staff`` = Id <= 0 (the "Community" bot, Id -1), ``consent`` null (a dump says nothing
    about consent). Reputation, Views, UpVotes, DownVotes, Location, WebsiteUrl and AccountId (the
    Stack Exchange network account, not a customer account) are kept as the extra columns
    ``reputation``, ``views``, ``up_votes``, ``down_votes``, ``location``, ``website_url`` and
    ``network_account_id``, which a load keeps in ``attributes``.
``activities.parquet`` (channel ``q&a``)
    Questions (PostTypeId 1) -> ``question``, ``activity_id`` ``post-<Id>``, ``tags`` from Tags
    (``<a><b>`` or ``|a|b|`` -> ``a|b``); answers (PostTypeId 2) -> ``answer`` with ``ref_id`` =
    ParentId; comments -> ``comment-<Id>`` with ``ref_id`` = PostId; votes that name their voter
    (UserId) -> ``vote-<Id>`` with ``ref_id`` = PostId; badges -> ``badge-<Id>`` with ``program`` =
    the badge name. ``member_id`` is OwnerUserId (posts) or UserId. Other post types (tag wikis,
    moderator nominations, ...) are skipped.
``outcomes.parquet``
    One ``accepted_answer`` per question whose AcceptedAnswerId names an answer in Posts, keyed by
    the asker's ``member_id`` (their question was resolved by the community: the support-deflection
    conversion), ``outcome_id`` ``accepted-<answer Id>``. Its ``ts`` is the CreationDate of the
    acceptance vote (VoteTypeId 1) on that answer, else the answer's CreationDate. Dumps truncate
    vote times to the day (``2011-02-24T00:00:00``), so an acceptance vote can read earlier than the
    answer it accepts; ``ts`` is then the answer's CreationDate, the earliest instant consistent with
    both (``counts["outcomes_vote_before_answer"]`` says how often).

Skipped rows
------------
Rows without an owner (posts whose author was deleted or never registered carry only
``OwnerDisplayName``; comments only ``UserDisplayName``), votes without a voter (public dumps
name the voter only for favourites and bounties), and rows without an Id or a readable date are
not written; :class:`ConvertedDump` counts each with its reason.

Times in a dump are naive UTC (``2010-08-25T18:10:17.000``, votes sometimes a date alone); they
are written as timezone-aware UTC timestamps.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from . import SOURCES, DumpReport, Source

__all__ = ["SAMPLE_DUMP", "ConvertedDump", "convert", "load"]

#: kind -> (file name, root element), in reading order; each file may also end in ``.gz``
DUMP_FILES: dict[str, tuple[str, str]] = {
    "users": ("Users.xml", "users"),
    "posts": ("Posts.xml", "posts"),
    "comments": ("Comments.xml", "comments"),
    "votes": ("Votes.xml", "votes"),
    "badges": ("Badges.xml", "badges"),
}
CHANNEL = "q&a"
QUESTION, ANSWER = "1", "2"  # PostTypeId
ACCEPTANCE_VOTE = "1"  # VoteTypeId
BATCH_ROWS = 50_000

MEMBERS_SCHEMA = schema.arrow_file_schema(
    schema.MEMBERS, ("member_id", "handle", "name", "joined_at", "consent", "is_staff"),
    extra=[("reputation", pa.int64()), ("views", pa.int64()), ("up_votes", pa.int64()), ("down_votes", pa.int64()),
           ("location", pa.string()), ("website_url", pa.string()), ("network_account_id", pa.string())],
)
ACTIVITIES_SCHEMA = schema.arrow_file_schema(schema.ACTIVITIES)
OUTCOMES_SCHEMA = schema.arrow_file_schema(schema.OUTCOMES, ("outcome_id", "member_id", "ts", "type"))

#: every count :func:`convert` reports, in a fixed order (all present, zero or not)
COUNT_KEYS = (
    "users_read", "members_written",
    "posts_read", "questions_read", "answers_read", "questions_written", "answers_written",
    "comments_read", "comments_written",
    "votes_read", "votes_written",
    "badges_read", "badges_written",
    "activities_written",
    "accepted_answers_read", "outcomes_written",
    "outcomes_dated_by_vote", "outcomes_dated_by_answer", "outcomes_vote_before_answer", "outcomes_self_accepted",
)  # fmt: skip
#: every reason a row is skipped (all present, zero or not)
SKIP_REASONS: dict[str, str] = {
    "users_unreadable": "user without an Id or a readable CreationDate",
    "posts_unreadable": "post without an Id, a PostTypeId or a readable CreationDate",
    "posts_other_type": "post that is neither a question nor an answer (tag wiki, nomination, ...)",
    "questions_no_owner": "question without OwnerUserId (author deleted or unregistered)",
    "answers_no_owner": "answer without OwnerUserId (author deleted or unregistered)",
    "comments_unreadable": "comment without an Id or a readable CreationDate",
    "comments_no_author": "comment without UserId (author deleted or unregistered)",
    "votes_unreadable": "vote without an Id or a readable CreationDate",
    "votes_no_voter": "vote without UserId (dumps name voters only for favourites and bounties)",
    "badges_unreadable": "badge without an Id or a readable Date",
    "badges_no_user": "badge without UserId",
    "accepted_answers_no_asker": "accepted answer to a question without OwnerUserId",
    "accepted_answers_missing_answer": "AcceptedAnswerId that names no readable answer in Posts",
}

#: the table whose rows each kind of skipped row would have been (the first word of its reason)
SKIPPED_TABLE = {"users": "members", "posts": "activities", "questions": "activities", "answers": "activities",
                 "comments": "activities", "votes": "activities", "badges": "activities", "accepted": "outcomes"}
_REQUIRED_TEXT = (
    "A Stack Exchange dump folder must contain Users.xml, Posts.xml, Comments.xml, Votes.xml and "
    "Badges.xml (each may be gzip-compressed as .xml.gz); Tags.xml and PostLinks.xml are not needed. "
    "Dumps are published as .7z archives: extract the archive into the folder first."
)
_ANGLE_TAG = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class ConvertedDump:
    """What :func:`convert` wrote and what it read and skipped.

    Attributes
    ----------
    directory
        The folder holding the Parquet files.
    tables
        Canonical table -> Parquet file, in load order (members, activities, outcomes).
    counts
        Rows read per dump file (``users_read``, ...), rows written per table and per activity
        kind (``members_written``, ``questions_written``, ...), accepted answers read and how the
        outcomes were dated. ``users_read = members_written + skipped users``, and so on.
    skipped
        Rows not written, by reason (see ``SKIP_REASONS``); every reason is present.
    """

    directory: Path
    tables: dict[str, Path]
    counts: dict[str, int]
    skipped: dict[str, int]


# -- reading -----------------------------------------------------------------------------------


#: A real dump shipped with the package (bicycles.meta.stackexchange.com, September 2023; CC BY-SA,
#: see its PROVENANCE.md): ``commetrics demo --real`` and the tests load it.
SAMPLE_DUMP = Path(__file__).resolve().parent.parent / "data" / "stackexchange-bicycles-meta"


def _locate(dump_dir: Path) -> dict[str, Path]:
    """The path of each dump file (plain or ``.gz``); a clear error when one is missing or doubled."""
    if not dump_dir.is_dir():
        msg = f"Cannot read the Stack Exchange dump {dump_dir}: it is not a folder.\n{_REQUIRED_TEXT}"
        raise UnreadableFileError(msg)
    found: dict[str, Path] = {}
    for kind, (name, _) in DUMP_FILES.items():
        candidates = [p for p in (dump_dir / name, dump_dir / f"{name}.gz") if p.is_file()]
        if not candidates:
            msg = f"Cannot read the Stack Exchange dump {dump_dir}: {name} (or {name}.gz) is missing.\n{_REQUIRED_TEXT}"
            raise UnreadableFileError(msg)
        if len(candidates) > 1:
            msg = (
                f"Cannot read the Stack Exchange dump {dump_dir}: both {name} and {name}.gz are there, and they "
                f"may differ. Remove one of them."
            )
            raise UnreadableFileError(msg)
        found[kind] = candidates[0]
    return found


def _rows(path: Path, root_tag: str) -> Iterator[dict[str, str]]:
    """The attributes of each ``<row/>`` of a dump file, streamed; each element is cleared once read.

    The yielded mapping is only valid until the next row is requested.
    """
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as stream:
            root: ET.Element | None = None
            for event, element in ET.iterparse(stream, events=("start", "end")):
                if root is None:
                    root = element
                    if element.tag != root_tag:
                        msg = (
                            f"Cannot read {path}: its root element is <{element.tag}>, not <{root_tag}>; "
                            f"is it a Stack Exchange dump file?\n{_REQUIRED_TEXT}"
                        )
                        raise UnreadableFileError(msg)
                    continue
                if event == "end" and element.tag == "row":
                    yield element.attrib
                    root.clear()  # drops the row (and any other finished child) from memory
    except ET.ParseError as exc:
        msg = f"Cannot read {path}: it is not well-formed XML ({exc}). Nothing was converted; re-extract the dump."
        raise UnreadableFileError(msg) from exc
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        msg = f"Cannot read {path}: {exc}. Nothing was converted; check the file is complete."
        raise UnreadableFileError(msg) from exc


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(value: str | None) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _instant(value: str | None) -> datetime | None:
    """A dump time (naive UTC, possibly a date alone) as an aware UTC datetime; None if unreadable."""
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _tags(value: str | None) -> str | None:
    """``<a><b>`` (older dumps) or ``|a|b|`` (newer ones) as ``a|b``."""
    text = _text(value)
    if text is None:
        return None
    labels = _ANGLE_TAG.findall(text) if text.startswith("<") else text.split("|")
    return "|".join(label.strip() for label in labels if label.strip()) or None


# -- writing -----------------------------------------------------------------------------------


class _Sink:
    """Rows -> one Parquet file, written in batches so that memory stays small."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self.pending = 0
        self.written = 0
        self.writer = pq.ParquetWriter(path, schema)

    def add(self, **row: Any) -> None:
        for name, values in self.columns.items():
            values.append(row.get(name))
        self.pending += 1
        if self.pending >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.Table.from_pydict(self.columns, schema=self.schema))
            self.written += self.pending
            self.pending = 0
            for values in self.columns.values():
                values.clear()

    def close(self) -> None:
        self.flush()
        self.writer.close()


@dataclass
class _Acceptance:
    """What the outcomes need: the accepted answers, their creation times and acceptance votes."""

    #: accepted answer Id -> (question Id, asker member_id or None), in the order of Posts
    accepted: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    answer_created: dict[str, datetime] = field(default_factory=dict)
    answer_owner: dict[str, str | None] = field(default_factory=dict)
    vote_at: dict[str, datetime] = field(default_factory=dict)


class _Converter:
    def __init__(self, files: dict[str, Path], out_dir: Path) -> None:
        self.files = files
        self.out_dir = out_dir
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.skipped = dict.fromkeys(SKIP_REASONS, 0)
        self.acceptance = _Acceptance()

    def rows(self, kind: str) -> Iterator[dict[str, str]]:
        for row in _rows(self.files[kind], DUMP_FILES[kind][1]):
            self.counts[f"{kind}_read"] += 1
            yield row

    def run(self) -> ConvertedDump:
        tables = {
            "members": self.out_dir / "members.parquet",
            "activities": self.out_dir / "activities.parquet",
            "outcomes": self.out_dir / "outcomes.parquet",
        }
        self.members(tables["members"])
        activities = _Sink(tables["activities"], ACTIVITIES_SCHEMA)
        try:
            self.posts(activities)
            self.comments(activities)
            self.votes(activities)
            self.badges(activities)
        finally:
            activities.close()
        self.counts["activities_written"] = activities.written
        self.outcomes(tables["outcomes"])
        return ConvertedDump(self.out_dir, tables, self.counts, self.skipped)

    def members(self, path: Path) -> None:
        sink = _Sink(path, MEMBERS_SCHEMA)
        try:
            for row in self.rows("users"):
                member_id, joined_at = _text(row.get("Id")), _instant(row.get("CreationDate"))
                if member_id is None or joined_at is None:
                    self.skipped["users_unreadable"] += 1
                    continue
                number = _int(member_id)
                name = _text(row.get("DisplayName"))
                sink.add(
                    member_id=member_id, handle=name, name=name, joined_at=joined_at, consent=None,
                    is_staff=number is not None and number <= 0,
                    reputation=_int(row.get("Reputation")), views=_int(row.get("Views")),
                    up_votes=_int(row.get("UpVotes")), down_votes=_int(row.get("DownVotes")),
                    location=_text(row.get("Location")), website_url=_text(row.get("WebsiteUrl")),
                    network_account_id=_text(row.get("AccountId")),
                )
        finally:
            sink.close()
        self.counts["members_written"] = sink.written

    def posts(self, sink: _Sink) -> None:
        acc = self.acceptance
        for row in self.rows("posts"):
            post_id, post_type = _text(row.get("Id")), _text(row.get("PostTypeId"))
            ts = _instant(row.get("CreationDate"))
            if post_id is None or post_type is None or ts is None:
                self.skipped["posts_unreadable"] += 1
                continue
            if post_type not in (QUESTION, ANSWER):
                self.skipped["posts_other_type"] += 1
                continue
            kind = "question" if post_type == QUESTION else "answer"
            self.counts[f"{kind}s_read"] += 1
            owner = _text(row.get("OwnerUserId"))
            if post_type == QUESTION:
                accepted_id = _text(row.get("AcceptedAnswerId"))
                if accepted_id is not None:
                    self.counts["accepted_answers_read"] += 1
                    acc.accepted[accepted_id] = (post_id, owner)
            elif post_id in acc.accepted:  # an answer seen before its question is found by a second pass
                acc.answer_created[post_id] = ts
                acc.answer_owner[post_id] = owner
            if owner is None:
                self.skipped[f"{kind}s_no_owner"] += 1
                continue
            sink.add(
                activity_id=f"post-{post_id}", member_id=owner, ts=ts, type=kind, channel=CHANNEL,
                tags=_tags(row.get("Tags")) if post_type == QUESTION else None,
                ref_id=_text(row.get("ParentId")) if post_type == ANSWER else None,
            )
            self.counts[f"{kind}s_written"] += 1
        missing = acc.accepted.keys() - acc.answer_created.keys()
        if missing:  # rare: an answer that precedes the question accepting it (merged questions)
            for row in _rows(self.files["posts"], DUMP_FILES["posts"][1]):
                post_id, ts = _text(row.get("Id")), _instant(row.get("CreationDate"))
                if post_id in missing and _text(row.get("PostTypeId")) == ANSWER and ts is not None:
                    acc.answer_created[post_id] = ts
                    acc.answer_owner[post_id] = _text(row.get("OwnerUserId"))

    def comments(self, sink: _Sink) -> None:
        for row in self.rows("comments"):
            comment_id, ts = _text(row.get("Id")), _instant(row.get("CreationDate"))
            if comment_id is None or ts is None:
                self.skipped["comments_unreadable"] += 1
                continue
            author = _text(row.get("UserId"))
            if author is None:
                self.skipped["comments_no_author"] += 1
                continue
            sink.add(activity_id=f"comment-{comment_id}", member_id=author, ts=ts, type="comment", channel=CHANNEL,
                     ref_id=_text(row.get("PostId")))
            self.counts["comments_written"] += 1

    def votes(self, sink: _Sink) -> None:
        acc = self.acceptance
        for row in self.rows("votes"):
            vote_id, ts = _text(row.get("Id")), _instant(row.get("CreationDate"))
            if vote_id is None or ts is None:
                self.skipped["votes_unreadable"] += 1
                continue
            post_id = _text(row.get("PostId"))
            if _text(row.get("VoteTypeId")) == ACCEPTANCE_VOTE and post_id in acc.accepted:
                # the latest acceptance is the one that stands
                acc.vote_at[post_id] = max(ts, acc.vote_at.get(post_id, ts))
            voter = _text(row.get("UserId"))
            if voter is None:
                self.skipped["votes_no_voter"] += 1
                continue
            sink.add(activity_id=f"vote-{vote_id}", member_id=voter, ts=ts, type="vote", channel=CHANNEL,
                     ref_id=post_id)
            self.counts["votes_written"] += 1

    def badges(self, sink: _Sink) -> None:
        for row in self.rows("badges"):
            badge_id, ts = _text(row.get("Id")), _instant(row.get("Date"))
            if badge_id is None or ts is None:
                self.skipped["badges_unreadable"] += 1
                continue
            user = _text(row.get("UserId"))
            if user is None:
                self.skipped["badges_no_user"] += 1
                continue
            sink.add(activity_id=f"badge-{badge_id}", member_id=user, ts=ts, type="badge", channel=CHANNEL,
                     program=_text(row.get("Name")))
            self.counts["badges_written"] += 1

    def outcomes(self, path: Path) -> None:
        acc = self.acceptance
        sink = _Sink(path, OUTCOMES_SCHEMA)
        try:
            for answer_id, (_, asker) in acc.accepted.items():
                if asker is None:
                    self.skipped["accepted_answers_no_asker"] += 1
                    continue
                created = acc.answer_created.get(answer_id)
                if created is None:
                    self.skipped["accepted_answers_missing_answer"] += 1
                    continue
                voted = acc.vote_at.get(answer_id)
                if voted is None:
                    ts = created
                    self.counts["outcomes_dated_by_answer"] += 1
                else:
                    self.counts["outcomes_dated_by_vote"] += 1
                    if voted < created:  # the vote's time is truncated to its day
                        self.counts["outcomes_vote_before_answer"] += 1
                    ts = max(voted, created)
                if acc.answer_owner.get(answer_id) == asker:
                    self.counts["outcomes_self_accepted"] += 1
                sink.add(outcome_id=f"accepted-{answer_id}", member_id=asker, ts=ts, type="accepted_answer")
        finally:
            sink.close()
        self.counts["outcomes_written"] = sink.written


# -- public API --------------------------------------------------------------------------------


def convert(dump_dir: Path, out_dir: Path) -> ConvertedDump:
    """Convert a Stack Exchange dump folder into canonical Parquet files.

    Parameters
    ----------
    dump_dir
        The extracted dump: ``Users.xml``, ``Posts.xml``, ``Comments.xml``, ``Votes.xml`` and
        ``Badges.xml``, each possibly gzip-compressed (``.xml.gz``). Other files are ignored.
    out_dir
        Where to write ``members.parquet``, ``activities.parquet`` and ``outcomes.parquet``
        (created if needed; existing files of those names are replaced).

    Returns
    -------
    ConvertedDump
        The files in load order and the counts of rows read, written and skipped (by reason).

    Raises
    ------
    UnreadableFileError
        A dump file is missing, present both plain and compressed, not well-formed XML, or not a
        dump file (another root element). Every file is checked to exist before any is read.

    Examples
    --------
    >>> converted = convert(Path("bicycles.meta"), Path("out"))  # doctest: +SKIP
    >>> converted.counts["outcomes_written"]  # doctest: +SKIP
    151
    """
    dump_dir, out_dir = Path(dump_dir), Path(out_dir)
    files = _locate(dump_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Converter(files, out_dir).run()


def load(loader: Loader, dump_dir: Path, source: str = "stackexchange",
         now: datetime | None = None) -> DumpReport:
    """Convert a Stack Exchange dump and load members, activities and outcomes through ``loader``.

    Each table is one load through :meth:`Engine.load`, so validation, quarantine and
    deduplication apply: loading the same dump twice adds nothing.

    Parameters
    ----------
    loader
        What loads the files: the :class:`~commetrics.engine.Engine`.
    dump_dir
        The extracted dump folder (see :func:`convert`).
    source
        The source name the rows are loaded under (keys are unique within a source).
    now
        Load time for the future-timestamp check (default: the clock).

    Returns
    -------
    DumpReport
        One report per table: members, activities, outcomes; the rows of the dump that were not written
        (see ``SKIP_REASONS``) as excluded: ``no_author`` (posts, comments, votes and badges without a
        user), ``unreadable`` (no id or date), ``not_loaded_kind`` (tag wikis, nominations, ...).

    Raises
    ------
    UnreadableFileError
        The dump folder is incomplete or a file cannot be read; nothing is loaded then.
    """
    with tempfile.TemporaryDirectory(prefix="commetrics-stackexchange-") as scratch:
        converted = convert(Path(dump_dir), Path(scratch))
        with loader.batch():
            reports = [loader.load(table, path, source=source, now=now) for table, path in converted.tables.items()]
    excluded: dict[str, dict[str, int]] = {}
    for reason, rows in converted.skipped.items():
        table = SKIPPED_TABLE[reason.split("_", 1)[0]]
        why = "not_loaded_kind" if reason == "posts_other_type" else (
            "unreadable" if reason.endswith("_unreadable") else "no_author")
        excluded.setdefault(table, {}).setdefault(why, 0)
        excluded[table][why] += rows
    return DumpReport(reports, excluded=excluded, counts=converted.counts)


SOURCES.register("stackexchange", Source(
    name="stackexchange", label="Stack Exchange data dump",
    help="the extracted dump folder (Users.xml, Posts.xml, Comments.xml, Votes.xml, Badges.xml; .xml.gz too)",
    default_source="stackexchange", load=load))
