"""A platform export's loads in the terminal: read = loaded + quarantined + duplicates + excluded, per table."""

from __future__ import annotations

from rich.table import Table

from ...ingest import REASON_HELP, Reason
from ...sources import EXCLUSION_HELP, DumpReport
from ..format import count
from .tables import console

__all__ = ["render_dump"]


def render_dump(report: DumpReport, export: str, width: int | None = None) -> str:
    """One row per table loaded from ``export``: what the connector read from the export and where each record
    went — loaded, quarantined (with a reason), a duplicate of what the store holds, or excluded on purpose
    (bots, system users, staff actions; by reason) — then the reasons."""
    out, buffer = console(width)
    table = Table(title=f"Loaded from {export}", title_justify="left")
    for name in ("load", "table", "read", "loaded", "quarantined", "duplicates", "excluded"):
        table.add_column(name, justify="left" if name == "table" else "right")
    notes: list[str] = []
    for row in report.as_dicts():
        table.add_row(str(row["load_id"]), row["table"], count(row["records_read"]), count(row["rows_loaded"]),
                      count(row["rows_quarantined"]), count(row["rows_duplicate"]), count(row["rows_excluded"]))
        for reason, rows in row["excluded"].items():
            notes.append(f"  {row['table']}: {rows:,} excluded × {reason} — {EXCLUSION_HELP.get(reason, reason)}")
        for reason, rows in row["reasons"].items():
            notes.append(f"  {row['table']}: {rows:,} quarantined × {reason} — {REASON_HELP[Reason(reason)]} "
                         f"(see `commetrics quarantine --load {row['load_id']}`)")
    out.print(table)
    if notes:
        out.print("Why records were not loaded:")
        for note in notes:
            out.print(note, soft_wrap=True)
    for note in report.notes:
        out.print(f"Note: {note}", soft_wrap=True)
    if any(r.rows_duplicate for r in report) and not any(r.rows_loaded for r in report):
        out.print("Every record was already in the store: loading the same export again adds nothing.", soft_wrap=True)
    return buffer.getvalue()
