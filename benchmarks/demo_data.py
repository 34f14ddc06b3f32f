"""The 1M-member demo community that the conversion and scores benchmarks share.

It is generated and loaded once, by a child process (so a benchmark's memory figure is its own
work), into ``DIR/members_N`` under the data folder, and reused by every later run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DATA = Path(tempfile.gettempdir()) / "commetrics-bench-conversion"

PREPARE = """
import sys
from pathlib import Path
from commetrics import Config, Engine
from commetrics.config import IdentitySettings
from commetrics.demo import generate
members, directory = int(sys.argv[1]), Path(sys.argv[2])
files = generate(members, 7, directory / "files")
Engine.init(directory / "ws").close()
# Identities stay unresolved: the conversion and scores benchmarks compare against hand-written
# queries over members (one member, one person); benchmarks/demo.py times resolution at scale.
with Engine(directory / "ws", config=Config(identity=IdentitySettings(resolve_on_load=False))) as engine:
    for name, path in files.tables.items():
        engine.load(name, path, source="demo")
(directory / "ready").write_text("ok")
"""


def prepared_workspace(members: int, data: Path = DEFAULT_DATA) -> Path:
    """The workspace folder of the demo community with ``members`` members, made on first use."""
    directory = data / f"members_{members}"
    if not (directory / "ready").exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"preparing {members:,} members in {directory} ...", flush=True)
        subprocess.run([sys.executable, "-c", PREPARE, str(members), str(directory)], check=True)
    return directory / "ws"
