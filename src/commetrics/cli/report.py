"""``commetrics summary``, ``report`` and ``demo``: what the community is worth, the shareable report (HTML or
PDF), and a workspace to try them on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engine import Engine
from ..errors import InputError
from ..reports import build_summary, write_report
from ..reports.html import render_summary_page
from ..reports.text.store import render_loads
from ..reports.text.summary import render_summary, render_summary_markdown
from .common import EXIT_FAILED, AsOfOption, JsonOption, WorkspaceOption, app, emit, handle_errors, parse_as_of

__all__ = ["demo", "refresh", "report", "summary"]


@app.command()
@handle_errors
def summary(
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Also write it to FILE: .html "
                                             "(a page of its own) or .md (Markdown).")] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """What the community is worth: conversion against non-members, credited revenue, renewal and NPS adjusted
    for selection bias, support deflection, the top programs — each with its interval and one sentence.

    Example: commetrics summary --out summary.html
    """
    if out is not None and out.suffix.lower() not in (".html", ".htm", ".md"):
        raise InputError(f"--out {out} must end in .html or .md (the summary as a web page or as Markdown).")
    with Engine(workspace, read_only=True, cache=True) as engine:
        result = build_summary(engine, parse_as_of(as_of))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        text = render_summary_markdown(result) if out.suffix.lower() == ".md" else render_summary_page(result)
        out.write_text(text, encoding="utf-8")
    if as_json:
        emit(result.to_dict())
        return
    typer.echo(render_summary(result), nl=False)
    if out is not None:
        typer.echo(f"Wrote {out.resolve()}")


@app.command()
@handle_errors
def report(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The HTML file to write.")] = Path(
        "report.html"),
    conversion_names: Annotated[list[str] | None, typer.Option(
        "--conversion", metavar="NAME", help="Conversions to include (default: all defined).")] = None,
    by: Annotated[list[str] | None, typer.Option(metavar="KEY", help="Cohort keys (default: conversion.report_by).")
                  ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print it to a PDF beside the HTML (needs Chromium or "
                                      "Chrome on this machine).")] = False,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a self-contained HTML report: the summary first, then impact, attribution, conversions and scores.

    Example: commetrics report --out community.html --pdf
    """
    target = out.with_suffix(".pdf") if pdf else None
    with Engine(workspace, read_only=True, cache=True) as engine:
        path = write_report(engine, out, conversions=conversion_names or None, by=tuple(by) if by else None,
                            as_of=parse_as_of(as_of), pdf=target)
    typer.echo(f"Wrote {path.resolve()}")
    if target is not None:
        typer.echo(f"Wrote {target.resolve()}")


@app.command()
@handle_errors
def refresh(
    report_path: Annotated[Path | None, typer.Option("--report", metavar="FILE", help="Where to write the HTML report "
                                                     "(default: report.html in the workspace).")] = None,
    pull: Annotated[bool, typer.Option("--pull/--no-pull", help="Pull every platform the workspace pulled before "
                                       "(credentials from COMMETRICS_<KIND>_TOKEN), first.")] = True,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the figures up to date, for a scheduler: pull the platforms pulled before, recompute the cached Results
    the report and the summary read, write the report, and compute the dashboard's views ([dashboard] warm). Exits 1
    naming the source when a pull failed (the report is still written, from the data as of the last load); 0
    otherwise.

    Example: commetrics refresh --report /srv/reports/community.html
    """
    from ..reports.refresh import refresh as run_refresh
    from ..service.queries import warm_workspace

    outcome = run_refresh(workspace, report=report_path, pull=pull, warm=warm_workspace)
    if as_json:
        emit(outcome.as_dict())
    else:
        for item in outcome.pulls:
            typer.echo(f"Pulled {item.kind} {item.url}: {item.rows:,} rows loaded" if item.ok
                       else f"Pull {item.kind} {item.url} failed: {item.error}")
        if outcome.read_copy == "published":
            typer.echo("Published the read copy of the store (commetrics.snapshot.duckdb).")
        results = outcome.results
        typer.echo(f"Results: {results.get('misses', 0)} computed, {results.get('hits', 0)} read back from the cache "
                   f"(data version {outcome.data_version.get('version')}).")
        if outcome.views:
            typer.echo(f"Dashboard: {outcome.views} views read into the results cache ([dashboard] warm).")
        typer.echo(f"Wrote {outcome.report}")
    if not outcome.ok:
        typer.echo(f"Refresh: {outcome.message()}", err=True)
        raise typer.Exit(EXIT_FAILED)


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
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", metavar="FOLDER", help="Folder for the demo "
                                                   "workspace (default: demo-workspace; demo-real with --real).")
                         ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the demo workspace already in the folder.")] = False,
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
    folder = workspace or Path("demo-real" if real else "demo-workspace")
    engine, loaded = Engine.demo(folder, members=members, seed=seed, real=real, force=force,
                                 from_exports=from_exports)
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
