"""The pages' content: the Engine's published Results drawn by the report's own section renderers.

Each function takes Results (read through :mod:`.results`) and returns HTML made by
:mod:`commetrics.reports.html` — the same tables, wording and charts as the written report — or, for
the questions the report has no section for, the terminal rendering of :mod:`commetrics.reports.text`.
Nothing here computes, suppresses or rounds a figure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..reports.html import (
    AttributionSection,
    ConversionGroup,
    ConversionSection,
    ImpactSection,
    render_attribution,
    render_conversion,
    render_impact,
    render_summary,
)
from ..reports.labels import words
from ..reports.summary import Summary, summarize, summary_results
from ..reports.text import render as render_text
from ..results import Result

if TYPE_CHECKING:
    from ..config import Config
    from ..engine import Engine

__all__ = ["attribution_html", "attribution_params", "conversion_html", "conversion_params", "diagnostics_html",
           "impact_html", "impact_params", "scores_html", "summary_html", "summary_of", "text_html"]


def diagnostics_html(result: Result) -> str:
    """The Result's diagnostics as a list, the guards that withhold a figure first ("" when there are none)."""
    order = {"blocking": 0, "warning": 1, "info": 2}
    found = sorted(result.diagnostics, key=lambda d: order.get(d.severity, 3))
    if not found and not result.publication.note:
        return ""
    items = "".join(f'<li class="{html.escape(d.severity)}"><strong>{html.escape(d.severity.title())}</strong> '
                    f"({html.escape(d.name)}{', ' + html.escape(d.about) if d.about else ''}): "
                    f"{html.escape(d.message)} {html.escape(d.advice)}</li>" for d in found)
    if result.publication.note:
        items += f'<li class="info"><strong>Published</strong>: {html.escape(result.publication.note)}</li>'
    return f'<aside class="guards" aria-label="Diagnostics"><strong>Diagnostics</strong><ul>{items}</ul></aside>'


def text_html(result: Result, **options: Any) -> str:
    """The terminal rendering of a Result (the command line's words and figures) in a ``<pre>``."""
    return f'<pre class="text">{html.escape(render_text(result, **options))}</pre>'


# -- the summary ---------------------------------------------------------------------------------------------


def summary_of(engine: Engine) -> Summary:
    """The summary cards from the very calls of ``commetrics summary`` and the report
    (:func:`commetrics.reports.summary.summary_results`): one path, so a card added there shows here too; the
    Engine's results cache serves what a refresh or the report computed."""
    moment = engine.as_of()
    summary = summarize(summary_results(engine, moment), engine.config, workspace=str(engine.workspace.directory),
                        as_of=moment)
    return replace(summary, freshness=engine.data_version().note())


def summary_html(summary: Summary) -> str:
    return render_summary(summary, links=False)


# -- conversion ----------------------------------------------------------------------------------------------


def conversion_params(name: str, by: str | None, window: int | None, as_of: datetime | None) -> dict[str, Any]:
    """The parameters of ``Engine.conversion(name, by=[by], windows=[window], as_of=as_of, curves=True)``."""
    return {"name": name, "outcome": None, "anchor": None, "windows": (window,) if window else None,
            "by": (by,) if by else (), "unit": None, "as_of": as_of, "reference": None, "baseline": None,
            "curves": True}


def conversion_html(result: Result, config: Config, name: str, by: str | None) -> str:
    """The report's conversion section for one conversion and one cohort key (or all members)."""
    entry = config.conversions.get(name)
    label = entry.title(name) if entry else words(name)
    definition = dict(result.get("definition") or {})
    part = ConversionSection(name=name, description=str(definition.get("description", "")), by=by,
                             table=result["rates"], curves=result["curves"], timing=result["time_to_conversion"])
    group = ConversionGroup(name=name, label=label, description=part.description,
                            definition={"name": name, "label": label, **definition}, parts=[part])
    return render_conversion(1, group, k=config.privacy.min_cell_size)


# -- impact --------------------------------------------------------------------------------------------------

#: The impact questions the dashboard shows (a campaign also needs its name).
IMPACT_QUESTIONS = ("renewal", "retention", "nps", "csat", "upsell", "campaign")


def impact_params(as_of: datetime | None, campaign: str | None = None) -> dict[str, Any]:
    return {"as_of": as_of} if campaign is None else {"name": campaign, "as_of": as_of}


def impact_html(question: str, result: Result, config: Config) -> str:
    """Renewal, NPS and CSAT as the report draws them; the other questions as the command line words them."""
    settings = config.impact
    if question == "renewal":
        section = ImpactSection(renewal=dict(result), surveys=[], engaged_level=settings.engaged_level,
                                window=(settings.exposure_start_days, settings.exposure_end_days))
        return render_impact(section)
    if question in ("nps", "csat"):
        section = ImpactSection(renewal=None, surveys=[{**result, "kind": question}],
                                engaged_level=settings.engaged_level,
                                window=(settings.exposure_start_days, settings.exposure_end_days),
                                renewal_note="Renewal: see the renewal question.")
        body = render_impact(section)
        body = body.replace("<h2>Renewal and satisfaction by participation</h2>", "", 1)
        return re.sub(r'<h3 id="impact-renewal">.*?(?=<h3)', "", body, count=1, flags=re.S)
    return f"<section><h2>{html.escape(result.title or words(question))}</h2>{text_html(result)}</section>"


# -- attribution ---------------------------------------------------------------------------------------------


def attribution_params(model: str, as_of: datetime | None, *, ci: bool = False) -> dict[str, Any]:
    """The parameters of ``Engine.attribution(model, as_of=as_of, ci=ci)``."""
    return {"models": (model,), "outcomes": None, "lookback_days": None, "by": None, "unit": None,
            "currency": None, "half_life_days": None, "first_touch_share": None, "last_touch_share": None,
            "as_of": as_of, "paths": None, "ci": ci, "replicates": None, "order": None}


def attribution_html(result: Result, config: Config, outcomes: Sequence[str]) -> str:
    """The report's attribution section over this Result's models."""
    settings = config.attribution
    params = result.params
    without, without_value = result["conversions_without_touch"], result["value_without_touch"]
    models: pd.DataFrame = result["models"]
    section = AttributionSection(
        outcomes=list(outcomes), by=str(params.get("by") or settings.by), unit=str(params.get("unit") or settings.unit),
        lookback_days=int(params.get("lookback_days") or settings.lookback_days),
        half_life_days=float(params.get("half_life_days") or settings.half_life_days),
        currency=params.get("currency"), result=models,
        conversions_without_touch=None if without is None else int(without),
        value_without_touch=None if without_value is None else float(without_value),
        replicates=int(params.get("replicates") or 0) if params.get("ci") else 0, totals=result["totals"],
        first_touch_share=settings.first_touch_share, last_touch_share=settings.last_touch_share)
    return render_attribution(section, 1)


# -- scores --------------------------------------------------------------------------------------------------

#: The columns the dashboard lists, in order (those of ``commetrics scores``).
SCORE_COLUMNS = {
    "accounts": ("account_id", "segment", "health", "band", "trend", "community", "product_usage", "support",
                 "relationship", "commercial", "active_members", "missing"),
    "members": ("member_id", "score", "tier", "activities", "last_active", "active", "account_id"),
}


def _cell(value: Any) -> tuple[str, bool]:
    """A value as text (one decimal, as ``commetrics scores`` prints it) and whether it is a number."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return "—", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        return f"{value:,.1f}", True
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d"), False
    return str(value), False


def scores_html(result: Result, level: str, limit: int) -> str:
    """The scores of ``commetrics scores`` as a table: the highest first, ``limit`` rows."""
    table: pd.DataFrame = result[level]
    order = "health" if level == "accounts" else "score"
    columns = [c for c in SCORE_COLUMNS[level] if c in table]
    shown = table.sort_values(order, ascending=False)[columns].head(limit) if order in table else table.head(limit)
    what = "Account health" if level == "accounts" else "Member engagement"
    head = "".join(f'<th scope="col">{html.escape(words(c))}</th>' for c in columns)
    rows = []
    for record in shown.astype(object).to_dict(orient="records"):
        cells = []
        for index, column in enumerate(columns):
            text, number = _cell(record[column])
            tag = "th scope=\"row\"" if index == 0 else ("td class=\"num\"" if number else "td")
            cells.append(f"<{tag}>{html.escape(text)}</{tag.split()[0]}>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    moment = result.get("as_of")
    caption = f"{what} as of {moment:%Y-%m-%d}" if isinstance(moment, datetime) else what
    caption += f": the {len(shown):,} highest of {len(table):,}"
    out = (f'<div class="scroll"><table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>'
           f"<tbody>{''.join(rows)}</tbody></table></div>")
    if level == "members":
        out += (f"<p>{len(table):,} members with consent are listed; {result['withheld_without_consent']:,} without "
                "consent are counted in account figures but never listed.</p>")
    return out
