"""commetrics.toml: defaults, help on every field, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from commetrics import Config, ConfigError, Engine, load_config
from commetrics.config import DEFAULT_CONFIG_TEXT, describe_settings, parse_config


def test_default_config_text_parses_and_matches_the_model() -> None:
    config = parse_config(__import__("tomllib").loads(DEFAULT_CONFIG_TEXT))
    assert config.ingest.schema_contract == "evolve"
    assert config.privacy.min_cell_size == 10
    assert config.conversions["trial_after_join"].windows == (7, 30, 60, 90)


def test_every_setting_has_help_text() -> None:
    rows = describe_settings()
    assert len(rows) >= 10
    assert all(help_text for _, _, help_text in rows), [key for key, _, h in rows if not h]


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml") == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ingest]\nschema_contrct = 'freeze'\n",
         ["unknown key 'ingest.schema_contrct'", "Did you mean 'schema_contract'"]),
        ("[ingest]\nschema_contract = 'loose'\n", ["ingest.schema_contract", "'loose'"]),
        ("[privacy]\nmin_cell_size = 2\n", ["privacy.min_cell_size", "2"]),
        ("[reporting]\ntimezone = 'Mars/Olympus'\n", ["reporting.timezone", "Mars/Olympus"]),
        ("[ingest\n", ["not valid TOML"]),
        ("[conversions.x]\noutcome = 'trial_start'\nwindows = [0]\n", ["conversions.x.windows"]),
        ("[reportin]\ntimezone = 'UTC'\n", ["unknown key 'reportin'", "Did you mean 'reporting'"]),
    ],
)
def test_bad_config_names_the_key_and_what_to_do(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "commetrics.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    for part in expected:
        assert part in message
    assert "run the command again" in message


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "commetrics.toml"
    path.write_bytes(b"[ingest]\nschema_contract = '\xff'\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_engine_reads_the_workspace_config(workspace: Path) -> None:
    (workspace / "commetrics.toml").write_text("[ingest]\nschema_contract = 'freeze'\n", encoding="utf-8")
    with Engine(workspace) as engine:
        assert engine.config.ingest.schema_contract == "freeze"
