"""The analysis registry: each analysis is a spec, a compute step and a publish step, in one module.

An :class:`Analysis` is registered under a name (``conversion``, ``attribution``,
``impact.renewal`` ...) by the module that computes it. It has

* ``spec``: a frozen dataclass of its parameters, whose ``from_config(config, **given)`` fills every
  parameter the caller left out from the workspace's :class:`~commetrics.config.Config`;
* ``compute(context, spec)``: the exact figures, as a :class:`Computed` (tables and values, typed
  diagnostics, notes, the name of the main table);
* ``publish(computed, spec, k)``: the figures as they may be shown to anyone — consent honoured,
  small cells hidden with their partners, whatever rests on a hidden group withheld — and the
  :class:`~commetrics.results.Publication` that says what was hidden. Analyses that count
  organisations, not people, publish their figures as they are.

The :class:`~commetrics.engine.Engine` runs them (:meth:`Engine.run`) and returns a
:class:`~commetrics.results.Result`; front doors only render Results (renderers are registered by
analysis name in the reports layer).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import pandas as pd

from ..config import Config
from ..errors import InputError
from ..registry import Registry
from ..results import Diagnostic, Publication

__all__ = ["ANALYSES", "Analysis", "Computed", "Context", "SpecBase", "publish_as_is"]


T = TypeVar("T")


class Context(Protocol):
    """What an analysis may read: the store through Ibis, the config, the data's "now", consent."""

    config: Config

    @property
    def shares(self) -> bool:
        """Whether :meth:`shared` keeps what it computes for other analyses (an Engine with a results cache)."""
        ...

    def ibis(self) -> Any: ...

    def as_of(self, as_of: datetime | None = None) -> datetime: ...

    def consenting_members(self) -> set[str]: ...

    def identity_note(self) -> str: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, data other analyses of the same data read too (computed once where the Engine keeps
        Results); ``key`` names it and every parameter it depends on. It must not ask for a Result."""
        ...


@dataclass(frozen=True)
class Computed:
    """What an analysis computed: exact ``figures`` (frames and values), diagnostics and notes."""

    figures: Mapping[str, Any]
    diagnostics: tuple[Diagnostic, ...] = ()
    notes: tuple[str, ...] = ()
    primary: str | None = None


S = TypeVar("S", bound="SpecBase")


@dataclass(frozen=True)
class SpecBase:
    """Parameters of an analysis. Subclasses list theirs as fields defaulting to ``None`` where the
    config supplies the default (``defaults(config)`` returns those), and ``as_of``.

    ``from_config(config, **given)`` takes the caller's values, ``None`` meaning "the default"."""

    as_of: datetime | None = None

    @classmethod
    def defaults(cls, config: Config) -> dict[str, Any]:
        """The config's defaults of this analysis's parameters (override in subclasses)."""
        del config
        return {}

    @classmethod
    def from_config(cls: type[S], config: Config, **given: Any) -> S:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise InputError(f"{cls.__name__} has no parameter {', '.join(unknown)}; its parameters are "
                             f"{', '.join(sorted(names))}.")
        values = {**cls.defaults(config), **{k: v for k, v in given.items() if v is not None}}
        return cls(**{k: v for k, v in values.items() if k in names})

    def with_as_of(self: S, moment: datetime) -> S:
        return replace(self, as_of=moment)

    def as_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def publish_as_is(computed: Computed, spec: Any, k: int) -> tuple[Mapping[str, Any], Publication]:
    """For analyses of organisations (accounts) or of nobody in particular: nothing to hide."""
    del spec
    return computed.figures, Publication(k)


@dataclass(frozen=True)
class Analysis(Generic[S]):
    """One registered analysis (see the module docstring)."""

    name: str
    title: str
    spec: type[S]
    compute: Callable[[Context, S], Computed]
    publish: Callable[[Computed, S, int], tuple[Mapping[str, Any], Publication]] = publish_as_is
    help: str = ""
    unit: str = "people"  # what it counts: "people" (published through small-cell suppression) or "accounts"
    tags: tuple[str, ...] = field(default=())


ANALYSES: Registry[Analysis[Any]] = Registry(
    "analysis", discover="commetrics.metrics", group="commetrics.analyses",
    hint="`commetrics --help` lists the analyses.")
