"""Publishing inside the Engine: one policy for every output, so no two outputs can be subtracted.

The three leaks found with public data, each a test that fails on the code before publishing moved into
the Engine:

1. ``conversion`` with and without ``--by join_month`` recovered a hidden 4-member cohort by subtraction
   (the all-members row is the total of every breakdown);
2. the report hid the partner cell, the command line did not;
3. ``conversion --by entry_path`` printed converter counts of 6, 4 and 3 — groups of fewer than k people
   that ``attribution`` hides.

And one Result through both renderers (terminal and HTML) publishes the same cells.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.reports.build import build_report
from commetrics.reports.html import ConversionGroup, ConversionSection, ReportData, render_html
from commetrics.reports.text import render

from .conftest import NOW, write_csv

K = 10
AS_OF = "2026-07-01"


def _workspace(tmp_path: Path, cohorts: dict[str, tuple[str, str, int, int]]) -> Path:
    """Members per cohort ``name: (join month day, entry path, members, converters)``, trials a week after joining."""
    members, outcomes = [], []
    for name, (joined, path, n, converting) in cohorts.items():
        for i in range(n):
            member = f"{name}-{i}"
            members.append([member, joined, path, "true"])
            if i < converting:
                outcomes.append([f"o-{member}", member, pd.Timestamp(joined) + pd.Timedelta(days=5), "trial_start"])
    workspace = tmp_path / "ws"
    with Engine.init(workspace) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "entry_path", "consent"],
                                         members), now=NOW)
        engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"],
                                          [[a, b, c.isoformat(), d] for a, b, c, d in outcomes]), now=NOW)
    return workspace


def _json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.output)
    return payload


def _rates(payload: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(payload["rates"])


#: January: 40 members; February: 4 (the small cohort); March: 30; April: 35.
MONTHS = {"jan": ("2026-01-10", "seo", 40, 12), "feb": ("2026-02-10", "seo", 4, 2), "mar": ("2026-03-10", "webinar",
                                                                                              30, 9),
          "apr": ("2026-04-10", "referral", 35, 6)}


def test_no_subtraction_of_two_conversion_outputs_recovers_a_hidden_cohort(tmp_path: Path) -> None:
    workspace = str(_workspace(tmp_path, MONTHS))
    base = ["conversion", "--outcome", "trial_start", "--window", "30", "--as-of", AS_OF, "-w", workspace]
    total = _rates(_json(*base)).set_index("window_days")
    by_month = _rates(_json(*base, "--by", "join_month"))
    for window, cells in by_month.groupby("window_days"):
        hidden = cells[cells["suppressed"]]
        if hidden.empty:
            continue
        # The total minus the visible cohorts is the sum of the hidden ones: it must cover two or more cohorts,
        # and never a single small one.
        assert len(hidden) >= 2, f"window {window}: one hidden cohort is the total minus the others"
        recovered = total.loc[window, "eligible"] - cells.loc[~cells["suppressed"], "eligible"].sum()
        assert recovered >= K
    assert by_month.loc[by_month["cohort"] == "2026-02", "suppressed"].all()  # the 4-member cohort is hidden


def test_the_command_line_and_the_report_hide_the_same_cells(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, MONTHS)
    cli = _rates(_json("conversion", "--outcome", "trial_start", "--window", "30", "--by", "join_month", "--as-of",
                       AS_OF, "-w", str(workspace)))
    with Engine(workspace, read_only=True) as engine:
        engine.config = engine.config.model_copy(update={"conversions": {}})
        result = engine.conversion(outcome="trial_start", windows=[30], by=["join_month"],
                                   as_of=pd.Timestamp(AS_OF, tz="UTC").to_pydatetime(), curves=True)
    report = result["rates"]
    assert sorted(cli.loc[cli["suppressed"], "cohort"]) == sorted(report.loc[report["suppressed"], "cohort"])
    assert len(cli.loc[cli["suppressed"]]) >= 2  # the small cohort and its partner, in both


def test_no_published_count_of_people_is_below_k_numerators_included(tmp_path: Path) -> None:
    # Three entry paths with 6, 4 and 3 converters among 40+ members each: large cohorts, small numerators.
    cohorts = {"seo": ("2026-01-10", "seo", 60, 30), "webinar": ("2026-01-10", "webinar", 45, 6),
               "referral": ("2026-01-10", "referral", 42, 4), "event": ("2026-01-10", "event", 41, 3)}
    workspace = str(_workspace(tmp_path, cohorts))
    payload = _json("conversion", "--outcome", "trial_start", "--window", "30", "--by", "entry_path", "--as-of",
                    AS_OF, "-w", workspace)
    rates = _rates(payload)
    for column in ("eligible", "converters", "in_progress", "existing_customers"):
        values = rates[column].dropna()
        assert not ((values > 0) & (values < K)).any(), f"{column}: {sorted(values)}"
    small = rates[rates["cohort"].isin(["webinar", "referral", "event"])]
    assert small["converters_suppressed"].all()
    assert small[["converters", "rate", "ci_low", "ci_high"]].isna().all().all()
    assert (small["eligible"] >= 40).all()  # the cohorts themselves are large: only the numerators are hidden
    # A total is published too (the all-members row), so the partner of the smallest is hidden with it:
    # no single small numerator is the total minus the others.
    total = _rates(_json("conversion", "--outcome", "trial_start", "--window", "30", "--as-of", AS_OF, "-w",
                         workspace))["converters"].iloc[0]
    visible = rates.loc[~rates["converters_suppressed"], "converters"].sum()
    assert total - visible >= K
    text = CliRunner().invoke(app, ["conversion", "--outcome", "trial_start", "--window", "30", "--by", "entry_path",
                                    "--as-of", AS_OF, "-w", workspace]).output
    assert not re.search(r"\b(event|referral|webinar)\b[^\n]*\b[1-9]\b\s", text.split("Time to conversion")[0])


def test_the_library_keeps_exact_figures_for_the_analyst(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, MONTHS)
    with Engine(workspace, read_only=True) as engine:
        published = engine.conversion(outcome="trial_start", windows=[30], by=["join_month"])
        exact = engine.conversion(outcome="trial_start", windows=[30], by=["join_month"], exact=True)
    assert published.publication.suppression_applied
    assert not published.publication.exact
    assert exact.publication.exact
    assert not exact.publication.suppression_applied
    rows = exact["rates"].set_index("cohort")
    assert rows.loc["2026-02", "eligible"] == 4
    assert rows.loc["2026-02", "converters"] == 2
    assert published.exact["rates"].equals(exact["rates"])  # the exact figures travel inside every Result


def test_one_result_through_both_renderers_publishes_the_same_cells(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, MONTHS)
    with Engine(workspace, read_only=True) as engine:
        result = engine.conversion(outcome="trial_start", windows=[30], by=["join_month"], curves=True)
    text = render(result)
    page = render_html(ReportData(
        title="t", workspace="w", as_of=result["as_of"], generated_at=result["as_of"], timezone="UTC",
        definitions=[], conversions=[ConversionGroup(name="trial_start", label="trial start", description="",
                                                     definition={}, parts=[ConversionSection(
                                                         name="trial_start", description="", by="join_month",
                                                         table=result["rates"], curves=result["curves"],
                                                         timing=result["time_to_conversion"])])]))
    page = page[page.index('<table class="rates">'):]  # the table of every figure, counts included
    page = page[:page.index("</table>")]
    rates = result["rates"]
    for row in rates.itertuples():
        text_row = next(line for line in text.splitlines() if line.startswith(f"│ {row.cohort} "))
        if row.suppressed:
            assert "hidden" in text_row
            assert re.search(rf"{row.cohort}</th>.*?hidden", page, re.S)
        else:
            assert f"{int(row.eligible):,}" in text_row
            html_row = re.search(rf">{row.cohort}</th>(.*?)</tr>", page, re.S)
            assert html_row is not None
            assert f" / {int(row.eligible):,}<" in html_row.group(1)  # converters / eligible
    # Nothing hidden in one renderer is visible in the other: the hidden cohorts' sizes appear in neither.
    hidden_sizes = {4}
    for size in hidden_sizes:
        assert not re.search(rf"2026-02[^\n]*\b{size}\b", text)


def test_the_report_builds_from_the_same_published_results(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, MONTHS)
    with Engine(workspace, read_only=True) as engine:
        engine.config = engine.config.model_copy(update={"conversions": {}})
        report = build_report(engine, conversions=[], by=["join_month"])
    assert report.conversions == []  # no definitions: nothing to draw, and nothing computed beside the Results
