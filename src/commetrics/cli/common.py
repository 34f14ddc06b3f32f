"""What every command shares: the app, its options, error handling and how a Result is shown."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..errors import CommetricsError, InputError
from ..reports.text import render
from ..results import Result, jsonable
from ..store import WORKSPACE_ENV

__all__ = ["AsOfOption", "EstimandOption", "JsonOption", "RefuteOption", "WorkspaceOption", "app", "emit", "estimand",
           "handle_errors", "parse_as_of", "parse_map", "show"]

app = typer.Typer(
    name="commetrics",
    help="Prove what your customer community is worth: conversion, impact, attribution, scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags without a "<bool>" metavar, the metavars we give
)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", metavar="FOLDER",
                 help=f"Workspace folder (default: ${WORKSPACE_ENV} or the current folder)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", metavar="DATE",
                                                help="The data's now (default: latest loaded event).")]
EstimandOption = Annotated[str | None, typer.Option(
    "--estimand", metavar="att|ate",
    help="att: for those who took part, against what they would have done otherwise (default, "
         "impact.estimand); ate: for everyone alike.")]
RefuteOption = Annotated[bool, typer.Option(
    "--refute", help="Also run the refutations: a placebo treatment, a random common cause, data subsets.")]


def handle_errors(func: F) -> F:
    """Turn our errors into one line ``Error: ...`` and exit code 1 (COMMETRICS_DEBUG=1 shows the trace)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CommetricsError as exc:
            if os.environ.get("COMMETRICS_DEBUG"):
                raise
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None

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
