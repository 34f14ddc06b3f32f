"""Commands that look after the workspace itself: backup, restore, store check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engine import Engine
from ..errors import WorkspaceError
from .common import JsonOption, WorkspaceOption, app, emit, handle_errors

__all__ = ["store_app"]

store_app = typer.Typer(help="The workspace's store: check it whole.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@app.command()
@handle_errors
def backup(
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FOLDER", help="A new folder for the backup "
                                             "(default: a new one in the workspace's backups folder, which keeps "
                                             "the newest store.backups_kept).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back up the workspace: store, config, pseudonym keys and erasure ledger, as one consistent snapshot.

    Example: commetrics backup --out /safe/place/community-2026-07-01
    """
    with Engine(workspace, read_only=True) as engine:
        made = engine.backup(out)
    if as_json:
        emit(made)
        return
    tables = made["tables"]
    typer.echo(f"Backed up the workspace to {made['path']}: the store ({sum(tables.values()):,} rows in "
               f"{len(tables)} tables), {', '.join(n for n in made['files'] if n not in ('commetrics.duckdb',))}.")
    typer.echo("It holds personal data and the pseudonym keys: keep it as safe as the workspace. "
               "`commetrics restore` puts it back and applies again every erasure made after it.")
    if made["pruned"]:
        typer.echo(f"Deleted {len(made['pruned'])} older backup(s) (store.backups_kept).")


@app.command()
@handle_errors
def restore(
    backup_folder: Annotated[Path | None, typer.Argument(metavar="[BACKUP]", help="The backup folder (default: the "
                                                         "latest in the workspace's backups folder).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a backup back: checked whole first; the current state is kept; erasures made since are applied again.

    Example: commetrics restore --yes
    """
    if not yes and not as_json:
        found = Engine.backups(workspace)
        if backup_folder is None and not found:
            raise WorkspaceError("No backup in the workspace's backups folder. Name the backup folder to restore "
                                 "(`commetrics restore FOLDER`).")
        named = backup_folder or Path(found[-1]["path"])
        typer.confirm(f"Replace the workspace's store, config and keys with the backup {named}? The current state "
                      "is kept as a backup first", abort=True)
    result = Engine.restore(workspace, backup_folder)
    if as_json:
        emit(result)
        return
    typer.echo(f"Restored the backup {result['restored']} (made {result['created_at']}).")
    if result["previous_state"]:
        typer.echo(f"The state it replaced is kept as the backup {result['previous_state']}.")
    if result["damaged_store_moved_to"]:
        typer.echo(f"The damaged store it replaced was moved to {result['damaged_store_moved_to']}; delete it "
                   "once you no longer need it (it holds personal data).")
    typer.echo(f"{result['erasures_reapplied']:,} erasure(s) made after the backup were applied again "
               f"({result['rows_erased']:,} rows removed). Write again any export or report made since.")


@store_app.command("check")
@handle_errors
def store_check(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Read every row of the store and check loads, erasures, keys, config and backups; exit 1 on a problem.

    Example: commetrics store check
    """
    report = Engine.check_store(workspace)
    if as_json:
        emit(report)
    else:
        for finding in report.findings:
            typer.echo(f"{'ok     ' if finding.ok else 'PROBLEM'}  {finding.name:9s} {finding.detail}")
            if finding.advice:
                typer.echo(f"{'':18s}{finding.advice}")
        typer.echo("Everything is in order." if report.ok else "Problems found: see above for what to do.")
    if not report.ok:
        raise typer.Exit(1)
