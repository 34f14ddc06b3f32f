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
    """Write the two CSV import files for ``target`` into ``out`` and return their paths."""
    check_target(target)
    rows = {"contacts": contacts_records(contacts), "companies": companies_records(companies)}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj, records in rows.items():
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
