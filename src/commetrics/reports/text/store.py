"""The store in the terminal: load reports, identity explanations (not analyses: no Result)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from ...ingest import REASON_HELP, LoadReport, Reason
from ..format import count
from .tables import console, text

__all__ = ["render_identity", "render_loads"]


def render_loads(reports: Iterable[LoadReport], width: int | None = None) -> str:
    """The four counts of each load, the reasons of quarantined rows and any schema drift."""
    out, buffer = console(width)
    table = Table(title="Loads", title_justify="left")
    for name in ("load", "table", "file", "read", "loaded", "quarantined", "duplicates"):
        table.add_column(name, justify="right" if name not in ("table", "file") else "left")
    notes: list[str] = []
    for r in reports:
        table.add_row(str(r.load_id), r.table, r.file, count(r.rows_read), count(r.rows_loaded),
                      count(r.rows_quarantined), count(r.rows_duplicate))
        for reason, rows in r.reasons.items():
            notes.append(f"  load {r.load_id}: {rows:,} × {reason} — {REASON_HELP[Reason(reason)]}")
        if r.attribute_columns:
            notes.append(f"  load {r.load_id}: extra columns kept in attributes: {', '.join(r.attribute_columns)}")
        elif r.drift_columns:
            notes.append(f"  load {r.load_id}: columns outside the schema, not loaded: {', '.join(r.drift_columns)}")
    out.print(table)
    if notes:
        out.print("Quarantine and drift (see `commetrics quarantine`):")
        for note in notes:
            out.print(note, soft_wrap=True)
    return buffer.getvalue()


def _link_evidence(link: dict[str, Any]) -> str:
    detail = link.get("detail") or {}
    if link["rule"] != "probabilistic":
        return str(detail.get("evidence") or detail.get("decision") or "")
    weights = {name: level for name, level in detail.items() if isinstance(level, dict) and "match_weight" in level}
    levels = [f"{name}: {level['level']} ({level['match_weight']:+.1f})" for name, level in weights.items()]
    if link.get("match_weight") is not None:  # what is left of the total is the prior: two records at random
        prior = float(link["match_weight"]) - sum(float(level["match_weight"]) for level in weights.values())
        levels.append(f"prior ({prior:+.1f}) = {float(link['match_weight']):+.1f}")
    return "; ".join(levels)


def render_identity(explained: dict[str, Any], width: int | None = None) -> str:
    """``commetrics identity explain``: each person's records, then every link with its rule, or its
    match probability and the match weight (bits) of each comparison."""
    out, buffer = console(width)
    if not explained.get("people"):
        ids = ", ".join(r["record_id"] for r in explained.get("records", []))
        out.print(f"{explained['identifier']}: records {ids}, not resolved into a person yet.")
    for person in explained.get("people", []):
        account = (f"account {person['account_id']} (from the {person['account_rule']})"
                   if person["account_id"] else "no account")
        records = Table("record", "source", "e-mail", "name", "handle", "joined by",
                        title=f"{person['person_id']}: {len(person['records'])} record(s), {account}",
                        title_justify="left")
        for r in person["records"]:
            records.add_row(*(text(r.get(k)) if r.get(k) is not None else "" for k in
                              ("record_id", "source", "email", "name", "handle", "rule")))
        out.print(records)
        if person["links"]:
            links = Table("records", "rule", "probability", "evidence (match weight in bits)", title="Links",
                          title_justify="left")
            for link in person["links"]:
                p = link.get("match_probability")
                links.add_row(f"{link['record_a']} – {link['record_b']}", link["rule"],
                              "" if p is None else f"{p:.3f}", _link_evidence(link))
            out.print(links)
        for override in person["overrides"]:
            out.print(f"Override: {override['record_a']} and {override['record_b']}: {override['decision']} "
                          f"(decided {override['decided_at']}).")
    if explained.get("note"):
        out.print(explained["note"], soft_wrap=True)
    return buffer.getvalue()
