"""Checks of the data behind an answer, as typed diagnostics: what a reader must know before trusting it.

The estimators guard their own figures (balance, effective sample size, overlap, convergence); these
checks look at the data itself, the same way for every analysis:

* :func:`determinism` — the outcome is fully decided by one covariate (satisfaction 1–2 always churn,
  4–5 never). Real outcomes are noisy; a perfect split means synthetic data, or a covariate recorded
  *after* the outcome (leakage), and an adjusted comparison controlling for it can only print 0 with
  an interval of width 0.
* :func:`small_groups` — a compared group smaller than :data:`SMALL_GROUP`: its rate and every
  difference resting on it are imprecise.
* :func:`missing_share` — units left out for a missing covariate, when they are many.
* :func:`unknown_name` — a configured or requested name (covariate, attribute, outcome type) that
  matches nothing in the store, so it was left out instead of read as a column of nulls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..results import Diagnostic, Severity

__all__ = ["SMALL_GROUP", "determinism", "missing_share", "small_groups", "unknown_name"]

#: A compared group with fewer units than this is flagged as small.
SMALL_GROUP = 30
#: A covariate with more distinct values than this is checked for a threshold, not level by level.
_MAX_LEVELS = 12
#: The check needs at least this many units with the covariate present.
_MIN_UNITS = 20
#: ... and, for a 0/1 outcome, at least this many of each outcome.
_MIN_EACH = 5


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _levels(x: pd.Series, y: np.ndarray, outcome: str, name: str, binary: bool) -> str | None:
    """How the levels of ``x`` decide ``y``, or None when some level holds different outcomes."""
    frame = pd.DataFrame({"x": x.to_numpy(), "y": y})
    distinct = frame.groupby("x", sort=True)["y"].agg(["nunique", "first"])
    if (distinct["nunique"] > 1).any() or len(distinct) > max(_MAX_LEVELS, len(frame) // 10) or len(distinct) < 2:
        return None
    parts = []
    for value, part in distinct.groupby("first", sort=True):
        which = ("all" if value == 1 else "none") if binary else f"{_show(value)} for all"
        parts.append(f"{name} {', '.join(_show(v) for v in part.index)}: {outcome} for {which}"
                     if binary else f"{name} {', '.join(_show(v) for v in part.index)}: {outcome} {which}")
    return "; ".join(parts)


def _threshold(x: np.ndarray, y: np.ndarray, outcome: str, name: str) -> str | None:
    """For a 0/1 ``y``: whether a cut of the numeric ``x`` separates the outcomes perfectly."""
    ones, zeros = x[y == 1], x[y == 0]
    if zeros.max() < ones.min():
        cut = (zeros.max() + ones.min()) / 2
        return f"{name} above {_show(float(cut))}: {outcome} for all; below: for none"
    if ones.max() < zeros.min():
        cut = (ones.max() + zeros.min()) / 2
        return f"{name} below {_show(float(cut))}: {outcome} for all; above: for none"
    return None


def determinism(y: Any, covariates: pd.DataFrame, *, outcome: str, unit: str = "units",
                severity: Severity = "blocking", about: str = "headline") -> list[Diagnostic]:
    """A diagnostic for each covariate that fully decides the outcome ``y`` (see the module docstring).

    ``covariates`` holds the covariates as they are (numbers, or text categories); ``outcome`` names the
    outcome in the message. A covariate with few distinct values decides ``y`` when every value holds a
    single outcome; a numeric one with many (for a 0/1 outcome) when a threshold splits the outcomes.
    """
    values = np.asarray(y, dtype=float)
    out: list[Diagnostic] = []
    if values.size < _MIN_UNITS or np.unique(values[np.isfinite(values)]).size < 2:
        return out
    binary = bool(np.isin(values, (0.0, 1.0)).all())
    if binary and min(int((values == 1).sum()), int((values == 0).sum())) < _MIN_EACH:
        return out  # a handful of events can line up with any covariate by chance
    for column in covariates.columns:
        x = covariates[column]
        present = x.notna().to_numpy() & np.isfinite(values)
        if present.sum() < _MIN_UNITS or np.unique(values[present]).size < 2:
            continue
        name = str(column).removeprefix("cov:")
        xs, ys = x[present], values[present]
        numeric = pd.api.types.is_numeric_dtype(xs)
        if numeric and xs.nunique() > _MAX_LEVELS:
            how = _threshold(xs.to_numpy(float), ys, outcome, name) if binary else None
        else:
            how = _levels(xs, ys, outcome, name, binary)
        if how is None:
            continue
        out.append(Diagnostic(
            "determinism", f"The outcome is fully decided by {name} among the {int(present.sum()):,} {unit} ({how}). "
            "Real outcomes are noisy: such data are synthetic, or the covariate was recorded after the outcome "
            "(leakage), and controlling for it leaves nothing to compare.",
            f"Check when {name} is recorded; if it is measured after the outcome, leave it out of the covariates.",
            severity, about=about))
    return out


def small_groups(sizes: dict[str, int], *, unit: str, about: str = "headline") -> list[Diagnostic]:
    """A warning for each compared group (name → size) smaller than :data:`SMALL_GROUP`."""
    small = {name: n for name, n in sizes.items() if 0 < n < SMALL_GROUP}
    if not small:
        return []
    listed = ", ".join(f"{n:,} {name}" for name, n in small.items())
    return [Diagnostic("small_sample", f"Small groups: {listed} {unit} (fewer than {SMALL_GROUP}); their rates and "
                       "every difference resting on them are imprecise.",
                       "Read the intervals, not the point estimates; add data (a longer period) if you can.",
                       "warning", float(min(small.values())), float(SMALL_GROUP), about)]


def missing_share(left_out: int, total: int, names: Sequence[str], *, unit: str, limit: float = 0.2
                  ) -> list[Diagnostic]:
    """A warning when more than ``limit`` of the ``total`` units were left out for a missing covariate."""
    if total <= 0 or left_out / total <= limit:
        return []
    return [Diagnostic("missing_covariates", f"{left_out:,} of {total:,} {unit} ({left_out / total:.0%}) were left "
                       f"out of the adjusted estimate for a missing covariate ({', '.join(names)}).",
                       "Fill in the covariate for those units, or leave it out of the covariates.", "warning",
                       left_out / total, limit)]


def unknown_name(kind: str, name: str, where: str, close: Sequence[str], *, effect: str = "it was left out",
                 severity: Severity = "warning", about: str = "headline") -> Diagnostic:
    """A name that matches nothing in the store (a typo gives silent nulls otherwise)."""
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return Diagnostic("unknown_name", f"The {kind} {name!r} matches no {where}, so {effect}.{hint}",
                      f"Check the spelling against the loaded columns (commetrics status), or load a file with a "
                      f"{name!r} column.", severity, about=about)
