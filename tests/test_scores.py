"""Engagement and health scores: hand-computed arithmetic, consent, history, and validation on the demo."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from commetrics import Engine, InputError
from commetrics.config import Config
from commetrics.demo import generate
from commetrics.metrics.scores import _bootstrap_auc, auc, tier_of
from commetrics.score_settings import HealthSettings

from .conftest import NOW, write_csv

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)


def _store(tmp_path: Path, engine: Engine) -> None:
    members = write_csv(tmp_path / "m.csv", ["member_id", "joined_at", "account_id", "consent", "is_staff", "email"], [
        ["m1", "2025-01-01", "A", "true", "false", "one@a.example"],
        ["m2", "2025-01-01", "A", "false", "false", "two@a.example"],
        ["m3", "2025-01-01", "A", "true", "true", "staff@vendor.example"],
        ["m4", "2025-01-01", "B", "", "false", "four@b.example"],
    ])
    activities = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
        ["1", "m1", "2025-06-20", "post"],              # 10 days old, contribution: 3 x 1.0
        ["2", "m1", "2025-06-30", "webinar_attended"],  # today, consumption: 5 x 0.5
        ["3", "m1", "2025-07-05", "referral"],          # after as of: never counts
        ["4", "m2", "2025-04-01", "referral"],          # 90 days old: 8 x 0.5^3
        ["5", "m2", "2025-06-29", "login"],             # worth no points
        ["6", "m3", "2025-06-29", "post"],              # staff: left out
    ])
    accounts = write_csv(tmp_path / "acc.csv", ["account_id", "segment", "seats", "arr", "product_usage",
                                                "support_tickets", "domain"], [
        ["A", "smb", "10", "1000", "80", "2", "a.example"], ["B", "smb", "5", "3000", "40", "", "b.example"]])
    surveys = write_csv(tmp_path / "s.csv", ["response_id", "member_id", "ts", "kind", "score"], [
        ["r1", "m1", "2025-05-01", "nps", "10"], ["r2", "m2", "2025-05-02", "nps", "6"],
        ["r3", "m2", "2023-05-02", "nps", "10"]])  # older than a year: not counted
    for table, path in (("members", members), ("activities", activities), ("accounts", accounts),
                        ("surveys", surveys)):
        engine.load(table, path, now=NOW)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:  # type: ignore[misc]
    with Engine.init(tmp_path / "ws") as e:
        _store(tmp_path, e)
        yield e


def test_member_engagement_by_hand(engine: Engine) -> None:
    scores = engine.scores("members", as_of=AS_OF)
    result = scores["members"]
    m1 = 3 * 0.5 ** (10 / 30) + 5 * 0.5
    assert list(result["member_id"]) == ["m1"]  # m2 declined consent, m4 gave none, m3 is staff
    assert result.loc[0, "score"] == pytest.approx(m1, rel=1e-9)
    assert result.loc[0, "activities"] == 2
    assert bool(result.loc[0, "active"])
    assert result.loc[0, "tier"] == "casual"  # 4.39 >= 3
    assert scores["withheld_without_consent"] == 2
    assert tier_of(50.0, Config().scores.engagement.tiers) == "champion"
    assert tier_of(0.0, Config().scores.engagement.tiers) == "dormant"


def test_account_health_by_hand(engine: Engine) -> None:
    result = engine.scores("accounts", as_of=AS_OF)["accounts"].set_index("account_id")
    a, b = result.loc["A"], result.loc["B"]
    m1 = 3 * 0.5 ** (10 / 30) + 5 * 0.5
    m2 = 8 * 0.5 ** (90 / 30)
    assert a["engagement"] == pytest.approx(m1 + m2)  # consent does not hide a member from aggregates
    assert (a["members"], a["active_members"], a["active_ratio"]) == (2, 1, pytest.approx(0.1))
    community = 100 * (min(1.0, math.log1p(m1 + m2) / math.log1p(50)) + 1.0) / 2  # last activity today
    assert a["community"] == pytest.approx(community)
    # Two smb accounts: mid-percentiles 75 (higher) and 25 (lower); support reverses (B has no ticket count).
    assert (a["product_usage"], b["product_usage"]) == (75.0, 25.0)
    assert (a["commercial"], b["commercial"]) == (25.0, 75.0)
    assert a["support"] == pytest.approx(50.0)  # the only account with a count in its segment
    assert math.isnan(b["support"])
    assert a["relationship"] == pytest.approx((0.0 + 100) / 2)  # one promoter, one detractor: NPS 0
    assert engine.config.scores.health.weights == {"community": 30, "product_usage": 25, "support": 15,
                                                   "relationship": 15, "commercial": 15}  # the weights below
    expected = (30 * community + 25 * 75 + 15 * 50 + 15 * 50 + 15 * 25) / 100
    assert a["health"] == pytest.approx(expected)
    assert a["band"] == ("green" if expected >= 75 else "yellow" if expected >= 50 else "red")
    # B: no members (community 0), no tickets, no answers: renormalised over what is there.
    assert b["community"] == 0.0
    assert b["missing"] == "support, relationship"
    assert b["health"] == pytest.approx((30 * 0 + 25 * 25 + 15 * 75) / (30 + 25 + 15))
    assert b["band"] == "red"
    # Trend: the change since the score 30 days earlier (then only m2's referral, 60 days old, counted).
    before = engine.scores("accounts", as_of=AS_OF - timedelta(days=30))["accounts"].set_index("account_id")
    assert a["trend"] == pytest.approx(a["health"] - before.loc["A", "health"])


def test_snapshots_keep_history_and_show_what_changed(engine: Engine) -> None:
    engine.scores("accounts", as_of=AS_OF - timedelta(days=60), save=True)
    engine.scores("accounts", as_of=AS_OF, save=True)
    engine.scores("accounts", as_of=AS_OF, save=True)  # the same date again replaces, never duplicates
    rows = engine.store.con.execute("select snapshot_date, count(*) from score_snapshots where level = 'account' "
                                    "group by 1 order by 1").fetchall()
    assert [n for _, n in rows] == [2, 2]
    changes = engine.score_changes("accounts", days=30)["changes"]
    before = engine.store.con.execute("select id, label from score_snapshots where snapshot_date = ? "
                                      "order by id", [(AS_OF - timedelta(days=60)).date()]).fetchall()
    now = engine.scores("accounts", as_of=AS_OF)["accounts"].set_index("account_id")["band"]
    expected = sorted(i for i, label in before if label != now[i])
    assert list(changes["id"]) == expected
    details = json.loads(engine.store.con.execute("select details from score_snapshots where id = 'A' "
                                                  "order by snapshot_date desc limit 1").fetchall()[0][0])
    assert set(details) >= {"community", "engagement", "active_members"}


def test_bad_settings_and_too_little_history_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weights"):
        HealthSettings(weights={"community": 1.0, "vibes": 2.0})
    with Engine.init(tmp_path / "empty") as e:
        with pytest.raises(InputError, match="at least 20 decided renewals"):
            e.validate_health(as_of=AS_OF)
        with pytest.raises(InputError, match=r"score level 'people'.*Known: accounts, members"):
            e.scores("people")


def test_auc_known_answers() -> None:
    assert auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auc([1, 2, 3, 4], [True, True, False, False]) == 0.0
    assert auc([1, 1, 1, 1], [True, False, True, False]) == 0.5  # ties count half
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75  # the scikit-learn doc example


def test_bootstrap_auc_is_the_auc_of_each_resample_ranked_afresh() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(8)
    churned = rng.random(400) < 0.15
    risk = np.round(rng.normal(size=400) + churned, 1)  # ties, within and across the groups
    other = rng.normal(size=400)
    draws = _bootstrap_auc([risk, other], churned, 60, seed=3)
    replay = np.random.default_rng(3)  # the same seed: the same resamples, one draw of 400 rows each
    for r in range(60):
        pick = replay.integers(0, 400, 400)
        for j, score in enumerate((risk, other)):
            assert draws[r, j] == pytest.approx(roc_auc_score(churned[pick], score[pick]), abs=1e-12)
    one_sided = _bootstrap_auc([risk], np.zeros(400, dtype=bool), 5, seed=3)
    assert np.isnan(one_sided).all()  # no churned account in a resample: no AUC


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:  # type: ignore[misc]
    directory = tmp_path_factory.mktemp("scores-demo")
    files = generate(40_000, 7, directory / "data")
    with Engine.init(directory / "ws") as engine:
        for name, path in files.tables.items():
            engine.load(name, path, source="demo")
        yield engine


@pytest.mark.slow
def test_demo_health_foresees_churn_and_the_community_component_adds(demo: Engine) -> None:
    result = demo.validate_health(replicates=400)
    assert result["renewals"] > 1000
    assert result["auc_low"] > 0.6  # clearly above chance
    assert result["community_gain_low"] > 0.0  # the planted engagement effect is measurable
    bands = result["bands"].to_dict(orient="records")
    rates = [b["churn_rate"] for b in bands]  # red, yellow, green
    assert rates == sorted(rates, reverse=True)
    assert bands[0]["ci_low"] > bands[1]["ci_high"]  # red clearly above yellow
    assert set(result["learned_weights"]) == set(result["expert_weights"])
    assert sum(result["learned_weights"].values()) == pytest.approx(100.0, abs=0.5)


@pytest.mark.slow
def test_demo_engagement_tiers_follow_activity(demo: Engine) -> None:
    scores = demo.scores("members")
    members = scores["members"]
    by_tier = members.groupby("tier")["activities"].median()
    assert by_tier["champion"] > by_tier["active"] > by_tier["casual"] >= by_tier["dormant"]
    assert len(members) + scores["withheld_without_consent"] == int(
        demo.ibis().table("members").filter(lambda m: ~m.is_staff.fill_null(False)).member_id.nunique().execute())
    assert (pd.Series(members["score"]) >= 0).all()


def test_crm_export_holds_only_members_with_consent(engine: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    engine.close()
    out = tmp_path / "crm"
    result = CliRunner().invoke(app, ["export", "crm", "--target", "hubspot", "--out", str(out), "--as-of",
                                      "2025-06-30", "-w", str(engine.workspace.directory)])
    assert result.exit_code == 0, result.output
    assert "1 contacts with consent, 2 companies; 2 members without consent left out" in result.output
    contacts = (out / "hubspot_contacts.csv").read_text(encoding="utf-8")
    assert "one@a.example" in contacts
    for withheld in ("two@a.example", "four@b.example", "staff@vendor.example"):
        assert withheld not in contacts
    assert "community-casual;community-recent" in contacts
    companies = pd.read_csv(out / "hubspot_companies.csv", dtype=str)
    assert list(companies["commetrics_account_id"]) == ["A", "B"]
    refused = CliRunner().invoke(app, ["export", "crm", "--target", "pipedrive", "-w",
                                       str(engine.workspace.directory)])
    assert refused.exit_code != 0
    assert "hubspot, salesforce" in refused.output


def test_crm_push_from_the_command_line_sends_consenting_members_once(engine: Engine, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    from .test_crm import TOKEN, FakeCrm

    engine.close()
    fake = FakeCrm("hubspot")
    try:
        monkeypatch.setenv("COMMETRICS_CRM_TOKEN", TOKEN)
        args = ["export", "crm", "--target", "hubspot", "--out", str(tmp_path / "crm"), "--push", "--url", fake.url,
                "--as-of", "2025-06-30", "-w", str(engine.workspace.directory)]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "Pushed 1 contacts and 2 companies" in first.output
        assert set(fake.records["contacts"]) == {"one@a.example"}
        assert set(fake.records["companies"]) == {"A", "B"}
        again = CliRunner().invoke(app, args)  # the journal in the workspace: nothing is sent twice
        assert again.exit_code == 0, again.output
        assert "already sent" in again.output
        assert set(fake.effective.values()) == {1}
        monkeypatch.delenv("COMMETRICS_CRM_TOKEN")
        missing = CliRunner().invoke(app, args)
        assert missing.exit_code != 0
        assert "COMMETRICS_CRM_TOKEN" in missing.output
    finally:
        fake.close()


def test_roll_up_at_many_instants_equals_one_instant_at_a_time(engine: Engine) -> None:
    # Validation rolls up at many instants in one join; today's scores use one constant-clock query per
    # instant. Both must give the same numbers.
    from commetrics.metrics.scores import FEW_INSTANTS, account_health

    settings = engine.config.scores
    instants = [AS_OF - timedelta(days=d) for d in (0, 5, 20, 40, 61, 95)]
    assert len(instants) > FEW_INSTANTS
    many = pd.DataFrame({"account_id": ["A", "B"] * len(instants), "t": [t for t in instants for _ in "AB"]})
    together = account_health(engine.ibis(), settings.engagement, settings.health, many)
    for t in instants:
        alone = account_health(engine.ibis(), settings.engagement, settings.health,
                               pd.DataFrame({"account_id": ["A", "B"], "t": [t, t]}))
        part = together[together["t"] == pd.Timestamp(t)]
        for column in ("engagement", "active_members", "community", "health"):
            assert part[column].to_numpy() == pytest.approx(alone[column].to_numpy(), rel=1e-12, nan_ok=True), column
