"""The dashboard's pages: server-rendered, one per question, each with plain GET forms for its pickers.

Every page reads through :mod:`.queries` (the same calls as its ``/api/...`` route) and draws with
:mod:`.views` (the report's renderers). State changes — an identity decision, signing out — are POST
forms carrying the session's CSRF token.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from ..errors import NotEnoughDataError
from ..reports.html.page import label_cells
from ..reports.labels import GLOSSARY, cohort_key, words
from ..spreadsheet import safe_cell
from . import queries
from .results import Reader, Served
from .security import check_csrf, current_user, require
from .users import Role, User
from .views import attribution_html, conversion_html, diagnostics_html, impact_html, scores_html, summary_html

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(current_user)], include_in_schema=False)

#: Rows the scores page lists unless asked for more.
SCORES_SHOWN = 50

#: The pages in the navigation: path, label, the role they need.
NAV: tuple[tuple[str, str, Role], ...] = (
    ("/", "Summary", "viewer"), ("/conversion", "Conversion", "viewer"), ("/impact", "Impact", "viewer"),
    ("/attribution", "Attribution", "viewer"), ("/scores", "Scores", "viewer"), ("/data", "Data health", "viewer"),
    ("/identity", "Identity review", "analyst"), ("/docs", "API", "viewer"))


def _reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


def _drawn(reader: Reader, what: tuple[Any, ...], served: Served[Any], draw: Callable[[], str]) -> Markup:
    """The page's figures drawn once per Result read (charts take longer to draw than a Result to look up), kept
    under ``what`` — the page and its pickers, not the address, so the warming draws them before anyone asks."""
    return Markup(reader.drawn(("page", *what), served, lambda: label_cells(draw())))


def _conversion_body(reader: Reader, served: Served[Any], chosen: str, by: str | None, window: int | None,
                     as_of: str | None) -> Markup:
    return _drawn(reader, ("conversion", chosen, by, window, as_of or ""), served,
                  lambda: conversion_html(served.value, reader.config(), chosen, by))


def _impact_body(reader: Reader, served: Served[Any], question: str, as_of: str | None, campaign: str) -> Markup:
    return _drawn(reader, ("impact", question, as_of or "", campaign), served,
                  lambda: impact_html(question, served.value, reader.config()))


def _attribution_body(reader: Reader, served: Served[Any], model: str, as_of: str | None,
                      outcomes: list[str]) -> Markup:
    return _drawn(reader, ("attribution", model, as_of or ""), served,
                  lambda: attribution_html(served.value, reader.config(), outcomes))


def _scores_body(reader: Reader, served: Served[Any], level: str, as_of: str | None, limit: int) -> Markup:
    return _drawn(reader, ("scores", level, as_of or "", limit), served,
                  lambda: scores_html(served.value, level, limit))


def warm(reader: Reader) -> int:
    """What ``commetrics serve`` computes before anyone asks (:func:`.queries.warm_views`), each view drawn as its
    page opens right after it is read: a first visitor then waits for neither."""
    config = reader.config()

    def draw(view: queries.View, served: Served[Any]) -> None:
        kind, args = view
        if kind == "summary":
            _drawn(reader, ("summary",), served, lambda: summary_html(served.value))
        elif kind == "conversion":
            _conversion_body(reader, served, config.summary.conversion, args[0], args[1], None)
        elif kind == "impact":
            _impact_body(reader, served, args[0], None, "")
        elif kind == "attribution":
            _attribution_body(reader, served, args[0], None, list(config.attribution.outcomes))
        elif kind == "scores":
            _scores_body(reader, served, args[0], None, SCORES_SHOWN)

    return queries.warm_views(reader, then=draw)


def _not_enough(request: Request, user: User, template: str, title: str, error: NotEnoughDataError,
                **context: Any) -> Response:
    """The page with its pickers and, in place of the figures, why the store cannot answer yet."""
    return _page(request, user, template, title, [], body=Markup(f'<p class="empty">{escape(str(error))}</p>'),
                 diagnostics="", **context)


def _page(request: Request, user: User, template: str, title: str, served: list[Served[Any]],
          **context: Any) -> Response:
    reader = _reader(request)
    stale = [s.stale for s in served if s.stale]
    page = request.app.state.templates.env.get_template(template).render({
        "user": user, "csrf": request.state.csrf, "title": title,
        "nav": [(path, label) for path, label, role in NAV if user.can(role)],
        "here": request.url.path, "stale": stale[0] if stale else "", "last_load": queries.last_load(reader),
        "read_at": max((s.read_at for s in served), default=None), "glossary": GLOSSARY,
        "workspace": str(reader.workspace.directory), **context})
    # Narrow screens stack a table's cells: each says which column it is (the report's tables are labelled when drawn).
    return HTMLResponse(label_cells(page) if template in ("data.html", "identity.html", "docs.html") else page)


@router.get("/", response_class=HTMLResponse)
def summary_page(request: Request, user: User = Depends(current_user)) -> Response:
    served = queries.summary(_reader(request))
    return _page(request, user, "summary.html", "Summary", [served],
                 body=_drawn(_reader(request), ("summary",), served, lambda: summary_html(served.value)),
                 summary=served.value)


@router.get("/conversion", response_class=HTMLResponse)
def conversion_page(request: Request, user: User = Depends(current_user), name: str | None = None,
                    by: str = Query("", max_length=40), window: str = Query("", max_length=12),
                    as_of: str | None = None) -> Response:
    """The form sends every picker, empty ones too: an empty cohort key is all members, an empty window all of
    them."""
    reader = _reader(request)
    key = queries.cohort_key_of(by)
    days = queries.window_of(window)
    config = reader.config()
    chosen = name or config.summary.conversion
    pickers = {"names": [(n, c.title(n)) for n, c in config.conversions.items()], "name": chosen,
               "keys": [(k.value, cohort_key(k.value)) for k in queries.CohortKey], "by": key or "",
               "windows": list(config.conversions[chosen].windows) if chosen in config.conversions else [],
               "window": days, "as_of": as_of or ""}
    try:
        served, chosen = queries.conversion(reader, name, key, days, as_of)
    except NotEnoughDataError as error:
        return _not_enough(request, user, "conversion.html", "Conversion explorer", error, **pickers)
    return _page(request, user, "conversion.html", "Conversion explorer", [served],
                 body=_conversion_body(reader, served, chosen, key, days, as_of),
                 diagnostics=Markup(diagnostics_html(served.value)), **pickers)


@router.get("/impact", response_class=HTMLResponse)
def impact_page(request: Request, user: User = Depends(current_user),
                question: queries.ImpactQuestion = queries.ImpactQuestion("renewal"),
                as_of: str | None = None, campaign: str = Query("", max_length=200)) -> Response:
    reader = _reader(request)
    pickers = {"question": question.value, "as_of": as_of or "", "campaign": campaign,
               "campaigns": queries.campaigns(reader) if question.value == "campaign" else [],
               "questions": [(q.value, words(q.value) if q.value not in ("nps", "csat") else q.value.upper())
                             for q in queries.ImpactQuestion]}
    try:
        served = queries.impact(reader, question.value, as_of, campaign or None)
    except NotEnoughDataError as error:
        return _not_enough(request, user, "impact.html", "Impact", error, **pickers)
    return _page(request, user, "impact.html", "Impact", [served],
                 body=_impact_body(reader, served, question.value, as_of, campaign),
                 diagnostics=Markup(diagnostics_html(served.value)), **pickers)


@router.get("/attribution", response_class=HTMLResponse)
def attribution_page(request: Request, user: User = Depends(current_user), model: str = "all",
                     as_of: str | None = None) -> Response:
    reader = _reader(request)
    pickers = {"models": list(queries.models().items()), "model": model, "as_of": as_of or ""}
    try:
        served, outcomes = queries.attribution(reader, model, as_of)
    except NotEnoughDataError as error:
        return _not_enough(request, user, "attribution.html", "Attribution", error, **pickers)
    return _page(request, user, "attribution.html", "Attribution", [served],
                 body=_attribution_body(reader, served, model, as_of, outcomes),
                 diagnostics=Markup(diagnostics_html(served.value)), **pickers)


@router.get("/scores", response_class=HTMLResponse)
def scores_page(request: Request, user: User = Depends(current_user),
                level: queries.ScoreLevel = queries.ScoreLevel.accounts, as_of: str | None = None,
                limit: int = Query(SCORES_SHOWN, ge=1, le=1000)) -> Response:
    if level is queries.ScoreLevel.members:
        require("analyst")(user)
    pickers = {"level": level.value, "as_of": as_of or "", "limit": limit, "members_allowed": user.can("analyst")}
    try:
        served = queries.scores(_reader(request), level.value, as_of)
    except NotEnoughDataError as error:
        return _not_enough(request, user, "scores.html", "Scores", error, **pickers)
    return _page(request, user, "scores.html", "Scores", [served],
                 body=_scores_body(_reader(request), served, level.value, as_of, limit),
                 diagnostics=Markup(diagnostics_html(served.value)), **pickers)


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, user: User = Depends(current_user)) -> Response:
    served = queries.data_health(_reader(request))
    return _page(request, user, "data.html", "Data health", [served], health=served.value,
                 download=user.can("admin"))


@router.get("/data/quarantine.csv")
def quarantine_csv(request: Request, user: User = Depends(require("admin"))) -> Response:
    frame = queries.quarantine(_reader(request)).value
    cleaned = frame.astype(object).map(lambda v: safe_cell(v) if isinstance(v, str) else v)
    out = io.StringIO()
    cleaned.to_csv(out, index=False, quoting=1)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="quarantine.csv"'})


@router.get("/identity", response_class=HTMLResponse)
def identity_page(request: Request, user: User = Depends(require("analyst")),
                  margin: float = Query(0.05, gt=0, le=0.5), done: str = "") -> Response:
    served = queries.review(_reader(request), margin)
    pairs = served.value.to_dict(orient="records")
    return _page(request, user, "identity.html", "Identity review", [served], pairs=pairs, margin=margin,
                 can_decide=user.can("admin"), done=done[:200])


@router.post("/identity/decide")
def identity_decide(request: Request, user: User = Depends(require("admin")),
                    record_a: str = Form(..., max_length=200), record_b: str = Form(..., max_length=200),
                    decision: Literal["link", "unlink", "clear"] = Form(...), csrf: str = Form("")) -> Response:
    check_csrf(request, csrf)
    outcome = _reader(request).write(lambda engine: engine.override_identity(record_a, record_b, decision))
    verb = {"link": "are one person", "unlink": "are never one person", "clear": "are left to the evidence"}[decision]
    done = f"{outcome['record_a']} and {outcome['record_b']} {verb} now."
    return RedirectResponse(f"/identity?{urlencode({'done': done})}", status_code=303)
