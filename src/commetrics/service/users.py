"""The dashboard's users, API tokens and sessions: a small SQLite file beside the store.

It lives outside ``commetrics.duckdb`` on purpose: DuckDB lets one process write its file, so a login
kept there would wait for every load. SQLite (the standard library's ``sqlite3``, in WAL mode) lets
the server and ``commetrics users`` use it at the same time.

* Passwords are hashed with Argon2id (``argon2-cffi``, its default parameters); a hash made with
  older parameters is replaced at the next login.
* API tokens (``commetrics users token NAME``) are 32 random bytes, shown once and kept as their
  SHA-256: a token is a random key, not a password, so a fast hash is the right one.
* A session is a random id in an HttpOnly cookie, kept as its SHA-256 with the user, its CSRF token
  and when it ends. Removing a user ends their sessions and tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import InputError, UnknownNameError
from ..store import Workspace

__all__ = ["MIN_PASSWORD", "ROLES", "USERS_FILE", "Role", "Session", "User", "Users", "same"]

#: The users file, in the workspace folder beside ``commetrics.duckdb``.
USERS_FILE = "commetrics-users.sqlite"
Role = Literal["viewer", "analyst", "admin"]
#: The roles, each allowed what the one before it is and more.
ROLES: tuple[Role, ...] = ("viewer", "analyst", "admin")
MIN_PASSWORD = 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so that a wrong name takes as long as a wrong password.
_DUMMY = _HASHER.hash("not a password of anyone")

_SCHEMA = """
create table if not exists users (
    name text primary key, role text not null, password text not null, created_at text not null);
create table if not exists tokens (
    digest text primary key, name text not null references users(name) on delete cascade, created_at text not null);
create table if not exists sessions (
    digest text primary key, name text not null references users(name) on delete cascade, csrf text not null,
    expires_at text not null);
"""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: str = ""

    def can(self, role: Role) -> bool:
        """Whether this user has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Users:
    """The users of one workspace's dashboard (``USERS_FILE`` in its folder, or ``path``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False  # whether the tables were made (once per instance)

    @classmethod
    def of(cls, workspace: str | Path | None = None) -> Users:
        return cls(Workspace.locate(workspace).directory / USERS_FILE)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self.path.parent.is_dir():
            raise InputError(f"No workspace folder {self.path.parent}: pass --workspace DIR of a workspace "
                             "(`commetrics init` makes one).")
        fresh = not self.path.exists()
        con = sqlite3.connect(self.path, timeout=10)
        try:
            if fresh:
                os.chmod(self.path, 0o600)  # password hashes and session digests: the owner's only
            con.execute("pragma foreign_keys=on")
            if fresh or not self._ready:
                con.execute("pragma journal_mode=wal")
                con.executescript(_SCHEMA)
                self._ready = True
            with con:
                yield con
        finally:
            con.close()

    # -- users ---------------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str) -> User:
        """Add a user; the name is 1–64 letters, digits and ``._@-``; the password at least ``MIN_PASSWORD``."""
        if not _NAME.fullmatch(name):
            raise InputError(f"{name!r} is not a user name: use 1–64 letters, digits and . _ @ - (e.g. jane.doe).")
        if role not in ROLES:
            raise UnknownNameError.for_name("role", role, ROLES)
        if len(password) < MIN_PASSWORD:
            raise InputError(f"The password is too short: use at least {MIN_PASSWORD} characters.")
        with self._db() as con:
            if con.execute("select 1 from users where name = ?", [name]).fetchone():
                raise InputError(f"There is already a user {name!r}; `commetrics users remove {name}` first to "
                                 "replace them.")
            created = _now().isoformat(timespec="seconds")
            con.execute("insert into users values (?, ?, ?, ?)", [name, role, _HASHER.hash(password), created])
        return User(name, role, created)

    def list(self) -> list[User]:
        if not self.path.exists():
            return []
        with self._db() as con:
            rows = con.execute("select name, role, created_at from users order by name").fetchall()
        return [User(*row) for row in rows]

    def get(self, name: str) -> User | None:
        with self._db() as con:
            row = con.execute("select name, role, created_at from users where name = ?", [name]).fetchone()
        return User(*row) if row else None

    def remove(self, name: str) -> None:
        """Remove a user, their tokens and their sessions."""
        with self._db() as con:
            if not con.execute("delete from users where name = ?", [name]).rowcount:
                known = [row[0] for row in con.execute("select name from users order by name")]
                raise UnknownNameError.for_name("user", name, known)

    def verify(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, else ``None`` (taking as long either way)."""
        with self._db() as con:
            row = con.execute("select name, role, created_at, password from users where name = ?",
                              [name]).fetchone()
            stored = row[3] if row else _DUMMY
            try:
                _HASHER.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None:
                return None
            if _HASHER.check_needs_rehash(stored):
                con.execute("update users set password = ? where name = ?", [_HASHER.hash(password), name])
        return User(row[0], row[1], row[2])

    # -- API tokens ----------------------------------------------------------------------------

    def issue_token(self, name: str) -> str:
        """A new API token for ``name`` (shown once; only its digest is kept)."""
        if self.get(name) is None:
            raise UnknownNameError.for_name("user", name, [u.name for u in self.list()])
        token = "cmt_" + secrets.token_urlsafe(32)
        with self._db() as con:
            con.execute("insert into tokens values (?, ?, ?)", [_digest(token), name,
                                                               _now().isoformat(timespec="seconds")])
        return token

    def for_token(self, token: str) -> User | None:
        with self._db() as con:
            row = con.execute("select u.name, u.role, u.created_at from tokens as t join users as u using (name) "
                              "where t.digest = ?", [_digest(token)]).fetchone()
        return User(*row) if row else None

    # -- sessions ------------------------------------------------------------------------------

    def start_session(self, user: User, hours: float) -> tuple[str, str]:
        """A new session for ``user``: (the id for the cookie, its CSRF token)."""
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = (_now() + timedelta(hours=hours)).isoformat()
        with self._db() as con:
            con.execute("delete from sessions where expires_at < ?", [_now().isoformat()])
            con.execute("insert into sessions values (?, ?, ?, ?)", [_digest(session), user.name, csrf, expires])
        return session, csrf

    def session(self, session: str) -> Session | None:
        with self._db() as con:
            row = con.execute("select u.name, u.role, u.created_at, s.csrf, s.expires_at from sessions as s "
                              "join users as u using (name) where s.digest = ?", [_digest(session)]).fetchone()
        if row is None or row[4] < _now().isoformat():
            return None
        return Session(User(row[0], row[1], row[2]), row[3])

    def end_session(self, session: str) -> None:
        with self._db() as con:
            con.execute("delete from sessions where digest = ?", [_digest(session)])


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())
