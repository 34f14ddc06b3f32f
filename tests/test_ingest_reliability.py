"""ING-1..5: typed quarantine, conservation, exactly-once replay, source namespaces, schema drift."""

from __future__ import annotations

import random
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from commetrics import Config, Engine, Reason, SchemaContractError, schema
from commetrics.config import IngestSettings

from .conftest import NOW, assert_keys_unique, load, write_csv

# -- ING-1 ---------------------------------------------------------------------------------------


def _shuffle_into(rng: random.Random, good: list[bytes], bad: list[tuple[bytes, str]], last: list[tuple[bytes, str]]
                  ) -> tuple[list[bytes], dict[int, str]]:
    """Mix bad lines among good ones; return the lines and {line number (header = 1): reason}."""
    lines: list[tuple[bytes, str | None]] = [(g, None) for g in good] + [(b, r) for b, r in bad]
    rng.shuffle(lines)
    lines += last  # an open quote swallows the rest of the file, so it goes last
    planted = {i + 2: reason for i, (_, reason) in enumerate(lines) if reason is not None}
    return [line for line, _ in lines], planted


def _ing1_members(rng: random.Random) -> tuple[list[bytes], dict[int, str], set[str]]:
    good = [f"m{i:05d},p{i}@example.com,2025-{1 + i % 12:02d}-{1 + i % 28:02d},seo,yes".encode() for i in range(4400)]
    bad: list[tuple[bytes, str]] = []
    bad += [(f"x{i},\xff@example.com,2025-01-01,seo,yes".encode("latin-1"), "bad_encoding") for i in range(60)]
    bad += [(f"x{i + 100},q@example.com,2025-01-01,seo,yes,surplus".encode(), "wrong_column_count")
            for i in range(60)]
    bad += [(f"x{i + 200},not-an-email,2025-01-01,seo,yes".encode(), "bad_email") for i in range(80)]
    bad += [(f"x{i + 300},q@example.com,2025-13-45,seo,yes".encode(), "bad_timestamp") for i in range(80)]
    bad += [(f"x{i + 400},q@example.com,2026-07-03,seo,yes".encode(), "future_timestamp") for i in range(80)]
    bad += [(f"x{i + 500},q@example.com,2025-01-01,billboard,yes".encode(), "unknown_enum") for i in range(80)]
    bad += [(f"x{i + 600},q@example.com,2025-01-01,seo,".encode() + b"z" * 66_000, "field_too_long")
            for i in range(20)]
    # The same key as a good row, other content: the good row stays wherever the two fall.
    conflicts = rng.sample(range(4400), 139)
    bad += [(f"m{i:05d},changed{i}@example.com,2025-01-01,seo,yes".encode(), "duplicate_key_conflict")
            for i in conflicts]
    lines, planted = _shuffle_into(rng, good, bad, [(b'x999,"q@example.com,2025-01-01,seo,yes', "unterminated_quote")])
    # A conflict is reported on the later of the two rows: move the label if the original comes later.
    position = {line.split(b",", 1)[0]: n for n, line in enumerate(lines, start=2) if planted.get(n) is None}
    for n, reason in list(planted.items()):
        key = lines[n - 2].split(b",", 1)[0]
        if reason == "duplicate_key_conflict" and position[key] > n:
            planted[position[key]] = planted.pop(n)
    return lines, planted, {f"m{i:05d}" for i in range(4400)}


def _ing1_surveys(rng: random.Random) -> tuple[list[bytes], dict[int, str], set[str]]:
    good = [f"r{i:05d},m{i:05d},2025-03-01,nps,{i % 11}".encode() for i in range(2300)]
    bad = [(f"s{i},m00001,2025-03-01,nps,{rng.choice([11, -1, 12, 100])}".encode(), "score_out_of_range")
           for i in range(100)]
    bad += [(f"s{i + 100},m00001,2025-03-01,nps,١٠".encode(), "bad_number") for i in range(100)]
    lines, planted = _shuffle_into(rng, good, bad, [])
    return lines, planted, {f"r{i:05d}" for i in range(2300)}


def _ing1_accounts(rng: random.Random) -> tuple[list[bytes], dict[int, str], set[str]]:
    good = [f"a{i:05d},{i * 10.5:.2f},{i % 50}".encode() for i in range(2300)]
    bad = [(f"b{i},{value},5".encode(), "non_finite_money")
           for i, value in enumerate(["NaN"] * 50 + ["Inf"] * 25 + ["-Infinity"] * 25 + ["1e309"] * 50)]
    bad += [(f"b{i + 200},-{i + 1}.00,5".encode(), "negative_money") for i in range(50)]
    lines, planted = _shuffle_into(rng, good, bad, [])
    return lines, planted, {f"a{i:05d}" for i in range(2300)}


def test_ing1_thousand_malformed_rows_are_quarantined_with_reasons(engine: Engine, tmp_path: Path) -> None:
    rng = random.Random(20261123)
    files = {
        "members": ("member_id,email,joined_at,entry_path,consent", _ing1_members(rng)),
        "surveys": ("response_id,member_id,ts,kind,score", _ing1_surveys(rng)),
        "accounts": ("account_id,arr,seats", _ing1_accounts(rng)),
    }
    total_rows = sum(len(lines) for _, (lines, _, _) in files.values())
    assert total_rows == 10_000

    reports = {}
    for table, (header, (lines, _, _)) in files.items():
        path = tmp_path / f"{table}.csv"
        path.write_bytes(b"\n".join([header.encode(), *lines]) + b"\n")
        reports[table] = load(engine, table, path)

    assert sum(r.rows_quarantined for r in reports.values()) == 1_000
    assert sum(r.rows_loaded for r in reports.values()) == 9_000
    quarantine = engine.quarantine()
    assert len(quarantine) == 1_000
    assert set(quarantine["reason"]) <= {r.value for r in Reason}
    assert quarantine["reason"].nunique() >= 12
    assert quarantine[["file", "line", "load_id"]].notna().all().all()
    for table, (_, (_, planted, good_keys)) in files.items():
        rows = quarantine[quarantine["table_name"] == table]
        assert dict(zip(rows["line"], rows["reason"], strict=True)) == planted, table
        key = schema.TABLES[table].key[0]
        assert set(engine.table(table)[key]) == good_keys, f"{table}: valid rows lost or extra rows loaded"


# -- ING-2 is checked by `load` after every load of the suite; here: the identity across reloads ----


def test_ing2_identity_holds_on_every_load_of_a_mixed_file(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ["outcome_id", "member_id", "ts", "type", "value"], [
        ["o1", "m1", "2025-01-01", "purchase", "10"],
        ["o2", "m1", "2025-01-01", "purchase", "-3"],
        ["o1", "m1", "2025-01-01", "purchase", "10"],
        ["o3", "", "2025-01-01", "purchase", "10"],
        ["o4", "m2", "yesterday", "purchase", "10"],
    ])
    counts = []
    for _ in range(3):
        r = load(engine, "outcomes", path)
        counts.append((r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate))
    assert counts == [(5, 1, 3, 1), (5, 0, 0, 5), (5, 0, 0, 5)]


# -- ING-3 ---------------------------------------------------------------------------------------


def test_ing3_exactly_once_replay_with_in_file_duplicates(engine: Engine, tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = [[f"evt{i:06d}", f"m{i % 300}", f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z", "post"]
            for i in range(4_000)]
    rows += [list(rows[i]) for i in rng.sample(range(4_000), 200)]  # 5% in-file duplicates
    rng.shuffle(rows)
    path = write_csv(tmp_path / "events.csv", ["activity_id", "member_id", "ts", "type"], rows)

    reports = [load(engine, "activities", path) for _ in range(3)]
    reports.append(load(engine, "activities", path, now=NOW + timedelta(days=400)))  # no dedup window

    assert [(r.rows_loaded, r.rows_duplicate) for r in reports] == [(4_000, 200)] + [(0, 4_200)] * 3
    con = engine.store.con
    assert con.execute("select count(*) from activities").fetchone() == (4_000,)
    assert con.execute("select count(*) from (select distinct source, activity_id from activities)").fetchone() == (
        4_000,)
    assert con.execute(
        "select source, activity_id from activities group by all having count(*) > 1").fetchall() == []


# -- ING-4 ---------------------------------------------------------------------------------------


def test_ing4_same_id_from_two_sources_keeps_both(engine: Engine, tmp_path: Path) -> None:
    forum = write_csv(tmp_path / "forum.csv", ["activity_id", "member_id", "ts", "type"],
                      [["42", "m1", "2025-01-01", "post"]])
    slack = write_csv(tmp_path / "slack.csv", ["activity_id", "member_id", "ts", "type"],
                      [["42", "u7", "2025-02-01", "reply"]])
    load(engine, "activities", forum, source="forum")
    load(engine, "activities", slack, source="slack")
    kept = engine.table("activities")[["source", "activity_id", "member_id"]].values.tolist()
    assert sorted(kept) == [["forum", "42", "m1"], ["slack", "42", "u7"]]


def test_ing4_same_id_other_content_in_one_source_is_quarantined(engine: Engine, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"],
                      [["42", "m1", "2025-01-01", "post"]])
    second = write_csv(tmp_path / "b.csv", ["activity_id", "member_id", "ts", "type"],
                       [["42", "m1", "2025-01-01", "reply"]])
    load(engine, "activities", first, source="forum")
    report = load(engine, "activities", second, source="forum")
    assert (report.rows_loaded, report.rows_quarantined) == (0, 1)
    assert engine.table("activities")["type"].tolist() == ["post"]
    row = engine.quarantine().iloc[0]
    assert row["reason"] == Reason.DUPLICATE_KEY_CONFLICT.value
    assert "load 1" in row["detail"]
    assert '"reply"' in row["record"]


# -- ING-5 ---------------------------------------------------------------------------------------


def _drifted(tmp_path: Path) -> Path:
    """An accounts file with a new column (region) and one whose type changed (seats: bands)."""
    return write_csv(tmp_path / "accounts.csv", ["account_id", "arr", "seats", "region"], [
        ["a1", "100", "5", "emea"],
        ["a2", "200", "10-50", "amer"],
        ["a3", "300", "7", "apac"],
    ])


def _engine(contract: str) -> Engine:
    return Engine.in_memory(Config(ingest=IngestSettings(schema_contract=contract)))


def test_ing5_freeze_fails_before_any_write_and_names_table_column_mode(tmp_path: Path) -> None:
    with _engine("freeze") as engine:
        before = engine.status().tables
        with pytest.raises(SchemaContractError) as err:
            engine.load("accounts", _drifted(tmp_path), now=NOW)
        assert engine.status().tables == before
        assert all(count == 0 for count in before.values())
    message = str(err.value)
    assert "accounts" in message
    assert "region" in message
    assert "freeze" in message


def test_ing5_discard_value_loads_without_the_column_and_logs_drift(tmp_path: Path) -> None:
    with _engine("discard_value") as engine:
        report = load(engine, "accounts", _drifted(tmp_path))
        assert report.drift_columns == ("region",)
        assert engine.table("accounts")["attributes"].isna().all()
        drift = engine.store.con.execute("select drift_columns from load_ledger").fetchall()
        assert drift == [(["region"],)]
        # The type change is quarantined per row, never coerced.
        assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
        assert engine.quarantine()["reason"].tolist() == [Reason.BAD_NUMBER.value]
        assert_keys_unique(engine, "accounts")


def test_ing5_evolve_keeps_new_columns_in_attributes(engine: Engine, tmp_path: Path) -> None:
    report = load(engine, "accounts", _drifted(tmp_path))
    assert report.attribute_columns == ("region",)
    attributes = engine.store.con.execute(
        "select account_id, attributes->>'region' from accounts order by account_id").fetchall()
    assert attributes == [("a1", "emea"), ("a3", "apac")]


# -- line numbers stay exact across row groups and parallel reading -------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_line_numbers_are_exact_in_a_large_file(engine: Engine, tmp_path: Path, fmt: str) -> None:
    import duckdb

    bad_lines = [2, 122_882, 250_001, 399_999, 400_001]  # header = line 1; rows are lines 2..400_001
    con = duckdb.connect()
    con.execute(
        """
        create table rows as
        select
            'e' || i as activity_id,
            'm' || (i % 97) as member_id,
            case when i + 2 in (2, 122882, 250001, 399999, 400001) then 'never' else '2025-01-01' end as ts,
            'post' as type
        from range(400000) as r(i)
        """
    )
    path = tmp_path / f"big.{fmt}"
    con.execute(f"copy rows to '{path}' ({'header' if fmt == 'csv' else 'format parquet, row_group_size 50000'})")
    report = load(engine, "activities", path)
    assert (report.rows_loaded, report.rows_quarantined) == (400_000 - 5, 5)
    offset = 0 if fmt == "csv" else 1  # Parquet has no header line: its "line" is the row number
    assert sorted(engine.quarantine()["line"]) == [n - offset for n in bad_lines]
    assert sorted(engine.quarantine()["record"].str.extract(r'"activity_id":"e(\d+)"')[0].astype(int)) == [
        n - 2 for n in bad_lines]


def test_order_guard_tells_batch_inserts_from_others() -> None:
    import duckdb

    from commetrics.ingest.load import _keeps_order

    con = duckdb.connect()
    con.execute("create table t (x BIGINT)")
    source = "read_parquet($path)"
    path = str(Path(tempfile.mkdtemp()) / "x.parquet")
    con.execute(f"copy (select range as x from range(1000)) to '{path}' (format parquet)")
    assert _keeps_order(con, f"insert into t select x from {source}", {"path": path})
    joined = f"insert into t select a.x from {source} as a join range(10) as b on a.x = b.range"
    assert not _keeps_order(con, joined, {"path": path})


def test_lines_stay_exact_when_the_plan_does_not_keep_file_order(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commetrics.ingest import load as load_module

    monkeypatch.setattr(load_module, "_keeps_order", lambda *args: False)  # take the numbered path
    rows = [[f"e{i}", "m1", "never" if i in (0, 7, 199_998) else "2025-01-01", "post"] for i in range(200_000)]
    rows.append(["e7", "m1", "2025-01-02", "post"])  # e7 was bad: this one loads
    rows.append(["e8", "m2", "2025-01-01", "post"])  # conflicts with line 10
    path = write_csv(tmp_path / "a.csv", ["activity_id", "member_id", "ts", "type"], rows)
    report = load(engine, "activities", path)
    assert (report.rows_loaded, report.rows_quarantined) == (200_000 - 3 + 1, 4)
    quarantine = engine.quarantine().sort_values("line")
    assert quarantine["line"].tolist() == [2, 9, 200_000, 200_003]
    assert quarantine["detail"].iloc[-1] == "same key as line 10 of this file, other content"
