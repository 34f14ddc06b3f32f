"""The summary cards at the top of the report (and the page of ``commetrics summary --out summary.html``)."""

from __future__ import annotations

from ..summary import Summary
from .common import escape

__all__ = ["render_summary"]


def render_summary(summary: Summary, *, links: bool = True) -> str:
    """One card per headline — title, figure, interval, sentence, a link to the section that shows the same
    figure — and one line per card the data cannot fill. ``links=False`` for the summary on its own page."""
    cards = []
    for card in summary.cards:
        more = (f' <a href="#{escape(card.section)}" aria-label="Details: {escape(card.title)}">Details</a>'
                if links else "")
        cards.append(f'<article class="card" id="card-{escape(card.key)}" aria-labelledby="card-{escape(card.key)}-t">'
                     f'<h3 id="card-{escape(card.key)}-t">{escape(card.title)}</h3>'
                     f'<p class="figure">{escape(card.value)}</p>'
                     f'<p class="detail">{escape(card.detail)}</p>'
                     f"<p>{escape(card.sentence)}{more}</p></article>")
    out = ['<section id="summary" aria-labelledby="summary-title">',
           '<h2 id="summary-title">What the community is worth</h2>',
           *([f'<p class="freshness" role="status">{escape(summary.freshness)}</p>'] if summary.freshness else []),
           '<div class="cards">' + "".join(cards) + "</div>"]
    if summary.omitted:
        out.append('<ul class="omitted">' + "".join(
            f"<li><strong>{escape(o.title)}</strong>: {escape(o.reason)}</li>" for o in summary.omitted) + "</ul>")
    out.append("</section>")
    return "\n".join(out) + "\n"
