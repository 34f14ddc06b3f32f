"""Commands that send data out or remove it: export crm, export pseudonymised, forget, keys rotate."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer

from ..crm import FILES, TARGETS
from ..engine import Engine
from ..engine.operations import CrmExport
from ..errors import InputError
from .common import AsOfOption, JsonOption, WorkspaceOption, app, emit, handle_errors, parse_as_of

__all__ = ["export_app", "keys_app"]

export_app = typer.Typer(help="Write results out to other systems.", no_args_is_help=True)
app.add_typer(export_app, name="export")
keys_app = typer.Typer(help="The workspace's pseudonym keys (commetrics.keys).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@export_app.command("crm")
@handle_errors
def export_crm(
    target: Annotated[str, typer.Option(metavar="|".join(TARGETS), help="The CRM: " + " or ".join(TARGETS) + ".")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FOLDER", help="Folder for the import files.")] = Path(
        "crm-export"),
    push: Annotated[bool, typer.Option("--push", help="Also send the records through the CRM's REST API.")] = False,
    url: Annotated[str | None, typer.Option(metavar="URL", help="API base URL (default: https://api.hubapi.com for "
                                            "HubSpot; your instance URL for Salesforce).")] = None,
    token_env: Annotated[str, typer.Option("--token-env", metavar="VARIABLE",
                                           help="Environment variable holding the API token (never put tokens on "
                                                "the command line).")] = "COMMETRICS_CRM_TOKEN",
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write engagement and health scores as CRM import files (members with consent only); --push sends them.

    Example: commetrics export crm --target hubspot --out crm/ --push
    """
    token = os.environ.get(token_env, "").strip()
    if push and not token:
        raise InputError(f"--push needs an API token in the environment variable {token_env}; set it and run again.")
    with Engine(workspace, read_only=True) as engine:
        written = engine.export_crm(target, out, as_of=parse_as_of(as_of))
        if not as_json:  # said before a push, which may stop with an error
            _say_written(written, out)
        result = engine.push_crm(target, base_url=url, token=token, as_of=parse_as_of(as_of)) if push else None
    if as_json:
        emit({"export": written, "push": None if result is None else dataclasses.asdict(result)})
        return
    if result is None:
        return
    typer.echo(f"Pushed {result.contacts_sent:,} contacts and {result.companies_sent:,} companies in "
               f"{result.batches_sent:,} batches ({result.batches_skipped:,} already sent, "
               f"{result.retries:,} retries); {len(result.failed_records):,} records refused.")
    for failure in result.failed_records[:20]:
        typer.echo(f"  refused: {failure}")


def _say_written(written: CrmExport, out: Path) -> None:
    for path in written.files:
        typer.echo(f"Wrote {path}")
    typer.echo(f"{written.contacts:,} contacts with consent, {written.companies:,} companies; "
               f"{written.withheld_without_consent:,} members without consent left out.")
    if written.without_email:
        typer.echo(f"{written.without_email:,} members have no e-mail address, and HubSpot matches imported contacts "
                   f"by e-mail: they are in {out / FILES['hubspot', 'contacts_without_email']}, not in the main file. "
                   "Import that file matching on Record ID (its crm_contact_id column, where identity resolution "
                   "found their CRM contact), or load their addresses and export again.")


@export_app.command("pseudonymised")
@handle_errors
def export_pseudonymised(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FOLDER", help="The folder to write into.")] = Path(
        "export"),
    table: Annotated[list[str] | None, typer.Option(metavar="TABLE", help="A table to export, repeatable (default: "
                                                    "members, contacts, accounts, activities, outcomes, "
                                                    "subscriptions, surveys, experiments, people).")] = None,
    file_format: Annotated[str, typer.Option("--format", metavar="parquet|csv", help="File format.")] = "parquet",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the tables with keyed pseudonyms instead of identifiers, no names, consenting people only.

    Example: commetrics export pseudonymised --out share/ --format csv
    """
    with Engine(workspace, read_only=True) as engine:
        manifest = engine.export_pseudonymised(out, tables=table or None,
                                               file_format=file_format)  # type: ignore[arg-type]
    if as_json:
        emit(manifest)
        return
    for name, written in manifest["tables"].items():
        typer.echo(f"{name:14s} {written['rows']:>12,} rows  {out / written['file']}")
    withheld = manifest["withheld_without_consent"]
    typer.echo(f"Identifiers are pseudonyms under key {manifest['key_id']}; names and attributes are left out; "
               f"{withheld['members']:,} members and {withheld['contacts']:,} contacts without consent are not "
               f"exported. Manifest: {out / 'manifest.json'}")


@app.command()
@handle_errors
def forget(
    identifier: Annotated[str, typer.Argument(metavar="IDENTIFIER", help="The person's e-mail address, member id or "
                                              "CRM contact id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a person from every table (and everything resolved to them); compact the store so the bytes are gone.

    Example: commetrics forget jane@acme.com --yes
    """
    if not yes and not as_json:
        typer.confirm("Erase this person from every table? This cannot be undone", abort=True)
    with Engine(workspace) as engine:
        result = engine.forget(identifier)
    if as_json:
        emit(result)
        return
    if result["already_erased"]:
        typer.echo("Nobody with that identifier is in the store (never loaded, or already erased); nothing changed.")
        return
    found = ", ".join(f"{n} {kind.replace('_', ' ')}{'s' if n != 1 else ''}" for kind, n in result["found"].items()
                      if n)
    deleted = ", ".join(f"{table} {n:,}" for table, n in sorted(result["rows_deleted"].items()))
    typer.echo(f"Erased {found}. Rows deleted: {deleted}.")
    typer.echo("The store was compacted, so the deleted values are gone from the file. The erasure is recorded "
               f"(erasure {result['erasure_id']}, pseudonyms only) and later loads drop the person's rows. Write "
               "again any export or report made before now.")


@keys_app.command("rotate")
@handle_errors
def keys_rotate(workspace: WorkspaceOption = None) -> None:
    """Make a new active pseudonym key; the old ones stay for the erasure ledger.

    Example: commetrics keys rotate
    """
    with Engine(workspace, read_only=True) as engine:
        retired, active = engine.rotate_keys()
    typer.echo(f"Pseudonyms are now made with key {active}; {retired} is retired and kept for the erasure ledger. "
               "Write pseudonymised exports again to move them to the new key.")
