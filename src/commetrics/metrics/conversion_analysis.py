"""The ``conversion`` analysis: Community Conversion Rate by cohort and window, and time to conversion.

One Result holds the definition used, the rates (one row per cohort and window), the time to
conversion per cohort and, on request, the cumulative conversion curves. Publishing hides every
count of fewer than ``privacy.min_cell_size`` people — eligible, converters, in progress, existing
customers — with complementary cells against the all-members total, which every breakdown of the
same conversion and as-of shares (so ``--by`` and no ``--by`` cannot be subtracted to recover a
hidden cohort); the curves of hidden cohorts are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..config import Config
from ..errors import InputError, UnknownNameError
from ..privacy.outputs import suppress_rates, suppress_timing, suppression_note
from ..results import Diagnostic, Publication
from .analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .conversion import (
    BASELINE_LABEL,
    ConversionSpec,
    conversion_rates,
    cumulative_curves,
    has_never_joined_contacts,
    km_by_cohort,
    time_to_conversion,
)
from .conversion_base import active, shared_bases
from .conversion_revenue import add_revenue, conversion_revenue, hide_revenue

__all__ = ["ConversionRequest", "definition"]


@dataclass(frozen=True)
class ConversionRequest(SpecBase):
    """``conversion``: a named definition of ``commetrics.toml`` or an ad-hoc one from ``outcome``.

    ``by``: cohort keys; ``reference``: the cohort the others are compared with; ``baseline``: add CRM
    contacts who never joined (``None``: whenever there are any and the conversion allows it);
    ``curves``: also the cumulative conversion curves (the report draws them); ``nth``: with an
    ``outcome:TYPE`` anchor, the anchor is the (nth − 1)th outcome of that type (default 2)."""

    name: str | None = None
    outcome: tuple[str, ...] | None = None
    anchor: str | None = None
    windows: tuple[int, ...] | None = None
    unit: Literal["person", "account"] | None = None
    by: tuple[str, ...] = ()
    reference: str | None = None
    baseline: bool | None = None
    curves: bool = False
    nth: int | None = None


def definition(config: Config, request: ConversionRequest) -> ConversionSpec:
    """The :class:`ConversionSpec` a request names: a definition of the config (its fields overridden by the
    request's) or an ad-hoc conversion of ``outcome`` with the config's default windows."""
    outcome = tuple(request.outcome) if request.outcome else None
    spec = _definition(config, request, outcome)
    if request.nth is not None and not spec.anchor.startswith("outcome:"):
        raise InputError("--nth counts outcomes of the anchor's type: give --anchor outcome:TYPE too, e.g. "
                         "--anchor outcome:purchase --nth 2.")
    if spec.nth < 2:
        raise InputError(f"--nth must be 2 or more (2: the outcome after the first), not {spec.nth}.")
    return spec


def _definition(config: Config, request: ConversionRequest, outcome: tuple[str, ...] | None) -> ConversionSpec:
    if request.name is not None:
        if request.name not in config.conversions:
            raise UnknownNameError.for_name("conversion", request.name, config.conversions,
                                            "Define it under [conversions.NAME] in commetrics.toml, or pass "
                                            "--outcome TYPE for an ad-hoc conversion.")
        d = config.conversions[request.name]
        return ConversionSpec(name=request.name, outcomes=outcome or d.outcomes, anchor=request.anchor or d.anchor,
                              windows=tuple(request.windows or d.windows), unit=request.unit or d.unit,
                              description=d.description, owner=d.owner, family=d.family,
                              landmark_days=d.landmark_days, by=tuple(request.by),
                              nth=(d.nth or 2) if request.nth is None else request.nth)
    if outcome is None:
        raise InputError("Name a conversion defined in commetrics.toml (commetrics config lists them) or give "
                         "--outcome TYPE, e.g. --outcome trial_start.")
    return ConversionSpec(name="+".join(outcome), outcomes=outcome, anchor=request.anchor or "join",
                          windows=tuple(request.windows or config.conversion.windows), unit=request.unit or "person",
                          by=tuple(request.by), nth=2 if request.nth is None else request.nth)


def _known_outcomes(context: Context, outcomes: tuple[str, ...]) -> list[Diagnostic]:
    """A warning for each outcome type the store holds none of (a typo gives a silent 0% otherwise)."""
    import difflib

    o = context.ibis().table("outcomes")
    present = set(o.select("type").distinct().execute()["type"].astype(str))
    out = []
    for name in outcomes:
        if name not in present:
            close = difflib.get_close_matches(name, sorted(present), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            out.append(Diagnostic("unknown_outcome", f"The store holds no {name!r} outcome, so its rate is 0 by "
                                  f"construction.{hint}", "Check the outcome type (commetrics status lists the "
                                  "loaded types).", severity="warning"))
    return out


def _has_never_joined(db: Any) -> bool:
    """Whether the store holds CRM contacts who never joined, asked once per scope (a report's store does not
    change while it is written)."""
    shared = active()
    if shared is None:
        return has_never_joined_contacts(db)
    return shared.remember(db, "has_never_joined_contacts", lambda: has_never_joined_contacts(db))


def compute(context: Context, request: ConversionRequest) -> Computed:
    # The rates, baseline, curves and timing read one base (a report's, inside one); where the Engine keeps what it
    # shares (a dashboard's), what does not depend on the cohort key (the baseline, the currencies) is remembered
    # for the conversion's other breakdowns on this data.
    with shared_bases(request.by, context.shared if context.shares else None):
        return _compute(context, request)


def _compute(context: Context, request: ConversionRequest) -> Computed:
    spec = definition(context.config, request)
    db, moment, zone = context.ibis(), context.as_of(request.as_of), context.config.reporting.timezone
    baseline = request.baseline
    if baseline is None:
        baseline = spec.unit == "person" and spec.anchor == "join" and _has_never_joined(db)
    rates = conversion_rates(db, spec, as_of=moment, zone=zone, reference=request.reference, baseline=baseline)
    diagnostics = _known_outcomes(context, spec.outcomes)
    revenue, about_revenue = conversion_revenue(db, spec, moment, zone)
    if revenue is not None:
        rates = add_revenue(rates, revenue)
    km = km_by_cohort(db, spec, moment, zone)
    timing = time_to_conversion(db, spec, as_of=moment, zone=zone, km=km)
    figures: dict[str, Any] = {
        "definition": {"name": spec.name, "description": spec.description, "owner": spec.owner,
                       "family": spec.family, "outcomes": list(spec.outcomes), "anchor": spec.anchor,
                       "windows": list(spec.windows), "unit": spec.unit, "by": list(spec.by),
                       **({"nth": spec.nth} if spec.anchor.startswith("outcome:") else {})},
        "as_of": moment, "rates": rates, "time_to_conversion": timing,
    }
    if request.curves:
        figures["curves"] = cumulative_curves(db, spec, as_of=moment, zone=zone, km=km)
    notes = tuple(n for n in (getattr(context, "identity_note", lambda: "")(),) if n)
    return Computed(figures, (*diagnostics, *about_revenue), notes, primary="rates")


def publish(computed: Computed, request: ConversionRequest, k: int) -> tuple[Mapping[str, Any], Publication]:
    figures = dict(computed.figures)
    rates = hide_revenue(suppress_rates(figures["rates"], k, totals_published=bool(request.by),
                                        separate=(BASELINE_LABEL,)))
    timing = suppress_timing(figures["time_to_conversion"], k)
    if "all_converters" in timing:  # converters of any time: a count of people of its own
        small = timing["all_converters"].between(1, k - 1)
        timing = timing.astype({"all_converters": object})
        timing.loc[small, ["all_converters", "median_days_all_converters"]] = [None, math.nan]
    figures.update(rates=rates, time_to_conversion=timing)
    if "curves" in figures:
        hidden = set(timing.loc[timing["suppressed"], "cohort"]) if len(timing) else set()
        figures["curves"] = figures["curves"][~figures["curves"]["cohort"].isin(hidden)].reset_index(drop=True)
    notes = [n for n in (suppression_note(rates), suppression_note(timing, where=" in the time to conversion"))
             if n]
    return figures, Publication(k, suppression_applied=bool(notes), note=" ".join(notes))


ANALYSES.register("conversion", Analysis(
    name="conversion", title="Community conversion rate", spec=ConversionRequest, compute=compute, publish=publish,
    help="Community Conversion Rate by cohort and window, with intervals and time to conversion."))
