"""Discourse: saved API JSON (topics, post pages, latest posts, admin user lists) and ``pull discourse``.

Discourse has no bulk export of posts, so teams save API responses (or let ``commetrics pull
discourse`` fetch them). A file, a folder or a ``.zip`` of JSON files is read; each file's shape says
what it is:

``/t/{id}.json`` and ``/t/{id}/posts.json`` pages
    ``post_stream.posts`` (pages overlap and repeat: every post is written, and the load counts the
    repeats as duplicates of the same post ``id``); the topic's ``accepted_answer`` (discourse-solved).
``/posts.json``
    ``latest_posts``.
``/admin/users/list/{active,new,staff}.json``, ``/admin/users/{id}.json``
    users with ``email``, ``created_at``, ``admin``, ``moderator``.
``/latest.json``, directory items
    read, nothing taken from them (the posters they list have no join date).

Mapping
-------
members
    ``member_id`` = ``user_id``; ``handle`` = ``username``; ``name``; ``email`` from admin user lists;
    ``is_staff`` = ``staff``, ``admin`` or ``moderator``; ``joined_at`` = ``created_at`` of an admin user
    list, else the member's first post (the earliest moment the files show them). Users with id <= 0
    (``system``, ``discobot``) are excluded as ``system_user``.
activities (channel ``category-<category_id>``, else ``forum``)
    ``post_number`` 1 -> ``post``; any other -> ``reply`` with ``ref_id`` = the post it replies to (or
    the topic's first post). ``activity_id`` = the post ``id``. Moderator-action and small-action posts
    (``post_type`` 2 and 3) and whispers (4) are excluded as ``staff_action``; posts of users with id <= 0
    as ``system_user``; deleted posts (``deleted_at``, ``user_deleted``) as ``deleted``.
outcomes
    One ``accepted_answer`` per accepted post (``accepted_answer: true`` on a post, or the topic's
    ``accepted_answer.post_number``), for the topic's asker (the author of post 1), ``outcome_id``
    ``accepted-<post id>``, at the answer's ``created_at`` (the API gives no acceptance time) — as the
    Stack Exchange source does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from ..errors import UnreadableFileError
from ..ingest.loader import Loader
from . import SOURCES, DumpReport, Source
from .common import (
    Converted,
    ExportFiles,
    email_or_none,
    file_schema,
    instant,
    load_converted,
    mapping,
    scratch_folder,
    text,
)
from .http import HttpClient, PullError

__all__ = ["Documents", "convert", "convert_documents", "load"]

#: a saved response: (file name, parsed JSON)
Documents = Iterable[tuple[str, Any]]
REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4
MEMBERS_SCHEMA = file_schema("members", ("member_id", "email", "handle", "name", "joined_at", "is_staff"),
                             extra=[("trust_level", pa.int64()), ("staged", pa.bool_())])
OUTCOMES_SCHEMA = file_schema("outcomes", ("outcome_id", "member_id", "ts", "type"))
_WHAT = ("A Discourse export is a file, folder or .zip of saved API responses: /t/{id}.json, /t/{id}/posts.json, "
         "/posts.json and /admin/users/list/active.json (or let `commetrics pull discourse` fetch them).")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


class _Forum:
    """Posts and users gathered from every document, then written as canonical rows."""

    def __init__(self, converted: Converted) -> None:
        self.converted = converted
        self.posts: list[dict[str, Any]] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.accepted_numbers: set[tuple[int, int]] = set()  # (topic id, post number) of accepted answers
        self.listed: set[int] = set()  # post ids that topics' post streams list

    def document(self, name: str, data: Any) -> None:
        counts = self.converted.counts
        if isinstance(data, list):
            if data and all(isinstance(u, dict) and "username" in u and "id" in u for u in data):
                counts["user_list_files"] += 1
                for user in data:
                    self.user(user, listed=True)
            return
        if not isinstance(data, dict):
            msg = f"{name} is not a Discourse API response (neither a JSON object nor a user list). {_WHAT}"
            raise UnreadableFileError(msg)
        if isinstance(data.get("post_stream"), dict):
            counts["topic_files"] += 1
            topic_id = _int(data.get("id"))
            accepted = data.get("accepted_answer")
            if topic_id is not None and isinstance(accepted, dict) and _int(accepted.get("post_number")):
                self.accepted_numbers.add((topic_id, int(accepted["post_number"])))
            for post in data["post_stream"].get("posts") or []:
                self.post(post, data.get("category_id"))
            self.listed.update(i for i in data["post_stream"].get("stream") or [] if isinstance(i, int))
        elif isinstance(data.get("latest_posts"), list):
            counts["latest_posts_files"] += 1
            for post in data["latest_posts"]:
                self.post(post, None)
        elif "username" in data and "id" in data and "created_at" in data:
            counts["user_list_files"] += 1
            self.user(data, listed=True)
        elif "topic_list" in data or "directory_items" in data:
            counts["topic_list_files"] += 1
        else:
            msg = f"{name} is not a Discourse API response this connector knows. {_WHAT}"
            raise UnreadableFileError(msg)

    def post(self, post: Any, category: Any) -> None:
        if not isinstance(post, dict):
            return
        self.posts.append({**post, "category_id": post.get("category_id", category)})
        if post.get("user_id") is not None:
            self.user(post, listed=False)

    def user(self, data: dict[str, Any], *, listed: bool) -> None:
        user_id = _int(data.get("user_id") if not listed else data.get("id"))
        if user_id is None:
            return
        known = self.users.setdefault(user_id, {"member_id": str(user_id), "is_staff": False})
        known["handle"] = known.get("handle") or text(data.get("username"))
        known["name"] = known.get("name") or text(data.get("name"))
        known["is_staff"] = known["is_staff"] or any(bool(data.get(k)) for k in ("staff", "admin", "moderator"))
        if listed:
            known["email"] = known.get("email") or email_or_none(data.get("email"))
            known["joined_at"] = known.get("joined_at") or instant(data.get("created_at"))
            known["trust_level"] = _int(data.get("trust_level"))
            known["staged"] = data.get("staged") if isinstance(data.get("staged"), bool) else None

    def write(self) -> None:
        converted = self.converted
        by_number: dict[tuple[int, int], dict[str, Any]] = {}
        categories: dict[int, int] = {}  # a topic's category, from whichever page names it (posts pages do not)
        for post in self.posts:
            topic, number = _int(post.get("topic_id")), _int(post.get("post_number"))
            if topic is not None and number is not None:
                by_number.setdefault((topic, number), post)
            if topic is not None and _int(post.get("category_id")) is not None:
                categories.setdefault(topic, int(post["category_id"]))
        activities: list[dict[str, Any]] = []
        first_post: dict[str, datetime] = {}
        for post in self.posts:
            reason = self.exclusion(post)
            if reason:
                converted.exclude("activities", reason)
                continue
            topic, number = _int(post.get("topic_id")), _int(post.get("post_number"))
            ts = instant(post.get("created_at"))
            member = str(post.get("user_id"))
            if ts is not None and (member not in first_post or ts < first_post[member]):
                first_post[member] = ts
            ref = None
            if number != 1 and topic is not None:
                target = by_number.get((topic, _int(post.get("reply_to_post_number")) or 1))
                ref = text(target.get("id")) if target else f"topic-{topic}"
            category = _int(post.get("category_id"))
            category = categories.get(topic) if category is None and topic is not None else category
            activities.append({"activity_id": text(post.get("id")), "member_id": member, "ts": ts,
                               "type": "post" if number == 1 else "reply", "ref_id": ref,
                               "channel": f"category-{category}" if category is not None else "forum"})
        members = []
        for user_id, user in sorted(self.users.items()):
            if user_id <= 0:
                converted.exclude("members", "system_user")
                continue
            user["joined_at"] = user.get("joined_at") or first_post.get(user["member_id"])
            members.append(user)
        missing = self.listed - {i for p in self.posts if (i := _int(p.get("id"))) is not None}
        converted.counts["posts_listed_not_in_files"] = len(missing)
        if missing:
            converted.notes.append(
                f"{len(missing):,} posts listed in topics' post streams are not in the files (a topic page holds "
                "its first 20 posts): save the /t/{id}/posts.json pages too, or use `commetrics pull discourse`.")
        converted.write("members", members, MEMBERS_SCHEMA)
        converted.write("activities", activities)
        converted.write("outcomes", self.outcomes(by_number), OUTCOMES_SCHEMA)

    @staticmethod
    def exclusion(post: dict[str, Any]) -> str | None:
        user_id = _int(post.get("user_id"))
        if user_id is not None and user_id <= 0:
            return "system_user"
        if _int(post.get("post_type")) in (MODERATOR_ACTION, SMALL_ACTION, WHISPER) or post.get("action_code"):
            return "staff_action"
        if post.get("deleted_at") or post.get("user_deleted"):
            return "deleted"
        return None

    def outcomes(self, by_number: dict[tuple[int, int], dict[str, Any]]) -> list[dict[str, Any]]:
        accepted: dict[str, dict[str, Any]] = {}
        for post in self.posts:
            key = (_int(post.get("topic_id")), _int(post.get("post_number")))
            if post.get("accepted_answer") is True or key in self.accepted_numbers:
                accepted.setdefault(str(post.get("id")), post)
        rows = []
        for post_id, post in accepted.items():
            asker = by_number.get((_int(post.get("topic_id")) or 0, 1))
            asker_id = _int(asker.get("user_id")) if asker else None
            if asker_id is None:
                self.converted.exclude("outcomes", "no_author")  # the topic's first post is not in the files
                continue
            if asker_id <= 0:
                self.converted.exclude("outcomes", "system_user")
                continue
            rows.append({"outcome_id": f"accepted-{post_id}", "member_id": str(asker_id),
                         "ts": instant(post.get("created_at")), "type": "accepted_answer"})
        return rows


def convert_documents(documents: Documents, out_dir: Path) -> Converted:
    """Convert saved Discourse API responses into members, activities and outcomes Parquet files."""
    converted = Converted(Path(out_dir))
    forum = _Forum(converted)
    for name, data in documents:
        forum.document(name, data)
    forum.write()
    return converted


def convert(path: Path, out_dir: Path) -> Converted:
    """Convert a file, folder or ``.zip`` of saved Discourse API JSON (see the module)."""
    files = ExportFiles(path, "Discourse export")
    try:
        names = [n for n in files.names if PurePosixPath(n).suffix.lower() == ".json"]
        if not names:
            msg = f"Cannot read the Discourse export {path}: it holds no .json file. {_WHAT}"
            raise UnreadableFileError(msg)
        return convert_documents(((n, files.read_json(n)) for n in names), out_dir)
    finally:
        files.close()


def load(loader: Loader, path: Path, source: str = "discourse", now: datetime | None = None) -> DumpReport:
    """Convert saved Discourse API JSON and load members, activities and accepted answers through ``loader``."""
    with scratch_folder("discourse") as scratch:
        return load_converted(loader, convert(Path(path), Path(scratch)), source, now, Path(path).name)


def load_documents(loader: Loader, documents: Documents, source: str, now: datetime | None) -> DumpReport:
    """Load API responses already in memory (what ``pull discourse`` fetched)."""
    with scratch_folder("discourse") as scratch:
        return load_converted(loader, convert_documents(documents, Path(scratch)), source, now, "discourse API")


def pull(loader: Loader, url: str, credentials: Mapping[str, str], source: str, now: datetime | None,
         cursor: Mapping[str, Any], *, http: Mapping[str, Any] | None = None) -> tuple[DumpReport, dict[str, Any]]:
    """Fetch the posts newer than ``cursor["last_post_id"]`` (``/posts.json``, newest first, paged with
    ``before``), the topics their accepted answers need, and the admin user lists (e-mails, join dates),
    then load them as an export. Returns the report and the new cursor."""
    client = HttpClient(url, headers={"Api-Key": credentials["token"],
                                      "Api-Username": credentials.get("username") or "system"},
                        credential_env=credentials.get("env", "COMMETRICS_DISCOURSE_TOKEN"), **dict(http or {}))
    last = _int(cursor.get("last_post_id")) or 0
    documents: list[tuple[str, Any]] = []
    newest, before = last, None
    while True:
        page = mapping(client.get("/posts.json", {"before": before}))
        posts = [p for p in page.get("latest_posts") or [] if isinstance(p, dict) and _int(p.get("id"))]
        fresh = [p for p in posts if int(p["id"]) > last]
        if fresh:
            documents.append(("posts.json", {"latest_posts": fresh}))
            newest = max(newest, *(int(p["id"]) for p in fresh))
        lowest = min((int(p["id"]) for p in posts), default=None)
        if not posts or len(fresh) < len(posts) or lowest is None or (before is not None and lowest >= before):
            break
        before = lowest
    firsts = {(_int(p.get("topic_id")), _int(p.get("post_number"))) for _, d in documents for p in d["latest_posts"]}
    accepted = {_int(p.get("topic_id")) for _, d in documents for p in d["latest_posts"] if p.get("accepted_answer")}
    for topic in sorted(t for t in accepted if t is not None and (t, 1) not in firsts):
        documents.append((f"t/{topic}.json", client.get(f"/t/{topic}.json")))
    page_number, note = 1, ""
    while page_number <= 1000:
        try:
            users = client.get("/admin/users/list/active.json", {"show_emails": "true", "page": page_number})
        except PullError as exc:
            if exc.status not in (403, 404):
                raise
            note = ("The API key may not read the admin user list (HTTP 403/404): members were loaded without "
                    "e-mails and join dates. Use an admin API key to get them.")
            break
        if not isinstance(users, list) or not users:
            break
        documents.append(("admin/users/list/active.json", users))
        page_number += 1
    report = load_documents(loader, documents, source, now)
    if note:
        report.notes.append(note)
    report.counts["http_requests"] = client.requests
    return report, {"last_post_id": newest}


SOURCES.register("discourse", Source(
    name="discourse", label="Discourse API JSON",
    help="saved API JSON: /t/{id}.json and /t/{id}/posts.json pages, /posts.json, admin user lists (file, folder "
         "or .zip)",
    default_source="discourse", load=load, pull=pull,
    pull_help="--url https://forum.example.com; an admin API key in COMMETRICS_DISCOURSE_TOKEN and its user in "
              "COMMETRICS_DISCOURSE_USERNAME (default system)"))
