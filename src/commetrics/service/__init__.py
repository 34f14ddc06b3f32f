"""The dashboard and its JSON API (``commetrics serve``): a front door like the command line and the report.

Its pages render the Engine's published Results with the report's own renderers and charts
(:mod:`.views`), and each has an ``/api/...`` route returning the same Result as JSON (:mod:`.api`).
Users, their API tokens and sessions live in a SQLite file beside the store (:mod:`.users`); sign-in,
CSRF, Origin checks, login limits and security headers are in :mod:`.security`; :mod:`.results` reads
the store without ever holding up a load. See ``docs/dashboard.md``.
"""

from __future__ import annotations

from .app import create_app
from .security import SecuritySettings
from .users import ROLES, User, Users

__all__ = ["ROLES", "SecuritySettings", "User", "Users", "create_app"]
