"""Slack workspace export ("Export data"): members and messages, reactions and joins as activities.

The export is a ZIP (or the folder it unpacks to): ``users.json``, ``channels.json`` (and, in exports
with private data, ``groups.json``, ``mpims.json``, ``dms.json``), and one folder per conversation —
named by channel name, or by id for private ones — holding one ``YYYY-MM-DD.json`` array of
messages per day with activity. The day is the exporting workspace's local day: times come from each
message's ``ts`` (epoch seconds with microseconds, read exactly), never from the file name.

Mapping
-------
members (``users.json``)
    ``member_id`` = ``id``, ``handle`` = ``name``, ``name`` = ``real_name`` (or the profile's),
    ``email`` = ``profile.email`` where the export has it (owners' exports on paid plans),
    ``is_staff`` = workspace admin or owner, ``joined_at`` = the earliest moment the export shows the
    member existed (their first message, reaction or channel join, else their profile's ``updated``
    time; Slack exports carry no sign-up date). ``deleted``, ``is_restricted`` (guests), ``title``
    and ``tz`` are kept as attributes. Bots (``is_bot``) and Slackbot (``USLACKBOT``) are excluded.
activities (channel = the channel's name; ``program`` = the channel's program in ``[sources.slack]
channel_programs``, if any; ``activity_id`` = ``<channel id>:<ts>``, ``ts`` kept as written)
    A top-level message (no subtype, ``file_share``, ``me_message``, ``thread_broadcast``) -> ``post``;
    a thread reply (``thread_ts`` != ``ts``) -> ``reply`` with ``ref_id`` = the root's id;
    ``file_comment`` (old exports) -> ``comment``; ``channel_join`` -> ``joined``; each user listed in
    a message's ``reactions`` -> ``reaction`` (``<message id>:<emoji>:<user>``, at the message's time,
    the export having no reaction times).
excluded (counted by reason)
    messages without a user (``bot_message`` and integrations) and by bot users -> ``bot``; by
    Slackbot -> ``system_user``; ``tombstone`` / ``message_deleted`` placeholders -> ``deleted``; every
    other subtype (``bot_add``, ``channel_topic``, ``pinned_item``, ``channel_leave`` ...) ->
    ``system_event``; reactions by bots or Slackbot.

The day files are read by DuckDB in one pass (only the fields above), so a million messages load in
seconds.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from ..source_settings import SlackSettings, SourcesSettings
from ..store import connect, sql_path
from . import SOURCES, DumpReport, Source
from .common import Converted, ExportFiles, email_or_none, epoch_instant, file_schema, load_converted, scratch_folder
from .common import text as _text

__all__ = ["convert", "load"]

SLACKBOT = "USLACKBOT"
CONVERSATIONS = ("channels.json", "groups.json", "mpims.json", "dms.json")
POST_SUBTYPES = ("file_share", "me_message", "thread_broadcast", "reply_broadcast")
DELETED_SUBTYPES = ("tombstone", "message_deleted")
MEMBERS_SCHEMA = file_schema("members", ("member_id", "email", "handle", "name", "joined_at", "is_staff"),
                             extra=[("deleted", pa.bool_()), ("guest", pa.bool_()), ("title", pa.string()),
                                    ("tz", pa.string())])
_DAY_FILE = r"\d{4}-\d{2}-\d{2}\.json"

_REQUIRED = ("A Slack export is the ZIP from Settings > Import/Export Data > Export (or its unpacked folder): "
             "users.json, channels.json and one folder of YYYY-MM-DD.json files per channel.")


def _message_sql(files: list[str], channels: dict[str, tuple[str, str]]) -> str:
    """Every message of the day files, classified: kind (post, reply, comment, joined) or exclusion reason."""
    listed = ", ".join(f"'{sql_path(f)}'" for f in files)
    columns = ("{type: 'VARCHAR', subtype: 'VARCHAR', user: 'VARCHAR', ts: 'VARCHAR', thread_ts: 'VARCHAR', "
               "comment: 'STRUCT(user VARCHAR)', reactions: 'STRUCT(name VARCHAR, users VARCHAR[], count BIGINT)[]'}")
    names = ", ".join(f"('{sql_path(folder)}', '{sql_path(cid)}', '{sql_path(name)}')"
                      for folder, (cid, name) in channels.items()) or "(NULL, NULL, NULL)"
    return f"""
    create temp table messages as
    with raw as (
        select *, regexp_extract(filename, '([^/\\\\]+)[/\\\\][^/\\\\]+$', 1) as folder
        from read_json([{listed}], format = 'array', columns = {columns}, filename = true,
                       maximum_object_size = 67108864)
    ), named as (
        select raw.*, coalesce(c.cid, raw.folder) as channel_id, coalesce(c.cname, raw.folder) as channel,
               coalesce(raw.user, raw.comment.user) as author
        from raw left join (values {names}) as c(folder, cid, cname) on c.folder = raw.folder
    ), marked as (
        select named.*, bots.id is not null as by_bot from named left join bots on bots.id = named.author
    )
    select channel_id, channel, author, ts, thread_ts, subtype, reactions,
        case
            when subtype in ('bot_message') or author is null then 'bot'
            when author = '{SLACKBOT}' then 'system_user'
            when by_bot then 'bot'
            when subtype in {DELETED_SUBTYPES} then 'deleted'
            when subtype = 'channel_join' then 'joined'
            when subtype = 'file_comment' then 'comment'
            when subtype is not null and subtype not in {POST_SUBTYPES} then 'system_event'
            when thread_ts is not null and thread_ts <> ts then 'reply'
            else 'post'
        end as kind,
        try_cast(make_timestamp(try_cast(try_cast(ts as DECIMAL(38, 6)) * 1000000 as BIGINT)) as TIMESTAMPTZ) as sent_at
    from marked
    """


def _users(files: ExportFiles, converted: Converted) -> tuple[list[dict[str, Any]], set[str]]:
    """The people of ``users.json`` (bots and Slackbot excluded and counted) and the bots' ids."""
    users = files.read_json("users.json")
    if not isinstance(users, list):
        msg = f"users.json in {files.path} is not a list of users. {_REQUIRED}"
        raise UnreadableFileError(msg)
    people: list[dict[str, Any]] = []
    bots: set[str] = set()
    for user in users:
        if not isinstance(user, dict):
            converted.exclude("members", "no_author")
            continue
        member_id = _text(user.get("id"))
        if user.get("is_bot") or user.get("is_app_user"):
            converted.exclude("members", "bot")
            bots.add(member_id or "")
            continue
        if member_id == SLACKBOT:
            converted.exclude("members", "system_user")
            continue
        profile: dict[str, Any] = user["profile"] if isinstance(user.get("profile"), dict) else {}
        people.append({
            "member_id": member_id, "email": email_or_none(profile.get("email")), "handle": _text(user.get("name")),
            "name": _text(user.get("real_name")) or _text(profile.get("real_name")),
            "joined_at": epoch_instant(user.get("updated")),
            "is_staff": bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
            "deleted": bool(user.get("deleted")), "guest": bool(user.get("is_restricted")),
            "title": _text(profile.get("title")), "tz": _text(user.get("tz")),
        })
    return people, bots


def _channels(files: ExportFiles) -> dict[str, tuple[str, str]]:
    """Folder name -> (conversation id, channel name), from channels.json and the private lists."""
    found: dict[str, tuple[str, str]] = {}
    for listing in CONVERSATIONS:
        if listing not in files.names:
            continue
        entries = files.read_json(listing)
        for entry in entries if isinstance(entries, list) else []:
            cid, name = _text(entry.get("id")), _text(entry.get("name"))
            if cid is None:
                continue
            found[name or cid] = (cid, name or cid)
            found.setdefault(cid, (cid, name or cid))  # private conversations' folders are named by id
    return found


def convert(path: Path, out_dir: Path, settings: SlackSettings | None = None) -> Converted:
    """Convert a Slack export (ZIP or folder) into ``members.parquet`` and ``activities.parquet``."""
    files = ExportFiles(path, "Slack export")
    try:
        if "users.json" not in files.names:
            msg = f"Cannot read the Slack export {path}: users.json is missing. {_REQUIRED}"
            raise UnreadableFileError(msg)
        converted = Converted(Path(out_dir))
        people, bots = _users(files, converted)
        channels = _channels(files)
        folder, scratch = files.local_folder(".json")
        try:
            days = sorted(str(folder / name) for name in files.names
                          if len(PurePosixPath(name).parts) == 2 and _is_day(name))
            _messages(days, channels, bots, people, converted, (settings or SlackSettings()).channel_programs)
        finally:
            if scratch is not None:
                scratch.cleanup()
    finally:
        files.close()
    return converted


def _is_day(name: str) -> bool:
    return re.fullmatch(_DAY_FILE, PurePosixPath(name).name) is not None


def _messages(days: list[str], channels: dict[str, tuple[str, str]], bots: set[str],
              people: list[dict[str, Any]], converted: Converted, programs: dict[str, str]) -> None:
    con = connect()
    try:
        con.execute("create temp table bots(id VARCHAR)")
        if bots:
            con.executemany("insert into bots values (?)", [[b] for b in sorted(bots)])
        con.execute("create temp table channel_programs(channel VARCHAR, program VARCHAR)")
        if programs:
            con.executemany("insert into channel_programs values (?, ?)", sorted(programs.items()))
        activities = converted.directory / "activities.parquet"
        if days:
            con.execute("set preserve_insertion_order = false")  # rows are keyed, their order is not needed
            try:
                con.execute(_message_sql(days, channels))
            except duckdb.Error as exc:
                msg = (f"Cannot read the Slack export's day files: {exc}. Nothing was loaded; check that each "
                       f"channel folder holds YYYY-MM-DD.json arrays of messages (re-export if a file is cut short).")
                raise UnreadableFileError(msg) from exc
            con.execute("alter table messages add column program VARCHAR")
            con.execute("update messages set program = p.program from channel_programs p "
                        "where p.channel = messages.channel")
            con.execute("alter table messages add column rowid_ BIGINT")
            con.execute("create temp sequence s; update messages set rowid_ = nextval('s')")
            con.execute("""create temp table reactions_flat as
                select rowid_, r.name as name, r.users as users, r.count as n
                from (select rowid_, unnest(reactions) as r from messages where reactions is not null)""")
            for kind, n in con.execute("select kind, count(*) from messages group by kind").fetchall():
                if kind in ("bot", "system_user", "deleted", "system_event"):
                    converted.exclude("activities", kind, int(n))
                converted.counts[f"messages_{kind}"] += int(n)
            reaction_rows = con.execute("""
                select case when u = 'USLACKBOT' then 'system_user' when u in (select id from bots) then 'bot'
                            else 'reaction' end, count(*)
                from (select unnest(users) as u from reactions_flat) group by all""").fetchall()
            for what, n in reaction_rows:
                if what != "reaction":
                    converted.exclude("activities", what, int(n))
                converted.counts["reactions_read"] += int(n)
            unlisted = con.execute("select coalesce(sum(greatest(n - len(users), 0)), 0) "
                                   "from reactions_flat").fetchone()
            converted.counts["reactions_not_listed"] = int(unlisted[0]) if unlisted else 0
            con.execute(f"""copy (
                select channel_id || ':' || ts as activity_id, author as member_id, sent_at as ts, kind as type,
                       channel, program, cast(NULL as VARCHAR) as tags,
                       case when kind = 'reply' then channel_id || ':' || thread_ts end as ref_id
                from messages where kind in ('post', 'reply', 'comment', 'joined')
                union all
                select m.channel_id || ':' || m.ts || ':' || f.name || ':' || u, u, m.sent_at, 'reaction', m.channel,
                       m.program, NULL, m.channel_id || ':' || m.ts
                from (select rowid_, name, unnest(users) as u from reactions_flat) as f join messages m using (rowid_)
                where u <> '{SLACKBOT}' and u not in (select id from bots)
            ) to '{sql_path(activities)}' (format parquet)""")
            first_seen = dict(con.execute(f"""
                select member_id, min(ts) from read_parquet('{sql_path(activities)}') group by member_id""").fetchall())
            converted.tables["activities"] = activities
        else:
            converted.write("activities", [])
            first_seen = {}
        converted.excluded.setdefault("activities", Counter())
    finally:
        con.close()
    known = {p["member_id"] for p in people}
    converted.counts["authors_not_in_users_json"] = len(set(first_seen) - known)
    if converted.counts["authors_not_in_users_json"]:
        converted.notes.append(f"{converted.counts['authors_not_in_users_json']:,} people wrote or reacted without "
                               "being in users.json: their activities are loaded, but they have no member row.")
    if converted.counts["reactions_not_listed"]:
        converted.notes.append(f"{converted.counts['reactions_not_listed']:,} reactions are counted on messages "
                               "without the export listing who reacted: they cannot be loaded.")
    for person in people:
        seen: datetime | None = first_seen.get(person["member_id"])
        updated: datetime | None = person["joined_at"]
        person["joined_at"] = min((t for t in (seen, updated) if t is not None), default=None)
    converted.write("members", people, MEMBERS_SCHEMA)
    converted.tables = {"members": converted.tables["members"], "activities": converted.tables["activities"]}


def load(loader: Loader, path: Path, source: str = "slack", now: datetime | None = None, *,
         settings: SourcesSettings | None = None) -> DumpReport:
    """Convert a Slack export and load its members and activities through ``loader`` (see the module)."""
    with scratch_folder("slack") as scratch:
        converted = convert(Path(path), Path(scratch), (settings or SourcesSettings()).slack)
        return load_converted(loader, converted, source, now, Path(path).name)


SOURCES.register("slack", Source(
    name="slack", label="Slack workspace export",
    help="the export ZIP or its folder (users.json, channels.json, one folder of YYYY-MM-DD.json per channel)",
    default_source="slack", load=load, options=("settings",)))
