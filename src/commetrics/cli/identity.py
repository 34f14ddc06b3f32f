"""``commetrics identity ...``: resolve members and contacts into people, explain a person, override links."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..engine import Engine
from ..reports.text.store import render_identity
from .common import JsonOption, WorkspaceOption, app, emit, handle_errors

__all__ = ["identity_app"]

identity_app = typer.Typer(help="Identity resolution: community members and CRM contacts linked into people.",
                           no_args_is_help=True)
app.add_typer(identity_app, name="identity")


def _run_summary(run: dict[str, Any]) -> str:
    links = ", ".join(f"{n:,} by {rule}" for rule, n in run["links_by_rule"].items()) or "none"
    accounts = ", ".join(f"{n:,} by {rule}" for rule, n in run["accounts_by_rule"].items()) or "none"
    lines = [f"{run['records']:,} records are {run['people']:,} people (links: {links}); "
             f"{run['people_with_account']:,} people have an account ({accounts}). {run['seconds']:.1f} s."]
    work = run.get("work", {})
    if run.get("mode") == "incremental":
        lines.append(f"Incremental: {work.get('touched', 0):,} records touched by loads since the last run, "
                     f"{work.get('dirty', 0):,} compared again, {work.get('scope', 0):,} re-clustered.")
    elif work.get("reason"):
        lines.append(f"Full resolution: {work['reason']}.")
    lines += run["notes"]
    return "\n".join(lines)


@identity_app.command("resolve")
@handle_errors
def identity_resolve(
    full: Annotated[bool, typer.Option("--full", help="Resolve every record, not only those loaded since the last "
                                       "run (with the stored model; `identity retrain` trains a new one).")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Link members and contacts into people (e-mail and maps, then names, handles and companies) and people into
    accounts. Runs by itself after loads of members, contacts, accounts or identity maps, resolving only what they
    touched.

    Example: commetrics identity resolve --full
    """
    with Engine(workspace) as engine:
        run = engine.resolve_identities(full=full)
    if as_json:
        emit(run)
    else:
        typer.echo(_run_summary(run))


@identity_app.command("retrain")
@handle_errors
def identity_retrain(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Train the linkage model again on the records as they are now, and resolve every record with it. It also
    happens by itself once the records have grown by `identity.retrain_growth` since the last training.

    Example: commetrics identity retrain
    """
    with Engine(workspace) as engine:
        run = engine.retrain_identities()
    if as_json:
        emit(run)
    else:
        typer.echo(_run_summary(run))


@identity_app.command("explain")
@handle_errors
def identity_explain(
    identifier: Annotated[str, typer.Argument(help="A member id, contact id, e-mail address, record id (m:ID, c:ID) "
                                              "or person id (p:...).")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the person behind an identifier: their records, account, and the rule or match weights of every link.

    Example: commetrics identity explain jane@acme.com
    """
    with Engine(workspace, read_only=True) as engine:
        explained = engine.explain_identity(identifier)
    if as_json:
        emit(explained)
        return
    typer.echo(render_identity(explained), nl=False)


def _override_command(decision: str, doc: str) -> None:
    def command(
        record_a: Annotated[str, typer.Argument(help="A record: m:MEMBER_ID, c:CONTACT_ID, or a member or contact "
                                                "id.")],
        record_b: Annotated[str, typer.Argument(help="The other record.")],
        workspace: WorkspaceOption = None,
        as_json: JsonOption = False,
    ) -> None:
        with Engine(workspace) as engine:
            result = engine.override_identity(record_a, record_b, decision)  # type: ignore[arg-type]
        if as_json:
            emit(result)
            return
        was = f" (it replaces an earlier {result['replaced']})" if result["replaced"] else ""
        verb = {"link": "are one person", "unlink": "are never one person",
                "clear": "are left to the evidence again"}[decision]
        typer.echo(f"{result['record_a']} and {result['record_b']} {verb}{was}; kept for every later run.")
        typer.echo(f"Now: {result['record_a']} is {result['person_a']}, {result['record_b']} is {result['person_b']}.")
        typer.echo(_run_summary(result["run"]))

    command.__doc__ = doc
    identity_app.command(decision)(handle_errors(command))


_override_command("link", "Decide by hand that two records are one person; the decision survives re-runs.\n\n"
                  "Example: commetrics identity link m:4411 c:0033A00001")
_override_command("unlink", "Decide by hand that two records are never one person, whatever the evidence.\n\n"
                  "Example: commetrics identity unlink m:4411 c:0033A00001")
_override_command("clear", "Remove the manual decision about two records; the evidence decides again.\n\n"
                  "Example: commetrics identity clear m:4411 c:0033A00001")
