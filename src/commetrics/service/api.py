"""The JSON API: one route per page, returning the page's published Result as ``result.to_dict()``.

The bodies are what ``commetrics ... --json`` prints for the same question (the published figures,
the parameters, the publication and the diagnostics), plus ``read_at`` and, when the store was
being written, ``stale``. Authenticate with ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from ..results import jsonable
from . import queries
from .results import Reader, Served
from .security import current_user, require
from .users import User

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["results"], dependencies=[Depends(current_user)])

_AS_OF = Query(None, description="The data's now, YYYY-MM-DD (default: the latest loaded instant).", max_length=40)


def _reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


def _body(request: Request, served: Served[Any], data: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``data()`` (made once per Result read) with when it was read and, if the store was busy, why it may be old."""
    key = ("api", request.url.path, str(request.url.query))
    out = {**_reader(request).drawn(key, served, data), "read_at": served.read_at.isoformat()}
    if served.stale:
        out["stale"] = served.stale
    return out


@router.get("/summary", summary="The summary cards")
def summary(request: Request) -> dict[str, Any]:
    """The cards of `commetrics summary --json`: each figure with its interval and sentence, and the cards left
    out with their reasons."""
    served = queries.summary(_reader(request))
    return _body(request, served, served.value.to_dict)


@router.get("/conversion", summary="Community conversion rates")
def conversion(request: Request, name: str | None = Query(None, max_length=200),
               by: queries.CohortKey | None = None,
               window: int | None = Query(None, ge=1, le=100_000), as_of: str | None = _AS_OF) -> dict[str, Any]:
    """A conversion of `commetrics.toml` (default: the summary's) by a cohort key, in one window or all."""
    served, _ = queries.conversion(_reader(request), name, by.value if by else None, window, as_of)
    return _body(request, served, served.value.to_dict)


@router.get("/impact/{question}", summary="Impact of participation")
def impact(request: Request, question: queries.ImpactQuestion, as_of: str | None = _AS_OF,
           campaign: str | None = Query(None, max_length=200, description="The campaign of the campaign question "
                                        "(default: the first in the experiments table).")) -> dict[str, Any]:
    """Renewal, retention, NPS, CSAT, upsell or a campaign's effect: raw figures beside adjusted associations,
    and the diagnostics (balance, overlap, convergence, parallel trends) that may withhold a headline."""
    served = queries.impact(_reader(request), question.value, as_of, campaign)
    return _body(request, served, served.value.to_dict)


@router.get("/attribution", summary="Attributed conversions and revenue")
def attribution(request: Request, model: str = Query("all", max_length=40), as_of: str | None = _AS_OF
                ) -> dict[str, Any]:
    """Credit per touchpoint class by one attribution model, or all side by side (credit allocation, not cause)."""
    served, _ = queries.attribution(_reader(request), model, as_of)
    return _body(request, served, served.value.to_dict)


@router.get("/scores/accounts", summary="Account health scores")
def account_scores(request: Request, as_of: str | None = _AS_OF) -> dict[str, Any]:
    served = queries.scores(_reader(request), "accounts", as_of)
    return _body(request, served, served.value.to_dict)


@router.get("/scores/members", summary="Member engagement scores (analysts; members with consent only)")
def member_scores(request: Request, user: User = Depends(require("analyst")), as_of: str | None = _AS_OF
                  ) -> dict[str, Any]:
    served = queries.scores(_reader(request), "members", as_of)
    return _body(request, served, served.value.to_dict)


@router.get("/data-health", summary="Loads, quarantine and row counts")
def data_health(request: Request) -> dict[str, Any]:
    """Rows per table, the latest loads, quarantined rows by reason and when data was last loaded."""
    served = queries.data_health(_reader(request))
    return _body(request, served, lambda: dict(served.value))


@router.get("/identity/review", summary="Pairs near the identity threshold (analysts)")
def identity_review(request: Request, user: User = Depends(require("analyst")),
                    margin: float = Query(0.05, gt=0, le=0.5)) -> dict[str, Any]:
    served = queries.review(_reader(request), margin)
    return _body(request, served, lambda: {"margin": margin, "pairs": jsonable(served.value)})


class Decision(BaseModel):
    record_a: str = Field(..., max_length=200, description="m:MEMBER_ID, c:CONTACT_ID, or a member or contact id")
    record_b: str = Field(..., max_length=200)
    decision: Literal["link", "unlink", "clear"]


@router.post("/identity/decisions", summary="Link or unlink two records (admins)")
def identity_decide(request: Request, decision: Decision = Body(...), user: User = Depends(require("admin"))
                    ) -> dict[str, Any]:
    """Decide by hand that two records are one person (`link`), are not (`unlink`), or leave it to the evidence
    (`clear`); kept in `identity_overrides` for every later run. A browser session must send `X-CSRF-Token`."""
    from .security import check_csrf

    check_csrf(request, request.headers.get("x-csrf-token"))
    done: dict[str, Any] = _reader(request).write(
        lambda engine: engine.override_identity(decision.record_a, decision.record_b, decision.decision))
    out: dict[str, Any] = jsonable(done)
    return out
