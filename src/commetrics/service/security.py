"""Who is asking, and whether they may: sessions, API tokens, roles, CSRF, Origin, login limits, headers.

* A browser signs in at ``/login`` and gets a session cookie (HttpOnly, SameSite=Lax, Secure when
  the dashboard is served over HTTPS — ``secure_cookies``). A program sends ``Authorization: Bearer
  TOKEN`` (``commetrics users token NAME``).
* Every route needs one of the two except ``/login``, ``/health`` and the static files: the routers
  and the OpenAPI routes depend on :func:`current_user`, and ``tests/test_service.py`` walks
  ``app.routes`` to prove it.
* A state-changing request made with the cookie must carry the session's CSRF token (a form field, or
  the ``X-CSRF-Token`` header) and come from the dashboard's own origin (``Origin``, else ``Referer``).
* Failed logins are limited per client address and per user name (:class:`LoginLimiter`).
* Every response carries the security headers of :data:`HEADERS`; the Content-Security-Policy allows
  scripts and styles from the dashboard itself only.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request

from .users import Role, Session, User, Users, same

__all__ = ["COOKIE", "CSRF_HEADER", "HEADERS", "LOGIN_COOKIE", "LoginLimiter", "NotSignedIn", "SecuritySettings",
           "check_csrf", "check_origin", "current_session", "current_user", "require", "same_origin"]

COOKIE = "commetrics_session"
LOGIN_COOKIE = "commetrics_login"  # the CSRF token of the login form (double submit: cookie and field)
CSRF_HEADER = "X-CSRF-Token"

HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class SecuritySettings:
    """``secure_cookies``: mark cookies Secure and send HSTS (the dashboard is reached over HTTPS, e.g. behind a
    reverse proxy). ``session_hours``: how long a sign-in lasts. ``login_attempts`` failed logins per
    ``login_window`` seconds, per client address and per user name, before ``/login`` answers 429."""

    secure_cookies: bool = False
    session_hours: float = 12.0
    login_attempts: int = 5
    login_window: float = 300.0


class NotSignedIn(Exception):
    """No valid session cookie nor API token."""


class LoginLimiter:
    """Failed logins per key (client address, user name) in a sliding window."""

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def wait(self, *keys: str) -> float:
        """Seconds to wait before another attempt may be made (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [failures[0] + self.window - now for key in keys
                     if len(failures := self._recent(key, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def _users(request: Request) -> Users:
    users: Users = request.app.state.users
    return users


def current_session(request: Request) -> Session | None:
    """The browser session of the request's cookie, if valid."""
    cookie = request.cookies.get(COOKIE)
    return _users(request).session(cookie) if cookie else None


def current_user(request: Request) -> User:
    """The signed-in user: by API token (``Authorization: Bearer``) or session cookie; else :class:`NotSignedIn`.

    A cookie-authenticated request that changes state must also pass :func:`check_origin` and carry the CSRF
    token (the form routes check the field; ``X-CSRF-Token`` is checked here)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        user = _users(request).for_token(token.strip())
        if user is None:
            raise NotSignedIn
        request.state.user, request.state.csrf = user, None
        return user
    session = current_session(request)
    if session is None:
        raise NotSignedIn
    request.state.user, request.state.csrf = session.user, session.csrf
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_origin(request)
        sent = request.headers.get(CSRF_HEADER)
        if sent is not None and not same(sent, session.csrf):
            raise HTTPException(403, "The form's security token does not match your session: reload the page.")
    return session.user


def require(role: Role) -> Callable[..., User]:
    """A dependency: the signed-in user, who must have ``role`` or a higher one (else 403)."""

    def dependency(user: User = Depends(current_user)) -> User:
        if not user.can(role):
            raise HTTPException(403, f"This needs the {role} role; you are signed in as a {user.role}. Ask an admin.")
        return user

    return dependency


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``) is the dashboard's own scheme, host and port."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return False
    parts = urlsplit(sent)
    own = request.base_url
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def check_origin(request: Request) -> None:
    if not same_origin(request):
        raise HTTPException(403, "This request did not come from the dashboard's own pages (Origin check). Open the "
                                 "dashboard at its address and try again.")


def check_csrf(request: Request, sent: str | None) -> None:
    """The form's CSRF field against the session's (a token-authenticated request needs none)."""
    expected: Any = getattr(request.state, "csrf", None)
    if expected is None and getattr(request.state, "user", None) is not None:
        return  # signed in with an API token: no cookie, so no cross-site forgery
    if not expected or not sent or not same(sent, expected):
        raise HTTPException(403, "The form's security token is missing or does not match your session: reload "
                                 "the page and try again.")
