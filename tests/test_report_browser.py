"""The report in a real browser: the 20k-member demo, a 30-member community and the real Stack Exchange one.

Chromium (Debian's, driven by Playwright) measures what a reader gets: the summary visible without
scrolling at 1,440 × 900, the whole report under 15,000 px, nothing wider than its box at 390, 1,024
and 1,440 px, and no serious or critical accessibility violation (axe-core, vendored in
``tests/vendor``). Screenshots of the summary at the three widths, and of the whole report, are kept
in ``tests/artifacts/`` (git ignores it) for a person to look at.

The small communities must read cleanly too: no empty table, no NaN, no chart whose every value is
zero, and one line saying why for every section or card left out.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from commetrics import Engine
from commetrics.reports import write_report

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = (390, 1024, 1440)
pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium at /usr/bin/chromium "
                                    "(apt-get install chromium); make test installs it")

#: Elements wider than their box (SVG internals aside: a chart scales as a whole).
OVERFLOW = """() => [...document.querySelectorAll('body *')]
  .filter(e => !(e instanceof SVGElement) || e.tagName.toLowerCase() === 'svg')
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}>${e.clientWidth}: ` +
            (e.textContent || '').trim().slice(0, 60))"""


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo as `make demo` builds it: 20,000 members, seed 7."""
    folder = tmp_path_factory.mktemp("demo20k") / "ws"
    engine, loaded = Engine.demo(folder, members=20_000, seed=7)
    with engine:
        return write_report(engine, folder / "report.html", conversions=loaded.conversions, by=loaded.by)


def _open(browser: Any, path: Path, width: int, height: int = 900, *, bypass_csp: bool = False) -> Any:
    tab = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=bypass_csp)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.goto(path.as_uri(), wait_until="load")
    tab.problems = problems
    return tab


@needs_chromium
def test_the_summary_is_seen_first_and_the_report_is_compact(browser: Any, demo_report: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        tab = _open(browser, demo_report, width)
        try:
            assert tab.evaluate(OVERFLOW) == [], f"overflow at {width} px"
            assert tab.evaluate("document.documentElement.scrollWidth") <= width
            summary = tab.locator("#summary")
            box = summary.bounding_box()
            assert box is not None
            summary.screenshot(path=str(ARTIFACTS / f"summary-{width}.png"))
            if width == 1440:
                assert box["y"] + box["height"] <= 900, "the summary must fit the first screen at 1,440 × 900"
                height = tab.evaluate("document.documentElement.scrollHeight")
                assert height < 15_000, f"the demo report is {height:,} px tall"
                tab.screenshot(path=str(ARTIFACTS / "report-1440.png"), full_page=True)
            assert tab.problems == []
        finally:
            tab.close()
    assert (ARTIFACTS / "summary-390.png").read_bytes().startswith(b"\x89PNG")


@needs_chromium
def test_axe_finds_no_serious_or_critical_violation(browser: Any, demo_report: Path) -> None:
    tab = _open(browser, demo_report, 1440, bypass_csp=True)  # the report's CSP forbids every script, axe's too
    try:
        tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    finally:
        tab.close()
    serious = [f"{v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} element(s), e.g. "
               f"{v['nodes'][0]['target']}" for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []


def _clean(page: str) -> list[str]:
    """What a reader would trip over: empty tables, NaN, all-zero charts."""
    problems = []
    for table in re.findall(r"<table\b.*?</table>", page, flags=re.S):
        if not re.search(r"<tbody>\s*<tr", table):
            problems.append(f"empty table: {table[:120]}")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    if re.search(r"\bnan\b", text, flags=re.I) or re.search(r"\binf\b", text):
        problems.append("NaN or inf in the text")
    for desc in re.findall(r'<desc id="[^"]+">(.*?)</desc>', page, flags=re.S):
        numbers = [float(n.replace(",", "")) for n in re.findall(r"[-+−]?\d[\d,]*\.?\d*", html.unescape(desc))
                   if not re.fullmatch(r"\d{4}", n)]
        if numbers and not any(numbers):
            problems.append(f"all-zero chart: {desc[:120]}")
    return problems


@pytest.fixture(scope="module", params=["tiny", "real"])
def small_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp(request.param) / "ws"
    if request.param == "tiny":  # 30 members; seed 12 gives no subscription period at all
        engine, loaded = Engine.demo(folder, members=30, seed=12)
    else:
        engine, loaded = Engine.demo(folder, real=True)
    with engine:
        path = write_report(engine, folder / "report.html", conversions=loaded.conversions, by=loaded.by)
    return request.param, path.read_text(encoding="utf-8")


def test_small_communities_read_cleanly(small_report: tuple[str, str]) -> None:
    kind, page = small_report
    assert _clean(page) == []
    notes = page[page.index('id="notes"'):]
    notes = notes[:notes.index("</section>")]
    # Every card the data cannot fill says why in one line; every section left out is listed with its reason.
    omitted = re.findall(r'<ul class="omitted">(.*?)</ul>', page, flags=re.S)
    assert omitted, "a small community cannot fill every card"
    for item in re.findall(r"<li>(.*?)</li>", omitted[0], flags=re.S):
        assert re.match(r"<strong>[^<]+</strong>: \S", item)
    for section, line in (("impact", "Renewal and satisfaction: "), ("attribution-1", "Attributed revenue: ")):
        if f'id="{section}"' not in page:
            assert line in notes, f"{kind}: {section} is left out without a reason"
    if kind == "real":
        assert "Members against non-members</strong>: Trial after joining: the store holds no trial_start" in page


@needs_chromium
def test_small_reports_open_without_overflow(browser: Any, small_report: tuple[str, str],
                                             tmp_path: Path) -> None:
    kind, page = small_report
    path = tmp_path / f"{kind}.html"
    path.write_text(page, encoding="utf-8")
    for width in (390, 1440):
        tab = _open(browser, path, width)
        try:
            assert tab.evaluate(OVERFLOW) == [], f"{kind}: overflow at {width} px"
            assert tab.problems == []
        finally:
            tab.close()


@needs_chromium
def test_report_prints_to_pdf(tmp_path: Path) -> None:
    engine, loaded = Engine.demo(tmp_path / "ws", members=30, seed=12)
    with engine:
        write_report(engine, tmp_path / "report.html", conversions=loaded.conversions, by=loaded.by,
                     pdf=tmp_path / "report.pdf")
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page") + pdf.count(b"/Type/Page") >= 3  # the summary page, then the rest
