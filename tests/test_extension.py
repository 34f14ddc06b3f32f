"""Adding a source or an attribution model is one module: nothing else in commetrics changes.

Each toy below lives in a module of its own, written by the test, and registers itself on import; the
library, the command line (its help included) and the report then know it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.metrics.attribution import ATTRIBUTION_MODELS
from commetrics.reports.html import model_labels
from commetrics.sources import SOURCES

from .conftest import NOW

TOY_SOURCE = '''
"""A toy platform export: one CSV of forum posts, ``who,when`` (members and their posts)."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from commetrics.sources import SOURCES, Source


def load(loader, path, source, now):
    with Path(path).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with tempfile.TemporaryDirectory() as scratch:
        members = Path(scratch) / "members.csv"
        members.write_text("member_id,joined_at\\n" + "".join(
            f"{who},{when}\\n" for who, when in sorted({(r["who"], min(x["when"] for x in rows if x["who"] == r["who"]))
                                                        for r in rows})), encoding="utf-8")
        posts = Path(scratch) / "activities.csv"
        posts.write_text("activity_id,member_id,ts,type\\n" + "".join(
            f"toy-{i},{r['who']},{r['when']},post\\n" for i, r in enumerate(rows)), encoding="utf-8")
        with loader.batch():
            return [loader.load("members", members, source=source, now=now),
                    loader.load("activities", posts, source=source, now=now)]


SOURCES.register("toyforum", Source(name="toyforum", label="Toy forum export", help="a CSV of who,when",
                                    default_source="toyforum", load=load))
'''

TOY_MODEL = '''
"""A toy attribution model: each conversion's credit split evenly over the distinct classes of its journey."""

from __future__ import annotations

import numpy as np
import pandas as pd

from commetrics.metrics.attribution import ATTRIBUTION_MODELS, AttributionModel


def run(paths, touches, options):
    credit_c = np.zeros(len(paths.classes))
    credit_v = np.zeros(len(paths.classes))
    for path, conversions, value in zip(paths.paths, paths.conversions, paths.value):
        classes = sorted(set(path))
        for name in classes:
            i = list(paths.classes).index(name)
            credit_c[i] += conversions / len(classes)
            credit_v[i] += value / len(classes)
    return pd.DataFrame({"class": list(paths.classes), "conversions": credit_c, "value": credit_v})


ATTRIBUTION_MODELS.register("evensplit", AttributionModel(
    name="evensplit", label="Even split", description="Each conversion's credit goes evenly to the distinct "
    "classes of its journey.", run=run))
'''


@pytest.fixture
def toys(tmp_path: Path) -> Iterator[Path]:
    """The two toy modules on the import path, imported (so registered); unregistered afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_source.py").write_text(textwrap.dedent(TOY_SOURCE), encoding="utf-8")
    (folder / "toy_model.py").write_text(textwrap.dedent(TOY_MODEL), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        import toy_model  # noqa: F401
        import toy_source  # noqa: F401

        yield folder
    finally:
        sys.path.remove(str(folder))
        SOURCES.unregister("toyforum")
        ATTRIBUTION_MODELS.unregister("evensplit")
        sys.modules.pop("toy_source", None)
        sys.modules.pop("toy_model", None)


def _forum(tmp_path: Path) -> Path:
    path = tmp_path / "forum.csv"
    path.write_text("who,when\nann,2026-01-05\nann,2026-01-09\nbob,2026-02-01\n", encoding="utf-8")
    return path


def test_a_toy_source_loads_through_the_engine_and_the_command_line(toys: Path, tmp_path: Path) -> None:
    del toys
    export = _forum(tmp_path)
    with Engine.in_memory() as engine:
        reports = engine.load_dump("toyforum", export, now=NOW)
        assert [(r.table, r.rows_loaded) for r in reports] == [("members", 2), ("activities", 3)]
        again = engine.load_dump("toyforum", export, now=NOW)
        assert sum(r.rows_loaded for r in again) == 0  # a re-run adds nothing
        assert set(engine.table("activities")["source"]) == {"toyforum"}
    workspace = tmp_path / "ws"
    Engine.init(workspace).close()
    result = CliRunner().invoke(app, ["load-dump", "toyforum", str(export), "-w", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["rows_loaded"] for r in json.loads(result.output)] == [2, 3]


def test_a_toy_attribution_model_runs_everywhere_a_built_in_one_does(toys: Path) -> None:
    del toys
    paths = pd.DataFrame({"path": ["a > b > a", "b", "c > a"], "total_conversions": [10, 20, 30],
                          "total_conversion_value": [100.0, 200.0, 300.0], "total_null": [5, 5, 5]})
    with Engine.in_memory() as engine:
        result = engine.attribution("evensplit", paths=paths, exact=True)
        everything = engine.attribution("all", paths=paths, exact=True)
    credit = result["models"].set_index("class")["conversions"]
    # by hand: a > b > a gives a and b 5 each; b gives b 20; c > a gives c and a 15 each
    assert credit.to_dict() == pytest.approx({"a": 20.0, "b": 25.0, "c": 15.0})
    assert credit.sum() == pytest.approx(60.0)
    assert "evensplit" in set(everything["models"]["model"])  # "all" is every registered model
    assert model_labels()["evensplit"] == "Even split"  # the report's label comes from the registry


def test_the_command_line_help_lists_what_is_registered_before_it_starts(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_source.py").write_text(textwrap.dedent(TOY_SOURCE), encoding="utf-8")
    (folder / "toy_model.py").write_text(textwrap.dedent(TOY_MODEL), encoding="utf-8")
    script = ("import sys, toy_source, toy_model; from commetrics.cli import main; "
              "sys.argv = ['commetrics', sys.argv[1], '--help']; main()")
    env_path = f"{folder}"
    for command, expected in (("load-dump", "toyforum (Toy forum export)"), ("attribution", "evensplit: Even split")):
        out = subprocess.run([sys.executable, "-c", script, command], capture_output=True, text=True,
                             env={"PYTHONPATH": env_path, "COLUMNS": "400", "PATH": "/usr/bin:/bin"}, check=False)
        assert expected in " ".join(out.stdout.split()), out.stdout + out.stderr
