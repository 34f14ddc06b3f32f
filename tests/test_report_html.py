"""The self-contained HTML report: content, escaping, no network, determinism, and a real browser."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from commetrics.reports.html import (
    AttributionSection,
    ConversionGroup,
    ConversionSection,
    DriversSection,
    ImpactSection,
    ReportData,
    ScoresSection,
    model_labels,
    render_html,
)
from commetrics.reports.labels import GLOSSARY
from commetrics.reports.summary import Card, Omitted, Summary
from commetrics.results import Diagnostic, Publication, Result

CHROMIUM = Path("/usr/bin/chromium")
EVIL = "<script>alert(1)</script>"
NAN = math.nan
INF = math.inf

#: Elements that never have a closing tag in HTML.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _table_row(cohort: str, window: int, eligible: float, in_progress: int, converters: float, *,
               existing: int = 0, reference: str | None = None, diff: tuple[float, float, float] | None = None,
               ci: tuple[float, float] | None = None) -> dict[str, Any]:
    rate = converters / eligible if eligible and not math.isnan(eligible) else NAN
    low, high = ci if ci else ((max(0.0, rate - 0.05), min(1.0, rate + 0.05)) if not math.isnan(rate) else (NAN, NAN))
    d, dl, dh = diff if diff else (NAN, NAN, NAN)
    return {
        "cohort": cohort, "window_days": window, "eligible": eligible, "in_progress": in_progress,
        "converters": converters, "rate": rate, "ci_low": low, "ci_high": high, "existing_customers": existing,
        "small": bool(not math.isnan(eligible) and eligible < 30), "reference": reference,
        "diff": d, "diff_low": dl, "diff_high": dh,
    }


def _curve(cohort: str, days: list[float], values: list[float]) -> pd.DataFrame:
    cum = np.array(values)
    return pd.DataFrame({"cohort": cohort, "day": days, "cumulative": cum,
                         "ci_low": np.clip(cum - 0.03, 0, 1), "ci_high": np.clip(cum + 0.03, 0, 1)})


def make_report() -> ReportData:
    """A small report with a comparison section (every special cell) and an all-members section."""
    rows = [
        _table_row("forum", 30, 1234, 56, 150, existing=12, reference="forum", ci=(0.1044, 0.1405)),
        _table_row("event", 30, 410, 30, 62, existing=3, reference="forum", diff=(0.0296, -0.0110, 0.0731)),
        _table_row(EVIL, 30, 20, 4, 5, reference="forum", diff=(0.1284, -0.0421, 0.3382)),
        _table_row("forum", 90, 980, 310, 201, existing=12, reference="forum", ci=(0.1808, 0.2318)),
        _table_row("event", 90, 0, 440, 0, reference="forum"),
        _table_row(EVIL, 90, NAN, 3, NAN, reference="forum"),
    ]
    curves = pd.concat([
        _curve("forum", [1, 5, 12, 30, 60, 90], [0.02, 0.05, 0.09, 0.122, 0.17, 0.205]),
        _curve("event", [2, 10, 30, 45], [0.03, 0.08, 0.151, 0.19]),
        _curve(EVIL, [3, 20], [0.05, 0.25]),
    ], ignore_index=True)
    timing = pd.DataFrame({
        "cohort": ["forum", "event", EVIL],
        "eligible": [1234, 410, 20],
        "converters": [150, 62, 5],
        "median_days_converters": [11.5, 9.0, NAN],
        "km_median_days": [INF, INF, INF],
        "km_quantile": [0.1, 0.1, 0.1],
        "km_quantile_days": [27.34, 21.0, INF],
    })
    by_entry = ConversionSection(
        name="trial_after_join", description="Members who start a trial after joining the community.",
        by="entry_path", table=pd.DataFrame(rows), curves=curves, timing=timing,
    )
    overall = ConversionSection(
        name="purchase_after_trial", description="Trials that become paying customers.", by=None,
        table=pd.DataFrame([_table_row("all", 14, 5000, 800, 1100), _table_row("all", 60, 3900, 1900, 1288)]),
        curves=_curve("all", [0, 3, 14, 30, 60], [0.01, 0.08, 0.22, 0.3, 0.33]),
        timing=pd.DataFrame({"cohort": ["all"], "eligible": [5000], "converters": [1288],
                             "median_days_converters": [8.25], "km_median_days": [INF],
                             "km_quantile": [0.1], "km_quantile_days": [4.0]}),
    )
    definitions = [
        {"name": "trial_after_join", "label": "Trial after joining", "description": "Trial after joining",
         "owner": "growth", "outcomes": ["trial_started"], "anchor": "joined", "windows": [30, 90], "unit": "member"},
        {"name": "purchase_after_trial", "label": "Purchase after a trial", "description": "Purchase after trial",
         "owner": "sales", "outcomes": ["purchase", "upgrade"], "anchor": "trial_started", "windows": [14, 60],
         "unit": "account"},
    ]
    groups = [ConversionGroup(name="trial_after_join", label="Trial after joining",
                              description=by_entry.description, definition=definitions[0], parts=[by_entry]),
              ConversionGroup(name="purchase_after_trial", label="Purchase after a trial",
                              description=overall.description, definition=definitions[1], parts=[overall],
                              notes=[f"Cohort {EVIL} is a test"])]
    return ReportData(
        title="Community value — Q2", workspace="acme-prod",
        as_of=datetime(2026, 6, 30, 23, 59, tzinfo=UTC), generated_at=datetime(2026, 7, 1, 8, 15, tzinfo=UTC),
        timezone="Europe/Berlin", definitions=definitions, conversions=groups,
        notes=["Staff excluded", "n < 30 flagged"], omitted=["Advocacy: no referral_made outcomes in the store yet."],
        attribution=[make_attribution()], scores=make_scores(), impact=make_impact(),
        summary=make_summary(), drivers=make_drivers(),
    )


def _behaviour(rank: int, name: str, associated: str, diff: float, *, hidden: bool = False) -> dict[str, Any]:
    return {"rank": rank, "behaviour": name, "members": 400 + rank, "converters": None if hidden else 50,
            "rate_with": None if hidden else 0.25, "rate_without": None if hidden else 0.05, "odds_ratio": 3.16,
            "or_low": 2.64, "or_high": 3.8, "difference": diff, "diff_low": diff - 0.02, "diff_high": diff + 0.02,
            "p": 1e-9, "p_holm": 7e-9 if associated else 1.0, "associated": associated, "suppressed": hidden}


def make_drivers(*, blocking: bool = False) -> DriversSection:
    """Seven behaviours: two associated, one with hidden raw rates, one named like markup."""
    table = pd.DataFrame([_behaviour(1, "webinar_attended", "more", 0.108),
                          _behaviour(2, "question", "more", 0.092), _behaviour(3, EVIL, "", 0.014, hidden=True),
                          *[_behaviour(i, f"behaviour_{i}", "", 0.01 - i / 1000) for i in range(4, 8)]])
    figures = {"drivers": table, "conversion": "lead_after_join", "outcomes": ["lead"], "days": 30,
               "window_days": 90, "eligible": 14763, "converters": 1296, "rate": 0.0878, "left_out": ["case_study"],
               "controls": ["entry_path = webinar"]}
    diagnostics = (Diagnostic("unknown_name", "The control 'plan' matches no member or account column.",
                              "Check the name.", "warning"),)
    if blocking:
        diagnostics += (Diagnostic("convergence", "The drivers model did not converge, so its odds ratios are not "
                                   "estimates.", "Use fewer controls or a longer window.", about="drivers"),)
    result = Result("drivers", {"controls": ("entry_path", "segment")}, figures, figures,
                    Publication(10, suppression_applied=True, note="Converters and raw rates of 1 behaviour(s) are "
                                "hidden: fewer than 10 members on one side."), diagnostics)
    return DriversSection(result=result, label="Lead after joining")


def make_summary() -> Summary:
    return Summary(workspace="acme-prod", as_of=datetime(2026, 6, 30, 23, 59, tzinfo=UTC), cards=(
        Card("renewal", "Renewal of engaged accounts", "+5.7 points", "95% interval +0.4 to +11.0 points; raw +15.6",
             f"Engaged accounts renewed 5.7 points more often {EVIL}.", "impact-renewal"),),
        omitted=(Omitted("nps", "NPS gap by participation", "Not enough NPS answers."),))


VALIDATION = {
    "renewals": 1686, "churned": 312, "auc": 0.7116, "auc_low": 0.6832, "auc_high": 0.7423,
    "auc_without_community": 0.65, "community_gain": 0.0612, "community_gain_low": 0.0364,
    "community_gain_high": 0.085,
    "bands": [
        {"band": "red", "renewals": 902, "churned": 243, "churn_rate": 0.2694, "ci_low": 0.2415, "ci_high": 0.2993},
        {"band": EVIL, "renewals": 744, "churned": 68, "churn_rate": 0.0914, "ci_low": 0.0727, "ci_high": 0.1143},
        {"band": "green", "renewals": 40, "churned": 1, "churn_rate": 0.025, "ci_low": 0.0044, "ci_high": 0.1288},
    ],
    "learned_weights": {"community": 41.8, "product_usage": 30.7, "support": 10.0, "relationship": 0.0,
                        "commercial": 17.5},
    "expert_weights": {"community": 30.0, "product_usage": 25.0, "support": 15.0, "relationship": 15.0,
                       "commercial": 15.0},
    "holdout_renewals": 506, "holdout_auc_expert": 0.7448, "holdout_auc_learned": 0.755,
}


def _estimate(estimate: float, low: float, high: float) -> dict[str, float]:
    return {"estimate": estimate, "se": (high - low) / 3.92, "ci_low": low, "ci_high": high}


def make_impact(renewal: bool = True) -> ImpactSection:
    levels = pd.DataFrame({"level": ["none", EVIL, "high"], "renewals": [240, 251, 118], "renewed": [182, 188, 104],
                           "rate": [0.758, 0.749, 0.881], "ci_low": [0.70, 0.692, 0.811],
                           "ci_high": [0.808, 0.799, 0.928]})
    result = {
        "levels": levels, "renewals": 856, "engaged": 365, "left_out_missing_covariates": 3,
        "raw": {"difference": 0.156, "ci_low": 0.107, "ci_high": 0.203},
        "adjusted": _estimate(0.057, 0.004, 0.110), "ipw": _estimate(0.060, 0.003, 0.117),
        "matched": _estimate(0.048, -0.006, 0.102), "matched_pairs": 271,
        "balance": pd.DataFrame({"covariate": ["log:arr", EVIL], "smd_before": [0.96, -0.805],
                                 "smd_after": [0.02, -0.15]}),
        "overlap": {"share_outside": 0.015}, "ess": {"engaged": 285.0, "not_engaged": 292.0},
        "e_value": "An unmeasured factor would need risk ratios of at least 1.36 to explain it away.",
        "covariates": ["log:arr", "segment"], "estimand": "att", "headline": True, "guards": [],
        "population": f"the 365 engaged renewals, compared with what they would have done {EVIL}",
        "sensitivity": "To bring the adjusted difference to zero, an unmeasured factor would have to explain at "
                       "least 4.1% of what the covariates leave unexplained (robustness value).",
        "notes": [],
    }
    nps = {"kind": "nps", "scale": "0-10", "answers": 1084, "members": 900,
           "levels": pd.DataFrame({"level": ["none", "high"], "answers": [433, 143], "nps": [-23.4, 50.0],
                                   "ci_low": [-30.1, 38.2], "ci_high": [-16.0, 60.5]}),
           "response": pd.DataFrame({"level": ["none", "high"], "members": [13088, 8571],
                                     "response_rate": [0.025, 0.024], "ci_low": [0.022, 0.021],
                                     "ci_high": [0.028, 0.028]}),
           "spearman": {"rho": 0.36, "ci_low": 0.33, "ci_high": 0.38},
           "ordinal": {"odds_ratio": 1.69, "ci_low": 1.62, "ci_high": 1.75, "controls": "tenure"}}
    return ImpactSection(renewal=result if renewal else None, surveys=[nps], engaged_level="medium", window=(180, 60),
                         renewal_note="" if renewal else "The renewal comparison needs at least 40 decided renewals.",
                         notes=["CSAT by participation needs at least 40 csat answers."])


def make_scores(validation: dict[str, Any] | None = VALIDATION) -> ScoresSection:
    return ScoresSection(
        tiers=pd.DataFrame({"tier": ["dormant", "casual", "active", "champion"], "members": [29718, 7778, 1286, 14]}),
        bands=pd.DataFrame({"band": ["red", EVIL, "green"], "accounts": [1085, 1725, 190],
                            "median_health": [40.8, 60.9, 78.1]}),
        validation=validation, lead_days=90, half_life_days=30.0,
        validation_note="" if validation else "Validation needs at least 20 decided renewals; found 3.")


#: Attributed value per (model, class): every model splits the same 10,000.
CREDIT = {
    "first": {"ama": 6000.0, "user_group": 3000.0, EVIL: 1000.0},
    "last": {"ama": 2000.0, "user_group": 7000.0, EVIL: 1000.0},
    "linear": {"ama": 4500.0, "user_group": 4500.0, EVIL: 1000.0},
    "position": {"ama": 4800.0, "user_group": 4400.0, EVIL: 800.0},
    "time_decay": {"ama": 3000.0, "user_group": 6500.0, EVIL: 500.0},
    "markov": {"ama": 5200.0, "user_group": 4100.0, EVIL: 700.0},
    "shapley": {"ama": 4700.0, "user_group": 4600.0, EVIL: 700.0},
}


def make_attribution() -> AttributionSection:
    rows = [{"model": m, "class": c, "conversions": v / 1000, "value": v, "share": v / 10_000,
             "value_low": v * 0.8, "value_high": v * 1.25} for m, credit in CREDIT.items() for c, v in credit.items()]
    return AttributionSection(outcomes=["purchase", "renewal"], by="program", unit="person", lookback_days=90,
                              half_life_days=7.0, currency="EUR", result=pd.DataFrame(rows),
                              conversions_without_touch=4, value_without_touch=2500.0, replicates=200)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(make_report())


def _text(page: str) -> str:
    """The page's visible-ish text, tags removed and entities left as they are."""
    return re.sub(r"<[^>]+>", " ", page)


# ------------------------------------------------------------------------------------------
# Content
# ------------------------------------------------------------------------------------------


def _section(page: str, marker: str) -> str:
    part = page[page.index(marker):]
    return part[:part.index("</section>")]


def test_header_and_document_basics(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<title>Community value — Q2 — acme-prod</title>" in page
    assert '<meta charset="utf-8">' in page
    for text in ("acme-prod", "2026-06-30 23:59 UTC", "2026-07-01 08:15 UTC", "Europe/Berlin"):
        assert text in page
    # summary, impact, attribution, two conversions, drivers, scores, definitions, notes, glossary
    assert page.count("<h2") == 10


def test_the_summary_comes_first_and_links_to_its_section(page: str) -> None:
    main = page[page.index("<main>"):]
    assert main.index('id="summary"') < main.index("<nav") < main.index('id="impact"')
    summary = _section(page, '<section id="summary"')
    assert "+5.7 points" in summary
    assert '<a href="#impact-renewal"' in summary
    assert 'id="impact-renewal"' in page  # the card's link lands on the section with the same figure
    assert "NPS gap by participation</strong>: Not enough NPS answers." in summary  # omitted, in one line
    assert EVIL not in summary


def test_definitions_table(page: str) -> None:
    definitions = _section(page, 'id="definitions"')
    for text in ("Trial after joining", "trial_after_join", "purchase_after_trial", "growth", "purchase, upgrade",
                 "trial_started", "30, 90", "14, 60", "account"):
        assert text in definitions
    assert '<th scope="col">Conversion</th>' in definitions


def test_every_cohort_window_and_rate_appears(page: str) -> None:
    report = make_report()
    text = _text(page)
    for group in report.conversions:
        for section in group.parts:
            for row in section.table.to_dict(orient="records"):
                if row["eligible"] and not math.isnan(row["eligible"]):
                    assert f"{row['rate'] * 100:.1f}%" in text
                    assert f"{int(row['converters']):,} / {int(row['eligible']):,}" in text
    # Rates, intervals and thousands separators, exactly as a reader sees them.
    assert "12.2%" in text
    assert "10.4%–14.1%" in text  # under the rate in the matrix
    assert "10.4% – 14.1%" in text  # in the table of every figure
    assert "150 / 1,234" in text
    assert "22.0%" in text
    assert "1,100 / 5,000" in text
    assert "1,900" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "By how they found the community" in page  # cohort keys in words, not entry_path


def test_in_progress_small_hidden_and_reference_cells(page: str) -> None:
    section = _section(page, 'id="conversion-trial_after_join"')
    matrix = section[section.index('<table class="matrix">'):]
    matrix = matrix[:matrix.index("</table>")]
    rows = re.findall(r"<tr>.*?</tr>", matrix)
    event = next(r for r in rows if ">event<" in r)
    assert '<td class="num prog" data-label="90 days">in progress</td>' in event  # nobody through 90 days yet
    evil = next(r for r in rows if "alert(1)" in r)
    assert "small-n" in evil  # 30 days: 20 eligible
    assert '<td class="num muted" data-label="90 days">hidden</td>' in evil  # 90 days: suppressed
    full = section[section.index('<table class="rates">'):]
    full = full[:full.index("</table>")]
    event_30 = next(r for r in re.findall(r"<tr>.*?</tr>", full) if ">event<" in r and ">30<" in r)
    assert "+3.0 (−1.1 to +7.3)" in event_30
    forum_30 = next(r for r in re.findall(r"<tr>.*?</tr>", full) if ">forum<" in r and ">30<" in r)
    assert "reference" in forum_30
    assert "440" in full  # the in-progress count is kept


def test_timing_table_not_reached_and_quantile(page: str) -> None:
    timing = page[page.index('<table class="timing">'):]
    timing = timing[:timing.index("</table>")]
    assert "Days until 10% converted" in timing
    assert timing.count(">not reached</td>") == 4  # three KM medians and one quantile
    assert "27.3" in timing
    assert "11.5" in timing
    assert "inf" not in timing.lower().replace("info", "")


def test_charts_are_inline_svg_with_titles_and_labelled_axes(page: str) -> None:
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    # cohort rates, one curve chart, attribution, churn per band, renewal differences
    assert len(svgs) == 5
    for svg in svgs:
        assert re.match(r'<svg role="img" aria-labelledby="[^"]+"[^>]*>\s*<title id="[^"]+">', svg)
        assert "<desc " in svg
        assert "aria-roledescription" not in svg  # one description per chart, not one per mark
    assert "Converted within 90 days" in page  # axis titles
    assert "Credited revenue (EUR)" in page
    assert "Renewal rate, engaged minus not engaged (points)" in page
    assert "Days since the anchor" in page


def test_notes_and_the_sections_left_out(page: str) -> None:
    notes = _section(page, 'id="notes"')
    assert "Staff excluded" in notes
    assert "n &lt; 30 flagged" in notes
    assert "Advocacy: no referral_made outcomes in the store yet." in notes


def test_every_term_links_to_a_glossary_entry(page: str) -> None:
    links = set(re.findall(r'<a class="term" href="#g-([a-z-]+)"', page))
    assert {"interval", "attribution", "adjusted", "smd", "kaplan-meier", "hidden", "att"} <= links
    glossary = _section(page, 'id="glossary"')
    for key in links:
        assert f'<dt id="g-{key}">' in glossary
    assert len(re.findall(r"<dt id=", glossary)) == len(GLOSSARY)


def test_wide_tables_label_every_value_for_narrow_screens(page: str) -> None:
    full = page[page.index('<table class="rates">'):]
    full = full[:full.index("</table>")]
    assert 'data-label="Converters / eligible"' in full
    attribution = page[page.index('<table class="attribution">'):]
    assert 'data-label="Markov' in attribution[:attribution.index("</table>")]


def test_data_strings_are_escaped(page: str) -> None:
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5


def test_no_network_references(page: str) -> None:
    assert "http://" not in page
    assert "https://" not in page
    lowered = page.lower()
    assert "<link" not in lowered
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert not re.search(r"\ssrc=", lowered)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert "default-src 'none'" in page  # the browser is told to fetch nothing, even by mistake


class _Checker(HTMLParser):
    """Checks that every element is closed in order and collects ids and references to them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.refs: list[str] = []

    def _attrs(self, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name == "aria-labelledby" and value:
                self.refs.extend(value.split())
            if name == "href" and value and value.startswith("#"):
                self.refs.append(value[1:])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_attribution_section_shows_models_side_by_side_with_the_caveat(page: str) -> None:
    section = page[page.index('<section class="attribution"'):]
    section = section[:section.index("</section>")]
    assert "Credit allocation, not cause." in section
    assert "10 purchase, renewal conversions worth EUR 10,000" in section
    assert "Revenue credited to community programs (EUR)" in section
    header = section[section.index("<thead>"):section.index("</thead>")]
    assert [re.sub(r"<[^>]+>", "", h) for h in re.findall(r'<th scope="col" class="num">.*?</th>', header)] == list(
        model_labels().values())
    # Classes by Markov value, every model's value with its interval, and the same total under every model.
    body = section[section.index("<tbody>"):section.index("</tbody>")]
    assert [re.sub(r"<[^>]+>", "", r) for r in re.findall(r'<th scope="row">.*?</th>', body)] == [
        "AMA sessions", "user group", "&lt;script&gt;alert(1)&lt;/script&gt;"]  # in words, by Markov value
    assert '<strong>6,000</strong><span class="ci">4,800–7,500</span>' in body
    footer = section[section.index("<tfoot>"):section.index("</tfoot>")]
    assert footer.count(">10,000</td>") == len(CREDIT)  # the same total under every model
    assert "4 conversions worth EUR 2,500 had no community touch" in section
    assert EVIL not in section
    assert '<a href="#attribution-1">Attributed revenue</a>' in page
    desc = re.search(r'<desc id="a1-desc">(.*?)</desc>', section, flags=re.S)
    assert desc is not None
    assert desc.group(1).count("EUR") == 3 * len(CREDIT)  # the chart says every dot in words


def test_scores_section_shows_tiers_bands_and_the_validation(page: str) -> None:
    section = page[page.index('<section class="scores"'):]
    section = section[:section.index("</section>")]
    text = re.sub(r"<[^>]+>", "", section)
    assert "dormant29,71876.6%" in text.replace(" ", "")
    assert "AUC for churn 0.712 (95% bootstrap interval 0.683 to 0.742" in text
    assert "the community adds +0.061 (+0.036 to +0.085)" in text
    assert "configured weights reach AUC 0.745, the learned ones 0.755" in text
    assert re.sub(r' data-label="[^"]*"', "", section).count('<td class="num">30</td><td class="num">42</td>') == 1
    assert "26.9% of 902 renewals churned" in section  # the chart's description
    assert EVIL not in section
    assert '<a href="#scores">Scores</a>' in page
    empty = render_html(ReportData(
        title="t", workspace="w", as_of=datetime(2026, 6, 30, tzinfo=UTC),
        generated_at=datetime(2026, 7, 1, tzinfo=UTC), timezone="UTC", definitions=[],
        scores=make_scores(None)))
    assert "Validation needs at least 20 decided renewals; found 3." in empty
    assert 'id="bands-title"' not in empty


def test_impact_section_shows_raw_beside_adjusted_and_the_balance(page: str) -> None:
    section = page[page.index('<section class="impact"'):]
    section = section[:section.index("</section>")]
    text = re.sub(r"<[^>]+>", "", section)
    assert "Raw difference, engaged minus not engaged: +15.6 points (+10.7 to +20.3)" in text
    assert ("Adjusted for annual recurring revenue (log scale), segment, for the engaged (ATT): +5.7 points "
            "(+0.4 to +11.0) — an adjusted association") in text
    assert "Whom the answer describes: the 365 engaged renewals, compared with what they would have done" in text
    assert "(robustness value)" in text
    assert "Matched pairs (271): +4.8 points (95% interval −0.6 to +10.2)" in section  # chart desc
    desc = re.search(r'<desc id="impact-desc">(.*?)</desc>', section, flags=re.S)
    assert desc is not None
    assert desc.group(1).count("points") == 4  # raw, adjusted, IPW, matched
    assert "No adjusted headline" not in text
    assert '<td class="num warn" data-label="After weighting">−0.150</td>' in section  # above the 0.1 target
    assert '<td class="num" data-label="After weighting">+0.020</td>' in section
    assert "annual recurring revenue (log scale)</th>" in section  # covariates in words
    assert "3 renewals with a missing covariate are left out" in text
    assert "NPS by participation level" in text
    assert "−23.4" in text
    assert "CSAT by participation needs at least 40 csat answers." in text
    assert EVIL not in section
    assert '<a href="#impact">Renewal and satisfaction</a>' in page
    empty = render_html(ReportData(
        title="t", workspace="w", as_of=datetime(2026, 6, 30, tzinfo=UTC),
        generated_at=datetime(2026, 7, 1, tzinfo=UTC), timezone="UTC", definitions=[],
        impact=make_impact(renewal=False)))
    assert "The renewal comparison needs at least 40 decided renewals." in empty
    assert 'id="impact-title"' not in empty


def test_a_tripped_guard_replaces_the_adjusted_headline_in_the_report() -> None:
    impact = make_impact()
    assert impact.renewal is not None
    impact.renewal.update(headline=False, guards=[{
        "name": "ess", "value": 4.9, "threshold": 30.0,
        "message": "The weights leave the comparison group worth only 4.9 equally weighted units.",
        "advice": "Add data, use fewer covariates, or compare within a segment."}])
    page = render_html(ReportData(
        title="t", workspace="w", as_of=datetime(2026, 6, 30, tzinfo=UTC),
        generated_at=datetime(2026, 7, 1, tzinfo=UTC), timezone="UTC", definitions=[], impact=impact))
    section = page[page.index('<section class="impact"'):]
    text = re.sub(r"<[^>]+>", "", section[:section.index("</section>")])
    assert "No adjusted headline: the adjusted difference cannot be trusted on this data." in text
    assert "worth only 4.9 equally weighted units. What to do: Add data" in text
    assert "+5.7 points" not in text  # the untrusted figure is not shown as an answer
    assert "(robustness value)" not in text
    desc = re.search(r'<desc id="impact-desc">(.*?)</desc>', section, flags=re.S)
    assert desc is not None
    assert desc.group(1).count("points") == 1  # the raw difference only


def test_markup_is_balanced_and_ids_resolve(page: str) -> None:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    duplicates = [i for i, n in Counter(checker.ids).items() if n > 1]
    assert duplicates == []
    assert set(checker.refs) <= set(checker.ids)


def test_output_is_deterministic() -> None:
    first = render_html(make_report())
    assert first == render_html(make_report())
    assert first.encode("utf-8") == render_html(make_report()).encode("utf-8")


def _one(section: ConversionSection, k: int = 10) -> str:
    group = ConversionGroup(name=section.name, label=section.name, description=section.description,
                            definition={"windows": [30]}, parts=[section])
    return render_html(ReportData(title="t", workspace="w", as_of=datetime(2026, 1, 1, tzinfo=UTC),
                                  generated_at=datetime(2026, 1, 1, tzinfo=UTC), timezone="UTC",
                                  definitions=[], conversions=[group], k=k))


def test_empty_and_odd_inputs_become_one_line_each() -> None:
    empty = pd.DataFrame()
    page = _one(ConversionSection(name="nothing_yet", description="", by=None, table=empty, curves=empty,
                                  timing=empty))
    assert "No rates yet: nobody has reached an anchor of this conversion." in page
    page = _one(ConversionSection(name="nothing_yet", description="", by="join_month", table=empty, curves=empty,
                                  timing=empty))
    assert "No cohorts by month joined: the table is empty." in page
    assert "No conversions are defined" in page
    assert "<table class=\"matrix\">" not in page  # never a table with a header and no rows
    # Every cell still in progress: one line, no chart, no 0% dot.
    table = pd.DataFrame([{"cohort": "2026-05", "window_days": 30, "eligible": 0, "in_progress": 12,
                           "converters": 0, "rate": NAN, "ci_low": NAN, "ci_high": NAN,
                           "existing_customers": 0, "small": True}])
    page = _one(ConversionSection(name="young", description="d", by="join_month", table=table, curves=empty,
                                  timing=empty))
    assert "Every cohort is still in progress" in page
    assert "<svg" not in page


def test_an_all_hidden_breakdown_is_one_line() -> None:
    rows = [_table_row(f"2025-{m:02d}", 30, NAN, 0, NAN) for m in range(1, 13)]
    page = _one(ConversionSection(name="tiny", description="d", by="join_month", table=pd.DataFrame(rows),
                                  curves=pd.DataFrame(), timing=pd.DataFrame()), k=10)
    assert "12 cohorts hidden to protect groups of fewer than 10 members" in _text(page)
    assert "<table class=\"matrix\">" not in page
    assert "<svg" not in page


def test_nullable_dtypes_and_many_cohorts() -> None:
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    rows = [_table_row(month, window, 40 + i, 2, 10 + i % 5) for window in (30, 90) for i, month in enumerate(months)]
    table = pd.DataFrame(rows)
    table["eligible"] = table["eligible"].astype("Int64")
    table.loc[0, "eligible"] = pd.NA  # suppressed, as a nullable integer
    table["small"] = table["small"].astype("boolean")
    page = _one(ConversionSection(name="by_month", description="d", by="join_month", table=table,
                                  curves=pd.DataFrame(), timing=pd.DataFrame()))
    for month in months:
        assert f'<th scope="row">{month}</th>' in page
    assert ">hidden<" in page
    assert "nan" not in _text(page).lower()


# ------------------------------------------------------------------------------------------
# A real browser
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium at /usr/bin/chromium "
                    "(apt-get install chromium); CI installs it")
def test_page_renders_in_chromium(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    path = tmp_path / "report.html"
    path.write_text(render_html(make_report()), encoding="utf-8")
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("console", lambda m: console_errors.append(m.text) if m.type in ("error", "warning") else None)
            tab.on("pageerror", lambda e: page_errors.append(str(e)))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri(), wait_until="load")
            assert tab.title() == "Community value — Q2 — acme-prod"
            svgs = tab.locator("svg")
            assert svgs.count() == 5  # cohort rates, a curve, attribution, churn per band, renewal differences
            for i in range(svgs.count()):
                box = svgs.nth(i).bounding_box()
                assert box is not None
                assert box["width"] > 100
                assert box["height"] > 50
            assert tab.locator("text=alert(1)").count() >= 1  # shown as text, never run
            shot = tmp_path / "report.png"
            tab.screenshot(path=str(shot), full_page=True)
            tab.emulate_media(media="print")
            tab.screenshot(path=str(tmp_path / "report-print.png"), full_page=True)
        finally:
            browser.close()
    assert console_errors == []
    assert page_errors == []
    assert requests == [path.as_uri()]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium at /usr/bin/chromium "
                    "(apt-get install chromium); CI installs it")
def test_demo_report_on_the_real_community_opens_cleanly(tmp_path: Path) -> None:
    """End to end: `commetrics demo --real` writes the report; Chromium shows it with no errors."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    from typer.testing import CliRunner

    from commetrics.cli import app

    result = CliRunner().invoke(app, ["demo", "--real", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "ws" / "report.html"
    assert "question_resolved" in path.read_text(encoding="utf-8")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu",
                                                                          "--disable-background-networking"])
        try:
            tab = browser.new_page()
            tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(path.as_uri(), wait_until="load")
            # The curve for all members and the rates by join year (rolled up from months, which would mostly be
            # hidden); the years whose every cell is hidden are one line, not rows of "hidden".
            assert tab.locator("svg").count() >= 2
            assert "rolled up to year joined" in tab.content()
            assert re.search(r"\d+ more cohorts hidden to protect groups", tab.content())
            assert tab.locator("table").count() >= 4
        finally:
            browser.close()
    assert problems == []


def test_a_chart_of_several_models_draws_the_legend_that_names_them() -> None:
    import vl_convert

    from commetrics.reports.html.charts import interval_spec

    rows = [{"label": "forum", "value": 10.0, "low": 5.0, "high": 20.0, "group": model}
            for model in ("First touch", "Markov")]
    svg = vl_convert.vegalite_to_svg(interval_spec(rows, x_title="Credited revenue", kind="money",
                                                   group_title="Model"))
    legend = svg[svg.index("role-legend"):]
    assert "First touch" in legend
    assert "Markov" in legend


def test_every_kind_of_chart_spec_is_valid_vega_lite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs are built without Altair's schema check (half the time of drawing a chart): every kind the report
    and the dashboard make — grouped or not, with the zero line, hollow dots, missing intervals, curves with
    several cohorts — passes it, and checking changes nothing in the spec."""
    from commetrics.reports.html import charts

    rows = [{"label": "forum", "value": 0.12, "low": 0.1, "high": 0.15},
            {"label": "webinar", "value": 0.2, "low": None, "high": None, "hollow": True}]
    grouped = [{**row, "group": group} for row in rows for group in ("First touch", "Markov")]
    points = [{"cohort": cohort, "day": day, "cumulative": day / 200} for cohort in ("a", "b", "c", "d", "e")
              for day in (0, 7, 30, 90)]
    made = [lambda: charts.interval_spec(rows, x_title="Rate"),
            lambda: charts.interval_spec(grouped, x_title="Credited revenue", kind="money", group_title="Model"),
            lambda: charts.interval_spec(rows, x_title="Difference", kind="points", zero=True),
            lambda: charts.curves_spec(points, windows=[7, 30, 90])]
    unchecked = [make() for make in made]
    monkeypatch.setattr(charts, "VALIDATE", True)
    assert [make() for make in made] == unchecked  # Altair raises on a spec the schema refuses


def test_drivers_section_ranks_behaviours_as_associations_with_intervals_and_diagnostics(page: str) -> None:
    section = _section(page, 'id="drivers"')
    text = re.sub(r"\s+", " ", _text(section))
    assert "Behaviours associated with conversion" in text
    assert "Lead after joining" in text
    assert "first 30 days" in text
    assert "in the 90 days after them" in text
    assert "14,763 eligible members, 1,296 converted (8.8%)" in text
    assert "associations, not causes" in text
    assert "caused" not in text
    assert "drives" not in text
    assert "for the other behaviours and for entry path, segment." in text  # the controls in words
    # Each behaviour with its adjusted difference and odds ratio, both with their interval.
    assert "1 webinar attended 401 25.0% vs 5.0% +10.8 +8.8 to +12.8 ×3.16 ×2.64 to ×3.80 7e−09 more conversion" in text
    assert "hidden" in section  # raw rates of a behaviour with fewer than k converters on one side
    assert "The control &#x27;plan&#x27; matches no member or account column." in text  # beside the table
    assert "Not compared (too few members with or without): case study." in text
    # Five rows open (the two associated and three more), the other two one click away.
    table, rest = section.split("<details>", 1)
    assert table.count('<th scope="row">') == 5
    assert rest.count('<th scope="row">') == 2
    assert '<a href="#drivers">Behaviours associated with conversion</a>' in page


def test_a_drivers_model_that_did_not_converge_shows_no_ranking() -> None:
    report = make_report()
    page = render_html(ReportData(**{**report.__dict__, "drivers": make_drivers(blocking=True)}))
    section = _section(page, 'id="drivers"')
    assert "No ranking:" in section
    assert "did not converge" in section
    assert section.index("<details>") < section.index('<th scope="row">')  # the table only under the guard


def test_revenue_sits_beside_the_rate_in_every_figure_and_hides_with_the_converters() -> None:
    rows = [{**_table_row("seo", 90, 400, 20, 40), "revenue": 12345.0, "revenue_per_eligible": 30.8625,
             "currency": "USD"},
            {**_table_row("event", 90, 120, 5, NAN), "revenue": NAN, "revenue_per_eligible": NAN, "currency": "USD"},
            {**_table_row("direct", 90, 0, 30, 0), "revenue": NAN, "revenue_per_eligible": NAN, "currency": "USD"}]
    section = ConversionSection(name="repeat", description="A second purchase", by="entry_path",
                                table=pd.DataFrame(rows), curves=_curve("seo", [1, 30], [0.05, 0.1]),
                                timing=pd.DataFrame())
    page = _one(section)
    table = page[page.index('<table class="rates">'):]
    table = table[:table.index("</table>")]
    assert "Revenue of converters (per eligible member)" in table
    cells = re.findall(r"<tr>.*?</tr>", table, re.S)[1:]
    assert "USD 12,345" in cells[0]
    assert "USD 30.86 each" in cells[0]
    assert cells[1].count("hidden") >= 3  # converters, and the revenue with them
    assert "USD" not in cells[1]
    assert "USD" not in cells[2]  # in progress: nobody eligible, no revenue yet
