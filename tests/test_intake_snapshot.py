"""Snapshots: "tenure + churned flag as of a date" into subscriptions, and retention and renewal on them.

The retention curve is checked against lifelines' Kaplan-Meier estimate on durations computed here
with pandas' calendar months (peer libraries), the renewal counts against the flags of the file.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Engine, InputError

from .conftest import NOW, load, write_csv

AS_OF = date(2024, 6, 30)


def test_a_snapshot_becomes_one_renewal_decision_per_customer(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "telco.csv", ["customerID", "tenure", "Churn", "MonthlyCharges"], [
        ["7590-VHVEG", "1", "No", "29.85"], ["5575-GNVDE", "34", "No", "56.95"], ["3668-QPYBK", "2", "Yes", "53.85"],
        ["9237-HQITU", "0", "Yes", "70.70"], ["1452-KIOVK", "x", "No", "89.10"], ["6713-OKOMC", "10", "", "29.75"]])
    report = load(engine, "subscriptions", path, snapshot_as_of=AS_OF, mapping={"account_id": "customerID"})
    assert (report.rows_loaded, report.reasons) == (4, {"bad_number": 1, "missing_value": 1})
    rows = engine.store.con.execute(
        "select account_id, strftime(period_start, '%Y-%m-%d'), strftime(period_end, '%Y-%m-%d'), renewed "
        "from subscriptions order by account_id").fetchall()
    assert rows == [("3668-QPYBK", "2024-04-30", "2024-06-30", False), ("5575-GNVDE", "2021-08-30", "2024-06-30", True),
                    ("7590-VHVEG", "2024-05-30", "2024-06-30", True), ("9237-HQITU", "2024-06-30", "2024-06-30", False)]
    assert set(engine.quarantine()["column_name"]) == {"tenure_months", "churned"}


def test_tenure_in_days_and_the_zone_of_the_as_of_date(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["account_id", "days_active", "left"], [["a1", "45", "true"]])
    load(engine, "subscriptions", path, snapshot_as_of=AS_OF, timezone="Europe/Berlin",
         mapping={"tenure_days": "days_active", "churned": "left"})
    row = engine.table("subscriptions").iloc[0]
    assert row["period_end"] == pd.Timestamp("2024-06-29T22:00Z")  # midnight in Berlin (CEST)
    assert row["period_end"] - row["period_start"] == pd.Timedelta(days=45)
    assert not row["renewed"]


def test_snapshot_mistakes_are_clear(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["account_id", "churned", "tenure_months", "tenure_days"],
                     [["a1", "no", "3", "90"]])
    with pytest.raises(InputError, match="not both"):
        engine.load("subscriptions", path, now=NOW, snapshot_as_of=AS_OF)
    path = write_csv(tmp_path / "t.csv", ["account_id", "churned"], [["a1", "no"]])
    with pytest.raises(InputError, match="--map tenure_months="):
        engine.load("subscriptions", path, now=NOW, snapshot_as_of=AS_OF)
    with pytest.raises(InputError, match="subscriptions snapshot"):
        engine.load("members", path, now=NOW, snapshot_as_of=AS_OF)
    path = write_csv(tmp_path / "u.csv", ["account_id", "tenure", "churn", "period_end"], [["a1", "3", "no", "2024"]])
    with pytest.raises(InputError, match="computed from the snapshot"):
        engine.load("subscriptions", path, now=NOW, snapshot_as_of=AS_OF, mapping={"period_start": "period_end"})


def test_retention_and_renewal_work_on_a_snapshot(engine: Engine, tmp_path: Path) -> None:
    from lifelines import KaplanMeierFitter

    rng = random.Random(15)
    # tenures of 13 months or more: every landmark lies before the activities, so retention has one level
    customers = [(f"c{i}", rng.randint(13, 72), rng.random() < 0.3) for i in range(150)]
    load(engine, "subscriptions", write_csv(tmp_path / "telco.csv", ["customerID", "tenure", "Churn"],
                                            [[c, str(t), "Yes" if churn else "No"] for c, t, churn in customers]),
         snapshot_as_of=AS_OF, mapping={"account_id": "customerID"})
    load(engine, "accounts", write_csv(tmp_path / "a.csv", ["account_id", "arr", "segment", "product_usage"],
                                       [[c, str(rng.randint(1_000, 50_000)), rng.choice(["smb", "enterprise"]),
                                         str(rng.randint(1, 100))] for c, _, _ in customers]))
    # Half the customers take part in the exposure window before the as-of date (renewal compares them).
    load(engine, "members", write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id"],
                                      [[f"u-{c}", "2020-01-01", c] for c, _, _ in customers]))
    load(engine, "activities", write_csv(tmp_path / "act.csv", ["member_id", "ts", "type"],
                                         [[f"u-{c}", f"2024-02-{1 + k:02d}", "post"]
                                          for c, _, _ in customers[::2] for k in range(6)]))
    as_of = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)
    retention = engine.impact("retention", as_of=as_of, exact=True)
    # Durations from the landmark (exposure_start_days after the start) to the as-of date, as pandas counts months
    landmark = engine.config.impact.exposure_start_days
    end = pd.Timestamp(AS_OF)
    days = [((end - (end - pd.DateOffset(months=t))).days - landmark, churn) for _, t, churn in customers]
    kept = [(d, c) for d, c in days if d >= 0]
    fitter = KaplanMeierFitter().fit([d for d, _ in kept], [c for _, c in kept])
    levels = retention["levels"].set_index("level")
    assert levels.loc["none", "accounts"] == len(kept)
    assert levels.loc["none", "retained_365d"] == pytest.approx(float(fitter.survival_function_at_times(365).iloc[0]))
    renewal = engine.impact("renewal", as_of=as_of, exact=True)["levels"]
    assert int(renewal["renewals"].sum()) == len(customers)
    assert int(renewal["renewed"].sum()) == sum(not churn for _, _, churn in customers)
