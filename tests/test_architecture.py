"""The layering holds and the modules stay small: what `make test` checks besides the behaviour."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "commetrics"


def test_the_import_contract_holds_no_layer_imports_upwards_and_no_cycle() -> None:
    """import-linter's contracts in pyproject.toml: the layers (foundations < config and store < stages <
    analyses < engine < front doors), every import counted, function-level ones too; and no cycle between
    the modules of any package."""
    linter = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(linter)], capture_output=True, text=True, cwd=SOURCE.parents[1], check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


def test_modules_are_small_enough_to_read() -> None:
    sizes = {path.relative_to(SOURCE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in SOURCE.rglob("*.py")}
    too_long = {name: lines for name, lines in sizes.items() if lines > 600}
    assert not too_long, too_long
    assert statistics.median(sizes.values()) <= 200
