"""``commetrics doctor``: is this machine and this workspace ready, each line ok / warning / error with the fix."""

from __future__ import annotations

import typer

from ..engine import doctor as checks
from .common import EXIT_FAILED, JsonOption, WorkspaceOption, app, emit, handle_errors

__all__ = ["doctor"]


@app.command()
@handle_errors
def doctor(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Check the environment and the workspace: packages, Java for Spark, a browser for PDF, the config,
    the store's integrity and size, free disk, the keys file's permissions, pending erasures.

    Changes nothing. Exits 1 when a check fails (an error), 0 when there are at most warnings.

    Example: commetrics doctor --workspace ./community
    """
    found = checks.run(workspace)
    if as_json:
        emit([check.as_dict() for check in found])
    else:
        width = max(len(check.name) for check in found)
        for check in found:
            typer.echo(f"{check.level:<8} {check.name:<{width}}  {check.detail}")
            if check.fix:
                typer.echo(f"{'':<8} {'':<{width}}  fix: {check.fix}")
    if any(check.level == "error" for check in found):
        raise typer.Exit(EXIT_FAILED)
