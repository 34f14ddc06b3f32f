"""Values the loader must not take as they are (ids, e-mails, amounts), constants (``--set``) and the ids
made for events that have none."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from commetrics import Engine, InputError, MissingColumnError, UnknownNameError

from .conftest import NOW, load, write_csv, write_jsonl


def _reasons(engine: Engine) -> dict[int, str]:
    rows = engine.quarantine()
    return dict(zip(rows["line"], rows["reason"], strict=True))


# -- ids ------------------------------------------------------------------------------------------


def test_a_nul_inside_an_id_is_refused_not_a_new_key(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"member_id,joined_at\nm1,2024-01-01\nm1\x00,2024-01-01\n")
    report = load(engine, "members", path)
    assert (report.rows_loaded, _reasons(engine)) == (1, {3: "bad_id"})


def test_json_ids_must_be_strings_or_whole_numbers(engine: Engine, tmp_path: Path) -> None:
    ids = ["m1", 12, 1e2, True, ["x"], {"id": 1}, 12345678901234567890, -7]
    path = write_jsonl(tmp_path / "m.jsonl", [{"member_id": i, "joined_at": "2024-01-01"} for i in ids])
    report = load(engine, "members", path)
    assert sorted(engine.table("members")["member_id"]) == ["-7", "12", "12345678901234567890", "m1"]
    assert report.reasons == {"bad_id": 4}
    assert set(engine.quarantine()["line"]) == {3, 4, 5, 6}


# -- e-mails --------------------------------------------------------------------------------------


def test_emails_with_invisible_characters_inside_are_refused_and_edges_trimmed(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["member_id", "email", "joined_at"], [
        ["m1", "ada\u00a0lovelace@x.com", "2024-01-01"],   # no-break space inside
        ["m2", "grace\u200b@x.com", "2024-01-01"],          # zero-width space inside
        ["m3", "\u00a0alan@x.com\u200b", "2024-01-01"],     # at the edges only
        ["m4", "\ufeffkaren@x.com", "2024-01-01"],
        ["m5", "e\u0301lodie@x.fr", "2024-01-01"],          # a combining accent is a letter, not a blank
    ])
    report = load(engine, "members", path)
    assert _reasons(engine) == {2: "bad_email", 3: "bad_email"}
    assert report.rows_loaded == 3
    emails = dict(zip(engine.table("members")["member_id"], engine.table("members")["email"], strict=True))
    assert emails == {"m3": "alan@x.com", "m4": "karen@x.com", "m5": "e\u0301lodie@x.fr"}


# -- amounts --------------------------------------------------------------------------------------


def test_amounts_are_exact_to_the_cent_and_never_rounded(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["account_id", "arr"], [
        ["a1", "9999999999999999.99"], ["a2", "12.345"], ["a3", "12.340"], ["a4", "10000000000000000"],
        ["a5", "1e3"], ["a6", "0.1"], ["a7", "1.005e2"], ["a8", "1.00515e2"],
    ])
    load(engine, "accounts", path)
    assert _reasons(engine) == {3: "bad_number", 5: "non_finite_money", 9: "bad_number"}
    exact = dict(engine.store.con.execute("select account_id, arr::VARCHAR from accounts").fetchall())
    assert exact == {"a1": "9999999999999999.99", "a3": "12.34", "a5": "1000.00", "a6": "0.10", "a7": "100.50"}
    assert Decimal(exact["a1"]) == Decimal("9999999999999999.99")


def test_parquet_amounts_keep_cents_and_refuse_fractions_of_a_cent(engine: Engine, tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "a.parquet"
    duckdb.connect().execute(
        "copy (select * from (values ('a1', 0.1 + 0.2, 10.25::DECIMAL(10,4)), ('a2', 12.345, 1.5::DECIMAL(10,4)), "
        f"('a3', 5.0, 2.125::DECIMAL(10,4))) t(account_id, arr, seats_value)) to '{path}' (format parquet)")
    report = load(engine, "accounts", path)
    assert (report.rows_loaded, _reasons(engine)) == (2, {2: "bad_number"})
    exact = dict(engine.store.con.execute("select account_id, arr::VARCHAR from accounts").fetchall())
    assert exact == {"a1": "0.30", "a3": "5.00"}


# -- constants ------------------------------------------------------------------------------------


def test_set_fills_a_column_for_every_row(engine: Engine, tmp_path: Path) -> None:
    deals = write_csv(tmp_path / "deals_won.csv", ["Deal", "Contact", "Closed", "Amount"], [
        ["d1", "m1", "2024-05-01", "1200.00"], ["d2", "m2", "2024-05-03", "800.50"]])
    report = load(engine, "outcomes", deals, source="crm", constants={"type": "purchase", "currency": "eur"},
                  mapping={"outcome_id": "Deal", "member_id": "Contact", "ts": "Closed", "value": "Amount"})
    assert report.rows_loaded == 2
    rows = engine.table("outcomes")
    assert set(rows["type"]) == {"purchase"}
    assert set(rows["currency"]) == {"EUR"}


def test_a_constant_is_checked_like_any_value(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts"], [["o1", "m1", "2024-05-01"]])
    report = load(engine, "outcomes", path, constants={"type": "sale"})
    assert report.reasons == {"unknown_enum": 1}
    with pytest.raises(UnknownNameError, match="--set"):
        engine.load("outcomes", path, now=NOW, constants={"tpye": "purchase"})
    with pytest.raises(InputError, match="both by --map and by --set"):
        engine.load("outcomes", path, now=NOW, constants={"type": "purchase"}, mapping={"type": "member_id"})


def test_a_missing_column_error_suggests_set(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts"], [["o1", "m1", "2024-05-01"]])
    with pytest.raises(MissingColumnError, match="--set type=VALUE"):
        engine.load("outcomes", path, now=NOW)


# -- events without ids ---------------------------------------------------------------------------


def test_events_without_ids_get_ids_from_their_content_and_occurrence(engine: Engine, tmp_path: Path) -> None:
    header = ["member_id", "ts", "type"]
    votes = [["m1", "2024-01-01", "vote"], ["m1", "2024-01-01", "vote"], ["m2", "2024-01-01", "vote"]]
    first = load(engine, "activities", write_csv(tmp_path / "a.csv", header, votes))
    assert (first.rows_loaded, first.rows_duplicate, first.generated_ids) == (3, 0, True)  # two equal votes stay two
    ids = sorted(engine.table("activities")["activity_id"])
    assert len(set(ids)) == 3
    assert all(i.startswith("row-") for i in ids)
    again = load(engine, "activities", write_csv(tmp_path / "b.csv", header, votes))
    assert (again.rows_loaded, again.rows_duplicate) == (0, 3)  # re-loading adds nothing
    later = load(engine, "activities", write_csv(tmp_path / "c.csv", header, [*votes, votes[0], ["m3", "2024-01-02",
                                                                                               "post"]]))
    assert (later.rows_loaded, later.rows_duplicate) == (2, 3)  # a third equal vote and a new post
    after = set(engine.table("activities")["activity_id"])
    assert len(after) == 5
    assert set(ids) <= after  # the ids of the first load did not change


def test_generated_ids_do_not_depend_on_the_load_zone_or_the_spelling_of_the_time(tmp_path: Path) -> None:
    header = ["member_id", "ts", "type"]
    with Engine.in_memory() as engine:
        load(engine, "activities", write_csv(tmp_path / "a.csv", header, [["m1", "2024-01-01T10:00:00Z", "post"]]),
             timezone="Asia/Tokyo")
        again = load(engine, "activities", write_csv(tmp_path / "b.csv", header, [["m1", "01/01/2024 19:00", "post"]]),
                     timezone="Asia/Tokyo", date_format="%d/%m/%Y %H:%M")
        assert (again.rows_loaded, again.rows_duplicate) == (0, 1)  # the same instant, the same event


def test_an_empty_id_is_still_missing(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                     [["", "m1", "2024-01-01", "post"], ["a2", "m1", "2024-01-01", "post"]])
    report = load(engine, "activities", path)
    assert (report.rows_loaded, report.reasons, report.generated_ids) == (1, {"missing_key": 1}, False)


# -- words for an empty cell (--na) ---------------------------------------------------------------


def test_words_for_an_empty_cell_are_named_then_read_as_empty(engine: Engine, tmp_path: Path) -> None:
    """SQL tools write NULL, spreadsheets #N/A or N/A: quarantined with a hint, then empty with --na."""
    path = write_csv(tmp_path / "deals.csv", ["outcome_id", "ts", "type", "value", "member_id"], [
        ["o1", "2024-01-01", "purchase", "N/A", "m1"],
        ["o2", "NULL", "purchase", "12", "p1"],
        ["NULL", "2024-01-03", "purchase", "5", "p2"],
        ["o4", "2024-01-04", "purchase", " #N/A ", "p3"],
        ["o5", "2024-01-05", "purchase", "abc", "p4"],
    ])
    report = load(engine, "outcomes", path)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 4)
    assert report.notes == ("3 quarantined rows hold '#N/A', 'N/A', 'NULL' where a value belongs: if the file "
                            "writes an empty cell so, load it again with --na '#N/A' --na 'N/A' --na 'NULL'",)
    assert engine.table("outcomes")["outcome_id"].tolist() == ["NULL"]  # an id is text: NULL is one
    report = load(engine, "outcomes", path, null_values=["#N/A", "N/A", " NULL "], source="again")
    assert report.notes == ()
    assert (report.rows_loaded, report.rows_quarantined) == (2, 3)
    loaded = engine.store.con.execute(
        "select outcome_id, value, member_id from outcomes where source = 'again' order by 1").fetchall()
    assert loaded == [("o1", None, "m1"), ("o4", None, "p3")]
    again = engine.quarantine().query("load_id == 2")
    assert dict(zip(again["line"], again["reason"], strict=True)) == {3: "missing_value", 4: "missing_key",
                                                                      6: "bad_number"}


def test_an_empty_na_word_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["member_id", "joined_at"], [["m1", "2024-01-01"]])
    with pytest.raises(InputError, match="--na needs a word"):
        engine.load("members", path, now=NOW, null_values=[" "])
