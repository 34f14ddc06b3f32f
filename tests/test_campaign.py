"""Community-targeted campaigns: difference-in-differences from the store, with planted effects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from commetrics import Engine, InputError

from .conftest import write_csv

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def _store(tmp_path: Path, *, effect: float, pre_trend: float = 0.0, seed: int = 0, accounts: int = 240,
           workspace: Path | None = None) -> Engine:
    """Accounts with monthly expansion values through 2025; a third reached by the campaign in two
    waves (March and June 2025). Reached accounts gain ``effect`` per month from their start on, and
    drift upward by ``pre_trend`` per month before it (a planted parallel-trends violation)."""
    rng = np.random.default_rng(seed)
    ids = [f"a{i:03d}" for i in range(accounts)]
    reached = {a: (3 if i % 2 else 6) for i, a in enumerate(ids) if i % 3 == 0}  # start month (1-12) of 2025
    level = rng.normal(100, 20, accounts)
    rows, outcome = [], 0
    for i, account in enumerate(ids):
        for month in range(1, 13):
            value = level[i] + 2.0 * month + rng.normal(0, 5)
            start = reached.get(account)
            if start is not None:
                value += effect if month >= start else pre_trend * (month - start)
            outcome += 1
            # amounts are exact to the cent: the loader quarantines a third decimal rather than rounding it
            rows.append([f"o{outcome}", account, f"2025-{month:02d}-15", "upgrade", f"{value:.2f}", "EUR"])
    engine = Engine.init(workspace) if workspace else Engine.in_memory()
    engine.load("accounts", write_csv(tmp_path / "accounts.csv", ["account_id", "name"],
                                      [[a, a.upper()] for a in ids]))
    loaded = engine.load("outcomes", write_csv(tmp_path / "outcomes.csv",
                                               ["outcome_id", "account_id", "ts", "type", "value", "currency"], rows))
    assert loaded.rows_loaded == len(rows), "every planted outcome must load, or the panel is not the one planted"
    waves = [["advocacy", a, "community", f"2025-{m:02d}-01"] for a, m in reached.items()]
    engine.load("experiments", write_csv(tmp_path / "experiments.csv",
                                         ["experiment", "unit_id", "variant", "exposed_at"], waves))
    return engine


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_planted_campaign_effect_is_recovered_and_trends_look_parallel(tmp_path: Path, seed: int) -> None:
    with _store(tmp_path, effect=15.0, seed=seed) as engine:
        result = engine.impact("campaign", experiment="advocacy", as_of=AS_OF, pre_months=2, post_months=3)
    assert result["accounts_reached"] == 80
    assert result["accounts_compared"] == 160  # every account the campaign did not reach
    assert result["cohorts"] == 2
    for key in ("did", "event_study"):
        assert result[key]["ci_low"] < 15.0 < result[key]["ci_high"], key
    curve = result["event_times"].set_index("event_time")
    assert curve.loc[-1, "estimate"] == 0  # the reference month
    assert abs(curve.loc[-2, "estimate"]) < 5  # no planted pre-trend
    assert result["parallel_trends_ok"] is not False
    assert result["headline"]
    assert result["guards"] == []
    assert result["months"] == "2025-01 to 2025-09"  # two months before the first start to three after the last


def test_a_planted_pre_trend_is_flagged(tmp_path: Path) -> None:
    with _store(tmp_path, effect=0.0, pre_trend=4.0) as engine:
        result = engine.impact("campaign", experiment="advocacy", as_of=AS_OF, pre_months=2, post_months=3)
    assert result["parallel_trends_ok"] is False
    assert result["pre_trend"]["p"] < 0.05
    assert result["wording"].startswith("not credible")
    assert not result["headline"]  # no difference-in-differences is shown as an answer
    assert [g["name"] for g in result["guards"]] == ["parallel_trends"]


def test_campaign_input_errors_say_what_to_do(tmp_path: Path) -> None:
    with _store(tmp_path, effect=0.0, accounts=12) as engine:
        with pytest.raises(InputError, match="No accounts are assigned to campaign 'nope'"):
            engine.impact("campaign", experiment="nope", as_of=AS_OF)
        with pytest.raises(InputError, match="has no variant 'holdout'"):
            engine.impact("campaign", experiment="advocacy", as_of=AS_OF, control="holdout")
        with pytest.raises(InputError, match="at least 5 reached"):
            engine.impact("campaign", experiment="advocacy", as_of=AS_OF)  # 4 reached accounts
        with pytest.raises(InputError, match="value or count"):
            engine.impact("campaign", experiment="advocacy", as_of=AS_OF, measure="mean")


def test_the_command_prints_both_estimates_and_the_trend_check(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from commetrics.cli import app

    _store(tmp_path, effect=15.0, seed=4, workspace=tmp_path / "ws").close()
    runner = CliRunner()
    base = ["impact", "campaign", "--name", "advocacy", "--pre", "2", "--post", "3", "--as-of", "2026-01-01",
            "-w", str(tmp_path / "ws")]
    shown = runner.invoke(app, base)
    assert shown.exit_code == 0, shown.output
    assert "80 accounts reached (2 start months) against 160" in shown.output
    assert "Two-way fixed-effects DiD: +1" in shown.output
    assert "moved in parallel" in shown.output
    payload = json.loads(runner.invoke(app, [*base, "--json"]).output)
    assert payload["event_times"][0]["event_time"] == -2
    missing = runner.invoke(app, ["impact", "campaign", "--name", "none", "-w", str(tmp_path / "ws")])
    assert missing.exit_code == 2
    assert "No accounts are assigned to campaign 'none'" in missing.output
