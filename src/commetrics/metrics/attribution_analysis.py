"""The ``attribution`` analysis: credit for conversions and their value per community touchpoint class.

Parameters default to ``[attribution]`` in ``commetrics.toml`` (lookback, class, unit, half-life,
position shares, Markov order, bootstrap replicates, the revenue outcomes). Publishing hides the
classes that fewer than ``privacy.min_cell_size`` converting people (or accounts) went through, in
every model, with a partner class because each model's credits add up to a published total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..config import Config
from ..privacy.outputs import attribution_note, suppress_attribution
from ..results import Diagnostic, Publication
from .analysis import ANALYSES, Analysis, Computed, Context, SpecBase
from .attribution import (
    ATTRIBUTION_MODELS,
    Journeys,
    Paths,
    attribute,
    bootstrap_intervals,
    build_journeys,
    read_path_file,
    read_paths,
)

__all__ = ["AttributionSpec"]

#: what attribute() leaves in a frame's attrs, carried as figures of the Result
_GROUP_FIGURES = ("conversions_without_touch", "value_without_touch", "units_with_touch", "units_without_touch")


@dataclass(frozen=True)
class AttributionSpec(SpecBase):
    """``attribution``: ``models`` (names, or ``("all",)``), ``outcomes`` (default ``attribution.outcomes``),
    ``lookback_days``, ``by``, ``unit``, ``currency``, ``half_life_days``, ``first_touch_share``,
    ``last_touch_share``, ``order``, ``replicates`` (defaults from ``[attribution]``), ``paths`` (an
    aggregated path table or file instead of the store), ``ci`` (bootstrap intervals)."""

    models: tuple[str, ...] = ("all",)
    outcomes: tuple[str, ...] | None = None
    lookback_days: int | None = None
    by: Literal["type", "channel", "program", "tag"] | None = None
    unit: Literal["person", "account"] | None = None
    currency: str | None = None
    half_life_days: float | None = None
    first_touch_share: float | None = None
    last_touch_share: float | None = None
    order: int | None = None
    replicates: int | None = None
    paths: pd.DataFrame | str | Path | None = None
    ci: bool = False

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        a = config.attribution
        return {"outcomes": a.outcomes, "lookback_days": a.lookback_days, "by": a.by, "unit": a.unit,
                "half_life_days": a.half_life_days, "first_touch_share": a.first_touch_share,
                "last_touch_share": a.last_touch_share, "order": a.markov_order, "replicates": a.replicates}

    def as_params(self) -> dict[str, Any]:
        params = super().as_params()
        if isinstance(self.paths, pd.DataFrame):
            params["paths"] = "(a path table)"
        elif self.paths is not None:
            params["paths"] = str(self.paths)
        return params


def _models(spec: AttributionSpec) -> list[str]:
    """The models asked for; ``all`` is every registered model (those that need touch times only when the
    journeys come from the store, which has them)."""
    if list(spec.models) != ["all"]:
        for name in spec.models:
            ATTRIBUTION_MODELS.get(name)  # an unknown name is an error naming the close ones
        return list(spec.models)
    return [name for name, model in ATTRIBUTION_MODELS.items()
            if spec.paths is None or not model.needs_touch_times]


def compute(context: Context, spec: AttributionSpec) -> Computed:
    models = _models(spec)
    data: Journeys | Paths
    if spec.paths is not None:
        data = read_paths(spec.paths) if isinstance(spec.paths, pd.DataFrame) else read_path_file(spec.paths)
    else:
        asked: dict[str, Any] = {
            "outcomes": tuple(spec.outcomes or ()), "lookback_days": spec.lookback_days or 90,
            "grain": spec.by or "program", "as_of": context.as_of(spec.as_of), "unit": spec.unit or "person",
            "currency": spec.currency}
        # every model, the bootstrap and each of the dashboard's attribution views read the same journeys
        data = context.shared(("journeys", *asked.items()), lambda: build_journeys(context.ibis(), **asked))
    options: dict[str, Any] = {"half_life_days": spec.half_life_days or 7.0, "first": spec.first_touch_share,
                               "last": spec.last_touch_share, "order": spec.order or 1}
    result = attribute(data, models, **options)
    if spec.ci:
        intervals = [bootstrap_intervals(data, m, replicates=spec.replicates or 200, **options).assign(model=m)
                     for m in models]
        if intervals:
            kept = dict(result.attrs)  # a merge drops attrs
            result = result.merge(pd.concat(intervals), on=["model", "class"], how="left")
            result.attrs.update(kept)
    if isinstance(data, Journeys):
        result.attrs.update(conversions_without_touch=data.conversions_without_touch,
                            value_without_touch=data.value_without_touch)
    else:
        result.attrs.update(conversions_without_touch=0, value_without_touch=0.0)
    figures: dict[str, Any] = {"models": result.reset_index(drop=True),
                               **{name: result.attrs.get(name) for name in _GROUP_FIGURES},
                               "totals": {str(model): {"conversions": float(part["conversions"].sum()),
                                                       "value": float(part["value"].sum())}
                                          for model, part in result.groupby("model", sort=False)}}
    figures["models"].attrs = {}
    diagnostics: list[Diagnostic] = []
    if result.empty:
        without = int(figures.get("conversions_without_touch") or 0)
        diagnostics.append(Diagnostic(
            "no_journeys", "No conversion had a community touch in the lookback, so there is no credit to allocate"
            + (" (every conversion lacks one)." if without else " (the store holds no such conversions)."),
            "Load activities (commetrics status lists what is loaded), lengthen --lookback, or check --outcome.",
            "warning", about="models"))
    return Computed(figures, tuple(diagnostics), primary="models")


def publish(computed: Computed, spec: AttributionSpec, k: int) -> tuple[Mapping[str, Any], Publication]:
    del spec
    figures = computed.figures
    frame = figures["models"].copy()
    frame.attrs = {name: figures.get(name) for name in _GROUP_FIGURES}
    hidden = suppress_attribution(frame, k)
    note = attribution_note(hidden)
    published = {"models": hidden, "conversions_without_touch": hidden.attrs["conversions_without_touch"],
                 "value_without_touch": hidden.attrs["value_without_touch"],
                 "without_touch_suppressed": hidden.attrs["without_touch_suppressed"],
                 "totals": hidden.attrs["totals"]}
    return published, Publication(k, suppression_applied=bool(note), note=note)


ANALYSES.register("attribution", Analysis(
    name="attribution", title="Attribution of revenue to community touchpoints", spec=AttributionSpec,
    compute=compute, publish=publish,
    help="Credit conversions and revenue to community touchpoints, model by model (credit allocation, not lift)."))
