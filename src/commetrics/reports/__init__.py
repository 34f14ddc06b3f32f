"""Turn Results into text, JSON and HTML; the command line, the service and written reports share these.

:func:`write_report` writes the self-contained HTML report of a workspace (``commetrics report``).
"""

from __future__ import annotations

from .build import build_report, write_report

__all__ = ["build_report", "write_report"]
