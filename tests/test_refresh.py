"""``commetrics refresh``: pulls what the workspace pulled before, recomputes the cached Results through the report's
own code and writes the report; a source that fails makes it exit 1 naming it, with the report still written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.progress import ProgressEvent, listening
from commetrics.reports.refresh import refresh

from .conftest import NOW, write_csv
from .fake_api import serve
from .test_pull import TOKEN, Forum, _forum_api, _post


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refresh") / "ws"
    engine, _ = Engine.demo(folder, members=400, seed=3)
    engine.close()
    return folder


def _refresh(workspace: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    result = CliRunner().invoke(app, ["refresh", "-w", str(workspace), "--json", *args],
                                env={"COMMETRICS_DEBUG": "", **(env or {})})
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.mark.slow  # four reports of a 400-member demo
def test_refresh_computes_once_then_reads_back_and_a_load_makes_it_compute_again(demo: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.html"
    code, first, _ = _refresh(demo, "--report", str(report))
    assert code == 0
    assert first["ok"] is True
    assert first["error"] is None
    assert Path(str(first["report"])) == report.resolve()
    assert "What the community is worth" in report.read_text(encoding="utf-8")
    results = first["results"]
    assert isinstance(results, dict)
    assert results["misses"] >= 10
    assert results["hits"] >= 4  # the summary's Results: every one read back from the report's
    code, second, _ = _refresh(demo, "--report", str(report))
    assert code == 0
    assert second["results"] == {"hits": results["misses"] + results["hits"], "misses": 0, "uncacheable": 0}
    assert second["data_version"] == first["data_version"]
    with Engine(demo) as engine:
        engine.load("accounts", write_csv(tmp_path / "a.csv", ["account_id", "name"], [["late-1", "Late Co"]]),
                    now=NOW)
    code, third, _ = _refresh(demo, "--report", str(report))
    assert code == 0
    assert third["results"]["misses"] == results["misses"]  # type: ignore[index]
    assert third["data_version"]["version"] > first["data_version"]["version"]  # type: ignore[index]
    text = CliRunner().invoke(app, ["refresh", "-w", str(demo), "--report", str(report)])
    assert text.exit_code == 0
    assert f"Results: 0 computed, {results['misses'] + results['hits']} read back from the cache" in text.output


@pytest.mark.slow  # four reports of a 400-member demo
def test_a_failed_source_exits_1_naming_it_and_the_report_is_still_written(demo: Path, tmp_path: Path) -> None:
    forum = Forum([_post(1, 10, 1, 5), _post(2, 10, 2, 6, reply_to_post_number=1)])
    report = tmp_path / "report.html"
    with serve(_forum_api(forum)) as api:
        with Engine(demo) as engine:
            engine.pull("discourse", api.url, TOKEN, now=NOW)
        code, out, err = _refresh(demo, "--report", str(report))  # no credential in the environment
        assert code == 1
        assert out["ok"] is False
        assert "COMMETRICS_DISCOURSE_TOKEN" in str(out["error"])
        assert "discourse" in err
        assert "COMMETRICS_DISCOURSE_TOKEN" in err
        assert report.is_file()  # written all the same, from the data as of the last load
        report.unlink()
        code, out, err = _refresh(demo, "--report", str(report), env={"COMMETRICS_DISCOURSE_TOKEN": "wrong"})
        assert code == 1
        assert "wrong" not in json.dumps(out) + err  # a credential is never shown
        assert report.is_file()
        forum.posts.append(_post(3, 11, 1, 6))
        events: list[ProgressEvent] = []
        with listening(events.append):
            outcome = refresh(demo, report=report, env={"COMMETRICS_DISCOURSE_TOKEN": TOKEN})
        assert outcome.ok, outcome.message()
        assert [(p.kind, p.rows) for p in outcome.pulls] == [("discourse", 1)]  # only what is new
        assert any(e.operation == "refresh" and e.stage == "pulling" and e.finished for e in events)
        assert any(e.operation == "report" for e in events)
        code, out, _ = _refresh(demo, "--report", str(report), "--no-pull")
        assert code == 0
        assert out["pulls"] == []


def test_refresh_publishes_a_missing_read_copy(demo: Path, tmp_path: Path) -> None:
    copy = demo / "commetrics.snapshot.duckdb"
    copy.unlink()
    code, out, _ = _refresh(demo, "--report", str(tmp_path / "r.html"), "--no-pull")
    assert code == 0
    assert out["read_copy"] == "published"
    assert copy.is_file()
    code, out, _ = _refresh(demo, "--report", str(tmp_path / "r.html"), "--no-pull")
    assert out["read_copy"] == "current"


def test_refresh_computes_the_dashboards_views_into_the_cache(demo: Path, tmp_path: Path) -> None:
    from commetrics.service.queries import views
    from commetrics.service.results import Reader
    from commetrics.service.views import attribution_params, conversion_params

    code, out, _ = _refresh(demo, "--report", str(tmp_path / "r.html"), "--no-pull")
    assert code == 0
    reader = Reader(demo)
    # every view of [dashboard] warm = "variants" the data can answer (a 400-member demo cannot answer them all)
    assert len(list(views(reader, "pages"))) < int(out["views"]) <= len(list(views(reader, "variants")))
    reader.close()
    with Engine(demo, read_only=True, cache=True) as engine:  # the dashboard's own parameters: read back
        name = engine.config.summary.conversion
        engine.run("attribution", **attribution_params("linear", None))
        engine.run("conversion", **conversion_params(name, "entry_path", None, None))
        engine.run("conversion", **conversion_params(name, None, 30, None))
        assert engine.cache is not None
        assert engine.cache.stats.as_dict() == {"hits": 3, "misses": 0, "uncacheable": 0}
