"""``commetrics mirror``: the Parquet mirror of the store that Spark reads (``[engine] backend = "spark"``)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..engine import Engine
from .common import EXIT_FAILED, JsonOption, WorkspaceOption, app, emit, handle_errors

__all__ = ["mirror"]


@app.command()
@handle_errors
def mirror(
    check: Annotated[bool, typer.Option("--check", help="Only say whether the mirror is up to date (exit 1 when "
                                        "it is behind); write nothing.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the Parquet mirror of the store up to date: the files Spark reads with backend = "spark".

    Only what changed is written: new loads, loads an erasure touched, people after an identity run.
    Loads, identity runs and erasures do this by themselves unless [engine.spark] mirror_on_load = false;
    run it to prepare the mirror before a cluster job, or after switching the backend to Spark.

    Example: commetrics mirror --workspace ./community
    """
    with Engine(workspace, read_only=True) as engine:
        folder = engine.mirror()
        if check:
            fresh = folder.is_fresh(engine.store.con)
            if as_json:
                emit({"folder": str(folder.folder), "fresh": fresh})
            else:
                typer.echo(f"The mirror at {folder.folder} is " + ("up to date." if fresh else
                           "behind the store. Run `commetrics mirror` to bring it up to date."))
            if not fresh:
                raise typer.Exit(EXIT_FAILED)
            return
        sync = engine.sync_mirror()
    if as_json:
        emit(sync.as_dict())
        return
    if not sync.changed:
        typer.echo(f"The mirror at {sync.folder} was up to date; nothing written.")
        return
    written = ", ".join(f"{table} {n}" for table, n in sync.written.items()) or "none"
    removed = ", ".join(f"{table} {n}" for table, n in sync.removed.items()) or "none"
    typer.echo(f"Mirror at {sync.folder}: {sync.rows_written:,} rows written in {sync.seconds:.1f}s.\n"
               f"  files written: {written}\n  files removed: {removed}")
