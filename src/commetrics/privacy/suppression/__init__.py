"""Small-cell suppression: hide every cell of fewer than k people, and enough others that none can be worked out.

An aggregated table (one row per cell, for example one per cohort and week) is published with
some totals alongside it: a grand total, a total per cohort, and so on. Hiding the small cells
(*primary suppression*) is not enough, because a hidden cell that is the only hidden one in a
published total is that total minus the visible cells. So more cells are hidden (*complementary
suppression*) until no hidden cell can be recovered.

:func:`suppress` does both. A cheap local rule does most of the work; then :func:`audit` solves
linear programs, as an attacker would, to bound every hidden value, and :func:`suppress` keeps
hiding cells until the audit finds nothing. Correctness therefore rests on the audit, not on the
heuristic.

The model (also in the docstring of :func:`suppress`): the attacker knows every visible cell,
every published total, and that counts are never negative. A total is "published" when its
margin is listed and it was not withheld. A total of fewer than k people is itself a small cell,
so it is always withheld; and a few more totals may be withheld when they would give a small one
away. The caller must leave out the totals listed in ``SuppressionSummary.withheld_totals``.
"""

from __future__ import annotations

from ._audit import audit
from ._records import MIN_K, Disclosure, SuppressionSummary, check_k, suppression_summary
from ._records import SUPPRESSED as SUPPRESSED
from ._records import Key as Key
from ._records import Margin as Margin
from ._suppress import nullable as nullable
from ._suppress import suppress

# SUPPRESSED, Key, Margin and nullable are importable from here as before, though not in __all__:
# "import X as X" marks them as re-exported for mypy.
__all__ = [
    "MIN_K",
    "Disclosure",
    "SuppressionSummary",
    "audit",
    "check_k",
    "suppress",
    "suppression_summary",
]
