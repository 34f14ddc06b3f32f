"""The dashboard's application: pages, the JSON API, sign-in, and the rules every response follows.

:func:`create_app` builds the FastAPI app over one workspace. Every route depends on
:func:`~.security.current_user` except ``/login``, ``/health`` and ``/static`` (the stylesheet and
script); ``/docs`` (the API reference, drawn here without any CDN) and ``/openapi.json`` included.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import CommetricsError, InputError
from ..store import Workspace
from .results import PAGE, Busy, Computing, Reader
from .security import (
    COOKIE,
    HEADERS,
    LOGIN_COOKIE,
    LoginLimiter,
    NotSignedIn,
    SecuritySettings,
    current_session,
    current_user,
    same_origin,
)
from .users import User, Users, same

__all__ = ["create_app", "warm"]

HERE = Path(__file__).parent


def _is_api(request: Request) -> bool:
    return _api_path(request.url.path)


def _api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


def _address(request: Request) -> str:
    """The path and query the request asked for (where to come back to)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _safe_next(target: str | None) -> str:
    """Only a path of this site to go to after signing in (never ``//host`` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class _Rules:
    """What every response follows, as plain ASGI (a ``BaseHTTPMiddleware`` runs each request through a task group
    and memory streams, a cost every request of the dashboard paid): the security headers of :data:`HEADERS`,
    ``Cache-Control: no-store`` outside ``/static``, HSTS behind HTTPS; and :data:`~.results.PAGE` set for a page's
    request, so that it waits for figures at most ``[dashboard] patience`` seconds, then says they are being
    computed."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
                if self.secure:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        page = PAGE.set(not _api_path(path) and scope["method"] == "GET")
        try:
            await self.app(scope, receive, sending)
        finally:
            PAGE.reset(page)


#: What the analyses import on their first use (model fitting, sparse algebra, Arrow's readers): seconds of
#: imports, holding the interpreter, that would otherwise fall on the first visitors' computations.
FIRST_USE_IMPORTS = ("sklearn.linear_model", "sklearn.model_selection", "sklearn.metrics", "scipy.stats",
                     "scipy.sparse.linalg", "scipy.optimize", "statsmodels.duration.hazard_regression",
                     "pyarrow.dataset", "ibis.formats.pandas", "ibis.formats.pyarrow", "ibis.backends.duckdb.converter")


def warm() -> None:
    """What a process pays once before its first answer: the registries' discovery (every analysis, model and
    renderer module imported), every analysis module and what they import on first use, and the chart engine's
    start. A server does it before it accepts requests, so the first visitor after a start waits only for
    figures nothing has computed yet."""
    import pkgutil

    from .. import metrics
    from ..metrics.analysis import ANALYSES
    from ..metrics.attribution.models import ATTRIBUTION_MODELS
    from ..reports.html.charts import interval_spec, svg
    from ..reports.text import RENDERERS

    for registry in (ANALYSES, ATTRIBUTION_MODELS, RENDERERS):
        registry.names()
    importlib.import_module("ibis.backends.duckdb")  # the query compiler every analysis uses: over a second to load
    names = [module.name for module in pkgutil.walk_packages(metrics.__path__, metrics.__name__ + ".")]
    for name in (*names, *FIRST_USE_IMPORTS):
        with contextlib.suppress(ImportError):  # an optional extra not installed: its analysis says so when asked
            importlib.import_module(name)
    # Altair's first chart loads the Vega-Lite schema (0.2 s), vl-convert's first drawing starts its engine
    svg(interval_spec([{"label": "warm", "value": 0.5, "low": 0.4, "high": 0.6}], x_title="warm"), title="warm",
        description="warm", ident="warm")


def _catch_up(reader: Reader) -> None:
    """A read copy behind the store (the last write was interrupted) is published again before the server reads:
    without it every question would wait for the one before it, on the store itself."""
    import duckdb

    from ..reports.refresh import catch_up_read_copy

    # a store this server may only read, or busy: it reads what it can, as it did before
    with contextlib.suppress(CommetricsError, OSError, duckdb.Error):
        catch_up_read_copy(reader.workspace.directory)


@contextlib.asynccontextmanager
async def _started(app: FastAPI) -> AsyncIterator[None]:
    reader: Reader = app.state.reader
    if app.state.warm:
        await run_in_threadpool(_catch_up, reader)
        await run_in_threadpool(warm)
        reader.start()  # the dashboard's views, computed in the background while requests are served
    try:
        yield
    finally:
        await run_in_threadpool(reader.close)


def create_app(workspace: str | Path | None = None, *, security: SecuritySettings | None = None,
               users: Users | None = None, reader: Reader | None = None, warm_up: bool = False) -> FastAPI:
    """The dashboard over ``workspace`` (default ``$COMMETRICS_WORKSPACE`` or the current folder); ``warm_up``:
    run :func:`warm` when the server starts, before the first request, then compute the dashboard's views in the
    background (:func:`~.pages.warm`, ``[dashboard] warm``) then and whenever the data changes
    (``commetrics serve`` does)."""
    from . import api, pages

    settings = security or SecuritySettings()
    place = Workspace.locate(workspace)
    app = FastAPI(title="commetrics", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  description="The published Results of a commetrics workspace: the same figures as the report and "
                              "`commetrics ... --json`. Authenticate with `Authorization: Bearer TOKEN` "
                              "(`commetrics users token NAME`).", lifespan=_started)
    app.state.warm = warm_up
    app.state.users = users or Users.of(place.directory)
    app.state.reader = reader or Reader(place, warmer=pages.warm if warm_up else None)
    app.state.security = settings
    app.state.limiter = LoginLimiter(settings.login_attempts, settings.login_window)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates = templates

    @app.get("/static/report.css", include_in_schema=False)
    def report_css() -> Response:
        """The report's own stylesheet: the pages draw the report's sections, so they look the same."""
        from ..reports.html.page import STYLE

        return Response(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(_Rules, secure=settings.secure_cookies)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request) or request.method != "GET":
            return JSONResponse({"detail": "Sign in first: send Authorization: Bearer TOKEN "
                                           "(`commetrics users token NAME`) or a session cookie from /login."},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse(f"/login?next={quote(_address(request), safe='')}", status_code=303)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        # figures being computed: 202 (accepted, under way), not a failure a browser or a monitor reports as one
        computing = isinstance(exc, Computing)
        return _problem(request, 202 if computing else 503, str(exc), headers={"Retry-After": str(exc.retry_after)},
                        reload=exc.retry_after if computing else None)

    @app.exception_handler(CommetricsError)
    async def our_error(request: Request, exc: CommetricsError) -> Response:
        return _problem(request, 400 if isinstance(exc, InputError) else 503, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        return _problem(request, 422, "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                                                 for e in exc.errors()))

    def _problem(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None,
                 reload: int | None = None) -> Response:
        if _is_api(request) or request.method != "GET":
            return JSONResponse({"detail": message}, status_code=status, headers=dict(headers or {}))
        user = getattr(request.state, "user", None)
        nav = [(path, label) for path, label, role in pages.NAV if user is not None and user.can(role)]
        return templates.TemplateResponse(request, "error.html", {
            "user": user, "csrf": getattr(request.state, "csrf", None), "status": status, "message": message,
            "title": "Being computed" if reload else "Not available", "nav": nav, "here": request.url.path,
            "reload": reload, "again": _address(request)},
            status_code=status,
            headers=dict(headers or {}))

    # -- the routes anyone may reach -------------------------------------------------------------------------

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, Any]:
        """Liveness for a load balancer or a reverse proxy: no data, no sign-in; ``warming``: whether the server
        is still computing its views in the background (a deployment may wait for it before sending users)."""
        reader: Reader = app.state.reader
        return {"status": "ok", "warming": reader.warming()}

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if current_session(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        token = secrets.token_urlsafe(24)
        response = templates.TemplateResponse(request, "login.html", {"next": _safe_next(next), "csrf": token,
                                                                      "title": "Sign in", "user": None})
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=settings.secure_cookies,
                            path="/login", max_age=3600)
        return response

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: str = Form(..., max_length=200), password: str = Form(..., max_length=1000),
              csrf: str = Form(""), next: str = Form("/")) -> Response:
        sent = request.cookies.get(LOGIN_COOKIE, "")
        if not same_origin(request) or not sent or not csrf or not same(sent, csrf):
            raise HTTPException(403, "The sign-in form expired or did not come from this site: open /login again.")
        client = request.client.host if request.client else "unknown"
        keys = (f"ip:{client}", f"user:{username.lower()}")
        limiter: LoginLimiter = app.state.limiter
        wait = limiter.wait(*keys)
        if wait > 0:
            raise HTTPException(429, f"Too many failed sign-ins: wait {wait:.0f} s and try again.",
                                headers={"Retry-After": str(int(wait) + 1)})
        found = app.state.users.verify(username, password)
        if found is None:
            limiter.failed(*keys)
            token = secrets.token_urlsafe(24)
            response = templates.TemplateResponse(request, "login.html", {
                "next": _safe_next(next), "csrf": token, "title": "Sign in", "user": None,
                "error": "Wrong user name or password."}, status_code=401)
            response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                                secure=settings.secure_cookies, path="/login", max_age=3600)
            return response
        limiter.succeeded(keys[1])
        session, _ = app.state.users.start_session(found, settings.session_hours)
        done = RedirectResponse(_safe_next(next), status_code=303)
        done.set_cookie(COOKIE, session, httponly=True, samesite="lax", secure=settings.secure_cookies,
                        max_age=int(settings.session_hours * 3600), path="/")
        done.delete_cookie(LOGIN_COOKIE, path="/login")
        return done

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, user: User = Depends(current_user), csrf: str = Form("")) -> Response:
        from .security import check_csrf

        check_csrf(request, csrf)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            app.state.users.end_session(cookie)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- the API's description, behind sign-in like everything else --------------------------------------------

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: User = Depends(current_user)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request, user: User = Depends(current_user)) -> Response:
        spec = app.openapi()
        operations = [{"method": method.upper(), "path": path, "summary": _code(op.get("summary", "")),
                       "description": _code(op.get("description", "")),
                       "parameters": [p["name"] for p in op.get("parameters", [])]}
                      for path, item in spec["paths"].items() for method, op in item.items()]
        return templates.TemplateResponse(request, "docs.html", {
            "user": user, "csrf": request.state.csrf, "operations": operations, "title": "API",
            "description": _code(spec["info"].get("description", "")), "here": "/docs",
            "nav": [(path, label) for path, label, role in pages.NAV if user.can(role)]})

    app.include_router(pages.router)
    app.include_router(api.router)
    return app


def _code(text: str) -> Markup:
    """Text with its `backticked` words as ``<code>`` (the API's descriptions are written for Markdown too)."""
    return Markup(re.sub(r"`([^`]+)`", lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in e["loc"]], "msg": str(e["msg"]), "type": str(e["type"])} for e in exc.errors()]
