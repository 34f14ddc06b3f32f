"""``drivers`` in the terminal: the behaviours ranked, with adjusted odds ratios and differences."""

from __future__ import annotations

import pandas as pd

from ...results import Result
from ..format import HIDDEN, count, is_missing, percent, points
from . import RENDERERS
from .tables import render_rows

__all__ = ["render_drivers"]

_VERDICT = {"more": "more conversion", "less": "less conversion", "": "no clear association"}


def render_drivers(result: Result) -> str:
    """The ranked behaviours of a member's first days, as published, and what the ranking means."""
    frame: pd.DataFrame = result["drivers"]
    converters = result["converters"]
    head = (f"{result['conversion']}: {', '.join(result['outcomes'])} within {result['window_days']} days after "
            f"{result['landmark']}; {count(result['eligible'])} eligible members, "
            + (f"{count(converters)} converted ({percent(result['rate'])}).\n" if converters is not None
               else "converters hidden (fewer than the smallest publishable group).\n"))
    rows = []
    for r in frame.itertuples(index=False):
        raw = (HIDDEN if getattr(r, "suppressed", False) or is_missing(r.rate_with)
               else f"{percent(r.rate_with)} vs {percent(r.rate_without)}")
        rows.append([r.rank, r.behaviour, count(r.members), raw,
                     f"x{r.odds_ratio:.2f} ({r.or_low:.2f}–{r.or_high:.2f})",
                     f"{points(r.difference)} ({points(r.diff_low)} to {points(r.diff_high)})",
                     f"{r.p_holm:.2g}", _VERDICT[r.associated]])
    table = render_rows("Behaviours associated with conversion (first days; adjusted for each other and the controls)",
                        ["#", "behaviour", "members", "raw: with vs without", "odds ratio (95% CI)",
                         "adjusted difference, points", "Holm p", "associated with"], rows)
    controls = ", ".join(result["controls"]) or "nothing else"
    tail = (f"Adjusted for the other behaviours and: {controls} (Firth-penalised logistic model). A behaviour is "
            "'associated' when its Holm-adjusted p is below 0.05. These are associations, not causes: members "
            "choose what they do.\n")
    if result["left_out"]:
        tail += f"Not compared (too few members with or without): {', '.join(result['left_out'])}.\n"
    return head + table + tail


RENDERERS.register("drivers", render_drivers)
