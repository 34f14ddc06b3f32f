"""Commands about the workspace and its data: init, load, load-dump, template, status, quarantine, config."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from .. import schema
from ..config import describe_settings, settings_toml
from ..engine import Engine
from ..errors import CommetricsError, InputError
from ..ingest import REASON_HELP, LoadReport, Reason
from ..ingest.template import template_csv
from ..reports.text import render_frames
from ..reports.text.dumps import render_dump
from ..reports.text.store import render_loads
from ..sources import SOURCES
from ..store import Workspace
from .common import JsonOption, WorkspaceOption, app, emit, handle_errors, parse_map

__all__ = ["config", "init", "load", "load_dump", "quarantine", "status", "template"]


@app.command()
@handle_errors
def init(workspace: WorkspaceOption = None) -> None:
    """Create a workspace: commetrics.toml (definitions) and commetrics.duckdb (the store).

    Example: commetrics init --workspace ./community
    """
    target = Workspace.locate(workspace)
    created = not target.exists
    Engine.init(target.directory).close()
    verb = "Created" if created else "Workspace already exists at"
    typer.echo(f"{verb} {target.directory}\n  config: {target.config_path}\n  store:  {target.database_path}")
    typer.echo("Next: commetrics load members members.csv  (then activities, outcomes, ...)")


@app.command()
@handle_errors
def load(
    table: Annotated[str, typer.Argument(metavar="TABLE", help=f"Canonical table: {', '.join(schema.TABLES)}.")],
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="CSV, Parquet, JSON Lines or Excel (.xlsx) "
                                                "files (one load each).")],
    source: Annotated[str | None, typer.Option(metavar="NAME", help="System the rows come from; keys are unique per "
                                               "source.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", metavar="COLUMN=FILE_COLUMN",
                                                   help="Read a canonical column from a differently named file "
                                                        "column; repeatable.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="COLUMN=VALUE",
                                                   help="Fill a canonical column with one value for every row, "
                                                        "e.g. --set type=purchase; repeatable.")] = None,
    date_format: Annotated[list[str] | None, typer.Option(
        "--date-format", metavar="FORMAT", help="strftime format of the timestamps (e.g. '%d/%m/%Y %H:%M', or iso, "
        "epoch, epoch_ms, excel); several are tried in order; COLUMN=FORMAT for one column. "
        "Default: detected.")] = None,
    timezone: Annotated[str | None, typer.Option(metavar="ZONE", help="Time zone of times without an offset "
                                                 "(default: reporting.timezone).")] = None,
    encoding: Annotated[str | None, typer.Option(metavar="NAME", help="Text encoding, e.g. latin-1 or utf-16 "
                                                 "(default: detected).")] = None,
    decimal_separator: Annotated[str | None, typer.Option(
        "--decimal-separator", metavar="SEP", help="How amounts are written: '.' (1,234.56) or ',' (1.234,56, "
        "1 234,56). Default: detected.")] = None,
    na: Annotated[list[str] | None, typer.Option(
        "--na", metavar="WORD", help="A word that means an empty cell, e.g. --na NULL --na 'N/A'; "
        "repeatable.")] = None,
    sheet: Annotated[str | None, typer.Option(
        "--sheet", metavar="NAME", help="The sheet of an Excel workbook (.xlsx) to read (default: its "
        "first).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check the files and print what the load "
                                          "would do; write nothing.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Corrections: rows whose key this source loaded "
                                          "before replace those rows.")] = False,
    accept_types: Annotated[bool, typer.Option("--accept-types", help="Add unknown activity/outcome types to "
                                               "commetrics.toml and load their rows.")] = False,
    snapshot_as_of: Annotated[str | None, typer.Option(
        "--snapshot-as-of", metavar="DATE", help="subscriptions only: the file is a snapshot of tenure and churn "
        "as of DATE (map tenure_months or tenure_days, and churned).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load files into a table: valid rows load, bad rows go to quarantine with a reason.

    Each file is its own load: a file that cannot be read is reported and the others still load.

    Example: commetrics load activities forum_export.csv --source forum --map ts=created_at
    """
    mapping = parse_map(map_ or [])
    constants = parse_map(set_ or [], option="--set", example="--set type=purchase")
    as_of = _parse_date(snapshot_as_of, "--snapshot-as-of")
    reports: list[LoadReport] = []
    failed: list[tuple[Path, CommetricsError]] = []
    with Engine(workspace) as engine, engine.batch():
        for path in files:
            try:
                reports.append(engine.load(table, path, source=source, mapping=mapping, constants=constants,
                                           date_format=date_format, timezone=timezone, encoding=encoding,
                                           replace=replace, accept_types=accept_types, snapshot_as_of=as_of,
                                           decimal_separator=decimal_separator, null_values=na,
                                           sheet=sheet, dry_run=dry_run))
            except CommetricsError as exc:
                if len(files) == 1:
                    raise
                failed.append((path, exc))
    if as_json:
        emit([r.as_dict() for r in reports])
    elif reports:
        typer.echo(render_loads(reports), nl=False)
    for path, error in failed:
        typer.echo(f"Error: {path}: {error}", err=True)
    if failed:
        loaded = ", ".join(f"{Path(r.file).name} (load {r.load_id})" for r in reports) or "none"
        typer.echo(f"{len(failed)} of {len(files)} files could not be loaded; loaded: {loaded}. Fix the others and "
                   "load them again (loading a loaded file again adds nothing).", err=True)
        raise typer.Exit(1)


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-06-30.") from None


@app.command()
@handle_errors
def template(
    table: Annotated[str, typer.Argument(metavar="TABLE", help=f"Canonical table: {', '.join(schema.TABLES)}.")],
    out: Annotated[Path | None, typer.Option(metavar="FILE", help="Where to write it (default: TABLE.csv; '-' "
                                             "prints it).")] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="subscriptions: a snapshot of tenure and churn "
                                           "(load it with --snapshot-as-of).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Write an example CSV of a table: a comment line per column, the header and two example rows.

    Example: commetrics template members --out members.csv
    """
    if table not in schema.TABLES:
        raise InputError(f"Unknown table {table!r}. Tables: {', '.join(schema.TABLES)}.")
    if snapshot and table != "subscriptions":
        raise InputError("--snapshot applies to subscriptions only.")
    ws = Workspace.locate(workspace)
    text = template_csv(table, ws.config().ingest, snapshot=snapshot)
    if out is not None and str(out) == "-":
        typer.echo(text, nl=False)
        return
    target = out or Path(f"{table}{'_snapshot' if snapshot else ''}.csv")
    if target.exists():
        raise InputError(f"{target} exists; choose another --out (commetrics never overwrites your files).")
    target.write_text(text, encoding="utf-8")
    typer.echo(f"Wrote {target}: fill it in (one row per {schema.TABLES[table].grain.lower()}), then "
               f"commetrics load {table} {target}{' --snapshot-as-of DATE' if snapshot else ''}")


@app.command("load-dump")
@handle_errors
def load_dump(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="Export format: " + "; ".join(
        f"{name} ({entry.label})" for name, entry in SOURCES.items()) + ".")],
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The export (a file, a folder or a .zip): " + "; ".join(
        f"{name}: {entry.help}" for name, entry in SOURCES.items()) + ".")],
    source: Annotated[str | None, typer.Option(metavar="NAME", help="Source name of the rows (default: the "
                                               "format's own).")] = None,
    timezone: Annotated[str | None, typer.Option(metavar="ZONE", help="IANA time zone of the export's local times "
                                                 "(Zoom reports, naive times of CSV exports), e.g. "
                                                 "America/New_York.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a community platform's own export: read = loaded + quarantined + duplicates + excluded.

    Bots, system users and staff actions are excluded and counted; loading the same export again adds nothing.

    Example: commetrics load-dump slack export.zip
    """
    with Engine(workspace) as engine:
        reports = engine.load_dump(kind, path, source=source, timezone=timezone)
    if as_json:
        emit(reports.as_dicts())
    else:
        typer.echo(render_dump(reports, str(path)), nl=False)


@app.command()
@handle_errors
def status(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Rows per table, the latest loads and the quarantine summary.

    Example: commetrics status --json
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.status()
    if as_json:
        emit(result.as_dict())
        return
    tables = pd.DataFrame({"table": list(result.tables), "rows": list(result.tables.values())})
    loads = result.loads.rename(columns={"table_name": "table", "rows_read": "read", "rows_loaded": "loaded",
                                         "rows_quarantined": "quarantined", "rows_duplicate": "duplicates",
                                         "load_id": "load", "finished_at": "finished (UTC)"})
    loads["file"] = [Path(f).name for f in loads["file"]]
    loads["finished (UTC)"] = [t.strftime("%Y-%m-%d %H:%M") for t in loads["finished (UTC)"]]
    typer.echo(f"Workspace {result.workspace}")
    typer.echo(render_frames([("Tables", tables), ("Latest loads", loads),
                              ("Quarantine by reason", result.quarantine)]), nl=False)
    if result.people:
        typer.echo(f"Identities: {sum(result.tables[t] for t in ('members', 'contacts')):,} member and contact rows "
                   f"resolved into {result.people:,} people.")
    if result.identity_note:
        typer.echo(result.identity_note)


@app.command()
@handle_errors
def quarantine(
    table: Annotated[str | None, typer.Option(metavar="TABLE", help="Only rows of this table.")] = None,
    reason: Annotated[str | None, typer.Option(metavar="REASON", help="Only rows with this reason code.")] = None,
    load_id: Annotated[int | None, typer.Option("--load", metavar="ID", help="Only rows of this load.")] = None,
    export: Annotated[Path | None, typer.Option(metavar="FILE", help="Write the rows to this CSV file.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Rows to show (not to export).")] = 20,
    all_: Annotated[bool, typer.Option("--all", help="Also rows a later load fixed (with the load that fixed "
                                       "them).")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List quarantined rows by reason, or export them to fix and re-load.

    Rows whose key a later load loaded are resolved and left out; --all lists them too.

    Example: commetrics quarantine --table activities --reason bad_timestamp --export bad.csv
    """
    with Engine(workspace, read_only=True) as engine:
        rows = engine.quarantine(table=table, reason=reason, load_id=load_id, resolved=all_)
    if export is not None:
        rows.to_csv(export, index=False)
        typer.echo(f"Wrote {len(rows):,} quarantined rows to {export}")
        return
    if as_json:
        emit(rows)
        return
    summary = rows.groupby(["table_name", "reason"]).size().reset_index(name="rows")
    summary["what to do"] = [REASON_HELP[Reason(r)] for r in summary["reason"]]
    typer.echo(render_frames([("Quarantine by reason", summary),
                              (f"First {limit} rows", rows.drop(columns=["record"]).head(limit))]), nl=False)


@app.command()
@handle_errors
def config(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every setting of commetrics.toml, as TOML: the values in force with their help text.

    Example: commetrics config
    """
    ws = Workspace.locate(workspace)
    settings = ws.config()
    if as_json:
        emit([{"key": k, "default": d, "help": h} for k, d, h in describe_settings()])
        return
    typer.echo(settings_toml(settings), nl=False)
