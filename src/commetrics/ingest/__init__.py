"""Ingest: files -> canonical tables, with quarantine and a load ledger."""

from __future__ import annotations

from .load import DEFAULT_SOURCE, LoadReport, load_file
from .options import LoadOptions, parse_date_formats
from .reasons import REASON_HELP, Reason

__all__ = ["DEFAULT_SOURCE", "REASON_HELP", "LoadOptions", "LoadReport", "Reason", "load_file", "parse_date_formats"]
