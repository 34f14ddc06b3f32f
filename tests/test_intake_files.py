"""Files as they come: dialects, encodings, compression, line ends, broken quotes, blank lines, headers,
and JSON Lines whose records spell their keys differently. Each failure has its own small file."""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commetrics import Engine, MissingColumnError, UnknownNameError, UnreadableFileError

from .conftest import NOW, load, write_csv, write_jsonl

MEMBERS = b"member_id,joined_at\n"


def _quarantine(engine: Engine) -> dict[int, str]:
    rows = engine.quarantine()
    return dict(zip(rows["line"], rows["reason"], strict=True))


# -- dialects -------------------------------------------------------------------------------------


def test_space_aligned_file_is_split_at_runs_of_blanks(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "cdnow.txt"  # the layout of the CDNOW purchase log: right-aligned, runs of spaces
    path.write_bytes(b"customer_id  date number_of_cds dollar_value\n"
                     b"   00001 19970101  1  11.77\n"
                     b"   00002 19970112  2  12.00\n"
                     b"   00003 19970102  2  20.76 extra\n"
                     b"\n"
                     b"   00004 19970101  5  77.00\n")
    report = load(engine, "outcomes", path, constants={"type": "purchase"},
                  mapping={"member_id": "customer_id", "ts": "date", "value": "dollar_value"})
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (4, 3, 1)
    assert report.delimiter == "runs of blanks"
    assert _quarantine(engine) == {4: "wrong_column_count"}
    outcomes = engine.table("outcomes").sort_values("member_id")
    assert outcomes["member_id"].tolist() == ["00001", "00002", "00004"]
    assert outcomes["value"].tolist() == [11.77, 12.0, 77.0]
    assert str(outcomes["ts"].iloc[0]) == "1997-01-01 00:00:00+00:00"


@pytest.mark.parametrize(("delimiter", "name"), [(";", "m.csv"), ("\t", "m.tsv"), ("|", "m.txt"), ("\t", "m.csv")])
def test_delimiter_comes_from_the_header(engine: Engine, tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(f"member_id{delimiter}email{delimiter}joined_at\nm1{delimiter}a@x.com{delimiter}2024-01-01\n",
                    encoding="utf-8")
    report = load(engine, "members", path)
    assert report.rows_loaded == 1
    assert engine.table("members")["email"].tolist() == ["a@x.com"]


def test_mixed_line_ends_load_with_true_line_numbers(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"member_id,joined_at\r\nm1,2024-01-01\nm2,2024-01-02\r\nm3,never\nm4,2024-01-03\r\nm5,no\r\n")
    report = load(engine, "members", path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 3, 2)
    assert _quarantine(engine) == {4: "bad_timestamp", 6: "bad_timestamp"}


def test_a_quote_that_never_closes_loses_only_its_line(engine: Engine, tmp_path: Path) -> None:
    """Row 11 of 10,000 opens a quote that never closes: rows 12-10,000 still load and every line counts."""
    rows = [f"m{i},2024-01-01".encode() for i in range(1, 10_001)]
    rows[10] = b'm11,"2024-01-01'
    path = tmp_path / "members.csv"
    path.write_bytes(MEMBERS + b"\n".join(rows) + b"\n")
    report = load(engine, "members", path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (10_000, 9_999, 1)
    row = engine.quarantine().iloc[0]
    assert (row["line"], row["reason"], row["record"]) == (12, "unterminated_quote", 'm11,"2024-01-01')
    assert len(engine.table("members")) == 9_999


def test_a_stray_quote_that_pairs_with_a_later_one_loses_only_its_line(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(MEMBERS + b'm1,2024-01-01\nm2,"2024-01-01\nm3,2024-01-01\nm4,"2024-01-02"\nm5,2024-01-01\n')
    report = load(engine, "members", path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (5, 4, 1)
    assert _quarantine(engine) == {3: "unterminated_quote"}
    assert sorted(engine.table("members")["member_id"]) == ["m1", "m3", "m4", "m5"]


def test_lines_count_blank_lines_and_values_spanning_lines(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(MEMBERS + b"m1,2024-01-01\n\nm2,2024-01-01\nm3,bad\n\n\nm4,bad\nm5,bad\n")
    load(engine, "members", path)
    assert _quarantine(engine) == {5: "bad_timestamp", 8: "bad_timestamp", 9: "bad_timestamp"}
    with Engine.in_memory() as other:
        path = tmp_path / "n.csv"
        path.write_bytes(b'member_id,name,joined_at\nm1,"Ada\nLovelace",2024-01-01\n\nm2,"a ""quoted""\n\nname",bad\n'
                         b"m3,x,y,z\nm4,Grace,bad\n")
        report = load(other, "members", path)
        assert (report.rows_read, report.rows_loaded) == (4, 1)
        assert _quarantine(other) == {5: "bad_timestamp", 8: "wrong_column_count", 9: "bad_timestamp"}


def test_template_comment_lines_above_the_header_are_skipped(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"# commetrics template for members\n# member_id: an id, \"quoted\"\n" + MEMBERS +
                     b"m1,2024-01-01\nm2,bad\n")
    report = load(engine, "members", path)
    assert (report.rows_loaded, _quarantine(engine)) == (1, {5: "bad_timestamp"})


def test_excel_sep_line_names_the_delimiter_and_lines_stay_true(engine: Engine, tmp_path: Path) -> None:
    """Excel writes (and reads) a first line ``sep=;``; the header a sniffer would take is the next line."""
    path = tmp_path / "m.csv"
    path.write_bytes(b"sep=;\r\nmember_id;name;joined_at\r\nm1;Smith, Ann;2024-01-01\r\nm2;Lee;bad\r\n")
    report = load(engine, "members", path)
    assert (report.rows_loaded, report.delimiter, _quarantine(engine)) == (1, ";", {4: "bad_timestamp"})
    assert engine.table("members")["name"].tolist() == ["Smith, Ann"]


def test_a_title_above_the_header_is_skipped_and_said(engine: Engine, tmp_path: Path) -> None:
    """A report's title lines above the header: the first line that has the table's columns is the header."""
    path = tmp_path / "report.csv"
    path.write_bytes(b"Attendee report\nGenerated 2024-05-01,,\n\nmember_id,joined_at\nm1,2024-01-01\nm2,bad\n")
    report = load(engine, "members", path)
    assert (report.rows_loaded, _quarantine(engine)) == (1, {6: "bad_timestamp"})
    assert report.notes == ("the header is line 4: the 3 lines above it (a title, not records) were skipped",)


def test_a_zoom_meeting_report_loads_its_participants(engine: Engine, tmp_path: Path) -> None:
    """Zoom's full participants report: the meeting's own header and row, a row of commas, then the people."""
    path = tmp_path / "participants_full.csv"
    path.write_text(
        "Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants\n"
        "60245167821,Heroes meeting,11/19/2021 10:00:00 AM,11/19/2021 12:00:00 PM,host@x.com,120,2\n"
        ",,,,,,\n"
        "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent\n"
        "Loki,loki@x.com,11/19/2021 9:54:15 AM,11/19/2021 12:01:59 PM,128,Yes,Y\n"
        "Clea,clea@x.com,11/19/2021 10:08:10 AM,11/19/2021 10:17:18 AM,10,No,NA\n", encoding="utf-8")
    report = load(engine, "activities", path, mapping={"member_id": "User Email", "ts": "Join Time"},
                  constants={"type": "webinar_attended"})
    assert (report.rows_read, report.rows_loaded) == (2, 2)
    assert report.notes == ("the header is line 4: the 3 lines above it (a title, not records) were skipped",)
    assert sorted(engine.table("activities")["member_id"]) == ["clea@x.com", "loki@x.com"]


def test_a_file_without_the_columns_anywhere_keeps_the_first_lines_error(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]] * 30)
    with pytest.raises(MissingColumnError, match="Columns found: a, b"):
        engine.load("members", path, now=NOW)


# -- encodings and compression --------------------------------------------------------------------

TEXT = "member_id,name,joined_at\nm1,José Müller,2024-01-01\nm2,Zoë,bad\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "latin-1", "cp1252"])
def test_encodings_are_detected(engine: Engine, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "m.csv"
    text = TEXT.replace("José", "José €5") if encoding == "cp1252" else TEXT
    path.write_bytes(text.encode(encoding))
    report = load(engine, "members", path)
    assert (report.rows_loaded, _quarantine(engine)) == (1, {3: "bad_timestamp"})
    assert engine.table("members")["name"].tolist() == [text.split("\n")[1].split(",")[1]]


def test_a_latin_1_header_byte_does_not_make_a_data_row_the_header(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("member_id,joined_at,prénom\nm1,2024-01-01,Zoë\nm2,2024-01-02,Anaïs\n".encode("latin-1"))
    report = load(engine, "members", path)
    assert report.rows_loaded == 2
    assert report.attribute_columns == ("prénom",)
    assert report.encoding == "latin-1 (detected)"


def test_the_encoding_can_be_named(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("member_id,name,joined_at\nm1,Ωmega,2024-01-01\n".encode("cp1253"))
    report = load(engine, "members", path, encoding="cp1253")
    assert engine.table("members")["name"].tolist() == ["Ωmega"]
    assert report.encoding == "cp1253"
    with pytest.raises(UnreadableFileError, match="not an encoding"):
        engine.load("members", path, now=NOW, encoding="klingon")


def test_odd_bad_bytes_in_a_utf8_file_stay_bad_encoding(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(MEMBERS + b"m1,2024-01-01\nm2\xff,2024-01-01\n" + b"".join(
        f"m{i},2024-01-01\n".encode() for i in range(3, 60)))
    report = load(engine, "members", path)
    assert (report.rows_loaded, _quarantine(engine)) == (58, {3: "bad_encoding"})


def test_gzip_and_zip_are_read_by_content(engine: Engine, tmp_path: Path) -> None:
    gz = tmp_path / "members.csv"  # gzip, named .csv
    gz.write_bytes(gzip.compress(MEMBERS + b"m1,2024-01-01\nm2,bad\n"))
    assert (load(engine, "members", gz).rows_loaded, _quarantine(engine)) == (1, {3: "bad_timestamp"})
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("export/members.csv", MEMBERS + b"m3,2024-01-01\n\nm4,bad\n")
        z.writestr("__MACOSX/export/._members.csv", b"resource fork")
    report = load(engine, "members", archive)
    assert report.rows_loaded == 1
    assert engine.quarantine(load_id=report.load_id)["line"].tolist() == [4]
    jsonl = tmp_path / "events.data"  # no known suffix: JSON Lines by content
    jsonl.write_bytes(gzip.compress(b'{"member_id": "m5", "joined_at": "2024-01-01"}\n'))
    assert load(engine, "members", jsonl).rows_loaded == 1


def test_files_that_are_not_tables_get_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as z:
        z.writestr("a.csv", MEMBERS)
        z.writestr("b.csv", MEMBERS)
    with pytest.raises(UnreadableFileError, match="2 files"):
        engine.load("members", several, now=NOW)
    workbook = tmp_path / "members.xlsx"
    workbook.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UnreadableFileError, match="cannot be read as an Excel workbook"):
        engine.load("members", workbook, now=NOW)
    old_format = tmp_path / "members.xls"
    old_format.write_bytes(b"\xd0\xcf\x11\xe0 not really")
    with pytest.raises(UnreadableFileError, match="Save or export it as CSV"):
        engine.load("members", old_format, now=NOW)
    array = tmp_path / "members.json"
    array.write_text('[{"member_id": "m1"}]', encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="jq"):
        engine.load("members", array, now=NOW)
    assert engine.status().tables["members"] == 0


def test_an_excel_workbook_loads_its_first_sheet_with_rows_as_lines(engine: Engine, tmp_path: Path) -> None:
    """Cells hold values: dates, numbers (an id typed as a number stays 12345), an error cell; rows keep
    their numbers in quarantine, an empty row is skipped, and the report names the sheet and the others."""
    import openpyxl

    book = openpyxl.Workbook()
    deals = book.active
    deals.title = "Deals"
    deals.append(["Deal ID", "Contact", "Closed", "Amount", "Type"])
    deals.append([12345, "m1", datetime(2024, 5, 1, 14, 30), 1500.5, "purchase"])
    deals.append([12346, "m2", datetime(2024, 5, 2), 99, "renewal"])
    deals.append([])
    deals.append([12347, "m3", "not a date", "#N/A", "purchase"])
    book.create_sheet("Notes").append(["member_id", "joined_at"])
    book["Notes"].append(["m9", datetime(2024, 1, 1)])
    path = tmp_path / "deals.xlsx"
    book.save(path)
    report = load(engine, "outcomes", path, mapping={"outcome_id": "Deal ID", "member_id": "Contact",
                                                     "ts": "Closed", "value": "Amount"}, timezone="Europe/Paris")
    assert (report.file_format, report.rows_loaded, _quarantine(engine)) == ("xlsx", 2, {5: "bad_timestamp"})
    assert report.notes == ("read sheet 'Deals' of the workbook (also in it: 'Notes'; choose one with --sheet)",)
    rows = engine.store.con.execute("select outcome_id, ts, value::VARCHAR from outcomes order by 1").fetchall()
    assert rows == [("12345", datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "1500.50"),
                    ("12346", datetime(2024, 5, 1, 22, 0, tzinfo=UTC), "99.00")]
    assert load(engine, "members", path, sheet="Notes").rows_loaded == 1
    with pytest.raises(UnknownNameError, match=r"Unknown sheet 'Note'\. Did you mean 'Notes'"):
        engine.load("members", path, now=NOW, sheet="Note")


# -- headers --------------------------------------------------------------------------------------


def test_repeated_and_empty_header_names_are_renamed_and_said(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"member_id,Email,email,joined_at,\nm1,a@x.com,b@x.com,2024-01-01,7\n")
    report = load(engine, "members", path)
    assert report.rows_loaded == 1
    assert engine.table("members")["email"].tolist() == ["a@x.com"]
    assert report.attribute_columns == ("email_2", "column_5")
    assert any("'email_2'" in note for note in report.notes)


def test_a_record_longer_than_the_reader_keeps_is_quarantined_whole(engine: Engine, tmp_path: Path) -> None:
    long_line = b"m2," + b"x" * 12_000 + b",2024-01-01,extra"
    path = tmp_path / "m.csv"
    path.write_bytes(MEMBERS + b"m1,2024-01-01\n" + long_line + b"\nm3,2024-01-01\n")
    report = load(engine, "members", path)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert engine.quarantine().iloc[0]["record"] == long_line.decode()


# -- JSON Lines -----------------------------------------------------------------------------------


def test_jsonl_keys_are_matched_per_record(engine: Engine, tmp_path: Path) -> None:
    records = [{"member_id": f"m{i}", "joined_at": "2024-01-01", "email": f"p{i}@x.com"} for i in range(1000)]
    path = write_jsonl(tmp_path / "a.jsonl", [*records, {"Member ID": "mx", "joined_at": "2024-01-01"}])
    report = load(engine, "members", path)
    assert (report.rows_loaded, report.rows_quarantined) == (1001, 0)
    with Engine.in_memory() as other:
        path = write_jsonl(tmp_path / "b.jsonl", [*records, {"member_id": "my", "joined_at": "2024-01-01",
                                                             "Email": "Y@x.com"}])
        report = load(other, "members", path)
        assert (report.rows_loaded, report.attribute_columns) == (1001, ())
        members = other.table("members").set_index("member_id")
        assert members["email"].notna().all()
        assert members.loc["my", "email"] == "Y@x.com"
        assert members.loc["m7", "email"] == "p7@x.com"


def test_jsonl_lines_stay_true_after_a_line_the_reader_rejects(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"member_id": "m1", "joined_at": "2024-01-01"}\n\n'
                     b'{"member_id": "m2", \x1e"joined_at": "2024-01-01"}\n'
                     b'{"member_id": "\xff", "joined_at": "2024-01-01"}\n'
                     b'{"member_id": "m3", "joined_at": "bad"}\n'
                     b'{"member_id": "m4", "joined_at": "2024-01-01"}\n')
    report = load(engine, "members", path)
    assert report.rows_loaded == 2
    assert _quarantine(engine) == {3: "malformed_record", 4: "bad_encoding", 5: "bad_timestamp"}


def test_jsonl_nested_values_of_extra_keys_stay_json(engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"member_id": "m1", "joined_at": "2024-01-01",
                                               "profile": {"plan": "pro", "seats": [1, 2]}}])
    load(engine, "members", path)
    value = engine.store.con.execute("select attributes->'profile' from members").fetchone()
    assert value is not None
    assert json.loads(value[0]) == {"plan": "pro", "seats": [1, 2]}


def test_line_ends_that_change_after_the_sample_are_read_again(engine: Engine, tmp_path: Path) -> None:
    """The sniffer sees only the first MiB: a file that turns to CRLF later makes the reader fail, and the
    load reads an LF copy instead (the same lines)."""
    head = b"".join(f"m{i},2024-01-01\n".encode() for i in range(80_000))  # ~1.3 MiB of LF lines
    tail = b"m80000,bad\r\nm80001,2024-01-01\r\n"
    path = tmp_path / "m.csv"
    path.write_bytes(MEMBERS + head + tail)
    report = load(engine, "members", path)
    assert (report.rows_read, report.rows_loaded) == (80_002, 80_001)
    assert _quarantine(engine) == {80_002: "bad_timestamp"}


def test_a_json_lines_file_may_start_with_a_malformed_array_line(engine: Engine, tmp_path: Path) -> None:
    """Found by the fuzz target: only a whole JSON array document is refused, not an array on one line."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'[1, 2]\n{"member_id": "m1", "joined_at": "2024-01-01"}\n')
    report = load(engine, "members", path)
    assert (report.rows_loaded, _quarantine(engine)) == (1, {1: "malformed_record"})
    pretty = tmp_path / "b.json"
    pretty.write_text('[\n  {"member_id": "m1"}\n]\n', encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="one JSON document"):
        engine.load("members", pretty, now=NOW)


def test_zstd_files_load_and_an_open_quote_in_one_is_one_record(engine: Engine, tmp_path: Path) -> None:
    """Python cannot decompress zstd to repair it, so there the open quote takes the rest of the file as
    one quarantined record — counted, never lost (see docs/loading.md)."""
    import duckdb

    plain = tmp_path / "m.csv"
    plain.write_bytes(MEMBERS + b'm1,2024-01-01\nm2,bad\nm3,"2024-01-01\nm4,2024-01-01\n')
    packed = tmp_path / "m.csv.zst"
    duckdb.connect().execute(f"copy (select * from read_csv('{plain}', header = false, all_varchar = true, "
                             f"quote = '', auto_detect = false, columns = {{'l': 'VARCHAR'}}, delim = '\\x1e')) "
                             f"to '{packed}' (header false, quote '', compression zstd)")
    report = load(engine, "members", packed)
    assert (report.rows_read, report.rows_loaded) == (3, 1)
    assert _quarantine(engine) == {3: "bad_timestamp", 4: "unterminated_quote"}


def test_a_large_csv_is_stored_in_whole_row_groups_so_its_close_rewrites_nothing(tmp_path: Path) -> None:
    """The insert keeps the file's order by writing each read buffer's rows as a batch; batches that are not
    whole row groups would be written again by the checkpoint that follows every load (seconds at 10M rows)."""
    import duckdb

    rows = 700_000  # about 45 MB: more than DuckDB's default read buffer (32 MB)
    path = tmp_path / "activities.csv"
    with duckdb.connect() as con:
        con.execute(
            f"copy (select 'a' || lpad(i::VARCHAR, 9, '0') as activity_id, 'm' || (i % 50000) as member_id, "
            "strftime(timestamp '2025-01-01' + to_seconds(i * 7), '%d/%m/%Y %H:%M:%S') as ts, 'login' as type, "
            f"'forum' as channel from range({rows}) as t(i)) to '{path}' (header)")
    engine = Engine.init(tmp_path / "ws")
    try:
        report = engine.load("activities", path)
        assert report.rows_loaded == rows
        groups = engine.store.con.execute(
            "select count(distinct row_group_id) from pragma_storage_info('activities')").fetchall()[0][0]
        assert groups == -(-rows // 122_880)  # every row group whole but the last
        first, last = engine.store.con.execute(
            "select arg_min(activity_id, rowid), arg_max(activity_id, rowid) from activities").fetchall()[0]
        assert (first, last) == ("a000000000", f"a{rows - 1:09d}")  # the file's order kept
    finally:
        engine.close()
