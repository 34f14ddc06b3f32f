"""The public API is small and deliberate; importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import commetrics


def test_public_api_is_exactly_all() -> None:
    public = {name for name in vars(commetrics) if not name.startswith("_")}
    submodules = {"backup", "cli", "config", "crm", "demo", "engine", "engine_settings", "errors", "identity",
                  "ingest", "lock", "metrics", "privacy", "progress", "registry", "results", "reports", "schema",
                  "score_settings", "service", "source_settings", "sources", "spreadsheet", "stats", "store"}
    submodules.add("annotations")  # the __future__ import
    lazy = {"write_report"}  # loads the report writer, and with it the analysis stack, on first use
    assert public - submodules - lazy == set(commetrics.__all__) - lazy
    assert callable(commetrics.write_report)
    assert commetrics.__all__ == sorted(commetrics.__all__)


def test_errors_are_value_errors_with_one_root() -> None:
    assert issubclass(commetrics.InputError, ValueError)
    for name in ("ConfigError", "MissingColumnError", "SchemaContractError", "UnknownNameError",
                 "UnreadableFileError"):
        assert issubclass(getattr(commetrics, name), commetrics.InputError)
    assert issubclass(commetrics.WorkspaceError, commetrics.CommetricsError)


def test_import_does_not_pull_in_the_service_spark_or_the_analysis_stack() -> None:
    code = ("import sys, commetrics; heavy = [m for m in ('fastapi', 'uvicorn', 'pyspark', 'lifelines', 'ibis', "
            "'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
