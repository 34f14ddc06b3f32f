"""A CRM push under a hostile or broken network: redirects, plain HTTP, answers that are not the CRM's, and
Retry-After headers that ask for too much. Nothing is journaled as sent unless the CRM's own answer says so,
and the token never leaves for another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine
from commetrics.crm import CrmError, push
from commetrics.errors import InputError

from .conftest import NOW, write_csv
from .test_crm import TOKEN, FakeCrm, make_companies, make_contacts, run


class Elsewhere:
    """Another origin (another port of 127.0.0.1) that answers 200 ``{}`` to anything and records what it got."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"method": self.command, "path": self.path,
                                       "authorization": self.headers.get("Authorization"), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    other = Elsewhere()
    yield other
    other.close()


@pytest.fixture
def hubspot() -> Iterator[FakeCrm]:
    fake = FakeCrm("hubspot")
    yield fake
    fake.close()


@pytest.fixture
def salesforce() -> Iterator[FakeCrm]:
    fake = FakeCrm("salesforce")
    yield fake
    fake.close()


# ---- item 3 and 5: redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_of_an_upsert_is_never_followed_nor_counted_as_sent(
        status: int, hubspot: FakeCrm, elsewhere: Elsewhere, tmp_path: Path) -> None:
    hubspot.force(status, headers={"Location": elsewhere.url + "/crm/v3/objects/contacts/batch/upsert"},
                  path="/batch/upsert", times=99)
    journal = tmp_path / "journal.jsonl"
    with pytest.raises(CrmError, match=rf"answered contacts batch 1/1 .* with a redirect \(HTTP {status}\) to "
                                       r"http://127\.0\.0\.1:\d+/crm/v3/objects/contacts/batch/upsert"):
        run(hubspot, make_contacts(20), make_companies(3), journal)
    assert elsewhere.requests == []  # neither the body nor the token went to the other origin
    assert not journal.exists() or journal.read_text() == ""  # nothing is recorded as sent
    assert hubspot.records == {"contacts": {}, "companies": {}}


def test_a_redirect_of_the_token_check_stops_before_anything_is_sent(
        salesforce: FakeCrm, elsewhere: Elsewhere, tmp_path: Path) -> None:
    salesforce.force(302, headers={"Location": elsewhere.url + "/login"}, path="/limits")
    with pytest.raises(CrmError, match=r"the token check .* redirect .*--url"):
        run(salesforce, make_contacts(5), make_companies(2), tmp_path / "journal.jsonl")
    assert elsewhere.requests == []
    assert [r[0] for r in salesforce.requests] == ["GET"]


# ---- item 3: only the CRM's own answer acknowledges a batch -----------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"ok": True}, {"results": "yes"}, [], "<html>Welcome to the hotel Wi-Fi</html>"])
def test_a_2xx_that_is_not_hubspots_answer_is_not_an_acknowledgement(
        body: Any, hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.force(200, body=body if body != {} else {"status": "COMPLETE"}, path="/batch/upsert")
    journal = tmp_path / "journal.jsonl"
    with pytest.raises(CrmError, match="not HubSpot's answer to a batch upsert"):
        run(hubspot, make_contacts(10), make_companies(2), journal)
    assert not journal.exists() or journal.read_text() == ""


def test_a_hubspot_answer_must_account_for_every_record(hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.force(200, body={"status": "COMPLETE", "results": [{"id": "1"}]}, path="/batch/upsert")
    with pytest.raises(CrmError, match="1 result for 10 records"):
        run(hubspot, make_contacts(10), make_companies(2), tmp_path / "journal.jsonl")


# ---- item 5: HTTPS only, except on this machine ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://api.hubapi.com", "http://crm.example.com:8080/", "ftp://api.hubapi.com",
                                 "api.hubapi.com", "https://", "https://user:secret@api.hubapi.com",
                                 "http://10.0.0.5"])
def test_a_push_needs_https_except_to_loopback(url: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="https://"):
        push(make_contacts(2), make_companies(1), "hubspot", base_url=url, token=TOKEN,
             journal=tmp_path / "journal.jsonl", sleep=lambda s: None)
    assert not (tmp_path / "journal.jsonl").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(host: str, hubspot: FakeCrm, tmp_path: Path) -> None:
    port = hubspot.server.server_address[1]
    if host == "[::1]":  # the fake listens on IPv4 only: what matters is that the URL passes the check
        with pytest.raises(CrmError, match="no answer"):
            push(make_contacts(2), make_companies(1), "hubspot", base_url=f"http://{host}:{port}", token=TOKEN,
                 journal=tmp_path / "journal.jsonl", sleep=lambda s: None, max_retries=0)
        return
    report = push(make_contacts(2), make_companies(1), "hubspot", base_url=f"http://{host}:{port}", token=TOKEN,
                  journal=tmp_path / "journal.jsonl", sleep=lambda s: None)
    assert report.batches_sent == 2


# ---- item 9: Retry-After that asks too much -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["100000", "inf", "Infinity", "1e400", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_beyond_the_limit_stops_at_once_and_says_when_to_run_again(
        value: str, hubspot: FakeCrm, tmp_path: Path) -> None:
    hubspot.force(429, headers={"Retry-After": value}, path="/batch/upsert")
    waits: list[float] = []
    journal = tmp_path / "journal.jsonl"
    with pytest.raises(CrmError, match=r"asks to wait .* longer than .*300 s.* run the push again later"):
        run(hubspot, make_contacts(150), make_companies(3), journal, waits)
    assert waits == []  # no sleep at all, let alone an endless one
    assert len(hubspot.requests) == 2


@pytest.mark.parametrize(("value", "expected"), [("nan", None), ("-5", 0.0), ("", None), ("soon", None),
                                                 ("299.5", 299.5)])
def test_retry_after_values_within_reason(value: str, expected: float | None, hubspot: FakeCrm,
                                          tmp_path: Path) -> None:
    hubspot.force(503, headers={"Retry-After": value}, path="/batch/upsert")
    waits: list[float] = []
    report = run(hubspot, make_contacts(5), make_companies(1), tmp_path / "journal.jsonl", waits)
    assert len(waits) == 1
    if expected is None:
        assert 1.0 <= waits[0] <= 1.1  # the header is unusable: the backoff decides
    else:
        assert waits[0] == expected
    assert report.batches_sent == 2


def _workspace(tmp_path: Path, settings: str = "") -> Path:
    directory = tmp_path / "ws"
    with Engine.init(directory) as engine:
        engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "name", "domain"],
                                          [["A", "Acme", "acme.example"]]), now=NOW)
        header = ["member_id", "email", "joined_at", "consent", "account_id"]
        engine.load("members", write_csv(tmp_path / "m.csv", header,
                                         [["m1", "ann@acme.example", "2026-01-01", "true", "A"]]), now=NOW)
        engine.load("activities", write_csv(tmp_path / "act.csv", ["activity_id", "member_id", "ts", "type"],
                                            [["a1", "m1", "2026-06-20", "post"]]), now=NOW)
    with (directory / "commetrics.toml").open("a", encoding="utf-8") as f:
        f.write(settings)
    return directory


def test_the_wait_limit_and_retries_are_settings(hubspot: FakeCrm, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from commetrics.cli import app

    workspace = _workspace(tmp_path, "\n[crm]\nmax_wait_seconds = 10\nmax_retries = 1\n")
    monkeypatch.setenv("COMMETRICS_CRM_TOKEN", TOKEN)
    hubspot.force(429, headers={"Retry-After": "20"}, path="/batch/upsert")
    args = ["export", "crm", "--target", "hubspot", "--out", str(tmp_path / "crm"), "--push", "--url", hubspot.url,
            "-w", str(workspace)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    assert "longer than the 10 s commetrics waits at most (crm.max_wait_seconds)" in refused.output
    hubspot.force(503, path="/batch/upsert", times=2)
    exhausted = CliRunner().invoke(app, args)
    assert exhausted.exit_code == 1
    assert "failed after 1 retries" in exhausted.output
    plain = CliRunner().invoke(app, [*args[:-4], "--url", "http://crm.example.com", "-w", str(workspace)])
    assert plain.exit_code == 2  # bad usage: plain http
    assert "plain http://" in plain.output
    assert "Traceback" not in plain.output
