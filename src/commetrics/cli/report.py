"""``commetrics report`` and ``commetrics demo``: the shareable HTML report, and a workspace to try it on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engine import Engine
from ..errors import InputError
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
    as_exports: Annotated[Path | None, typer.Option(
        "--as-exports", metavar="DIR", help="Write the community as platform exports (Slack, Segment, HubSpot, and "
        "canonical CSV for what no platform carries) with load.sh into the new folder DIR, instead of loading it."
    )] = None,
    from_exports: Annotated[Path | None, typer.Option(
        "--from-exports", metavar="DIR", help="Load the exports that --as-exports wrote into DIR through the platform "
        "connectors (with their commetrics.toml), then report.")] = None,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", metavar="FOLDER", help="Folder for the demo "
                                            "workspace.")] = Path("demo-workspace"),
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic B2B community with planted effects (or load a real one), report on it.

    Example: commetrics demo --members 50000 --seed 3

    Example: commetrics demo --members 2000 --as-exports exports && commetrics demo --from-exports exports
    """
    if sum((real, as_exports is not None, from_exports is not None)) > 1:
        raise InputError("Choose one of --real, --as-exports and --from-exports.")
    if as_exports is not None:
        _write_exports(as_exports, members, seed, as_json)
        return
    engine, loaded = Engine.demo(workspace, members=members, seed=seed, real=real, from_exports=from_exports)
    with engine:
        report_path = write_report(engine, engine.workspace.directory / "report.html", conversions=loaded.conversions,
                                   by=loaded.by)
    directory = engine.workspace.directory
    if as_json:
        emit({"workspace": str(directory), "ground_truth": str(loaded.ground_truth) if loaded.ground_truth else None,
              "report": str(report_path), "loads": [r.as_dict() for r in loaded.reports],
              "canonical_files": [{"file": f, "table": t} for f, t in loaded.canonical]})
        return
    typer.echo(render_loads(loaded.reports), nl=False)
    if loaded.canonical:
        typer.echo("Loaded through the platform connectors, except what no platform carries, loaded as canonical "
                   f"files: {', '.join(f'{f} -> {t}' for f, t in loaded.canonical)}.")
    typer.echo(f"Demo workspace: {directory}")
    if loaded.ground_truth is not None:
        typer.echo(f"Planted effects: {loaded.ground_truth}")
    typer.echo(f"Report: {report_path}  (open it in a browser; it needs no network)")


def _write_exports(out: Path, members: int, seed: int, as_json: bool) -> None:
    exports = Engine.demo_exports(out, members=members, seed=seed)
    if as_json:
        emit({"directory": str(exports.directory), "counts": exports.counts,
              "steps": [{"command": s.command, "name": s.name, "path": s.path, "carries": s.carries,
                         "arguments": s.arguments(str(exports.directory))} for s in exports.steps]})
        return
    typer.echo(f"Wrote the demo community ({members:,} members, seed {seed}) as platform exports to "
               f"{exports.directory}:")
    for step in exports.steps:
        if step.command == "load-dump":
            counts = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in exports.counts.get(step.path, {}).items())
            typer.echo(f"  {step.path + '/':<10} {step.name}: {step.carries} ({counts})")
    typer.echo("No platform carries these; written as canonical CSV files for `commetrics load TABLE FILE`:")
    for step in exports.residue:
        typer.echo(f"  {step.path:<28} {step.name}: {step.carries}")
    typer.echo(f"Load them: sh {exports.directory / 'load.sh'} WORKSPACE   (the commands are in "
               f"{exports.directory / 'README.md'})")
    typer.echo(f"       or: commetrics demo --from-exports {exports.directory} --workspace WORKSPACE")
