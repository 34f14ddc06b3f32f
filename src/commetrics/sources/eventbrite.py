"""Eventbrite: the attendee report CSV (Reporting > Attendee summary, or the event's Manage attendees export).

One row per attendee (ticket), not per order: an order of three tickets is three rows. Columns read:
``Attendee #``, ``Email``, ``First Name``, ``Last Name``, ``Order Date`` (registration), ``Attendee
Status`` (``Attending``, ``Checked In``, ``Not Attending``, ``Refunded``, ``Cancelled``, ``Deleted``),
``Check-In Date`` where present, ``Event ID`` and ``Event Name`` (else the file name is the event).
Eventbrite writes times in the event's or the exporting user's zone, with or without an offset:
naive times need ``--timezone``.

Mapping (see :mod:`commetrics.sources.tickets`): one ``event_registered`` per person per event at the
order date; one ``event_attended`` for a checked-in attendee, at the check-in time (else the order
date); members by e-mail, ``entry_path`` ``event``. Not attending, refunded, cancelled and deleted
attendees are excluded as ``not_attendee``; a person's further tickets to the same event as
``extra_ticket``.
"""

from __future__ import annotations

from . import SOURCES, Source
from .tickets import GuestColumns, guest_loader

__all__ = ["COLUMNS", "load"]

COLUMNS = GuestColumns(
    platform="Eventbrite", guest_id=("Attendee #", "Attendee ID", "Ticket #", "Barcode #"),
    email=("Email", "Email Address", "Attendee Email"), name=("Attendee Name", "Name"),
    first_name=("First Name",), last_name=("Last Name", "Surname"),
    registered_at=("Order Date", "Order Date (UTC)", "Date Attending", "Registration Date"),
    status=("Attendee Status", "Status"), checked_in_at=("Check-In Date", "Checked In Date", "Check In Date",
                                                         "Check-in Time"),
    event_id=("Event ID",), event_name=("Event Name", "Event"),
    statuses={"attending": "registered", "checkedin": "attended", "notattending": None, "refunded": None,
              "cancelled": None, "canceled": None, "deleted": None, "transferred": None},
    date_formats=("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p",
                  "%b %d, %Y %I:%M %p", "%B %d, %Y %I:%M %p", "%m/%d/%y %H:%M"),
)
_WHAT = "Export it from Eventbrite: Reporting > Attendee summary (or Manage attendees > Export), as CSV."

load = guest_loader("eventbrite", COLUMNS, _WHAT)


SOURCES.register("eventbrite", Source(
    name="eventbrite", label="Eventbrite attendee report",
    help="the attendee report CSV (or a folder or .zip of them); --timezone for naive times",
    default_source="eventbrite", load=load, options=("timezone",)))
