"""Luma: the guest list CSV of an event (Manage > Guests > Download as CSV).

One row per guest: ``api_id``, ``name``, ``first_name``, ``last_name``, ``email``, ``created_at``
(registration, UTC with ``Z``), ``approval_status`` (``approved``, ``pending_approval``, ``invited``,
``waitlist``, ``declined``), ``checked_in_at`` (empty unless checked in). A guest list is one event:
the file name is the event (``event_api_id`` or ``event_name`` columns win where present).

Mapping (see :mod:`commetrics.sources.tickets`): one ``event_registered`` per approved guest at
``created_at``; one ``event_attended`` per checked-in guest at ``checked_in_at``; members by e-mail,
``entry_path`` ``event``. Declined, invited-only and wait-listed guests are excluded as
``not_attendee`` (pending approvals are registrations).
"""

from __future__ import annotations

from . import SOURCES, Source
from .tickets import GuestColumns, guest_loader

__all__ = ["COLUMNS", "load"]

COLUMNS = GuestColumns(
    platform="Luma", guest_id=("api_id", "guest_api_id", "id"), email=("email",), name=("name",),
    first_name=("first_name",), last_name=("last_name",), registered_at=("created_at", "registered_at"),
    status=("approval_status", "status"), checked_in_at=("checked_in_at",), event_id=("event_api_id",),
    event_name=("event_name",),
    statuses={"approved": "registered", "pendingapproval": "registered", "going": "registered",
              "checkedin": "attended", "declined": None, "invited": None, "waitlist": None, "notgoing": None},
)
_WHAT = "Export it from Luma: the event's Manage > Guests > Download as CSV."

load = guest_loader("luma", COLUMNS, _WHAT)


SOURCES.register("luma", Source(
    name="luma", label="Luma guest list",
    help="the event's guest list CSV (or a folder or .zip of them)",
    default_source="luma", load=load, options=("timezone",)))
