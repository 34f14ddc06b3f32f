"""``community`` in the terminal: the community's health figures."""

from __future__ import annotations

from ...results import Result
from ..format import HIDDEN, is_missing
from . import RENDERERS
from .tables import render_frames

__all__ = ["render_community"]


def render_community(result: Result) -> str:
    table = result["metrics"]
    values = [HIDDEN if hidden or is_missing(v) else f"{v:.3f}"
              for v, hidden in zip(table["value"], table["suppressed"], strict=True)]
    shown = table.assign(value=values)
    return render_frames([("Community metrics", shown[["metric", "value", "numerator", "denominator",
                                                        "definition"]])])


RENDERERS.register("community", render_community)
