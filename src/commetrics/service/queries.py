"""What each page and its API route ask the Engine, in one place, so the two always show the same Result.

Each function checks the request's parameters against the workspace (a conversion of
``commetrics.toml``, a registered model ...) and reads through the :class:`~.results.Reader`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CommetricsError, InputError, NotEnoughDataError, UnknownNameError
from ..metrics.conversion import COHORT_KEYS
from ..reports.summary import SUMMARY_PARTS, Summary, SummaryResults
from ..results import Result, jsonable
from .results import Reader, Served
from .views import IMPACT_QUESTIONS, attribution_params, conversion_params, impact_params, summary_of

__all__ = ["CohortKey", "ImpactQuestion", "ScoreLevel", "attribution", "campaigns", "cohort_key_of", "conversion",
           "data_health", "impact", "last_load", "models", "parse_as_of", "quarantine", "read_view", "review", "scores",
           "summary", "views", "warm_views", "warm_workspace", "window_of"]

CohortKey = StrEnum("CohortKey", {key: key for key in COHORT_KEYS})  # type: ignore[misc]
ImpactQuestion = StrEnum("ImpactQuestion", {q: q for q in IMPACT_QUESTIONS})  # type: ignore[misc]


class ScoreLevel(StrEnum):
    accounts = "accounts"
    members = "members"


def parse_as_of(value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (or an ISO 8601 instant) as the data's now; empty: the latest loaded instant."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"as_of {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-06-30.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cohort_key_of(text: str | None) -> str | None:
    """A cohort key of a form ("" or none: all members)."""
    if not text:
        return None
    if text not in COHORT_KEYS:
        raise UnknownNameError.for_name("cohort key", text, COHORT_KEYS)
    return text


def window_of(text: str | None) -> int | None:
    """A window in days of a form ("" or none: every window of the conversion)."""
    if not text or not text.strip():
        return None
    try:
        days = int(text)
    except ValueError:
        raise InputError(f"window {text!r} is not a number of days, e.g. 30.") from None
    if days < 1:
        raise InputError(f"window {days} must be at least 1 day.")
    return days


def summary(reader: Reader) -> Served[Summary]:
    """The summary's cards. When they must be computed, their parts (:data:`~commetrics.reports.summary.SUMMARY_PARTS`)
    are started on the other connections from the last one back, while the summary's own computation takes them
    in order: the two meet halfway."""
    ahead: dict[Hashable, Callable[[Any], None]] = {
        ("summary", name): functools.partial(_summary_part, part) for name, part in reversed(SUMMARY_PARTS.items())}
    return reader.read(("summary",), summary_of, ahead=ahead)


def _summary_part(part: Callable[[Any, datetime, SummaryResults], None], engine: Any) -> None:
    part(engine, engine.as_of(), SummaryResults())  # what it computes stays in the Engines' results cache


def conversion(reader: Reader, name: str | None, by: str | None, window: int | None,
               as_of: str | None) -> tuple[Served[Result], str]:
    """The conversion ``name`` (default: the summary's) by ``by`` with one ``window`` (default: all of them)."""
    config = reader.config()
    chosen = name or config.summary.conversion
    if chosen not in config.conversions:
        raise UnknownNameError.for_name("conversion", chosen, list(config.conversions))
    windows = config.conversions[chosen].windows
    if window is not None and window not in windows:
        raise InputError(f"window {window} is not a window of {chosen}; its windows are "
                         f"{', '.join(str(w) for w in windows)} days.")
    params = conversion_params(chosen, by, window, parse_as_of(as_of))
    return reader.result("conversion", params), chosen


def campaigns(reader: Reader) -> list[str]:
    """The campaigns (experiments) the store holds assignments of."""
    frame = reader.read(("campaigns",), lambda engine: engine.query(
        "select distinct experiment from experiments order by 1")).value
    return [str(name) for name in frame["experiment"]]


def impact(reader: Reader, question: str, as_of: str | None, campaign: str | None = None) -> Served[Result]:
    """An impact question; ``campaign`` names the campaign of the ``campaign`` question (default: the first)."""
    if question != "campaign":
        return reader.result(f"impact.{question}", impact_params(parse_as_of(as_of)))
    known = campaigns(reader)
    if not known:
        raise NotEnoughDataError("No campaign in the store yet: load its accounts into the experiments table "
                                 "(experiment = campaign name, unit_id = account_id, variant, exposed_at).")
    chosen = campaign or known[0]
    if chosen not in known:
        raise UnknownNameError.for_name("campaign", chosen, known)
    return reader.result("impact.campaign", impact_params(parse_as_of(as_of), chosen))


def models() -> dict[str, str]:
    """The registered attribution models and their labels, "all" first."""
    from ..reports.html import model_labels

    return {"all": "All models side by side", **model_labels()}


def attribution(reader: Reader, model: str, as_of: str | None) -> tuple[Served[Result], list[str]]:
    """The attribution by ``model`` (or all), and the outcome types it credits."""
    known = models()
    if model not in known:
        raise UnknownNameError.for_name("attribution model", model, list(known))
    served = reader.result("attribution", attribution_params(model, parse_as_of(as_of)))
    outcomes = list(reader.config().attribution.outcomes)
    return served, outcomes


def scores(reader: Reader, level: str, as_of: str | None) -> Served[Result]:
    """Health of accounts, or engagement of members (the Engine lists only members with consent)."""
    return reader.result(f"scores.{level}", {"as_of": parse_as_of(as_of)})


def data_health(reader: Reader) -> Served[dict[str, Any]]:
    """Rows per table, the latest loads, quarantine by reason, and when data was last loaded."""

    def read(engine: Any) -> dict[str, Any]:
        status = engine.status(last_loads=20)
        loads: pd.DataFrame = status.loads
        last = loads["finished_at"].max() if len(loads) else None
        return {**status.as_dict(), "last_load": jsonable(last)}

    return reader.read(("data_health",), read, quick=True)


def last_load(reader: Reader) -> str | None:
    """When data was last loaded (ISO 8601), for every page's header."""
    return str(data_health(reader).value["last_load"] or "") or None


def quarantine(reader: Reader) -> Served[pd.DataFrame]:
    """Every unresolved quarantined row, with its raw record (admins only: it holds what was loaded)."""
    return reader.read(("quarantine",), lambda engine: engine.quarantine())


def review(reader: Reader, margin: float) -> Served[pd.DataFrame]:
    """Pairs near the identity threshold, with their evidence (analysts and admins: personal data)."""
    return reader.read(("identity_review", margin), lambda engine: engine.identity_review(margin=margin))


# -- what the dashboard computes before anyone asks ------------------------------------------------------------


#: One view of the dashboard: the page and its pickers — ("conversion", (cohort key, window)), ("impact",
#: (question,)), ("attribution", (model,)), ("scores", (level,)), ("summary", ()), ("data_health", ()).
View = tuple[str, tuple[Any, ...]]


def views(reader: Reader, level: str) -> Iterator[View]:
    """The views :func:`warm_views` reads at ``level``, most visited first."""
    config = reader.config()
    yield from (("summary", ()), ("data_health", ()), ("conversion", (None, None)), ("impact", ("renewal",)),
                ("attribution", ("all",)), ("scores", ("accounts",)))
    if level == "pages":
        return
    yield from (("impact", (q,)) for q in IMPACT_QUESTIONS if q != "renewal")
    yield from (("attribution", (m,)) for m in models() if m != "all")
    yield "scores", ("members",)
    name = config.summary.conversion
    windows = config.conversions[name].windows if name in config.conversions else ()
    yield from (("conversion", (k, None)) for k in COHORT_KEYS)
    yield from (("conversion", (None, w)) for w in windows)
    if level == "all":
        yield from (("conversion", (k, w)) for k in COHORT_KEYS for w in windows)


def read_view(reader: Reader, view: View) -> Served[Any]:
    """What the page of ``view`` reads (its default conversion, campaign and as-of)."""
    kind, args = view
    if kind == "summary":
        return summary(reader)
    if kind == "data_health":
        return data_health(reader)
    if kind == "conversion":
        return conversion(reader, None, args[0], args[1], None)[0]
    if kind == "impact":
        return impact(reader, args[0], None)
    if kind == "attribution":
        return attribution(reader, args[0], None)[0]
    return scores(reader, args[0], None)


def warm_views(reader: Reader, level: str | None = None,
               then: Callable[[View, Served[Any]], object] | None = None) -> int:
    """Read every view the dashboard offers at ``level`` (default ``[dashboard] warm``; see its help): each page
    as it opens, then each picker changed on its own (every impact question, attribution model, cohort key and
    window, member scores), with ``"all"`` every cohort key with every window too; ``then(view, served)`` after
    each (the pages draw it). Through ``reader``, so what is read is remembered and kept in the results cache. A
    view the data cannot answer is skipped (its page says why). Returns how many views were read."""
    chosen = level or reader.config().dashboard.warm
    if chosen == "off":
        return 0
    done = 0
    for view in views(reader, chosen):
        reader.give_way()  # visitors first
        try:
            served = read_view(reader, view)
            if then is not None:
                then(view, served)
        except CommetricsError:
            continue
        done += 1
    return done


def warm_workspace(workspace: str | Path | None = None, level: str | None = None) -> int:
    """:func:`warm_views` into the results cache of ``workspace`` (``commetrics refresh`` does this after the
    report), so a dashboard started later reads them back. Returns how many views were read."""
    reader = Reader(workspace)
    try:
        return warm_views(reader, level)
    finally:
        reader.close()
