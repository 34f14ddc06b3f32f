"""``commetrics pull``: fake Discourse, HubSpot and Salesforce APIs on 127.0.0.1 — paging, the incremental
cursor, 429 with Retry-After (capped), 500 then success, a redirect to another origin (refused), a bad
token (a clear error that never shows it), and HTTPS required beyond this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.progress import ProgressEvent, listening
from commetrics.sources.http import HttpClient, PullError

from .conftest import NOW, assert_conserved
from .fake_api import Answer, FakeApi, Request, in_turn, serve

TOKEN = "s3cret-token-value"


def _post(post_id: int, topic: int, number: int, user: int, **extra: Any) -> dict[str, Any]:
    return {"id": post_id, "topic_id": topic, "post_number": number, "post_type": 1, "user_id": user,
            "username": f"u{user}", "created_at": f"2025-01-{post_id % 28 + 1:02d}T10:00:00.000Z",
            "category_id": 3, **extra}


class Forum:
    """A Discourse site: /posts.json newest first, 3 per page, paged with ``before``; one admin user list."""

    def __init__(self, posts: list[dict[str, Any]]) -> None:
        self.posts = posts

    def posts_route(self, request: Request) -> Answer:
        if request.headers.get("api-key") != TOKEN:
            return 403, {}, {"errors": ["invalid_access"]}
        before = int(request.query.get("before", 10**9))
        page = sorted((p for p in self.posts if p["id"] < before), key=lambda p: -p["id"])[:3]
        return 200, {}, {"latest_posts": page}

    def users_route(self, request: Request) -> Answer:
        users = [{"id": 5, "username": "u5", "email": "u5@example.com", "created_at": "2024-12-01T00:00:00Z",
                  "admin": False, "moderator": False}, {"id": -1, "username": "system", "admin": True}]
        return 200, {}, users if request.query.get("page") == "1" else []


def _forum_api(forum: Forum) -> FakeApi:
    return FakeApi(routes={"/posts.json": forum.posts_route, "/admin/users/list/active.json": forum.users_route})


def test_discourse_pull_pages_then_fetches_only_what_is_new(engine: Engine) -> None:
    posts = [_post(1, 10, 1, 5), _post(2, 10, 2, 6, reply_to_post_number=1), _post(3, 10, 3, -1),
             _post(4, 11, 1, 6), _post(5, 11, 2, 5, post_type=3, action_code="closed.enabled")]
    forum = Forum(posts)
    events: list[ProgressEvent] = []
    with serve(_forum_api(forum)) as api, listening(events.append):
        first = engine.pull("discourse", api.url, TOKEN, username="system", now=NOW)
        fetched = [e for e in events if e.operation == "pull"]
        answered = len(api.paths())  # every request was answered: one event each, then the stage's end
        assert [e.done for e in fetched[1:-1]] == list(range(1, answered + 1))
        assert fetched[1].detail == "/posts.json"
        assert fetched[-1].finished
        assert fetched[-1].done == len(api.paths())
        # 5 posts, 3 per page: 2 pages and an empty one
        assert [p for p in api.paths() if p.startswith("/posts.json")] == [
            "/posts.json", "/posts.json?before=3", "/posts.json?before=1"]
        by = {r.table: r for r in first}
        assert by["activities"].rows_loaded == 3  # minus the system user's post and the small action
        assert first.excluded["activities"] == {"system_user": 1, "staff_action": 1}
        assert engine.store.con.execute("select email from members where member_id = '5'").fetchone() == (
            "u5@example.com",)
        for report in first:
            assert_conserved(engine, report)
        cursor = engine.store.con.execute("select cursor from source_cursors").fetchone()
        assert cursor is not None
        assert json.loads(cursor[0]) == {"last_post_id": 5}

        forum.posts.append(_post(6, 11, 3, 7))
        api.log.clear()
        second = engine.pull("discourse", api.url, TOKEN, now=NOW)
        assert [p for p in api.paths() if p.startswith("/posts.json")] == ["/posts.json"]  # stops at the cursor
        assert next(r for r in second if r.table == "activities").rows_read == 1
        assert engine.store.row_counts()["activities"] == 4


def test_discourse_pull_without_admin_rights_loads_posts_and_says_why_emails_are_missing(engine: Engine) -> None:
    forum = Forum([_post(1, 10, 1, 5)])
    api = _forum_api(forum)
    api.routes["/admin/users/list/active.json"] = lambda r: (403, {}, {"errors": ["not allowed"]})
    with serve(api):
        report = engine.pull("discourse", api.url, TOKEN, now=NOW)
    assert next(r for r in report if r.table == "activities").rows_loaded == 1
    assert any("admin user list" in note for note in report.notes)
    assert engine.store.con.execute("select email from members").fetchall() == [(None,)]


def test_pull_backs_off_on_429_honouring_retry_after_with_a_cap() -> None:
    waits: list[float] = []
    api = FakeApi(routes={"/x": in_turn((429, {"Retry-After": "7"}, {}), (429, {"Retry-After": "3600"}, {}),
                                        (200, {}, {"ok": True}))})
    with serve(api):
        client = HttpClient(api.url, max_wait=30, sleep=waits.append)
        assert client.get("/x") == {"ok": True}
    assert waits == [7.0, 30.0]  # Retry-After honoured, capped at max_wait
    assert len(api.log) == 3


def test_pull_retries_a_500_then_succeeds_and_gives_up_after_its_attempts() -> None:
    waits: list[float] = []
    api = FakeApi(routes={"/flaky": in_turn((500, {}, {}), (200, {}, [1, 2])), "/down": in_turn((503, {}, {}))})
    with serve(api):
        client = HttpClient(api.url, attempts=3, sleep=waits.append)
        assert client.get("/flaky") == [1, 2]
        with pytest.raises(PullError, match=r"kept failing \(HTTP 503\) after 3 tries"):
            client.get("/down")
    assert waits == [1.0, 1.0, 2.0]


def test_a_redirect_to_another_origin_is_refused_and_same_origin_is_followed() -> None:
    elsewhere = FakeApi(routes={"/steal": lambda r: (200, {}, {"auth": r.headers.get("authorization")})})
    with serve(elsewhere):
        api = FakeApi(routes={"/away": lambda r: (302, {"Location": f"{elsewhere.url}/steal"}, {}),
                              "/moved": lambda r: (301, {"Location": "/here"}, {}),
                              "/here": lambda r: (200, {}, {"here": True})})
        with serve(api):
            client = HttpClient(api.url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert client.get("/moved") == {"here": True}
            with pytest.raises(PullError, match="redirected to another site") as refused:
                client.get("/away")
    assert elsewhere.log == []  # the other origin never saw a request, let alone the token
    assert TOKEN not in str(refused.value)


def test_a_bad_token_is_a_clear_error_that_never_shows_it(engine: Engine) -> None:
    with (serve(_forum_api(Forum([_post(1, 10, 1, 5)]))) as api,
          pytest.raises(PullError, match=r"refused the credential.*COMMETRICS_DISCOURSE_TOKEN") as refused):
        engine.pull("discourse", api.url, "wrong-token", token_env="COMMETRICS_DISCOURSE_TOKEN", now=NOW)
    assert "wrong-token" not in str(refused.value)
    assert engine.store.con.execute("select count(*) from source_cursors").fetchone() == (0,)


def test_https_is_required_beyond_this_machine(engine: Engine) -> None:
    with pytest.raises(PullError, match="unencrypted"):
        engine.pull("discourse", "http://forum.example.com", TOKEN)
    with pytest.raises(PullError, match="not an http"):
        HttpClient("ftp://forum.example.com")


def test_hubspot_pull_pages_with_after_and_reads_associations(engine: Engine) -> None:
    contacts = [{"id": str(150 + i), "properties": {"email": f"c{i}@example.com", "firstname": f"C{i}",
                                                     "createdate": "2024-01-01T00:00:00.000Z"},
                 "associations": {"companies": {"results": [{"id": "900", "type": "contact_to_company"}]}}}
                for i in range(5)]
    deals = [{"id": "7", "properties": {"dealstage": "closedwon", "amount": "1500.00", "dealtype": "newbusiness",
                                        "closedate": "2024-03-01T00:00:00Z"},
              "associations": {"companies": {"results": [{"id": "900"}]}}},
             {"id": "8", "properties": {"dealstage": "qualifiedtobuy", "amount": "10"}}]

    def objects(rows: list[dict[str, Any]]) -> Any:
        def route(request: Request) -> Answer:
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            after = int(request.query.get("after", 0))
            page = [r for r in rows if int(r["id"]) > after][:2]
            more = len([r for r in rows if int(r["id"]) > after]) > 2
            return 200, {}, {"results": page, **({"paging": {"next": {"after": page[-1]["id"]}}} if more else {})}
        return route

    api = FakeApi(routes={"/crm/v3/objects/contacts": objects(contacts),
                          "/crm/v3/objects/companies": objects([{"id": "900", "properties": {"name": "Acme",
                                                                                              "domain": "acme.io"}}]),
                          "/crm/v3/objects/deals": objects(deals)})
    with serve(api):
        report = engine.pull("hubspot", api.url, TOKEN, now=NOW)
        by = {r.table: r for r in report}
        assert (by["contacts"].rows_loaded, by["accounts"].rows_loaded, by["outcomes"].rows_loaded) == (5, 1, 1)
        assert report.excluded["outcomes"] == {"not_won": 1}
        assert engine.store.con.execute("select account_id from contacts where contact_id = '150'").fetchone() == (
            "900",)
        contacts.append({"id": "160", "properties": {"email": "new@example.com"}})
        api.log.clear()
        again = engine.pull("hubspot", api.url, TOKEN, now=NOW)
        company_pages = [r.query.get("after") for r in api.log if r.path.endswith("/companies")]
        assert company_pages == ["900"]  # companies resume after the last id
        by = {r.table: r for r in again}
        assert (by["contacts"].rows_loaded, by["contacts"].rows_duplicate) == (1, 5)  # contacts come in full
        cursor = engine.store.con.execute("select cursor from source_cursors").fetchone()
        assert cursor is not None
        assert json.loads(cursor[0]) == {"companies_after": "900"}  # no person identifier in the cursor


def test_salesforce_pull_follows_next_records_url_and_keeps_modstamps(engine: Engine) -> None:
    accounts = [{"attributes": {"type": "Account"}, "Id": f"001A{i}", "Name": f"Org {i}", "Website": f"org{i}.com",
                 "CreatedDate": "2024-01-22T16:14:25.000+0000",
                 "SystemModstamp": f"2024-01-2{i}T10:00:00.000+0000"} for i in range(3)]

    def query(request: Request) -> Answer:
        soql = request.query["q"]
        if " FROM Account" in soql:
            return 200, {}, {"done": False, "records": accounts[:2],
                             "nextRecordsUrl": "/services/data/v59.0/query/01gNEXT-2000"}
        return 200, {}, {"done": True, "records": []}

    api = FakeApi(routes={"/services/data/v59.0/query": query,
                          "/services/data/v59.0/query/01gNEXT-2000": lambda r: (200, {}, {"done": True,
                                                                                           "records": accounts[2:]})})
    with serve(api):
        report = engine.pull("salesforce", api.url, TOKEN, now=NOW)
        assert next(r for r in report if r.table == "accounts").rows_loaded == 3
        api.log.clear()
        engine.pull("salesforce", api.url, TOKEN, now=NOW)
        account_query = next(r.query["q"] for r in api.log if " FROM Account" in r.query.get("q", ""))
        assert account_query.endswith("WHERE SystemModstamp >= 2024-01-22T10:00:00Z ORDER BY SystemModstamp")


def test_cli_pull_reads_the_token_from_the_environment_only(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    with serve(_forum_api(Forum([_post(1, 10, 1, 5)]))) as api:
        monkeypatch.delenv("COMMETRICS_DISCOURSE_TOKEN", raising=False)
        missing = runner.invoke(app, ["pull", "discourse", "--url", api.url, "--workspace", str(workspace)])
        assert missing.exit_code == 2  # bad usage
        assert "COMMETRICS_DISCOURSE_TOKEN" in missing.output
        monkeypatch.setenv("COMMETRICS_DISCOURSE_TOKEN", TOKEN)
        done = runner.invoke(app, ["pull", "discourse", "--url", api.url, "--workspace", str(workspace), "--json"])
        assert done.exit_code == 0, done.output
        rows = {r["table"]: r for r in json.loads(done.output)}
        assert rows["activities"]["rows_loaded"] == 1
        nothing = runner.invoke(app, ["pull", "stackexchange", "--url", api.url, "--workspace", str(workspace)])
        assert nothing.exit_code == 2
        assert "has no pull" in nothing.output
