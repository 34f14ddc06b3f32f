"""Amounts as spreadsheets write them: groups of thousands and decimal commas, found in the values or
told (``--decimal-separator``), each case its own small file; what no value decides is refused."""

from __future__ import annotations

import json
import random
import re
from decimal import Decimal
from pathlib import Path

import pytest

from commetrics import Config, Engine, InputError
from commetrics.config import IngestSettings

from .conftest import NOW, load, write_csv


def _deals(tmp_path: Path, values: list[str], name: str = "deals.csv") -> Path:
    return write_csv(tmp_path / name, ["outcome_id", "ts", "type", "value"],
                     [[f"o{i}", "2024-05-01", "purchase", v] for i, v in enumerate(values)])


def _values(engine: Engine) -> dict[str, str]:
    return dict(engine.store.con.execute("select outcome_id, value::VARCHAR from outcomes").fetchall())


def _reasons(engine: Engine) -> dict[int, tuple[str, str]]:
    rows = engine.quarantine()
    return {int(line): (reason, detail) for line, reason, detail in zip(rows["line"], rows["reason"], rows["detail"],
                                                                         strict=True)}


def test_a_european_spreadsheet_export_loads_as_written(engine: Engine, tmp_path: Path) -> None:
    """Latin-1, semicolons, CRLF, day-first dates and decimal commas: what German Excel saves as CSV."""
    path = tmp_path / "umsatz.csv"
    path.write_bytes("Kunde;Datum;Betrag;Art\r\n"
                     "Müller;31.12.2024;1.234,56;purchase\r\n"
                     "Bäcker;01.02.2025;99,90;renewal\r\n"
                     "Weiß;15.03.2025;12;purchase\r\n"
                     "Öz;16.03.2025;1\u00a0234,50;purchase\r\n"
                     "Fünf;17.03.2025;2.500.000;purchase\r\n".encode("latin-1"))
    report = load(engine, "outcomes", path, mapping={"member_id": "Kunde", "ts": "Datum", "value": "Betrag",
                                                     "type": "Art"})
    assert (report.rows_loaded, report.rows_quarantined) == (5, 0)
    assert report.number_formats == {"value": "a decimal comma (detected)"}
    values = dict(engine.store.con.execute("select member_id, value::VARCHAR from outcomes").fetchall())
    assert values == {"Müller": "1234.56", "Bäcker": "99.90", "Weiß": "12.00", "Öz": "1234.50",
                      "Fünf": "2500000.00"}
    options = json.loads(engine.store.con.execute("select options from load_ledger").fetchone()[0])
    assert options["read_as"]["number_formats"] == {"value": "a decimal comma (detected)"}


def test_no_break_spaces_between_groups_are_read_with_a_comma(engine: Engine, tmp_path: Path) -> None:
    load(engine, "outcomes", _deals(tmp_path, ["1\u00a0234,5", "12\u202f345\u202f678,90", "7"]))
    assert _values(engine) == {"o0": "1234.50", "o1": "12345678.90", "o2": "7.00"}


def test_groups_of_thousands_with_a_decimal_point_are_found(engine: Engine, tmp_path: Path) -> None:
    report = load(engine, "outcomes", _deals(tmp_path, ["1,234.56", "1,234,567", "12.5", "1,234", "0.99"]))
    assert report.number_formats == {"value": "a decimal point and commas between thousands (detected)"}
    assert _values(engine) == {"o0": "1234.56", "o1": "1234567.00", "o2": "12.50", "o3": "1234.00", "o4": "0.99"}


def test_plain_numbers_need_no_plan_and_a_stray_value_says_what_to_do(engine: Engine, tmp_path: Path) -> None:
    report = load(engine, "outcomes", _deals(tmp_path, ["1234.56", "12", "about 5", "1e3"]))
    assert report.number_formats == {}
    assert _reasons(engine) == {4: ("bad_number", "not a plain number (for 1.234,56 or 1,234.56 use "
                                                  "--decimal-separator)")}


def test_a_column_written_both_ways_is_refused_naming_one_value_of_each(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        engine.load("outcomes", _deals(tmp_path, ["12,5", "3", "1,234.56"]), now=NOW)
    message = str(err.value)
    assert "'12,5' reads only with a decimal comma" in message
    assert "'1,234.56' only with a decimal point" in message
    assert "--decimal-separator" in message
    assert engine.store.con.execute("select count(*) from load_ledger").fetchone() == (0,)


def test_values_either_way_reads_are_refused_until_told(engine: Engine, tmp_path: Path) -> None:
    path = _deals(tmp_path, ["1,234", "2,500"])
    with pytest.raises(InputError) as err:
        engine.load("outcomes", path, now=NOW)
    assert "'1,234' and '2,500' read as thousands with a decimal point and as decimals with a decimal comma" in str(
        err.value)
    report = load(engine, "outcomes", path, decimal_separator=",")
    assert report.number_formats == {"value": "a decimal comma (--decimal-separator)"}
    assert _values(engine) == {"o1": "2.50"}
    assert _reasons(engine) == {2: ("bad_number", "more than two decimal places")}
    load(engine, "outcomes", path, decimal_separator=".", replace=True)
    assert _values(engine) == {"o0": "1234.00", "o1": "2500.00"}


def test_a_point_in_a_comma_column_is_quarantined_not_guessed(engine: Engine, tmp_path: Path) -> None:
    load(engine, "outcomes", _deals(tmp_path, ["99,90", "12.50", "1.234", "1.234,5"]))
    assert _values(engine) == {"o0": "99.90", "o2": "1234.00", "o3": "1234.50"}
    assert _reasons(engine) == {3: ("bad_number", "a point in an amount read with a decimal comma")}


def test_the_whole_column_decides_when_the_sample_cannot(tmp_path: Path) -> None:
    values = ["1,234"] * 120 + ["17,5"]  # the sample sees only values either way reads
    with Engine.in_memory(Config(ingest=IngestSettings(detect_rows=100))) as engine:
        report = load(engine, "outcomes", _deals(tmp_path, values))
        assert report.number_formats == {"value": "a decimal comma (detected)"}
        assert report.rows_quarantined == 120  # 1.234 has three decimals
        assert _values(engine) == {"o120": "17.50"}


def test_an_unknown_separator_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape("use '.' (1,234.56) or ','")):
        engine.load("outcomes", _deals(tmp_path, ["1"]), now=NOW, decimal_separator=";")


def test_other_tables_amounts_and_constants_follow_the_same_rules(engine: Engine, tmp_path: Path) -> None:
    accounts = write_csv(tmp_path / "accounts.csv", ["account_id", "arr"], [["a1", "48.000,00"], ["a2", "950,5"]])
    load(engine, "accounts", accounts)
    assert dict(engine.store.con.execute("select account_id, arr::VARCHAR from accounts").fetchall()) == {
        "a1": "48000.00", "a2": "950.50"}
    deals = write_csv(tmp_path / "won.csv", ["outcome_id", "ts"], [["w1", "2024-05-01"]])
    load(engine, "outcomes", deals, constants={"type": "purchase", "value": "1.500,00"})
    assert _values(engine) == {"w1": "1500.00"}


def test_currency_signs_at_either_edge_are_removed(engine: Engine, tmp_path: Path) -> None:
    """A cell formatted as currency is saved as displayed: ``$1,234.56``, ``1.234,56 €``, ``EUR 5``."""
    report = load(engine, "outcomes", _deals(tmp_path, ["$1,234.56", "$12", "12.5", "$ 7"], name="usd.csv"))
    assert report.number_formats == {
        "value": "a decimal point and commas between thousands, the currency sign $ removed (detected)"}
    assert _values(engine) == {"o0": "1234.56", "o1": "12.00", "o2": "12.50", "o3": "7.00"}
    report = load(engine, "outcomes", _deals(tmp_path, ["1.234,56 €", "99,90\u00a0€", "EUR 5"], name="eur.csv"),
                  source="eu")
    assert report.number_formats == {"value": "a decimal comma, the currency signs EUR € removed (detected)"}
    eu = dict(engine.store.con.execute(
        "select outcome_id, value::VARCHAR from outcomes where source = 'eu'").fetchall())
    assert eu == {"o0": "1234.56", "o1": "99.90", "o2": "5.00"}


def test_two_currencies_in_one_column_need_the_currency_column(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mixed.csv", ["outcome_id", "ts", "type", "value", "cur"],
                     [["o1", "2024-05-01", "purchase", "$12", "USD"], ["o2", "2024-05-01", "purchase", "€10", "EUR"]])
    with pytest.raises(InputError, match=re.escape("holds amounts in $ and €: added up they would mean nothing")):
        engine.load("outcomes", path, now=NOW)
    load(engine, "outcomes", path, mapping={"currency": "cur"})
    rows = engine.store.con.execute("select outcome_id, value::VARCHAR, currency from outcomes order by 1").fetchall()
    assert rows == [("o1", "12.00", "USD"), ("o2", "10.00", "EUR")]


def test_a_sign_is_removed_with_a_separator_told(engine: Engine, tmp_path: Path) -> None:
    load(engine, "outcomes", _deals(tmp_path, ["£1,500", "£2,000"]), decimal_separator=".")
    assert _values(engine) == {"o0": "1500.00", "o1": "2000.00"}


@pytest.mark.parametrize(("text", "expected"), [
    ("1500.00", "1500.00"), ("1,500.00", "1500.00"), ("1.500,00", "1500.00"), ("99,90", "99.90"),
    ("1 234,5", "1234.5"), ("$12", "12"), ("12 €", "12"), ("1,500", "1500"), ("1.500", "1.500"),
    ("soon", None), ("nan", None), ("1,2,3", None), (None, None),
])
def test_one_amount_on_its_own_as_a_connector_reads_it(text: str | None, expected: str | None) -> None:
    """Where no column decides (one value of an API record): a comma is a decimal comma only where it
    cannot be a group of thousands; the commas were dropped before, so 1.500,00 read as 1.5."""
    from commetrics.ingest.numbers import amount

    assert amount(text) == (None if expected is None else Decimal(expected))


# -- planted amounts: any column of amounts in one locale's style reads back to the cent -------------

_STYLES = {  # thousands separator, decimal separator
    "en": (",", "."), "de": (".", ","), "fr": ("\u202f", ","), "fr-space": (" ", ","), "ch": ("", "."),
}


def _written(value: Decimal, style: str, grouped: bool, sign: str) -> str:
    thousands, decimal = _STYLES[style]
    whole, cents = f"{value:.2f}".split(".")
    if grouped and thousands:
        whole = f"{int(whole):,}".replace(",", thousands)
    return f"{sign}{whole}{decimal}{cents}" if sign in ("$", "£", "") else f"{whole}{decimal}{cents} {sign}"


@pytest.mark.parametrize("sign", ["", "$", "€", "EUR"])
@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("style", sorted(_STYLES))
def test_planted_amounts_in_any_style_read_back_to_the_cent(tmp_path: Path, style: str, grouped: bool,
                                                            sign: str) -> None:
    """Amounts written with two decimals as a spreadsheet shows them, in one style per column (every style,
    with and without groups and signs): the load finds the style and reads every value back exactly."""
    rng = random.Random(f"{style}{grouped}{sign}")
    amounts = [Decimal(rng.randrange(0, 10 ** rng.randrange(1, 12))) / 100 for _ in range(12)]
    amounts[0] = Decimal("1234567.89")  # groups of thousands in every style that has them
    values = [_written(a, style, grouped, sign) for a in amounts]
    with Engine.in_memory() as engine:
        load(engine, "outcomes", _deals(tmp_path, values))
        got = dict(engine.store.con.execute("select outcome_id, value from outcomes").fetchall())
    assert got == {f"o{i}": a for i, a in enumerate(amounts)}
