"""CRM import files: HubSpot's and Salesforce's importers read them (see the package docstring)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

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
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([header for _, header, _ in fields])
            writer.writerows([cell(record[name]) for name, _, _ in fields] for record in records)
        os.replace(partial, path)
        paths.append(path)
    return paths
