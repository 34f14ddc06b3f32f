"""``commetrics serve`` (the dashboard and its API) and ``commetrics users ...`` (who may sign in to it)."""

from __future__ import annotations

import ipaddress
import sys
from typing import Annotated

import typer

from ..errors import InputError
from .common import JsonOption, WorkspaceOption, app, emit, handle_errors

STOP_WAIT_SECONDS = 5  # how long a stopping server waits for the requests under way

__all__ = ["users_app"]

users_app = typer.Typer(help="The dashboard's users: add, list, remove, and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[bool, typer.Option(
        "--secure-cookies", help="Mark the session cookie Secure and send HSTS: the dashboard is reached over HTTPS "
        "(behind a reverse proxy that terminates TLS).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the dashboard and its JSON API (pages at /, API at /api/..., its reference at /docs) over the workspace.
    Sign in with a user of `commetrics users add`.

    Example: commetrics serve --port 8000
    """
    import uvicorn

    from ..service import SecuritySettings, Users, create_app

    if not Users.of(workspace).list():
        typer.echo("No users yet: add one with `commetrics users add NAME --role admin`, then sign in.", err=True)
    if not _loopback(host):
        typer.echo(f"Warning: listening on {host}, not only this machine. Serve it to others through a reverse proxy "
                   "with HTTPS (and --secure-cookies): passwords and session cookies must never cross the network "
                   "in clear. See docs/dashboard.md.", err=True)
    application = create_app(workspace, security=SecuritySettings(secure_cookies=secure_cookies), warm_up=True)
    typer.echo(f"commetrics dashboard on http://{host}:{port}/ (Ctrl+C stops it)", err=True)
    # a stop (Ctrl+C, SIGTERM) waits at most a few seconds for requests under way, then the computations they wait
    # for are interrupted (the Reader's close), instead of the server running on until the longest one is done
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=True,
                server_header=False, timeout_graceful_shutdown=STOP_WAIT_SECONDS)


@users_app.command("add")
@handle_errors
def users_add(
    name: Annotated[str, typer.Argument(help="The user name to sign in with.")],
    role: Annotated[str, typer.Option("--role", metavar="viewer|analyst|admin",
                                      help="viewer: published figures; analyst: also member scores and identity "
                                           "review; admin: also identity decisions and quarantine downloads.")
                    ] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input "
                                                 "(for scripts) instead of asking for it.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a user of the dashboard; the password is asked for (twice) or read from standard input.

    Example: commetrics users add jane --role analyst
    """
    from ..service import ROLES, Users

    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}, not {role!r}.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = Users.of(workspace).add(name, role, password)
    typer.echo(f"Added {user.name} ({user.role}).")


@users_app.command("list")
@handle_errors
def users_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the users of the dashboard and their roles.

    Example: commetrics users list
    """
    from ..service import Users

    found = Users.of(workspace).list()
    if as_json:
        emit([{"name": u.name, "role": u.role, "created_at": u.created_at} for u in found])
        return
    if not found:
        typer.echo("No users yet: `commetrics users add NAME --role admin` adds one.")
    for user in found:
        typer.echo(f"{user.name}\t{user.role}\tadded {user.created_at}")


@users_app.command("remove")
@handle_errors
def users_remove(name: Annotated[str, typer.Argument(help="The user to remove.")],
                 workspace: WorkspaceOption = None) -> None:
    """Remove a user; their sessions end and their API tokens stop working at once.

    Example: commetrics users remove jane
    """
    from ..service import Users

    Users.of(workspace).remove(name)
    typer.echo(f"Removed {name}; their sessions and tokens no longer work.")


@users_app.command("token")
@handle_errors
def users_token(name: Annotated[str, typer.Argument(help="The user the token acts as.")],
                workspace: WorkspaceOption = None) -> None:
    """Make an API token for a user (send it as `Authorization: Bearer TOKEN`). It is shown once: only its hash is
    kept.

    Example: commetrics users token jane
    """
    from ..service import Users

    token = Users.of(workspace).issue_token(name)
    typer.echo(token)
    typer.echo("Shown once: keep it in a secret store. `commetrics users remove` revokes it with the user.", err=True)
