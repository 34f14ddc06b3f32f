"""The report as PDF: the HTML printed by headless Chromium (budget decks travel as PDF).

The browser is the machine's own — ``$COMMETRICS_CHROMIUM``, else ``chromium``, ``chromium-browser``,
``google-chrome`` or ``google-chrome-stable`` on the ``PATH`` — never one downloaded at run time. When
there is none, :class:`~commetrics.errors.MissingToolError` says how to install one; the HTML report
is written either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import MissingToolError

__all__ = ["BROWSER_ENV", "find_browser", "print_pdf"]

#: Environment variable naming the Chromium (or Chrome) binary to print with.
BROWSER_ENV = "COMMETRICS_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The Chromium binary to print with, or ``None`` when the machine has none."""
    given = os.environ.get(BROWSER_ENV, "").strip()
    if given:
        return given if Path(given).exists() or shutil.which(given) else None
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, *, timeout: float = 120.0) -> Path:
    """Print ``html`` to ``pdf`` with headless Chromium (A4, backgrounds, no header or footer); return ``pdf``."""
    browser = find_browser()
    if browser is None:
        raise MissingToolError(
            f"Writing a PDF needs Chromium or Chrome, and none was found ({', '.join(_NAMES)} on the PATH, or "
            f"${BROWSER_ENV}). Install it (Debian/Ubuntu: apt-get install chromium) or set {BROWSER_ENV} to the "
            f"browser's path, then run the command again. The HTML report is at {html}.")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="commetrics-pdf-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", "--no-pdf-header-footer", "--print-to-pdf-no-header",
                   f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise MissingToolError(f"{browser} did not finish printing the PDF within {timeout:.0f} s; the HTML "
                                   f"report is at {html}.") from None
    if done.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MissingToolError(f"{browser} could not print the PDF ({detail[0]}); the HTML report is at {html}.")
    return pdf
