"""Renewal of engaged vs not engaged accounts: the raw difference and an adjusted association.

For every decided renewal (``subscriptions.renewed`` known, renewal date up to *as of*) the
participation of the account's members is counted in the exposure window
``[renewal - exposure_start_days, renewal - exposure_end_days)``, which ends before the decision,
so the participation cannot be a consequence of it. The count gives a level (none / low / medium /
high by thresholds), and ``engaged`` means the configured level or above.

Engaged accounts are often the ones that would have renewed anyway (bigger, heavier users), so
the raw difference in renewal rates overstates what engagement is associated with. The adjusted
estimate controls for the configured covariates (account columns or attributes, known before the
renewal): doubly robust AIPW is the headline, with IPW and a 1:1 nearest-neighbour matched
comparison beside it, and the diagnostics to judge them — standardised mean differences before and
after weighting, propensity overlap, effective sample sizes, trimmed counts and the E-value. The
wording is "adjusted association", never "effect": the adjustment only removes the differences in
the covariates it is given.

The table is assembled by one Ibis expression over the canonical tables; the statistics are in
:mod:`commetrics.metrics.causal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ...config import ImpactSettings
from ...errors import InputError, NotEnoughDataError
from ...results import Publication
from .. import causal, fetch, threshold_labels
from ..adjusted import Labels
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from ..checks import missing_share
from .common import (
    MIN_RENEWALS,
    account_members,
    adjust,
    adjusted_fields,
    design_matrix,
    diagnostics_of,
    enough_covariates,
    impact_settings,
    rate_per_level,
    table_diagnostics,
    with_covariates,
)

__all__ = ["RenewalSpec", "renewal_impact", "renewal_table"]


def renewal_table(db: Any, settings: ImpactSettings, as_of: datetime) -> pd.DataFrame:
    """One row per decided renewal: ``account_id``, ``period_end``, ``renewed``, ``activities`` in the
    exposure window, ``level``, ``engaged`` and the covariate columns (``cov:NAME``)."""
    import ibis

    s = db.table("subscriptions")
    s = s.filter(s.renewed.notnull() & (s.period_end <= ibis.literal(as_of)))
    s = s.select("account_id", "period_end", "renewed")
    m = account_members(db)
    a = db.table("activities").select("member_id", "ts")
    touches = a.join(m, "member_id")
    joined = s.left_join(touches, (s.account_id == touches.account_id)
                         & (touches.ts >= s.period_end - ibis.interval(days=settings.exposure_start_days))
                         & (touches.ts < s.period_end - ibis.interval(days=settings.exposure_end_days)))
    counted = joined.group_by([s.account_id, s.period_end, s.renewed]).aggregate(activities=joined.ts.count())
    frame = fetch(counted.order_by(["account_id", "period_end"]))
    frame["renewed"] = frame["renewed"].astype(bool)
    frame["level"] = threshold_labels(frame["activities"], settings.levels)
    frame["engaged"] = frame["activities"] >= settings.levels[settings.engaged_level]
    return with_covariates(frame, db, settings)


def _quarters(frame: pd.DataFrame) -> pd.DataFrame:
    """Renewal rates of engaged and other accounts per renewal quarter (the cohort table)."""
    quarter = frame["period_end"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("Q").astype(str)
    rows = []
    for name, part in frame.assign(quarter=quarter).groupby("quarter", sort=True):
        row: dict[str, Any] = {"quarter": name}
        for label, chosen in (("engaged", part[part["engaged"]]), ("not_engaged", part[~part["engaged"]])):
            row[f"{label}_renewals"] = len(chosen)
            row[f"{label}_rate"] = float(chosen["renewed"].mean()) if len(chosen) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def renewal_impact(frame: pd.DataFrame, settings: ImpactSettings, *, seed: int = 0, refute: bool = False
                   ) -> dict[str, Any]:
    """Raw and adjusted renewal differences of engaged vs not engaged accounts, with diagnostics.

    ``frame`` is :func:`renewal_table`. The adjusted figure is
    :func:`commetrics.metrics.adjusted.adjusted_difference` — by default the effect on the engaged
    renewals (ATT), after setting aside the engaged ones no comparable renewal resembles — with IPW
    and 1:1 matched pairs on the same population beside it, balance, overlap, the guards that decide
    whether it may be the headline, the robustness value and the E-value.
    """
    if len(frame) < MIN_RENEWALS:
        raise NotEnoughDataError(f"The renewal comparison needs at least {MIN_RENEWALS} decided renewals; the store "
                                 f"holds {len(frame)}. Load more subscriptions history (subscriptions.renewed "
                                 "filled in).")
    engaged = frame["engaged"].to_numpy(bool)
    if engaged.all() or not engaged.any():
        which = "engaged" if engaged.all() else "not engaged"
        raise InputError(f"Every decided renewal is {which} at the '{settings.engaged_level}' level, so there is "
                         "nothing to compare; choose another impact.engaged_level or levels in commetrics.toml.")
    renewed = frame["renewed"].to_numpy(bool)
    raw = causal.newcombe_difference(int(renewed[engaged].sum()), int(engaged.sum()),
                                     int(renewed[~engaged].sum()), int((~engaged).sum()))
    x, names, complete = design_matrix(frame)
    keep = complete.to_numpy()
    covariates = [c for c in frame.columns if c.startswith("cov:")]
    enough_covariates(int(keep.sum()), len(frame), frame[covariates], "decided renewals")
    y, t = renewed[keep].astype(float), engaged[keep]
    result = adjust(y, t, pd.DataFrame(x[keep], columns=names), settings, seed=seed, refute=refute,
                     labels=Labels("renewals", "engaged", "not engaged", "engagement", "renewal"))
    units = frame.loc[keep, ["account_id", "period_end", "engaged"]].reset_index(drop=True)
    units["propensity"], units["kept"] = result.ps, result.kept
    return {
        "levels": rate_per_level(frame, settings, "renewed", ("renewals", "renewed", "rate")),
        "quarters": _quarters(frame),
        "renewals": len(frame), "engaged": int(engaged.sum()), "left_out_missing_covariates": int((~keep).sum()),
        "raw": {"difference": raw.difference, "ci_low": raw.low, "ci_high": raw.high},
        **adjusted_fields(result, y, t, exposure="engagement", outcome="renewal", groups=("engaged", "not_engaged"),
                          covariates=frame.loc[keep, covariates].reset_index(drop=True), unit="renewals"),
        "covariates": list(settings.covariates),
        "units": units,
        "wording": "adjusted association (controls only for the listed covariates)",
        "seed": seed,
    }


@dataclass(frozen=True)
class RenewalSpec(SpecBase):
    """``impact.renewal``: ``estimand`` (default ``impact.estimand``), ``refute``, ``seed``."""

    estimand: str | None = None
    refute: bool = False
    seed: int = 0


def _compute(context: Context, spec: RenewalSpec) -> Computed:
    settings = impact_settings(context.config, estimand=spec.estimand)
    table = renewal_table(context.ibis(), settings, context.as_of(spec.as_of))
    figures = renewal_impact(table, settings, seed=spec.seed, refute=spec.refute)
    diagnostics = (*table_diagnostics(table), *diagnostics_of(figures),
                   *missing_share(figures["left_out_missing_covariates"], figures["renewals"],
                                  list(settings.covariates), unit="renewals"))
    figures.pop("checks", None)
    return Computed(figures, diagnostics, primary="levels")


def _publish(computed: Computed, spec: RenewalSpec, k: int) -> tuple[dict[str, Any], Publication]:
    """Renewals are of accounts, not people: published as they are, without the per-renewal propensities."""
    del spec
    return {key: value for key, value in computed.figures.items() if key != "units"}, Publication(k)


ANALYSES.register("impact.renewal", Analysis(
    name="impact.renewal", title="Renewal of engaged and not engaged customers", spec=RenewalSpec,
    compute=_compute, publish=_publish, unit="accounts",
    help="Renewal of engaged vs not engaged accounts: the raw difference and the adjusted association."))
