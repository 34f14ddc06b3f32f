"""Retention by participation: Kaplan–Meier curves per level from a landmark, the log-rank test, and a Cox model
of churn with the covariates (its hazard ratios withheld as a headline when the model cannot be read)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...config import ImpactSettings
from ...errors import NotEnoughDataError
from ...results import Diagnostic
from ...stats import event_counts, kaplan_meier, logrank_test
from .. import fetch, threshold_labels
from ..adjusted import guard, log_scaled
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from ..checks import determinism
from .common import MIN_RENEWALS, account_members, design_matrix, diagnostics_of, table_diagnostics, with_covariates

__all__ = ["cox_guards", "retention_impact", "retention_table"]


def retention_table(db: Any, settings: ImpactSettings, as_of: datetime) -> pd.DataFrame:
    """One row per customer account, from a landmark ``exposure_start_days`` after its first period
    started: ``activities`` of its members before the landmark (its ``level``), ``days`` from the
    landmark to its first non-renewal (``churned``) or to *as of* (still a customer: censored), and
    the covariates. Accounts that churned before the landmark, or whose landmark is still to come,
    are left out (their participation is not complete)."""
    import ibis

    moment = ibis.literal(as_of)
    s = db.table("subscriptions")
    first = s.group_by("account_id").aggregate(
        start=s.period_start.min(), churn=s.period_end.min(where=(s.renewed == False) & (s.period_end <= moment)))  # noqa: E712
    first = first.mutate(landmark=first.start + ibis.interval(days=settings.exposure_start_days))
    first = first.filter((first.landmark <= moment) & (first.churn.isnull() | (first.churn > first.landmark)))
    m = account_members(db)
    a = db.table("activities").select("member_id", "ts").join(m, "member_id")
    joined = first.left_join(a, (first.account_id == a.account_id) & (a.ts >= first.start) & (a.ts < first.landmark))
    counted = joined.group_by([first.account_id, first.landmark, first.churn]).aggregate(activities=joined.ts.count())
    frame = fetch(counted.order_by("account_id"))
    end = frame["churn"].fillna(pd.Timestamp(as_of))
    frame["churned"] = frame["churn"].notna()
    frame["days"] = (end - frame["landmark"]).dt.total_seconds() / 86_400
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    return with_covariates(frame, db, settings)


def retention_impact(frame: pd.DataFrame, settings: ImpactSettings, *, horizons: tuple[int, ...] = (365, 730)
                     ) -> dict[str, Any]:
    """Kaplan–Meier retention per participation level, the log-rank test, and a Cox model of churn on
    the level with the covariates (hazard ratios against the lowest level: below 1 = fewer churn)."""
    from statsmodels.duration.hazard_regression import PHReg

    if len(frame) < MIN_RENEWALS or not frame["churned"].any():
        raise NotEnoughDataError(f"Retention curves need at least {MIN_RENEWALS} customer accounts past the landmark "
                                 f"and some churn; found {len(frame)} accounts, {int(frame['churned'].sum())} "
                                 "churned. Load more subscriptions history.")
    order = [name for name, _ in sorted(settings.levels.items(), key=lambda item: item[1])]
    curves, rows = [], []
    for name in order:
        part = frame[frame["level"] == name]
        row: dict[str, Any] = {"level": name, "accounts": len(part), "churned": int(part["churned"].sum())}
        if len(part) and part["churned"].any():
            km = kaplan_meier(*event_counts(part["days"], part["churned"]))
            for h in horizons:
                row[f"retained_{h}d"] = km.survival_at(h)
            curves.append(pd.DataFrame({"level": name, "day": km.times, "retained": km.survival,
                                        "ci_low": km.ci_low, "ci_high": km.ci_high}))
        else:
            for h in horizons:
                row[f"retained_{h}d"] = 1.0 if len(part) else math.nan
        rows.append(row)
    present = frame["level"].nunique()
    test = logrank_test(frame["days"], frame["churned"], frame["level"]) if present > 1 else (math.nan, 0, math.nan)
    # A group with no churn at all (a level, or a category of a covariate) has an infinite hazard ratio:
    # its accounts are left out of the Cox model and listed, rather than breaking the fit.
    cox_frame, left_out = frame, []
    for column in ["level", *[c for c in frame.columns if c.startswith("cov:")
                              and not pd.api.types.is_numeric_dtype(frame[c])]]:
        events = cox_frame.groupby(column)["churned"].sum()
        for value in events.index[events == 0]:
            chosen = cox_frame[column] == value
            left_out.append({"group": f"{column.removeprefix('cov:')} = {value}", "accounts": int(chosen.sum())})
            cox_frame = cox_frame[~chosen]
    present_levels = [name for name in order if (cox_frame["level"] == name).any()]
    levels = pd.get_dummies(pd.Categorical(cox_frame["level"], categories=present_levels), drop_first=True,
                            dtype=float)
    numeric = [c for c in cox_frame.columns if c.startswith("cov:") and pd.api.types.is_numeric_dtype(cox_frame[c])]
    cox_frame, logged = log_scaled(cox_frame, numeric)
    cox_frame = cox_frame.rename(columns={c: f"cov:log:{c[4:]}" for c in logged})
    x, names, complete = design_matrix(cox_frame, required=False)
    keep = complete.to_numpy()
    design = np.hstack([levels.to_numpy(), x])[keep]
    used = design.std(axis=0) > 0 if len(design) else np.zeros(design.shape[1], dtype=bool)
    labels = np.array([f"level: {c} (vs {present_levels[0]})" for c in levels.columns] + names)[used]
    z = 1.959963984540054
    cox = pd.DataFrame({"term": pd.Series(dtype=str), "hazard_ratio": pd.Series(dtype=float),
                        "ci_low": pd.Series(dtype=float), "ci_high": pd.Series(dtype=float),
                        "p": pd.Series(dtype=float)})
    converged = True
    if used.any() and cox_frame["churned"].to_numpy(bool)[keep].any():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = PHReg(cox_frame["days"].to_numpy(float)[keep], design[:, used],
                          status=cox_frame["churned"].to_numpy(int)[keep], ties="efron").fit()
        converged = not any("converge" in str(w.message) for w in caught) and bool(
            getattr(model, "mle_retvals", None) is None or model.mle_retvals.get("converged", True))
        cox = pd.DataFrame({"term": labels, "hazard_ratio": np.exp(model.params),
                            "ci_low": np.exp(model.params - z * model.bse),
                            "ci_high": np.exp(model.params + z * model.bse), "p": model.pvalues})
    # Before any group is left out: a covariate whose categories all churn or never do decides who churns.
    decided = determinism(frame["churned"].to_numpy(float), frame[[c for c in frame.columns if c.startswith("cov:")]],
                          outcome="churned", unit="accounts")
    guards = [*cox_guards(cox, converged), *decided, *separated_levels(left_out, present)]
    return {
        "levels": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        "logrank": {"chi2": test[0], "df": test[1], "p": test[2]},
        "cox": cox, "cox_converged": converged, "cox_left_out": left_out,
        "headline": not guards, "guards": [g.as_dict() for g in guards],
        "log_scaled": {f"log:{c[4:]}": kind for c, kind in logged.items()},
        "accounts": len(frame), "landmark_days": settings.exposure_start_days,
        "wording": "adjusted association: hazard ratios control only for the listed covariates",
    }


def cox_guards(cox: pd.DataFrame, converged: bool) -> list[Diagnostic]:
    """Why the Cox model's hazard ratios may not be read: no terms, no convergence, or infinite ratios."""
    guards = []
    if cox.empty:
        guards.append(guard("model", 0.0, 1.0, "The Cox model has no term left to estimate: every level or "
                            "covariate was constant or left out.", "Load more subscriptions history, or set "
                            "impact.levels so that accounts fall into more than one level."))
    elif not converged:
        guards.append(guard("convergence", 0.0, 1.0, "The Cox model did not converge, so its hazard ratios are not "
                            "estimates.", "Use fewer covariates, or look for one that (nearly) decides who churns."))
    bad = cox[~np.isfinite(cox[["hazard_ratio", "ci_low", "ci_high"]].to_numpy(float)).all(axis=1)] if len(cox) else cox
    if len(bad):
        guards.append(guard("separation", float(len(bad)), 0.0, "The hazard ratios of " + ", ".join(bad["term"]) +
                            " are infinite or undefined: those accounts either all churn or none does.",
                            "Merge the level or category with a neighbour, or drop the covariate."))
    return guards


def separated_levels(left_out: list[dict[str, Any]], present: int) -> list[Diagnostic]:
    """A participation level without churn, beside levels with churn, separates the data: the Cox model can say
    nothing about participation (its hazard ratio would be 0), whatever the covariates' ratios look like."""
    levels = [group["group"].removeprefix("level = ") for group in left_out if group["group"].startswith("level = ")]
    if not levels or present < 2:
        return []
    return [guard("separation", float(len(levels)), 0.0,
                  f"No account at participation level {', '.join(levels)} churned while accounts at other levels "
                  "did: participation separates churn, so the Cox model cannot estimate its hazard ratio (those "
                  "accounts were left out of it). The Kaplan–Meier curves and the log-rank test still describe the "
                  "difference.", "Merge the level with a neighbour (impact.levels), or load a longer history.")]


@dataclass(frozen=True)
class RetentionSpec(SpecBase):
    """``impact.retention``: ``horizons`` (days) at which retention is read off the curves."""

    horizons: tuple[int, ...] = (365, 730)


def _compute(context: Context, spec: RetentionSpec) -> Computed:
    settings = context.config.impact
    table = retention_table(context.ibis(), settings, context.as_of(spec.as_of))
    figures = retention_impact(table, settings, horizons=tuple(spec.horizons))
    return Computed(figures, (*table_diagnostics(table), *diagnostics_of(figures)), primary="levels")


ANALYSES.register("impact.retention", Analysis(
    name="impact.retention", title="Retention by participation", spec=RetentionSpec, compute=_compute,
    unit="accounts",
    help="Retention curves by participation level (Kaplan–Meier), the log-rank test and a Cox model with "
         "covariates."))
