"""``commetrics impact ...``: one command per registered impact question, each showing its Result."""

from __future__ import annotations

from typing import Annotated

import typer

from ..engine import Engine
from .common import (
    AsOfOption,
    EstimandOption,
    JsonOption,
    RefuteOption,
    WorkspaceOption,
    app,
    estimand,
    handle_errors,
    parse_as_of,
    show,
)

__all__ = ["impact_app"]

impact_app = typer.Typer(help="Impact of engagement on business outcomes, adjusted for selection bias.",
                         no_args_is_help=True)
app.add_typer(impact_app, name="impact")


@impact_app.command("renewal")
@handle_errors
def impact_renewal(as_of: AsOfOption = None, estimand_: EstimandOption = None, refute: RefuteOption = False,
                   workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Renewal of engaged vs not engaged accounts: the raw difference and the adjusted association.

    Example: commetrics impact renewal --json
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("renewal", as_of=parse_as_of(as_of), estimand=estimand(estimand_), refute=refute)
    show(result, as_json)


@impact_app.command("exposure")
@handle_errors
def impact_exposure(
    exposure: Annotated[str, typer.Option(metavar="ACTIVITY", help="Activity type (or program:NAME) that exposes a "
                                          "member, e.g. webinar_attended; or a static flag NAME=VALUE of a member "
                                          "column or attribute, e.g. referred=yes.")],
    outcome: Annotated[str, typer.Option(metavar="TYPE", help="Outcome type to compare, e.g. demo_request.")],
    window: Annotated[int | None, typer.Option(metavar="DAYS", help="Days after the landmark in which the outcome "
                                               "counts (default: impact.window_days).")] = None,
    exposure_days: Annotated[int | None, typer.Option("--exposure-days", metavar="DAYS", help="Days before the "
                                                      "landmark in which the exposure counts (default: "
                                                      "impact.exposure_days).")] = None,
    covariates: Annotated[str, typer.Option(metavar="A,B,...", help="Member attributes to control for, "
                                            "comma-separated (tenure and prior activity are always included).")] = "",
    as_of: AsOfOption = None,
    estimand_: EstimandOption = None,
    refute: RefuteOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Did members exposed to X go on to Y more often? Raw and adjusted differences with diagnostics.

    Example: commetrics impact exposure --exposure webinar_attended --outcome demo_request --window 30
    """
    names = tuple(c.strip() for c in covariates.split(",") if c.strip())
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("exposure", as_of=parse_as_of(as_of), exposure=exposure, outcome=outcome,
                               window_days=window, exposure_days=exposure_days, covariates=names,
                               estimand=estimand(estimand_), refute=refute)
    show(result, as_json)


@impact_app.command("experiment")
@handle_errors
def impact_experiment(
    name: Annotated[str, typer.Option(metavar="NAME", help="The experiment's name (experiments.experiment).")],
    outcome: Annotated[list[str], typer.Option(metavar="TYPE", help="Outcome type(s) to compare; several are "
                                               "Holm-adjusted.")],
    window: Annotated[int | None, typer.Option(metavar="DAYS", help="Days after exposure in which an outcome counts "
                                               "(default: impact.window_days).")] = None,
    control: Annotated[str | None, typer.Option(metavar="VARIANT", help="The control variant (default: 'control', "
                                                "else the first).")] = None,
    pre_days: Annotated[int | None, typer.Option("--pre-days", metavar="DAYS", help="Days of activity before "
                                                 "exposure used by CUPED (default: impact.exposure_days).")] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse an A/B test on conversions: rates, sample-ratio check, differences with intervals, CUPED, Holm.

    Example: commetrics impact experiment --name onboarding-email --outcome activation --window 14
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("experiment", as_of=parse_as_of(as_of), name=name, outcomes=tuple(outcome),
                               window_days=window, pre_days=pre_days, control=control)
    show(result, as_json)


@impact_app.command("campaign")
@handle_errors
def impact_campaign(
    name: Annotated[str, typer.Option(metavar="NAME", help="The campaign's name (experiments.experiment; units are "
                                      "accounts).")],
    outcome: Annotated[list[str] | None, typer.Option(metavar="TYPE", help="Outcome type(s) to measure (default: "
                                                      "upgrade, seat_expansion, cross_sell).")] = None,
    measure: Annotated[str, typer.Option(metavar="value|count", help="Sum of outcome values, or their count, per "
                                         "account and month.")] = "value",
    pre: Annotated[int | None, typer.Option(metavar="MONTHS", help="Months before the start shown (the "
                                            "parallel-trends check).")] = None,
    post: Annotated[int | None, typer.Option(metavar="MONTHS", help="Months after the start measured.")] = None,
    control: Annotated[str | None, typer.Option(metavar="VARIANT", help="The comparison variant (default: 'control' "
                                                "if present, else every account the campaign did not reach).")] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A community-targeted campaign against comparable accounts: difference-in-differences and the pre-trend check.

    Example: commetrics impact campaign --name advocacy-q3 --measure value --pre 6 --post 6
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("campaign", as_of=parse_as_of(as_of), name=name, outcomes=tuple(outcome or ()),
                               control=control, measure=measure, pre=pre, post=post)
    show(result, as_json)


@impact_app.command("plan")
@handle_errors
def impact_plan(
    baseline: Annotated[float, typer.Option(metavar="RATE", help="The control's conversion rate, e.g. 0.10.")],
    target: Annotated[float | None, typer.Option(metavar="RATE", help="The rate to detect, e.g. 0.12: prints the "
                                                 "units needed.")] = None,
    n: Annotated[int | None, typer.Option("--n", metavar="UNITS", help="Units per arm you have: prints the smallest "
                                          "detectable effect.")] = None,
    alpha: Annotated[float, typer.Option(metavar="LEVEL", help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(metavar="POWER", help="Power.")] = 0.8,
    as_json: JsonOption = False,
) -> None:
    """Plan an A/B test: units per arm for a target rate, or the minimum detectable effect for a size.

    Example: commetrics impact plan --baseline 0.10 --target 0.12
    """
    with Engine.in_memory() as engine:  # planning reads no data
        result = engine.impact("plan", baseline=baseline, target=target, n=n, alpha=alpha, power=power)
    show(result, as_json)


@impact_app.command("upsell")
@handle_errors
def impact_upsell(
    horizon: Annotated[int | None, typer.Option(metavar="DAYS", help="Days after participation in which an expansion "
                                                "counts (default: impact.upsell_horizon_days).")] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Expansion after participation, against matched accounts that had not yet participated then.

    Example: commetrics impact upsell --horizon 180
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("upsell", as_of=parse_as_of(as_of), horizon_days=horizon)
    show(result, as_json)


@impact_app.command("feedback")
@handle_errors
def impact_feedback(
    limit: Annotated[int, typer.Option(metavar="N", help="Rows to show in the terminal (JSON has all).")] = 20,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who gave feedback, whether it shipped, and their account's expansion after it: the contributors to thank.

    Example: commetrics impact feedback --limit 50
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.feedback_contributors(as_of=parse_as_of(as_of))
    show(result, as_json, limit=limit)


@impact_app.command("retention")
@handle_errors
def impact_retention(as_of: AsOfOption = None, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Retention curves by participation level (Kaplan–Meier), the log-rank test and a Cox model with covariates.

    Example: commetrics impact retention
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("retention", as_of=parse_as_of(as_of))
    show(result, as_json)


def _survey_command(kind: str) -> None:
    """``impact nps`` and ``impact csat``."""

    def command(as_of: AsOfOption = None, estimand_: EstimandOption = None, refute: RefuteOption = False,
                workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
        with Engine(workspace, read_only=True) as engine:
            result = engine.impact(kind, as_of=parse_as_of(as_of), estimand=estimand(estimand_), refute=refute)
        show(result, as_json)

    command.__doc__ = (f"{kind.upper()} by participation level (participation before each answer), who answers, the "
                       "rank correlation, and engaged against other members.\n\n"
                       f"Example: commetrics impact {kind}")
    impact_app.command(kind)(handle_errors(command))


_survey_command("nps")
_survey_command("csat")
