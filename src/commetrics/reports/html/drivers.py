"""The report's section "Behaviours associated with conversion": the ``drivers`` Result as published.

The behaviours that the model calls associated (Holm-adjusted) come first, with at least
:data:`SHOWN` rows; every other behaviour compared is one click away. The wording is that of the
analysis: associations, adjusted for each other and the controls, never causes. The Result's
diagnostics (a model that did not converge, control names that match nothing, no behaviour that
stands out) are printed beside the table; a blocking one leaves the table closed under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ...results import Result
from ..labels import words
from .common import DASH, MINUS, count, escape, pct, records, signed_pp, term, to_float, to_text

__all__ = ["SHOWN", "DriversSection", "render_drivers"]

#: At least this many behaviours are shown in the open table (all the associated ones if more).
SHOWN = 5

_VERDICT = {"more": "more conversion", "less": "less conversion", "": "no clear association"}


@dataclass(frozen=True)
class DriversSection:
    """The published ``drivers`` Result and the label of its conversion."""

    result: Result
    label: str


def _ratio(value: Any) -> str:
    number = to_float(value)
    return DASH if number is None else f"×{number:.2f}"


def _rows(frame: pd.DataFrame) -> str:
    out = []
    for r in records(frame, ("rank", "behaviour", "members", "rate_with", "rate_without", "suppressed",
                             "difference", "diff_low", "diff_high", "odds_ratio", "or_low", "or_high", "p_holm",
                             "associated")):
        with_, without = to_float(r["rate_with"]), to_float(r["rate_without"])
        raw = ("hidden" if bool(r["suppressed"]) or with_ is None or without is None
               else f"{pct(with_)} vs {pct(without)}")
        p = to_float(r["p_holm"])
        verdict = _VERDICT.get(to_text(r["associated"]) or "", "")
        out.append(
            f'<tr><td class="num">{count(r["rank"])}</td>'
            f'<th scope="row">{escape(words(to_text(r["behaviour"]) or DASH))}</th>'
            f'<td class="num">{count(r["members"])}</td><td class="num">{escape(raw)}</td>'
            f'<td class="num"><strong>{signed_pp(r["difference"])}</strong><span class="ci">'
            f'{signed_pp(r["diff_low"])} to {signed_pp(r["diff_high"])}</span></td>'
            f'<td class="num"><strong>{_ratio(r["odds_ratio"])}</strong><span class="ci">{_ratio(r["or_low"])} to '
            f'{_ratio(r["or_high"])}</span></td>'
            f'<td class="num">{DASH if p is None else f"{p:.2g}".replace("-", MINUS)}</td>'
            f"<td>{escape(verdict)}</td></tr>")
    return "".join(out)


def _table(frame: pd.DataFrame, caption: str) -> str:
    head = ("Rank", "Behaviour", "Members with it", "Raw rate: with vs without", "Adjusted difference, points (95%)",
            "Odds ratio (95%)", "Holm p", "Associated with")
    numeric = ' class="num"'
    cells = "".join(f'<th scope="col"{"" if i in (1, 7) else numeric}>{h}</th>' for i, h in enumerate(head))
    return (f'<div class="scroll"><table class="drivers"><caption>{caption}</caption><thead><tr>{cells}</tr></thead>'
            f"<tbody>{_rows(frame)}</tbody></table></div>")


def render_drivers(section: DriversSection) -> str:
    """The section: what was asked, the diagnostics, the ranked behaviours, and how to read them."""
    result = section.result
    frame: pd.DataFrame = result["drivers"]
    days, window = int(result["days"]), int(result["window_days"])
    controls = ", ".join(words(c) for c in result.params.get("controls") or ()) or "nothing else"
    converters = result["converters"]
    converted = (f"{count(converters)} converted ({pct(to_float(result['rate']))})" if converters is not None
                 else "converters hidden (too few to publish)")
    out = ['<section id="drivers" aria-labelledby="drivers-title">',
           '<h2 id="drivers-title">Behaviours associated with conversion</h2>',
           f'<p class="lead">{escape(section.label)}: which activities and programmes of a member\'s first '
           f"{days} days go with converting ({escape(', '.join(result['outcomes']))}) in the {window} days after "
           f"them, each {term('adjusted', 'adjusted')} for the other behaviours and for {escape(controls)}. "
           f"{count(result['eligible'])} eligible members, {escape(converted)}. These are associations, not "
           "causes: members choose what they do, and what makes them both take part and convert is not all in "
           "the data.</p>"]
    blocking = [d for d in result.diagnostics if d.severity == "blocking"]
    warnings = [d for d in result.diagnostics if d.severity != "blocking"]
    if blocking:
        items = "".join(f"<li>{escape(d.message)} <em>What to do:</em> {escape(d.advice)}</li>" for d in blocking)
        out.append(f'<div class="guards" role="note"><p><strong>No ranking:</strong> the model cannot be trusted on '
                   f"this data.</p><ul>{items}</ul></div>")
    if warnings:
        out.append('<ul class="note">' + "".join(
            f"<li>{escape(d.message)}{(' ' + escape(d.advice)) if d.advice else ''}</li>" for d in warnings) + "</ul>")
    associated = int((frame["associated"] != "").sum()) if len(frame) else 0
    shown = max(associated, SHOWN)
    caption = (f"Behaviours of the first {days} days, ranked: associated ones first ({term('Holm', 'holm')}-adjusted "
               f"p below 0.05), by the adjusted difference in the chance of converting; {term('odds ratios', 'odds')} "
               "adjusted for everything else in the model")
    if blocking:
        out.append("<details><summary>The behaviours compared</summary>" + _table(frame, caption) + "</details>")
    else:
        out.append(_table(frame.head(shown), caption))
        if len(frame) > shown:
            out.append(f"<details><summary>All {len(frame)} behaviours compared</summary>"
                       + _table(frame.iloc[shown:], "The other behaviours, in the same order") + "</details>")
    tail = []
    if result["left_out"]:
        names = ", ".join(words(b) for b in result["left_out"])
        tail.append(f"Not compared (too few members with or without): {names}.")
    if result.publication.note:
        tail.append(result.publication.note)
    out.append("".join(f'<p class="note">{escape(t)}</p>' for t in tail))
    out.append(f'<p class="note"><code>commetrics drivers {escape(result["conversion"])} --days {days}</code> prints '
               "the same table.</p>")
    out.append("</section>")
    return "\n".join(out) + "\n"
