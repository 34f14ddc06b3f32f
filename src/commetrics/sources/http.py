"""A small, safe HTTP client for ``commetrics pull``: JSON over HTTPS, polite retries, no surprises.

The rules every pull follows, built in here so no connector can forget one:

* HTTPS only, except to a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``) for local tests.
* Redirects are followed only within the same origin (scheme, host and port); a redirect to another
  origin is refused with an error, so a credential is never sent anywhere else.
* 429 and 5xx answers (and dropped connections) are retried with exponential back-off, honouring
  ``Retry-After`` (seconds or an HTTP date) up to ``max_wait`` seconds; after ``attempts`` tries the
  error says what the server answered.
* 401 and 403 say that the credential was refused and which environment variable holds it; the
  credential itself never appears in an error or a log.

Standard library only (``urllib``): a pull fetches a few hundred pages, where a client library would
add a dependency without adding speed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import InputError

__all__ = ["HttpClient", "PullError", "check_url"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PullError(InputError):
    """A pull cannot go on: the URL is refused, the credential is refused, or the server keeps failing.

    ``status`` is the HTTP status that stopped it, where one did."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> urllib.parse.SplitResult:
    """``url`` parsed, or a :class:`PullError` when it is not HTTPS (plain HTTP only to loopback)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        msg = f"{url!r} is not an http(s) URL. Give the platform's address, e.g. https://forum.example.com."
        raise PullError(msg)
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        msg = (f"Refusing {parts.scheme}://{parts.hostname}: the credential would travel unencrypted. Use https:// "
               "(plain http is allowed only to this machine, 127.0.0.1 or localhost).")
        raise PullError(msg)
    return parts


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int | None]:
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back to :class:`HttpClient`, which decides whether to follow it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class HttpClient:
    """JSON requests to one platform, with the rules of the module.

    ``headers`` carry the credential (set by the connector); ``credential_env`` names the environment
    variable it came from, for the error when it is refused. ``sleep`` is ``time.sleep`` (tests pass a
    recorder).
    """

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    credential_env: str = "the token's environment variable"
    attempts: int = 5
    max_wait: float = 60.0
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[..., None] | None = None  # called as progress(pages, detail=path) after each answer
    requests: int = 0
    waited: float = 0.0
    pages: int = 0

    def __post_init__(self) -> None:
        self.origin = _origin(check_url(self.base_url))
        self._opener = urllib.request.build_opener(_NoRedirect())

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """``path`` (absolute, or relative to the base URL) with ``params`` as its query."""
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        url = urllib.parse.urljoin(base, path.lstrip("/")) if not path.startswith("http") else path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(
                {k: v for k, v in params.items() if v is not None})
        return url

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        return self.request("GET", path, params)

    def post(self, path: str, body: Any) -> Any:
        """POST a JSON body, read a JSON document."""
        return self.request("POST", path, None, body)

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        url = self.url(path, params)
        for _ in range(6):  # same-origin redirects followed, a few at most
            location, payload = self._send(method, url, body)
            if location is None:
                self.pages += 1
                if self.progress is not None:
                    self.progress(self.pages, detail=urllib.parse.urlsplit(url).path)
                return payload
            target = urllib.parse.urljoin(url, location)
            if _origin(check_url(target)) != self.origin:
                msg = (f"{self._safe(url)} redirected to another site ({urllib.parse.urlsplit(target).netloc}); "
                       "commetrics does not follow it, so the credential stays with the platform. Check --url: it "
                       "must be the platform's own address.")
                raise PullError(msg)
            url = target
        msg = f"{self._safe(url)} redirected too many times. Check --url."
        raise PullError(msg)

    def _safe(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def _send(self, method: str, url: str, body: Any) -> tuple[str | None, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": "commetrics-pull", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        last = ""
        for attempt in range(1, self.attempts + 1):
            self.requests += 1
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return None, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                exc.close()  # the error holds the open response
                if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                    return exc.headers["Location"], None
                if exc.code in (401, 403):
                    msg = (f"{self._safe(url)} refused the credential (HTTP {exc.code}). Check the token in "
                           f"{self.credential_env} and its permissions, then run the pull again.")
                    raise PullError(msg, exc.code) from None
                if exc.code not in RETRY_STATUSES:
                    msg = f"{self._safe(url)} answered HTTP {exc.code} {exc.reason}. Check --url and the platform."
                    raise PullError(msg, exc.code) from None
                last = f"HTTP {exc.code}"
                wait = self._retry_after(exc.headers.get("Retry-After"), attempt)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
                wait = self._retry_after(None, attempt)
            except ValueError as exc:
                msg = f"{self._safe(url)} did not answer JSON ({exc}). Check --url: it must be the platform's API."
                raise PullError(msg) from None
            if attempt < self.attempts:
                self.waited += wait
                self.sleep(wait)
        msg = (f"{self._safe(url)} kept failing ({last}) after {self.attempts} tries. Nothing new was recorded; "
               "run the pull again later (what was loaded stays, and is not loaded twice).")
        raise PullError(msg)

    def _retry_after(self, header: str | None, attempt: int) -> float:
        """Seconds to wait: ``Retry-After`` (seconds or a date) when given, else 1, 2, 4 ... — never over max_wait."""
        wait = float(2 ** (attempt - 1))
        if header:
            try:
                wait = float(header)
            except ValueError:
                with contextlib.suppress(TypeError, ValueError):
                    wait = parsedate_to_datetime(header).timestamp() - time.time()
        return max(0.0, min(wait, self.max_wait))
