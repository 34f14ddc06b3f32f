"""The store in the terminal: load reports, identity explanations (not analyses: no Result)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from ...ingest import REASON_HELP, LoadReport, Reason
from ..format import count
from .tables import console, text

__all__ = ["render_identity", "render_loads"]


_ENUM_SETTINGS = {"activities": "activity_types", "outcomes": "outcome_types"}


def _label(r: LoadReport) -> str:
    """How a load's lines start: its number, or ``dry run`` for a load that wrote nothing."""
    return "dry run" if r.dry_run else f"load {r.load_id}"


def _how_read(r: LoadReport) -> list[str]:
    """How a file was read: encoding and delimiter when not the usual, timestamps and the zone, made ids."""
    said = []
    parts = []
    if r.encoding and not r.encoding.startswith("utf-8"):
        parts.append(f"encoding {r.encoding}")
    if r.delimiter and r.delimiter != ",":
        parts.append(f"fields separated by {r.delimiter}")
    for column, how in r.date_formats.items():
        parts.append(f"{column} read as {how}")
    if r.date_formats:
        parts.append(f"times without an offset read in {r.timezone}")
    for column, how in r.number_formats.items():
        parts.append(f"{column} read with {how}")
    if parts:
        said.append(f"  {_label(r)}: " + "; ".join(parts))
    if r.generated_ids:
        said.append(f"  {_label(r)}: the file has no id column: ids were made from each row's content "
                    "(equal rows of the file stay apart; loading it again adds nothing)")
    said += [f"  {_label(r)}: {note}" for note in r.notes]
    return said


def render_loads(reports: Iterable[LoadReport], width: int | None = None) -> str:
    """The four counts of each load, how the file was read, the reasons of quarantined rows and any schema drift."""
    out, buffer = console(width)
    reports = list(reports)
    dry = any(r.dry_run for r in reports)
    table = Table(title="Loads — a dry run: nothing was written, the counts are what a load would do" if dry
                  else "Loads", title_justify="left")
    for name in ("load", "table", "file", "read", "loaded", "quarantined", "duplicates"):
        table.add_column(name, justify="right" if name not in ("table", "file") else "left")
    read: list[str] = []
    notes: list[str] = []
    for r in reports:
        table.add_row("dry run" if r.dry_run else str(r.load_id), r.table, r.file, count(r.rows_read),
                      count(r.rows_loaded), count(r.rows_quarantined), count(r.rows_duplicate))
        read += _how_read(r)
        if r.rows_replaced:
            notes.append(f"  {_label(r)}: {r.rows_replaced:,} loaded rows replaced the earlier version of "
                         "their key")
        if r.rows_resolved:
            notes.append(f"  {_label(r)}: {r.rows_resolved:,} rows quarantined by earlier loads are now "
                         "resolved")
        if r.rows_erased:
            notes.append(f"  {_label(r)}: {r.rows_erased:,} rows of erased people were dropped")
        if r.accepted_types:
            added = "would be added to commetrics.toml" if r.dry_run else "added to commetrics.toml and loaded"
            notes.append(f"  {_label(r)}: new types {added}: {', '.join(r.accepted_types)}")
        for reason, rows in r.reasons.items():
            notes.append(f"  {_label(r)}: {rows:,} × {reason} — {REASON_HELP[Reason(reason)]}")
        if r.unknown_types:
            types = list(r.unknown_types)
            shown = ", ".join(types[:10]) + (" ..." if len(types) > 10 else "")
            setting = _ENUM_SETTINGS.get(r.table, "")
            notes.append(f"  {_label(r)}: {sum(r.unknown_types.values()):,} rows of {len(types)} unknown "
                         f"type{'s' if len(types) != 1 else ''} ({shown}): add them with --accept-types or in "
                         f"[ingest] {setting} of commetrics.toml")
        if r.attribute_columns:
            notes.append(f"  {_label(r)}: extra columns kept in attributes: {', '.join(r.attribute_columns)}")
        elif r.drift_columns:
            notes.append(f"  {_label(r)}: columns outside the schema, not loaded: {', '.join(r.drift_columns)}")
    out.print(table)
    if read:
        out.print("How the files were read:")
        for line in read:
            out.print(line, soft_wrap=True)
    if notes:
        out.print("Quarantine, corrections and drift (see `commetrics quarantine`):")
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
