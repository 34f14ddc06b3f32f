"""Everything event-like as Segment calls: JSON Lines (gzip) files of identify, group and track calls, one per month.

* **identify** at each member's join: ``userId`` = the member id, ``email``, ``name``, ``username``,
  ``createdAt`` (the join) and the sign-up form's traits ``entry_path`` (first touch), ``consent`` and
  ``job_role``, which :data:`MEMBER_TRAITS` maps.
* **group**: a warehouse sync sends each account's traits (name, website, ARR, segment, seats, employees,
  product usage, support tickets, prior NPS, tenure; :data:`ACCOUNT_TRAITS`) at its creation, and each
  member in an account is grouped into it at their join.
* **track**: the activities Slack does not carry (logins, questions, answers, comments, accepted answers,
  webinars, events, feedback, referrals, case studies, reviews) under the event names of
  :data:`ACTIVITY_EVENTS`, with ``properties.program``; and the member's outcomes (sign-up, trial,
  activation, orders, upgrades, add-ons, demo requests, resolved questions, converted referrals) under
  :data:`OUTCOME_EVENTS`, with ``properties.revenue`` and ``currency`` and the account as
  ``context.groupId``.

The mappings are written into the workspace's ``[sources.segment]``; ``messageId`` is a UUID derived from
the demo row's id, so a second load of the same files adds nothing.
"""

from __future__ import annotations

import gzip
import json
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ACCOUNT_TRAITS", "ACTIVITY_EVENTS", "MEMBER_TRAITS", "OUTCOME_EVENTS", "write_segment"]

ACTIVITY_EVENTS = {
    "Signed In": "login", "Question Asked": "question", "Answer Posted": "answer", "Comment Posted": "comment",
    "Answer Accepted": "accepted_answer", "Webinar Attended": "webinar_attended", "Event Attended": "event_attended",
    "Feedback Submitted": "feedback_submitted", "Referral Sent": "referral", "Case Study Submitted": "case_study",
    "Review Submitted": "review",
}
OUTCOME_EVENTS = {
    "Signed Up": "signup", "Trial Started": "trial_start", "Account Activated": "activation",
    "Order Completed": "purchase", "Subscription Upgraded": "upgrade", "Add-on Purchased": "cross_sell",
    "Demo Requested": "demo_request", "Question Resolved": "accepted_answer", "Referral Converted": "referral_made",
    "Lead Created": "lead",
}
MEMBER_TRAITS = {"entry_path": "entry_path", "consent": "consent", "job_role": "job_role"}
#: the account columns and attributes the warehouse sync sends as group traits
ACCOUNT_TRAITS = {name: name for name in ("segment", "arr", "seats", "employees", "product_usage", "support_tickets",
                                          "prior_nps", "tenure_days")}
_NAMESPACE = uuid.UUID("6f1f4c0e-4a55-4d1b-9a8e-5b0c2d3e7a10")
_SYNC = "warehouse-account-sync"


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def _plain(value: Any) -> Any:
    """A NumPy or pandas scalar as the JSON value it stands for."""
    return value.item() if hasattr(value, "item") else value


def _event(kind: str, key: str, ts: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}")), "timestamp": _iso(ts), **fields}


def _by_type(mapping: dict[str, str]) -> dict[str, str]:
    return {kind: name for name, kind in mapping.items()}


def write_segment(folder: Path, accounts: pd.DataFrame, members: pd.DataFrame, activities: pd.DataFrame,
                  outcomes: pd.DataFrame) -> dict[str, int]:
    """Write the Segment files of the demo's accounts, members, the ``activities`` it carries and the members'
    ``outcomes`` (canonical columns, instants in epoch seconds, account attributes as columns) into ``folder``.
    Returns the number of calls of each kind."""
    events: list[tuple[int, int, dict[str, Any]]] = []  # (ts, order within the instant, event)
    for row in accounts.to_dict(orient="records"):
        traits = {"name": row["name"], "website": row["domain"], "createdAt": _iso(int(row["created_at"])),
                  **{trait: _plain(row[column]) for trait, column in ACCOUNT_TRAITS.items() if _present(row[column])}}
        events.append((int(row["created_at"]), 0, _event("group", row["account_id"], int(row["created_at"]),
                                                         anonymousId=_SYNC, groupId=row["account_id"],
                                                         traits=traits)))
    for row in members.to_dict(orient="records"):
        join = int(row["joined_at"])
        traits = {"email": row["email"], "name": row["name"], "username": row["handle"], "createdAt": _iso(join),
                  **{trait: _plain(row[column]) for trait, column in MEMBER_TRAITS.items()}}
        traits = {k: v for k, v in traits.items() if _present(v)}
        events.append((join, 1, _event("identify", row["member_id"], join, userId=row["member_id"], traits=traits)))
        if _present(row["account_id"]):
            events.append((join, 2, _event("group", f"{row['member_id']}:{row['account_id']}", join,
                                           userId=row["member_id"], groupId=row["account_id"])))
    names = _by_type(ACTIVITY_EVENTS)
    for row in activities.to_dict(orient="records"):
        properties = {"program": row["program"]} if _present(row["program"]) else {}
        events.append((int(row["ts"]), 3, _event("track", row["activity_id"], int(row["ts"]), userId=row["member_id"],
                                                 event=_name(names, row["type"], "activity"),
                                                 properties=properties)))
    names = _by_type(OUTCOME_EVENTS)
    for row in outcomes.to_dict(orient="records"):
        properties = {"revenue": float(row["value"]), "currency": row["currency"]} if _present(row["value"]) else {}
        context = {"groupId": row["account_id"]} if _present(row["account_id"]) else {}
        events.append((int(row["ts"]), 4, _event("track", row["outcome_id"], int(row["ts"]), userId=row["member_id"],
                                                 event=_name(names, row["type"], "outcome"), properties=properties,
                                                 context=context)))
    events.sort(key=lambda e: (e[0], e[1], e[2]["messageId"]))
    return _write_months(folder, [e for _, _, e in events])


def _name(names: dict[str, str], kind: str, what: str) -> str:
    if kind not in names:
        msg = f"no Segment event name for the {what} type {kind!r}: add it to commetrics.demo.export_segment"
        raise RuntimeError(msg)
    return names[kind]


def _write_months(folder: Path, events: list[dict[str, Any]]) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    months: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        months[event["timestamp"][:7]].append(json.dumps(event, separators=(",", ":")))
        counts[f"{event['type']}_calls"] += 1
    for month, lines in months.items():
        data = ("\n".join(lines) + "\n").encode("utf-8")
        (folder / f"events-{month}.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
    counts["files"] = len(months)
    return dict(counts)
