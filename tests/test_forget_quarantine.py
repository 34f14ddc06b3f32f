"""ER-2 for quarantined rows: ``forget`` finds a person's raw records in quarantine under any spelling of their
e-mail address (case, dots, ``+tags``, googlemail) and of their handle, by the argument exactly as given too,
and leaves other people's records alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from commetrics import Engine

from .conftest import NOW, write_csv

SPELLINGS = ["ZELDA.QUUX@GMAIL.COM", "zelda.quux+crm@gmail.com", "Zelda.Quux@GoogleMail.com", "zeldaquux@gmail.com"]
OTHERS = ["zelda.quuxx@gmail.com", "notzelda.quux@gmail.com", "zelda.quux@gmail.co"]  # other people


def _mentions(con: duckdb.DuckDBPyConnection, pattern: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for table, column in con.execute("select table_name, column_name from information_schema.columns "
                                     "where data_type in ('VARCHAR', 'JSON') and table_schema = current_schema()"
                                     ).fetchall():
        n = con.execute(f'select count(*) from "{table}" where regexp_matches(lower("{column}"::varchar), ?)',
                        [pattern]).fetchall()[0][0]
        if n:
            found[f"{table}.{column}"] = int(n)
    return found


ZELDA = r"(^|[^a-z0-9.])zelda\.?quux(\+crm)?@g(oogle)?mail\.com($|[^a-z.])|@zeldaq\b"


def _load(engine: Engine, directory: Path, *, member_loads: bool) -> None:
    members = [["m-other", "other@acme.io", "other", "2026-01-01"]]
    if member_loads:
        members.append(["m-zelda", "zelda.quux@gmail.com", "ZeldaQ", "2026-01-01"])
    else:  # her only row is malformed: she exists in quarantine alone
        members.append(["m-zelda", "ZELDA.QUUX@GMAIL.COM", "@ZeldaQ", "the first of May"])
    members += [[f"m-x{i}", other, f"x{i}", "2026-01-02"] for i, other in enumerate(OTHERS)]
    engine.load("members", write_csv(directory / "m.csv", ["member_id", "email", "handle", "joined_at"], members),
                now=NOW)
    contacts = [[f"c-{i}", spelling, "Zelda Quux", "not a date"] for i, spelling in enumerate(SPELLINGS)]
    contacts += [[f"c-o{i}", other, "Someone Else", "not a date"] for i, other in enumerate(OTHERS)]
    engine.load("contacts", write_csv(directory / "c.csv", ["contact_id", "email", "name", "created_at"], contacts),
                now=NOW)
    engine.load("activities", write_csv(directory / "a.csv", ["activity_id", "member_id", "ts", "type", "channel"], [
        ["a1", "m-other", "2026-02-01", "post", "forum"],
        ["a2", "m-other", "never", "post", "asked @ZeldaQ about it"],  # names her handle: her data
    ]), now=NOW)


@pytest.mark.parametrize(("member_loads", "argument"), [(True, "zelda.quux@gmail.com"),
                                                         (True, "m-zelda"),
                                                         (False, "ZELDA.QUUX@GMAIL.COM"),
                                                         (False, "Zelda.Quux+crm@gmail.com")])
def test_forget_removes_every_spelling_from_quarantine(tmp_path: Path, member_loads: bool, argument: str) -> None:
    workspace = tmp_path / "ws"
    with Engine.init(workspace) as engine:
        _load(engine, tmp_path, member_loads=member_loads)
        before = _mentions(engine.store.con, ZELDA)
        assert before.get("quarantine.record", 0) >= len(SPELLINGS)  # the test can fail
        others = engine.store.con.execute("select count(*) from quarantine where regexp_matches(lower(record), ?)",
                                          ["zelda.quuxx@|notzelda|gmail.co\""]).fetchall()[0][0]
        result = engine.forget(argument)
        assert not result["already_erased"], result
        assert _mentions(engine.store.con, ZELDA) == {}
        assert engine.store.con.execute("select count(*) from quarantine where regexp_matches(lower(record), ?)",
                                        ["zelda.quuxx@|notzelda|gmail.co\""]).fetchall()[0][0] == others == 3
    raw = (workspace / "commetrics.duckdb").read_bytes().lower()
    assert not re.search(rb"(^|[^a-z0-9.])zelda\.?quux(\+crm)?@g(oogle)?mail\.com", raw)


def test_a_restore_reapplies_the_erasure_to_quarantine_too(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    with Engine.init(workspace) as engine:
        _load(engine, tmp_path, member_loads=False)
    shutil.copy(workspace / "commetrics.duckdb", tmp_path / "old.duckdb")
    with Engine(workspace) as engine:
        engine.forget("zelda.quux@gmail.com")
    shutil.copy(tmp_path / "old.duckdb", workspace / "commetrics.duckdb")  # a backup from before the erasure
    with Engine(workspace) as engine:
        assert _mentions(engine.store.con, ZELDA) == {}
