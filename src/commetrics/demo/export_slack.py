"""The community's conversation as a Slack workspace export: ``users.json``, ``channels.json`` and a folder of
``YYYY-MM-DD.json`` day files per channel.

Posts, replies and reactions are the activities Slack carries. What the export must hold so that
``commetrics load-dump slack`` gives back the same rows:

* **Member ids.** ``users.json`` lists every member under their demo id (Slack ids are opaque text; the
  connector keeps them as ``member_id``), admins are the staff, and ``updated`` is the join time, so the
  join date the connector infers is the member's own.
* **Times.** Each message's ``ts`` is its activity's instant (whole seconds). Slack ids a message by its
  channel and ``ts``, so two messages of one channel never share a ``ts``: the rare second message at the
  same instant goes to a twin channel (``forum-2``) that means the same.
* **Programs.** Activities of a program are in the program's channel (``#onboarding``), which the
  workspace's ``[sources.slack] channel_programs`` maps back to the program.
* **Reactions.** Slack records who reacted but not when: a reaction takes its message's time. Each
  reaction is therefore placed on a message posted at its own instant in its channel — a member's post or
  reply at that second, else a message of the channel's bot (bots are excluded, so the bot's messages
  add nothing).
* **Replies** thread under the latest earlier post of their channel (else under the channel bot's
  welcome message).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["BOT_ID", "SLACK_TYPES", "SlackExport", "write_slack"]

#: the activity types the Slack export carries
SLACK_TYPES = ("post", "reply", "reaction")
BOT_ID = "B0COMMUNITY"
BOT_USER = "U0COMMUNITYBOT"
EMOJI = ("+1", "tada", "heart", "eyes", "raised_hands", "rocket", "bulb", "white_check_mark")


@dataclass
class _Message:
    ts: int
    user: str | None  # None: the channel bot
    thread_ts: int | None = None
    replies: int = 0
    reactions: dict[str, list[str]] = field(default_factory=dict)

    def react(self, member: str) -> None:
        """Add ``member``'s reaction under the first emoji they have not used on this message yet."""
        for name in EMOJI:
            users = self.reactions.setdefault(name, [])
            if member not in users:
                users.append(member)
                return
        msg = f"{member} reacts more than {len(EMOJI)} times at one instant"
        raise RuntimeError(msg)

    def as_json(self, number: int) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": _ts(self.ts)}
        if self.user is None:
            out.update(subtype="bot_message", bot_id=BOT_ID, username="community-bot",
                       text=f"Community update #{number}")
        else:
            out.update(user=self.user, text=f"Message {number}")
        if self.thread_ts is not None:
            out["thread_ts"] = _ts(self.thread_ts)
        if self.replies:
            out["reply_count"] = self.replies
        if self.reactions:
            out["reactions"] = [{"name": name, "users": users, "count": len(users)}
                                for name, users in self.reactions.items() if users]
        return out


@dataclass(frozen=True)
class SlackExport:
    """The channels written: name -> program (None: no program), and the count of each kind of record."""

    programs: dict[str, str]
    counts: dict[str, int]


def _ts(seconds: int) -> str:
    return f"{seconds}.000000"


class _Workspace:
    """Messages by channel; each channel's messages keyed by ``ts``."""

    def __init__(self, created: int) -> None:
        self.created = created
        self.channels: dict[str, dict[int, _Message]] = {}
        self.last_post: dict[str, int] = {}
        self.programs: dict[str, str] = {}

    def lane(self, base: str, ts: int) -> str:
        """The channel meaning ``base`` whose ``ts`` is still free (``base``, then ``base-2``, ...)."""
        k = 1
        while True:
            name = base if k == 1 else f"{base}-{k}"
            if ts not in self.channels.setdefault(name, {}):
                return name
            k += 1

    def post(self, channel: str, ts: int, member: str) -> None:
        self.channels[channel][ts] = _Message(ts, member)
        self.last_post[channel] = max(self.last_post.get(channel, ts), ts)

    def reply(self, channel: str, ts: int, member: str) -> None:
        root_ts = self.last_post.get(channel)
        if root_ts is None:  # no earlier post: thread under the bot's welcome message
            root_ts = self.created
            self.channels[channel].setdefault(root_ts, _Message(root_ts, None))
        root = self.channels[channel][root_ts]
        root.thread_ts = root_ts
        root.replies += 1
        self.channels[channel][ts] = _Message(ts, member, thread_ts=root_ts)

    def react(self, channel: str, ts: int, member: str) -> None:
        messages = self.channels.setdefault(channel, {})
        messages.setdefault(ts, _Message(ts, None)).react(member)


def _base(channel: str | None, program: str | None) -> str:
    return program if program else (channel or "general")


def write_slack(folder: Path, members: pd.DataFrame, activities: pd.DataFrame) -> SlackExport:
    """Write the Slack export of ``members`` (canonical columns) and their post, reply and reaction
    ``activities`` (canonical columns, ``ts`` in epoch seconds) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = activities.sort_values(["ts", "activity_id"], kind="stable")
    created = int(min(rows["ts"].min(), members["joined_at"].min())) - 86_400 if len(rows) else 0
    space = _Workspace(created)
    channels, programs = rows["channel"].dropna().unique(), rows["program"].dropna().unique()
    if set(channels) & set(programs):
        msg = "a demo channel and a program share a name: their Slack channels would mix"
        raise RuntimeError(msg)
    talk = rows[rows["type"] != "reaction"]
    for ts, member, kind, channel, program in zip(talk["ts"], talk["member_id"], talk["type"], talk["channel"],
                                                  talk["program"], strict=True):
        base = _base(channel, program)
        name = space.lane(base, int(ts))
        if program:
            space.programs[name] = str(program)
        (space.post if kind == "post" else space.reply)(name, int(ts), str(member))
    reactions = rows[rows["type"] == "reaction"]
    for ts, member, channel, program in zip(reactions["ts"], reactions["member_id"], reactions["channel"],
                                            reactions["program"], strict=True):
        base = _base(channel, program)
        if program:
            space.programs[base] = str(program)
        space.react(base, int(ts), str(member))
    counts = _write_days(folder, space)
    _write_users(folder, members)
    counts["users"] = len(members)
    return SlackExport(programs=dict(sorted(space.programs.items())), counts=counts)


def _write_days(folder: Path, space: _Workspace) -> dict[str, int]:
    listing = []
    counts: dict[str, int] = defaultdict(int)
    for number, name in enumerate(sorted(space.channels), start=1):
        cid = f"C{number:08d}"
        listing.append({"id": cid, "name": name, "created": space.created, "creator": BOT_USER,
                        "is_archived": False, "is_general": False,
                        "purpose": {"value": f"#{name}", "creator": BOT_USER, "last_set": space.created}})
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for i, ts in enumerate(sorted(space.channels[name]), start=1):
            message = space.channels[name][ts]
            days[datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")].append(message.as_json(i))
            counts["bot_messages" if message.user is None else "messages"] += 1
            counts["reactions"] += sum(len(u) for u in message.reactions.values())
        (folder / name).mkdir(exist_ok=True)
        for day, messages in days.items():
            (folder / name / f"{day}.json").write_text(json.dumps(messages, indent=1), encoding="utf-8")
    (folder / "channels.json").write_text(json.dumps(listing, indent=1), encoding="utf-8")
    counts["channels"] = len(listing)
    return dict(counts)


def _write_users(folder: Path, members: pd.DataFrame) -> None:
    users: list[dict[str, Any]] = []
    for row in members.itertuples(index=False):
        profile: dict[str, Any] = {"real_name": row.name, "display_name": row.handle,
                                   "title": row.job_role if isinstance(row.job_role, str) else ""}
        if isinstance(row.email, str):
            profile["email"] = row.email
        staff = bool(row.is_staff)
        users.append({"id": row.member_id, "name": row.handle, "real_name": row.name, "deleted": False,
                      "is_admin": staff, "is_owner": False, "is_bot": False, "updated": int(row.joined_at),
                      "profile": profile})
    users.append({"id": BOT_USER, "name": "community-bot", "deleted": False, "is_bot": True, "updated": 0,
                  "profile": {"bot_id": BOT_ID, "real_name": "Community bot"}})
    (folder / "users.json").write_text(json.dumps(users, indent=1), encoding="utf-8")
