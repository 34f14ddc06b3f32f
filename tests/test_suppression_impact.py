"""Small-cell suppression on the impact analyses of people: ``impact nps``, ``csat``, ``exposure`` and ``experiment``.

Each store has one level, group or variant of fewer than k = 10 people next to the same store without it,
where nothing may be hidden: every test can fail both ways. The analyses themselves stay exact in the
Engine; only the printed and JSON outputs are suppressed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.privacy.outputs import suppress_exposure, suppress_survey

from .conftest import NOW, write_csv

K = 10
AS_OF = "2025-06-30"
#: activities before the answer that put a member in each participation level (none 0, low 1, medium 5, high 15)
LEVEL_ACTIVITIES = {"none": 0, "low": 1, "medium": 5, "high": 15}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _json(*args: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(_cli(*args, "--json"))
    return payload


def _rows(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in records}


# -------------------------------------------------------------------------------------------- NPS and CSAT


def _survey_workspace(tmp_path: Path, per_level: dict[str, int], *, answers_each: int = 1) -> Path:
    """``per_level``: members per participation level; each gives ``answers_each`` NPS and CSAT answers on
    2025-06-01 after their level's number of activities in April (the same members fill the response table)."""
    members, activities, surveys = [], [], []
    for level, n in per_level.items():
        for i in range(n):
            member = f"{level}-{i}"
            members.append([member, f"2024-{1 + i % 12:02d}-01"])  # tenures differ (the ordinal model's control)
            activities += [[f"a-{member}-{j}", member, "2025-04-10", "post"] for j in range(LEVEL_ACTIVITIES[level])]
            for j in range(answers_each):
                day = f"2025-06-{1 + j:02d}"
                surveys.append([f"n-{member}-{j}", member, day, "nps", str((i * 3 + j) % 11)])
                surveys.append([f"c-{member}-{j}", member, day, "csat", str(1 + (i + j) % 5)])
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at"], members), now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                                            activities), now=NOW)
        engine.load("surveys", write_csv(tmp_path / "s.csv", ["response_id", "member_id", "ts", "kind", "score"],
                                         surveys), now=NOW)
    return directory


@pytest.fixture(scope="module")
def small_level(tmp_path_factory: pytest.TempPathFactory) -> str:
    """High participation: 3 members (the NPS and CSAT tests share the store)."""
    return str(_survey_workspace(tmp_path_factory.mktemp("surveys"), {"none": 20, "low": 14, "medium": 11, "high": 3}))


@pytest.mark.parametrize("kind", ["nps", "csat"])
def test_a_small_level_is_hidden_with_a_partner_in_json_and_text(small_level: str, kind: str) -> None:
    ws = small_level
    payload = _json("impact", kind, "--as-of", AS_OF, "-w", ws)
    assert payload["min_cell_size"] == K
    assert payload["suppression_applied"] is True
    levels = _rows(payload["levels"], "level")
    # high: 3 answers; the total of 48 answers is printed, so the smallest other level (medium) goes too.
    assert {name for name, r in levels.items() if r["suppressed"]} == {"high", "medium"}
    for name in ("high", "medium"):
        assert all(levels[name][c] is None for c in ("answers", kind, "ci_low", "ci_high"))
    assert (levels["none"]["answers"], levels["low"]["answers"]) == (20, 14)
    assert levels["none"][kind] is not None
    response = _rows(payload["response"], "level")
    assert {name for name, r in response.items() if r["suppressed"]} == {"high", "medium"}
    assert response["high"]["members"] is None
    assert response["high"]["response_rate"] is None
    assert response["low"]["members"] == 14
    assert payload["answers"] == 48  # the total stays: with two levels hidden it gives neither away
    assert payload["spearman"] is not None
    assert payload["ordinal"] is not None
    # Engaged vs other members regroups the levels (medium and high are engaged): withheld beside hidden levels.
    assert payload["withheld"] == ["comparison"]
    assert payload["comparison"] is None

    text = _cli("impact", kind, "--as-of", AS_OF, "-w", ws)
    assert len(re.findall(r"high\W+hidden", text)) == 2  # the scores and the response table
    assert len(re.findall(r"medium\W+hidden", text)) == 2
    assert re.search(r"low\W+14\b", text)
    assert ("2 levels hidden in the scores to protect groups of fewer than 10 people (1 of them only so that "
            "totals do not reveal the others).") in text
    assert "Spearman correlation" in text
    assert "over 48 answers of 48 members" in text
    assert "The comparison of engaged and other members is withheld" in text
    assert "Who the answer describes" not in text


def test_no_small_level_hides_nothing(tmp_path: Path) -> None:
    ws = str(_survey_workspace(tmp_path, {"none": 20, "low": 14, "medium": 11, "high": 12}))
    payload = _json("impact", "nps", "--as-of", AS_OF, "-w", ws)
    assert payload["suppression_applied"] is False
    assert payload["min_cell_size"] == K
    levels = _rows(payload["levels"], "level")
    assert not any(r["suppressed"] for r in levels.values())
    assert [levels[n]["answers"] for n in ("none", "low", "medium", "high")] == [20, 14, 11, 12]
    assert not any(r["suppressed"] for r in payload["response"])
    text = _cli("impact", "nps", "--as-of", AS_OF, "-w", ws)
    assert "suppressed" not in text
    assert "hidden" not in text
    assert re.search(r"high\W+12\b", text)


def test_answers_of_fewer_than_k_members_withhold_every_figure(tmp_path: Path) -> None:
    # 9 members give 5 answers each: every level has 15 answers, but all of them come from 9 people.
    ws = str(_survey_workspace(tmp_path, {"none": 3, "low": 3, "medium": 3}, answers_each=5))
    payload = _json("impact", "nps", "--as-of", AS_OF, "-w", ws)
    assert payload["suppression_applied"] is True
    levels = _rows(payload["levels"], "level")
    assert levels["none"]["suppressed"]
    assert levels["low"]["suppressed"]
    assert levels["medium"]["suppressed"]
    assert levels["none"]["nps"] is None
    assert levels["high"] == {**levels["high"], "answers": 0, "suppressed": False}  # empty: reveals nobody
    assert set(payload["withheld"]) == {"answers", "members", "spearman", "ordinal", "comparison"}
    assert all(payload[key] is None for key in payload["withheld"])
    text = _cli("impact", "nps", "--as-of", AS_OF, "-w", ws)
    assert "Spearman" not in text
    assert "Ordinal logit" not in text
    assert "the answers come from fewer than 10 members" in text


# -------------------------------------------------------------------------------------------- exposure


def _exposure_workspace(tmp_path: Path, exposed: int, unexposed: int) -> Path:
    """Members who joined at different times; ``exposed`` of them attended a webinar in April, every third
    of each group booked a demo in June (the window after the landmark 2025-05-31)."""
    members, activities, outcomes = [], [], []
    for group, n in (("x", exposed), ("u", unexposed)):
        for i in range(n):
            member = f"{group}-{i}"
            members.append([member, f"2024-{1 + i % 12:02d}-{1 + (i * 7) % 27:02d}"])
            activities += [[f"p-{member}-{j}", member, "2024-12-01", "post"] for j in range(1 + i % 3)]
            if group == "x":
                activities.append([f"w-{member}", member, "2025-04-15", "webinar_attended"])
            if i % 3 == 0:
                outcomes.append([f"o-{member}", member, "2025-06-10", "demo_request"])
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at"], members), now=NOW)
        engine.load("activities", write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                                            activities), now=NOW)
        engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], outcomes),
                    now=NOW)
    return directory


EXPOSURE = ("impact", "exposure", "--exposure", "webinar_attended", "--outcome", "demo_request", "--as-of", AS_OF)


def test_a_small_exposed_group_hides_both_groups_and_withholds_the_comparison(tmp_path: Path) -> None:
    ws = str(_exposure_workspace(tmp_path, exposed=5, unexposed=45))
    payload = _json(*EXPOSURE, "-w", ws)
    assert payload["min_cell_size"] == K
    assert payload["suppression_applied"] is True
    assert payload["members"] == 50  # the total stays; the unexposed group (50 - 5) is hidden beside the small one
    for key in ("exposed", "rate_exposed", "rate_unexposed", "raw", "adjusted", "headline", "guards", "population",
                "ipw", "matched", "balance", "overlap", "ess", "sensitivity", "e_value"):
        assert payload[key] is None, key
        assert key in payload["withheld"]
    text = _cli(*EXPOSURE, "-w", ws)
    assert "50 eligible members (how many had webinar_attended in the 90 days before the landmark is hidden)" \
        in text
    assert "rate: exposed hidden, not exposed hidden" in text
    assert "45" not in text
    assert "adjusted   " not in text
    assert "Who the answer describes" not in text
    assert "Balance" not in text
    assert "2 groups hidden to protect groups of fewer than 10 people (1 of them only so that totals do not " \
           "reveal the others)." in text
    assert "is withheld: it rests on a group of fewer than 10 people." in text


def test_exposure_groups_of_k_or_more_are_shown_whole(tmp_path: Path) -> None:
    ws = str(_exposure_workspace(tmp_path, exposed=15, unexposed=45))
    payload = _json(*EXPOSURE, "-w", ws)
    assert payload["suppression_applied"] is False
    assert payload["withheld"] == []
    assert (payload["members"], payload["exposed"]) == (60, 15)
    assert payload["rate_exposed"] == pytest.approx(5 / 15)
    assert payload["adjusted"]["estimate"] is not None
    assert payload["balance"]
    text = _cli(*EXPOSURE, "-w", ws)
    assert "60 eligible members, 15 with webinar_attended" in text
    assert "  adjusted   " in text
    assert "Who the answer describes: the 15 exposed members" in text
    assert "Balance" in text
    assert "suppressed" not in text
    assert "hidden" not in text
    assert "withheld" not in text


def test_exposure_over_fewer_than_k_members_withholds_the_total_too() -> None:
    result = {"members": 45, "exposed": 20, "rate_exposed": 0.5, "rate_unexposed": 0.2, "raw": {}, "adjusted": {},
              "ipw": {}, "balance": pd.DataFrame({"covariate": ["tenure_days"], "smd_before": [0.1]}),
              "overlap": {}, "ess": {}}
    published, publication = suppress_exposure(result, 50)
    assert published["members"] is None
    assert published["exposed"] is None
    assert publication.withheld[0] == "members"
    assert "withheld" in publication.note
    untouched, nothing = suppress_exposure(result, 10)
    assert nothing.note == ""
    assert untouched["exposed"] == 20
    assert untouched["balance"] is result["balance"]


# -------------------------------------------------------------------------------------------- experiments


def _experiment_workspace(tmp_path: Path, variants: dict[str, int], *, late: dict[str, int] | None = None) -> Path:
    """``variants``: units per variant exposed on 2025-05-01 (every third activates within the 14-day window);
    ``late``: units exposed on 2025-06-25, whose window has not elapsed by 2025-06-30 (assigned, not analysed)."""
    rows, outcomes = [], []
    for variant, n in variants.items():
        for i in range(n):
            unit = f"{variant}-{i}"
            rows.append(["welcome", unit, variant, "2025-05-01"])
            if i % 3 == 0:
                outcomes.append([f"o-{unit}", unit, "2025-05-05", "activation"])
    for variant, n in (late or {}).items():
        rows += [["welcome", f"{variant}-late-{i}", variant, "2025-06-25"] for i in range(n)]
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        engine.load("experiments", write_csv(tmp_path / "e.csv", ["experiment", "unit_id", "variant", "exposed_at"],
                                             rows), now=NOW)
        engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], outcomes),
                    now=NOW)
    return directory


EXPERIMENT = ("impact", "experiment", "--name", "welcome", "--outcome", "activation", "--window", "14",
              "--as-of", AS_OF)


def test_a_small_variant_is_hidden_with_every_comparison_of_it(tmp_path: Path) -> None:
    ws = str(_experiment_workspace(tmp_path, {"control": 30, "treatment": 24, "variant-b": 3}))
    payload = _json(*EXPERIMENT, "-w", ws)
    assert payload["min_cell_size"] == K
    assert payload["suppression_applied"] is True
    variants = _rows(payload["variants"], "variant")
    assert {v for v, r in variants.items() if r["suppressed"]} == {"variant-b"}
    assert all(variants["variant-b"][c] is None for c in ("assigned", "analysed", "converted", "rate", "ci_low"))
    assert (variants["control"]["analysed"], variants["treatment"]["converted"]) == (30, 8)
    comparisons = _rows(payload["comparisons"], "variant")
    assert comparisons["variant-b"]["suppressed"]
    assert comparisons["variant-b"]["difference"] is None
    assert comparisons["variant-b"]["p_holm"] is None
    assert not comparisons["treatment"]["suppressed"]
    assert comparisons["treatment"]["difference"] == pytest.approx(8 / 24 - 10 / 30)
    assert payload["srm"]["counts"] == {"control": 30, "treatment": 24, "variant-b": None}
    assert payload["srm"]["chi2"] is None
    assert payload["srm"]["p"] is None
    assert payload["srm"]["mismatch"] in (True, False)
    assert payload["minimum_detectable_effect"] is not None  # the control is shown: it stays
    assert payload["withheld"] == ["srm.chi2", "srm.p"]

    text = _cli(*EXPERIMENT, "-w", ws)
    assert "variant-b: hidden" in text
    assert "control: 30" in text
    assert "chi-square withheld" in text
    assert re.search(r"variant-b\W+│\W+hidden", text)  # the rates table
    assert re.search(r"variant-b\W+control\W+hidden", text)  # the comparison against the control
    assert "1 variant hidden in every outcome to protect groups of fewer than 10 people." in text
    assert "Comparisons with a hidden variant and the sample-ratio chi-square are withheld." in text


def test_a_variant_with_few_analysed_units_is_hidden_and_a_small_control_withholds_the_mde(tmp_path: Path) -> None:
    # control: 20 assigned but 17 of them exposed too late to be analysed, so its rate comes from 3 units.
    ws = str(_experiment_workspace(tmp_path, {"control": 3, "treatment": 20}, late={"control": 17}))
    payload = _json(*EXPERIMENT, "-w", ws)
    variants = _rows(payload["variants"], "variant")
    assert variants["control"]["suppressed"]
    assert variants["control"]["rate"] is None
    assert variants["treatment"]["analysed"] == 20
    assert all(r["suppressed"] for r in payload["comparisons"])  # every comparison is against the control
    assert payload["minimum_detectable_effect"] is None
    assert "minimum_detectable_effect" in payload["withheld"]
    text = _cli(*EXPERIMENT, "-w", ws)
    assert "effect at this size (80% power, 5% two-sided): withheld." in text


def test_variants_of_k_or_more_hide_nothing(tmp_path: Path) -> None:
    ws = str(_experiment_workspace(tmp_path, {"control": 30, "treatment": 24}))
    payload = _json(*EXPERIMENT, "-w", ws)
    assert payload["suppression_applied"] is False
    assert payload["withheld"] == []
    assert not any(r["suppressed"] for r in payload["variants"] + payload["comparisons"])
    assert payload["srm"]["counts"] == {"control": 30, "treatment": 24}
    assert payload["srm"]["p"] is not None
    text = _cli(*EXPERIMENT, "-w", ws)
    assert "suppressed" not in text
    assert "hidden" not in text
    assert "withheld" not in text
    assert "chi-square p =" in text


# -------------------------------------------------------------------------------------------- the helpers


def test_survey_helper_leaves_the_engine_result_exact() -> None:
    levels = pd.DataFrame({"level": ["none", "low", "medium", "high"], "answers": [20, 14, 11, 3],
                           "nps": [1.0, 2.0, 3.0, 4.0], "se": [0.1] * 4, "ci_low": [0.0] * 4, "ci_high": [5.0] * 4})
    response = pd.DataFrame({"level": ["none", "low", "medium", "high"], "members": [20, 14, 11, 12],
                             "answered": [5, 5, 5, 5], "response_rate": [0.25, 5 / 14, 5 / 11, 5 / 12],
                             "ci_low": [0.1] * 4, "ci_high": [0.9] * 4})
    result = {"levels": levels, "response": response, "answers": 48, "members": 48, "spearman": {"rho": 0.1},
              "ordinal": {"odds_ratio": 1.2}}
    published, publication = suppress_survey(result, K)
    assert list(published["levels"]["suppressed"]) == [False, False, True, True]
    assert not published["response"]["suppressed"].any()
    assert list(result["levels"]["answers"]) == [20, 14, 11, 3]  # the input is not touched
    assert publication.note.startswith("2 levels hidden in the scores")
