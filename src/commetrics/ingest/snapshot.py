"""Subscriptions from a snapshot: "tenure and a churn flag as of a date", with no event dates.

Churn tables (a telco's customers, a SaaS export of accounts) say how long each customer has been
one and whether they left, as of the day the table was taken. ``--snapshot-as-of DATE`` reads such a
table into ``subscriptions``, one renewal decision per customer at that date:

* ``period_end`` = the as-of date (midnight in the load's time zone);
* ``period_start`` = the as-of date minus the tenure (``tenure_months``, or ``tenure_days``);
* ``renewed`` = not churned.

Retention curves then measure each customer from their start to the as-of date, churned or still a
customer (censored), and renewal impact compares the decisions at the as-of date. A later snapshot of
the same customers (another as-of date) adds another decision per customer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from .. import schema
from ..errors import InputError
from .checks import Check
from .mapping import Resolved
from .reasons import Reason

#: the snapshot's own columns: read and checked like canonical columns, not stored
INPUTS = (
    schema.Column("tenure_months", "int", "Whole months the customer has been one, as of the snapshot"),
    schema.Column("tenure_days", "int", "Or: days the customer has been one, as of the snapshot"),
    schema.Column("churned", "bool", "Whether the customer had left by the snapshot", required=True),
)
#: more names each input may go by in a file (matched like column names)
ALIASES: dict[str, tuple[str, ...]] = {"tenure_months": ("tenure",), "churned": ("churn",)}
#: the canonical columns a snapshot computes
COMPUTED = ("period_start", "period_end", "renewed")
#: a tenure beyond this many months (or days x 30) is refused rather than overflowing a date
_MAX_MONTHS = 12_000


@dataclass(frozen=True)
class SnapshotPlan:
    """The inputs to read, the derived columns (SQL over typed values) and their checks."""

    inputs: tuple[schema.Column, ...]
    derived: dict[str, str]
    checks: tuple[Check, ...]


def check_table(table: schema.Table, as_of: date | None) -> None:
    if as_of is not None and table.name != "subscriptions":
        raise InputError(f"--snapshot-as-of reads a subscriptions snapshot; it does not apply to {table.name}.")


def snapshot_plan(resolved: Resolved) -> SnapshotPlan:
    """What a snapshot load computes, given the columns found (exactly one tenure column must be)."""
    tenure = [c for c in ("tenure_months", "tenure_days") if c in resolved.mapping]
    if len(tenure) != 1:
        msg = ("A snapshot needs one tenure column: map it with --map tenure_months=COLUMN (whole months) or "
               "--map tenure_days=COLUMN." if not tenure else
               "A snapshot takes one tenure column, not both tenure_months and tenure_days; map only one.")
        raise InputError(msg)
    unit = tenure[0]
    inputs = tuple(replace(c, required=True) if c.name == unit else c for c in INPUTS if c.name != (
        "tenure_days" if unit == "tenure_months" else "tenure_months"))
    step = "to_months" if unit == "tenure_months" else "to_days"
    limit = _MAX_MONTHS if unit == "tenure_months" else _MAX_MONTHS * 30
    as_of = "$snapshot_as_of::TIMESTAMPTZ"
    derived = {
        "period_start": f"(case when __v_{unit} <= {limit} then {as_of} - {step}(__v_{unit}::INTEGER) end)",
        "period_end": as_of,
        "renewed": "not __v_churned",
    }
    checks = (
        Check(f"__v_{unit} > {limit}", Reason.BAD_NUMBER, unit, "a tenure of more than 1,000 years"),
        Check("__v_period_start < $earliest_limit", Reason.EARLY_TIMESTAMP, "period_start",
              "the tenure reaches back before ingest.earliest_timestamp"),
    )
    return SnapshotPlan(inputs, derived, checks)
