"""``commetrics report`` and ``commetrics demo``: the shareable HTML report, and a workspace to try it on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engine import Engine
from ..reports import write_report
from ..reports.text.store import render_loads
from .common import AsOfOption, JsonOption, WorkspaceOption, app, emit, handle_errors, parse_as_of

__all__ = ["demo", "report"]


@app.command()
@handle_errors
def report(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The HTML file to write.")] = Path(
        "report.html"),
    conversion_names: Annotated[list[str] | None, typer.Option(
        "--conversion", metavar="NAME", help="Conversions to include (default: all defined).")] = None,
    by: Annotated[list[str] | None, typer.Option(metavar="KEY", help="Cohort keys (default: conversion.report_by).")
                  ] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a self-contained HTML report: conversion tables, charts and the definitions used.

    Example: commetrics report --out community.html --by entry_path
    """
    with Engine(workspace, read_only=True) as engine:
        path = write_report(engine, out, conversions=conversion_names or None, by=tuple(by) if by else None,
                            as_of=parse_as_of(as_of))
    typer.echo(f"Wrote {path.resolve()}")


@app.command()
@handle_errors
def demo(
    members: Annotated[int, typer.Option(metavar="N", help="Members to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(metavar="SEED", help="Random seed (same seed, same data).")] = 7,
    real: Annotated[bool, typer.Option("--real", help="Load the real Stack Exchange community shipped with "
                                       "commetrics (bicycles.meta, CC BY-SA) instead of generating one.")] = False,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", metavar="FOLDER", help="Folder for the demo "
                                            "workspace.")] = Path("demo-workspace"),
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic B2B community with planted effects (or load a real one), report on it.

    Example: commetrics demo --members 50000 --seed 3
    """
    engine, loaded = Engine.demo(workspace, members=members, seed=seed, real=real)
    with engine:
        report_path = write_report(engine, engine.workspace.directory / "report.html", conversions=loaded.conversions,
                                   by=loaded.by)
    directory = engine.workspace.directory
    if as_json:
        emit({"workspace": str(directory), "ground_truth": str(loaded.ground_truth) if loaded.ground_truth else None,
              "report": str(report_path), "loads": [r.as_dict() for r in loaded.reports]})
        return
    typer.echo(render_loads(loaded.reports), nl=False)
    typer.echo(f"Demo workspace: {directory}")
    if loaded.ground_truth is not None:
        typer.echo(f"Planted effects: {loaded.ground_truth}")
    typer.echo(f"Report: {report_path}  (open it in a browser; it needs no network)")
