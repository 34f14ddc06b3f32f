"""The questions users asked next: cohorts by any attribute and bands, the median over every converter, and the
impact of a static flag — each against counts worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commetrics import Engine
from commetrics.errors import InputError, UnknownNameError

from .conftest import NOW, write_csv

AS_OF = datetime(2025, 12, 31, tzinfo=UTC)
JOIN = datetime(2025, 1, 1, tzinfo=UTC)


def _day(days: float) -> str:
    return (JOIN + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _engine(tmp_path: Path, members: list[list[str]], outcomes: list[list[str]],
            accounts: list[list[str]] | None = None) -> Engine:
    engine = Engine.in_memory()
    if accounts:
        engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "arr", "contract"], accounts), now=NOW)
    engine.load("members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id", "plan", "referred"],
                                     members), now=NOW)
    engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type"], outcomes),
                now=NOW)
    return engine


def test_median_time_over_every_converter_does_not_depend_on_the_windows(tmp_path: Path) -> None:
    # Four members joined on 1 January; trials 5, 20, 100 and 200 days later: the median within the longest
    # window is that of 5 (7 days), of 5 and 20 (90 days), of 5, 20 and 100 (150 days); over all of them 60.
    members = [[f"m{i}", _day(0), "", "free", "no"] for i in range(4)]
    outcomes = [[f"o{i}", f"m{i}", _day(d), "trial_start"] for i, d in enumerate((5, 20, 100, 200))]
    with _engine(tmp_path, members, outcomes) as engine:
        for windows, within in (([7], 5.0), ([90], 12.5), ([30, 150], 20.0)):
            timing = engine.conversion(outcome="trial_start", windows=windows, as_of=AS_OF, exact=True)[
                "time_to_conversion"].iloc[0]
            assert timing["median_days_converters"] == pytest.approx(within)  # changes with the longest window
            assert timing["median_days_all_converters"] == pytest.approx(60.0)  # (20 + 100) / 2, always
            assert timing["all_converters"] == 4
        published = engine.conversion(outcome="trial_start", windows=[90], as_of=AS_OF)["time_to_conversion"]
        assert published["all_converters"].isna().all()  # 4 people: fewer than privacy.min_cell_size


def test_cohorts_by_a_member_attribute_and_bands_of_an_account_attribute(tmp_path: Path) -> None:
    accounts = [["a1", "5000", "monthly"], ["a2", "50000", "annual"], ["a3", "", "annual"]]
    members, outcomes = [], []
    # 12 members per account; plan alternates; members of a1 convert 6, of a2 3, of a3 0 within 30 days.
    for a, converting in (("a1", 6), ("a2", 3), ("a3", 0)):
        for i in range(12):
            member = f"{a}m{i}"
            members.append([member, _day(0), a, "pro" if i % 2 else "free", "no"])
            if i < converting:
                outcomes.append([f"o{member}", member, _day(10), "trial_start"])
    with _engine(tmp_path, members, outcomes, accounts) as engine:
        bands = engine.conversion(outcome="trial_start", windows=[30], by=["arr:10000"], as_of=AS_OF,
                                  exact=True)["rates"].set_index("cohort")
        assert bands.loc["< 10000", ["eligible", "converters"]].tolist() == [12, 6]
        assert bands.loc[">= 10000", ["eligible", "converters"]].tolist() == [12, 3]
        assert bands.loc["unknown", ["eligible", "converters"]].tolist() == [12, 0]
        by_plan = engine.conversion(outcome="trial_start", windows=[30], by=["plan", "contract"], as_of=AS_OF,
                                    exact=True)["rates"].set_index("cohort")
        # plan is a member attribute, contract an account one: free members are i = 0, 2, 4 ... (converting first)
        assert by_plan.loc["free / monthly", ["eligible", "converters"]].tolist() == [6, 3]
        assert by_plan.loc["pro / annual", ["eligible", "converters"]].tolist() == [12, 1]
        with pytest.raises(UnknownNameError, match=r"Unknown cohort key 'plna'.*Did you mean 'plan'"):
            engine.conversion(outcome="trial_start", by=["plna"], as_of=AS_OF)
        with pytest.raises(InputError, match="bands are NAME:CUT"):
            engine.conversion(outcome="trial_start", by=["arr:lots"], as_of=AS_OF)


def test_impact_of_a_static_flag(tmp_path: Path) -> None:
    # 60 members joined in January; the 20 referred ones (referred = "Yes") buy after the landmark far more often.
    members = [[f"m{i}", _day(i % 20), "", "free", "Yes" if i < 20 else "no"] for i in range(60)]
    buyers = [i for i in range(60) if (i < 20 and i % 2 == 0) or (i >= 20 and i % 8 == 0)]
    outcomes = [[f"o{i}", f"m{i}", (AS_OF - timedelta(days=10)).strftime("%Y-%m-%d"), "purchase"] for i in buyers]
    with _engine(tmp_path, members, outcomes) as engine:
        result = engine.impact("exposure", exposure="referred=yes", outcome="purchase", as_of=AS_OF, exact=True)
        assert result["exposed"] == 20
        assert result["rate_exposed"] == pytest.approx(10 / 20)
        assert result["rate_unexposed"] == pytest.approx(5 / 40)
        assert result["raw"]["difference"] == pytest.approx(0.5 - 0.125)
        with pytest.raises(UnknownNameError, match="Did you mean 'referred'"):
            engine.impact("exposure", exposure="refered=yes", outcome="purchase", as_of=AS_OF)
        with pytest.raises(InputError, match="No eligible member has referred=maybe"):
            engine.impact("exposure", exposure="referred=maybe", outcome="purchase", as_of=AS_OF)
