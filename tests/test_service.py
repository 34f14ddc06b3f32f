"""The dashboard and its API (``commetrics serve``): sign-in, CSRF, Origin, login limits, headers, roles, pages.

One 1,000-member demo workspace serves every test of the module (``workspace``); each test signs in
with its own client. The figures are checked against the Engine's own Results (the same published
numbers as ``--json``), and the rules against requests a browser or an attacker would make.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app as cli_app
from commetrics.errors import NotEnoughDataError
from commetrics.service import SecuritySettings, Users, create_app
from commetrics.service.results import Reader
from commetrics.service.security import COOKIE

with warnings.catch_warnings():  # Starlette's TestClient warns about httpx itself
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "http://testserver"
PASSWORD = "correct horse battery staple"
PATIENT = 600.0  # seconds the test apps' pages wait for their figures
PUBLIC = {"/login", "/health"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve") / "ws"
    engine, _ = Engine.demo(folder, members=1_000, seed=7)
    engine.close()
    users = Users.of(folder)
    for name, role in (("ada", "admin"), ("ana", "analyst"), ("vic", "viewer")):
        users.add(name, role, PASSWORD)
    return folder


@pytest.fixture(scope="module")
def app(workspace: Path) -> Any:
    # pages wait for their figures here, however loaded the machine (a test of its own covers the patience)
    return create_app(workspace, reader=Reader(workspace, patience=PATIENT))


def _client(app: Any) -> TestClient:
    return TestClient(app, base_url=BASE, follow_redirects=False)


def _login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def login(app: Any, name: str, password: str = PASSWORD) -> TestClient:
    client = _client(app)
    answer = client.post("/login", data={"username": name, "password": password, "csrf": _login_token(client)},
                         headers={"Origin": BASE})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: TestClient) -> str:
    page = client.get("/data")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.fixture(scope="module")
def admin(app: Any) -> Iterator[TestClient]:
    with login(app, "ada") as client:
        yield client


# -- every route needs sign-in --------------------------------------------------------------------------------


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, those of included routers too."""
    found: list[tuple[str, str]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:  # an included router (FastAPI keeps it as one route)
                walk(original.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "methods"):
                found.extend((method, prefix + route.path) for method in route.methods if method != "HEAD")
            elif getattr(route, "path", None) == "/static":
                found.append(("GET", "/static/app.css"))
    walk(app.routes, "")
    return found


def test_every_route_needs_sign_in_but_login_health_and_static(app: Any) -> None:
    routes = _routes(app)
    paths = {path for _, path in routes}
    assert {"/docs", "/openapi.json", "/", "/api/summary", "/identity/decide", "/api/identity/decisions"} <= paths
    client = _client(app)
    for method, path in routes:
        url = path.replace("{question}", "renewal")
        answer = client.request(method, url, headers={"Origin": BASE})
        if path in PUBLIC or path.startswith("/static/"):
            assert answer.status_code < 500, (method, path)
            continue
        if url.startswith("/api/") or url == "/openapi.json" or method != "GET":
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers["www-authenticate"] == "Bearer"
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/login?next=")
        assert "card" not in answer.text
        assert "rates" not in answer.text


def test_a_wrong_token_or_cookie_is_refused(app: Any) -> None:
    client = _client(app)
    assert client.get("/api/summary", headers={"Authorization": "Bearer cmt_nope"}).status_code == 401
    client.cookies.set(COOKIE, "forged")
    assert client.get("/api/summary").status_code == 401


# -- sign-in, cookies, CSRF, Origin, limits -------------------------------------------------------------------


def test_sign_in_sets_a_strict_session_cookie_and_sign_out_ends_it(app: Any, workspace: Path) -> None:
    client = _client(app)
    answer = client.post("/login", data={"username": "vic", "password": PASSWORD, "csrf": _login_token(client),
                                         "next": "//evil.example/"}, headers={"Origin": BASE})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    session = client.cookies.get(COOKIE)
    assert client.get("/").status_code == 200
    token = csrf_of(client)
    assert client.post("/logout", data={"csrf": "wrong"}, headers={"Origin": BASE}).status_code == 403
    assert client.post("/logout", data={"csrf": token}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/logout", data={"csrf": token}, headers={"Origin": BASE}).status_code == 303
    client.cookies.set(COOKIE, session or "")
    assert client.get("/").status_code == 303  # the old cookie no longer works


def test_secure_cookies_behind_https(workspace: Path) -> None:
    secure = create_app(workspace, security=SecuritySettings(secure_cookies=True))
    client = TestClient(secure, base_url="https://dash.example", follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"username": "vic", "password": PASSWORD, "csrf": token},
                         headers={"Origin": "https://dash.example"})
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
    assert "Secure" in cookie
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_sign_in_needs_the_form_token_and_the_same_origin(app: Any) -> None:
    client = _client(app)
    token = _login_token(client)
    form = {"username": "vic", "password": PASSWORD}
    assert client.post("/login", data=form, headers={"Origin": BASE}).status_code == 403
    assert client.post("/login", data={**form, "csrf": token}, headers={"Origin": "http://evil.example"}
                       ).status_code == 403
    assert client.post("/login", data={**form, "csrf": token}).status_code == 403  # neither Origin nor Referer
    assert client.post("/login", data={**form, "csrf": token}, headers={"Referer": f"{BASE}/login"}
                       ).status_code == 303


def test_failed_sign_ins_are_limited(workspace: Path) -> None:
    limited = create_app(workspace, security=SecuritySettings(login_attempts=3, login_window=60))
    client = _client(limited)
    for _ in range(3):
        answer = client.post("/login", data={"username": "ana", "password": "wrong password!", "csrf":
                                             _login_token(client)}, headers={"Origin": BASE})
        assert answer.status_code == 401
        assert "Wrong user name or password" in answer.text
    answer = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": _login_token(client)},
                         headers={"Origin": BASE})
    assert answer.status_code == 429  # even the right password waits
    assert int(answer.headers["retry-after"]) > 0


def test_security_headers_on_every_kind_of_response(app: Any, admin: TestClient, workspace: Path) -> None:
    for answer in (_client(app).get("/login"), _client(app).get("/api/summary"), admin.get("/data"),
                   admin.get("/api/data-health"), admin.get("/no-such-page"), _client(app).get("/health")):
        csp = answer.headers["content-security-policy"]
        script = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "unsafe-inline" not in script
        assert "unsafe-eval" not in script
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-frame-options"] == "DENY"
    page = admin.get("/")
    assert page.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers  # only behind HTTPS (secure cookies), below
    assert _client(app).get("/static/report.css").headers["cache-control"] == "max-age=3600"
    behind_https = create_app(workspace, security=SecuritySettings(secure_cookies=True), reader=app.state.reader)
    assert _client(behind_https).get("/health").headers["strict-transport-security"] == "max-age=31536000"
    assert "<script>" not in page.text
    assert " on" + "click=" not in page.text
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', page.text))


# -- roles ----------------------------------------------------------------------------------------------------


def test_roles(app: Any) -> None:
    viewer, analyst = login(app, "vic"), login(app, "ana")
    for path in ("/identity", "/scores?level=members", "/api/scores/members", "/api/identity/review",
                 "/data/quarantine.csv"):
        assert viewer.get(path).status_code == 403, path
    assert "Download the quarantined rows" not in viewer.get("/data").text
    assert "Identity review" not in viewer.get("/").text
    assert analyst.get("/identity").status_code == 200
    assert analyst.get("/api/scores/members").status_code == 200
    assert analyst.get("/data/quarantine.csv").status_code == 403
    decision = {"record_a": "m:m000001", "record_b": "m:m000002", "decision": "link", "csrf": csrf_of(analyst)}
    assert analyst.post("/identity/decide", data=decision, headers={"Origin": BASE}).status_code == 403


def test_tokens_act_as_their_user_until_the_user_is_removed(app: Any, workspace: Path) -> None:
    users = Users.of(workspace)
    users.add("bot", "viewer", PASSWORD)
    token = users.issue_token("bot")
    stored = (workspace / "commetrics-users.sqlite").read_bytes()
    assert token.encode() not in stored  # only its hash is kept
    client = _client(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/data-health", headers=headers).status_code == 200
    assert client.get("/openapi.json", headers=headers).status_code == 200
    assert client.get("/api/scores/members", headers=headers).status_code == 403
    users.remove("bot")
    assert client.get("/api/data-health", headers=headers).status_code == 401


# -- pages and API: the Engine's published Results ------------------------------------------------------------

PAGES = ("/", "/conversion", "/conversion?by=entry_path&window=30", "/conversion?by=&window=&as_of=", "/impact",
         "/impact?question=nps", "/impact?question=retention", "/impact?question=upsell", "/impact?question=csat",
         "/attribution", "/attribution?model=markov", "/scores", "/scores?level=members", "/data", "/identity",
         "/docs")
API = ("/api/summary", "/api/conversion?by=join_month", "/api/impact/nps", "/api/attribution?model=linear",
       "/api/scores/accounts", "/api/scores/members", "/api/data-health", "/api/identity/review", "/openapi.json")


def _not_json(constant: str) -> Any:
    raise AssertionError(f"{constant} is not JSON")


def test_every_page_and_api_route_answers(admin: TestClient) -> None:
    for path in PAGES:
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert path == "/docs" or "data last loaded" in answer.text
        assert "Traceback" not in answer.text
        assert "NaN" not in re.sub(r"<[^>]+>", "", answer.text), path
    for path in API:
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        json.loads(answer.text, parse_constant=_not_json)
    assert admin.get("/conversion?name=nope").status_code == 400
    campaign = admin.get("/impact?question=campaign")  # the demo has no campaign: the page says what to load
    assert campaign.status_code == 200
    assert "No campaign in the store yet" in campaign.text
    assert admin.get("/api/impact/campaign").status_code == 400
    assert "not a date" in admin.get("/api/conversion?as_of=yesterday").json()["detail"]
    csv = admin.get("/data/quarantine.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")


def test_the_api_returns_the_engines_published_results(admin: TestClient, workspace: Path) -> None:
    body = admin.get("/api/conversion", params={"by": "entry_path", "window": 30}).json()
    api_attribution = admin.get("/api/attribution", params={"model": "linear"}).json()
    members = admin.get("/api/scores/members").json()
    with Engine(workspace, read_only=True) as engine:
        name = engine.config.summary.conversion
        expected = engine.conversion(name, by=["entry_path"], windows=[30], curves=True).to_dict()
        attribution = engine.attribution("linear").to_dict()
        consenting = engine.consenting_members()
    assert body.pop("read_at")
    assert body == expected
    assert api_attribution["models"] == attribution["models"]
    listed = {row["member_id"] for row in members["members"]}
    assert listed
    assert listed <= consenting


def _figures(page: str) -> str:
    """What a page shows below its pickers (the pickers name every choice)."""
    return page.split('class="pickers"', 1)[1].split("</form>", 1)[1].split("<footer>", 1)[0]


def test_pickers_change_the_figures(admin: TestClient) -> None:
    everyone = _figures(admin.get("/conversion").text)
    by_path = _figures(admin.get("/conversion?by=entry_path").text)
    one_window = _figures(admin.get("/conversion?window=30").text)
    assert by_path != everyone
    assert one_window != everyone
    assert "how they found the community" in by_path
    assert "how they found the community" not in everyone
    assert "90 days" in everyone
    assert "90 days" not in one_window
    linear = _figures(admin.get("/attribution?model=linear").text)
    first = _figures(admin.get("/attribution?model=first").text)
    assert "Linear" in linear
    assert "Linear" not in first
    assert "First touch" in first


def test_identity_decisions_are_written_by_admins_with_the_form_token(admin: TestClient, workspace: Path) -> None:
    form = {"record_a": "m:m000010", "record_b": "m:m000011", "decision": "unlink"}
    assert admin.post("/identity/decide", data=form, headers={"Origin": BASE}).status_code == 403  # no token
    answer = admin.post("/identity/decide", data={**form, "csrf": csrf_of(admin)}, headers={"Origin": BASE})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/identity?done=")
    assert "never one person" in admin.get(answer.headers["location"]).text
    api = admin.post("/api/identity/decisions", json={**form, "decision": "clear"},
                     headers={"Origin": BASE, "X-CSRF-Token": csrf_of(admin)})
    assert api.status_code == 200
    assert api.json()["replaced"] == "unlink"
    with Engine(workspace, read_only=True) as engine:
        left = engine.query("select count(*) from identity_overrides where record_a = 'm:m000010'")
    assert int(left.iloc[0, 0]) == 0


# -- a store being written: the last figures, said to be stale; never a 500 -----------------------------------

_HOLD = """
import sys, time
from pathlib import Path
from commetrics.lock import WorkspaceLock
with WorkspaceLock.acquire(Path(sys.argv[1]), exclusive=True, wait=5, what="commetrics load"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_writer_elsewhere_never_makes_a_server_error(admin: TestClient, workspace: Path) -> None:
    assert admin.get("/scores").status_code == 200  # read once
    copy = workspace / "commetrics.snapshot.duckdb"
    assert copy.exists()  # the demo's last write published the read copy
    source = str(Path(__file__).parents[1] / "src")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLD), str(workspace), "30"],
                              stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": source})
    database = workspace / "commetrics.duckdb"
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        stamp = time.time() + 5
        os.utime(database, (stamp, stamp))  # the store changed: what was read must be read again
        # with the read copy: the data as of the last completed load, at once, even for a question never asked
        page = admin.get("/scores")
        assert page.status_code == 200
        assert "being changed by another process" not in page.text
        assert admin.get("/api/impact/nps?as_of=2025-11-01").status_code == 200
        # without one ([store] read_copy = false): the last figures, said to be stale, or 503 for a new question
        copy.unlink()
        os.utime(database, (stamp + 5, stamp + 5))
        page = admin.get("/scores")
        assert page.status_code == 200
        assert "being changed by another process" in page.text
        never_read = admin.get("/impact?question=csat&as_of=2026-01-01")
        assert never_read.status_code == 503
        assert "Reload" in never_read.text
        assert admin.get("/api/impact/csat?as_of=2025-12-01").status_code == 503
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert "being changed" not in admin.get("/scores").text


# -- the command line -----------------------------------------------------------------------------------------


def test_users_commands(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    runner = CliRunner()
    added = runner.invoke(cli_app, ["users", "add", "kim", "--role", "analyst", "--password-stdin", "-w",
                                    str(folder)], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli_app, ["users", "add", "lee", "--role", "boss", "--password-stdin", "-w", str(folder)],
                         input=PASSWORD + "\n").exit_code == 2
    short = runner.invoke(cli_app, ["users", "add", "lee", "--password-stdin", "-w", str(folder)], input="short\n")
    assert short.exit_code == 2
    assert "too short" in short.output
    listed = runner.invoke(cli_app, ["users", "list", "--json", "-w", str(folder)])
    assert [u["name"] for u in json.loads(listed.stdout)] == ["kim"]
    token = runner.invoke(cli_app, ["users", "token", "kim", "-w", str(folder)])
    assert token.exit_code == 0
    assert token.stdout.strip().startswith("cmt_")
    assert Users.of(folder).for_token(token.stdout.strip()) is not None
    assert Users.of(folder).verify("kim", PASSWORD) is not None
    assert Users.of(folder).verify("kim", PASSWORD + "x") is None
    assert runner.invoke(cli_app, ["users", "remove", "kim", "-w", str(folder)]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "remove", "kim", "-w", str(folder)]).exit_code == 2
    import sqlite3

    with sqlite3.connect(folder / "commetrics-users.sqlite") as con:
        con.execute("insert into users values ('raw', 'viewer', 'x', 'now')")  # a row the hasher never made
    assert Users.of(folder).verify("raw", "x") is None


def test_serve_warns_off_loopback(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    runner = CliRunner()
    local = runner.invoke(cli_app, ["serve", "-w", str(workspace)])
    assert local.exit_code == 0
    assert "Warning" not in local.output
    wide = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "8123", "-w", str(workspace)])
    assert wide.exit_code == 0
    assert "reverse proxy with HTTPS" in wide.output
    assert calls[-1]["host"] == "0.0.0.0"
    assert calls[-1]["port"] == 8123


# -- the reader: one computation per question and store version -----------------------------------------------


def _publish(folder: Path) -> None:
    with Engine(folder) as engine:
        engine.publish_read_copy()


def test_many_asking_at_once_compute_once_and_a_load_computes_again(workspace: Path) -> None:
    reader = Reader(workspace)
    computed: list[int] = []

    def work(engine: Engine) -> int:
        computed.append(1)
        time.sleep(0.2)  # long enough for every other thread to be waiting
        return int(engine.status().tables["members"])

    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(reader.read(("members",), work).value))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [1_000] * 8
    assert len(computed) == 1
    _publish(workspace)  # what a load does when it ends: a new read copy
    # the last answer at once (said to be stale) while it is computed again, or, when the Reader read the store
    # itself before (a test above took the copy away), the new answer
    assert reader.read(("members",), work).value == 1_000
    deadline = time.monotonic() + 30
    while len(computed) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    again = reader.read(("members",), work)
    assert (again.value, again.stale, len(computed)) == (1_000, "", 2)

    def too_little(engine: Engine) -> int:
        computed.append(1)
        raise NotEnoughDataError("The store holds too few renewals.")

    for _ in range(3):  # the store's answer holds until the store changes
        with pytest.raises(NotEnoughDataError, match="too few renewals"):
            reader.read(("renewal",), too_little)
    assert len(computed) == 3


def test_the_warming_draws_each_page_before_anyone_asks(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from commetrics.config import Config
    from commetrics.service import pages

    class PagesOnly(Reader):
        def config(self) -> Config:
            config = super().config()
            return config.model_copy(update={"dashboard": config.dashboard.model_copy(update={"warm": "pages"})})

    reader = PagesOnly(workspace, warmer=pages.warm)
    reader.start()
    deadline = time.monotonic() + 600
    while reader.warming():
        assert time.monotonic() < deadline
        time.sleep(0.1)

    def never(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("drawn on request: the warming should have drawn it")

    for name in ("summary_html", "conversion_html", "impact_html", "attribution_html", "scores_html"):
        monkeypatch.setattr(pages, name, never)
    app = create_app(workspace, reader=reader)
    client = login(app, "ada")
    for path in ("/", "/conversion", "/impact", "/attribution", "/scores"):
        assert client.get(path).status_code == 200, path
    assert _client(app).get("/health").json() == {"status": "ok", "warming": False}
    reader.close()


def test_a_page_says_its_figures_are_being_computed_and_reloads_itself_the_api_waits(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past [dashboard] patience a page answers 202 with Retry-After and a page that reloads itself (a first
    computation on a large community takes longer than a browser or a proxy waits); the API waits instead."""
    from commetrics.service import queries

    original = queries.summary_of

    def slow(engine: Engine) -> Any:
        time.sleep(2.5)
        return original(engine)

    monkeypatch.setattr(queries, "summary_of", slow)
    os.utime(workspace / "commetrics.duckdb")  # tests above dated the store ahead and took its read copy away
    with Engine(workspace) as engine:
        engine.publish_read_copy()
    reader, other = Reader(workspace, patience=1.0), Reader(workspace, patience=1.0)
    try:
        client = login(create_app(workspace, reader=reader), "ada")
        first = client.get("/?from=a-link")
        assert first.status_code == 202
        assert first.headers["Retry-After"] == "5"
        assert '<meta http-equiv="refresh" content="5">' in first.text
        assert "being computed" in first.text
        assert 'href="/?from=a-link">Check now' in first.text
        deadline = time.monotonic() + 120
        while (page := client.get("/")).status_code == 202:  # the computation goes on without the page
            assert "being computed" in page.text
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert page.status_code == 200
        assert 'http-equiv="refresh"' not in page.text
        api = login(create_app(workspace, reader=other), "ada")  # nothing read yet: the API waits for it
        assert api.get("/api/summary").status_code == 200
    finally:
        reader.close()
        other.close()
