"""Discord: DiscordChatExporter JSON, one file per channel or thread (a file, a folder or a ``.zip``).

Discord gives server admins no export of messages; communities use DiscordChatExporter, which writes
``{"guild": ..., "channel": ..., "messages": [...]}`` per channel or thread. Times carry the offset of
the machine that ran the exporter and 1 to 7 fractional digits; they are read with their offset.
Ids are snowflakes and stay text. The channel comes from inside the file (``channel.id``,
``channel.name``), never from its name; ``messageCount`` is not trusted (the array is counted).

Mapping
-------
members
    one per author who is not a bot: ``member_id`` = ``author.id``, ``handle`` = ``author.name``,
    ``name`` = ``author.nickname``, ``joined_at`` = their ``GuildMemberJoin`` message, else their first
    message or reaction in the files. Discord exports hold no e-mail. Bots (``isBot``) are excluded.
activities (``activity_id`` = the message id; channel = the channel's name, a thread's parent channel
for threads)
    ``Default`` -> ``post``, or ``reply`` when it has a ``reference`` (older exports); ``Reply`` ->
    ``reply`` with ``ref_id`` = ``reference.messageId``; ``GuildMemberJoin`` -> ``joined``; each user listed
    in a reaction -> ``reaction`` (``<message id>:<emoji>:<user id>``, at the message's time). A message
    in several files (a thread's starter is in the thread's file and its parent's) is written each time
    and loaded once: the copies count as duplicates.
excluded
    messages and reactions of bots (``bot``); other message types (``ThreadCreated``,
    ``ChannelPinnedMessage``, ``Call``, ...) as ``system_event``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from . import SOURCES, DumpReport, Source, common
from .common import Converted, ExportFiles, file_schema, instant, mapping, text

__all__ = ["convert", "load"]

MEMBERS_SCHEMA = file_schema("members", ("member_id", "handle", "name", "joined_at"))
THREADS = ("GuildPublicThread", "GuildPrivateThread", "GuildNewsThread")
_WHAT = ("A Discord export is DiscordChatExporter's JSON (one file per channel or thread, with guild, channel and "
         "messages), as a file, a folder or a .zip.")


def convert(path: Path, out_dir: Path) -> Converted:
    """Convert DiscordChatExporter JSON files into members and activities Parquet files."""
    files = ExportFiles(path, "Discord export")
    converted = Converted(Path(out_dir))
    activities: list[dict[str, Any]] = []
    people: dict[str, dict[str, Any]] = {}
    try:
        names = [n for n in files.names if PurePosixPath(n).suffix.lower() == ".json"]
        if not names:
            msg = f"Cannot read the Discord export {path}: no .json file. {_WHAT}"
            raise UnreadableFileError(msg)
        for name in names:
            data = files.read_json(name)
            if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                msg = f"{name} is not a DiscordChatExporter JSON file (no messages list). {_WHAT}"
                raise UnreadableFileError(msg)
            channel = mapping(data.get("channel"))
            label = text(channel.get("category")) if channel.get("type") in THREADS else None
            label = label or text(channel.get("name")) or text(channel.get("id"))
            converted.counts["files"] += 1
            for message in data["messages"]:
                _message(mapping(message), label, converted, activities, people)
    finally:
        files.close()
    converted.write("members", list(people.values()), MEMBERS_SCHEMA)
    converted.write("activities", activities)
    converted.tables = {"members": converted.tables["members"], "activities": converted.tables["activities"]}
    return converted


def _person(people: dict[str, dict[str, Any]], user: dict[str, Any], ts: datetime | None, joined: bool) -> str:
    member_id = text(user.get("id")) or ""
    known = people.setdefault(member_id, {"member_id": member_id, "handle": text(user.get("name")),
                                          "name": text(user.get("nickname")), "joined_at": None, "join": False})
    if ts is not None:
        if joined and not known["join"]:
            known["joined_at"], known["join"] = ts, True
        elif not known["join"] and (known["joined_at"] is None or ts < known["joined_at"]):
            known["joined_at"] = ts
    return member_id


def _message(message: dict[str, Any], channel: str | None, converted: Converted, activities: list[dict[str, Any]],
             people: dict[str, dict[str, Any]]) -> None:
    author = mapping(message.get("author"))
    kind = text(message.get("type")) or "Default"
    ts = instant(message.get("timestamp"))
    message_id = text(message.get("id"))
    reference = mapping(message.get("reference"))
    if author.get("isBot"):
        converted.exclude("activities", "bot")
    elif text(author.get("id")) is None:
        converted.exclude("activities", "no_author")
    elif kind in ("Default", "Reply", "GuildMemberJoin"):
        member_id = _person(people, author, ts, joined=kind == "GuildMemberJoin")
        replied = text(reference.get("messageId")) if kind != "GuildMemberJoin" else None
        activity = "joined" if kind == "GuildMemberJoin" else "reply" if (kind == "Reply" or replied) else "post"
        activities.append({"activity_id": message_id, "member_id": member_id, "ts": ts, "type": activity,
                           "channel": channel, "ref_id": replied})
    else:
        converted.exclude("activities", "system_event")
    for reaction in message.get("reactions") or []:
        reaction = mapping(reaction)
        emoji = mapping(reaction.get("emoji"))
        emoji_name = text(emoji.get("name")) or text(emoji.get("id")) or "?"
        users = [mapping(u) for u in reaction.get("users") or []]
        converted.counts["reactions_not_listed"] += max(int(reaction.get("count") or 0) - len(users), 0)
        for user in users:
            if user.get("isBot"):
                converted.exclude("activities", "bot")
                continue
            member_id = _person(people, user, ts, joined=False)
            activities.append({"activity_id": f"{message_id}:{emoji_name}:{member_id}", "member_id": member_id,
                               "ts": ts, "type": "reaction", "channel": channel, "ref_id": message_id})


def load(loader: Loader, path: Path, source: str = "discord", now: datetime | None = None) -> DumpReport:
    """Convert DiscordChatExporter JSON and load members and activities through ``loader``."""
    with common.scratch_folder("discord") as scratch:
        return common.load_converted(loader, convert(Path(path), Path(scratch)), source, now, Path(path).name)


SOURCES.register("discord", Source(
    name="discord", label="Discord (DiscordChatExporter JSON)",
    help="DiscordChatExporter JSON files, one per channel or thread (file, folder or .zip)",
    default_source="discord", load=load))
