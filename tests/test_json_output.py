"""Every command's ``--json`` is JSON: strict JSON, no NaN or Infinity, whatever the data hold — or a handled
error. The list below names every command that has ``--json``; a new one joins it or this test fails."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.results import jsonable
from commetrics.sources.stackexchange import SAMPLE_DUMP

from .conftest import write_csv

pytestmark = pytest.mark.slow

#: Every command with --json, in the order they run (those that change the workspace last), with arguments.
COMMANDS: list[tuple[str, list[str]]] = [
    ("status", []), ("quarantine", []), ("config", []), ("summary", []),
    ("conversion", ["trial_after_join", "--by", "entry_path"]),
    ("attribution", ["--model", "linear"]), ("drivers", []), ("metrics", []), ("scores", ["--no-save"]),
    ("scores", ["--accounts", "--no-save"]),
    ("impact renewal", []), ("impact exposure", ["--exposure", "webinar_attended", "--outcome", "trial_start"]),
    ("impact experiment", ["--name", "none", "--outcome", "trial_start"]), ("impact campaign", ["--name", "none"]),
    ("impact plan", ["--baseline", "0.1", "--target", "0.12"]), ("impact upsell", []), ("impact feedback", []),
    ("impact retention", []), ("impact nps", []), ("impact csat", []),
    ("identity resolve", []), ("identity retrain", []), ("identity explain", ["m000001"]),
    ("export crm", ["--target", "hubspot", "--out", "{tmp}/crm"]),
    ("export pseudonymised", ["--out", "{tmp}/pseudo", "--format", "csv"]),
    ("store check", []), ("doctor", []), ("mirror", []), ("backup", []),
    ("refresh", ["--report", "{tmp}/refreshed.html"]),
    ("pull", ["discourse", "--url", "https://forum.example.com"]),  # no credential set: a handled error
    ("load", ["accounts", "{tmp}/odd-accounts.csv", "--source", "odd"]),
    ("load-dump", ["stackexchange", str(SAMPLE_DUMP)]),
    ("identity link", ["m:m000001", "m:m000002"]), ("identity unlink", ["m:m000001", "m:m000002"]),
    ("identity clear", ["m:m000001", "m:m000002"]),
    ("forget", ["m000003"]), ("restore", ["--yes"]),
    ("demo", ["--members", "300", "--workspace", "{tmp}/tiny-demo"]), ("users list", []),
]


def _commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), [])
    return found


def _json_commands() -> set[str]:
    return {name for name, command in _commands().items() if any(p.name == "as_json" for p in command.params)}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("json") / "ws"
    engine, _ = Engine.demo(directory, members=1200, seed=3)
    engine.close()
    return directory


def test_the_list_names_every_command_with_json() -> None:
    assert {name for name, _ in COMMANDS} == _json_commands()


def test_every_json_output_is_strict_json(workspace: Path, tmp_path: Path) -> None:
    # Accounts without ARR or seats, and a member with nothing: what turns into NaN in ratios and medians.
    write_csv(tmp_path / "odd-accounts.csv", ["account_id", "name", "arr", "seats"],
              [["odd-1", "No Figures Ltd", "", ""], ["odd-2", "Zero Seats", "0", "0"]])
    outputs = 0
    commands = _commands()
    for name, arguments in COMMANDS:
        args = [*name.split(), *[a.format(tmp=tmp_path) for a in arguments], "--json"]
        if name != "demo" and any(p.name == "workspace" for p in commands[name].params):
            args += ["-w", str(workspace)]
        result = CliRunner().invoke(app, args, env={"COMMETRICS_DEBUG": ""})
        assert isinstance(result.exception, SystemExit | None), (name, repr(result.exception))
        if result.exit_code == 0:
            json.loads(result.stdout, parse_constant=_no_constants)
            outputs += 1
        else:  # a handled error, said in words on stderr, not half a JSON document
            print(f"{name}: {result.output.strip()[:150]}")
            assert result.exit_code in (1, 2), (name, result.output)  # failed work, or bad usage or input
            assert result.stdout.strip() == "" or result.stdout.startswith("Error:"), (name, result.stdout)
    assert outputs >= len(COMMANDS) - 7  # most commands answered (experiment/campaign 'none', pull cannot)


def test_jsonable_turns_every_missing_or_infinite_value_into_null() -> None:
    import decimal

    import numpy as np
    import pandas as pd

    data = {"nat": pd.NaT, "nan": float("nan"), "inf": np.float64("inf"), "na": pd.NA,
            "decimal_nan": decimal.Decimal("NaN"), "decimal": decimal.Decimal("12.50"),
            "frame": pd.DataFrame({"x": [math.inf, None], "t": [pd.NaT, pd.Timestamp("2026-01-01", tz="UTC")]})}
    text = json.dumps(jsonable(data), allow_nan=False)
    assert json.loads(text) == {"nat": None, "nan": None, "inf": None, "na": None, "decimal_nan": None,
                                "decimal": 12.5, "frame": [{"x": None, "t": None},
                                                           {"x": None, "t": "2026-01-01T00:00:00.000Z"}]}
