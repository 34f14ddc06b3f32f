"""Excel workbooks (``.xlsx``, ``.xlsm``): one sheet, written once as a CSV the load then reads like any other.

A spreadsheet's cells hold values, not text, so the copy writes each in the form the loader reads
without guessing: dates and times in ISO 8601 (naive, as the sheet holds them: read in the load's
time zone), numbers plain (``1234.5``; a whole number without ``.0``, so an id typed as a number
stays ``12345``), true/false, and text as it is (an error cell such as ``#N/A`` is its text: see
``--na``). Formulas give the value the workbook last computed. Rows keep their numbers: row ``n`` of
the sheet is line ``n`` of the copy (unless a cell above holds a line break), so quarantine points
at the sheet's row; empty rows at the end are dropped.

The sheet is the one named (``--sheet``), else the workbook's first; the load report says which,
and names the others. Older formats (``.xls``, ``.ods``, Numbers) are refused with what to do.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError, UnreadableFileError

WORKBOOKS = (".xlsx", ".xlsm")


def is_workbook(path: Path) -> bool:
    """Whether ``path`` is named as an Excel workbook (one that is not a workbook gets a clear error)."""
    return path.suffix.lower() in WORKBOOKS and path.is_file()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def sheet_as_csv(path: Path, workdir: Path, sheet: str | None = None) -> tuple[Path, str]:
    """Write the sheet (``sheet``, else the first) of the workbook at ``path`` as a UTF-8 CSV in ``workdir``.

    Returns the CSV and a note for the load report: the sheet read and the others."""
    import openpyxl  # imported here: only a workbook needs it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        msg = (f"{path.name} cannot be read as an Excel workbook ({exc}). Open it in a spreadsheet and save it "
               "again as .xlsx, or export the sheet as CSV (UTF-8) and load that.")
        raise UnreadableFileError(msg) from None
    try:
        names = list(book.sheetnames)
        if sheet is None:
            chosen = names[0]
        elif sheet in names:
            chosen = sheet
        else:
            raise UnknownNameError.for_name("sheet", sheet, dict.fromkeys(names), "Name one with --sheet.")
        target = workdir / f"sheet-{path.stem}.csv"
        rows = book[chosen]
        width = 0  # the last column holding a value, in any row (a sheet's used range may be wider)
        for row in rows.iter_rows(values_only=True):
            filled = [i for i, v in enumerate(row) if v is not None and v != ""]  # what _text writes as ""
            width = max(width, filled[-1] + 1 if filled else 0)
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            empty = 0  # empty rows not written yet: written (as blank lines) only when a row with a value follows
            for row in rows.iter_rows(values_only=True):
                cells = [_text(v) for v in row[:width]]
                if not any(cells):
                    empty += 1
                    continue
                out.write("\n" * empty)
                empty = 0
                writer.writerow(cells + [""] * (width - len(cells)))
    finally:
        book.close()
    others = [n for n in names if n != chosen]
    note = f"read sheet {chosen!r} of the workbook" + (
        f" (also in it: {', '.join(map(repr, others))}; choose one with --sheet)" if others else "")
    return target, note
