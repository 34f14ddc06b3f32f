"""Running models by name: :func:`attribute` stacks their results, :func:`bootstrap_intervals` resamples.

Models are looked up in :data:`~commetrics.metrics.attribution.models.ATTRIBUTION_MODELS`: nothing
here knows one model from another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ...errors import InputError
from .journeys import Journeys, journeys_per_class
from .models import ATTRIBUTION_MODELS, AttributionModel, AttributionOptions
from .models.heuristic import HEURISTIC_MODELS
from .paths import Paths

__all__ = ["MODELS", "attribute", "bootstrap_intervals", "resolve_options"]

#: The built-in models, in display order (kept for compatibility: the registry is what runs them).
MODELS = (*HEURISTIC_MODELS, "time_decay", "markov", "shapley")


def resolve_options(options: AttributionOptions | None = None, *, half_life_days: float | None = None,
                    first: float | None = None, last: float | None = None,
                    order: int | None = None) -> AttributionOptions:
    """``options`` (default: the defaults) with the settings given as keywords in place of its own."""
    base = options if options is not None else AttributionOptions()
    if half_life_days is None and first is None and last is None and order is None:
        return base
    return AttributionOptions(half_life_days=base.half_life_days if half_life_days is None else half_life_days,
                              first=base.first if first is None else first,
                              last=base.last if last is None else last,
                              order=base.order if order is None else order)


def _model(name: str, touches: pd.DataFrame | None) -> AttributionModel:
    """The registered model ``name``; an unknown name, or one that needs touch times a path table lacks, is an error."""
    model = ATTRIBUTION_MODELS.get(name)
    if model.needs_touch_times and touches is None:
        raise InputError(f"{model.label} needs the time of every touch; aggregated path files do not have it.")
    return model


def _run(paths: Paths, touches: pd.DataFrame | None, name: str, options: AttributionOptions) -> pd.DataFrame:
    return _model(name, touches).run(paths, touches, options)


def attribute(journeys: Journeys | Paths, models: Sequence[str], *, options: AttributionOptions | None = None,
              half_life_days: float | None = None, first: float | None = None, last: float | None = None,
              order: int | None = None) -> pd.DataFrame:
    """Run ``models`` and stack their results: ``model``, ``class``, ``conversions``, ``value``, ``share``
    and ``journeys``, the converting journeys through the class (see :func:`journeys_per_class`: from the
    store, distinct converting people or accounts), which small-cell suppression needs.

    Settings come from ``options``; ``half_life_days``, ``first``, ``last`` and ``order``, when given,
    replace its own (defaults 7 days, 0.4, 0.4 and 1). ``attrs`` holds ``units_with_touch`` and
    ``units_without_touch`` (distinct units; for a path table, its converting journeys and 0).
    """
    settings = resolve_options(options, half_life_days=half_life_days, first=first, last=last, order=order)
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    touches = journeys.touches if isinstance(journeys, Journeys) else None
    counts = dict(zip(paths.classes, journeys_per_class(journeys).tolist(), strict=True))
    columns = ["model", "class", "conversions", "value", "share", "journeys"]
    frames = []
    for model in models:
        frame = _run(paths, touches, model, settings)
        total = frame["conversions"].sum()
        frame = frame.assign(model=model, share=frame["conversions"] / total if total else np.nan,
                             journeys=[counts.get(str(c), 0) for c in frame["class"]])
        frames.append(frame[columns])
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    result["journeys"] = result["journeys"].astype("int64")
    result.attrs.update(_group_sizes(journeys))
    return result


def _group_sizes(journeys: Journeys | Paths) -> dict[str, int]:
    """``units_with_touch`` and ``units_without_touch`` (see :func:`attribute`)."""
    if isinstance(journeys, Journeys):
        return {"units_with_touch": journeys.units_with_touch, "units_without_touch": journeys.units_without_touch}
    return {"units_with_touch": int(np.floor(journeys.converting.conversions.sum() + 1e-9)), "units_without_touch": 0}


def bootstrap_intervals(journeys: Journeys | Paths, model: str, *, replicates: int = 200, seed: int = 0,
                        confidence: float = 0.95, options: AttributionOptions | None = None,
                        half_life_days: float | None = None, first: float | None = None, last: float | None = None,
                        order: int | None = None) -> pd.DataFrame:
    """Percentile intervals of a model's credit, resampling journeys (Poisson bootstrap).

    Each replicate gives every journey a Poisson(1) number of copies — for aggregated paths,
    every path's converting and non-converting counts are drawn from Poissons with the observed
    counts as means (a path's value follows its conversions), which is the same thing and also
    works for fractional counts. It is the usual large-sample stand-in for resampling journeys
    with replacement. A model that needs touch times (time decay) resamples the journeys of its
    touches. Settings as in :func:`attribute`. Returns ``class``, ``conversions_low``,
    ``conversions_high``, ``value_low``, ``value_high``.
    """
    settings = resolve_options(options, half_life_days=half_life_days, first=first, last=last, order=order)
    paths = journeys.paths if isinstance(journeys, Journeys) else journeys
    touches = journeys.touches if isinstance(journeys, Journeys) else None
    entry = _model(model, touches)
    rng = np.random.default_rng(seed)
    classes = paths.classes
    by_paths = not (touches is not None and entry.needs_touch_times)
    batch = entry.replicate_shares(paths, settings) if by_paths and entry.replicate_shares is not None else None
    if by_paths and entry.path_shares is not None:
        draws_c, draws_v = _linear_draws(entry.path_shares(paths, settings), paths, replicates, rng)
    elif batch is not None:
        draws_c, draws_v = _batched_draws(batch, paths, replicates, rng)
    else:
        replicate = _path_replicates(entry, paths, settings, rng) if by_paths else \
            _touch_replicates(entry, paths, touches, settings, rng)
        draws_c = np.zeros((replicates, len(classes)))
        draws_v = np.zeros((replicates, len(classes)))
        for r in range(replicates):
            result = replicate()
            draws_c[r] = result["conversions"].reindex(classes, fill_value=0.0).to_numpy()
            draws_v[r] = result["value"].reindex(classes, fill_value=0.0).to_numpy()
    tail = 100 * (1 - confidence) / 2
    return pd.DataFrame({
        "class": list(classes),
        "conversions_low": np.percentile(draws_c, tail, axis=0),
        "conversions_high": np.percentile(draws_c, 100 - tail, axis=0),
        "value_low": np.percentile(draws_v, tail, axis=0),
        "value_high": np.percentile(draws_v, 100 - tail, axis=0),
    })


def _per_conversion(paths: Paths) -> np.ndarray:
    """Each path's value per conversion (0 without conversions): a replicate's value follows its conversions."""
    out: np.ndarray = np.divide(paths.value, paths.conversions, out=np.zeros_like(paths.value),
                                where=paths.conversions > 0)
    return out


def _drawn_counts(paths: Paths, replicates: int, rng: np.random.Generator
                  ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The replicates' Poisson counts of every path, in blocks of at most 128 MB: ``(first replicate,
    conversions, nulls)``, one row per replicate, drawn in the order :func:`_path_replicates` draws them (the
    same generator gives the same counts, so every way of running the bootstrap gives the same intervals)."""
    block = max(1, min(replicates, 2**24 // max(len(paths), 1)))
    for start in range(0, replicates, block):
        size = min(block, replicates - start)
        conversions, nulls = np.empty((size, len(paths))), np.empty((size, len(paths)))
        for r in range(size):
            conversions[r] = rng.poisson(paths.conversions)
            nulls[r] = rng.poisson(paths.nulls)
        yield start, conversions, nulls


def _linear_draws(share: np.ndarray, paths: Paths, replicates: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every replicate's credit per class (conversions, value) for a model linear in the paths' counts: the
    credit is one sparse product of the drawn counts with the touches' shares, summed per path and class."""
    per_conversion = _per_conversion(paths)
    credit = sparse.csr_matrix((share, (paths.path_of_touch, paths.codes)), shape=(len(paths), len(paths.classes)))
    draws_c = np.zeros((replicates, len(paths.classes)))
    draws_v = np.zeros((replicates, len(paths.classes)))
    for start, counts, _ in _drawn_counts(paths, replicates, rng):
        draws_c[start:start + len(counts)] = (credit.T @ counts.T).T
        draws_v[start:start + len(counts)] = (credit.T @ (counts * per_conversion).T).T
    return draws_c, draws_v


def _batched_draws(solve: Callable[[np.ndarray, np.ndarray], np.ndarray], paths: Paths, replicates: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every replicate's credit per class for a model that solves a block of replicates at once
    (``AttributionModel.replicate_shares``): its shares of each replicate's conversions and value."""
    per_conversion = _per_conversion(paths)
    draws_c = np.zeros((replicates, len(paths.classes)))
    draws_v = np.zeros((replicates, len(paths.classes)))
    for start, conversions, nulls in _drawn_counts(paths, replicates, rng):
        shares = solve(conversions, nulls)
        draws_c[start:start + len(shares)] = shares * conversions.sum(axis=1)[:, None]
        draws_v[start:start + len(shares)] = shares * (conversions @ per_conversion)[:, None]
    return draws_c, draws_v


def _path_replicates(entry: AttributionModel, paths: Paths, options: AttributionOptions,
                     rng: np.random.Generator) -> Callable[[], pd.DataFrame]:
    """Each call: the model's credit (indexed by class) on the paths with Poisson-drawn counts."""
    per_conversion = _per_conversion(paths)

    def replicate() -> pd.DataFrame:
        c = rng.poisson(paths.conversions).astype(float)
        n = rng.poisson(paths.nulls).astype(float)
        return entry.run(paths.with_counts(c, c * per_conversion, n), None, options).set_index("class")
    return replicate


def _touch_replicates(entry: AttributionModel, paths: Paths, touches: pd.DataFrame, options: AttributionOptions,
                      rng: np.random.Generator) -> Callable[[], pd.DataFrame]:
    """Each call: the model's credit (indexed by class) with every journey of ``touches`` given a
    Poisson(1) number of copies. With the model's ``touch_shares`` the shares are computed once and
    only the journeys' weights change; without, the model runs on the reweighted touches."""
    journey = pd.factorize(touches["journey"])[0]
    conversions, value = touches["conversions"].to_numpy(float), touches["value"].to_numpy(float)
    size = int(journey.max()) + 1 if len(journey) else 0
    if entry.touch_shares is None:
        def rerun() -> pd.DataFrame:
            copies = rng.poisson(1.0, size).astype(float)[journey]
            copied = touches.assign(conversions=conversions * copies, value=value * copies)
            return entry.run(paths, copied, options).set_index("class")
        return rerun
    share = entry.touch_shares(touches, options)
    codes, found = pd.factorize(touches["class"], sort=True)
    names = pd.Index([str(x) for x in found], name="class")
    credit_c, credit_v = share * conversions, share * value

    def reweight() -> pd.DataFrame:
        copies = rng.poisson(1.0, size).astype(float)[journey]
        return pd.DataFrame({"conversions": np.bincount(codes, weights=credit_c * copies, minlength=len(names)),
                             "value": np.bincount(codes, weights=credit_v * copies, minlength=len(names))},
                            index=names)
    return reweight
