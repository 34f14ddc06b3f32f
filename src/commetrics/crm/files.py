"""CRM import files: HubSpot's and Salesforce's importers read them (see the package docstring).

People open these files in spreadsheets before importing them, so every field is quoted and every text cell
is made inert (:func:`commetrics.spreadsheet.safe_cell`): a tier or tag that starts with ``=`` cannot run.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..spreadsheet import safe_cell
from .records import FIELDS, FILES, cell, check_target, companies_records, contacts_records


def export_files(contacts: pd.DataFrame, companies: pd.DataFrame, target: str, out: Path) -> list[Path]:
    """Write the CSV import files for ``target`` into ``out`` and return their paths.

    HubSpot matches imported contacts by e-mail, so its contact rows without one go to
    ``hubspot_contacts_without_email.csv`` (with ``crm_contact_id`` where identity resolution found the
    person's CRM contact) and never into ``hubspot_contacts.csv``; that file is written only when such rows
    exist. Salesforce matches by the member id, so its contacts file holds every row."""
    check_target(target)
    people = contacts_records(contacts)
    rows = {"contacts": people, "companies": companies_records(companies)}
    if target == "hubspot":
        rows["contacts"] = [p for p in people if p["email"] is not None]
        rows["contacts_without_email"] = [p for p in people if p["email"] is None]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj, records in rows.items():
        if obj == "contacts_without_email" and not records:
            (out / FILES[target, obj]).unlink(missing_ok=True)  # an earlier run's file would describe old data
            continue
        fields = FIELDS[target, obj]
        path = out / FILES[target, obj]
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
            writer.writerow([header for _, header, _ in fields])
            writer.writerows([_file_cell(record[name]) for name, _, _ in fields] for record in records)
        os.replace(partial, path)
        paths.append(path)
    return paths


def _file_cell(value: Any) -> str:
    """A value as its CSV cell: numbers and dates as :func:`cell` formats them, text made inert."""
    return safe_cell(value) if isinstance(value, str) else cell(value)
