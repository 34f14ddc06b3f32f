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
from ...errors import InputError
from ...results import Diagnostic
from ...stats import wilson_interval
from .. import attribute_number, causal, fetch, latest_accounts
from ..adjusted import AdjustedEstimate, Labels, adjusted_difference

__all__ = ["MIN_PER_SIDE", "MIN_RENEWALS", "account_covariates", "account_members", "adjust", "adjusted_fields",
           "design_matrix", "diagnostics_of", "estimate_dict", "impact_settings", "rate_per_level"]

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
    """The configured covariates per account (latest load), as ``cov:NAME`` columns."""
    a = latest_accounts(db)
    columns: dict[str, Any] = {}
    for spec in settings.covariates:
        name = spec.split(":", 1)[1] if spec.startswith("log:") else spec
        if name in a.columns and name not in ("attributes", "account_id"):
            value = a[name]
            columns[spec] = value.cast("float64") if value.type().is_numeric() else value.cast("string")
        else:
            columns[spec] = attribute_number(a.attributes[name])
    frame = fetch(a.select("account_id", **columns)) if columns else fetch(a.select("account_id"))
    out = pd.DataFrame({"account_id": frame["account_id"]})
    for spec in settings.covariates:
        values = frame[spec]
        if spec.startswith("log:"):
            values = np.log1p(values.astype(float).clip(lower=0))
        out[f"cov:{spec}"] = values
    return out.drop_duplicates("account_id")


def design_matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[str], pd.Series]:
    """The covariate matrix: numbers as they are, text as indicator columns (first level left out).

    Returns the matrix, its column names, and which rows are complete (rows with a missing covariate
    are left out of the adjusted estimate and counted)."""
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
    if not parts:
        raise InputError("The adjusted estimate needs covariates; set impact.covariates in commetrics.toml "
                         "(account columns or attributes such as log:arr, segment, product_usage).")
    matrix = np.hstack(parts)
    rows = complete.to_numpy()
    varies = np.nanstd(matrix[rows], axis=0) > 0 if rows.any() else np.ones(matrix.shape[1], dtype=bool)
    # A covariate with one value everywhere cannot adjust anything: it is left out (the names say which stay).
    return matrix[:, varies], [n for n, keep in zip(names, varies, strict=True) if keep], complete


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
                     groups: tuple[str, str]) -> dict[str, Any]:
    """The adjusted estimate and its explanations and diagnostics, as the impact results carry them."""
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
    return {
        "adjusted": result.as_dict(),
        "headline": result.headline,
        "guards": [g.as_dict() for g in result.guards],
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


def estimate_dict(estimate: Any) -> dict[str, float]:
    return {"estimate": float(estimate.estimate), "se": float(estimate.se), "ci_low": float(estimate.ci_low),
            "ci_high": float(estimate.ci_high)}


def diagnostics_of(figures: Mapping[str, Any], about: str = "headline") -> tuple[Diagnostic, ...]:
    """The guards an impact result carries (``guards``: dicts), as the Result's diagnostics."""
    return tuple(replace(Diagnostic.from_dict(g), about=about) for g in figures.get("guards") or [])


def impact_settings(config: Config, **changes: Any) -> ImpactSettings:
    """The workspace's impact settings with the request's changes (e.g. another estimand)."""
    wanted = {k: v for k, v in changes.items() if v is not None}
    return config.impact.model_copy(update=wanted) if wanted else config.impact
