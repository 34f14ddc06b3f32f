"""``commetrics refresh``: bring the workspace's figures up to date, for a scheduler (cron, a timer).

One run, in order:

1. **Pull** every platform the workspace pulled before (``source_cursors``: kind, source and address), with
   the credential from ``COMMETRICS_<KIND>_TOKEN`` (and ``COMMETRICS_<KIND>_USERNAME``) as ``commetrics pull``
   reads it. A pull that cannot run — no credential, the platform refuses or does not answer, the workspace
   is busy — is a **failed source**: the others still run, and the run ends non-zero naming it.
2. Publish the store's **read copy** when it is missing or behind the store (:mod:`commetrics.engine.snapshot`).
3. **Recompute** every Result the report and the summary read, through the report's own code
   (:func:`~commetrics.reports.build.write_report`) on an Engine with the results cache, and write the
   report. Results of the current data version already in the cache are reused, so a refresh after no
   change costs little; after a load every one is computed again. The summary then reads only cached
   Results (``results`` counts them).
4. From the command line, the **dashboard's views** (every page and picker variant ``[dashboard] warm`` names,
   see ``commetrics.service.queries.warm_views``) are computed into the results cache too, so a dashboard
   started after the refresh answers its first visitors from the cache.

A section the data cannot fill is not a failure (the report says why); a pull that failed leaves the report
to describe the data as of the last load, and the run exits 1 so the scheduler notices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import CommetricsError
from ..progress import Progress, Reporter
from ..results import jsonable
from .build import write_report
from .summary import build_summary

__all__ = ["PullOutcome", "Refresh", "catch_up_read_copy", "refresh"]


@dataclass(frozen=True)
class PullOutcome:
    """One platform's pull: ``rows`` loaded, or the ``error`` that stopped it."""

    kind: str
    source: str
    url: str
    rows: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "url": self.url, "ok": self.ok, "rows_loaded": self.rows,
                "error": self.error or None}


@dataclass
class Refresh:
    """What one refresh did: the pulls, the read copy, the Results computed and reused, the report."""

    workspace: str
    report: str = ""
    pulls: list[PullOutcome] = field(default_factory=list)
    read_copy: str = "current"  # current | published | off
    results: dict[str, int] = field(default_factory=dict)
    data_version: dict[str, Any] = field(default_factory=dict)
    views: int = 0  # the dashboard's views read into the results cache (``warm``)

    @property
    def failed(self) -> list[PullOutcome]:
        return [p for p in self.pulls if not p.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def message(self) -> str:
        """The one line for a failed run ("" when nothing failed)."""
        if self.ok:
            return ""
        named = "; ".join(f"{p.kind} {p.url}: {p.error}" for p in self.failed)
        return (f"{len(self.failed)} source(s) failed: {named}. The report was written from the data as of the last "
                "load; fix the source and run `commetrics refresh` again.")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable({"workspace": self.workspace, "ok": self.ok, "report": self.report,
                                        "pulls": [p.as_dict() for p in self.pulls], "read_copy": self.read_copy,
                                        "results": self.results, "views": self.views,
                                        "data_version": self.data_version,
                                        "error": self.message() or None})
        return out


def _pulled_before(workspace: str | Path | None) -> list[tuple[str, str, str]]:
    with Engine(workspace, read_only=True) as engine:
        rows = engine.store.con.execute("select kind, source, url from source_cursors order by kind, source, url")
        return [(str(k), str(s), str(u)) for k, s, u in rows.fetchall()]


def _pull_all(workspace: str | Path | None, sources: list[tuple[str, str, str]], env: Mapping[str, str],
              progress: Progress | None) -> list[PullOutcome]:
    outcomes: list[PullOutcome] = []
    try:
        engine = Engine(workspace, progress=progress)
    except CommetricsError as error:  # busy: another command writes; every pull fails this time
        return [PullOutcome(kind, source, url, error=str(error)) for kind, source, url in sources]
    with engine, Reporter(progress, "refresh").stage("pulling", total=len(sources), unit="sources") as advance:
        for done, (kind, source, url) in enumerate(sources, start=1):
            variable = f"COMMETRICS_{kind.upper()}_TOKEN"
            token = env.get(variable, "")
            try:
                if not token:
                    raise CommetricsError(f"no credential: set {variable} in the environment of the scheduled job")
                report = engine.pull(kind, url, token, username=env.get(f"COMMETRICS_{kind.upper()}_USERNAME"),
                                     token_env=variable, source=source)
                outcomes.append(PullOutcome(kind, source, url, rows=sum(r.rows_loaded for r in report)))
            except CommetricsError as error:
                outcomes.append(PullOutcome(kind, source, url, error=str(error)))
            advance(done, detail=f"{kind} {url}")
    return outcomes


def catch_up_read_copy(workspace: str | Path | None = None, progress: Progress | None = None) -> str:
    """Publish the store's read copy when it is missing or holds older data (the last write was interrupted, or
    the workspace predates read copies) and nobody is writing: ``"published"``; else ``"current"``, ``"off"``
    (``[store] read_copy = false``) or ``"stale"`` (a write is running: it publishes the copy when it ends)."""
    with Engine(workspace, read_only=True) as reader:
        stale = reader.config.store.read_copy and not reader.data_version().snapshot and reader.read_copy_stale()
        state = "current" if reader.config.store.read_copy else "off"
    if not stale:
        return state
    try:
        with Engine(workspace, progress=progress) as writer:
            writer.publish_read_copy()
    except CommetricsError:
        return "stale"
    return "published"


def refresh(workspace: str | Path | None = None, *, report: str | Path | None = None, pull: bool = True,
            env: Mapping[str, str] | None = None, progress: Progress | None = None,
            warm: Callable[[Path], int] | None = None) -> Refresh:
    """Pull, publish the read copy, recompute the cached Results and write the report (see the module docstring).

    ``report``: where the HTML goes (default ``report.html`` in the workspace). ``pull=False`` skips the pulls.
    ``env``: where credentials are read (default ``os.environ``). ``warm``: called last with the workspace folder to
    compute more views into the results cache (the command passes the dashboard's
    :func:`~commetrics.service.queries.warm_workspace`); returns how many, kept in ``views``. Returns a
    :class:`Refresh`; a failed source is in ``failed``, not raised, so the report is still written."""
    sources = _pulled_before(workspace) if pull else []
    outcome = Refresh(workspace="")
    if sources:
        outcome.pulls = _pull_all(workspace, sources, os.environ if env is None else env, progress)
    outcome.read_copy = catch_up_read_copy(workspace, progress)
    with Engine(workspace, read_only=True, cache=True, progress=progress) as engine:
        outcome.workspace = str(engine.workspace.directory)
        target = Path(report) if report is not None else engine.workspace.directory / "report.html"
        outcome.report = str(write_report(engine, target).resolve())
        build_summary(engine)  # the summary's Results: every one is the report's, so these are read back
        assert engine.cache is not None
        outcome.results = engine.cache.stats.as_dict()
        outcome.data_version = engine.data_version().as_dict()
    if warm is not None:
        outcome.views = warm(Path(outcome.workspace))
    return outcome
