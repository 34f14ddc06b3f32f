"""The self-contained HTML report and its sections.

The modules build on each other in one direction, so there is no import cycle:

- :mod:`.common` (escaping, reading and formatting values, glossary links) and :mod:`.charts`
  (Vega-Lite specs through Altair, drawn to inline SVG by vl-convert);
- :mod:`.summary` (the cards that open the report) and one module per section: :mod:`.conversion`
  (with :mod:`.conversion_data`), :mod:`.drivers`, :mod:`.attribution`, :mod:`.impact`, :mod:`.community`,
  :mod:`.scores`;
- :mod:`.page`: the document around them, :class:`ReportData`, :func:`render_html` and
  :func:`render_summary_page`.
"""

from __future__ import annotations

from .attribution import SUPPRESSED_BADGE, AttributionSection, model_labels, render_attribution
from .conversion import ConversionGroup, ConversionSection, render_conversion
from .drivers import DriversSection, render_drivers
from .impact import ImpactSection, render_impact
from .page import ReportData, render_html, render_summary_page
from .scores import ScoresSection, render_scores
from .summary import render_summary

__all__ = [
    "SUPPRESSED_BADGE",
    "AttributionSection",
    "ConversionGroup",
    "ConversionSection",
    "DriversSection",
    "ImpactSection",
    "ReportData",
    "ScoresSection",
    "model_labels",
    "render_attribution",
    "render_conversion",
    "render_drivers",
    "render_html",
    "render_impact",
    "render_scores",
    "render_summary",
    "render_summary_page",
]
