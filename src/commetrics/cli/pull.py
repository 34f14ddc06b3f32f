"""``commetrics pull KIND --url URL``: what is new on a platform's API, loaded like its export."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..engine import Engine
from ..errors import InputError
from ..reports.text.dumps import render_dump
from ..sources import SOURCES
from .common import JsonOption, WorkspaceOption, app, emit, handle_errors

__all__ = ["pull"]


def _kinds_help() -> str:
    return "; ".join(f"{name}: {entry.pull_help}" for name, entry in SOURCES.items() if entry.pull is not None)


@app.command()
@handle_errors
def pull(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="Platform with an API: " + _kinds_help() + ".")],
    url: Annotated[str, typer.Option("--url", metavar="URL", help="The platform's address (https://; plain http "
                                     "only to this machine).")],
    token_env: Annotated[str | None, typer.Option("--token-env", metavar="VAR", help="Environment variable holding "
                                                  "the credential (default COMMETRICS_<KIND>_TOKEN). Never pass a "
                                                  "credential on the command line.")] = None,
    source: Annotated[str | None, typer.Option(metavar="NAME", help="Source name of the rows (default: the kind's "
                                               "own, as load-dump uses).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Start again from the beginning instead of where the last "
                                       "pull stopped (what is already loaded counts as duplicates).")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch what is new on a platform's API since the last pull and load it: read = loaded + quarantined +
    duplicates + excluded.

    Example: COMMETRICS_DISCOURSE_TOKEN=... commetrics pull discourse --url https://forum.example.com
    """
    variable = token_env or f"COMMETRICS_{kind.upper()}_TOKEN"
    token = os.environ.get(variable, "")
    if not token and kind in SOURCES.names() and SOURCES.get(kind).pull is not None:
        msg = (f"Set the credential in the environment variable {variable} (e.g. `export {variable}=...`), or name "
               "another variable with --token-env. It is never read from the command line.")
        raise InputError(msg)
    username = os.environ.get(f"COMMETRICS_{kind.upper()}_USERNAME")
    with Engine(workspace) as engine:
        report = engine.pull(kind, url, token or "-", username=username, token_env=variable, source=source,
                             full=full)
    if as_json:
        emit(report.as_dicts())
    else:
        typer.echo(render_dump(report, url), nl=False)
