"""Building blocks of the report's inline SVG charts: coordinates, axes, ticks, labels and colours.

No font metrics are available offline, so label widths are estimates (:func:`text_width`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .common import escape

__all__ = [
    "DASHES",
    "PALETTE",
    "axis_ticks",
    "day_tick",
    "nice_step",
    "num",
    "pct_tick",
    "shorten",
    "style",
    "text_width",
    "x_grid",
]

#: Okabe–Ito colours (yellow left out: too pale on white), safe for the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Dash patterns used once the palette has been used up, so that every cohort stays distinguishable.
DASHES = ("", "6 3", "2 2", "8 3 2 3")


def num(value: float) -> str:
    """An SVG coordinate: one decimal, no trailing ``.0`` noise, never ``-0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about ``target_ticks`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def axis_ticks(upper: float, target_ticks: int = 5) -> tuple[float, list[float]]:
    """The axis maximum (rounded up to a step) and the ticks from 0 to it."""
    step = nice_step(upper, target_ticks)
    count = max(1, math.ceil(upper / step - 1e-9))
    return step * count, [step * i for i in range(count + 1)]


def pct_tick(value: float, step: float) -> str:
    """A percentage tick label with as many decimals as the step needs."""
    decimals = 0 if step * 100 >= 1 - 1e-9 else (1 if step * 1000 >= 1 - 1e-9 else 2)
    return f"{value * 100:.{decimals}f}%"


def day_tick(value: float) -> str:
    """A day tick label."""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def text_width(text: str, size: float = 12.0) -> float:
    """A rough rendered width of ``text`` in pixels (no font metrics are available offline)."""
    return len(text) * size * 0.62


def shorten(text: str, limit: int = 28) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def x_grid(ticks: Sequence[tuple[float, str]], top: float, bottom: float) -> list[str]:
    """Vertical grid lines from ``top`` to ``bottom`` at each ``(x, label)``, labelled under the axis."""
    out = []
    for x, label in ticks:
        out.append(f'<line class="grid" x1="{num(x)}" y1="{num(top)}" x2="{num(x)}" y2="{num(bottom)}"/>')
        out.append(f'<text class="muted" x="{num(x)}" y="{num(bottom + 16)}" text-anchor="middle" '
                   f'font-size="11">{escape(label)}</text>')
    return out


def style(index: int) -> tuple[str, str]:
    """The colour and dash pattern of the ``index``-th cohort."""
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]
