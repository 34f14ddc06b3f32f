"""The demo community as the exports a real team's data arrive in (``commetrics demo --as-exports DIR``).

:func:`write_exports` generates the community (:func:`commetrics.demo.generate`) and writes each piece in
the layout of the platform that really carries it, for the platform connectors to load back
(``commetrics load-dump``) with the same report figures as the direct load:

=================  ==========================================================================================
``slack/``         Slack workspace export: the members, their posts, replies and reactions
                   (:mod:`commetrics.demo.export_slack`)
``segment/``       Segment identify, group and track calls: sign-up traits, accounts and their traits, every
                   other activity and the members' outcomes (:mod:`commetrics.demo.export_segment`)
``hubspot/``       HubSpot companies, contacts and closed-won deals (:mod:`commetrics.demo.export_crm`)
``billing/`` ...   what no platform connector carries, as canonical CSV files for ``commetrics load``:
                   subscription periods, cancellations, CRM contacts' trials, survey answers
=================  ==========================================================================================

With them: ``commetrics.toml`` (the default configuration plus the ``[sources]`` mappings these exports
need: event names, deal types, traits, channel programs), ``load.sh`` and ``README.md`` (the commands in
order), ``exports.json`` (the same steps, read by ``commetrics demo --from-exports``), and the answer key
``ground_truth.json`` / ``truth_renewal_engaged.parquet``, which is not loaded.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config import DEFAULT_CONFIG_TEXT
from ..errors import InputError
from .export_crm import DEAL_TYPES, RESIDUE, crm_outcomes, write_hubspot, write_residue
from .export_segment import ACCOUNT_TRAITS, ACTIVITY_EVENTS, MEMBER_TRAITS, OUTCOME_EVENTS, write_segment
from .export_slack import SLACK_TYPES, write_slack
from .generator import generate
from .params import DEFAULT_AS_OF, ENGAGED_FILE, GENERATOR_VERSION, GROUND_TRUTH_FILE

__all__ = ["MANIFEST", "DemoExports", "LoadStep", "read_steps", "write_exports"]

MANIFEST = "exports.json"
CONFIG_FILE = "commetrics.toml"
SCRIPT_FILE = "load.sh"
README_FILE = "README.md"


@dataclass(frozen=True)
class LoadStep:
    """One command that loads part of the exports: ``commetrics load-dump KIND PATH`` or ``load TABLE FILE``."""

    command: Literal["load-dump", "load"]
    name: str  # the export KIND, or the canonical TABLE
    path: str  # relative to the exports folder
    carries: str
    source: str | None = None
    timezone: str | None = None

    def arguments(self, root: str = ".") -> list[str]:
        """The command's arguments after ``commetrics``, with the path under ``root``."""
        args = [self.command, self.name, f"{root}/{self.path}"]
        if self.timezone:
            args += ["--timezone", self.timezone]
        if self.source:
            args += ["--source", self.source]
        return args


#: the loads, in order: the CRM first, then Segment (its group calls carry the accounts' traits, so they are
#: each account's latest row, which analyses read), Slack, then the canonical files
STEPS: tuple[LoadStep, ...] = (
    LoadStep("load-dump", "hubspot", "hubspot", "accounts, CRM contacts, closed-won deals (purchases, upgrades, "
             "cross-sells and renewals of contacts and accounts)", timezone="UTC"),
    LoadStep("load-dump", "segment", "segment", "members' sign-up traits (entry path, consent, role) and accounts "
             "with their traits; logins, questions, answers, comments, accepted answers, webinars, events, "
             "feedback, referrals, case studies, reviews; the members' outcomes"),
    LoadStep("load-dump", "slack", "slack", "members (staff are the admins), posts, replies and reactions"),
    *(LoadStep("load", table, path, what, source=source) for path, (table, source, what) in RESIDUE.items()),
)
#: the sources the loads of :data:`STEPS` record (a connector records its kind)
EXPORT_SOURCES = frozenset(s.source or s.name for s in STEPS)


@dataclass(frozen=True)
class DemoExports:
    """What :func:`write_exports` wrote."""

    directory: Path
    steps: tuple[LoadStep, ...]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # export folder -> records of each kind
    ground_truth: Path | None = None

    @property
    def residue(self) -> tuple[LoadStep, ...]:
        """The steps that load canonical files: what no platform connector carries."""
        return tuple(s for s in self.steps if s.command == "load")


def _frame(path: Path) -> pd.DataFrame:
    """A canonical Parquet file with its instants as epoch seconds (the demo's are whole seconds) and nullable
    whole numbers kept whole."""
    table = pq.read_table(path)
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, pc.divide(table[f.name].cast(pa.int64()), 1_000_000))
    return table.to_pandas(integer_object_nulls=True)


def write_exports(members: int, seed: int, out_dir: Path, *, as_of: datetime = DEFAULT_AS_OF,
                  activities_per_member: float = 20.0,
                  progress: Callable[[str, float], None] | None = None) -> DemoExports:
    """Generate the demo community and write it as platform exports into ``out_dir`` (see the module).

    The same arguments give the same files. ``out_dir`` must be empty or new: exports of another run left
    beside these would be loaded with them.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} is not an empty folder. Give a new folder for the exports: whatever else is in it "
                         "would be loaded with them.")
    report = progress or (lambda stage, fraction: None)
    with tempfile.TemporaryDirectory(prefix="commetrics-demo-") as scratch:
        files = generate(members, seed, Path(scratch), as_of=as_of, activities_per_member=activities_per_member,
                         progress=report)
        report("exports", 0.0)
        tables = {name: _frame(path) for name, path in files.tables.items()}
        out.mkdir(parents=True, exist_ok=True)
        for name in (GROUND_TRUTH_FILE, ENGAGED_FILE):
            shutil.copyfile(Path(scratch) / name, out / name)
    activities, outcomes = tables["activities"], tables["outcomes"]
    talk = activities["type"].isin(SLACK_TYPES)
    slack = write_slack(out / "slack", tables["members"], activities[talk])
    report("exports", 0.4)
    counts = {"slack": slack.counts}
    counts["segment"] = write_segment(out / "segment", tables["accounts"], tables["members"], activities[~talk],
                                      outcomes[outcomes["member_id"].notna()])
    report("exports", 0.8)
    deals, churn, product = crm_outcomes(outcomes)
    counts["hubspot"] = write_hubspot(out / "hubspot", tables["accounts"], tables["contacts"], deals)
    counts["canonical"] = write_residue(out, tables["subscriptions"], churn, product, tables["surveys"])
    exports = DemoExports(out, STEPS, counts, out / GROUND_TRUTH_FILE)
    (out / CONFIG_FILE).write_text(config_text(slack.programs), encoding="utf-8")
    (out / SCRIPT_FILE).write_text(script_text(STEPS), encoding="utf-8")
    (out / README_FILE).write_text(readme_text(exports, members, seed), encoding="utf-8")
    manifest = {"generator_version": GENERATOR_VERSION, "members": members, "seed": seed,
                "as_of": as_of.isoformat(), "steps": [asdict(s) for s in STEPS], "counts": counts}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report("exports", 1.0)
    return exports


def read_steps(directory: Path) -> tuple[LoadStep, ...]:
    """The load steps of exports written by :func:`write_exports` (from their ``exports.json``)."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        steps = tuple(LoadStep(**step) for step in manifest["steps"])
    except FileNotFoundError:
        raise InputError(f"{directory} holds no {MANIFEST}: it is not a folder written by `commetrics demo "
                         "--as-exports`.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not readable ({exc}). Write the exports again with `commetrics demo "
                         "--as-exports`.") from None
    missing = [name for name in (CONFIG_FILE, *(s.path for s in steps)) if not (Path(directory) / name).exists()]
    if missing:
        raise InputError(f"{directory} lacks {', '.join(missing)} of the demo's exports. Write them again with "
                         "`commetrics demo --as-exports` into a new folder.")
    return steps


def _table(name: str, values: dict[str, str]) -> str:
    lines = [f"[{name}]", *(f"{json.dumps(key)} = {json.dumps(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def config_text(programs: dict[str, str]) -> str:
    """The default configuration, plus the ``[sources]`` mappings the exports need."""
    sections = [
        _table("sources.hubspot.deal_types", DEAL_TYPES),
        _table("sources.segment.activity_events", ACTIVITY_EVENTS),
        _table("sources.segment.outcome_events", OUTCOME_EVENTS),
        _table("sources.segment.member_traits", MEMBER_TRAITS),
        _table("sources.segment.account_traits", ACCOUNT_TRAITS),
        _table("sources.slack.channel_programs", programs),
    ]
    return (DEFAULT_CONFIG_TEXT.rstrip("\n") + "\n\n# How the connectors map the names of these exports (written by "
            "`commetrics demo --as-exports`).\n" + "\n".join(sections))


def script_text(steps: tuple[LoadStep, ...]) -> str:
    """``load.sh``: a new workspace with this configuration, then every load in order."""
    def shell(arg: str) -> str:
        return f'"{arg}"' if arg.startswith("$HERE/") else shlex.quote(arg)

    loads = "\n".join(f'$COMMETRICS {" ".join(shell(a) for a in s.arguments("$HERE"))} --workspace "$WORKSPACE"'
                      for s in steps)
    return f"""#!/bin/sh
# Load the demo community from its platform exports into a new commetrics workspace, in the order a team
# would: the CRM, then Segment (its group calls carry the accounts' traits, so they are each account's
# latest row), Slack, then the canonical files of billing, the product database and the survey tool.
#
#   sh load.sh [WORKSPACE]          (default: demo-exports-workspace)
#
# COMMETRICS names the command (default: commetrics), e.g. COMMETRICS="python -m commetrics" sh load.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORKSPACE=${{1:-demo-exports-workspace}}
COMMETRICS=${{COMMETRICS:-commetrics}}
if [ -e "$WORKSPACE/commetrics.duckdb" ]; then
  echo "$WORKSPACE already holds a store: give a new folder." >&2
  exit 1
fi
mkdir -p "$WORKSPACE"
cp "$HERE/{CONFIG_FILE}" "$WORKSPACE/{CONFIG_FILE}"
$COMMETRICS init --workspace "$WORKSPACE"
{loads}
$COMMETRICS report --workspace "$WORKSPACE" --out "$WORKSPACE/report.html" --by entry_path --by join_month
"""


def readme_text(exports: DemoExports, members: int, seed: int) -> str:
    """``README.md``: what each export holds, the canonical residue and the commands in order."""
    rows = "\n".join(f"| `{s.path}` | `{' '.join(s.arguments('.'))}` | {s.carries} |" for s in exports.steps)
    return f"""# The commetrics demo community as platform exports

Written by `commetrics demo --as-exports` ({members:,} members, seed {seed}). Each piece of the community
is in the layout of the platform that carries it; loading them through the connectors gives the same
report figures as `commetrics demo --members {members} --seed {seed}`.

| export | load with (`commetrics ... --workspace WORKSPACE`) | what it carries |
|---|---|---|
{rows}

**What no platform carries** is written as the canonical CSV files a team exports from its billing
system, product database and survey tool, loaded with `commetrics load TABLE FILE`:
{", ".join(f"`{s.path}`" for s in exports.residue)}.

Load everything into a new workspace with `sh load.sh WORKSPACE`, or `commetrics demo --from-exports
DIR --workspace WORKSPACE` (DIR: this folder). Both first copy `commetrics.toml` into the workspace:
its `[sources]` section maps the Segment event names and traits, the HubSpot deal types and the Slack
channels of programs. HubSpot times are in the exporting user's zone, UTC here (`--timezone UTC`).

How the exports keep every figure: the Slack and Segment user ids are the demo's member ids, Slack
profiles' `updated` time is the join, each reaction sits on a message posted at its own instant (Slack
records no reaction times; a reaction takes its message's), and the channel bot's messages that carry
reactions or start threads are excluded as `bot`. What differs in the tables (no figure reads it):
activity and outcome ids, the channel of Segment's activities (`product`) and of programs' Slack
channels, tags and `ref_id`, contacts' consent (HubSpot's connector reads none) — and members' consent:
a Slack profile holds none, and a member counts as consenting only when every record says so, so
person-level lists (member scores, the CRM write-back) withhold everyone.

`ground_truth.json` and `truth_renewal_engaged.parquet` are the answer key of the planted effects; they
are not loaded.
"""
