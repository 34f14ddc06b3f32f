"""The Engine's operations beyond analysis: the CRM write-back (files and push) and the demo workspaces."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from .. import crm
from ..errors import InputError, UnknownNameError
from ..ingest import LoadReport
from ..progress import Progress, Reporter
from ..store import Workspace
from . import snapshot
from .analyses import AnalysesPart
from .cache import CACHE_FOLDER, ResultCache
from .loading import LoadingPart

if TYPE_CHECKING:
    from ..demo import DemoExports, LoadStep

__all__ = ["CrmExport", "DemoLoad", "OperationsPart"]

#: the sources a demo workspace may hold; anything else is the user's data, never replaced
DEMO_SOURCES = frozenset({"demo", "stackexchange"})
#: a workspace loaded from the demo's exports (``demo --from-exports``) holds platform sources (slack,
#: segment, ...) like a real one: this file in its folder says it is a demo all the same
DEMO_MARKER = ".commetrics-demo"

#: where each part of the demo's generation starts in the whole, and its share (activities take most)
_GENERATION_PARTS = {"accounts": (0.0, 0.02), "members": (0.02, 0.03), "activities": (0.05, 0.75),
                     "outcomes": (0.80, 0.10), "tables": (0.90, 0.10), "done": (1.0, 0.0)}


def _generated(part: str, fraction: float) -> float | None:
    """How much of the whole generation is done when ``part`` is ``fraction`` done (None: a part not known)."""
    start, share = _GENERATION_PARTS.get(part, (None, 0.0))
    return None if start is None else start + share * fraction


def _exported(part: str, fraction: float) -> float | None:
    """How much of writing the exports is done: generating the community is the first 70 %."""
    if part == "exports":
        return 0.7 + 0.3 * fraction
    done = _generated(part, fraction)
    return None if done is None else 0.7 * done


@dataclass(frozen=True)
class DemoLoad:
    """What :meth:`OperationsPart.demo` loaded: the reports and, for the synthetic community, its ground truth."""

    reports: list[LoadReport]
    ground_truth: Path | None
    conversions: list[str] | None  # the conversions its report shows (None: every defined one)
    by: tuple[str, ...]  # the cohort keys its report breaks them down by
    #: loaded from exports: the canonical files among them (what no platform carries), as ``(file, table)``
    canonical: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CrmExport:
    """What :meth:`OperationsPart.export_crm` wrote."""

    files: list[Path]
    contacts: int  # members with consent written, in every contacts file
    companies: int
    withheld_without_consent: int
    without_email: int  # HubSpot: contacts in hubspot_contacts_without_email.csv (HubSpot matches by e-mail)

    def as_dict(self) -> dict[str, Any]:
        return {"files": [str(p) for p in self.files], "contacts": self.contacts, "companies": self.companies,
                "withheld_without_consent": self.withheld_without_consent, "without_email": self.without_email}


class OperationsPart(LoadingPart, AnalysesPart):
    """CRM write-back and demo workspaces."""

    def export_crm(self, target: str, out: str | Path, *, as_of: datetime | None = None) -> CrmExport:
        """Write the CRM import files for ``target`` (hubspot or salesforce) into ``out``: members with consent
        and accounts. HubSpot's contacts without an e-mail address go to a file of their own (see
        :func:`commetrics.crm.export_files`)."""
        if target not in crm.TARGETS:
            raise UnknownNameError.for_name("CRM target", target, crm.TARGETS)
        contacts, companies = self.crm_records(as_of=as_of)
        files = crm.export_files(contacts, companies, target, Path(out))
        without = int(contacts["email"].isna().sum()) if target == "hubspot" else 0
        return CrmExport(files, len(contacts), len(companies), int(contacts.attrs.get("withheld_without_consent", 0)),
                         without)

    def push_crm(self, target: str, *, base_url: str | None, token: str, as_of: datetime | None = None
                 ) -> crm.PushReport:
        """Send the CRM write-back through ``target``'s REST API (upserts, in batches, resumable).

        A journal per destination (in the workspace folder) records the batches the CRM acknowledged, so a
        re-run sends only the rest. ``base_url`` defaults to ``crm.hubspot_url`` for HubSpot; Salesforce needs
        the instance URL. Retries, waits and timeouts are the ``[crm]`` settings."""
        if target not in crm.TARGETS:
            raise UnknownNameError.for_name("CRM target", target, crm.TARGETS)
        if not token:
            raise InputError("A push needs an API token.")
        settings = self.config.crm
        base = base_url or (settings.hubspot_url if target == "hubspot" else None)
        if base is None:
            raise InputError("A push to Salesforce needs the instance URL (https://NAME.my.salesforce.com).")
        base = crm.check_url(base)  # before any work: plain http:// or a URL with a password never goes out
        contacts, companies = self.crm_records(as_of=as_of)
        # One journal per destination: batches sent to one portal or org say nothing about another.
        digest = hashlib.sha256(base.encode()).hexdigest()[:12]
        journal = self.workspace.directory / f".crm-{target}-{digest}-journal.jsonl"
        return crm.push(contacts, companies, target, base_url=base, token=token, journal=journal,
                        max_retries=settings.max_retries, timeout=settings.timeout_seconds,
                        max_wait=settings.max_wait_seconds)

    @staticmethod
    def demo_exports(out: str | Path, *, members: int = 20_000, seed: int = 7,
                     progress: Progress | None = None) -> DemoExports:
        """Write the synthetic community (the one :meth:`demo` loads with the same ``members`` and ``seed``) as
        the exports its data would arrive in — Slack, Segment, HubSpot, and canonical CSV files for what no
        platform carries — with ``load.sh``, ``README.md`` and the ``commetrics.toml`` their ``[sources]``
        mappings need, into the new or empty folder ``out``. :meth:`demo` with ``from_exports`` loads them back
        (see :mod:`commetrics.demo.exports`)."""
        from .. import demo as demo_data

        with Reporter(progress, "demo").stage("generating", total=1.0, detail="accounts") as advance:
            return demo_data.write_exports(members, seed, Path(out), progress=lambda part, fraction: advance(
                _exported(part, fraction), detail=part))

    @classmethod
    def demo(cls, directory: str | Path, *, members: int = 20_000, seed: int = 7, real: bool = False,
             force: bool = False, from_exports: str | Path | None = None,
             progress: Progress | None = None) -> tuple[Self, DemoLoad]:
        """A demo workspace in ``directory``: a synthetic B2B community with planted effects, or (``real``) the
        real Stack Exchange community shipped with commetrics, or (``from_exports``) the synthetic community
        loaded from the exports :meth:`demo_exports` wrote, through the platform connectors as a team loads
        its own (with the exports' ``commetrics.toml``). An existing demo workspace is replaced only with
        ``force`` — its store, the files the demo generated and its report go, so nothing of the old demo is
        left behind; a folder holding anything but demo data is always refused. Returns the open engine and
        what was loaded. ``progress`` receives the ``demo`` operation's ``generating`` stage, then the
        loads' and identity resolution's own (see :mod:`commetrics.progress`)."""
        from .. import demo as demo_data
        from ..sources.stackexchange import SAMPLE_DUMP

        if real and from_exports is not None:
            raise InputError("The demo loads either the real community (--real) or the exports (--from-exports), "
                             "not both.")
        steps = demo_data.read_steps(Path(from_exports)) if from_exports is not None else ()
        target = Workspace.locate(directory)
        marked = (target.directory / DEMO_MARKER).exists()
        # a workspace the exports were loaded into holds their sources; any other source is the user's data
        demo_sources = DEMO_SOURCES | (demo_data.exports.EXPORT_SOURCES if marked else frozenset())
        with target.lock(exclusive=True):  # nobody else may have the store open while it is replaced
            if target.database_path.exists():
                with cls(target.directory, read_only=True) as existing:
                    sources = set(existing.status(last_loads=10_000).loads["source"])
                if sources - demo_sources:
                    raise InputError(f"{target.directory} holds data that is not demo data (sources: "
                                     f"{', '.join(sorted(sources))}). Pick another folder; the demo replaces its "
                                     "workspace's store.")
                if not force:
                    raise InputError(f"{target.directory} already holds a demo workspace. Add --force to replace "
                                     "it (its store, generated files and report), or pick another folder with "
                                     "--workspace.")
                _remove_demo(target)
            elif from_exports is not None and target.config_path.exists() and not marked:
                raise InputError(f"{target.directory} has a commetrics.toml of its own; loading the demo's exports "
                                 "replaces it with theirs. Pick another folder.")
            if from_exports is not None:
                target.directory.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(from_exports) / demo_data.exports.CONFIG_FILE, target.config_path)
                (target.directory / DEMO_MARKER).write_text("loaded by `commetrics demo --from-exports`\n",
                                                            encoding="utf-8")
            engine = cls.init(target.directory, progress=progress)
        try:
            if from_exports is not None:
                return engine, engine._load_exports(Path(from_exports), steps)
            if real:
                reports: list[LoadReport] = engine.load_dump("stackexchange", SAMPLE_DUMP)
                return engine, DemoLoad(reports, None, ["question_resolved"], ("join_month",))
            with engine._reporter("demo").stage("generating", total=1.0, detail="accounts") as advance:
                files = demo_data.generate(members, seed, target.directory / "data",
                                           progress=lambda part, fraction: advance(_generated(part, fraction),
                                                                                   detail=part))
            with engine.batch():
                reports = [engine.load(name, path, source="demo") for name, path in files.tables.items()]
            return engine, DemoLoad(reports, files.ground_truth, None, ("entry_path", "join_month"))
        except BaseException:
            engine.close()
            raise

    def _load_exports(self, directory: Path, steps: tuple[LoadStep, ...]) -> DemoLoad:
        """Every step of the demo's exports, in order, in one batch (identities resolved once at the end)."""
        reports: list[LoadReport] = []
        with self.batch():
            for step in steps:
                path = directory / step.path
                if step.command == "load-dump":
                    reports += self.load_dump(step.name, path, source=step.source, timezone=step.timezone)
                else:
                    reports.append(self.load(step.name, path, source=step.source))
        canonical = tuple((step.path, step.name) for step in steps if step.command == "load")
        truth = directory.resolve() / "ground_truth.json"
        return DemoLoad(reports, truth if truth.exists() else None, None, ("entry_path", "join_month"), canonical)


def _remove_demo(target: Workspace) -> None:
    """Remove what a demo wrote into ``target``: the store, the generated data files and the report (the
    config stays: it may have been edited)."""
    for stale in (target.database_path, target.database_path.with_name(target.database_path.name + ".wal"),
                  target.directory / "report.html"):
        stale.unlink(missing_ok=True)
    snapshot.remove(target.directory / snapshot.SNAPSHOT_FILE)  # the old store's read copy and cached Results
    ResultCache(target.directory / CACHE_FOLDER).clear()
    generated = target.directory / "data"
    if (generated / "ground_truth.json").exists():  # the synthetic community's files, and only those
        shutil.rmtree(generated)
