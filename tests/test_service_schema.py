"""The dashboard's API against its own OpenAPI description, fuzzed by schemathesis.

Every operation gets generated parameters and bodies (valid and not): with an API token the server never
answers 5xx and every answer conforms to the description's status codes; without credentials every request
is refused with 401. Bounded: a handful of examples per operation on a 600-member demo (well under a minute).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from commetrics import Engine
from commetrics.service import Users, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("schema") / "ws"
    engine, _ = Engine.demo(folder, members=600, seed=11)
    engine.close()
    users = Users.of(folder)
    users.add("fuzz", "admin", "a long enough password")
    return folder, users.issue_token("fuzz")


def test_no_server_error_and_no_answer_without_credentials(token: tuple[Path, str]) -> None:
    folder, key = token
    signed_headers = {"Authorization": f"Bearer {key}", "Origin": "http://localhost"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(folder), headers=signed_headers)
    operations = [found.ok() for found in schema.get_all_operations()]
    assert len(operations) >= 9
    problems: list[str] = []
    calls: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            signed = case.call(headers=signed_headers, timeout=120)
            calls.append(f"{case.method} {case.formatted_path}")
            if signed.status_code >= 500:
                problems.append(f"{case.method} {case.formatted_path} {case.query}: {signed.status_code}")
            anonymous = case.call(timeout=120)
            if anonymous.status_code != 401:
                problems.append(f"{case.method} {case.formatted_path} without credentials: {anonymous.status_code}")

        check()
    assert problems == []
    assert len(set(calls)) >= len(operations)  # every operation was called (the decisions with many bodies)
