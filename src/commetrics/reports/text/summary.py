"""The summary in the terminal and as Markdown (``commetrics summary``, ``--out summary.md``)."""

from __future__ import annotations

import textwrap

from ..summary import Summary

__all__ = ["render_summary", "render_summary_markdown"]

_TITLE = "What the community is worth"


def render_summary(summary: Summary, width: int = 100) -> str:
    """One block per card: title, the figure and its interval, then its sentence; then what is left out and why."""
    lines = [f"{_TITLE} — {summary.workspace}, data as of {summary.as_of:%Y-%m-%d %H:%M} UTC", ""]
    if summary.freshness:
        lines += [*textwrap.wrap(summary.freshness, width=width), ""]
    for card in summary.cards:
        lines.append(f"{card.title}: {card.value}  ({card.detail})" if card.detail else f"{card.title}: {card.value}")
        lines += textwrap.wrap(card.sentence, width=width, initial_indent="  ", subsequent_indent="  ")
        lines.append("")
    if summary.omitted:
        lines.append("Not shown:")
        for item in summary.omitted:
            lines += textwrap.wrap(f"{item.title} — {item.reason}", width=width, initial_indent="  - ",
                                   subsequent_indent="    ")
    return "\n".join(lines).rstrip() + "\n"


def render_summary_markdown(summary: Summary) -> str:
    """The summary as Markdown: a heading, one subsection per card, and what is left out."""
    out = [f"# {_TITLE}", "", f"Workspace {summary.workspace}, data as of {summary.as_of:%Y-%m-%d %H:%M} UTC.", ""]
    if summary.freshness:
        out += [summary.freshness, ""]
    for card in summary.cards:
        out += [f"## {card.title}", "", f"**{card.value}**" + (f" — {card.detail}" if card.detail else ""), "",
                card.sentence, ""]
    if summary.omitted:
        out += ["## Not shown", ""]
        out += [f"- **{item.title}**: {item.reason}" for item in summary.omitted]
    return "\n".join(out).rstrip() + "\n"
