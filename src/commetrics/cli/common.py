"""What every command shares: the app, its options, error handling and how a Result is shown."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from typer.core import TyperGroup

from ..errors import CommetricsError, InputError
from ..progress import listener, listening
from ..reports.text import render
from ..results import Result, jsonable
from ..store import WORKSPACE_ENV, os_error, store_error
from .feedback import Feedback

__all__ = ["EXIT_FAILED", "EXIT_INPUT", "GLOBAL_FLAGS", "AsOfOption", "EstimandOption", "JsonOption", "RefuteOption",
           "WorkspaceOption", "app", "emit", "estimand", "handle_errors", "parse_as_of", "parse_map", "show"]

#: the options of every command, taken before or after the command's name (``commetrics demo -v``)
GLOBAL_FLAGS = frozenset({"--quiet", "-q", "--verbose", "-v"})


class _Commands(TyperGroup):
    """The root group: global flags anywhere before ``--`` are moved in front of the command's name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: Typer's own click Context
        end = args.index("--") if "--" in args else len(args)
        head, tail = args[:end], args[end:]
        flags = [arg for arg in head if arg in GLOBAL_FLAGS]
        return super().parse_args(ctx, [*flags, *(arg for arg in head if arg not in GLOBAL_FLAGS), *tail])


app = typer.Typer(
    name="commetrics",
    cls=_Commands,
    help="Prove what your customer community is worth: conversion, impact, attribution, scores.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags without a "<bool>" metavar, the metavars we give
)

F = TypeVar("F", bound=Callable[..., Any])

#: exit codes: 0 the work is done; 1 it failed (a busy store, a refused confirmation); 2 bad usage or input
EXIT_FAILED, EXIT_INPUT = 1, 2


@app.callback()
def _every_command(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars nor timings, only the result.")
                     ] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also print how long each stage of long work took (to standard error).")] = False,
) -> None:
    """Prove what your customer community is worth: conversion, impact, attribution, scores."""
    shown = Feedback(quiet=quiet, verbose=verbose)
    ctx.obj = shown
    ctx.with_resource(listening(shown))
    ctx.call_on_close(shown.stop)


def _for_a_program(ctx: typer.Context, value: bool) -> bool:
    """``--json``: the output is for a program, so no bars."""
    if value and isinstance(shown := ctx.find_root().obj, Feedback):
        shown.without_bars()
    return value


WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", metavar="FOLDER",
                 help=f"Workspace folder (default: ${WORKSPACE_ENV} or the current folder)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.", callback=_for_a_program)]
AsOfOption = Annotated[str | None, typer.Option("--as-of", metavar="DATE",
                                                help="The data's now (default: latest loaded event).")]
EstimandOption = Annotated[str | None, typer.Option(
    "--estimand", metavar="att|ate",
    help="att: for those who took part, against what they would have done otherwise (default, "
         "impact.estimand); ate: for everyone alike.")]
RefuteOption = Annotated[bool, typer.Option(
    "--refute", help="Also run the refutations: a placebo treatment, a random common cause, data subsets.")]


def handle_errors(func: F) -> F:
    """Turn our errors into one line ``Error: ...`` on standard error and an exit code: 2 for bad input
    (a file, a name, a parameter, too little data), 1 for work that failed (COMMETRICS_DEBUG=1 shows the trace)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CommetricsError as exc:
            error: BaseException = exc
        except duckdb.Error as exc:  # the store's file failed under a query: damaged, busy or not readable
            found = store_error(exc)
            if found is None:
                raise
            error = found
        except BrokenPipeError:
            raise  # the reader of our output went away (`| head`): nothing to say
        except OSError as exc:  # a file or folder we could not write or read: say which and what to do
            error = os_error(exc)
        if os.environ.get("COMMETRICS_DEBUG"):
            raise error
        if isinstance(shown := listener(), Feedback):
            shown.stop()  # the bars leave the screen before the error is printed
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(EXIT_INPUT if isinstance(error, InputError) else EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def emit(data: Any) -> None:
    """Print plain data as JSON (no NaN)."""
    typer.echo(json.dumps(jsonable(data), indent=2, default=str, allow_nan=False))


def show(result: Result, as_json: bool, **options: Any) -> None:
    """Print a Result: its published JSON, or its terminal rendering (``options`` such as ``limit`` go there)."""
    if as_json:
        typer.echo(result.to_json())
    else:
        typer.echo(render(result, **options), nl=False)


def parse_map(items: list[str], *, option: str = "--map", example: str = "--map ts=created_at") -> dict[str, str]:
    """``canonical=value`` pairs of a repeatable option (``--map``, ``--set``)."""
    mapping: dict[str, str] = {}
    for item in items:
        canonical, sep, value = item.partition("=")
        if not sep or not canonical.strip() or not value.strip():
            what = "file_column" if option == "--map" else "value"
            msg = f"{option} {item!r} is not of the form canonical={what}, e.g. {example}."
            raise InputError(msg)
        mapping[canonical.strip()] = value.strip()
    return mapping


def parse_as_of(value: str | None, option: str = "--as-of") -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"{option} {value!r} is not a date; use ISO 8601, e.g. {option} 2026-06-30 or 2026-06-30T12:00:00Z."
        raise InputError(msg) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def estimand(value: str | None) -> Any:
    if value is not None and value not in ("att", "ate"):
        raise InputError(f"--estimand must be att or ate, not {value!r}.")
    return value
