"""Talking to a CRM's REST API: one request at a time, retried as the package docstring says."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import ipaddress
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from ..errors import InputError
from .records import NAME, CrmError

TOKEN_HELP = {
    "hubspot": "Create a new private-app access token (Settings > Integrations > Private Apps) with the scopes "
    "crm.objects.contacts.read, crm.objects.contacts.write and crm.objects.companies.write, and run again.",
    "salesforce": "Get a fresh access token for the connected app (tokens expire with the session) and check "
    "that its user has API Enabled and edit access to Contact, Account and the Commetrics fields; then run again.",
}
#: The longest wait a Retry-After header may ask for before a push gives up (``crm.max_wait_seconds``).
MAX_WAIT_SECONDS = 300.0


def check_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, if it is an ``https://`` URL (or ``http://`` to this machine).

    The token travels with every request: over plain HTTP anyone on the way reads it, and a user name or
    password inside the URL would end up in logs and journals."""
    parts = urllib.parse.urlsplit(base_url.strip())
    host = parts.hostname or ""
    advice = ("Give the API's address starting with https:// (plain http:// is accepted only for this machine: "
              "localhost, 127.0.0.1 or ::1).")
    if parts.scheme not in ("https", "http") or not host:
        raise InputError(f"The CRM URL {base_url!r} is not a web address. {advice}")
    if parts.username is not None or parts.password is not None:
        raise InputError("The CRM URL must not hold a user name or password; the token comes from --token-env. "
                         f"Use https://{host}{parts.path}.")
    if parts.scheme == "http" and not _loopback(host):
        raise InputError(f"The CRM URL {base_url!r} is plain http://, which would send the token unencrypted. "
                         f"{advice}")
    return base_url.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back as it is. Following one would turn a POST into a GET without its records (301-303)
    or send the token to whatever address the answer names."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    headers: Message | None
    raw: bytes

    def payload(self) -> Any:
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def message(self) -> str:
        payload = self.payload()
        if isinstance(payload, dict) and payload.get("message"):
            return str(payload["message"])
        if isinstance(payload, list) and payload and all(isinstance(p, dict) for p in payload):
            return "; ".join(f"{p.get('errorCode', '')}: {p.get('message', '')}" for p in payload)
        return self.raw[:300].decode("utf-8", "replace").strip() or "no details"

    def describe(self) -> str:
        return f"no answer ({self.message()})" if self.status is None else f"HTTP {self.status}: {self.message()}"


class Client:
    def __init__(self, target: str, base_url: str, token: str, max_retries: int,
                 sleep: Callable[[float], None], timeout: float, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self.target, self.base_url, self.token = target, check_url(base_url), token
        self.max_retries, self.sleep, self.timeout, self.max_wait = max_retries, sleep, timeout, max_wait
        self.retries = 0

    def call(self, method: str, path: str, body: bytes | None, what: str) -> Any:
        """The JSON answer to one request, retried as the module docstring says."""
        name = NAME[self.target]
        for attempt in range(self.max_retries + 1):
            answer = self._once(method, path, body)
            if answer.status is not None and 200 <= answer.status < 300:
                return answer.payload()
            if answer.status in (401, 403):
                raise CrmError(self._refused(answer, what))
            if answer.status is not None and 300 <= answer.status < 400:
                raise CrmError(self._redirected(answer, what))
            if answer.status is not None and answer.status != 429 and answer.status < 500:
                raise CrmError(f"{name} rejected {what} ({method} {self.base_url}{path}): {answer.describe()}. Fix "
                               "the base URL or the CRM setup (custom properties, field permissions) and run again; "
                               "the journal keeps what was acknowledged.")
            if attempt == self.max_retries:
                break
            wait = retry_after(answer.headers)
            if wait is not None and wait > self.max_wait:
                raise CrmError(f"{name} asks to wait {_duration(wait)} before {what} (Retry-After: "
                               f"{answer.headers.get('Retry-After') if answer.headers else ''}), longer than the "
                               f"{self.max_wait:g} s commetrics waits at most (crm.max_wait_seconds); run the push "
                               "again later: the journal keeps what was acknowledged.")
            self.sleep(backoff(attempt, what) if wait is None else wait)
            self.retries += 1
        raise CrmError(f"{name}: {what} failed after {self.max_retries} retries; last: {answer.describe()}. Batches "
                       "acknowledged so far are in the journal: running the same push again resumes where it stopped.")

    def _refused(self, answer: Answer, what: str) -> str:
        if "REQUEST_LIMIT_EXCEEDED" in answer.message():
            return (f"Salesforce refused {what}: the org's API request limit is used up ({answer.describe()}). "
                    "Run again once the rolling 24-hour window frees requests; the journal keeps what was sent.")
        return (f"{NAME[self.target]} refused the token at {what} ({answer.describe()}); nothing more was "
                f"written. {TOKEN_HELP[self.target]}")

    def _redirected(self, answer: Answer, what: str) -> str:
        location = answer.headers.get("Location", "") if answer.headers is not None else ""
        target = urllib.parse.urljoin(self.base_url + "/", location) if location else "an address it did not name"
        parts = urllib.parse.urlsplit(target)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else target
        return (f"{NAME[self.target]} answered {what} with a redirect (HTTP {answer.status}) to {target}. commetrics "
                "never follows redirects: a redirected write can arrive without its records, and the token must not "
                f"go to another address. If {origin} is the API's own address, run again with --url {origin}; "
                "otherwise check --url. Nothing of this request was recorded as sent.")

    def _once(self, method: str, path: str, body: bytes | None) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            try:
                return Answer(error.code, error.headers, error.read())
            finally:
                error.close()
        except (OSError, http.client.HTTPException) as error:
            return Answer(None, None, str(error).encode())


def retry_after(headers: Message | None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or an HTTP date), or None without one."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)  # inf stays inf: too long to wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "forever"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86_400:,.0f} days"


def backoff(attempt: int, what: str) -> float:
    """1, 2, 4 … seconds, at most 60, plus up to 10 % jitter that depends only on the request and attempt."""
    jitter = int.from_bytes(hashlib.sha256(f"{what}/{attempt}".encode()).digest()[:4], "big") / 2**32
    return min(60.0, 2.0**attempt * (1 + 0.1 * jitter))
