"""Turn Results into text, JSON, HTML and PDF; the command line, the service and written reports share these.

:func:`write_report` writes the self-contained HTML report of a workspace (``commetrics report``, and
``--pdf``); :func:`build_summary` makes the summary that opens it (``commetrics summary``).
"""

from __future__ import annotations

from .build import build_report, write_report
from .summary import Summary, build_summary

__all__ = ["Summary", "build_report", "build_summary", "write_report"]
