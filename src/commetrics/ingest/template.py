"""Example CSV files with the canonical headers, for people starting from a spreadsheet.

``commetrics template TABLE`` writes one: a comment line per column (what it holds, whether it is
required, the values it takes), the header, and two example rows. ``commetrics load`` skips the
comment lines above the header, so the filled-in template loads as it is.
"""

from __future__ import annotations

import csv
import io

from .. import schema
from ..config import IngestSettings
from .snapshot import INPUTS as SNAPSHOT_INPUTS

_EXAMPLES: dict[str, tuple[str, str]] = {
    "member_id": ("m1001", "m1002"), "contact_id": ("c501", "c502"), "account_id": ("acme", "globex"),
    "activity_id": ("a9001", "a9002"), "outcome_id": ("o301", "o302"), "response_id": ("r77", "r78"),
    "email": ("ada@acme.example", "grace@globex.example"), "handle": ("ada", "grace"),
    "name": ("Ada Lovelace", "Grace Hopper"), "domain": ("acme.example", "globex.example"),
    "segment": ("enterprise", "smb"), "lifecycle_stage": ("customer", "lead"), "channel": ("forum", "slack"),
    "program": ("ama_series", ""), "tags": ("sso|api", ""), "ref_id": ("", "a9001"), "currency": ("EUR", ""),
    "experiment": ("onboarding_email", "onboarding_email"), "unit_id": ("m1001", "m1002"),
    "variant": ("control", "treatment"), "attributes": ('{"plan": "pro"}', ""), "kind": ("nps", "csat"),
    "score": ("9", "4"), "seats": ("25", "5"), "arr": ("12000.00", "1500.50"), "value": ("499.00", ""),
    "arr_before": ("12000.00", "1500.50"), "arr_after": ("13000.00", "0"),
    "tenure_months": ("14", "3"), "tenure_days": ("", ""), "churned": ("no", "yes"),
}
_DATES = {"period_start": ("2024-01-01", "2024-03-01"), "period_end": ("2025-01-01", "2025-03-01"),
          "renewed": ("true", "false"), "exposed_at": ("2024-05-02T09:00:00Z", "2024-05-02T09:05:00Z")}


def _example(column: schema.Column, settings: IngestSettings, row: int) -> str:
    if column.name in _DATES:
        return _DATES[column.name][row]
    if column.name in _EXAMPLES:
        return _EXAMPLES[column.name][row]
    if column.kind == "timestamp":
        return ("2024-05-01T14:30:00Z", "2024-05-03 09:15")[row]
    if column.kind == "bool":
        return ("yes", "no")[row]
    if column.kind == "enum" and column.enum is not None:
        values = settings.enum_values(column.enum)
        return values[row % len(values)]
    return ""


def _describe(column: schema.Column, settings: IngestSettings, table: schema.Table) -> str:
    notes = []
    if column.name in table.key and table.derivable_key:
        notes.append("optional: without the column, ids are made from each row's content")
    elif column.required:
        notes.append("required")
    if column.kind == "timestamp":
        notes.append("a date or date and time; ISO 8601 is safest (others: --date-format)")
    elif column.kind == "enum" and column.enum is not None:
        values = settings.enum_values(column.enum)
        notes.append("one of " + ", ".join(values[:12]) + (" ..." if len(values) > 12 else ""))
    elif column.kind == "bool":
        notes.append("yes/no, true/false or 1/0")
    elif column.kind == "money":
        notes.append("a plain number, at most two decimals, never negative")
    elif column.kind == "tags":
        notes.append("labels separated by |")
    elif column.kind == "json":
        notes.append("a JSON object; other columns of the file land here too")
    return f"# {column.name}: {column.help}" + (f" ({'; '.join(notes)})" if notes else "")


def template_csv(table_name: str, settings: IngestSettings | None = None, *, snapshot: bool = False) -> str:
    """The example CSV for a canonical table (``snapshot``: a subscriptions snapshot with tenure and churn)."""
    table = schema.TABLES[table_name]
    settings = settings or IngestSettings()
    columns = list(table.columns)
    if snapshot:
        columns = [c for c in columns if c.name not in ("period_start", "period_end", "renewed")]
        columns[1:1] = [c for c in SNAPSHOT_INPUTS if c.name != "tenure_days"]
    lines = [f"# commetrics template for {table.name}: {table.grain}. Lines starting with # are skipped by "
             "`commetrics load`; delete the example rows and add yours."]
    if snapshot:
        lines.append("# A snapshot: load it with --snapshot-as-of DATE (the day the tenure and churn were taken).")
    lines += [_describe(c, settings, table) for c in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in (0, 1):
        writer.writerow([_example(c, settings, row) for c in columns])
    return "\n".join(lines) + "\n" + out.getvalue()
