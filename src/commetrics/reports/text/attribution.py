"""``attribution`` in the terminal: credit per model and touchpoint class (credit allocation, not lift)."""

from __future__ import annotations

import pandas as pd

from ...results import Result
from ..format import HIDDEN, count, percent
from . import RENDERERS
from .tables import render_frames

__all__ = ["render_attribution"]


def render_attribution(result: Result) -> str:
    frame: pd.DataFrame = result["models"]
    if frame.empty:  # nothing attributed: the diagnostics below say why
        return ("Attribution: no conversion to credit.\n"
                "Conversions with no community touch in the lookback (not attributed): "
                + count(result.get("conversions_without_touch")) + "\n")
    hidden = frame["suppressed"].to_numpy(bool) if "suppressed" in frame else [False] * len(frame)
    shown = frame.assign(share=[HIDDEN if h else percent(v) for v, h in zip(frame["share"], hidden, strict=True)])
    for column in shown.columns:
        if column.startswith(("conversions", "value")):
            shown[column] = pd.to_numeric(shown[column]).round(1 if column.startswith("conversions") else 0)
    shown = shown.drop(columns=[c for c in ("suppressed",) if c in shown])
    without = result.get("conversions_without_touch")
    return render_frames([("Attribution (credit allocation; it shows where credit goes, not what caused the "
                           "conversions)", shown)]) + (
        "Conversions with no community touch in the lookback (not attributed): " + count(without) + "\n")


RENDERERS.register("attribution", render_attribution)
