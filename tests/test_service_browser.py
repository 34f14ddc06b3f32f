"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against uvicorn on 127.0.0.1.

A person signs in, opens every page, changes the cohort, window and model pickers and sees the figures
change, meets no console error (the Content-Security-Policy would report any inline script or outside
resource there), and signs out. Screenshots at 1,440 and 390 px go to ``tests/artifacts/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine
from commetrics.service import Users, create_app
from commetrics.service.results import Reader

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "correct horse battery staple"
PATIENT = 600.0  # pages wait for their figures, however loaded the machine (test_service.py covers the patience)
pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser") / "ws"
    engine, _ = Engine.demo(folder, members=1_000, seed=7)
    engine.close()
    Users.of(folder).add("ada", "admin", PASSWORD)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    application = create_app(folder, reader=Reader(folder, patience=PATIENT))
    running = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def _figures(tab: Any) -> str:
    """The text below the pickers: what the page shows for the chosen options."""
    text: str = tab.evaluate("() => [...document.querySelectorAll('main > section, main > .scroll, main aside')]"
                             ".map(e => e.innerText).join('\\n')")
    return text


def test_sign_in_every_page_pickers_and_sign_out(browser: Any, server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1440, 390):
        tab = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        tab.on("console", lambda m, found=problems: found.append(m.text) if m.type in ("error", "warning") else None)
        tab.on("pageerror", lambda e, found=problems: found.append(str(e)))
        tab.goto(f"{server}/conversion")
        assert "/login" in tab.url  # signed out: to the sign-in page, and back after it
        tab.fill("#username", "ada")
        tab.fill("#password", PASSWORD)
        tab.click("form.login button[type=submit]")
        tab.wait_for_url(f"{server}/conversion")

        before = _figures(tab)
        with tab.expect_navigation():
            tab.select_option("#pick-by", "entry_path")  # the picker applies itself (static/app.js)
        by_path = _figures(tab)
        assert "by=entry_path" in tab.url
        assert by_path != before
        assert "how they found the community" in by_path.lower()
        with tab.expect_navigation():
            tab.select_option("#pick-window", "30")
        one_window = _figures(tab)
        assert one_window != by_path
        assert "90 days" in by_path
        assert "90 days" not in one_window

        tab.goto(f"{server}/attribution")
        every_model = _figures(tab)
        with tab.expect_navigation():
            tab.select_option("#pick-model", "first")
        first = _figures(tab)
        assert first != every_model
        assert "Markov" in every_model
        assert "Markov" not in first

        for path in ("/", "/impact", "/impact?question=nps", "/scores", "/scores?level=members", "/data",
                     "/identity?margin=0.1", "/docs"):
            answer = tab.goto(f"{server}{path}")
            assert answer is not None
            assert answer.status == 200, path
            assert tab.locator("h1").count() == 1
            overflow = tab.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")
            assert not overflow, (path, width)
            if path in ("/", "/conversion", "/attribution", "/data"):
                tab.screenshot(path=str(ARTIFACTS / f"dashboard{path.strip('/') or '-summary'}-{width}.png"))

        tab.click("form.who button[type=submit]")
        tab.wait_for_url(f"{server}/login")
        tab.goto(f"{server}/data")
        assert "/login" in tab.url  # signed out for good
        assert problems == [], problems
        tab.close()
