"""The ``commetrics`` command line: parse, call the Engine, render. Nothing else lives here."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .config import describe_settings
from .engine import Engine
from .errors import CommetricsError, InputError, WorkspaceError
from .store import WORKSPACE_ENV, Workspace

app = typer.Typer(
    name="commetrics",
    help="Prove what your customer community is worth: conversion, impact, attribution, scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help=f"Workspace folder (default: ${WORKSPACE_ENV} or the current folder)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


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


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        canonical, sep, file_column = item.partition("=")
        if not sep or not canonical.strip() or not file_column.strip():
            msg = f"--map {item!r} is not of the form canonical=file_column, e.g. --map ts=created_at."
            raise InputError(msg)
        mapping[canonical.strip()] = file_column.strip()
    return mapping


@app.command()
@handle_errors
def init(workspace: WorkspaceOption = None) -> None:
    """Create a workspace: commetrics.toml (definitions) and commetrics.duckdb (the store).

    Example: commetrics init --workspace ./community
    """
    target = Workspace.locate(workspace)
    created = target.init()
    verb = "Created" if created else "Workspace already exists at"
    typer.echo(f"{verb} {target.directory}\n  config: {target.config_path}\n  store:  {target.database_path}")
    typer.echo("Next: commetrics load members members.csv  (then activities, outcomes, ...)")


@app.command()
@handle_errors
def load(
    table: Annotated[str, typer.Argument(help="Canonical table: members, accounts, contacts, activities, "
                                         "outcomes, subscriptions, surveys, experiments.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files (one load each).")],
    source: Annotated[str | None, typer.Option(help="System the rows come from; keys are unique per source.")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="canonical=file_column, repeatable.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load files into a table: valid rows load, bad rows go to quarantine with a reason.

    Example: commetrics load activities forum_export.csv --source forum --map ts=created_at
    """
    mapping = _parse_map(map_ or [])
    from .reports.text import render_loads

    with Engine(workspace) as engine, engine.batch():
        reports = [engine.load(table, path, source=source, mapping=mapping) for path in files]
    if as_json:
        _emit([r.as_dict() for r in reports])
    else:
        typer.echo(render_loads(reports), nl=False)


@app.command("load-dump")
@handle_errors
def load_dump(
    kind: Annotated[str, typer.Argument(help="Export format: stackexchange.")],
    folder: Annotated[Path, typer.Argument(help="The unpacked export folder.")],
    source: Annotated[str, typer.Option(help="Source name of the rows.")] = "stackexchange",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a community platform's own export: a Stack Exchange data dump (Users.xml, Posts.xml, ...).

    Example: commetrics load-dump stackexchange ./bicycles.stackexchange.com
    """
    if kind != "stackexchange":
        from .errors import UnknownNameError

        raise UnknownNameError.for_name("export format", kind, ["stackexchange"], "")
    from .reports.text import render_loads

    with Engine(workspace) as engine:
        reports = engine.load_stackexchange(folder, source=source)
    if as_json:
        _emit([r.as_dict() for r in reports])
    else:
        typer.echo(render_loads(reports), nl=False)


@app.command()
@handle_errors
def status(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Rows per table, the latest loads and the quarantine summary.

    Example: commetrics status --json
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.status()
    if as_json:
        _emit(result.as_dict())
        return
    import pandas as pd

    from .reports.text import render_frames

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
    table: Annotated[str | None, typer.Option(help="Only rows of this table.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only rows with this reason code.")] = None,
    load_id: Annotated[int | None, typer.Option("--load", help="Only rows of this load.")] = None,
    export: Annotated[Path | None, typer.Option(help="Write the rows to this CSV file.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show (not to export).")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List quarantined rows by reason, or export them to fix and re-load.

    Example: commetrics quarantine --table activities --reason bad_timestamp --export bad.csv
    """
    from .ingest import REASON_HELP, Reason
    from .reports.text import render_frames

    with Engine(workspace, read_only=True) as engine:
        rows = engine.quarantine(table=table, reason=reason, load_id=load_id)
    if export is not None:
        rows.to_csv(export, index=False)
        typer.echo(f"Wrote {len(rows):,} quarantined rows to {export}")
        return
    if as_json:
        _emit(json.loads(rows.to_json(orient="records")))
        return
    summary = rows.groupby(["table_name", "reason"]).size().reset_index(name="rows")
    summary["what to do"] = [REASON_HELP[Reason(r)] for r in summary["reason"]]
    typer.echo(render_frames([("Quarantine by reason", summary),
                              (f"First {limit} rows", rows.drop(columns=["record"]).head(limit))]), nl=False)


def _parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--as-of {value!r} is not a date; use ISO 8601, e.g. --as-of 2026-06-30 or 2026-06-30T12:00:00Z."
        raise InputError(msg) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
@handle_errors
def conversion(
    name: Annotated[str | None, typer.Argument(help="A conversion defined in commetrics.toml.")] = None,
    outcome: Annotated[list[str] | None, typer.Option(help="Outcome type(s) for an ad-hoc conversion.")] = None,
    anchor: Annotated[str | None, typer.Option(help="join, an activity type, or program:NAME.")] = None,
    window: Annotated[list[int] | None, typer.Option(help="Window in days, repeatable (default 7 30 60 90).")] = None,
    by: Annotated[list[str] | None, typer.Option(help="Cohort key, repeatable: join_month, join_week, "
                                                 "first_activity, entry_path, program, segment.")] = None,
    unit: Annotated[str | None, typer.Option(help="person or account.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    reference: Annotated[str | None, typer.Option(help="Cohort the others are compared with.")] = None,
    baseline: Annotated[bool | None, typer.Option("--baseline/--no-baseline", help="Add CRM contacts who never "
                                                  "joined as a baseline (default: when there are any).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Community Conversion Rate by cohort and window, with intervals and time to conversion.

    Example: commetrics conversion --outcome trial_start --by entry_path --window 30 --window 90
    """
    if unit not in (None, "person", "account"):
        raise InputError(f"--unit must be person or account, not {unit!r}.")
    options: dict[str, Any] = {"outcome": outcome or None, "anchor": anchor, "windows": window or None,
                               "by": by or (), "unit": unit}
    moment = _parse_as_of(as_of)
    with Engine(workspace, read_only=True) as engine:
        spec = engine.conversion_spec(name, **options)
        moment = moment or engine.as_of(None)
        rates = engine.conversion(name, as_of=moment, reference=reference, baseline=baseline, **options)
        timing = engine.time_to_conversion(name, as_of=moment, **options)
        k = engine.config.privacy.min_cell_size
        identity_note = engine.identity_note()
    from .privacy.outputs import suppress_rates, suppress_timing, suppression_note

    rates = suppress_rates(rates, k, totals_published=False)
    timing = suppress_timing(timing, k)
    note = suppression_note(rates)
    if as_json:
        _emit({"conversion": spec.name, "as_of": moment.isoformat(), "outcomes": list(spec.outcomes),
               "anchor": spec.anchor, "unit": spec.unit, "min_cell_size": k, "suppression_applied": bool(note),
               "identity_note": identity_note,
               "rates": json.loads(rates.to_json(orient="records")),
               "time_to_conversion": json.loads(timing.to_json(orient="records"))})
        return
    from .reports.text import render_conversion

    typer.echo(render_conversion(spec, moment, rates, timing), nl=False)
    if note:
        typer.echo(note)
    if identity_note:
        typer.echo(identity_note)


@app.command()
@handle_errors
def attribution(
    model: Annotated[str, typer.Option(help="first, last, linear, position, time_decay, markov, shapley or all.")
                     ] = "all",
    outcome: Annotated[list[str] | None, typer.Option(help="Outcome type(s) to attribute (default: revenue "
                                                      "outcomes).")] = None,
    lookback: Annotated[int, typer.Option(help="Days of touches before a conversion.")] = 90,
    by: Annotated[str, typer.Option(help="Touchpoint class: type, channel, program or tag.")] = "program",
    unit: Annotated[str, typer.Option(help="person, or account: the touches of all the account's members form "
                                      "one journey.")] = "person",
    currency: Annotated[str | None, typer.Option(help="Only outcomes in this currency (needed when values are "
                                                 "in several).")] = None,
    half_life: Annotated[float, typer.Option("--half-life", help="Time decay half-life in days.")] = 7.0,
    paths: Annotated[Path | None, typer.Option(help="An aggregated path file (path, total_conversions, "
                                               "total_conversion_value, total_null) instead of the store.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    ci: Annotated[bool, typer.Option("--ci", help="Add 95% bootstrap intervals (resampling journeys).")] = False,
    order: Annotated[int, typer.Option(help="Markov chain order, 1 to 4 (solved exactly).")] = 1,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Credit conversions and revenue to community touchpoints, model by model (credit allocation, not lift).

    Example: commetrics attribution --outcome purchase --by program --lookback 90
    """
    options: dict[str, Any] = {"lookback_days": lookback, "by": by, "unit": unit, "currency": currency,
                               "half_life_days": half_life, "as_of": _parse_as_of(as_of)}
    if outcome:
        options["outcome"] = outcome
    with Engine(workspace, read_only=True) as engine:
        result = engine.attribution(model, paths=paths, ci=ci, order=order, **options)
        k = engine.config.privacy.min_cell_size
    from .privacy.outputs import attribution_note, suppress_attribution

    result = suppress_attribution(result, k)
    note = attribution_note(result)
    without = result.attrs.get("conversions_without_touch")
    if as_json:
        _emit({"models": json.loads(result.to_json(orient="records")), "conversions_without_touch": without,
               "value_without_touch": result.attrs.get("value_without_touch"), "min_cell_size": k,
               "suppression_applied": bool(note)})
        return
    from .reports.text import render_frames

    shown = result.assign(share=["suppressed" if hidden else f"{100 * v:.1f}%"
                                 for v, hidden in zip(result["share"], result["suppressed"], strict=True)])
    for column in shown.columns:
        if column.startswith(("conversions", "value")):
            shown[column] = shown[column].round(1 if column.startswith("conversions") else 0)
    typer.echo(render_frames([("Attribution (credit allocation; it shows where credit goes, not what caused "
                               "the conversions)", shown.drop(columns="suppressed"))]), nl=False)
    typer.echo("Conversions with no community touch in the lookback (not attributed): "
               + (f"{without:,}" if without is not None else "suppressed"))
    if note:
        typer.echo(note)


@app.command()
@handle_errors
def metrics(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    since: Annotated[str | None, typer.Option(help="Only activities and outcomes from this date on.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Community health: activation rate, contributor share, contribution-to-consumption, accepted answers, revenue.

    Example: commetrics metrics --since 2026-01-01
    """
    with Engine(workspace, read_only=True) as engine:
        table = engine.community_metrics(as_of=_parse_as_of(as_of), since=_parse_as_of(since))
        k = engine.config.privacy.min_cell_size
    from .privacy.outputs import suppress_ratios, suppression_note

    table = suppress_ratios(table, k)
    note = suppression_note(table, noun="figure")
    if as_json:
        _emit({"metrics": json.loads(table.to_json(orient="records")), "min_cell_size": k,
               "suppression_applied": bool(note)})
        return
    from .reports.text import render_frames

    shown = table.assign(value=["suppressed" if hidden else f"{v:.3f}"
                                for v, hidden in zip(table["value"], table["suppressed"], strict=True)])
    typer.echo(render_frames([("Community metrics", shown[["metric", "value", "numerator", "denominator",
                                                           "definition"]])]), nl=False)
    if note:
        typer.echo(note)


@app.command()
@handle_errors
def scores(
    accounts: Annotated[bool, typer.Option("--accounts/--members", help="Account health (--accounts) or member "
                                           "engagement (--members, the default).")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    validate: Annotated[bool, typer.Option("--validate", help="Check health against later renewals: AUC, "
                                           "churn per band, learned weights.")] = False,
    changes: Annotated[int | None, typer.Option("--changes", help="Show tiers/bands that changed since the "
                                                "snapshot this many days earlier.")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Keep a snapshot of today's scores "
                                       "(history for trends and changes).")] = True,
    limit: Annotated[int, typer.Option(help="Rows to show in the terminal (JSON has all).")] = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Engagement scores of members (with consent) and health scores of accounts; validation and history.

    Example: commetrics scores --accounts --validate
    """
    level = "accounts" if accounts else "members"
    from .reports.text import render_frames

    with Engine(workspace, read_only=not save) as engine:
        if validate:
            result = engine.validate_health(as_of=_parse_as_of(as_of))
            if as_json:
                _emit(result)
                return
            typer.echo(_validation_text(result))
            import pandas as pd

            bands = pd.DataFrame(result["bands"]).round(3)
            typer.echo(render_frames([("Churn per band (95% Wilson intervals)", bands)]), nl=False)
            return
        if changes is not None:
            table = engine.score_changes(level, days=changes)
            title = f"{level.capitalize()} whose {'band' if accounts else 'tier'} changed over {changes} days"
        else:
            table = engine.scores(level, as_of=_parse_as_of(as_of), save=save)
            title = f"{'Account health' if accounts else 'Member engagement'} as of {table.attrs['as_of'][:10]}"
    if as_json:
        _emit({"rows": json.loads(table.to_json(orient="records", date_format="iso")), **table.attrs})
        return
    order = "health" if accounts and "health" in table else ("score" if "score" in table else None)
    shown = table.sort_values(order, ascending=False) if order else table
    if accounts and changes is None:
        shown = shown[["account_id", "segment", "health", "band", "trend", "community", "product_usage", "support",
                       "relationship", "commercial", "active_members", "missing"]]
    typer.echo(render_frames([(title, shown.head(limit).round(1))]), nl=False)
    if "withheld_without_consent" in table.attrs:
        typer.echo(f"{len(table):,} members with consent shown; {table.attrs['withheld_without_consent']:,} without "
                   "consent are counted in account figures but never listed.")


def _validation_text(result: dict[str, Any]) -> str:
    lines = [
        f"Health taken before {result['renewals']:,} decided renewals ({result['churned']:,} churned):",
        f"  AUC for churn {result['auc']:.3f} (95% bootstrap {result['auc_low']:.3f}-{result['auc_high']:.3f})",
        f"  without the community component {result['auc_without_community']:.3f}; community adds "
        f"{result['community_gain']:+.3f} ({result['community_gain_low']:+.3f} to "
        f"{result['community_gain_high']:+.3f})",
    ]
    if result.get("learned_weights"):
        pairs = ", ".join(f"{k} {result['expert_weights'][k]:.0f} -> {v:.0f}"
                          for k, v in result["learned_weights"].items())
        lines.append(f"  weights, configured -> learned: {pairs}")
        lines.append(f"  on the latest {result['holdout_renewals']:,} renewals: AUC "
                     f"{result['holdout_auc_expert']:.3f} configured, {result['holdout_auc_learned']:.3f} learned")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON: tables as lists of records (at any depth), NaN and infinities as null."""
    if hasattr(value, "to_json"):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _emit_frames(result: dict[str, Any]) -> None:
    """Print an analysis result as JSON: its tables as lists of records, everything else as it is (no NaN)."""
    typer.echo(json.dumps(_jsonable(result), indent=2, default=str, allow_nan=False))


impact_app = typer.Typer(help="Impact of engagement on business outcomes, adjusted for selection bias.",
                         no_args_is_help=True)
app.add_typer(impact_app, name="impact")


EstimandOption = Annotated[str | None, typer.Option(
    "--estimand", metavar="att|ate",
    help="att: for those who took part, against what they would have done otherwise (default, "
         "impact.estimand); ate: for everyone alike.")]
RefuteOption = Annotated[bool, typer.Option(
    "--refute", help="Also run the refutations: a placebo treatment, a random common cause, data subsets.")]


def _estimand(value: str | None) -> Any:
    if value is not None and value not in ("att", "ate"):
        raise InputError(f"--estimand must be att or ate, not {value!r}.")
    return value


@impact_app.command("renewal")
@handle_errors
def impact_renewal(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    estimand: EstimandOption = None,
    refute: RefuteOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Renewal of engaged vs not engaged accounts: the raw difference and the adjusted association.

    Example: commetrics impact renewal --json
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("renewal", as_of=_parse_as_of(as_of), estimand=_estimand(estimand), refute=refute)
    result.pop("units")  # the per-renewal propensities are for the library's analyst
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_adjusted, render_frames

    typer.echo(render_frames([("Renewal rate by participation level (95% Wilson intervals)",
                               result["levels"].round(3))]), nl=False)
    typer.echo(f"{result['renewals']:,} decided renewals ({result['engaged']:,} engaged):")
    typer.echo(render_adjusted(result, groups="engaged minus not engaged", covariates=result["covariates"]), nl=False)
    typer.echo(render_frames([("Balance: standardised mean differences (target |SMD| < 0.1 after weighting)",
                               result["balance"][["covariate", "smd_before", "smd_after"]].round(3))]), nl=False)


@impact_app.command("exposure")
@handle_errors
def impact_exposure(
    exposure: Annotated[str, typer.Option(help="Activity type (or program:NAME) that exposes a member, e.g. "
                                          "webinar_attended.")],
    outcome: Annotated[str, typer.Option(help="Outcome type to compare, e.g. demo_request.")],
    window: Annotated[int, typer.Option(help="Days after the landmark in which the outcome counts.")] = 30,
    exposure_days: Annotated[int, typer.Option("--exposure-days", help="Days before the landmark in which the "
                                               "exposure counts.")] = 90,
    covariates: Annotated[str, typer.Option(help="Member attributes to control for, comma-separated (tenure and "
                                            "prior activity are always included).")] = "",
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    estimand: EstimandOption = None,
    refute: RefuteOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Did members exposed to X go on to Y more often? Raw and adjusted (AIPW) differences with diagnostics.

    Example: commetrics impact exposure --exposure webinar_attended --outcome demo_request --window 30
    """
    names = [c.strip() for c in covariates.split(",") if c.strip()]
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("exposure", as_of=_parse_as_of(as_of), exposure=exposure, outcome=outcome,
                               window_days=window, exposure_days=exposure_days, covariates=names,
                               estimand=_estimand(estimand), refute=refute)
        k = engine.config.privacy.min_cell_size
    from .privacy.outputs import suppress_exposure

    result, note = suppress_exposure(result, k)
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_adjusted, render_frames

    def count(value: int | None) -> str:
        return "suppressed" if value is None else f"{value:,}"

    def rate(value: float | None) -> str:
        return "suppressed" if value is None else f"{100 * value:.1f}%"

    exposed = (f", {result['exposed']:,} with {exposure} in the {exposure_days} days before the landmark"
               if result["exposed"] is not None else
               f" (how many had {exposure} in the {exposure_days} days before the landmark is suppressed)")
    typer.echo(f"{count(result['members'])} eligible members{exposed}; {outcome} within {window} days after it:")
    typer.echo(f"  rate: exposed {rate(result['rate_exposed'])}, not exposed {rate(result['rate_unexposed'])}")
    typer.echo(render_adjusted(result, groups="exposed minus not exposed", covariates=result["covariates"]), nl=False)
    if result["balance"] is not None:
        typer.echo(render_frames([("Balance: standardised mean differences (target |SMD| < 0.1 after weighting)",
                                   result["balance"][["covariate", "smd_before", "smd_after"]].round(3))]), nl=False)
    if note:
        typer.echo(note)


@impact_app.command("experiment")
@handle_errors
def impact_experiment(
    name: Annotated[str, typer.Option(help="The experiment's name (experiments.experiment).")],
    outcome: Annotated[list[str], typer.Option(help="Outcome type(s) to compare; several are Holm-adjusted.")],
    window: Annotated[int, typer.Option(help="Days after exposure in which an outcome counts.")] = 30,
    control: Annotated[str | None, typer.Option(help="The control variant (default: 'control', else the first).")
                       ] = None,
    pre_days: Annotated[int, typer.Option("--pre-days", help="Days of activity before exposure used by CUPED.")] = 90,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse an A/B test on conversions: rates, sample-ratio check, differences with intervals, CUPED, Holm.

    Example: commetrics impact experiment --name onboarding-email --outcome activation --window 14
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("experiment", as_of=_parse_as_of(as_of), experiment=name, outcome=",".join(outcome),
                               window_days=window, exposure_days=pre_days, control=control)
        k = engine.config.privacy.min_cell_size
    from .privacy.outputs import label_hidden, suppress_experiment

    result, note = suppress_experiment(result, k)
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_frames

    srm = result["srm"]
    counts = ", ".join(f"{v}: {'suppressed' if n is None else f'{n:,}'}" for v, n in srm["counts"].items())
    typer.echo(f"Sample-ratio check: {counts}; "
               + ("chi-square withheld" if srm["p"] is None else f"chi-square p = {srm['p']:.3g}")
               + (" — MISMATCH: assignment or exposure logging is broken; do not trust the comparison."
                  if srm["mismatch"] else " (no mismatch)."))
    comparisons = result["comparisons"].round(4)
    typer.echo(render_frames([
        (f"Conversion within {window} days of exposure, per variant (95% Wilson intervals; units whose window has "
         "not elapsed are left out)", label_hidden(result["variants"].round(4), "analysed")),
        (f"Against {result['control']}: difference (Newcombe interval), z-test p, Holm-adjusted p; CUPED on prior "
         "activity where available", label_hidden(comparisons, "difference") if len(comparisons) else comparisons),
    ]), nl=False)
    mde = result["minimum_detectable_effect"]
    typer.echo("Minimum detectable effect at this size (80% power, 5% two-sided): "
               + ("withheld." if mde is None else f"{100 * mde:.1f} percentage points."))
    if note:
        typer.echo(note)


@impact_app.command("campaign")
@handle_errors
def impact_campaign(
    name: Annotated[str, typer.Option(help="The campaign's name (experiments.experiment; units are accounts).")],
    outcome: Annotated[list[str] | None, typer.Option(help="Outcome type(s) to measure (default: upgrade, "
                                                       "seat_expansion, cross_sell).")] = None,
    measure: Annotated[str, typer.Option(help="value (sum of outcome values) or count, per account and month.")
                       ] = "value",
    pre: Annotated[int, typer.Option(help="Months before the start shown (the parallel-trends check).")] = 6,
    post: Annotated[int, typer.Option(help="Months after the start measured.")] = 6,
    control: Annotated[str | None, typer.Option(help="The comparison variant (default: 'control' if present, "
                                                "else every account the campaign did not reach).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A community-targeted campaign against comparable accounts: difference-in-differences and the pre-trend check.

    Example: commetrics impact campaign --name advocacy-q3 --measure value --pre 6 --post 6
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("campaign", as_of=_parse_as_of(as_of), experiment=name,
                               outcome=",".join(outcome) if outcome else None, control=control, measure=measure,
                               pre_months=pre, post_months=post)
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_frames, render_guards

    typer.echo(f"Campaign {result['campaign']}: {result['accounts_reached']:,} accounts reached "
               f"({result['cohorts']} start months) against {result['accounts_compared']:,} "
               f"({result['control']}), {result['months']}; {result['measure']} of {', '.join(result['outcomes'])} "
               "per account and month.")
    typer.echo(render_frames([("Event study: reached minus comparison, by months since the start (−1 is the "
                               "reference; 95% intervals)", result["event_times"].round(3))]), nl=False)
    for label, key in (("Event study, average after the start", "event_study"),
                       ("Two-way fixed-effects DiD", "did")):
        e = result[key]
        typer.echo(f"{label}: {e['estimate']:+.3f} ({e['ci_low']:+.3f} to {e['ci_high']:+.3f}), p = {e['p']:.3g}.")
    typer.echo(result["pre_trend_sentence"])
    typer.echo(render_guards(result, "the campaign's difference-in-differences"), nl=False)
    for note in result["notes"]:
        typer.echo(f"Note: {note}")
    typer.echo(f"This is an {result['wording']}." if not result["wording"].startswith("not credible")
               else f"Read with care: {result['wording']}.")


@impact_app.command("plan")
@handle_errors
def impact_plan(
    baseline: Annotated[float, typer.Option(help="The control's conversion rate, e.g. 0.10.")],
    target: Annotated[float | None, typer.Option(help="The rate to detect, e.g. 0.12: prints the units needed.")
                      ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Units per arm you have: prints the smallest detectable "
                                          "effect.")] = None,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
) -> None:
    """Plan an A/B test: units per arm for a target rate, or the minimum detectable effect for a size.

    Example: commetrics impact plan --baseline 0.10 --target 0.12
    """
    from .metrics.causal import minimum_detectable_effect, sample_size_two_proportions

    if (target is None) == (n is None):
        raise InputError("Give either --target (units needed to detect it) or --n (what that many units detect).")
    if n is None and target is not None:
        pooled = sample_size_two_proportions(baseline, target, alpha=alpha, power=power, method="pooled")
        arcsine = sample_size_two_proportions(baseline, target, alpha=alpha, power=power, method="arcsine")
        typer.echo(f"To detect {100 * baseline:.1f}% -> {100 * target:.1f}% with {100 * power:.0f}% power at a "
                   f"two-sided {alpha:g}: {pooled:,} units per arm (pooled normal; {arcsine:,} by Cohen's h).")
    elif n is not None:
        mde = minimum_detectable_effect(baseline, n, alpha=alpha, power=power)
        typer.echo(f"With {n:,} units per arm and a {100 * baseline:.1f}% baseline, the smallest increase detected "
                   f"with {100 * power:.0f}% power is {100 * mde:.2f} percentage points "
                   f"(to {100 * (baseline + mde):.2f}%).")


@impact_app.command("upsell")
@handle_errors
def impact_upsell(
    horizon: Annotated[int, typer.Option(help="Days after participation in which an expansion counts.")] = 180,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Expansion after participation, against matched accounts that had not yet participated then.

    Example: commetrics impact upsell --horizon 180
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("upsell", as_of=_parse_as_of(as_of), horizon_days=horizon)
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_frames, render_guards

    rate, value = result["expansion_rate"], result["expansion_value"]
    typer.echo(f"{result['matched']:,} of {result['participants']:,} participating accounts matched "
               f"({result['distinct_controls']:,} distinct controls); expansion within {horizon} days of the date "
               "each started to participate:")
    typer.echo(f"  expanded: participants {100 * rate['participants']:.1f}%, matched {100 * rate['controls']:.1f}%; "
               f"difference {100 * rate['difference']:+.1f} points ({100 * rate['ci_low']:+.1f} to "
               f"{100 * rate['ci_high']:+.1f})")
    typer.echo(f"  expansion value per account: {value['participants']:,.0f} vs {value['controls']:,.0f}; "
               f"difference {value['difference']:+,.0f} ({value['ci_low']:+,.0f} to {value['ci_high']:+,.0f})")
    if len(result["balance"]):
        typer.echo(render_frames([("Balance of the matched accounts (standardised mean differences)",
                                   result["balance"].round(3))]), nl=False)
    typer.echo(render_guards(result, "the matched difference"), nl=False)


@impact_app.command("feedback")
@handle_errors
def impact_feedback(
    limit: Annotated[int, typer.Option(help="Rows to show in the terminal (JSON has all).")] = 20,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who gave feedback, whether it shipped, and their account's expansion after it: the contributors to thank.

    Example: commetrics impact feedback --limit 50
    """
    with Engine(workspace, read_only=True) as engine:
        table = engine.feedback_contributors(as_of=_parse_as_of(as_of))
    if as_json:
        _emit({"rows": json.loads(table.to_json(orient="records", date_format="iso")), **table.attrs})
        return
    from .reports.text import render_frames

    typer.echo(render_frames([("Feedback contributors (members with consent), shipped first",
                               table.head(limit).round(0))]), nl=False)
    typer.echo(f"{len(table):,} contributors with consent; {table.attrs['withheld_without_consent']:,} without "
               "consent are not listed.")


@impact_app.command("retention")
@handle_errors
def impact_retention(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retention curves by participation level (Kaplan–Meier), the log-rank test and a Cox model with covariates.

    Example: commetrics impact retention
    """
    with Engine(workspace, read_only=True) as engine:
        result = engine.impact("retention", as_of=_parse_as_of(as_of))
    if as_json:
        _emit_frames(result)
        return
    from .reports.text import render_frames, render_guards

    rank = result["logrank"]
    typer.echo(render_frames([
        (f"Retention by participation level in the first {result['landmark_days']} days (Kaplan–Meier, from then)",
         result["levels"].round(3)),
        ("Cox model of churn: hazard ratios (below 1: fewer churn), adjusted for the covariates",
         result["cox"].round(3)),
    ]), nl=False)
    typer.echo(f"Log-rank test across levels: chi-square {rank['chi2']:.2f} on {rank['df']} df, p = {rank['p']:.2g}.")
    typer.echo(render_guards(result, "the Cox model's hazard ratios"), nl=False)
    for group in result["cox_left_out"]:
        typer.echo(f"Left out of the Cox model ({group['accounts']:,} accounts): {group['group']} has no churn, "
                   "so its hazard ratio cannot be estimated.")


def _survey_command(kind: str) -> None:
    """Print NPS or CSAT by participation level (``impact nps`` and ``impact csat``)."""

    def command(
        as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")
                         ] = None,
        estimand: EstimandOption = None,
        refute: RefuteOption = False,
        workspace: WorkspaceOption = None,
        as_json: JsonOption = False,
    ) -> None:
        with Engine(workspace, read_only=True) as engine:
            result = engine.impact(kind, as_of=_parse_as_of(as_of), estimand=_estimand(estimand), refute=refute)
            k = engine.config.privacy.min_cell_size
        from .privacy.outputs import label_hidden, suppress_survey

        result, note = suppress_survey(result, k)
        if as_json:
            _emit_frames(result)
            return
        from .reports.text import render_adjusted, render_frames

        typer.echo(render_frames([
            (f"{kind.upper()} by participation level (activities in the {result['window_days']} days before each "
             f"answer; scale {result['scale']}; 95% intervals)", label_hidden(result["levels"].round(3), "answers")),
            ("Who answers: members by participation over the last year (non-response differs by level)",
             label_hidden(result["response"].round(3), "members")),
        ]), nl=False)
        ordinal, rho = result["ordinal"], result["spearman"]
        if ordinal is not None:
            typer.echo(f"Ordinal logit (controls: {ordinal['controls']}): odds of a higher score "
                       f"x{ordinal['odds_ratio']:.2f} ({ordinal['ci_low']:.2f} to {ordinal['ci_high']:.2f}) per unit "
                       "of ln(1 + activities) — an adjusted association.")
        if rho is not None:
            typer.echo(f"Spearman correlation of participation with the score: {rho['rho']:.3f} ({rho['ci_low']:.3f} "
                       f"to {rho['ci_high']:.3f}), over {result['answers']:,} answers of {result['members']:,} "
                       "members — an association, not proof that taking part raises scores.")
        comparison = result.get("comparison")
        if comparison and comparison.get("reason"):
            typer.echo(f"Engaged against other members: not compared. {comparison['reason']}")
        elif comparison:
            typer.echo(f"Engaged ({comparison['engaged_level']} level or above) against other members, on each "
                       f"member's latest answer, in {comparison['scale']}:")
            typer.echo(render_adjusted(comparison, groups="engaged minus not engaged",
                                       covariates=comparison["covariates"]), nl=False)
        if note:
            typer.echo(note)

    command.__doc__ = (f"{kind.upper()} by participation level (participation before each answer), who answers, and "
                       f"the rank correlation.\n\nExample: commetrics impact {kind}")
    impact_app.command(kind)(handle_errors(command))


_survey_command("nps")
_survey_command("csat")


export_app = typer.Typer(help="Write results out to other systems.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("crm")
@handle_errors
def export_crm(
    target: Annotated[str, typer.Option(help="hubspot or salesforce.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the import files.")] = Path("crm-export"),
    push: Annotated[bool, typer.Option("--push", help="Also send the records through the CRM's REST API.")] = False,
    url: Annotated[str | None, typer.Option(help="API base URL (default: https://api.hubapi.com for HubSpot; "
                                            "your instance URL for Salesforce).")] = None,
    token_env: Annotated[str, typer.Option("--token-env", help="Environment variable holding the API token "
                                           "(never put tokens on the command line).")] = "COMMETRICS_CRM_TOKEN",
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write engagement and health scores as CRM import files (members with consent only); --push sends them.

    Example: commetrics export crm --target hubspot --out crm/ --push
    """
    from .crm import TARGETS, export_files
    from .crm import push as push_records

    if target not in TARGETS:
        raise InputError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}.")
    with Engine(workspace, read_only=True) as engine:
        contacts, companies = engine.crm_records(as_of=_parse_as_of(as_of))
        directory = engine.workspace.directory
    for path in export_files(contacts, companies, target, out):
        typer.echo(f"Wrote {path}")
    typer.echo(f"{len(contacts):,} contacts with consent, {len(companies):,} companies; "
               f"{contacts.attrs.get('withheld_without_consent', 0):,} members without consent left out.")
    if not push:
        return
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise InputError(f"--push needs an API token in the environment variable {token_env}; set it and run again.")
    base = url or ("https://api.hubapi.com" if target == "hubspot" else None)
    if base is None:
        raise InputError("--push to Salesforce needs --url, your instance URL (https://NAME.my.salesforce.com).")
    import hashlib

    # One journal per destination: batches sent to one portal or org say nothing about another.
    journal = directory / f".crm-{target}-{hashlib.sha256(base.encode()).hexdigest()[:12]}-journal.jsonl"
    result = push_records(contacts, companies, target, base_url=base, token=token, journal=journal)
    typer.echo(f"Pushed {result.contacts_sent:,} contacts and {result.companies_sent:,} companies in "
               f"{result.batches_sent:,} batches ({result.batches_skipped:,} already sent, "
               f"{result.retries:,} retries); {len(result.failed_records):,} records refused.")
    for failure in result.failed_records[:20]:
        typer.echo(f"  refused: {failure}")


@export_app.command("pseudonymised")
@handle_errors
def export_pseudonymised(
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write into.")] = Path("export"),
    table: Annotated[list[str] | None, typer.Option(help="A table to export, repeatable (default: members, "
                                                    "contacts, accounts, activities, outcomes, subscriptions, "
                                                    "surveys, experiments, people).")] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
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
        _emit(manifest)
        return
    for name, written in manifest["tables"].items():
        typer.echo(f"{name:14s} {written['rows']:>12,} rows  {out / written['file']}")
    withheld = manifest["withheld_without_consent"]
    typer.echo(f"Identifiers are pseudonyms under key {manifest['key_id']}; names and attributes are left out; "
               f"{withheld['members']:,} members and {withheld['contacts']:,} contacts without consent are not "
               f"exported. Manifest: {out / 'manifest.json'}")


@app.command()
@handle_errors
def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    conversion_names: Annotated[list[str] | None, typer.Option(
        "--conversion", help="Conversions to include (default: all defined).")] = None,
    by: Annotated[list[str] | None, typer.Option(help="Cohort keys (default: entry_path, join_month).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The data's now (default: latest loaded event).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a self-contained HTML report: conversion tables, charts and the definitions used.

    Example: commetrics report --out community.html --by entry_path
    """
    with Engine(workspace, read_only=True) as engine:
        path = engine.report(out, conversions=conversion_names or None, by=by or ("entry_path", "join_month"),
                             as_of=_parse_as_of(as_of))
    typer.echo(f"Wrote {path.resolve()}")


@app.command()
@handle_errors
def forget(
    identifier: Annotated[str, typer.Argument(help="The person's e-mail address, member id or CRM contact id.")],
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
        _emit(result)
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


identity_app = typer.Typer(help="Identity resolution: community members and CRM contacts linked into people.",
                           no_args_is_help=True)
app.add_typer(identity_app, name="identity")


def _run_summary(run: dict[str, Any]) -> str:
    links = ", ".join(f"{n:,} by {rule}" for rule, n in run["links_by_rule"].items()) or "none"
    accounts = ", ".join(f"{n:,} by {rule}" for rule, n in run["accounts_by_rule"].items()) or "none"
    lines = [f"{run['records']:,} records are {run['people']:,} people (links: {links}); "
             f"{run['people_with_account']:,} people have an account ({accounts}). {run['seconds']:.1f} s."]
    lines += run["notes"]
    return "\n".join(lines)


@identity_app.command("resolve")
@handle_errors
def identity_resolve(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Link members and contacts into people (e-mail and maps, then names, handles and companies) and people into
    accounts. Runs by itself after loads of members, contacts or identity maps.

    Example: commetrics identity resolve
    """
    with Engine(workspace) as engine:
        run = engine.resolve_identities()
    if as_json:
        _emit(run)
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
        _emit(explained)
        return
    from .reports.text import render_identity

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
            _emit(result)
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


keys_app = typer.Typer(help="The workspace's pseudonym keys (commetrics.keys).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
@handle_errors
def keys_rotate(workspace: WorkspaceOption = None) -> None:
    """Make a new active pseudonym key; the old ones stay for the erasure ledger.

    Example: commetrics keys rotate
    """
    from .privacy.keys import Keyring

    ws = Workspace.locate(workspace)
    if not ws.exists:
        raise WorkspaceError(f"No commetrics workspace in {ws.directory}. Run `commetrics init` there first.")
    ring = Keyring.open(ws.keys_path)
    retired = ring.active
    active = ring.rotate()
    typer.echo(f"Pseudonyms are now made with key {active}; {retired} is retired and kept for the erasure ledger. "
               "Write pseudonymised exports again to move them to the new key.")


@app.command()
@handle_errors
def config(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every setting of commetrics.toml with its default and help text.

    Example: commetrics config
    """
    rows = describe_settings()
    if as_json:
        _emit([{"key": k, "default": d, "help": h} for k, d, h in rows])
        return
    from .reports.text import render_rows

    typer.echo(render_rows("Settings (commetrics.toml)", ["key", "default", "help"], rows), nl=False)


@app.command()
@handle_errors
def demo(
    members: Annotated[int, typer.Option(help="Members to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    real: Annotated[bool, typer.Option("--real", help="Load the real Stack Exchange community shipped with "
                                       "commetrics (bicycles.meta, CC BY-SA) instead of generating one.")] = False,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Folder for the demo workspace.")] = Path(
        "demo-workspace"
    ),
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic B2B community with planted effects (or load a real one), report on it.

    Example: commetrics demo --members 50000 --seed 3
    """
    from . import demo as demo_data
    from .reports.text import render_loads

    target = Workspace.locate(workspace)
    if target.database_path.exists():
        with Engine(target.directory, read_only=True) as existing:
            sources = set(existing.status(last_loads=10_000).loads["source"])
        if sources - {"demo", "stackexchange"}:
            msg = (f"{target.directory} holds data that is not demo data (sources: {', '.join(sorted(sources))}). "
                   "Pick another folder with --workspace; the demo replaces its workspace's store.")
            raise InputError(msg)
        for stale in (target.database_path, target.database_path.with_name(target.database_path.name + ".wal")):
            stale.unlink(missing_ok=True)
    target.init()
    truth: Path | None = None
    with Engine(target.directory) as engine:
        if real:
            from .sources.stackexchange import SAMPLE_DUMP

            reports = engine.load_stackexchange(SAMPLE_DUMP)
            conversions: list[str] | None = ["question_resolved"]
            by: tuple[str, ...] = ("join_month",)
        else:
            files = demo_data.generate(members, seed, target.directory / "data")
            with engine.batch():
                reports = [engine.load(name, path, source="demo") for name, path in files.tables.items()]
            truth = files.ground_truth
            conversions, by = None, ("entry_path", "join_month")
        report_path = engine.report(target.directory / "report.html", conversions=conversions, by=by)
    if as_json:
        _emit({"workspace": str(target.directory), "ground_truth": str(truth) if truth else None,
               "report": str(report_path), "loads": [r.as_dict() for r in reports]})
        return
    typer.echo(render_loads(reports), nl=False)
    typer.echo(f"Demo workspace: {target.directory}")
    if truth is not None:
        typer.echo(f"Planted effects: {truth}")
    typer.echo(f"Report: {report_path}  (open it in a browser; it needs no network)")


def main() -> None:
    """Entry point of the ``commetrics`` script."""
    app(prog_name="commetrics")


if __name__ == "__main__":  # pragma: no cover
    main()
