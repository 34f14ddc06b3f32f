"""The docs stay true: every reason, table, column, setting and command is documented."""

from __future__ import annotations

from pathlib import Path

from commetrics import Reason, schema
from commetrics.cli import app
from commetrics.config import describe_settings
from commetrics.ingest import REASON_HELP

ROOT = Path(__file__).resolve().parents[1]


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_every_reason_is_documented_with_its_help() -> None:
    loading = _read("docs/loading.md")
    for reason in Reason:
        assert f"`{reason.value}`" in loading
        assert REASON_HELP[reason] in loading


def test_every_table_and_column_is_documented() -> None:
    model = _read("docs/data-model.md")
    for table in schema.TABLES.values():
        assert f"## `{table.name}`" in model
        for column in table.columns:
            assert f"| `{column.name}` |" in model.split(f"## `{table.name}`")[1].split("\n## ")[0]


def test_every_setting_and_command_is_documented() -> None:
    docs = _read("docs/loading.md") + _read("docs/cli.md") + _read("README.md")
    for key, _, _ in describe_settings():
        if key.startswith("ingest.") and key not in ("ingest.activity_types", "ingest.outcome_types",
                                                     "ingest.entry_paths", "ingest.survey_kinds"):
            assert key.split(".", 1)[1] in docs, key
    for command in app.registered_commands:
        assert f"commetrics {command.name or command.callback.__name__}" in docs  # type: ignore[union-attr]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in _read("README.md")
    assert "make test" in _read(".ci/run")
