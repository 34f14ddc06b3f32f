"""Plain-terminal renderings (Rich tables) of engine results."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..ingest import REASON_HELP, LoadReport, Reason


def _console(width: int | None) -> tuple[Console, io.StringIO]:
    """A console writing to a buffer, as wide as the terminal (at least 120 columns)."""
    buffer = io.StringIO()
    width = width or max(shutil.get_terminal_size((140, 24)).columns, 120)
    return Console(file=buffer, width=width, color_system=None, highlight=False, markup=False), buffer


def _number(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) else str(value)


def frame_table(frame: pd.DataFrame, title: str | None = None, columns: Sequence[str] | None = None) -> Table:
    """A Rich table of a DataFrame (numbers right-aligned with thousands separators)."""
    columns = list(columns or frame.columns)
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) if column in frame else False
        table.add_column(column, justify="right" if numeric else "left")
    for row in frame[columns].itertuples(index=False):
        table.add_row(*(_number(v.item() if hasattr(v, "item") else v) for v in row))
    return table


def render_loads(reports: Iterable[LoadReport], width: int | None = None) -> str:
    """The four counts of each load, the reasons of quarantined rows and any schema drift."""
    console, buffer = _console(width)
    table = Table(title="Loads", title_justify="left")
    for name in ("load", "table", "file", "read", "loaded", "quarantined", "duplicates"):
        table.add_column(name, justify="right" if name not in ("table", "file") else "left")
    notes: list[str] = []
    for r in reports:
        table.add_row(str(r.load_id), r.table, r.file, _number(r.rows_read), _number(r.rows_loaded),
                      _number(r.rows_quarantined), _number(r.rows_duplicate))
        for reason, count in r.reasons.items():
            notes.append(f"  load {r.load_id}: {count:,} × {reason} — {REASON_HELP[Reason(reason)]}")
        if r.attribute_columns:
            notes.append(f"  load {r.load_id}: extra columns kept in attributes: {', '.join(r.attribute_columns)}")
        elif r.drift_columns:
            notes.append(f"  load {r.load_id}: columns outside the schema, not loaded: {', '.join(r.drift_columns)}")
    console.print(table)
    if notes:
        console.print("Quarantine and drift (see `commetrics quarantine`):")
        for note in notes:
            console.print(note, soft_wrap=True)
    return buffer.getvalue()


def render_frames(frames: Iterable[tuple[str, pd.DataFrame]], width: int | None = None) -> str:
    """Several titled tables, one after the other (empty ones say so)."""
    console, buffer = _console(width)
    for title, frame in frames:
        if frame.empty:
            console.print(f"{title}: none")
        else:
            console.print(frame_table(frame, title))
    return buffer.getvalue()


def render_rows(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], width: int | None = None) -> str:
    """A titled table from plain rows."""
    console, buffer = _console(width)
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(_number(v) for v in row))
    console.print(table)
    return buffer.getvalue()


def _percent(value: float) -> str:
    return "" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def _days(value: float) -> str:
    if value is None or pd.isna(value):
        return "—"
    return "not reached" if value == float("inf") else f"{value:.1f}"


def render_conversion(spec: Any, as_of: Any, rates: pd.DataFrame, timing: pd.DataFrame,
                      width: int | None = None) -> str:
    """The conversion table (one row per cohort and window) and time to conversion."""
    console, buffer = _console(width)
    outcomes = ", ".join(spec.outcomes)
    console.print(f"{spec.name}: {outcomes} within the window after {spec.anchor} ({spec.unit}s); "
                  f"data as of {as_of:%Y-%m-%d %H:%M} UTC")
    table = Table(title="Conversion rate", title_justify="left")
    for name in ("cohort", "window", "eligible", "in progress", "converters", "rate", "95% CI", "vs reference"):
        table.add_column(name, justify="left" if name in ("cohort", "95% CI", "vs reference") else "right")
    for r in rates.itertuples(index=False):
        if getattr(r, "suppressed", False):
            table.add_row(str(r.cohort), f"{r.window_days} d", "suppressed", "", "", "", "", "")
            continue
        rate = "in progress" if r.eligible == 0 else _percent(r.rate) + (" (n<30)" if r.small else "")
        ci = "" if r.eligible == 0 else f"{_percent(r.ci_low)}–{_percent(r.ci_high)}"
        diff = "" if pd.isna(r.diff) else (f"{100 * r.diff:+.1f} pts ({100 * r.diff_low:+.1f} to "
                                           f"{100 * r.diff_high:+.1f})")
        table.add_row(str(r.cohort), f"{r.window_days} d", _number(r.eligible), _number(r.in_progress),
                      _number(r.converters), rate, ci, diff)
    console.print(table)
    existing = int(rates.groupby("cohort")["existing_customers"].max().fillna(0).sum()) if len(rates) else 0
    reference = rates["reference"].dropna().unique()
    notes = [f"Existing customers (converted before the anchor) excluded: {existing:,}."]
    if len(reference):
        notes.append(f"Differences are against {reference[0]!r} (Newcombe 95% interval).")
    notes.append("In-progress anchors have not had the whole window yet: they are not counted as non-converters.")
    for note in notes:
        console.print(note, soft_wrap=True)
    times = Table(title="Time to conversion (days)", title_justify="left")
    share = f"{100 * float(timing['km_quantile'].iloc[0]):.0f}%" if len(timing) else "10%"
    for name in ("cohort", "converters", "median among converters", "Kaplan–Meier median", f"KM time to {share}"):
        times.add_column(name, justify="left" if name == "cohort" else "right")
    for t in timing.itertuples(index=False):
        if getattr(t, "suppressed", False):
            times.add_row(str(t.cohort), "suppressed", "", "", "")
            continue
        times.add_row(str(t.cohort), _number(t.converters), _days(t.median_days_converters), _days(t.km_median_days),
                      _days(t.km_quantile_days))
    console.print(times)
    return buffer.getvalue()


def _link_evidence(link: dict[str, Any]) -> str:
    detail = link.get("detail") or {}
    if link["rule"] != "probabilistic":
        return str(detail.get("evidence") or detail.get("decision") or "")
    weights = {name: level for name, level in detail.items() if isinstance(level, dict) and "match_weight" in level}
    levels = [f"{name}: {level['level']} ({level['match_weight']:+.1f})" for name, level in weights.items()]
    if link.get("match_weight") is not None:  # what is left of the total is the prior: two records at random
        prior = float(link["match_weight"]) - sum(float(level["match_weight"]) for level in weights.values())
        levels.append(f"prior ({prior:+.1f}) = {float(link['match_weight']):+.1f}")
    return "; ".join(levels)


def render_identity(explained: dict[str, Any], width: int | None = None) -> str:
    """``commetrics identity explain``: each person's records, then every link with its rule, or its
    match probability and the match weight (bits) of each comparison."""
    console, buffer = _console(width)
    if not explained.get("people"):
        ids = ", ".join(r["record_id"] for r in explained.get("records", []))
        console.print(f"{explained['identifier']}: records {ids}, not resolved into a person yet.")
    for person in explained.get("people", []):
        account = (f"account {person['account_id']} (from the {person['account_rule']})"
                   if person["account_id"] else "no account")
        records = Table("record", "source", "e-mail", "name", "handle", "joined by",
                        title=f"{person['person_id']}: {len(person['records'])} record(s), {account}",
                        title_justify="left")
        for r in person["records"]:
            records.add_row(*(_number(r.get(k)) if r.get(k) is not None else "" for k in
                              ("record_id", "source", "email", "name", "handle", "rule")))
        console.print(records)
        if person["links"]:
            links = Table("records", "rule", "probability", "evidence (match weight in bits)", title="Links",
                          title_justify="left")
            for link in person["links"]:
                p = link.get("match_probability")
                links.add_row(f"{link['record_a']} – {link['record_b']}", link["rule"],
                              "" if p is None else f"{p:.3f}", _link_evidence(link))
            console.print(links)
        for override in person["overrides"]:
            console.print(f"Override: {override['record_a']} and {override['record_b']}: {override['decision']} "
                          f"(decided {override['decided_at']}).")
    if explained.get("note"):
        console.print(explained["note"], soft_wrap=True)
    return buffer.getvalue()


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def render_adjusted(result: dict[str, Any], *, groups: str, covariates: Sequence[str]) -> str:
    """The raw and adjusted differences of an impact comparison, with its guards, population and sensitivity.

    ``result`` is what :meth:`commetrics.Engine.impact` returns for ``renewal`` or ``exposure``; ``groups``
    names the comparison ("engaged minus not engaged"). When a guard tripped, the adjusted figure is not
    printed as an answer: the checks that failed and what to do come instead.
    """
    lines: list[str] = []
    raw, adjusted = result.get("raw"), result.get("adjusted")
    if raw is None or adjusted is None:
        return "  raw and adjusted differences withheld (see below)\n"
    estimand = "for the treated (ATT)" if result["estimand"] == "att" else "for everyone alike (ATE)"
    lines.append(f"  raw difference    {_points(raw['difference'])} points ({_points(raw['ci_low'])} to "
                 f"{_points(raw['ci_high'])}), {groups}")
    if result["headline"]:
        lines.append(f"  adjusted          {_points(adjusted['estimate'])} points ({_points(adjusted['ci_low'])} to "
                     f"{_points(adjusted['ci_high'])}) — an adjusted association {estimand}, controlling for "
                     f"{', '.join(covariates) or 'nothing'} (doubly robust, cross-fitted)")
        for key, label in (("ipw", "weighted (IPW)"), ("matched", "matched pairs")):
            e = result.get(key)
            if e is not None:
                lines.append(f"  {label:<17} {_points(e['estimate'])} points ({_points(e['ci_low'])} to "
                             f"{_points(e['ci_high'])})")
    else:
        lines.append("  adjusted          no headline: the adjusted comparison cannot be trusted on this data.")
        for guard in result["guards"]:
            lines.append(f"    - {guard['message']}")
            lines.append(f"      What to do: {guard['advice']}")
        lines.append("    (`--json` keeps the untrusted figures for analysts, marked headline: false.)")
    lines.append(f"  Who the answer describes: {result['population']}.")
    for note in result.get("notes") or []:
        lines.append(f"  Note: {note}")
    if result["headline"]:
        if result.get("sensitivity"):
            lines.append(f"  Robustness: {result['sensitivity']}")
        if result.get("e_value"):
            lines.append(f"  E-value: {result['e_value']}")
    for check in result.get("refutations") or []:
        lines.append(f"  Refutation ({check['name'].replace('_', ' ')}): {'passed' if check['passed'] else 'FAILED'}"
                     f" — {check['sentence']}")
    return "\n".join(lines) + "\n"


def render_guards(result: dict[str, Any], what: str) -> str:
    """Why ``what`` (the figure a command leads with) is not an answer, when a guard tripped; "" otherwise."""
    guards = result.get("guards") or []
    if result.get("headline", True) or not guards:
        return ""
    lines = [f"No headline: {what} cannot be trusted on this data."]
    for guard in guards:
        lines.append(f"  - {guard['message']}")
        lines.append(f"    What to do: {guard['advice']}")
    return "\n".join(lines) + "\n"
