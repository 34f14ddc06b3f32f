"""Feedback on long work: the events each operation emits, and where the command line draws them (and not)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from commetrics import Engine
from commetrics.cli import app
from commetrics.cli.feedback import Feedback
from commetrics.progress import ProgressEvent, Reporter, listening

COMMAND = [str(Path(sys.executable).with_name("commetrics"))]


def _stages(events: list[ProgressEvent], operation: str) -> list[str]:
    """The stages of ``operation`` in the order they finished."""
    return [event.stage for event in events if event.operation == operation and event.finished]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[ProgressEvent]]]:
    """A small demo workspace, with every event its creation sent."""
    events: list[ProgressEvent] = []
    directory = tmp_path_factory.mktemp("progress") / "ws"
    engine, _ = Engine.demo(directory, members=400, seed=3, progress=events.append)
    engine.close()
    return directory, events


def test_a_stage_starts_counts_and_ends_with_its_seconds() -> None:
    events: list[ProgressEvent] = []
    reporter = Reporter(events.append, "load")
    with reporter.stage("reading", total=30, unit="rows") as advance:
        advance(10, detail="a.csv")
        advance(30, detail="b.csv")
    with reporter.stage("resolving"):
        pass
    assert [(e.stage, e.done, e.total, e.detail, e.finished) for e in events] == [
        ("reading", 0, 30, "", False), ("reading", 10, 30, "a.csv", False), ("reading", 30, 30, "b.csv", False),
        ("reading", 30, 30, "b.csv", True), ("resolving", None, None, "", False), ("resolving", None, None, "", True),
    ]
    assert all(e.seconds is not None and e.seconds >= 0 for e in events if e.finished)


def test_a_stage_that_fails_sends_no_end() -> None:
    events: list[ProgressEvent] = []
    with pytest.raises(RuntimeError), Reporter(events.append, "load").stage("reading", total=3):
        raise RuntimeError("disk gone")
    assert [e.finished for e in events] == [False]


def test_library_calls_are_silent_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with Reporter(None, "load").stage("reading", total=3) as advance:
        advance(3)
    heard: list[ProgressEvent] = []
    with listening(heard.append), Reporter(None, "load").stage("reading", total=3):
        pass
    assert capsys.readouterr() == ("", "")
    assert [e.finished for e in heard] == [False, True]


def test_the_demo_reports_generation_then_identity_stages_in_order(demo: tuple[Path, list[ProgressEvent]]) -> None:
    directory, events = demo
    generating = [e for e in events if e.operation == "demo"]
    shares = [e.done for e in generating]
    assert shares == sorted(shares)
    assert shares[-1] == 1.0
    assert generating[-1].finished
    assert {e.detail for e in generating} >= {"accounts", "members", "activities", "outcomes", "tables"}
    assert _stages(events, "identity") == ["reading", "normalising", "training", "scoring", "clustering", "writing"]
    with Engine(directory, read_only=True) as engine:
        records = int(engine.store.con.execute("select count(*) from people").fetchall()[0][0])
    counted = {e.stage: e.done for e in events if e.operation == "identity" and e.finished and e.done is not None}
    assert counted == dict.fromkeys(["reading", "normalising", "clustering", "writing"], records)


def test_identity_resolution_reports_to_the_engine_callback(demo: tuple[Path, list[ProgressEvent]]) -> None:
    directory, _ = demo
    events: list[ProgressEvent] = []
    with Engine(directory, progress=events.append) as engine:
        run = engine.resolve_identities()
    assert _stages(events, "identity") == ["reading", "normalising", "training", "scoring", "clustering", "writing"]
    assert events[-1].done == run["records"]
    # every stage started before it finished, and none overlaps the next
    order = [(e.stage, e.finished) for e in events if e.done in (None, 0) or e.finished]
    assert order[0] == ("reading", False)
    assert order[-1] == ("writing", True)


# -- the command line ------------------------------------------------------------------------------


def _feedback(**options: bool) -> tuple[Feedback, io.StringIO]:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    return Feedback(console=console, terminal=True, **options), screen


def _one_stage(listener: Feedback) -> None:
    with listening(listener), Reporter(None, "identity").stage("writing", total=400, unit="records") as advance:
        advance(200)


def test_a_terminal_gets_a_bar_that_goes_away() -> None:
    listener, screen = _feedback()
    _one_stage(listener)
    drawn = screen.getvalue()
    assert "identity · writing" in drawn
    assert "400 records" in drawn
    assert "━" in drawn
    assert listener._bars is None  # the last stage ended: the bars left the screen


@pytest.mark.parametrize("options", [{"quiet": True}, {"quiet": True, "verbose": True}])
def test_quiet_draws_nothing(options: dict[str, bool]) -> None:
    listener, screen = _feedback(**options)
    _one_stage(listener)
    assert screen.getvalue() == ""


def test_verbose_prints_one_timing_per_stage_and_json_keeps_it_but_drops_bars() -> None:
    listener, screen = _feedback(verbose=True)
    listener.without_bars()  # what --json does
    _one_stage(listener)
    lines = screen.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("identity · writing: ")
    assert "400 records" in lines[0]
    assert "records/s" in lines[0]


def _workspace_with_people(tmp_path: Path) -> Path:
    runner = CliRunner()
    members = tmp_path / "members.csv"
    members.write_text("member_id,email,joined_at,name\n" + "".join(
        f"m{i},user{i}@example{i % 7}.com,2025-01-{1 + i % 28:02d},User {i}\n" for i in range(40)), encoding="utf-8")
    assert runner.invoke(app, ["init", "-w", str(tmp_path / "ws")]).exit_code == 0
    assert runner.invoke(app, ["load", "members", str(members), "-w", str(tmp_path / "ws")]).exit_code == 0
    return tmp_path / "ws"


def test_piped_output_gets_no_bars_and_verbose_timings_go_to_stderr(tmp_path: Path) -> None:
    workspace = _workspace_with_people(tmp_path)
    piped = subprocess.run([*COMMAND, "identity", "resolve", "-w", str(workspace)], capture_output=True,
                           text=True, check=False, env={**os.environ, "COLUMNS": "120"})
    assert piped.returncode == 0
    assert piped.stderr == ""
    timed = subprocess.run([*COMMAND, "identity", "resolve", "--verbose", "-w", str(workspace)],
                           capture_output=True, text=True, check=False)
    assert timed.returncode == 0
    assert [line.split(":")[0] for line in timed.stderr.splitlines()] == [
        "identity · reading", "identity · normalising", "identity · clustering", "identity · writing"]
    seconds = re.compile(r"\d+\.\d s")  # how long it took differs from run to run
    assert seconds.sub("", timed.stdout) == seconds.sub("", piped.stdout)  # results alone on standard output


def _on_a_terminal(args: list[str], **env: str) -> str:
    """Run the command with standard output and error on a pseudo-terminal; what the terminal showed."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                               env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **env}, close_fds=True)
    os.close(secondary)
    shown = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=120)
    os.close(primary)
    assert process.returncode == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_a_terminal_shows_bars_but_not_with_json_or_quiet(tmp_path: Path) -> None:
    workspace = _workspace_with_people(tmp_path)
    drawn = _on_a_terminal(["identity", "resolve", "-w", str(workspace)])
    assert "identity · normalising" in drawn
    assert "\x1b[3" in drawn or "\x1b[9" in drawn  # in colour (so that NO_COLOR has something to remove)
    for flag in ("--json", "--quiet"):
        plain = _on_a_terminal(["identity", "resolve", flag, "-w", str(workspace)])
        assert "identity · " not in plain
        assert "\x1b[?25l" not in plain
    payload = _on_a_terminal(["identity", "resolve", "--json", "-w", str(workspace)])
    assert json.loads(payload)["records"] == 40


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    workspace = _workspace_with_people(tmp_path)
    drawn = _on_a_terminal(["identity", "resolve", "-w", str(workspace)], NO_COLOR="1")
    assert "identity · normalising" in drawn
    assert "\x1b[3" not in drawn
    assert "\x1b[9" not in drawn


# -- habits ----------------------------------------------------------------------------------------


def test_exit_codes_zero_done_one_failed_two_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    workspace = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", "-w", workspace]).exit_code == 0
    bad_input = runner.invoke(app, ["load", "members", str(tmp_path / "absent.csv"), "-w", workspace])
    assert bad_input.exit_code == 2
    assert bad_input.output.startswith("Error: File not found")
    unknown_option = runner.invoke(app, ["status", "--no-such-option"])
    assert unknown_option.exit_code == 2
    failed = runner.invoke(app, ["status", "-w", str(tmp_path / "nowhere")])
    assert failed.exit_code == 1
    assert "commetrics init" in failed.output


def test_errors_go_to_stderr_and_results_to_stdout(tmp_path: Path) -> None:
    out = subprocess.run([*COMMAND, "status", "-w", str(tmp_path / "nowhere")], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("Error: No commetrics workspace")


def test_global_flags_work_before_or_after_the_command(tmp_path: Path) -> None:
    workspace = _workspace_with_people(tmp_path)
    runner = CliRunner()
    for args in (["-q", "identity", "resolve"], ["identity", "resolve", "-q"], ["identity", "-v", "resolve"]):
        result = runner.invoke(app, [*args, "-w", str(workspace)])
        assert result.exit_code == 0, (args, result.output)


def test_completion_can_be_installed() -> None:
    shown = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in shown.output
    assert "--show-completion" in shown.output
    script = subprocess.run([*COMMAND, "--show-completion", "bash"], capture_output=True, text=True, check=False,
                            env={**os.environ, "SHELL": "/bin/bash"})
    assert script.returncode == 0
    assert "_commetrics_completion" in script.stdout.lower().replace("-", "_")
