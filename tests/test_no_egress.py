"""NET-1: the suite reaches nothing but loopback; the guard in conftest.py refuses and records the rest."""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from . import conftest
from .conftest import EgressBlockedError


def test_outside_addresses_and_names_are_refused_and_recorded() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    attempts = [
        lambda: tcp.connect(("203.0.113.7", 443)),  # TEST-NET-3: never routable
        lambda: socket.create_connection(("api.hubapi.com", 443), timeout=1),  # a name: refused before DNS
        lambda: socket.getaddrinfo("example.com", 80),
        lambda: udp.sendto(b"x", ("198.51.100.1", 53)),
        lambda: tcp6.connect_ex(("2001:db8::1", 80, 0, 0)),
    ]
    try:
        for attempt in attempts:
            with pytest.raises(EgressBlockedError, match=r"may only reach 127\.0\.0\.1"):
                attempt()
    finally:
        for sock in (udp, tcp6, tcp):
            sock.close()
    assert len(conftest.EGRESS_ATTEMPTS) == len(attempts)
    conftest.EGRESS_ATTEMPTS.clear()  # they were on purpose: this test must not fail at teardown


def test_a_swallowed_refusal_still_fails_the_test() -> None:
    """Code that swallows every error (as a retrying client might) cannot hide the attempt: it is recorded."""
    with contextlib.suppress(Exception):  # swallowed on purpose
        urllib.request.urlopen("http://192.0.2.10/", timeout=1)
    assert conftest.EGRESS_ATTEMPTS == ["a name lookup of 192.0.2.10"]
    conftest.EGRESS_ATTEMPTS.clear()


def test_loopback_servers_work() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "localhost"):
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as answer:
                assert answer.read() == b"ok"
    finally:
        server.shutdown()
        server.server_close()
    assert conftest.EGRESS_ATTEMPTS == []
