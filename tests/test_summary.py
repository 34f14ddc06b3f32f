"""The summary: its wording follows the statistics, and its numbers are those of the report's sections and of
``commetrics summary --json``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.config import Config
from commetrics.reports.build import build_report
from commetrics.reports.format import money, percent, points
from commetrics.reports.html import render_html
from commetrics.reports.summary import BASELINE, Card, SummaryResults, direction, summarize
from commetrics.results import Diagnostic, Publication, Result

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


def _result(analysis: str, figures: dict[str, Any], params: dict[str, Any] | None = None,
            diagnostics: tuple[Diagnostic, ...] = ()) -> Result:
    return Result(analysis, params or {}, figures, figures, Publication(10), diagnostics)


def _conversion(diff: float, low: float, high: float) -> Result:
    rates = pd.DataFrame([
        {"cohort": "all", "window_days": 30, "eligible": 900, "converters": 90, "rate": 0.10, "ci_low": 0.08,
         "ci_high": 0.12, "diff": diff, "diff_low": low, "diff_high": high},
        {"cohort": "all", "window_days": 90, "eligible": 800, "converters": 96, "rate": 0.12, "ci_low": 0.10,
         "ci_high": 0.14, "diff": diff, "diff_low": low, "diff_high": high},
        {"cohort": BASELINE, "window_days": 30, "eligible": 700, "converters": 49, "rate": 0.07, "ci_low": 0.05,
         "ci_high": 0.09, "diff": None, "diff_low": None, "diff_high": None},
        {"cohort": BASELINE, "window_days": 90, "eligible": 600, "converters": 48, "rate": 0.08, "ci_low": 0.06,
         "ci_high": 0.10, "diff": None, "diff_low": None, "diff_high": None},
    ])
    return _result("conversion", {"rates": rates, "definition": {"outcomes": ["trial_start"]}})


def _adjusted(estimate: float, low: float, high: float, *, headline: bool = True) -> dict[str, Any]:
    return {"raw": {"difference": 0.18, "ci_low": 0.13, "ci_high": 0.23},
            "adjusted": {"estimate": estimate, "ci_low": low, "ci_high": high}, "headline": headline,
            "guards": [] if headline else [{"message": "Balance after weighting is poor (SMD 0.31)."}],
            "covariates": ["log:arr", "segment"]}


def _attribution() -> Result:
    models = pd.DataFrame([{"model": m, "class": c, "value": v, "suppressed": False}
                           for m, split in {"markov": {"webinars": 600.0, "ama": 400.0},
                                            "first": {"webinars": 800.0, "ama": 200.0}}.items()
                           for c, v in split.items()])
    totals = {"markov": {"value": 1000.0}, "first": {"value": 1000.0}}
    return _result("attribution", {"models": models, "totals": totals, "value_without_touch": 3000.0},
                   {"lookback_days": 90, "by": "program", "outcomes": ["purchase"]})


def _community(accepted: float = 250.0) -> Result:
    return _result("community", {"metrics": pd.DataFrame([
        {"metric": "accepted_answer_rate", "value": 0.5, "numerator": accepted, "denominator": 500.0,
         "suppressed": False}])})


def _drivers(*verdicts: str, diagnostics: tuple[Diagnostic, ...] = ()) -> Result:
    """A drivers Result whose behaviours have these verdicts ("more", "less", ""), ranked as the analysis ranks."""
    rows = [{"rank": i + 1, "behaviour": f"behaviour_{i + 1}", "associated": v, "difference": d, "diff_low": d - 0.02,
             "diff_high": d + 0.02, "odds_ratio": 2.0 if v != "less" else 0.5, "or_low": 1.5, "or_high": 2.5}
            for i, (v, d) in enumerate(zip(verdicts, [0.108, 0.092, -0.05, 0.01], strict=False))]
    return _result("drivers", {"drivers": pd.DataFrame(rows), "conversion": "trial_after_join", "days": 30,
                               "window_days": 90, "eligible": 5000, "converters": 400, "rate": 0.08},
                   {"controls": ("entry_path", "segment")}, diagnostics)


def _summary(conversion: Result | None = None, renewal: dict[str, Any] | None = None,
             nps: dict[str, Any] | None = None, drivers: Result | None = None) -> dict[str, Card]:
    inputs = SummaryResults(conversion=conversion or _conversion(0.04, 0.01, 0.07), conversion_title="Trial",
                            attribution=_attribution(), currency="USD",
                            renewal=_result("impact.renewal", renewal or _adjusted(0.05, 0.01, 0.09)),
                            nps=_result("impact.nps", {"comparison": nps or _adjusted(0.3, 0.2, 0.4)}),
                            community=_community(), drivers=drivers or _drivers("more", "more", "", ""))
    summary = summarize(inputs, Config(), workspace="w", as_of=AS_OF)
    return {card.key: card for card in summary.cards}


#: Words that claim cause; the summary may only deny it ("not cause", "not proof of cause").
CAUSAL = re.compile(r"\b(caus(e|ed|es|ing)|drives?|thanks to|because of|led to|impact of|effect of)\b", re.I)


def _claims_cause(sentence: str) -> bool:
    cleaned = sentence.replace("not proof of cause", "").replace("not cause", "")
    return bool(CAUSAL.search(cleaned))


def test_direction_follows_the_interval() -> None:
    assert direction(0.01, 0.07) == "higher"
    assert direction(-0.07, -0.01) == "lower"
    assert direction(-0.01, 0.07) == "unclear"
    assert direction(0.0, 0.07) == "unclear"  # touching zero is not clear
    assert direction(None, 0.07) == "unclear"


@pytest.mark.parametrize(("low", "high", "said", "unsaid"), [
    (0.01, 0.07, "associated with a rate 4.0 points higher", "no clear difference"),
    (-0.01, 0.07, "no clear difference between members and non-members", "associated with"),
    (-0.07, -0.01, "associated with a rate 4.0 points lower", "no clear difference"),
])
def test_conversion_wording(low: float, high: float, said: str, unsaid: str) -> None:
    diff = 0.04 if low > 0 or high > 0.05 else -0.04
    card = _summary(_conversion(diff, low, high))["conversion"]
    assert said in card.sentence
    assert unsaid not in card.sentence
    assert "An association" in card.sentence
    assert card.detail == f"95% interval {points(low)} to {points(high)} points"
    assert card.figures["window_days"] == 90  # the longest window with a comparison
    assert not _claims_cause(card.sentence)


def test_attribution_is_credit_allocation_not_cause() -> None:
    cards = _summary()
    card = cards["attribution"]
    assert card.sentence.startswith("Credit allocation, not cause:")
    assert card.value == "USD 1,000"
    assert "75.0% of revenue (USD 3,000) had no community touch" in card.sentence  # the unattributed share
    assert card.detail == "the same total under all 2 models"
    programs = cards["programs"]
    assert programs.value == "webinars"
    assert "credit allocation, not cause" in programs.sentence
    assert programs.detail == "USD 600; 600–800 across models"  # the configured model, then the range
    assert not _claims_cause(card.sentence + programs.sentence)


@pytest.mark.parametrize(("estimate", "low", "high", "said"), [
    (0.05, 0.01, 0.09, "engaged accounts renewed 5.0 points more often than comparable accounts"),
    (-0.05, -0.09, -0.01, "engaged accounts renewed 5.0 points less often than comparable accounts"),
    (0.02, -0.01, 0.05, "there is no clear difference in renewal"),
])
def test_renewal_is_adjusted_for_selection_bias_with_raw_beside(estimate: float, low: float, high: float,
                                                                said: str) -> None:
    card = _summary(renewal=_adjusted(estimate, low, high))["renewal"]
    assert said in card.sentence
    assert "to adjust for selection bias" in card.sentence
    assert "raw difference +18.0" in card.sentence
    assert card.detail.endswith("; raw +18.0")
    assert "An adjusted association, not proof of cause." in card.sentence
    assert "annual recurring revenue, segment" in card.sentence  # covariates in words
    assert not _claims_cause(card.sentence)


def test_a_tripped_guard_leaves_the_raw_difference_said_to_be_raw() -> None:
    card = _summary(renewal=_adjusted(0.05, 0.01, 0.09, headline=False))["renewal"]
    assert card.value == "+18.0 points (raw)"
    assert card.sentence.startswith("Raw difference only — no adjusted figure: Balance after weighting is poor")
    assert card.figures["adjusted"] is None
    assert "+5.0" not in card.sentence + card.detail + card.value


def test_nps_gap_and_support_deflection() -> None:
    cards = _summary(nps=_adjusted(0.3, 0.2, 0.4))
    nps = cards["nps"]
    assert nps.value == "+30.0 NPS points"
    assert "engaged members' NPS is 30.0 points above comparable members'" in nps.sentence
    deflection = cards["deflection"]
    assert deflection.value == "USD 5,000"  # 250 accepted answers × USD 20 (summary.cost_per_ticket)
    assert "an estimate, not a measurement" in deflection.sentence
    assert list(cards) == ["conversion", "attribution", "renewal", "nps", "deflection", "programs", "drivers"]


def test_drivers_card_names_the_behaviour_most_associated_never_a_cause() -> None:
    card = _summary()["drivers"]
    assert card.title == "Behaviours associated with conversion"
    assert card.value == "behaviour 1"
    assert card.detail == "+10.8 points; 95% interval +8.8 to +12.8 points"
    assert card.sentence.startswith("Trial after joining: members who had behaviour 1 in their first 30 days converted "
                                     "10.8 points more often in the next 90 days than comparable members without it, "
                                     "adjusted for the other behaviours and entry path, segment; also associated: "
                                     "behaviour 2 (+9.2).")
    assert card.sentence.endswith("An association, not proof of cause: members choose what they do.")
    assert not _claims_cause(card.sentence)
    assert [b["behaviour"] for b in card.figures["behaviours"]] == ["behaviour_1", "behaviour_2"]
    assert card.section == "drivers"


def test_drivers_card_says_less_and_none_and_withholds_a_model_that_did_not_converge() -> None:
    less = _summary(drivers=_drivers("less", "", ""))["drivers"]
    assert "10.8 points less often" in less.sentence
    none = _summary(drivers=_drivers("", "", ""))["drivers"]
    assert none.value == "None stands out"
    assert "no behaviour of a member's first 30 days is clearly associated" in none.sentence
    assert none.figures["behaviours"] == []
    assert not _claims_cause(less.sentence + none.sentence)
    stuck = Diagnostic("convergence", "The drivers model did not converge.", "Use fewer controls.", about="drivers")
    inputs = SummaryResults(drivers=_drivers("more", diagnostics=(stuck,)))
    omitted = {o.key: o.reason for o in summarize(inputs, Config(), workspace="w", as_of=AS_OF).omitted}
    assert omitted["drivers"] == "The drivers model did not converge. Use fewer controls."


def test_what_cannot_be_filled_is_one_line_with_its_reason() -> None:
    inputs = SummaryResults(reasons={"renewal": "The renewal comparison needs at least 40 decided renewals."})
    summary = summarize(inputs, Config(), workspace="w", as_of=AS_OF)
    assert summary.cards == ()
    reasons = {o.key: o.reason for o in summary.omitted}
    assert reasons["renewal"] == "The renewal comparison needs at least 40 decided renewals."
    assert set(reasons) == {"conversion", "attribution", "renewal", "nps", "deflection", "programs", "drivers"}
    assert all(reason and "\n" not in reason for reason in reasons.values())


# ------------------------------------------------------------------------------------------------
# One set of numbers: summary = its sections = commetrics summary --json
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("summary") / "ws"
    engine, _ = Engine.demo(folder, members=3_000, seed=7)
    engine.close()
    # The demo plants its drivers on leads: the summary and the report show the drivers of leads.
    with (folder / "commetrics.toml").open("a", encoding="utf-8") as config:
        config.write('\n[conversions.lead_after_join]\noutcome = "lead"\nwindows = [90]\n\n'
                     '[drivers]\nconversion = "lead_after_join"\n')
    return folder


@pytest.mark.slow  # a 3,000-member demo workspace, its whole report and the CLI: about a minute
def test_every_summary_number_is_its_sections_and_the_cli_json(workspace: Path) -> None:
    with Engine(workspace, read_only=True) as engine:
        report = build_report(engine)
        config = engine.config
    assert report.summary is not None
    page = render_html(report)
    cli = CliRunner().invoke(app, ["summary", "--json", "--workspace", str(workspace)])
    assert cli.exit_code == 0, cli.output
    printed = json.loads(cli.output)
    cards = {c.key: c for c in report.summary.cards}
    assert set(cards) == {"conversion", "attribution", "renewal", "nps", "deflection", "programs", "drivers"}
    assert printed["cards"] == report.summary.to_dict()["cards"]  # the CLI computes exactly the same

    def section(ident: str) -> str:
        start = page.index(f'id="{ident}"')
        return re.sub(r"<[^>]+>", "", page[start:page.index("</section>", start)])

    conversion = cards["conversion"].figures
    text = section(f"conversion-{config.summary.conversion}")
    assert f"within {conversion['window_days']} days: members {percent(conversion['members_rate'])}" in text
    assert f"non-members {percent(conversion['non_members_rate'])}" in text
    assert f"a difference of {points(conversion['difference'])} points" in text
    assert cards["conversion"].value == f"{points(conversion['difference'])} points"

    attribution = cards["attribution"].figures
    text = section("attribution-1")
    assert f"Totalcredited{money(attribution['credited'])}" in text.replace(" ", "")
    assert f"worth {money(attribution['unattributed'], attribution['currency'])} had no community touch" in text
    top = cards["programs"].figures["programs"][0]
    assert re.search(rf"{re.escape(top['program'].replace('_', ' '))}\s*.*{re.escape(money(top['value']))}", text)

    text = section("impact")
    for key in ("renewal", "nps"):
        figures = cards[key].figures
        assert f"{points(figures['raw'])} points ({points(figures['raw_ci_low'])} to " \
               f"{points(figures['raw_ci_high'])})" in text
        if figures["headline"]:  # else a guard withheld the adjusted figure, in the section as in the card
            assert f"{points(figures['adjusted'])} points ({points(figures['ci_low'])} to " \
                   f"{points(figures['ci_high'])})" in text
        else:
            assert "No adjusted headline" in text

    deflection = cards["deflection"].figures
    text = section("community")
    assert f"{deflection['accepted_answers']:,.0f} accepted community answers" in text
    assert money(deflection["value"], deflection["currency"]) in text

    drivers = cards["drivers"].figures
    assert [b["behaviour"] for b in drivers["behaviours"]][:2] == ["webinar_attended", "question"]  # planted
    start = page.index('id="drivers"')
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:page.index("</section>", start)]))
    for behaviour in drivers["behaviours"]:
        assert f"{behaviour['behaviour'].replace('_', ' ')} " in text
        assert f"{points(behaviour['difference'])} {points(behaviour['diff_low'])} to " \
               f"{points(behaviour['diff_high'])}" in text
    cli = CliRunner().invoke(app, ["drivers", "lead_after_join", "--json", "--workspace", str(workspace)])
    assert cli.exit_code == 0, cli.output
    rows = {r["behaviour"]: r for r in json.loads(cli.output)["drivers"]}
    for behaviour in drivers["behaviours"]:  # the card's numbers are those of `commetrics drivers --json`
        row = rows[behaviour["behaviour"]]
        assert behaviour["difference"] == pytest.approx(row["difference"], abs=1e-6)
        assert (behaviour["diff_low"], behaviour["diff_high"]) == pytest.approx((row["diff_low"], row["diff_high"]),
                                                                               abs=1e-6)
        assert row["associated"] == behaviour["associated"]
