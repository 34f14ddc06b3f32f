"""``conversion`` in the terminal: the rates per cohort and window, then time to conversion."""

from __future__ import annotations

from rich.table import Table

from ...results import Result
from ..format import HIDDEN, count, days, is_missing, money, percent, points
from . import RENDERERS
from .tables import console

__all__ = ["render_conversion"]


def render_conversion(result: Result, width: int | None = None) -> str:
    """The conversion table (one row per cohort and window) and time to conversion, as published."""
    out, buffer = console(width)
    d = result["definition"]
    out.print(f"{d['name']}: {', '.join(d['outcomes'])} within the window after {d['anchor']} ({d['unit']}s); "
              f"data as of {result['as_of']:%Y-%m-%d %H:%M} UTC")
    rates = result["rates"]
    revenue = "revenue" in rates.columns
    currency = next((str(c) for c in rates["currency"].dropna()), None) if revenue else None
    table = Table(title="Conversion rate", title_justify="left")
    for name in ("cohort", "window", "eligible", "in progress", "converters", "rate", "95% CI", "vs reference",
                 *(("revenue", "per eligible") if revenue else ())):
        table.add_column(name, justify="left" if name in ("cohort", "95% CI", "vs reference") else "right")
    for r in rates.itertuples(index=False):
        money_cells = ((HIDDEN, HIDDEN) if getattr(r, "converters_suppressed", False) else
                       (money(r.revenue, currency, missing=""), _per_member(r.revenue_per_eligible, currency))
                       ) if revenue else ()
        if getattr(r, "suppressed", False):
            table.add_row(str(r.cohort), f"{r.window_days} d", HIDDEN, "", "", "", "", "", *("",) * len(money_cells))
            continue
        if getattr(r, "converters_suppressed", False):
            table.add_row(str(r.cohort), f"{r.window_days} d", count(r.eligible), count(r.in_progress), HIDDEN, HIDDEN,
                          "", "", *money_cells)
            continue
        rate = "in progress" if r.eligible == 0 else percent(r.rate) + (" (n<30)" if r.small else "")
        ci = "" if r.eligible == 0 else f"{percent(r.ci_low)}–{percent(r.ci_high)}"
        diff = "" if is_missing(r.diff) else f"{points(r.diff)} pts ({points(r.diff_low)} to {points(r.diff_high)})"
        table.add_row(str(r.cohort), f"{r.window_days} d", count(r.eligible), count(r.in_progress),
                      count(r.converters), rate, ci, diff, *money_cells)
    out.print(table)
    existing = rates.groupby("cohort")["existing_customers"].max() if len(rates) else rates["existing_customers"]
    shown = "hidden in some cohorts" if existing.isna().any() else count(existing.fillna(0).sum())
    notes = [f"Existing customers (converted before the anchor) excluded: {shown}."]
    reference = rates["reference"].dropna().unique() if "reference" in rates else []
    if len(reference):
        notes.append(f"Differences are against {reference[0]!r} (Newcombe 95% interval).")
    notes.append("In-progress anchors have not had the whole window yet: they are not counted as non-converters.")
    if revenue:
        notes.append("Revenue: the value of the eligible members' conversion outcomes within the window (every one, "
                     "not only the first); per eligible member, converters or not.")
    for note in notes:
        out.print(note, soft_wrap=True)
    timing = result["time_to_conversion"]
    times = Table(title="Time to conversion (days)", title_justify="left")
    share = f"{100 * float(timing['km_quantile'].dropna().iloc[0]):.0f}%" if timing["km_quantile"].notna().any() \
        else "10%"
    longest = f"within {max(d['windows'])} d"
    for name in ("cohort", "converters", f"median, converters {longest}", "median, all converters",
                 "Kaplan–Meier median", f"KM time to {share}"):
        times.add_column(name, justify="left" if name == "cohort" else "right")
    for t in timing.itertuples(index=False):
        if getattr(t, "suppressed", False):
            times.add_row(str(t.cohort), HIDDEN, "", "", "", "")
            continue
        every = getattr(t, "median_days_all_converters", None)
        times.add_row(str(t.cohort), count(t.converters), days(t.median_days_converters),
                      HIDDEN if getattr(t, "all_converters", 0) is None else days(every), days(t.km_median_days),
                      days(t.km_quantile_days))
    out.print(times)
    return buffer.getvalue()


def _per_member(value: object, currency: str | None) -> str:
    """Revenue per member with cents (a few dollars a member is common)."""
    if is_missing(value):
        return ""
    amount = f"{float(value):,.2f}"  # type: ignore[arg-type]
    return f"{currency} {amount}" if currency else amount


RENDERERS.register("conversion", render_conversion)
