"""Revenue beside the conversion rate: what the converters' outcomes were worth, per cohort and window.

Where the conversion's outcomes carry a money ``value`` (``outcomes.value``, in ``outcomes.currency``),
each cell of the conversion table gains

* ``revenue``: the sum of ``value`` over the conversion's outcomes of the cell's eligible units that
  fall in their window ``[start, start + W]`` — every such outcome, not only the first (a converter
  who bought twice in 90 days brings both purchases); with an outcome anchor (repeat purchases) the
  anchor outcome and those before it are not counted, so a second-purchase conversion's revenue is
  that of the repeat purchases;
* ``revenue_per_eligible``: ``revenue ÷ eligible`` — the revenue a cell's member brought on average,
  converters or not;
* ``currency``: the currency of the values.

Only mature, eligible units count (the same as the rate's denominator); existing customers and units
in progress bring nothing. Each outcome counts once per unit, however it was keyed
(:func:`commetrics.metrics.outcome_events.outcome_events`). Values in more than one currency are not
added up: the table has no revenue and a warning says so. Published, a cell's revenue is hidden with
its converters (:func:`hide_revenue`): a sum over fewer than ``privacy.min_cell_size`` converters is
theirs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from ..results import Diagnostic
from .conversion import ConversionSpec, _members, prepared
from .conversion_base import LANDMARK_KEY, active, remembered
from .outcome_events import conversion_events, outcome_events
from .people import identities

if TYPE_CHECKING:
    from ibis.expr.types import Table

__all__ = ["REVENUE_COLUMNS", "add_revenue", "conversion_revenue", "hide_revenue"]

REVENUE_COLUMNS = ("revenue", "revenue_per_eligible", "currency")
# values are added up as decimals, so a sum does not depend on the order the backend reads rows in
_EXACT = dt.Decimal(38, 6)


def conversion_revenue(db: Any, spec: ConversionSpec, as_of: datetime, zone: str
                       ) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    """``cohort``, ``window_days``, ``revenue`` and ``currency`` per cell (see the module docstring), or ``None``
    when no outcome of the conversion carries a value (or they carry several currencies: with a warning)."""
    currencies = _currencies(db, spec, as_of)
    if not currencies:
        return None, []
    if len(currencies) > 1:
        named = ", ".join(sorted(c or "(none)" for c in currencies))
        return None, [Diagnostic("currencies", f"The {', '.join(spec.outcomes)} outcomes carry values in "
                                 f"{len(currencies)} currencies ({named}), so no revenue is added up beside the rates.",
                                 "Convert the values to one currency before loading them.", "warning",
                                 about="revenue")]
    base = prepared(db, spec, as_of, zone)
    base = base.filter(~base.existing)
    per_unit = _unit_revenue(db, spec, as_of, zone)
    joined = base.left_join(per_unit, base.unit_id == per_unit.revenue_unit)  # every cohort, with revenue or not
    columns = {f"revenue_{w}": joined[f"unit_revenue_{w}"].sum() for w in spec.windows}
    keys = list(spec.by)
    wide = (joined.group_by(keys).aggregate(**columns) if keys else joined.aggregate(**columns)).execute()
    rows = []
    for record in wide.to_dict(orient="records"):
        cohort = " / ".join(str(record[k]) for k in keys) or "all"
        for w in spec.windows:
            value = record[f"revenue_{w}"]
            rows.append({"cohort": cohort, "window_days": w,
                         "revenue": 0.0 if value is None or pd.isna(value) else float(value)})
    frame = pd.DataFrame(rows, columns=["cohort", "window_days", "revenue"])
    frame["currency"] = currencies[0] or None
    return frame, []


def _unit_revenue(db: Any, spec: ConversionSpec, as_of: datetime, zone: str) -> Table:
    """``revenue_unit`` and ``unit_revenue_{w}`` per window: each eligible unit's valued outcomes inside its
    window, where the window is mature (null without any). The same for every breakdown of a conversion, so
    kept once per report (:meth:`~.conversion_base.SharedBases.kept`); the windows of the ``program`` key
    start at its landmark, so that one has its own."""
    def build() -> Table:
        ids = identities(db)
        events = conversion_events(db, anchor=spec.anchor, nth=spec.nth, outcomes=spec.outcomes, unit=spec.unit,
                                   ids=ids, people=_members(db, ids))
        valued = events.filter(events.value.notnull())
        base = prepared(db, spec, as_of, zone)
        base = base.filter(~base.existing).select("unit_id", "start")
        money = valued.select(money_unit=valued.unit_id, money_ts=valued.ts, money=valued.value.cast(_EXACT))
        joined = base.join(money, base.unit_id == money.money_unit)
        columns = {}
        for w in spec.windows:
            mature = joined.start <= ibis.literal(as_of - timedelta(days=w))
            inside = (joined.money_ts >= joined.start) & (joined.money_ts <= joined.start + ibis.interval(days=w))
            columns[f"unit_revenue_{w}"] = joined.money.sum(where=mature & inside)
        return joined.group_by(revenue_unit=joined.unit_id).aggregate(**columns)

    shared = active()
    if shared is None:
        return build()
    return shared.kept(db, ("unit_revenue", replace(spec, by=()), LANDMARK_KEY in spec.by, as_of, zone), build)


@remembered
def _currencies(db: Any, spec: ConversionSpec, as_of: datetime) -> list[str]:
    """The currencies ('' for none) of the conversion's outcome events that carry a value: once per report for
    all of a conversion's breakdowns (a pass over every outcome event, minutes at 5M members)."""
    ids = identities(db)
    every = outcome_events(db, spec.outcomes, spec.unit, ids, _members(db, ids))
    every = every.filter(every.value.notnull())
    found = every.select(currency=every.currency.fill_null("")).distinct().execute()
    return sorted(str(c) for c in found["currency"])


def add_revenue(rates: pd.DataFrame, revenue: pd.DataFrame) -> pd.DataFrame:
    """The rates with :data:`REVENUE_COLUMNS`: a cell with eligible units and no valued outcome brought 0; a
    cell with none eligible (in progress) has no revenue, nor do the cohorts the revenue does not cover (the
    non-community baseline)."""
    currency = revenue["currency"].iloc[0] if len(revenue) else None
    out = rates.merge(revenue.drop(columns="currency"), on=["cohort", "window_days"], how="left")
    eligible = out["eligible"].astype(float)
    covered = out["cohort"].isin(set(revenue["cohort"])).to_numpy()
    out["revenue"] = np.where(covered & (eligible > 0), out["revenue"].astype(float), math.nan)
    out["revenue_per_eligible"] = out["revenue"] / eligible.where(eligible > 0)
    out["currency"] = currency
    return out


def hide_revenue(rates: pd.DataFrame) -> pd.DataFrame:
    """Published rates: a cell's revenue is hidden wherever its converters (or the whole cell) are."""
    if "revenue" not in rates.columns:
        return rates
    hidden = np.zeros(len(rates), dtype=bool)
    for flag in ("suppressed", "converters_suppressed"):
        if flag in rates.columns:
            hidden |= rates[flag].fillna(False).astype(bool).to_numpy()
    out = rates.copy()
    out.loc[hidden, ["revenue", "revenue_per_eligible"]] = math.nan
    return out
