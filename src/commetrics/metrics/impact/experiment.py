"""A/B experiments on conversions: rates per variant, the sample-ratio check, comparisons with Holm's correction,
CUPED and the minimum detectable effect."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ...config import Config
from ...errors import InputError
from ...privacy.outputs import suppress_experiment
from ...results import Diagnostic, Publication
from ...stats import wilson_interval
from .. import causal, fetch
from ..analysis import ANALYSES, Analysis, Computed, Context, SpecBase

__all__ = ["experiment_impact", "experiment_table"]


def experiment_table(db: Any, *, name: str, outcomes: Sequence[str], window_days: int, pre_days: int,
                     as_of: datetime) -> pd.DataFrame:
    """One row per unit of experiment ``name``: ``variant``, ``exposed_at``, ``mature`` (its window
    has elapsed by *as of*), for each outcome type a 0/1 ``y:TYPE`` (an outcome of the unit — keyed
    by member, contact or account id — within ``window_days`` after exposure), and ``pre``, the
    unit's activities in the ``pre_days`` before exposure (the CUPED covariate). Units assigned to
    more than one variant are kept with ``conflict`` set."""
    import ibis

    e = db.table("experiments")
    e = e.filter(e.experiment == name)
    units = e.group_by("unit_id").aggregate(variant=e.variant.min(), variants=e.variant.nunique(),
                                            exposed_at=e.exposed_at.min())
    o = db.table("outcomes").filter(lambda t: t.type.isin(list(outcomes)))
    keyed = o.select(unit=o.member_id, ts=o.ts, type=o.type).union(
        o.select(unit=o.contact_id, ts=o.ts, type=o.type), distinct=False).union(
        o.select(unit=o.account_id, ts=o.ts, type=o.type), distinct=False)
    keyed = keyed.filter(keyed.unit.notnull())
    hits = units.join(keyed, (units.unit_id == keyed.unit) & (keyed.ts >= units.exposed_at)
                      & (keyed.ts <= units.exposed_at + ibis.interval(days=window_days)))
    flags = hits.group_by("unit_id").aggregate(**{f"y:{t}": (hits.type == t).any() for t in outcomes})
    a = db.table("activities")
    before = units.join(a, (units.unit_id == a.member_id) & (a.ts < units.exposed_at)
                        & (a.ts >= units.exposed_at - ibis.interval(days=pre_days)))
    pre = before.group_by("unit_id").aggregate(pre=before.count())
    joined = units.left_join(flags, "unit_id").drop("unit_id_right").left_join(pre, "unit_id").drop("unit_id_right")
    frame = fetch(joined.order_by("unit_id"))
    for t in outcomes:
        frame[f"y:{t}"] = frame[f"y:{t}"].astype("boolean").fillna(False).astype(bool)
    frame["pre"] = frame["pre"].fillna(0).astype(float)
    frame["conflict"] = frame.pop("variants") > 1
    frame["mature"] = frame["exposed_at"].notna() & (frame["exposed_at"] + pd.Timedelta(days=window_days)
                                                     <= pd.Timestamp(as_of))
    return frame


def experiment_impact(frame: pd.DataFrame, *, outcomes: Sequence[str], control: str | None = None,
                      shares: Sequence[float] | None = None, alpha: float = 0.05, power: float = 0.8
                      ) -> dict[str, Any]:
    """An A/B test on conversions: per variant the rate with its Wilson interval; the sample-ratio
    check; every other variant against the control with Newcombe's interval and a z-test, Holm-adjusted
    over all variants and outcomes; the CUPED-adjusted difference where a pre-exposure activity count
    varies; and the minimum detectable effect at the sample size reached."""
    from scipy import stats as scipy_stats

    if frame.empty:
        raise InputError("No units are assigned to this experiment; load the experiments table (experiment, "
                         "unit_id, variant, exposed_at) and check the name.")
    variants = sorted(frame["variant"].unique())
    if len(variants) < 2:
        raise InputError(f"The experiment has one variant ({variants[0]}); an A/B test needs two or more.")
    reference = control or ("control" if "control" in variants else variants[0])
    if reference not in variants:
        raise InputError(f"The control {reference!r} is not a variant of this experiment ({', '.join(variants)}).")
    counts = [int((frame["variant"] == v).sum()) for v in variants]
    srm = causal.srm_check(counts, shares or [1 / len(variants)] * len(variants))
    usable = frame[frame["mature"] & ~frame["conflict"]]
    rows, comparisons = [], []
    for outcome in outcomes:
        y = f"y:{outcome}"
        for v in variants:
            part = usable[usable["variant"] == v]
            n, k = len(part), int(part[y].sum())
            low, high = wilson_interval(k, n) if n else (math.nan, math.nan)
            rows.append({"outcome": outcome, "variant": v, "assigned": int((frame["variant"] == v).sum()),
                         "analysed": n, "converted": k, "rate": k / n if n else math.nan, "ci_low": low,
                         "ci_high": high})
        base = usable[usable["variant"] == reference]
        for v in variants:
            if v == reference:
                continue
            arm = usable[usable["variant"] == v]
            if base.empty or arm.empty:
                continue
            test = causal.ab_test(int(base[y].sum()), len(base), int(arm[y].sum()), len(arm))
            row = {"outcome": outcome, "variant": v, "control": reference, "difference": test.difference,
                   "ci_low": test.ci_low, "ci_high": test.ci_high, "relative_lift": test.relative_lift,
                   "p": test.pvalue}
            both = pd.concat([base, arm])
            if both["pre"].std() > 0:
                adjusted = causal.cuped(both[y].astype(float), both["pre"])
                values = pd.Series(adjusted.adjusted, index=both.index)
                a_values, b_values = values.loc[base.index], values.loc[arm.index]
                se = math.sqrt(a_values.var(ddof=1) / len(a_values) + b_values.var(ddof=1) / len(b_values))
                diff = float(b_values.mean() - a_values.mean())
                z = scipy_stats.norm.ppf(0.975)
                row.update(cuped_difference=diff, cuped_ci_low=diff - z * se, cuped_ci_high=diff + z * se,
                           cuped_variance_ratio=adjusted.variance_ratio)
            comparisons.append(row)
    table = pd.DataFrame(comparisons)
    if not table.empty:
        table["p_holm"] = causal.holm(table["p"].to_numpy())
    base_rates = [r["rate"] for r in rows if r["variant"] == reference and r["outcome"] == outcomes[0]]
    n_control = int((usable["variant"] == reference).sum())
    mde = (causal.minimum_detectable_effect(base_rates[0], n_control, alpha=alpha, power=power)
           if base_rates and 0 < base_rates[0] < 1 and n_control >= 2 else math.nan)
    return {
        "variants": pd.DataFrame(rows), "comparisons": table, "control": reference,
        "srm": {"counts": dict(zip(variants, counts, strict=True)), "chi2": srm.statistic, "p": srm.pvalue,
                "mismatch": srm.mismatch},
        "conflicting_units": int(frame["conflict"].sum()), "immature_units": int((~frame["mature"]).sum()),
        "minimum_detectable_effect": mde,
    }


@dataclass(frozen=True)
class ExperimentSpec(SpecBase):
    """``impact.experiment``: the experiment's ``name`` and the ``outcomes`` compared (both required);
    ``window_days`` after exposure (default ``impact.window_days``), ``pre_days`` of activity for CUPED
    (default ``impact.exposure_days``), the ``control`` variant, the designed ``shares``."""

    name: str | None = None
    outcomes: tuple[str, ...] = ()
    window_days: int | None = None
    pre_days: int | None = None
    control: str | None = None
    shares: tuple[float, ...] | None = None

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        return {"window_days": config.impact.window_days, "pre_days": config.impact.exposure_days}


def _compute(context: Context, spec: ExperimentSpec) -> Computed:
    if not spec.name or not spec.outcomes:
        raise InputError("The experiment question needs experiment= (its name) and outcome= (one outcome type, or "
                         "several).")
    table = experiment_table(context.ibis(), name=spec.name, outcomes=tuple(spec.outcomes),
                             window_days=spec.window_days or 30, pre_days=spec.pre_days or 90,
                             as_of=context.as_of(spec.as_of))
    figures = experiment_impact(table, outcomes=tuple(spec.outcomes), control=spec.control, shares=spec.shares)
    diagnostics: tuple[Diagnostic, ...] = ()
    if figures["srm"]["mismatch"]:
        diagnostics = (Diagnostic("sample_ratio", "The units per variant do not fit the designed allocation (sample "
                                  f"ratio mismatch, p = {figures['srm']['p']:.2g}): assignment or exposure logging is "
                                  "broken.", "Do not trust the comparison; check how units were assigned and logged.",
                                  value=float(figures["srm"]["p"]), threshold=0.001),)
    return Computed(figures, diagnostics, primary="variants")


def _publish(computed: Computed, spec: ExperimentSpec, k: int) -> tuple[dict[str, Any], Publication]:
    del spec
    return suppress_experiment(dict(computed.figures), k)


ANALYSES.register("impact.experiment", Analysis(
    name="impact.experiment", title="A/B experiment", spec=ExperimentSpec, compute=_compute, publish=_publish,
    help="Analyse an A/B test on conversions: rates, sample-ratio check, differences with intervals, CUPED, Holm."))


@dataclass(frozen=True)
class PlanSpec(SpecBase):
    """``impact.plan``: the control's ``baseline`` rate and either a ``target`` rate (units per arm needed)
    or ``n`` units per arm (the smallest detectable increase), at ``alpha`` and ``power``."""

    baseline: float | None = None
    target: float | None = None
    n: int | None = None
    alpha: float = 0.05
    power: float = 0.8


def _plan(context: Context, spec: PlanSpec) -> Computed:
    del context
    if spec.baseline is None or (spec.target is None) == (spec.n is None):
        raise InputError("Give either --target RATE (the units per arm needed to detect it) or --n UNITS (what that "
                         "many units per arm detect), and --baseline; in the library: target= or n=, and baseline=.")
    figures: dict[str, Any] = {"baseline": spec.baseline, "alpha": spec.alpha, "power": spec.power}
    if spec.target is not None:
        figures.update(target=spec.target, units_per_arm=causal.sample_size_two_proportions(
            spec.baseline, spec.target, alpha=spec.alpha, power=spec.power, method="pooled"),
            units_per_arm_arcsine=causal.sample_size_two_proportions(
            spec.baseline, spec.target, alpha=spec.alpha, power=spec.power, method="arcsine"))
    else:
        assert spec.n is not None
        figures.update(units_per_arm=spec.n, minimum_detectable_effect=causal.minimum_detectable_effect(
            spec.baseline, spec.n, alpha=spec.alpha, power=spec.power))
    return Computed(figures)


ANALYSES.register("impact.plan", Analysis(
    name="impact.plan", title="A/B test plan", spec=PlanSpec, compute=_plan, unit="none",
    help="Plan an A/B test: units per arm for a target rate, or the minimum detectable effect for a size."))
