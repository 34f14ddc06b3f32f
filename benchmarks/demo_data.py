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
members, directory, resolved = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "resolved"
files = generate(members, 7, directory / "files")
Engine.init(directory / "ws").close()
# resolved: the default path (``resolve_on_load``), people resolved once after the loads. Unresolved:
# each member is a person (the scores benchmark's hand-written queries count members).
config = Config() if resolved else Config(identity=IdentitySettings(resolve_on_load=False))
with Engine(directory / "ws", config=config) as engine, engine.batch():
    for name, path in files.tables.items():
        engine.load(name, path, source="demo")
(directory / "ready").write_text("ok")
"""


def prepared_workspace(members: int, data: Path = DEFAULT_DATA, *, resolved: bool = False) -> Path:
    """The workspace folder of the demo community with ``members`` members, made on first use; with
    ``resolved``, people are resolved as a default workspace resolves them on load."""
    directory = data / (f"members_{members}_resolved" if resolved else f"members_{members}")
    if not (directory / "ready").exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"preparing {members:,} members in {directory} ...", flush=True)
        subprocess.run([sys.executable, "-c", PREPARE, str(members), str(directory),
                        "resolved" if resolved else "unresolved"], check=True)
    return directory / "ws"
