"""Conversion drivers: which behaviours of a member's first days go with converting, adjusted for each other.

"Members who attend a webinar in their first month convert more" is the question community teams ask
next; asked one behaviour at a time it is misleading, because busy members do everything more. The
``drivers`` analysis asks it for every behaviour at once:

* **Who.** The members of a conversion (a named definition of ``commetrics.toml`` or ``--outcome``):
  its anchor (first join, first activity of a type, first programme activity), staff and existing
  customers left out, as the conversion rate counts them.
* **Behaviours.** For each activity type and each programme, whether the member had one in the first
  ``days`` (30) after the anchor — a *landmark*: members who converted within those days are left out
  (their behaviour could follow from converting), and conversion is counted in the ``window_days``
  after the landmark, so everyone is watched equally long. A behaviour is a candidate when at least
  ``drivers.min_members`` members (and ``privacy.min_cell_size``) had it and as many did not.
* **Model.** A Firth-penalised logistic regression (:mod:`commetrics.metrics.firth`: finite odds
  ratios even when every member with a rare behaviour converted) of converting on every candidate
  behaviour at once and the controls (``drivers.controls``: entry path and account segment by
  default; any member or account column or attribute). Each behaviour's **odds ratio** is adjusted
  for the others and the controls; its **adjusted difference** is the average change in the chance of
  converting had every member had it rather than not (percentage points, delta-method interval).
* **Which are associated.** Holm-adjusted p-values over the behaviours, so that with 20 candidates the
  chance of calling any non-driver associated stays at ``drivers.alpha`` (5%). Behaviours are ranked:
  associated ones first, by adjusted difference.

These are *behaviours associated with conversion*, never causes: members choose what they do, and
what makes them both attend and buy is not all in the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from ..config import Config
from ..errors import InputError, NotEnoughDataError
from ..results import Diagnostic, Publication
from . import fetch
from .analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .attributes import attribute_frame, unknown_names
from .checks import unknown_name
from .conversion import ConversionSpec, prepared
from .conversion_analysis import ConversionRequest, definition
from .conversion_base import keeping
from .firth import firth_logit
from .people import identities

__all__ = ["DriversSpec", "drivers_table", "fit_drivers"]

#: Fewer converters (or non-converters) than this among the eligible members and no model is fitted.
MIN_EVENTS = 20
#: A control's categories with fewer members than this are pooled as "other".
MIN_LEVEL = 20


@dataclass(frozen=True)
class DriversSpec(SpecBase):
    """``drivers``: a conversion ``name`` of ``commetrics.toml`` or an ad-hoc ``outcome``; ``days`` of behaviour
    after the anchor and ``window_days`` of conversion after them; ``controls`` (defaults ``[drivers]``)."""

    name: str | None = None
    outcome: tuple[str, ...] | None = None
    days: int | None = None
    window_days: int | None = None
    controls: tuple[str, ...] | None = None

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        d = config.drivers
        return {"days": d.days, "window_days": d.window_days, "controls": d.controls}


def _members_of_people(db: Any) -> Any:
    """``person_id`` → one ``member_id`` (the first), to read member attributes of a person."""
    ids = identities(db)
    if ids is None:
        m = db.table("members").select("member_id").distinct()
        return m.mutate(person_id=m.member_id)
    members = ids.members
    return members.group_by("person_id").aggregate(member_id=members.member_id.min())


def drivers_table(db: Any, spec: ConversionSpec, *, days: int, window_days: int, controls: tuple[str, ...],
                  as_of: Any, zone: str = "UTC") -> tuple[pd.DataFrame, list[str], list[Diagnostic]]:
    """One row per eligible member: ``converted``, a ``did:NAME`` column (0/1) per activity type and
    ``did:program:NAME`` per programme seen in the first ``days``, and the controls (``ctl:NAME``).

    Returns the frame, the behaviour columns, and diagnostics for control names that match nothing."""
    import ibis

    base = prepared(db, spec, as_of, zone)
    landmark = base.t0 + ibis.interval(days=days)
    end = landmark + ibis.interval(days=window_days)
    base = base.filter(~base.existing & (end <= ibis.literal(as_of))
                       & (base.first_ts.isnull() | (base.first_ts >= landmark)))
    base = base.mutate(converted=base.first_ts.notnull() & (base.first_ts <= end))
    a = db.table("activities")
    people = _members_of_people(db)
    ids = identities(db)
    a = a.mutate(person_id=a.member_id) if ids is None else a.join(ids.members.select("member_id", "person_id"),
                                                                   "member_id")
    # The eligible units and their activities of the first days are each read twice: computed once, kept on the
    # backend while they are read (and compiled once).
    with keeping(db, base) as base:
        units = fetch(base.select("unit_id", "person_id", "account_id", "entry_path", "converted"))
        hits = base.select("unit_id", "person_id", "t0").join(a, "person_id")
        hits = hits.filter((hits.ts >= hits.t0) & (hits.ts < hits.t0 + ibis.interval(days=days)))
        with keeping(db, hits.select("unit_id", "type", "program")) as hits:
            kinds = fetch(hits.select("unit_id", feature="did:" + hits.type).distinct())
            programs = fetch(hits.filter(hits.program.notnull()).select(
                "unit_id", feature="did:program:" + hits.program).distinct())
    long = pd.concat([kinds, programs], ignore_index=True)
    frame = units.merge(_indicators(long), left_on="unit_id", right_index=True, how="left")
    behaviours = sorted(c for c in frame.columns if c.startswith("did:"))
    frame[behaviours] = frame[behaviours].fillna(0).astype(float)
    frame["converted"] = frame["converted"].astype(bool)
    frame, diagnostics = _controls(db, frame, people, controls)
    return frame.reset_index(drop=True), behaviours, diagnostics


def _indicators(long: pd.DataFrame) -> pd.DataFrame:
    """The 0/1 table of ``long``'s (``unit_id``, ``feature``) pairs: one row per unit, one column per feature, both
    sorted — what ``pd.crosstab(...).clip(upper=1)`` gives, filled by index instead of by a grouped count
    (a tenth of the time on a million pairs)."""
    if not len(long):
        return pd.DataFrame(index=pd.Index([], name="unit_id"))
    unit, units = pd.factorize(long["unit_id"], sort=True)
    feature, features = pd.factorize(long["feature"], sort=True)
    table = np.zeros((len(units), len(features)), dtype=np.int64)
    table[unit, feature] = 1
    return pd.DataFrame(table, index=pd.Index(units, name="unit_id"), columns=pd.Index(features, name="feature"))


def _controls(db: Any, frame: pd.DataFrame, people: Any, controls: tuple[str, ...]
              ) -> tuple[pd.DataFrame, list[Diagnostic]]:
    """Add ``ctl:NAME`` for each control: entry_path of the anchor, else a member column or attribute, else an
    account one; a name found nowhere is a warning."""
    diagnostics: list[Diagnostic] = []
    wanted = [c for c in controls if c != "entry_path"]
    if "entry_path" in controls:
        frame["ctl:entry_path"] = frame["entry_path"].fillna("unknown")
    missing_member = unknown_names(db, "members", wanted)
    missing_account = unknown_names(db, "accounts", [c for c in wanted if c in missing_member])
    for name in wanted:
        if name in missing_account:
            diagnostics.append(unknown_name("control", name, "member or account column or attribute",
                                            missing_account[name] or missing_member[name],
                                            effect="the drivers are not adjusted for it"))
    on_members = [c for c in wanted if c not in missing_member]
    on_accounts = [c for c in wanted if c in missing_member and c not in missing_account]
    if on_members:
        values = fetch(people).merge(attribute_frame(db, "members", on_members), on="member_id", how="left")
        values = values.drop(columns="member_id").rename(columns={c: f"ctl:{c}" for c in on_members})
        frame = frame.merge(values, on="person_id", how="left")
    if on_accounts:
        values = attribute_frame(db, "accounts", on_accounts).rename(columns={c: f"ctl:{c}" for c in on_accounts})
        frame = frame.merge(values, on="account_id", how="left")
    return frame, diagnostics


def _control_matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Controls as model columns: numbers standardised (missing → mean, with a missing indicator), text as
    indicators against the most common category (rare categories and missing values pooled)."""
    parts, names = [], []
    for column in [c for c in frame.columns if c.startswith("ctl:")]:
        values = frame[column]
        label = column.removeprefix("ctl:")
        if pd.api.types.is_numeric_dtype(values):
            number = values.astype(float)
            if number.notna().sum() < 2 or number.std() == 0:
                continue
            filled = number.fillna(number.mean())
            parts.append(((filled - filled.mean()) / filled.std()).to_numpy()[:, None])
            names.append(label)
            if number.isna().any():
                parts.append(number.isna().to_numpy(float)[:, None])
                names.append(f"{label} missing")
            continue
        text = values.astype(object).where(values.notna(), "unknown").astype(str)
        counts = text.value_counts()
        text = text.where(text.map(counts) >= MIN_LEVEL, "other")
        levels = text.value_counts()
        if len(levels) < 2:
            continue
        for level in levels.index[1:]:
            parts.append((text == level).to_numpy(float)[:, None])
            names.append(f"{label} = {level}")
    return (np.hstack(parts) if parts else np.zeros((len(frame), 0))), names


def _independent(matrix: np.ndarray, names: list[str], protected: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop columns (controls before behaviours, beyond the first ``protected``) that are linear combinations
    of the ones kept, so the information matrix can be inverted; returns the dropped names too."""
    kept: list[int] = []
    dropped: list[str] = []
    # Any set of columns of X = QR has the singular values of the same columns of the small R, so each test is
    # numpy's matrix_rank of the columns (its tolerance from X's shape) without a pass over the rows.
    r = np.asarray(np.linalg.qr(matrix, mode="r"), dtype=np.float64)
    rows, eps = matrix.shape[0], float(np.finfo(np.float64).eps)
    order = list(range(protected)) + list(range(protected, matrix.shape[1]))
    for j in order:
        values = np.linalg.svd(r[:, [*kept, j]], compute_uv=False)
        if int((values > values.max() * max(rows, len(kept) + 1) * eps).sum()) == len(kept) + 1:
            kept.append(j)
        else:
            dropped.append(names[j])
    return matrix[:, kept], [names[j] for j in kept], dropped


def fit_drivers(frame: pd.DataFrame, behaviours: list[str], *, min_members: int, alpha: float,
                confidence: float = 0.95) -> dict[str, Any]:
    """The drivers table from :func:`drivers_table`'s frame (see the module docstring)."""
    n = len(frame)
    y = frame["converted"].to_numpy(float)
    events = int(y.sum())
    if min(events, n - events) < MIN_EVENTS:
        raise NotEnoughDataError(f"Conversion drivers need at least {MIN_EVENTS} members who converted and "
                                 f"{MIN_EVENTS} who did not after the first days; found {events:,} of {n:,} eligible. "
                                 "Use a longer window, fewer days, or wait for more members to mature.")
    counts = frame[behaviours].sum() if behaviours else pd.Series(dtype=float)
    candidates = [b for b in behaviours if min_members <= counts[b] <= n - min_members]
    rare = [b for b in behaviours if b not in candidates]
    if not candidates:
        raise NotEnoughDataError(f"No behaviour of the first days was shared by at least {min_members} members "
                                 f"(and missing in as many) among the {n:,} eligible, so none can be compared. "
                                 "Lower drivers.min_members or add activity data.")
    controls, control_names = _control_matrix(frame)
    design = np.hstack([np.ones((n, 1)), frame[candidates].to_numpy(float), controls])
    names = ["intercept", *candidates, *control_names]
    design, names, dropped = _independent(design, names, 1 + len(candidates))
    fit = firth_logit(design, y)
    z = float(norm.ppf(0.5 + confidence / 2))
    rows = []
    linear = design @ fit.params
    for b in [name for name in names if name.startswith("did:")]:
        j = names.index(b)
        coef, se = float(fit.params[j]), float(fit.se[j])
        # every member with the behaviour (column j set to 1) and without it (0): shifts of the linear predictor,
        # and the gradient of the average difference without copying the design twice per behaviour
        p1 = expit(linear + (1.0 - design[:, j]) * fit.params[j])
        p0 = expit(linear - design[:, j] * fit.params[j])
        w1, w0 = p1 * (1 - p1), p0 * (1 - p0)
        gradient = (w1 - w0) @ design / n
        gradient[j] = w1.mean()
        ame, ame_se = float((p1 - p0).mean()), float(math.sqrt(max(gradient @ fit.cov @ gradient, 0.0)))
        did = frame[b].to_numpy(bool)
        rows.append({
            "behaviour": _label(b), "members": int(did.sum()), "converters": int(y[did].sum()),
            "rate_with": float(y[did].mean()), "rate_without": float(y[~did].mean()),
            "odds_ratio": math.exp(coef), "or_low": math.exp(coef - z * se), "or_high": math.exp(coef + z * se),
            "difference": ame, "diff_low": ame - z * ame_se, "diff_high": ame + z * ame_se,
            "p": float(2 * norm.sf(abs(coef / se))) if se > 0 else math.nan,
        })
    table = pd.DataFrame(rows)
    table["p_holm"] = _holm(table["p"].to_numpy(float))
    table["associated"] = np.where(table["p_holm"] < alpha, np.where(table["odds_ratio"] > 1, "more", "less"), "")
    table = table.sort_values(["associated", "difference"], ascending=[False, False], key=_rank_key)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return {
        "drivers": table.reset_index(drop=True), "eligible": n, "converters": events, "rate": events / n,
        "controls": control_names, "left_out": [_label(b) for b in rare] + [_label(d) for d in dropped],
        "converged": fit.converged,
        "wording": "behaviours associated with conversion, adjusted for each other and the controls; not causes",
    }


def _rank_key(column: pd.Series) -> pd.Series:
    if column.name == "associated":
        return column.map({"more": 2, "less": 1, "": 0})
    return column


def _label(column: str) -> str:
    return column.removeprefix("did:").removeprefix("ctl:")


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values."""
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _compute(context: Context, spec: DriversSpec) -> Computed:
    conversion = definition(context.config, ConversionRequest(name=spec.name, outcome=spec.outcome))
    if conversion.unit != "person":
        raise InputError(f"Conversion drivers are behaviours of members; {conversion.name!r} counts accounts. Use "
                         "--outcome TYPE for a per-member conversion.")
    settings = context.config.drivers
    days = spec.days or settings.days
    window = spec.window_days or settings.window_days or max(conversion.windows)
    moment = context.as_of(spec.as_of)
    frame, behaviours, diagnostics = drivers_table(
        context.ibis(), conversion, days=days, window_days=window, controls=tuple(spec.controls or ()),
        as_of=moment, zone=context.config.reporting.timezone)
    minimum = max(settings.min_members, context.config.privacy.min_cell_size)
    figures = fit_drivers(frame, behaviours, min_members=minimum, alpha=settings.alpha)
    figures.update(conversion=conversion.name, outcomes=list(conversion.outcomes), anchor=conversion.anchor,
                   days=days, window_days=window, as_of=moment,
                   landmark=f"the first {days} days after the anchor ({conversion.anchor})",
                   cutoff=(moment - timedelta(days=days + window)))
    if not figures["converged"]:
        diagnostics.append(Diagnostic("convergence", "The drivers model did not converge, so its odds ratios are not "
                                      "estimates.", "Use fewer controls or a longer window.", about="drivers"))
    if not (figures["drivers"]["associated"] != "").any():
        diagnostics.append(Diagnostic("no_driver", "No behaviour of the first days is clearly associated with "
                                      "conversion once the others are taken into account (Holm-adjusted).",
                                      "More members (a longer period) narrow the intervals.", "info",
                                      about="drivers"))
    return Computed(figures, tuple(diagnostics), primary="drivers")


def _publish(computed: Computed, spec: DriversSpec, k: int) -> tuple[Mapping[str, Any], Publication]:
    """Every behaviour has at least ``k`` members with and without it (chosen so); converters among them of
    0 < n < ``k`` on either side are hidden with their raw rates (the total of converters is published)."""
    del spec
    figures = dict(computed.figures)
    table = figures["drivers"].copy()
    without = figures["converters"] - table["converters"]
    small = ((table["converters"] > 0) & (table["converters"] < k)) | ((without > 0) & (without < k))
    table["suppressed"] = small
    table = table.astype({"converters": object, "rate_with": object, "rate_without": object})
    table.loc[small, ["converters", "rate_with", "rate_without"]] = None
    figures["drivers"] = table
    note = (f"Converters and raw rates of {int(small.sum())} behaviour(s) are hidden: fewer than {k} members on "
            "one side." if small.any() else "")
    overall = 0 < figures["converters"] < k
    if overall:
        figures["converters"], figures["rate"] = None, None
    return figures, Publication(k, suppression_applied=bool(small.any() or overall), note=note)


ANALYSES.register("drivers", Analysis(
    name="drivers", title="Behaviours associated with conversion", spec=DriversSpec, compute=_compute,
    publish=_publish,
    help="Which activities and programmes in a member's first days go with converting, adjusted for each other."))
