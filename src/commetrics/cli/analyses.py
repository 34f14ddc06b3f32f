"""The analysis commands: conversion, attribution, metrics, scores. Each runs the Engine and shows its Result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..engine import Engine
from ..errors import InputError
from ..metrics.attribution import ATTRIBUTION_MODELS
from ..metrics.conversion import COHORT_KEYS
from .common import AsOfOption, JsonOption, WorkspaceOption, app, handle_errors, parse_as_of, show

__all__ = ["attribution", "conversion", "drivers", "metrics", "scores"]


@app.command()
@handle_errors
def conversion(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="A conversion defined in commetrics.toml.")
                    ] = None,
    outcome: Annotated[list[str] | None, typer.Option(metavar="TYPE", help="Outcome type(s) for an ad-hoc "
                                                      "conversion; repeatable.")] = None,
    anchor: Annotated[str | None, typer.Option(metavar="ANCHOR", help="join, an activity type, program:NAME, or "
                                               "outcome:TYPE (repeat and nth purchases).")] = None,
    nth: Annotated[int | None, typer.Option(metavar="N", help="With --anchor outcome:TYPE: anchor at the (N-1)th "
                                            "outcome of TYPE, so the same outcome converts on the Nth (default 2).")
                   ] = None,
    window: Annotated[list[int] | None, typer.Option(metavar="DAYS", help="Window in days, repeatable (default: the "
                                                     "definition's, or conversion.windows).")] = None,
    by: Annotated[list[str] | None, typer.Option(metavar="KEY", help="Cohort key, repeatable: "
                                                 f"{', '.join(COHORT_KEYS)}, or any member or account column or "
                                                 "attribute (plan, contract); NAME:CUT,CUT,... for bands of a "
                                                 "number (arr:10000,100000).")] = None,
    unit: Annotated[str | None, typer.Option(metavar="person|account", help="Count people or accounts.")] = None,
    as_of: AsOfOption = None,
    reference: Annotated[str | None, typer.Option(metavar="COHORT", help="Cohort the others are compared with.")
                         ] = None,
    baseline: Annotated[bool | None, typer.Option("--baseline/--no-baseline", help="Add CRM contacts who never "
                                                  "joined as a baseline (default: when there are any).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Community Conversion Rate by cohort and window, with intervals and time to conversion.

    Example: commetrics conversion --outcome trial_start --by entry_path --window 30 --window 90

    A second purchase within 90 days of the first: --outcome purchase --anchor outcome:purchase --window 90
    """
    if unit not in (None, "person", "account"):
        raise InputError(f"--unit must be person or account, not {unit!r}.")
    with Engine(workspace, read_only=True) as engine:
        result = engine.conversion(name, outcome=outcome or None, anchor=anchor, windows=window or None,
                                   by=by or (), unit=unit, as_of=parse_as_of(as_of),  # type: ignore[arg-type]
                                   reference=reference, baseline=baseline, nth=nth)
    show(result, as_json)


@app.command()
@handle_errors
def drivers(
    name: Annotated[str | None, typer.Argument(metavar="CONVERSION", help="A conversion defined in commetrics.toml.")
                    ] = None,
    outcome: Annotated[list[str] | None, typer.Option(metavar="TYPE", help="Outcome type(s) for an ad-hoc "
                                                      "conversion; repeatable.")] = None,
    days: Annotated[int | None, typer.Option(metavar="N", help="Behaviours in a member's first N days after the "
                                             "anchor (default: drivers.days).")] = None,
    window: Annotated[int | None, typer.Option(metavar="DAYS", help="Conversions counted in this many days after "
                                               "them (default: the conversion's longest window).")] = None,
    control: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Adjust for this member or account column "
                                                      "or attribute; repeatable (default: drivers.controls).")] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Behaviours associated with conversion: activities and programmes of a member's first days, adjusted for
    each other.

    Example: commetrics drivers trial_after_join --days 30
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.drivers(name, outcome=outcome or None, days=days, window_days=window,
                                controls=control or None, as_of=parse_as_of(as_of))
    show(result, as_json)


@app.command()
@handle_errors
def attribution(
    model: Annotated[str, typer.Option(metavar="MODEL", help="A registered model — " + "; ".join(
        f"{name}: {entry.label}" for name, entry in ATTRIBUTION_MODELS.items()) + " — or all.")] = "all",
    outcome: Annotated[list[str] | None, typer.Option(metavar="TYPE", help="Outcome type(s) to attribute (default: "
                                                      "attribution.outcomes, the revenue outcomes).")] = None,
    lookback: Annotated[int | None, typer.Option(metavar="DAYS", help="Days of touches before a conversion "
                                                 "(default: attribution.lookback_days).")] = None,
    by: Annotated[str | None, typer.Option(metavar="CLASS", help="Touchpoint class: type, channel, program or tag "
                                           "(default: attribution.by).")] = None,
    unit: Annotated[str | None, typer.Option(metavar="person|account", help="person, or account: the touches of all "
                                             "the account's members form one journey.")] = None,
    currency: Annotated[str | None, typer.Option(metavar="CODE", help="Only outcomes in this currency (needed when "
                                                 "values are in several).")] = None,
    half_life: Annotated[float | None, typer.Option("--half-life", metavar="DAYS", help="Time decay half-life "
                                                    "(default: attribution.half_life_days).")] = None,
    paths: Annotated[Path | None, typer.Option(metavar="FILE", help="An aggregated path file (path, "
                                               "total_conversions, total_conversion_value, total_null) instead of "
                                               "the store.")] = None,
    as_of: AsOfOption = None,
    ci: Annotated[bool, typer.Option("--ci", help="Add 95% bootstrap intervals (resampling journeys).")] = False,
    order: Annotated[int | None, typer.Option(metavar="N", help="Markov chain order, 1 to 4 (default: "
                                              "attribution.markov_order).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit conversions and revenue to community touchpoints, model by model (credit allocation, not lift).

    Example: commetrics attribution --outcome purchase --by program --lookback 90
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.attribution(model, outcome=outcome or None, lookback_days=lookback, by=by,  # type: ignore[arg-type]
                                    unit=unit, currency=currency, half_life_days=half_life,  # type: ignore[arg-type]
                                    as_of=parse_as_of(as_of), paths=paths, ci=ci, order=order)
    show(result, as_json)


@app.command()
@handle_errors
def metrics(
    as_of: AsOfOption = None,
    since: Annotated[str | None, typer.Option(metavar="DATE", help="Only activities and outcomes from this date "
                                              "on.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Community health: activation rate, contributor share, contribution-to-consumption, accepted answers, revenue.

    Example: commetrics metrics --since 2026-01-01
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.community_metrics(as_of=parse_as_of(as_of), since=parse_as_of(since, "--since"))
    show(result, as_json)


@app.command()
@handle_errors
def scores(
    accounts: Annotated[bool, typer.Option("--accounts/--members", help="Account health (--accounts) or member "
                                           "engagement (--members, the default).")] = False,
    as_of: AsOfOption = None,
    validate: Annotated[bool, typer.Option("--validate", help="Check health against later renewals: AUC, "
                                           "churn per band, learned weights.")] = False,
    changes: Annotated[int | None, typer.Option("--changes", metavar="DAYS", help="Show tiers/bands that changed "
                                                "since the snapshot this many days earlier.")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Keep a snapshot of today's scores "
                                       "(history for trends and changes).")] = True,
    limit: Annotated[int, typer.Option(metavar="N", help="Rows to show in the terminal (JSON has all).")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Engagement scores of members (with consent) and health scores of accounts; validation and history.

    Example: commetrics scores --accounts --validate
    """
    level = "accounts" if accounts else "members"
    options: dict[str, Any] = {"limit": limit}
    with Engine(workspace, read_only=not save or validate or changes is not None) as engine:
        if validate:
            result = engine.validate_health(as_of=parse_as_of(as_of))
        elif changes is not None:
            result = engine.score_changes(level, days=changes)
        else:
            result = engine.scores(level, as_of=parse_as_of(as_of), save=save)
    show(result, as_json, **options)
