"""Values written to CSV files that people open in spreadsheets, made inert (formula injection, OWASP).

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula — it can fetch a URL
with the sheet's data or, in older Excel, start a program — and so does a cell starting with a tab or a
carriage return (OWASP, *CSV Injection*). The data commetrics writes out (CRM import files, pseudonymised
exports) come from files anyone could have typed into, so every text cell passes through :func:`safe_cell`:

* a value whose first character is a tab, CR or LF, or whose first other character is one of
  ``= + - @`` (or their full-width forms ``＝ ＋ － ＠``, which some spreadsheets read as formulas too), gets
  a leading ``'`` — the mark spreadsheets read as "this is text" and do not show;
* inside a value, a trigger after a tab, CR or LF (where a tab-separated or line-based reader starts a new
  cell) gets a ``'`` in front of it;
* a plain number (``-12.5``, ``+3``, ``1e5``) is left alone: it cannot call anything.

Nothing is lost: removing the added ``'`` gives the value back. The files are also written with every
field in double quotes, so a comma or semicolon inside a value never starts a new cell.
:func:`safe_cell_sql` is the same rule as a DuckDB expression, for files DuckDB writes itself.
"""

from __future__ import annotations

import re

__all__ = ["safe_cell", "safe_cell_sql"]

_TRIGGERS = "=+\\-@\uff1d\uff0b\uff0d\uff20"
_SPACE = " \\t\\r\\n"
#: Python and RE2 (DuckDB) read these patterns alike.
_LEADING = f"^[{_SPACE}]*[{_TRIGGERS}]|^[\\t\\r\\n]"
_INSIDE = f"([\\t\\r\\n][{_SPACE}]*)([{_TRIGGERS}])"
_NUMBER = "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"

_LEADING_RE = re.compile(_LEADING)
_INSIDE_RE = re.compile(_INSIDE)
_NUMBER_RE = re.compile(_NUMBER)


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet reads it as text (see the module docstring).

    Examples
    --------
    >>> safe_cell("=HYPERLINK(\\"http://x.example\\")")
    '\\'=HYPERLINK("http://x.example")'
    >>> safe_cell("-12.5"), safe_cell("community-active")
    ('-12.5', 'community-active')
    >>> safe_cell("note\\t=1+2")
    "note\\t'=1+2"
    """
    if _LEADING_RE.match(value) and not _NUMBER_RE.match(value):
        value = "'" + value
    return _INSIDE_RE.sub(r"\1'\2", value)


def safe_cell_sql(expression: str) -> str:
    """A DuckDB expression: the text ``expression`` as :func:`safe_cell` would write it (NULL stays NULL)."""
    leading = (f"case when regexp_matches({expression}, '{_LEADING}') and not regexp_matches({expression}, "
               f"'{_NUMBER}') then '''' || {expression} else {expression} end")
    return f"regexp_replace({leading}, '{_INSIDE}', '\\1''\\2', 'g')"
