"""Small-cell suppression on attribution and community metrics, in the CLI (text and JSON) and the report.

The stores are built so that one touchpoint class (or one figure) comes from fewer than k = 10 people,
next to a case with no small group, where nothing may be hidden: each test can fail both ways.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.metrics.attribution import Paths, attribute, journeys_per_class
from commetrics.privacy.outputs import attribution_note, suppress_attribution, suppress_ratios, suppression_note

from .conftest import NOW, write_csv

AS_OF = datetime(2025, 3, 31, tzinfo=UTC)
K = 10


def _attribution_store(engine: Engine, tmp_path: Path, programs: dict[str, int], *, untouched: int = 0,
                       untouched_buys: int = 1, repeat_buyer: bool = False) -> None:
    """``programs``: converters per program (each converter touches one program, then buys for 100).
    ``untouched`` members buy ``untouched_buys`` times each with no community touch; ten members touch
    "forum" and never buy. ``repeat_buyer``: the first converter of each program buys twice (one
    person, two conversions)."""
    activities, outcomes = [], []
    for program, n in programs.items():
        for i in range(n):
            member = f"{program}-{i}"
            activities.append([f"a-{member}", member, "2025-03-01", "webinar_attended", program])
            outcomes.append([f"o-{member}", member, "2025-03-10", "purchase", "100"])
            if repeat_buyer and i == 0:
                outcomes.append([f"o2-{member}", member, "2025-03-12", "purchase", "100"])
    for i in range(untouched):
        outcomes += [[f"o-none-{i}-{j}", f"none-{i}", f"2025-03-{10 + j:02d}", "purchase", "100"]
                     for j in range(untouched_buys)]
    for i in range(10):
        activities.append([f"a-idle-{i}", f"idle-{i}", "2025-03-05", "post", "forum"])
    engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type", "program"],
                                        activities), now=NOW)
    engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value"],
                                      outcomes), now=NOW)


def _workspace(tmp_path: Path, programs: dict[str, int], *, untouched: int = 0, untouched_buys: int = 1) -> Path:
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        _attribution_store(engine, tmp_path, programs, untouched=untouched, untouched_buys=untouched_buys)
    return directory


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _by_model(rows: Sequence[dict[str, object]]) -> dict[str, dict[str, dict[str, object]]]:
    out: dict[str, dict[str, dict[str, object]]] = {}
    for row in rows:
        out.setdefault(str(row["model"]), {})[str(row["class"])] = row
    return out


SMALL = {"big": 14, "mid": 11, "tiny": 3}  # tiny: 3 converters; mid is the smallest class that can partner it
PLAIN = {"big": 14, "mid": 11}


# -------------------------------------------------------------------------------------------- the engine


def test_the_engine_counts_distinct_converting_people_per_class_and_stays_exact(tmp_path: Path) -> None:
    with Engine.in_memory() as engine:
        _attribution_store(engine, tmp_path, SMALL, repeat_buyer=True)
        result = engine.attribution("all", outcome="purchase", as_of=AS_OF, exact=True)
    models = result["models"]
    # A person who bought twice is one person: 15 conversions through big, 14 people.
    first = models[models["model"] == "first"].set_index("class")
    assert first["journeys"].to_dict() == {"big": 14, "forum": 0, "mid": 11, "tiny": 3}
    assert first["conversions"].to_dict() == pytest.approx({"big": 15.0, "forum": 0.0, "mid": 12.0, "tiny": 4.0})
    assert "suppressed" not in models.columns  # the library's figures are exact; outputs suppress
    assert result["conversions_without_touch"] == 0


def test_a_path_table_counts_converting_journeys_per_class_once_per_path() -> None:
    paths = Paths.from_records([(["a", "a", "b"], 12, 120.0, 0), (["c"], 3, 30.0, 5), (["d"], 0, 0.0, 40),
                                (["a"], 2.5, 25.0, 1)])
    assert dict(zip(paths.classes, journeys_per_class(paths).tolist(), strict=True)) == {
        "a": 14, "b": 12, "c": 3, "d": 0}  # a: 12 + 2.5 rounded down; repeats inside a path count once
    result = attribute(paths, ["first", "markov"])
    assert result.groupby("model")["journeys"].sum().to_dict() == {"first": 29, "markov": 29}


# -------------------------------------------------------------------------------------------- attribution


def test_attribution_json_hides_the_small_class_and_a_partner_in_every_model(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, SMALL, untouched=2)
    payload = json.loads(_cli("attribution", "--outcome", "purchase", "--as-of", "2025-03-31", "--json",
                              "-w", str(ws)))
    assert payload["min_cell_size"] == K
    assert payload["suppression_applied"] is True
    models = _by_model(payload["models"])
    assert set(models) == {"first", "last", "linear", "position", "time_decay", "markov", "shapley"}
    for model, rows in models.items():
        hidden = {c for c, r in rows.items() if r["suppressed"]}
        assert hidden == {"tiny", "mid"}, model  # tiny (3 people), and mid so that the total does not give it
        for cls in hidden:
            assert all(rows[cls][f] is None for f in ("conversions", "value", "share", "journeys")), (model, cls)
        assert rows["big"]["journeys"] == 14
        assert rows["big"]["conversions"] == pytest.approx(14.0)
    # Two buyers with no community touch: fewer than k people, so that line is withheld too.
    assert payload["conversions_without_touch"] is None
    assert payload["value_without_touch"] is None

    text = _cli("attribution", "--outcome", "purchase", "--as-of", "2025-03-31", "--model", "first",
                "-w", str(ws))
    assert re.search(r"tiny .*hidden", text)
    assert "2 touchpoint classes hidden in every model to protect groups of fewer than 10 people" in text
    assert "(not attributed): hidden" in text
    assert "withheld: they come from fewer than 10 people" in text


def test_attribution_with_no_small_class_hides_nothing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, PLAIN, untouched=12)
    payload = json.loads(_cli("attribution", "--outcome", "purchase", "--as-of", "2025-03-31", "--json",
                              "-w", str(ws)))
    assert payload["suppression_applied"] is False
    assert not any(r["suppressed"] for r in payload["models"])
    first = _by_model(payload["models"])["first"]
    assert {c: r["conversions"] for c, r in first.items()} == pytest.approx({"big": 14.0, "mid": 11.0, "forum": 0.0})
    assert payload["conversions_without_touch"] == 12
    assert payload["value_without_touch"] == pytest.approx(1200.0)
    text = _cli("attribution", "--outcome", "purchase", "--as-of", "2025-03-31", "--model", "first", "-w", str(ws))
    assert "suppressed" not in text
    assert "hidden" not in text


def test_the_report_hides_the_class_and_the_total_does_not_reveal_it(tmp_path: Path) -> None:
    from commetrics.reports.build import build_report
    from commetrics.reports.html import render_html

    with Engine.in_memory() as engine:
        _attribution_store(engine, tmp_path, SMALL, untouched=2)
        exact = engine.attribution("first", outcome="purchase", as_of=AS_OF, exact=True)["models"]
        report = build_report(engine, as_of=AS_OF)
    [section] = report.attribution
    result = section.result
    assert set(result.loc[result["suppressed"], "class"]) == {"tiny", "mid"}
    assert result.loc[result["suppressed"], ["conversions", "value", "value_low", "value_high"]].isna().all().all()
    # The published total minus the visible classes is tiny + mid together, never tiny alone.
    for model, part in result.groupby("model"):
        total = section.totals[model]["conversions"]  # type: ignore[index]
        rest = total - part.loc[~part["suppressed"], "conversions"].sum()
        assert rest == pytest.approx(14.0), model  # tiny (3) + mid (11)
        assert part["suppressed"].sum() >= 2, model
    assert exact.set_index("class")["conversions"]["tiny"] == pytest.approx(3.0)  # the library still has it
    assert section.conversions_without_touch is None  # 2 buyers: withheld
    assert any(note.startswith("Attribution: 2 touchpoint classes hidden") for note in report.notes)

    page = render_html(report)
    html = page[page.index('<section class="attribution"'):]
    html = html[:html.index("</section>")]
    assert re.search(r'<tr class="hidden"><th scope="row">tiny</th><td class="num muted"[^>]*>hidden</td>', html)
    assert "28 purchase conversions worth 2,800" in html  # the total (14 + 11 + 3) is published ...
    tiny = re.search(r"<tr[^>]*><th scope=\"row\">tiny</th>.*?</tr>", html)
    assert tiny is not None
    assert not re.search(r"\d", tiny.group(0))  # ... but no figure of tiny's, in the table
    chart = html[html.index("<svg"):]
    assert ">tiny<" not in chart  # nor in the chart
    assert "had no community touch in the lookback is hidden" in html
    assert "hidden</a> in every model" in html


def test_the_report_shows_every_class_when_none_is_small(tmp_path: Path) -> None:
    from commetrics.reports.build import build_report
    from commetrics.reports.html import render_html

    with Engine.in_memory() as engine:
        _attribution_store(engine, tmp_path, PLAIN, untouched=12)
        report = build_report(engine, as_of=AS_OF)
    [section] = report.attribution
    assert not section.result["suppressed"].any()
    assert section.conversions_without_touch == 12
    assert not any(note.startswith("Attribution") for note in report.notes)
    html = render_html(report)
    html = html[html.index('<section class="attribution"'):]
    assert "badge suppressed" not in html[:html.index("</section>")]
    assert "25 purchase conversions worth 2,500" in html


def test_conversions_without_touch_are_judged_by_people_not_conversions(tmp_path: Path) -> None:
    """One customer with 12 purchases and no community touch: 12 conversions, but one person."""
    ws = _workspace(tmp_path, PLAIN, untouched=1, untouched_buys=12)
    with Engine(ws, read_only=True) as engine:
        exact = engine.attribution("first", outcome="purchase", as_of=AS_OF, exact=True)
    assert exact["conversions_without_touch"] == 12
    payload = json.loads(_cli("attribution", "--outcome", "purchase", "--as-of", "2025-03-31", "--json",
                              "-w", str(ws)))
    assert payload["conversions_without_touch"] is None
    assert payload["value_without_touch"] is None
    assert payload["suppression_applied"] is True
    assert not any(r["suppressed"] for r in payload["models"])  # the classes are large


def test_the_report_judges_conversions_without_touch_by_people_too(tmp_path: Path) -> None:
    from commetrics.reports.build import build_report

    with Engine.in_memory() as engine:
        _attribution_store(engine, tmp_path, PLAIN, untouched=1, untouched_buys=12)
        report = build_report(engine, as_of=AS_OF)
    [section] = report.attribution
    assert section.conversions_without_touch is None


def test_a_total_of_fewer_than_k_people_is_withheld_with_every_class() -> None:
    paths = Paths.from_records([(["a"], 4, 40.0, 3), (["b"], 3, 30.0, 9)])
    out = suppress_attribution(attribute(paths, ["first", "linear"]), K)
    assert out["suppressed"].all()
    assert out.attrs["totals"] is None
    note = attribution_note(out)
    assert "2 touchpoint classes hidden" in note
    assert "The total attributed is withheld too." in note


def test_the_path_file_gets_k_too(tmp_path: Path) -> None:
    path = tmp_path / "paths.csv"
    path.write_text("path,total_conversions,total_conversion_value,total_null\n"
                    "a > b,12,1200,30\nc,11,1100,4\nd,3,300,2\n", encoding="utf-8")
    _cli("init", "-w", str(tmp_path / "ws"))
    payload = json.loads(_cli("attribution", "--paths", str(path), "--model", "linear", "--json",
                              "-w", str(tmp_path / "ws")))
    rows = _by_model(payload["models"])["linear"]
    assert {c for c, r in rows.items() if r["suppressed"]} == {"c", "d"}  # d: 3 journeys; c its partner
    assert rows["a"]["conversions"] == pytest.approx(6.0)
    assert payload["suppression_applied"] is True


# -------------------------------------------------------------------------------------------- community metrics


def _metrics_workspace(tmp_path: Path, activated: int) -> Path:
    directory = tmp_path / "ws"
    members = [[f"m{i}", "2025-01-01"] for i in range(30)]
    activities = [[f"q{i}", f"m{i}", "2025-02-01", "question"] for i in range(20)]
    activities += [[f"v{i}", f"m{i}", "2025-02-02", "vote"] for i in range(30)]
    outcomes = [[f"act{i}", f"m{i}", "2025-02-03", "activation", ""] for i in range(activated)]
    outcomes += [[f"acc{i}", f"m{i}", "2025-02-04", "accepted_answer", ""] for i in range(12)]
    outcomes += [["p1", "m1", "2025-02-05", "purchase", "5000"]]  # one buyer: the revenue is theirs
    with Engine.init(directory) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at"], members), now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                                            activities), now=NOW)
        engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value"],
                                          outcomes), now=NOW)
    return directory


def test_metrics_hide_figures_with_fewer_than_k_people_on_either_side(tmp_path: Path) -> None:
    ws = _metrics_workspace(tmp_path, activated=3)
    payload = json.loads(_cli("metrics", "--as-of", "2025-03-31", "--json", "-w", str(ws)))
    assert payload["min_cell_size"] == K
    assert payload["suppression_applied"] is True
    rows = {r["metric"]: r for r in payload["metrics"]}
    hidden = {m for m, r in rows.items() if r["suppressed"]}
    # activation: 3 people; revenue: 1 buyer; contributor share and contribution ratio: 20 askers of 30
    # active members and 30 voters; accepted answers: 12 askers of 20.
    assert hidden == {"activation_rate", "revenue_per_member[(none)]"}
    for metric in hidden:
        assert all(rows[metric][f] is None for f in ("value", "numerator", "denominator", "numerator_people"))
    assert rows["contributor_share"]["numerator"] == 20
    assert rows["accepted_answer_rate"]["numerator_people"] == 12
    text = _cli("metrics", "--as-of", "2025-03-31", "-w", str(ws))
    assert re.search(r"activation_rate\W+hidden", text)
    assert "5000" not in text
    assert "2 figures hidden to protect groups of fewer than 10 people." in text


def test_metrics_with_no_small_group_hide_nothing(tmp_path: Path) -> None:
    ws = _metrics_workspace(tmp_path, activated=12)
    payload = json.loads(_cli("metrics", "--as-of", "2025-03-31", "--json", "-w", str(ws)))
    rows = {r["metric"]: r for r in payload["metrics"]}
    assert rows["activation_rate"]["suppressed"] is False
    assert rows["activation_rate"]["value"] == pytest.approx(12 / 30)
    assert rows["revenue_per_member[(none)]"]["suppressed"] is True  # still one buyer
    assert {m for m, r in rows.items() if r["suppressed"]} == {"revenue_per_member[(none)]"}


def test_suppress_ratios_counts_both_sides_and_publishes_empty_ones() -> None:
    table = pd.DataFrame({"metric": ["a", "b", "c", "d"], "value": [0.5, 0.0, 0.1, float("nan")],
                          "numerator": [20.0, 0.0, 4.0, 0.0], "denominator": [40.0, 50.0, 40.0, 0.0],
                          "numerator_people": [20, 0, 4, 0], "denominator_people": [40, 50, 6, 0]})
    out = suppress_ratios(table, K)
    assert out["suppressed"].tolist() == [False, False, True, False]  # c: 4 of 6; zeros reveal nobody
    assert "_people" not in out.columns
    assert suppression_note(out, noun="figure") == "1 figure hidden to protect groups of fewer than 10 people."
    assert suppression_note(suppress_ratios(table.iloc[[0, 1, 3]], K), noun="figure") == ""
