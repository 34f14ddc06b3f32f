"""One ``Result`` per analysis: what was asked, the exact figures, what may be published, and why to doubt it.

Every analysis of the :class:`~commetrics.engine.Engine` returns a :class:`Result`. It holds

* ``analysis`` and ``params``: the registered name of the analysis and the parameters it ran with
  (defaults filled in from the workspace's config), so the result says what it answers;
* ``exact``: the figures as computed — tables (pandas frames) and values (numbers, nested records) —
  for the analyst who holds the data;
* ``published``: the same after the workspace's publication policy — consent honoured, groups of
  fewer than ``privacy.min_cell_size`` people hidden with their partners, whatever rests on them
  withheld — and :class:`Publication` saying what was hidden. This is what every front door shows:
  the terminal, ``--json``, the report and the dashboard only *render* it;
* ``diagnostics``: typed :class:`Diagnostic` records (a guard that withholds a headline, a warning,
  a note), so that every renderer can put them next to the figure they concern.

Reading a result: ``result["rates"]`` or ``result.frame("rates")`` is a published table,
``result.value("raw")`` a published value, ``result.table`` the main table; ``result.to_dict()`` is
the published result as plain JSON (no NaN: missing numbers are ``null``). A result computed with
``exact=True`` publishes the exact figures and says so (``publication.exact``).

Compare lifelines' fitted estimators (``summary``, ``confidence_intervals_``) and splink's linker
namespaces: one object per question, with everything needed to judge the answer.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["Diagnostic", "Publication", "Result", "jsonable", "merge_diagnostics", "published_as_exact"]

Severity = Literal["blocking", "warning", "info"]


@dataclass(frozen=True)
class Diagnostic:
    """Something the reader of a result must know before trusting it.

    ``severity``: ``blocking`` — the figure it concerns (``about``) must not be shown as an answer
    (a guard tripped); ``warning`` — shown, with the warning beside it; ``info`` — context.

    ``name`` is a short code (``balance``, ``ess``, ``overlap``, ``range``, ``interval``,
    ``convergence``, ``separation``, ``parallel_trends``, ``not_enough_data``, ``unknown_name``,
    ``identity`` ...); ``message`` says what was found and ``advice`` what to do, in words.
    """

    name: str
    message: str
    advice: str = ""
    severity: Severity = "blocking"
    value: float | None = None
    threshold: float | None = None
    about: str = "headline"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "about": self.about, "message": self.message,
                "advice": self.advice, "value": _finite(self.value), "threshold": _finite(self.threshold)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnostic:
        return cls(name=str(data["name"]), message=str(data["message"]), advice=str(data.get("advice", "")),
                   severity=data.get("severity", "blocking"), value=data.get("value"), threshold=data.get("threshold"),
                   about=str(data.get("about", "headline")))


@dataclass(frozen=True)
class Publication:
    """What the publication policy did: the threshold, whether anything was hidden, what was withheld."""

    k: int
    exact: bool = False  # True: the analyst asked for exact figures; nothing was hidden
    suppression_applied: bool = False
    withheld: tuple[str, ...] = ()  # keys of the result that are withheld whole
    note: str = ""  # one sentence per hidden table, for the reader

    def as_dict(self) -> dict[str, Any]:
        return {"min_cell_size": self.k, "exact": self.exact, "suppression_applied": self.suppression_applied,
                "withheld": list(self.withheld), "note": self.note}


@dataclass(frozen=True)
class Result(Mapping[str, Any]):
    """The outcome of one analysis (see the module docstring).

    It is a read-only mapping over the *published* figures, so ``result["raw"]`` and
    ``result.get("headline")`` read what may be shown; ``exact`` keeps the figures as computed.
    """

    analysis: str
    params: Mapping[str, Any]
    exact: Mapping[str, Any]
    published: Mapping[str, Any]
    publication: Publication
    diagnostics: tuple[Diagnostic, ...] = ()
    notes: tuple[str, ...] = ()
    primary: str | None = None  # the name of the main table, for ``table``
    title: str = ""

    # -- the mapping over published figures ----------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.published[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.published)

    def __len__(self) -> int:
        return len(self.published)

    def frame(self, name: str | None = None) -> pd.DataFrame:
        """A published table (the main one by default)."""
        key = name or self.primary
        if key is None:
            raise KeyError(f"the {self.analysis} result has no main table; name one of {self.frames()}")
        value = self.published[key]
        if not isinstance(value, pd.DataFrame):
            raise KeyError(f"{key!r} of the {self.analysis} result is not a table (withheld, or a value)")
        return value

    @property
    def table(self) -> pd.DataFrame:
        """The main published table."""
        return self.frame()

    def frames(self) -> list[str]:
        return [k for k, v in self.published.items() if isinstance(v, pd.DataFrame)]

    def value(self, name: str, default: Any = None) -> Any:
        return self.published.get(name, default)

    # -- judging it ----------------------------------------------------------------------------

    @property
    def headline(self) -> bool:
        """False when a blocking diagnostic withholds the headline figure."""
        return not any(d.severity == "blocking" and d.about == "headline" for d in self.diagnostics)

    def blocking(self, about: str = "headline") -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "blocking" and d.about == about]

    def with_published(self, published: Mapping[str, Any], publication: Publication) -> Result:
        return replace(self, published=dict(published), publication=publication)

    # -- serialising ---------------------------------------------------------------------------

    def to_dict(self, *, exact: bool = False) -> dict[str, Any]:
        """The result as plain JSON: the published figures (or, with ``exact``, the exact ones), its
        parameters, publication and diagnostics. Tables are lists of records; NaN becomes null."""
        figures = self.exact if exact else self.published
        out = {"analysis": self.analysis, "params": jsonable(dict(self.params)), **jsonable(dict(figures)),
               **self.publication.as_dict(),
               "diagnostics": [d.as_dict() for d in self.diagnostics], "notes": list(self.notes)}
        return out

    def to_json(self, *, exact: bool = False, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(exact=exact), indent=indent, allow_nan=False, default=str)


def published_as_exact(analysis: str, params: Mapping[str, Any], figures: Mapping[str, Any], k: int, *,
                       diagnostics: tuple[Diagnostic, ...] = (), notes: tuple[str, ...] = (),
                       primary: str | None = None, title: str = "") -> Result:
    """A result whose figures are published as they are (nothing in it counts people)."""
    return Result(analysis, dict(params), dict(figures), dict(figures), Publication(k), diagnostics, notes, primary,
                  title)


def _finite(value: Any) -> Any:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: frames as lists of records (at any depth), NaN and infinities as null,
    dates as ISO 8601, numpy scalars as Python numbers, dataclasses with ``as_dict`` through it."""
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, pd.Series):
        return jsonable(value.tolist())
    if hasattr(value, "as_dict") and callable(value.as_dict):
        return jsonable(value.as_dict())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if value is pd.NaT:  # a datetime too: checked first, or it would print as "NaT"
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):  # DuckDB's DECIMAL columns
        return float(value) if value.is_finite() else None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def merge_diagnostics(*groups: tuple[Diagnostic, ...] | list[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Diagnostics of several parts, each once, in order."""
    seen: list[Diagnostic] = []
    for group in groups:
        for item in group:
            if item not in seen:
                seen.append(item)
    return tuple(seen)

