"""The entry point :func:`generate`: every stage in order, each with its own seeded generator."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from commetrics.errors import InputError

from .activities import _background, _write_activities
from .drivers import _EarlyBehaviour, _lead_outcomes
from .entities import _account_count, _make_accounts, _make_contacts, _make_members
from .ground_truth import _ground_truth
from .helpers import Progress, _ids, _width
from .outcomes import _account_outcomes, _contact_outcomes, _lifecycle, _member_outcomes, _Outcomes
from .params import DAY, DEFAULT_AS_OF, ENGAGED_FILE, GROUND_TRUTH_FILE, HISTORY_DAYS, LOAD_ORDER
from .renewal import _make_periods, _settle_champions, _window_rows, _windows
from .surveys import _plan_nps, _surveys_table
from .tables import (
    _account_domains,
    _accounts_table,
    _contacts_table,
    _engaged_table,
    _members_table,
    _outcome_table,
    _subscriptions_table,
    _write,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoFiles:
    """What :func:`generate` wrote."""

    directory: Path
    tables: dict[str, Path]  # canonical table name -> Parquet file, in load order
    ground_truth: Path
    counts: dict[str, int]  # rows per table


def _as_of_seconds(as_of: datetime) -> tuple[datetime, int]:
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    return as_of, (as_of - _EPOCH) // timedelta(seconds=1)


def _check(members: int, seed: int, activities_per_member: float) -> None:
    if not isinstance(members, int) or members < 1:
        raise InputError(f"members must be a whole number >= 1, got {members!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}.")
    if not math.isfinite(activities_per_member) or activities_per_member < 0:
        raise InputError(f"activities_per_member must be a finite number >= 0, got {activities_per_member!r}.")


def generate(
    members: int,
    seed: int,
    out_dir: Path,
    *,
    as_of: datetime = DEFAULT_AS_OF,
    activities_per_member: float = 20.0,
    progress: Callable[[str, float], None] | None = None,
) -> DemoFiles:
    """Write a synthetic B2B community with planted effects as Parquet files.

    Parameters
    ----------
    members
        Number of community members (>= 1). Accounts (~7.5 % of members), CRM contacts (one per
        member with an e-mail plus half as many non-members) and the other tables scale with it.
    seed
        Seed of ``numpy.random.default_rng``; the same arguments give byte-identical files.
    out_dir
        Folder to write into (created if missing); existing files of the same names are replaced.
    as_of
        The "now" of the data set: every timestamp is ``<= as_of``. Naive datetimes are read as UTC.
    activities_per_member
        Average number of activities per member (heavy-tailed: many lurkers, a few champions).
    progress
        Called as ``progress(stage, fraction)`` while the files are written.

    Returns
    -------
    DemoFiles
        The folder, the Parquet file of each canonical table (in load order), the path of
        ``ground_truth.json`` and the number of rows per table.

    Raises
    ------
    InputError
        If ``members``, ``seed`` or ``activities_per_member`` is out of range.

    Notes
    -----
    The planted effects (see the package docstring, :mod:`commetrics.demo`) are stated in
    ``ground_truth.json``; the engaged flag of every decided renewal is in
    ``truth_renewal_engaged.parquet``.
    """
    _check(members, seed, activities_per_member)
    report: Progress = progress or (lambda stage, fraction: None)
    as_of, now = _as_of_seconds(as_of)
    start = now - HISTORY_DAYS * DAY
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = {
        name: np.random.default_rng([seed, i])
        for i, name in enumerate(
            ("accounts", "members", "periods", "windows", "activities", "outcomes", "contacts", "surveys", "nps",
             "drivers")
        )
    }

    report("accounts", 0.0)
    accounts = _make_accounts(rng["accounts"], _account_count(members), start, now)
    report("members", 0.0)
    m = _make_members(rng["members"], members, accounts, start, now)
    periods = _make_periods(rng["periods"], accounts, now)
    win_lo, win_hi = _windows(periods, accounts.n, now)
    _settle_champions(rng["windows"], m, win_lo, start, now)
    window, window_count = _window_rows(rng["windows"], periods, m)
    target = max(activities_per_member * members - window.member.size, 0.0)
    bg = _background(rng["activities"], m, win_lo, win_hi, target, now)
    nps = _plan_nps(rng["nps"], m, now)

    account_ids = _ids("a", np.arange(1, accounts.n + 1), _width(accounts.n, 5))
    member_ids = _ids("m", np.arange(1, members + 1), _width(members, 6))
    contacts = _make_contacts(rng["contacts"], m, accounts, start, now)
    contact_ids = _ids("c", contacts.number, _width(contacts.n, 7))
    domains = _account_domains(accounts)
    paths = {name: out / f"{name}.parquet" for name in LOAD_ORDER}
    counts: dict[str, int] = {}

    outcomes = _Outcomes(as_of=now)
    early = _EarlyBehaviour.empty(m.n)
    report("activities", 0.0)
    counts["activities"] = _write_activities(
        paths["activities"], rng["activities"], m, member_ids, bg, window, nps, outcomes, report, early
    )
    report("outcomes", 0.0)
    m_conv = _member_outcomes(rng["outcomes"], m, outcomes)
    c_conv = _contact_outcomes(rng["outcomes"], contacts, outcomes)
    _account_outcomes(accounts, periods, outcomes)
    _lead_outcomes(rng["drivers"], m, early, outcomes)
    counts["outcomes"] = _write(paths["outcomes"], _outcome_table(outcomes, member_ids, contact_ids, account_ids))
    del outcomes

    report("tables", 0.0)
    members_table = _members_table(m, member_ids, account_ids, domains)
    counts["accounts"] = _write(paths["accounts"], _accounts_table(accounts, account_ids, now))
    counts["members"] = _write(paths["members"], members_table)
    stage = _lifecycle(contacts, accounts, m_conv, c_conv)
    contacts_table = _contacts_table(contacts, contact_ids, members_table, account_ids, domains, stage)
    counts["contacts"] = _write(paths["contacts"], contacts_table)
    counts["subscriptions"] = _write(paths["subscriptions"], _subscriptions_table(periods, account_ids))
    surveys = _surveys_table(rng["surveys"], nps, m, contacts, member_ids, contact_ids, now)
    counts["surveys"] = _write(paths["surveys"], surveys)
    _write(out / ENGAGED_FILE, _engaged_table(periods, window_count, account_ids))

    truth = _ground_truth(members, seed, as_of, activities_per_member, periods)
    truth_path = out / GROUND_TRUTH_FILE
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    report("done", 1.0)
    return DemoFiles(
        directory=out,
        tables=dict(paths),
        ground_truth=truth_path,
        counts={name: counts[name] for name in LOAD_ORDER},
    )
