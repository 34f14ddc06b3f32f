"""Corrections: ``--replace``, consent withdrawal that wins at once, quarantine that resolves itself, and
new types accepted into the configuration."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from commetrics import ConfigError, Engine
from commetrics.config import DEFAULT_ACTIVITY_TYPES, add_accepted_values

from .conftest import NOW, load, write_csv
from .test_consent import OUTPUTS
from .test_consent import _engine as consent_engine

HEADER = ["member_id", "email", "joined_at", "consent"]


def _joined(engine: Engine) -> dict[str, str]:
    rows = engine.store.con.execute("select member_id, strftime(joined_at, '%Y-%m-%d') from members").fetchall()
    return dict(rows)


def test_replace_lets_corrections_win_keeps_both_loads_and_resolves_quarantine(engine: Engine, tmp_path: Path) -> None:
    days = range(1, 31)  # dd/mm/2024 with dd = 1..30 and mm = 3
    rows = [[f"m{d}", f"p{d}@x.com", f"{d:02d}/03/2024", "yes"] for d in days]
    path = write_csv(tmp_path / "m.csv", HEADER, rows)
    wrong = load(engine, "members", path, date_format="%m/%d/%Y")  # month-first by mistake
    assert (wrong.rows_loaded, wrong.rows_quarantined) == (12, 18)  # days 13-30 cannot be months
    plain = load(engine, "members", path, date_format="%d/%m/%Y")
    # days 1-12 other than 3 conflict with the wrong versions; days 13-30 load and resolve their rows
    assert (plain.rows_loaded, plain.rows_quarantined, plain.rows_duplicate) == (18, 11, 1)
    assert (plain.rows_replaced, plain.rows_resolved) == (0, 18)
    fixed = load(engine, "members", path, date_format="%d/%m/%Y", replace=True)
    assert (fixed.rows_loaded, fixed.rows_quarantined, fixed.rows_duplicate) == (11, 0, 19)
    assert (fixed.rows_replaced, fixed.rows_resolved) == (11, 11)
    assert _joined(engine) == {f"m{d}": f"2024-03-{d:02d}" for d in days}
    ledger = engine.store.con.execute(
        "select load_id, rows_loaded, rows_replaced, options->>'$.replace' from load_ledger order by load_id"
    ).fetchall()
    assert ledger == [(1, 12, 0, "false"), (2, 18, 0, "false"), (3, 11, 11, "true")]
    assert engine.status().quarantine.empty  # every quarantined row was fixed by a later load
    assert engine.quarantine().empty
    everything = engine.quarantine(resolved=True)
    assert len(everything) == 29
    assert dict(everything.groupby("resolved_by").size()) == {2: 18, 3: 11}


def test_replace_still_drops_the_rows_of_erased_people(engine: Engine, tmp_path: Path) -> None:
    load(engine, "members", write_csv(tmp_path / "a.csv", HEADER, [["m1", "a@x.com", "2024-01-01", "yes"],
                                                                   ["m2", "b@x.com", "2024-01-01", "yes"]]))
    engine.forget("a@x.com")
    report = load(engine, "members", write_csv(tmp_path / "b.csv", HEADER, [["m1", "a2@x.com", "2024-01-02", "yes"],
                                                                            ["m2", "b2@x.com", "2024-01-02", "yes"]]),
                  replace=True)
    assert (report.rows_loaded, report.rows_replaced, report.rows_erased) == (1, 1, 1)
    assert engine.table("members")[["member_id", "email"]].values.tolist() == [["m2", "b2@x.com"]]


@pytest.mark.parametrize("replace", [False, True], ids=["without --replace", "with --replace"])
def test_a_consent_withdrawal_takes_effect_at_once_in_every_output(tmp_path: Path, replace: bool) -> None:
    with consent_engine(tmp_path) as engine:
        engine.scores("members", as_of=NOW - timedelta(days=30), save=True)
        engine.scores("members", as_of=NOW, save=True)
        assert all("m-yes" in shown(engine) for name, shown in OUTPUTS.items() if name != "member tier changes")
        withdrawal = write_csv(tmp_path / "w.csv", ["member_id", "email", "joined_at", "consent", "account_id"],
                               [["m-yes", "m-yes@acme.io", "2026-01-01", "no", "acc1"]])
        report = engine.load("members", withdrawal, now=NOW, replace=replace)
        assert (report.rows_loaded, report.rows_replaced, report.rows_quarantined) == (1, 1, 0)
        for name, shown in OUTPUTS.items():
            assert "m-yes" not in shown(engine), name
        assert engine.consenting_members() == set()


def test_consent_given_again_needs_replace_and_a_withdrawal_wins_within_a_file(engine: Engine, tmp_path: Path) -> None:
    load(engine, "members", write_csv(tmp_path / "a.csv", HEADER, [["m1", "a@x.com", "2024-01-01", "no"]]))
    regrant = write_csv(tmp_path / "b.csv", HEADER, [["m1", "a@x.com", "2024-01-01", "yes"]])
    assert load(engine, "members", regrant).reasons == {"duplicate_key_conflict": 1}
    assert load(engine, "members", regrant, replace=True).rows_replaced == 1
    assert engine.consenting_members() == {"m1"}
    both = write_csv(tmp_path / "c.csv", HEADER, [["m2", "b@x.com", "2024-01-01", "yes"],
                                                  ["m2", "b@x.com", "2024-01-01", "no"]])
    report = load(engine, "members", both)
    assert (report.rows_loaded, report.reasons) == (1, {"duplicate_key_conflict": 1})
    assert engine.quarantine().iloc[-1]["line"] == 2  # the row that grants is the one set aside
    assert engine.consenting_members() == {"m1"}


# -- new types ------------------------------------------------------------------------------------


def test_unknown_types_are_counted_and_accepted_into_the_workspace(tmp_path: Path) -> None:
    directory = tmp_path / "ws"
    Engine.init(directory).close()
    config = directory / "commetrics.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'schema_contract = "evolve"', 'schema_contract = "evolve"  # keep my comment'), encoding="utf-8")
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], [
        ["a1", "m1", "2024-01-01", "post"], ["a2", "m1", "2024-01-01", "page_view"],
        ["a3", "m1", "2024-01-01", "Page View"], ["a4", "m1", "2024-01-01", "star"],
        ["a5", "m1", "2024-01-01", "fork"]])
    with Engine(directory) as engine:
        first = load(engine, "activities", path)
        assert first.unknown_types == {"page_view": 2, "fork": 1, "star": 1}
        accepted = load(engine, "activities", path, accept_types=True)
        assert accepted.accepted_types == ("fork", "page_view", "star")
        assert (accepted.rows_loaded, accepted.rows_duplicate, accepted.rows_resolved) == (4, 1, 4)
        assert engine.status().quarantine.empty
    text = config.read_text(encoding="utf-8")
    assert "# keep my comment" in text
    types = tomllib.loads(text)["ingest"]["activity_types"]
    assert types == [*DEFAULT_ACTIVITY_TYPES, "fork", "page_view", "star"]
    with Engine(directory) as engine:
        assert load(engine, "activities", path).rows_duplicate == 5  # the next session knows them


def test_accepting_types_edits_an_existing_list_or_adds_one(tmp_path: Path) -> None:
    path = tmp_path / "commetrics.toml"
    path.write_text('[reporting]\ntimezone = "UTC"\n\n[ingest]\noutcome_types = [\n  "signup",  # first\n'
                    '  "purchase",\n]\nschema_contract = "evolve"\n\n[privacy]\nmin_cell_size = 10\n', encoding="utf-8")
    add_accepted_values(path, "outcome_types", ("won",), ("signup", "purchase"))
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["ingest"] == {"outcome_types": ["signup", "purchase", "won"], "schema_contract": "evolve"}
    assert data["privacy"] == {"min_cell_size": 10}
    bare = tmp_path / "bare.toml"
    bare.write_text('[reporting]\ntimezone = "UTC"\n', encoding="utf-8")
    add_accepted_values(bare, "activity_types", ("star",), ("post",))
    assert tomllib.loads(bare.read_text(encoding="utf-8"))["ingest"] == {"activity_types": ["post", "star"]}
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('ingest.activity_types = ["post"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="by hand"):
        add_accepted_values(dotted, "activity_types", ("star",), ("post",))
    assert dotted.read_text(encoding="utf-8") == 'ingest.activity_types = ["post"]\n'


def test_a_store_from_before_corrections_is_migrated_and_loads(tmp_path: Path) -> None:
    import duckdb

    directory = tmp_path / "ws"
    Engine.init(directory).close()
    con = duckdb.connect(str(directory / "commetrics.duckdb"))
    for table, column in (("load_ledger", "rows_replaced"), ("load_ledger", "options"),
                          ("quarantine", "record_key"), ("quarantine", "resolved_by")):
        con.execute(f"alter table {table} drop column {column}")
    con.execute("delete from schema_migrations where version >= 5")
    con.close()
    path = write_csv(tmp_path / "m.csv", HEADER, [["m1", "a@x.com", "2024-01-01", "yes"], ["m2", "b", "x", "no"]])
    with Engine(directory, read_only=True) as engine:
        assert engine.status().quarantine.empty
    with Engine(directory) as engine:
        report = load(engine, "members", path)
        assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
