"""What the impact analyses share: account participation and covariates, the design matrix, rates per level
and the adjusted comparison with the workspace's settings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ...config import Config, ImpactSettings
from ...errors import InputError, NotEnoughDataError
from ...results import Diagnostic
from ...stats import wilson_interval
from .. import causal
from ..adjusted import AdjustedEstimate, Labels, adjusted_difference
from ..attributes import attribute_frame, unknown_names
from ..checks import determinism, small_groups, unknown_name

__all__ = ["MIN_PER_SIDE", "MIN_RENEWALS", "account_covariates", "account_members", "adjust", "adjusted_fields",
           "design_matrix", "diagnostics_of", "enough_covariates", "estimate_dict", "impact_settings", "overlap_checks",
           "rate_per_level", "table_diagnostics", "with_covariates"]

#: Fewer decided renewals, answers or eligible units than this and a comparison is refused.
MIN_RENEWALS = 40
#: Each side of a member comparison needs at least this many members.
MIN_PER_SIDE = 20


def account_members(db: Any) -> Any:
    """``member_id``, ``account_id`` for every account a member is recorded with (as the demo defines
    an account's participation: the activities of all its members)."""
    m = db.table("members")
    return m.filter(m.account_id.notnull()).select("member_id", "account_id").distinct()


def account_covariates(db: Any, settings: ImpactSettings) -> pd.DataFrame:
    """The configured covariates per account (latest load), as ``cov:NAME`` columns.

    A covariate is an account column or an attribute (an extra column of a loaded accounts file); text
    becomes categories, numbers stay numbers, ``log:NAME`` takes ln(1 + value). A name no account holds,
    ``log:`` of a text attribute, or a covariate no account has a value of is left out, and
    ``frame.attrs["diagnostics"]`` says so (the callers pass it on to the Result)."""
    names = [spec.split(":", 1)[1] if spec.startswith("log:") else spec for spec in settings.covariates]
    unknown = unknown_names(db, "accounts", names)
    diagnostics: list[Diagnostic] = [
        unknown_name("covariate", spec, "account column or attribute", unknown[name],
                     effect="it was left out of the adjustment (set impact.covariates in commetrics.toml)")
        for spec, name in zip(settings.covariates, names, strict=True) if name in unknown]
    usable = [(spec, name) for spec, name in zip(settings.covariates, names, strict=True) if name not in unknown]
    frame = attribute_frame(db, "accounts", [name for _, name in usable])
    out = pd.DataFrame({"account_id": frame["account_id"]})
    for spec, name in usable:
        values = frame[name]
        if values.isna().all():
            diagnostics.append(Diagnostic("empty_covariate", f"No account has a value of the covariate {spec!r}, so "
                                          "it was left out of the adjustment.", "Load the accounts file with the "
                                          "column filled in, or remove it from impact.covariates.", "warning"))
            continue
        if spec.startswith("log:"):
            if not pd.api.types.is_numeric_dtype(values):
                diagnostics.append(Diagnostic("log_of_text", f"The covariate {spec!r} holds text, which has no log "
                                              "scale: it is used as categories.", f"Write {name!r} without 'log:' in "
                                              "impact.covariates.", "warning"))
            else:
                values = np.log1p(values.astype(float).clip(lower=0))
        out[f"cov:{spec}"] = values
    out.attrs["diagnostics"] = tuple(diagnostics)
    return out


def with_covariates(frame: pd.DataFrame, db: Any, settings: ImpactSettings) -> pd.DataFrame:
    """``frame`` (one row per unit with ``account_id``) with the account covariates; the covariates'
    diagnostics in ``attrs["diagnostics"]``."""
    covariates = account_covariates(db, settings)
    out = frame.merge(covariates, on="account_id", how="left")
    out.attrs["diagnostics"] = covariates.attrs["diagnostics"]
    return out


def table_diagnostics(frame: pd.DataFrame) -> tuple[Diagnostic, ...]:
    """The diagnostics a table function left in ``attrs`` (see :func:`with_covariates`)."""
    found: tuple[Diagnostic, ...] = frame.attrs.get("diagnostics", ())
    return found


def design_matrix(frame: pd.DataFrame, *, required: bool = True) -> tuple[np.ndarray, list[str], pd.Series]:
    """The covariate matrix: numbers as they are, text as indicator columns (first level left out).

    Returns the matrix, its column names, and which rows are complete (rows with a missing covariate
    are left out of the adjusted estimate and counted). Without any covariate: an error when
    ``required``, else a matrix of no columns."""
    parts, names = [], []
    complete = pd.Series(True, index=frame.index)
    for column in [c for c in frame.columns if c.startswith("cov:")]:
        values = frame[column]
        complete &= values.notna()
        if pd.api.types.is_numeric_dtype(values):
            parts.append(values.astype(float).to_numpy()[:, None])
            names.append(column[4:])
        else:
            dummies = pd.get_dummies(values.astype("string"), prefix=column[4:], drop_first=True, dtype=float)
            parts.append(dummies.to_numpy())
            names += list(dummies.columns)
    if not parts and not required:
        return np.zeros((len(frame), 0)), [], complete
    if not parts:
        why = " ".join(d.message for d in table_diagnostics(frame))
        raise InputError("The adjusted estimate needs covariates; set impact.covariates in commetrics.toml "
                         "(account columns or attributes such as log:arr, segment, product_usage)."
                         + (f" {why}" if why else ""))
    matrix = np.hstack(parts)
    rows = complete.to_numpy()
    varies = np.nanstd(matrix[rows], axis=0) > 0 if rows.any() else np.ones(matrix.shape[1], dtype=bool)
    # A covariate with one value everywhere cannot adjust anything: it is left out (the names say which stay).
    return matrix[:, varies], [n for n, keep in zip(names, varies, strict=True) if keep], complete


def enough_covariates(complete: int, total: int, covariates: pd.DataFrame, unit: str) -> None:
    """Refuse, naming the covariates most often missing, when too few units have every covariate."""
    if complete >= MIN_RENEWALS:
        return
    missing = covariates.isna().sum().sort_values(ascending=False)
    worst = ", ".join(f"{name.removeprefix('cov:')} (missing for {int(n):,})" for name, n in missing.items() if n)
    raise NotEnoughDataError(f"Only {complete:,} of {total:,} {unit} have every covariate (at least {MIN_RENEWALS} "
                             f"needed); missing most: {worst or 'none'}. Fill the covariates in, or leave those out of "
                             "impact.covariates in commetrics.toml.")


def rate_per_level(frame: pd.DataFrame, settings: ImpactSettings, flag: str, names: tuple[str, str, str]
                    ) -> pd.DataFrame:
    """Per level, lowest first: the rows (``names[0]``), those with ``flag`` (``names[1]``) and their share
    (``names[2]``) with its Wilson interval; a level nobody is in shows no rate."""
    rows = []
    for name, _ in sorted(settings.levels.items(), key=lambda item: item[1]):
        part = frame[frame["level"] == name]
        n, k = len(part), int(part[flag].sum())
        low, high = wilson_interval(k, n) if n else (math.nan, math.nan)
        rows.append({"level": name, names[0]: n, names[1]: k, names[2]: k / n if n else math.nan,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def adjust(y: np.ndarray, t: np.ndarray, X: pd.DataFrame, settings: ImpactSettings, *, seed: int, refute: bool,
            labels: Labels, estimand: str | None = None) -> AdjustedEstimate:
    """The adjusted difference with the workspace's settings (estimand, trimming, folds, guard limits)."""
    return adjusted_difference(y, t, X, estimand=estimand or settings.estimand,  # type: ignore[arg-type]
                               trim=None if settings.trim == "none" else "crump", folds=settings.folds, seed=seed,
                               max_smd=settings.max_smd, min_ess=settings.min_ess, refute=refute, labels=labels)


def adjusted_fields(result: AdjustedEstimate, y: np.ndarray, t: np.ndarray, *, exposure: str, outcome: str,
                     groups: tuple[str, str], covariates: pd.DataFrame | None = None, unit: str = "units"
                     ) -> dict[str, Any]:
    """The adjusted estimate and its explanations and diagnostics, as the impact results carry them.

    ``covariates`` (the covariates as they are, one row per unit of ``y``) feed the data checks: an
    outcome that one covariate fully decides is a guard (``determinism``); weak overlap, many treated
    units set aside and small groups are warnings (``checks``)."""
    rows = result.kept
    treated_rate = float(y[rows & t].mean()) if (rows & t).any() else math.nan
    # The E-value works on the risk-ratio scale: the treated units' rate against what it would have been.
    counterfactual = treated_rate - result.estimate if result.estimand == "att" else math.nan
    if result.estimand == "ate":
        counterfactual = float(y[rows & ~t].mean()) if (rows & ~t).any() else math.nan
        treated_rate = counterfactual + result.estimate
    ratio = [(counterfactual + d) / counterfactual if counterfactual > 0 else math.nan
             for d in (result.estimate, result.ci_low, result.ci_high)]
    usable = all(math.isfinite(r) and r > 0 for r in ratio) and ratio[1] <= ratio[0] <= ratio[2]
    blocking = determinism(y, covariates, outcome=outcome, unit=unit) if covariates is not None else []
    guards = [*result.guards, *blocking]
    checks = [*small_groups({groups[0].replace("_", " "): int(t.sum()),
                             groups[1].replace("_", " "): int((~t).sum())}, unit=unit),
              *overlap_checks(result, unit)] if not blocking else []
    return {
        "adjusted": result.as_dict(),
        "headline": not guards,
        "guards": [g.as_dict() for g in guards],
        "checks": [c.as_dict() for c in checks],
        "estimand": result.estimand,
        "population": result.population,
        "ipw": estimate_dict(result.ipw) if math.isfinite(result.ipw.estimate) else None,
        "matched": estimate_dict(result.matched) if result.matched is not None else None,
        "matched_pairs": int(result.matched.ess_treated) if result.matched is not None else 0,
        "balance": result.balance,
        "overlap": result.overlap._asdict(),
        "ess": {groups[0]: result.ess_treated, groups[1]: result.ess_control},
        "sensitivity": result.sensitivity.sentence if result.sensitivity else "",
        "e_value": causal.e_value_sentence(*ratio, exposure=exposure, outcome=outcome) if usable else "",
        "refutations": [r.as_dict() for r in result.refutations],
        "notes": list(result.notes),
    }


#: Propensity AUC from which the groups are said to overlap weakly (the overlap guard trips at 0.99).
WEAK_OVERLAP_AUC = 0.9
#: Share of the treated units set aside for lack of comparable controls from which the answer is flagged.
TRIMMED_SHARE = 0.25


def overlap_checks(result: AdjustedEstimate, unit: str) -> list[Diagnostic]:
    """Warnings beside a shown headline: the groups overlap weakly, or many treated units were set aside
    (the answer then describes the rest only)."""
    if result.guards:
        return []
    out = []
    auc = float(result.overlap.auc)
    if math.isfinite(auc) and auc >= WEAK_OVERLAP_AUC:
        out.append(Diagnostic("weak_overlap", f"The covariates nearly separate the groups (propensity AUC {auc:.2f}): "
                              "few units have a comparable counterpart, so the answer rests on a narrow overlap.",
                              "Compare within a segment where both groups are common, or read the answer as "
                              "describing the comparable units only.", "warning", auc, WEAK_OVERLAP_AUC))
    treated = result.treated_kept + result.treated_dropped
    share = result.treated_dropped / treated if treated else 0.0
    if share > TRIMMED_SHARE:
        out.append(Diagnostic("trimmed", f"{share:.0%} of the treated {unit} ({result.treated_dropped:,}) were set "
                              "aside because no comparison unit resembled them: the answer describes the other "
                              f"{result.treated_kept:,} only.", "Say whom the answer describes when you quote it, or "
                              "add comparable units.", "warning", share, TRIMMED_SHARE))
    return out


def estimate_dict(estimate: Any) -> dict[str, float]:
    return {"estimate": float(estimate.estimate), "se": float(estimate.se), "ci_low": float(estimate.ci_low),
            "ci_high": float(estimate.ci_high)}


def diagnostics_of(figures: Mapping[str, Any], about: str = "headline") -> tuple[Diagnostic, ...]:
    """The guards (blocking) and checks (warnings) an impact result carries as dicts, as the Result's
    diagnostics."""
    found = [*(figures.get("guards") or []), *(figures.get("checks") or [])]
    return tuple(replace(Diagnostic.from_dict(g), about=about) for g in found)


def impact_settings(config: Config, **changes: Any) -> ImpactSettings:
    """The workspace's impact settings with the request's changes (e.g. another estimand)."""
    wanted = {k: v for k, v in changes.items() if v is not None}
    return config.impact.model_copy(update=wanted) if wanted else config.impact
