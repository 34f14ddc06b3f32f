"""Any exposure and outcome of members: "did members exposed to X go on to Y more often?" (a landmark design),
raw and adjusted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...config import Config, ImpactSettings
from ...errors import InputError, NotEnoughDataError, UnknownNameError
from ...privacy.outputs import suppress_exposure
from ...results import Publication
from .. import causal, fetch
from ..adjusted import Labels
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from ..attributes import attribute_frame, known_names, unknown_names
from ..checks import missing_share, unknown_name
from .common import (
    MIN_RENEWALS,
    adjust,
    adjusted_fields,
    design_matrix,
    diagnostics_of,
    enough_covariates,
    impact_settings,
    table_diagnostics,
)

__all__ = ["exposure_impact", "exposure_table"]


def static_flag(exposure: str) -> tuple[str, str] | None:
    """``(name, value)`` when ``exposure`` names a member attribute and its value (``referred=yes``), else None."""
    if "=" not in exposure:
        return None
    name, _, value = exposure.partition("=")
    if not name.strip() or not value.strip():
        raise InputError(f"--exposure {exposure!r}: a static flag is NAME=VALUE, e.g. referred=yes or "
                         "entry_path=referral.")
    return name.strip(), value.strip()


def exposure_table(db: Any, *, exposure: str, outcome: str, window_days: int, exposure_days: int,
                   covariates: tuple[str, ...], as_of: datetime) -> pd.DataFrame:
    """One row per eligible member for "did members exposed to X go on to Y more often?".

    A landmark design, so that both groups' clocks start together: the landmark is
    ``T = as_of - window_days``. A member is *exposed* with an activity of type ``exposure`` (or of
    program ``program:NAME``) in ``[T - exposure_days, T)``, or — for a static flag ``NAME=VALUE``
    such as ``referred=yes`` — when the member's column or attribute ``NAME`` holds ``VALUE`` (compared
    as text, ignoring case; the exposure window is then the landmark itself). The *outcome* is an
    outcome of type ``outcome`` in ``[T, T + window_days]``. Eligible: non-staff members who joined
    before the exposure window and had no such outcome before ``T``. Covariates: ``tenure_days`` and
    ``prior_activities`` (before the exposure window) always, plus the named member columns or
    attributes (extra columns of a loaded members file); text values become categories. Names that
    match nothing are left out and listed in ``attrs["diagnostics"]``.
    """
    import ibis

    flag = static_flag(exposure)
    landmark = as_of - pd.Timedelta(days=window_days)
    start = landmark if flag else landmark - pd.Timedelta(days=exposure_days)
    t, t0, t1 = ibis.literal(landmark), ibis.literal(start), ibis.literal(as_of)
    m = db.table("members")
    members = m.group_by("member_id").aggregate(joined=m.joined_at.min(), staff=m.is_staff.fill_null(False).any())
    members = members.filter(~members.staff & (members.joined < t0))
    a = db.table("activities")
    earlier = a.filter(a.ts < t0)
    prior = earlier.group_by("member_id").aggregate(prior_activities=earlier.count())
    o = db.table("outcomes")
    o = o.filter((o.type == outcome) & o.member_id.notnull())
    before = o.filter(o.ts < t).select("member_id").distinct().mutate(before=ibis.literal(True))
    after = o.filter((o.ts >= t) & (o.ts <= t1)).select("member_id").distinct().mutate(converted=ibis.literal(True))
    joined = members
    if flag is None:
        hit = a.program == exposure.split(":", 1)[1] if exposure.startswith("program:") else a.type == exposure
        exposed = a.filter(hit & (a.ts >= t0) & (a.ts < t)).select("member_id").distinct()
        joined = joined.left_join(exposed.mutate(exposed=ibis.literal(True)), "member_id").drop("member_id_right")
    else:
        joined = joined.mutate(exposed=ibis.literal(False))
    joined = (joined.left_join(prior, "member_id").drop("member_id_right")
              .left_join(before, "member_id").drop("member_id_right")
              .left_join(after, "member_id").drop("member_id_right"))
    joined = joined.filter(joined.before.isnull())
    frame = fetch(joined.select(
        "member_id", exposed=joined.exposed.fill_null(False), converted=joined.converted.fill_null(False),
        tenure=(t.epoch_seconds() - joined.joined.epoch_seconds()) / 86_400,
        prior=joined.prior_activities.fill_null(0)).order_by("member_id"))
    names = tuple(dict.fromkeys([*covariates, *([flag[0]] if flag else [])]))
    unknown = unknown_names(db, "members", names)
    diagnostics = [unknown_name("covariate", name, "member column or attribute", unknown[name])
                   for name in covariates if name in unknown]
    if flag and flag[0] in unknown:
        raise UnknownNameError.for_name("member column or attribute", flag[0], known_names(db, "members"),
                                        "A static exposure is NAME=VALUE of a member column or an extra column "
                                        "of the loaded members file, e.g. referred=yes.")
    values = attribute_frame(db, "members", [n for n in names if n not in unknown])
    frame = frame.merge(values, on="member_id", how="left")
    if flag:
        text = frame[flag[0]].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                  else (f"{v:g}" if isinstance(v, float) else str(v)).strip().lower())
        frame["exposed"] = (text == flag[1].lower()).to_numpy(bool)
    frame["cov:tenure_days"] = frame.pop("tenure").astype(float)
    frame["cov:prior_activities"] = np.log1p(frame.pop("prior").astype(float))
    for name in covariates:
        if name not in unknown:
            frame[f"cov:{name}"] = frame[name]
    frame = frame.drop(columns=[n for n in names if n in frame.columns])
    frame.attrs["diagnostics"] = tuple(diagnostics)
    frame.attrs["outcome_members"] = int(after.count().execute())  # eligible or not: for the error that none is
    return frame


def exposure_impact(frame: pd.DataFrame, *, exposure: str, outcome: str, settings: ImpactSettings | None = None,
                    seed: int = 0, refute: bool = False, estimand: str | None = None) -> dict[str, Any]:
    """Raw and adjusted differences in the outcome rate of exposed vs unexposed members, with the guards,
    balance and overlap diagnostics (see :func:`renewal_impact`). An adjusted association, not proof that
    X caused Y."""
    settings = settings or ImpactSettings()
    if len(frame) < MIN_RENEWALS:
        raise NotEnoughDataError(f"The comparison needs at least {MIN_RENEWALS} eligible members; found {len(frame)}. "
                         "Use a longer --window or check that members joined before the exposure window.")
    t = frame["exposed"].to_numpy(bool)
    y = frame["converted"].to_numpy(bool)
    if t.all() or not t.any():
        if static_flag(exposure):
            raise InputError(f"{'Every' if t.any() else 'No'} eligible member has {exposure}, so there is nothing to "
                             "compare; check the value (it is compared as text, ignoring case).")
        raise InputError(f"{'Every' if t.any() else 'No'} eligible member had a {exposure!r} activity in the exposure "
                         "window, so there is nothing to compare; check the activity type (see commetrics status) "
                         "or widen --exposure-days.")
    if y.all() or not y.any():
        anyone = int(frame.attrs.get("outcome_members", 0))
        if not y.any() and anyone:
            raise InputError(f"No eligible member had a {outcome!r} outcome in the window, though {anyone:,} members "
                             "had one: they joined after the exposure window began, or had one before the landmark "
                             "(an outcome that comes soon after joining). Use a shorter --exposure-days, so that more "
                             "recent members are eligible, or a static flag (--exposure NAME=VALUE).")
        raise InputError(f"{'Every' if y.any() else 'No'} eligible member had a {outcome!r} outcome in the window; "
                         "check the outcome type or change --window.")
    raw = causal.newcombe_difference(int(y[t].sum()), int(t.sum()), int(y[~t].sum()), int((~t).sum()))
    x, names, complete = design_matrix(frame)
    keep = complete.to_numpy()
    covariates = [c for c in frame.columns if c.startswith("cov:")]
    enough_covariates(int(keep.sum()), len(frame), frame[covariates], "eligible members")
    yy, tt = y[keep].astype(float), t[keep]
    what = exposure if static_flag(exposure) else f"{exposure} before the landmark"
    words = Labels("members", "exposed", "unexposed", what, outcome)
    result = adjust(yy, tt, pd.DataFrame(x[keep], columns=names), settings, seed=seed, refute=refute,
                     labels=words, estimand=estimand)
    units = frame.loc[keep, ["member_id", "exposed"]].reset_index(drop=True)
    units["propensity"], units["kept"] = result.ps, result.kept
    return {
        "exposure": exposure, "outcome": outcome, "members": len(frame), "exposed": int(t.sum()),
        "rate_exposed": float(y[t].mean()), "rate_unexposed": float(y[~t].mean()),
        "raw": {"difference": raw.difference, "ci_low": raw.low, "ci_high": raw.high},
        **adjusted_fields(result, yy, tt, exposure=exposure, outcome=outcome, groups=("exposed", "unexposed"),
                          covariates=frame.loc[keep, covariates].reset_index(drop=True), unit="members"),
        "left_out_missing_covariates": int((~keep).sum()),
        "covariates": [c.removeprefix("cov:") for c in frame.columns if c.startswith("cov:")],
        "design_columns": names,
        "units": units,
        "wording": "adjusted association (controls only for the listed covariates)",
    }


@dataclass(frozen=True)
class ExposureSpec(SpecBase):
    """``impact.exposure``: ``exposure`` (an activity type, ``program:NAME`` or a static flag ``NAME=VALUE``) and
    ``outcome`` (an outcome
    type), both required; ``window_days`` and ``exposure_days`` (defaults ``impact.window_days`` and
    ``impact.exposure_days``); member ``covariates``; ``estimand``, ``refute``, ``seed``."""

    exposure: str | None = None
    outcome: str | None = None
    window_days: int | None = None
    exposure_days: int | None = None
    covariates: tuple[str, ...] = ()
    estimand: str | None = None
    refute: bool = False
    seed: int = 0

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        return {"window_days": config.impact.window_days, "exposure_days": config.impact.exposure_days}


def _compute(context: Context, spec: ExposureSpec) -> Computed:
    if not spec.exposure or not spec.outcome:
        raise InputError("The exposure question needs exposure= (an activity type, program:NAME, or a member "
                         "attribute's value NAME=VALUE) and outcome= (an outcome type).")
    settings = impact_settings(context.config, estimand=spec.estimand)
    table = exposure_table(context.ibis(), exposure=spec.exposure, outcome=spec.outcome,
                           window_days=spec.window_days or 30, exposure_days=spec.exposure_days or 90,
                           covariates=tuple(spec.covariates), as_of=context.as_of(spec.as_of))
    figures = exposure_impact(table, exposure=spec.exposure, outcome=spec.outcome, settings=settings, seed=spec.seed,
                              refute=spec.refute)
    diagnostics = (*table_diagnostics(table), *diagnostics_of(figures),
                   *missing_share(figures["left_out_missing_covariates"], figures["members"], list(spec.covariates),
                                  unit="members"))
    figures.pop("checks", None)
    return Computed(figures, diagnostics)


def _publish(computed: Computed, spec: ExposureSpec, k: int) -> tuple[dict[str, Any], Publication]:
    del spec
    return suppress_exposure(dict(computed.figures), k)


ANALYSES.register("impact.exposure", Analysis(
    name="impact.exposure", title="Exposure and outcome", spec=ExposureSpec, compute=_compute, publish=_publish,
    help="Did members exposed to X go on to Y more often? Raw and adjusted differences with diagnostics."))
