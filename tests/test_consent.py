"""CON-1: every person-level output lists only members with consent = true (missing counts as no).

The list below is the registry of person-level outputs: a new one joins it, or this test's
reviewer asks why not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd

from commetrics import Engine

from .conftest import NOW, write_csv

CONSENT = {"m-yes": "true", "m-no": "false", "m-unknown": ""}


def _engine(tmp_path: Path) -> Engine:
    engine = Engine.init(tmp_path / "ws")
    engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "name", "arr"], [["acc1", "Acme", "1000"]]))
    engine.load("members", write_csv(tmp_path / "m.csv",
                                     ["member_id", "email", "joined_at", "consent", "account_id"],
                                     [[m, f"{m}@acme.io", "2026-01-01", c, "acc1"] for m, c in CONSENT.items()]))
    rows = []
    for m in CONSENT:
        for day in range(1, 40):
            rows.append([f"{m}-{day}", m, (NOW - timedelta(days=day)).date().isoformat(),
                         "feedback_submitted" if day == 30 else "post"])
    engine.load("activities", write_csv(tmp_path / "act.csv", ["activity_id", "member_id", "ts", "type"], rows))
    engine.load("outcomes", write_csv(tmp_path / "o.csv", ["outcome_id", "account_id", "ts", "type", "value"],
                                      [["o1", "acc1", (NOW - timedelta(days=5)).date().isoformat(), "upgrade",
                                        "500"]]))
    return engine


def _exported_members(engine: Engine) -> set[str]:
    """The members a pseudonymised export holds, found back through their pseudonyms."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        engine.export_pseudonymised(out, tables=["members", "activities", "people"], file_format="csv")
        shown = set()
        for name in ("members", "activities", "people"):
            shown |= set(pd.read_csv(Path(out) / f"{name}.csv")["member_id"].dropna())
    return {m for m in CONSENT if engine.keyring.pseudonym("member_id", m, purpose="export") in shown}


#: Every person-level output: name -> the member ids it shows.
OUTPUTS: dict[str, Callable[[Engine], set[str]]] = {
    "pseudonymised export": _exported_members,
    "member scores": lambda e: set(e.scores("members", as_of=NOW)["members"]["member_id"]),
    "CRM contacts": lambda e: set(e.crm_records(as_of=NOW)[0]["member_id"]),
    "feedback contributors": lambda e: set(e.feedback_contributors(as_of=NOW)["contributors"]["member_id"]),
    "member tier changes": lambda e: set(e.score_changes("members", days=20)["changes"]["id"]),
}


def test_every_person_level_output_lists_only_members_with_consent(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        engine.scores("members", as_of=NOW - timedelta(days=30), save=True)
        engine.scores("members", as_of=NOW, save=True)
        everyone = set(engine.table("members")["member_id"])
        assert everyone == set(CONSENT)
        for name, shown in OUTPUTS.items():
            assert shown(engine) <= {"m-yes"}, name
        assert _exported_members(engine) == {"m-yes"}  # the export finds its pseudonyms back: not vacuous
        assert engine.scores("members", as_of=NOW)["withheld_without_consent"] == 2
        # Aggregates may count everyone: the account's roll-up holds all three members.
        accounts = engine.scores("accounts", as_of=NOW)["accounts"]
        assert int(accounts.loc[accounts["account_id"] == "acc1", "members"].iloc[0]) == 3


def test_the_crm_files_hold_only_members_with_consent(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    _engine(tmp_path).close()
    out = tmp_path / "crm"
    result = CliRunner().invoke(app, ["export", "crm", "--target", "hubspot", "--out", str(out), "--as-of",
                                      NOW.date().isoformat(), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    text = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    assert "m-yes" in text
    assert "m-no" not in text
    assert "m-unknown" not in text
    frames = [pd.read_csv(p) for p in out.glob("*.csv")]
    assert frames


def _with_contact(tmp_path: Path, consent: str, *, resolve: bool = True) -> Engine:
    """The workspace of ``_engine`` plus a CRM contact with m-yes's address (another spelling) and ``consent``."""
    engine = _engine(tmp_path)
    if not resolve:
        engine.close()
        config = tmp_path / "ws" / "commetrics.toml"
        config.write_text(config.read_text(encoding="utf-8").replace("[identity]\n", "[identity]\n"
                                                                     "resolve_on_load = false\n"), encoding="utf-8")
        engine = Engine(tmp_path / "ws")
    engine.load("contacts", write_csv(tmp_path / "c.csv", ["contact_id", "email", "name", "created_at", "consent"],
                                      [["c-9", " M-Yes@ACME.io ", "Em Yes", "2026-01-02", consent]]), now=NOW)
    return engine


def test_a_crm_contact_without_consent_withdraws_the_person_from_every_output(tmp_path: Path) -> None:
    """The most restrictive consent of a person's records applies: a consenting member resolved (or sharing an
    e-mail address) with a CRM contact that says no — or says nothing — is listed nowhere, at once."""
    for consent, resolve, listed in [("true", True, {"m-yes"}), ("false", True, set()), ("", True, set()),
                                     ("false", False, set())]:
        case = tmp_path / f"{consent or 'missing'}-{resolve}"
        case.mkdir()
        with _with_contact(case, consent, resolve=resolve) as engine:
            engine.scores("members", as_of=NOW - timedelta(days=30), save=True)
            engine.scores("members", as_of=NOW, save=True)
            person = engine.store.con.execute("select count(distinct person_id), count(*) from people "
                                              "where record_id in ('m:m-yes', 'c:c-9')").fetchall()
            assert person == ([(1, 2)] if resolve else [(1, 1)])  # resolved into one person, or not resolved yet
            for name, shown in OUTPUTS.items():
                assert shown(engine) == listed, (consent, resolve, name)
            manifest = engine.export_pseudonymised(case / "out", tables=["contacts"], file_format="csv")
            assert manifest["tables"]["contacts"]["rows"] == len(listed)
