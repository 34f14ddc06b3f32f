"""A loader process for the crash drills (run by test_crash.py, killed by it or by itself).

    python crash_child.py batches WORKSPACE FILE...     load each file; print its name when committed
    python crash_child.py before-commit WORKSPACE FILE  SIGKILL itself just before COMMIT
    python crash_child.py after-commit WORKSPACE FILE   SIGKILL itself just after COMMIT returns
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from commetrics import Engine
from commetrics.ingest import load_file


class _KillAtCommit:
    """A connection that kills the process around COMMIT (the loader takes any connection)."""

    def __init__(self, con: Any, when: str) -> None:
        self.con = con
        self.when = when

    def execute(self, sql: str, *args: Any) -> Any:
        is_commit = sql.strip().lower() == "commit"
        if is_commit and self.when == "before-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        result = self.con.execute(sql, *args)
        if is_commit and self.when == "after-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def executemany(self, sql: str, *args: Any) -> Any:
        return self.con.executemany(sql, *args)


def main() -> None:
    mode, workspace, *files = sys.argv[1:]
    engine = Engine(workspace)
    print("ready", flush=True)
    if mode == "batches":
        for name in files:
            engine.load("activities", name)
            print(Path(name).name, flush=True)
        engine.close()
        return
    con = _KillAtCommit(engine.store.con, mode)
    load_file(con, "activities", Path(files[0]), settings=engine.config.ingest)  # type: ignore[arg-type]
    raise SystemExit("the process should have been killed")


if __name__ == "__main__":
    main()
