"""A self-contained HTML report of community conversion rates, and its sections.

The modules build on each other in one direction, so there is no import cycle:

- :mod:`.common` (escaping, reading and formatting values) and :mod:`.svg` (chart building blocks);
- one module per section: :mod:`.conversion` (with :mod:`.conversion_data` and
  :mod:`.conversion_charts`), :mod:`.attribution`, :mod:`.scores` and :mod:`.impact`;
- :mod:`.page`: the document around the sections, :class:`ReportData` and :func:`render_html`.
"""

from __future__ import annotations

from .attribution import SUPPRESSED_BADGE, AttributionSection, model_labels, render_attribution
from .conversion import ConversionSection, render_conversion
from .impact import ImpactSection, render_impact
from .page import ReportData, render_html
from .scores import ScoresSection, render_scores

__all__ = [
    "SUPPRESSED_BADGE",
    "AttributionSection",
    "ConversionSection",
    "ImpactSection",
    "ReportData",
    "ScoresSection",
    "model_labels",
    "render_attribution",
    "render_conversion",
    "render_html",
    "render_impact",
    "render_scores",
]
