"""The public records of suppression (:class:`SuppressionSummary`, :class:`Disclosure`) and :func:`check_k`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from commetrics.errors import InputError

MIN_K = 5  # the floor for k: below this a cell is close to naming someone, whatever the config says
SUPPRESSED = "suppressed"  # the boolean column suppress() adds

Margin = tuple[str, ...]
Key = tuple[object, ...]


@dataclass(frozen=True)
class SuppressionSummary:
    """What :func:`suppress` hid, so that an output can say "suppression applied".

    Found in ``out.attrs["suppression"]`` (or through :func:`suppression_summary`).

    Attributes
    ----------
    k
        The threshold used.
    primary
        Cells hidden because 0 < people < k.
    complementary
        Further cells hidden so that no hidden cell can be worked out from the totals.
    withheld_totals
        ``(margin, key)`` of every total that must **not** be published: totals of fewer than k
        people, plus any that would let one be worked out. ``margin`` is ordered as ``dims``;
        ``key`` holds the margin's values in the same order (``()`` for the grand total).
    """

    k: int
    primary: int
    complementary: int
    withheld_totals: tuple[tuple[Margin, Key], ...] = ()

    @property
    def applied(self) -> bool:
        """True when anything at all was hidden (a cell or a total)."""
        return bool(self.primary or self.complementary or self.withheld_totals)

    def withheld(self, margin: Sequence[str]) -> set[Key]:
        """Keys of the withheld totals of one margin (given in any order)."""
        wanted = frozenset(margin)
        return {key for m, key in self.withheld_totals if frozenset(m) == wanted}


@dataclass(frozen=True)
class Disclosure:
    """A hidden cell or withheld total that the published figures give away.

    ``reason`` is ``"exact"`` when its value can be worked out exactly (the feasible interval
    ``[low, high]`` is one whole number), or ``"below_k"`` when a primary cell can be shown to
    hold fewer than k people (``high < k``): the hidden cells around it then form an implicit
    cell of fewer than k people.
    """

    reason: Literal["exact", "below_k"]
    margin: Margin  # the dims for a cell, the margin's dims for a total
    key: Key  # the cell's (or total's) dimension values
    row: Hashable | None  # the frame's index label of the cell; None for a total
    value: int  # the true people count
    low: float  # the smallest value consistent with everything published
    high: float  # the largest (inf when nothing bounds it)

    @property
    def is_total(self) -> bool:
        return self.row is None


def check_k(k: int) -> int:
    """Return ``k`` as an int, or raise :class:`InputError` if it is not a whole number >= 5.

    Cells of fewer than 5 people come close to naming them, so the floor is not configurable.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        msg = (
            f"k must be a whole number of people, got {k!r}. "
            f"Set privacy.min_cell_size in commetrics.toml (default 10, never below {MIN_K})."
        )
        raise InputError(msg)
    if k < MIN_K:
        msg = (
            f"k = {k} is below the floor of {MIN_K}: cells that small come close to naming people. "
            f"Set privacy.min_cell_size to {MIN_K} or more (default 10)."
        )
        raise InputError(msg)
    return int(k)


def suppression_summary(frame: pd.DataFrame) -> SuppressionSummary:
    """The :class:`SuppressionSummary` that :func:`suppress` attached to ``frame``."""
    summary = frame.attrs.get("suppression")
    if not isinstance(summary, SuppressionSummary):
        msg = (
            "this frame carries no suppression summary. Pass it through privacy.suppress() first; "
            "pandas drops attrs in some operations (merge, concat), so read the summary right away."
        )
        raise InputError(msg)
    return summary
