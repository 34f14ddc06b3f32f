"""A fake platform API on 127.0.0.1 for the pull tests: routes are functions, every request is logged.

Each route takes the parsed request (path, query, headers, body) and returns ``(status, headers, body)``;
a route may hold state (a list of answers to give in turn). The server binds an ephemeral loopback port,
serves from a daemon thread and stops when the test's ``with`` block ends.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    routes: dict[str, Callable[[Request], Answer]] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    url: str = ""

    def paths(self) -> list[str]:
        return [r.path + ("?" + urllib.parse.urlencode(r.query) if r.query else "") for r in self.log]


@contextmanager
def serve(api: FakeApi) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(self.command, parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                              {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None)
            api.log.append(request)
            route = api.routes.get(parts.path)
            status, headers, body = route(request) if route else (404, {}, {"error": "not found"})
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def in_turn(*answers: Answer) -> Callable[[Request], Answer]:
    """A route that gives ``answers`` one after the other, then the last one again."""
    given = list(answers)

    def route(request: Request) -> Answer:
        del request
        return given.pop(0) if len(given) > 1 else given[0]

    return route
