"""Shared fixtures: engines over fresh stores, file writers and the store-side checks of a load."""

from __future__ import annotations

import csv
import importlib.util
import ipaddress
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from commetrics import Engine, LoadReport, schema

#: The "now" of every load in the tests, so that future-timestamp checks do not depend on the clock.
NOW = datetime(2026, 7, 1, tzinfo=UTC)


# ---- no egress (NET-1) ------------------------------------------------------------------------------------
#
# A privacy-first product must not talk to anything but what the tests start themselves on 127.0.0.1 (the fake
# CRMs). Every socket connection, datagram and name lookup of the test process goes through the guard below:
# loopback and Unix sockets pass, anything else is refused *and* recorded, and the test that tried fails at
# teardown even when the code under test swallowed the refusal (as a retrying HTTP client would).


class EgressBlockedError(RuntimeError):
    """A test tried to reach a host other than loopback."""


#: Attempts to reach the outside, recorded by the guard; ``no_egress`` fails the test that made one.
EGRESS_ATTEMPTS: list[str] = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", socket.gethostname().lower()}


def _is_local(host: object) -> bool:
    if host is None:  # getaddrinfo(None, port): the local wildcard or loopback address, no lookup
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse(what: str) -> None:
    EGRESS_ATTEMPTS.append(what)
    raise EgressBlockedError(f"the test suite may only reach 127.0.0.1, not {what}")


def _guard_address(sock: socket.socket, address: object, verb: str) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not _is_local(address[0]):
        _refuse(f"{verb} {address[0]}:{address[1] if len(address) > 1 else '?'}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo


def _connect(self: socket.socket, address: Any) -> None:
    _guard_address(self, address, "connect to")
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _guard_address(self, address, "connect to")
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _guard_address(self, args[-1], "send to")
    return _real_sendto(self, data, *args)  # type: ignore[arg-type]


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        _refuse(f"a name lookup of {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.socket.sendto = _sendto  # type: ignore[assignment]
socket.getaddrinfo = _getaddrinfo


@pytest.fixture(autouse=True)
def no_egress() -> Iterator[None]:
    """Fail any test that tried to reach a host other than loopback (see the guard above)."""
    EGRESS_ATTEMPTS.clear()
    yield
    attempts, EGRESS_ATTEMPTS[:] = list(EGRESS_ATTEMPTS), []
    assert not attempts, f"the test tried to reach the outside: {attempts}"


@pytest.fixture
def engine() -> Iterator[Engine]:
    with Engine.in_memory() as e:
        yield e


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    directory = tmp_path / "ws"
    Engine.init(directory).close()
    return directory


#: Spark for tests: small data on two cores — two shuffle partitions, no adaptive re-planning of every
#: tiny stage, no web UI
SPARK_TEST_CONF = {"spark.sql.shuffle.partitions": "2", "spark.sql.adaptive.enabled": "false",
                   "spark.ui.enabled": "false"}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One Spark session (local[2]) shared by every test of the run that needs one: starting a JVM
    costs 10–30 s. Skipped with the reason where pyspark or Java is missing."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java runtime (java on PATH or JAVA_HOME)")
    from commetrics.engine.spark import start_session
    from commetrics.engine_settings import SparkSettings

    session, _ = start_session(SparkSettings(master="local[2]", app_name="commetrics-tests", conf=SPARK_TEST_CONF))
    yield session
    session.stop()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """A CSV file written by the csv module (so quoting is right)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: Sequence[dict[str, Any] | str]) -> Path:
    """JSON Lines; a str record is written as the raw line."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_conserved(engine: Engine, report: LoadReport) -> None:
    """The store agrees with the report: ledger row, rows with this load id, quarantine rows."""
    con = engine.store.con
    ledger = con.execute(
        f"select rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_erased from {schema.LEDGER_TABLE} "
        "where load_id = ?",
        [report.load_id],
    ).fetchall()
    assert ledger == [(report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_duplicate,
                       report.rows_erased)]
    assert report.rows_read == (report.rows_loaded + report.rows_quarantined + report.rows_duplicate
                                + report.rows_erased)
    loaded = con.execute(f"select count(*) from {report.table} where load_id = ?", [report.load_id]).fetchone()
    quarantined = con.execute(f"select count(*) from {schema.QUARANTINE_TABLE} where load_id = ?",
                              [report.load_id]).fetchone()
    assert loaded == (report.rows_loaded,)
    assert quarantined == (report.rows_quarantined,)
    leftovers = con.execute(
        f"select count(*) from {report.table} where {schema.LOAD_CHECK_COLUMN} is not null "
        f"or {schema.LOAD_RECORD_COLUMN} is not null"
    ).fetchone()
    assert leftovers == (0,)


def assert_keys_unique(engine: Engine, table: str) -> None:
    keys = ", ".join(("source", *schema.TABLES[table].key))
    repeated = engine.store.con.execute(
        f"select {keys} from {table} group by all having count(*) > 1"
    ).fetchall()
    assert repeated == []


def load(engine: Engine, table: str, path: Path, **options: Any) -> LoadReport:
    """Load with the fixed test clock, then check conservation and key uniqueness in the store."""
    report = engine.load(table, path, now=options.pop("now", NOW), **options)
    assert_conserved(engine, report)
    assert_keys_unique(engine, table)
    return report


def _benchmark_module(name: str) -> ModuleType:
    """``benchmarks/NAME.py``, loaded once (the seeded generators the benchmarks and the tests share)."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def identity_data() -> ModuleType:
    """``benchmarks/identity_data.py``, the seeded generator of identity records with known truth
    that the identity benchmark uses."""
    return _benchmark_module("identity_data")


def causal_data() -> ModuleType:
    """``benchmarks/causal_data.py``, the simulated observational studies with planted unit effects that
    the adjusted-estimate benchmark uses."""
    return _benchmark_module("causal_data")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser), one per test module."""
    if not CHROMIUM.exists():
        pytest.skip("needs the system Chromium at /usr/bin/chromium (apt-get install chromium); make test installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield launched
        finally:
            launched.close()
