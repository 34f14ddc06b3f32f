"""Terminal renderings of Results, one module per family of analyses, each registered by analysis name.

:func:`render` writes a :class:`~commetrics.results.Result` for the terminal: the analysis's own
rendering (registered in :data:`RENDERERS` by the module that draws it), then what the reader must
know beside it — warnings and notes of the diagnostics, and what the publication policy hid. Renderers
only draw published figures; they never suppress, filter by consent or decide wording of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...registry import Registry
from ...results import Result
from .tables import console, frame_table, render_frames, render_rows, text

__all__ = ["RENDERERS", "console", "frame_table", "render", "render_frames", "render_rows", "text"]

RENDERERS: Registry[Callable[..., str]] = Registry(
    "terminal rendering", discover="commetrics.reports.text",
    hint="Every registered analysis has one; `--json` prints any Result.")


#: Per analysis, the figures whose warnings its rendering prints beside them (the footer leaves those out).
SHOWN_BESIDE: dict[str, tuple[str, ...]] = {
    "impact.renewal": ("headline",), "impact.exposure": ("headline",), "impact.nps": ("comparison",),
    "impact.csat": ("comparison",)}


def footer(result: Result) -> str:
    """Warnings and notes of a Result, and what the publication policy hid ("" when there is nothing)."""
    lines = [f"Warning: {d.message} {d.advice}".rstrip() for d in result.diagnostics
             if d.severity == "warning" and d.about not in SHOWN_BESIDE.get(result.analysis, ())]
    lines += [f"Note: {d.message}" for d in result.diagnostics if d.severity == "info"]
    lines += list(result.notes)
    if result.publication.note:
        lines.append(result.publication.note)
    if result.publication.exact:
        lines.append("Exact figures (not published: small cells are not hidden).")
    return "".join(line + "\n" for line in lines if line)


def render(result: Result, **options: Any) -> str:
    """The terminal text of a Result: its registered rendering (``options`` such as ``limit`` go to it), then
    :func:`footer`."""
    return RENDERERS.get(result.analysis)(result, **options) + footer(result)
