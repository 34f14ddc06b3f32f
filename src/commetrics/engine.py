"""The Engine: the one object behind the library, the command line, the service and reports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from . import schema
from .config import Config
from .errors import InputError, UnknownNameError, WorkspaceError
from .identity.people import IDENTITY_INPUTS
from .ingest import LoadReport, load_file
from .privacy.keys import Keyring
from .store import Store, Workspace, quote_identifier

if TYPE_CHECKING:
    from ibis.backends.duckdb import Backend as IbisBackend
    from ibis.expr.types import Table as IbisTable

    from .metrics.conversion import ConversionSpec


@dataclass(frozen=True)
class Status:
    """What the store holds: rows per table, the latest loads, and quarantine by reason."""

    workspace: str
    tables: dict[str, int]
    loads: pd.DataFrame
    quarantine: pd.DataFrame
    people: int = 0  # resolved people (0: identities never resolved)
    identity_note: str = ""  # why the people may not describe the store ("" when they do)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "tables": self.tables,
            "loads": _records(self.loads),
            "quarantine": _records(self.quarantine),
            "people": self.people,
            "identity_note": self.identity_note,
        }


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    rows: list[dict[str, Any]] = []
    for record in out.to_dict(orient="records"):
        rows.append({str(k): (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()})
    return rows


class Engine:
    """Everything commetrics can do, over one workspace.

    Parameters
    ----------
    workspace
        The workspace folder (``commetrics.toml`` + ``commetrics.duckdb``). ``None`` uses
        ``$COMMETRICS_WORKSPACE`` or the current folder. Use :meth:`in_memory` for a throw-away
        store.
    config
        Settings to use instead of the workspace's ``commetrics.toml``.

    Examples
    --------
    >>> engine = Engine.in_memory()
    >>> engine.status().tables["members"]
    0
    """

    def __init__(self, workspace: str | Path | None = None, *, config: Config | None = None,
                 read_only: bool = False) -> None:
        self.workspace = Workspace.locate(workspace)
        self.config = config if config is not None else self.workspace.config()
        self.store = self.workspace.open_store(read_only=read_only)
        self._keyring: Keyring | None = None
        self._memory_entries: list[dict[str, Any]] = []  # the erasure ledger of an in-memory store
        self._batch: list[str] | None = None  # identity inputs loaded inside ``batch()``
        if not read_only:
            self._settle_erasures()

    @classmethod
    def init(cls, directory: str | Path | None = None) -> Engine:
        """Create the workspace (folder, ``commetrics.toml``, store) if needed and open it."""
        Workspace.locate(directory).init()
        return cls(directory)

    @classmethod
    def in_memory(cls, config: Config | None = None) -> Engine:
        """An engine over a fresh in-memory store (for notebooks and tests)."""
        engine = cls.__new__(cls)
        engine.workspace = Workspace(Path(":memory:"))
        engine.config = config or Config()
        engine.store = Store(":memory:")
        engine._keyring = Keyring.create(None)  # lives as long as the store does
        engine._memory_entries = []
        engine._batch = None
        return engine

    # -- loading -------------------------------------------------------------------------------

    def load(
        self,
        table: str,
        path: str | Path,
        *,
        source: str | None = None,
        mapping: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> LoadReport:
        """Load one CSV, Parquet or JSON Lines file into a canonical table.

        Valid rows are loaded; malformed rows go to ``quarantine`` with a reason code; rows
        already loaded are counted as duplicates. The counts satisfy
        ``rows_read = rows_loaded + rows_quarantined + rows_duplicate`` and are committed with
        the rows in one transaction.

        Parameters
        ----------
        table
            A canonical table: members, accounts, contacts, activities, outcomes,
            subscriptions, surveys or experiments.
        path
            The file. Its format is taken from its name (.csv, .tsv, .parquet, .jsonl, .gz).
        source
            The system the rows come from (keys are unique within a source). Default
            ``"default"``; a ``source`` column in the file overrides it per row.
        mapping
            Canonical column -> file column, for columns whose names differ.
        now
            Load time, for the future-timestamp check (default: the clock).
        """
        report = load_file(self.store.con, table, Path(path), settings=self.config.ingest, source=source,
                           mapping=mapping, now=now, erase=self._erase_loaded)
        if self.config.identity.resolve_on_load and table in IDENTITY_INPUTS and report.rows_loaded:
            if self._batch is None:
                self.resolve_identities()
            else:
                self._batch.append(table)
        return report

    @contextmanager
    def batch(self) -> Iterator[Engine]:
        """Load several files and resolve identities once at the end, not after each load.

        Examples
        --------
        >>> with engine.batch():  # doctest: +SKIP
        ...     engine.load("members", "members.csv")
        ...     engine.load("contacts", "contacts.csv")
        """
        outer = self._batch is not None
        if not outer:
            self._batch = []
        try:
            yield self
        finally:
            if not outer:
                pending, self._batch = self._batch, None
                if pending:
                    self.resolve_identities()

    def load_stackexchange(self, dump_dir: str | Path, *, source: str = "stackexchange",
                           now: datetime | None = None) -> list[LoadReport]:
        """Load a Stack Exchange data dump (Users, Posts, Comments, Votes, Badges XML, or .xml.gz).

        Members come from Users; questions, answers, comments, votes and badges become
        activities; each accepted answer is an ``accepted_answer`` outcome of the asker.
        """
        from .sources import stackexchange

        return stackexchange.load(self, Path(dump_dir), source=source, now=now)

    def load_many(self, table: str, paths: Iterable[str | Path], **options: Any) -> list[LoadReport]:
        """Load several files into one table, each in its own transaction."""
        with self.batch():
            return [self.load(table, path, **options) for path in paths]

    # -- conversion --------------------------------------------------------------------------------

    def conversion_spec(
        self,
        name: str | None = None,
        *,
        outcome: str | Sequence[str] | None = None,
        anchor: str | None = None,
        windows: Sequence[int] | None = None,
        unit: Literal["person", "account"] | None = None,
        by: Sequence[str] = (),
    ) -> ConversionSpec:
        """A named conversion of ``commetrics.toml``, or an ad-hoc one from ``outcome`` (flags override)."""
        from .metrics.conversion import ConversionSpec  # analyses load Ibis only when used
        if name is not None:
            definitions = self.config.conversions
            if name not in definitions:
                raise UnknownNameError.for_name("conversion", name, definitions,
                                                "Define it under [conversions.NAME] in commetrics.toml, "
                                                "or pass --outcome TYPE for an ad-hoc conversion.")
            d = definitions[name]
            outcomes = d.outcomes if outcome is None else _as_tuple(outcome)
            return ConversionSpec(name=name, outcomes=outcomes, anchor=anchor or d.anchor,
                                  windows=tuple(windows or d.windows), unit=unit or d.unit,
                                  description=d.description, owner=d.owner, family=d.family,
                                  landmark_days=d.landmark_days, by=tuple(by))
        if outcome is None:
            msg = ("Name a conversion defined in commetrics.toml (commetrics config lists them) or give "
                   "--outcome TYPE, e.g. --outcome trial_start.")
            raise InputError(msg)
        outcomes = _as_tuple(outcome)
        return ConversionSpec(name="+".join(outcomes), outcomes=outcomes, anchor=anchor or "join",
                              windows=tuple(windows or (7, 30, 60, 90)), unit=unit or "person", by=tuple(by))

    def conversion(
        self,
        name: str | None = None,
        *,
        outcome: str | Sequence[str] | None = None,
        anchor: str | None = None,
        windows: Sequence[int] | None = None,
        by: Sequence[str] = (),
        unit: Literal["person", "account"] | None = None,
        as_of: datetime | None = None,
        reference: str | None = None,
        baseline: bool | None = None,
    ) -> pd.DataFrame:
        """Community Conversion Rate per cohort cell and window (see :mod:`commetrics.metrics.conversion`).

        Parameters
        ----------
        name
            A conversion defined under ``[conversions.NAME]`` in ``commetrics.toml``.
        outcome, anchor, windows, unit
            An ad-hoc conversion, or overrides of the named one. ``anchor`` is ``"join"`` (first
            join), an activity type such as ``"question"``, or ``"program:NAME"``.
        by
            Cohort keys: join_month, join_week, entry_path, first_activity, segment, program.
        as_of
            The data's "now" (default: the latest instant in the loaded data).
        reference
            The cohort the others are compared with (default: the one with most eligible anchors;
            with ``baseline`` and no cohort keys, the baseline).
        baseline
            Add the non-community baseline: CRM contacts who never joined, anchored at their
            creation (person conversions anchored at the join only). ``None`` (default): add it
            whenever such contacts exist and the conversion allows it.

        Returns
        -------
        pandas.DataFrame
            One row per cohort and window: eligible, in_progress, converters, rate, Wilson
            ci_low/ci_high, existing_customers, small, and diff/diff_low/diff_high (Newcombe)
            against the reference cohort.

        Examples
        --------
        >>> engine.conversion(outcome="trial_start", by=["entry_path"], windows=[30, 90])  # doctest: +SKIP
        """
        from .metrics.conversion import conversion_rates, has_never_joined_contacts

        spec = self.conversion_spec(name, outcome=outcome, anchor=anchor, windows=windows, unit=unit, by=by)
        if baseline is None:
            baseline = spec.unit == "person" and spec.anchor == "join" and has_never_joined_contacts(self.ibis())
        return conversion_rates(self.ibis(), spec, as_of=self.as_of(as_of), zone=self.config.reporting.timezone,
                                reference=reference, baseline=baseline)

    def time_to_conversion(self, name: str | None = None, *, as_of: datetime | None = None,
                           **options: Any) -> pd.DataFrame:
        """Median days among converters and the Kaplan–Meier time to conversion, per cohort."""
        from .metrics.conversion import time_to_conversion

        spec = self.conversion_spec(name, **options)
        return time_to_conversion(self.ibis(), spec, as_of=self.as_of(as_of), zone=self.config.reporting.timezone)

    def conversion_curves(self, name: str | None = None, *, as_of: datetime | None = None,
                          **options: Any) -> pd.DataFrame:
        """Cumulative conversion curves (1 - Kaplan–Meier) per cohort, up to the longest window."""
        from .metrics.conversion import cumulative_curves

        spec = self.conversion_spec(name, **options)
        return cumulative_curves(self.ibis(), spec, as_of=self.as_of(as_of), zone=self.config.reporting.timezone)

    def conversion_timing(self, name: str | None = None, *, as_of: datetime | None = None,
                          **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Time to conversion and the cumulative curves together, estimating Kaplan–Meier once."""
        from .metrics.conversion import cumulative_curves, km_by_cohort, time_to_conversion

        spec = self.conversion_spec(name, **options)
        moment, zone = self.as_of(as_of), self.config.reporting.timezone
        km = km_by_cohort(self.ibis(), spec, moment, zone)
        return (time_to_conversion(self.ibis(), spec, as_of=moment, zone=zone, km=km),
                cumulative_curves(self.ibis(), spec, as_of=moment, zone=zone, km=km))

    def attribution(
        self,
        model: str | Sequence[str] = "all",
        *,
        outcome: str | Sequence[str] | None = None,
        lookback_days: int = 90,
        by: str = "program",
        unit: str = "person",
        currency: str | None = None,
        half_life_days: float = 7.0,
        as_of: datetime | None = None,
        paths: pd.DataFrame | str | Path | None = None,
        ci: bool = False,
        replicates: int = 200,
        order: int = 1,
    ) -> pd.DataFrame:
        """Credit for conversions and their value per community touchpoint class, model by model.

        Parameters
        ----------
        model
            first, last, linear, position, time_decay, markov, shapley, or ``"all"``.
        outcome
            The outcome types whose conversions are attributed (default: the revenue outcomes
            purchase, upgrade, seat_expansion, cross_sell, renewal).
        lookback_days
            Touches up to this many days before a conversion count; later touches never do.
        by
            The touchpoint class: the activity's ``type``, ``channel``, ``program`` or ``tag``
            (a tagged activity is one touch per tag).
        unit
            ``person``: a conversion's journey is its member's touches. ``account``: the
            conversion is the account's (keyed by the account or one of its members) and its
            journey holds the touches of every member of the account, so credit is split across
            the members' touches.
        currency
            Attribute only the outcomes in this currency (and those without a value); needed when
            the outcomes' values are in more than one currency.
        half_life_days
            Time decay: a touch this many days before the conversion weighs half as much.
        paths
            An aggregated path table (path, total_conversions, total_conversion_value,
            total_null), as a DataFrame or a CSV file, to attribute instead of the store's journeys.
        order
            Order of the Markov chain (1 to 4), solved exactly.
        ci
            Add 95% bootstrap intervals (``conversions_low`` ... ``value_high``) from
            ``replicates`` resamples of the journeys.

        Returns
        -------
        pandas.DataFrame
            ``model``, ``class``, ``conversions``, ``value``, ``share``, and ``journeys`` (the
            distinct converting people, or accounts, with a touch of the class: what small-cell
            suppression counts); per model the columns sum to the conversions (and value) that
            had at least one community touch. ``attrs`` holds ``conversions_without_touch`` and
            ``value_without_touch``, and the people behind touched and untouched conversions.
        """
        from .metrics.attribution import (
            MODELS,
            REVENUE_OUTCOMES,
            Journeys,
            Paths,
            attribute,
            bootstrap_intervals,
            build_journeys,
            read_path_file,
            read_paths,
        )

        models = list(MODELS) if model == "all" else ([model] if isinstance(model, str) else list(model))
        data: Journeys | Paths
        if paths is not None:
            models = [m for m in models if m != "time_decay"] if model == "all" else models
            data = read_paths(paths) if isinstance(paths, pd.DataFrame) else read_path_file(paths)
            without = (0, 0.0)
        else:
            data = build_journeys(self.ibis(), outcomes=_as_tuple(outcome or REVENUE_OUTCOMES),
                                  lookback_days=lookback_days,
                                  grain=by, as_of=self.as_of(as_of), unit=unit, currency=currency)
            without = (data.conversions_without_touch, data.value_without_touch)
        result = attribute(data, models, half_life_days=half_life_days, order=order)
        if ci:
            intervals = [bootstrap_intervals(data, m, replicates=replicates, order=order,
                                             half_life_days=half_life_days).assign(model=m) for m in models]
            if intervals:
                kept = dict(result.attrs)  # a merge drops attrs: keep the people counts behind the classes
                result = result.merge(pd.concat(intervals), on=["model", "class"], how="left")
                result.attrs.update(kept)
        result.attrs.update(conversions_without_touch=without[0], value_without_touch=without[1])
        return result

    def scores(self, level: str = "members", *, as_of: datetime | None = None, save: bool = False) -> pd.DataFrame:
        """Engagement scores of members or health scores of accounts at ``as_of``.

        Parameters
        ----------
        level
            ``members``: ``member_id``, ``account_id``, ``score``, ``activities``, ``last_active``,
            ``active``, ``tier`` — only members who gave consent (person-level output; missing
            consent counts as no), with the number withheld in ``attrs``. ``accounts``: the
            roll-up (``engagement``, ``members``, ``active_members``, ``active_ratio``,
            ``days_since_active``), the 0-100 components, ``health``, ``band``, ``missing``
            (components without data) and ``trend`` (change since ``trend_days`` earlier).
        save
            Keep a snapshot of the scores for this as-of date (replacing one of the same date)
            in ``score_snapshots``, so trends and changes can be read later.
        """
        from .metrics.scores import account_health, member_engagement

        if level not in ("members", "accounts"):
            raise InputError(f"Scores are for members or accounts, not {level!r}.")
        moment = self.as_of(as_of)
        settings = self.config.scores
        if level == "members":
            every = member_engagement(self.ibis(), settings.engagement, moment)
            consented = every["member_id"].isin(self._consenting_members())
            frame = every[consented].reset_index(drop=True)
            frame.attrs["withheld_without_consent"] = int((~consented).sum())
            snapshot = every.assign(id=every["member_id"], label=every["tier"],
                                    details=every[["activities", "active"]].to_dict(orient="records"))
        elif level == "accounts":
            accounts = self.ibis().table("accounts").select("account_id").distinct().execute()["account_id"]
            earlier = moment - timedelta(days=settings.health.trend_days)
            points = pd.DataFrame({"account_id": [*accounts, *accounts],
                                   "t": [moment] * len(accounts) + [earlier] * len(accounts)})
            both = account_health(self.ibis(), settings.engagement, settings.health, points)
            now = both[both["t"] == pd.Timestamp(moment)].drop(columns="t")
            before = both[both["t"] == pd.Timestamp(earlier)][["account_id", "health"]]
            frame = now.merge(before.rename(columns={"health": "health_before"}), on="account_id", how="left")
            frame = frame.assign(trend=frame["health"] - frame["health_before"]).drop(columns="health_before")
            frame = frame.sort_values("account_id", ignore_index=True)
            from .metrics.scores import COMPONENTS

            kept = ["engagement", "members", "active_members", "active_ratio", *COMPONENTS]
            snapshot = frame.assign(id=frame["account_id"], score=frame["health"], label=frame["band"],
                                    details=frame[kept].astype(float).round(4).to_dict(orient="records"))
        if save:
            self._save_snapshot(level[:-1], moment, snapshot)
        frame.attrs["as_of"] = moment.isoformat()
        return frame

    def crm_records(self, *, as_of: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The CRM write-back: (contacts, companies).

        Contacts are members **with consent** (person-level): ``email``, ``member_id``,
        ``community_engagement_score``, ``community_tier``, ``community_last_active`` and
        ``community_tags`` (``community-<tier>``, plus ``community-active`` when active). Companies
        are accounts: ``account_id``, ``domain``, ``health_score``, ``health_band``,
        ``community_engagement_score`` and ``community_active_members``.
        """
        from .metrics import fetch

        members = self.scores("members", as_of=as_of)
        withheld = members.attrs.get("withheld_without_consent", 0)
        m = self.ibis().table("members")
        emails = m.filter(m.email.notnull()).group_by("member_id").aggregate(email=m.email.argmax(m.load_id))
        members = members.merge(fetch(emails), on="member_id", how="left")
        tags = ["community-" + str(t) + (";community-active" if a else "")
                for t, a in zip(members["tier"], members["active"], strict=True)]
        contacts = pd.DataFrame({
            "email": members["email"], "member_id": members["member_id"],
            "community_engagement_score": members["score"], "community_tier": members["tier"],
            "community_last_active": members["last_active"], "community_tags": tags,
        })
        accounts = self.scores("accounts", as_of=as_of)
        companies = pd.DataFrame({
            "account_id": accounts["account_id"], "domain": accounts["domain"],
            "health_score": accounts["health"], "health_band": accounts["band"],
            "community_engagement_score": accounts["engagement"],
            "community_active_members": accounts["active_members"],
        })
        contacts.attrs["withheld_without_consent"] = withheld
        return contacts, companies

    def _consenting_members(self) -> set[str]:
        """Members with consent = true on every record of theirs (missing consent counts as no)."""
        from .metrics import fetch

        m = self.ibis().table("members")
        agreed = m.group_by("member_id").aggregate(ok=m.consent.fill_null(False).all())
        return set(fetch(agreed.filter(agreed.ok).select("member_id"))["member_id"])

    def _save_snapshot(self, level: str, moment: datetime, snapshot: pd.DataFrame) -> None:
        if self.store.read_only:
            raise InputError("Saving score snapshots needs a writable workspace; open it without read_only.")
        day = moment.date()
        rows = pd.DataFrame({"snapshot_date": day, "level": level, "id": snapshot["id"].astype(str),
                             "score": snapshot["score"].astype(float), "label": snapshot["label"].astype(object),
                             "details": [json.dumps(d, default=str) for d in snapshot["details"]]})
        con = self.store.con
        con.execute("begin transaction")
        try:
            con.execute("delete from score_snapshots where snapshot_date = ? and level = ?", [day, level])
            con.register("_snapshot_rows", rows)
            con.execute("insert into score_snapshots select snapshot_date, level, id, score, label, "
                        "details::JSON, now() from _snapshot_rows")
            con.unregister("_snapshot_rows")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def score_changes(self, level: str = "accounts", *, days: int = 30) -> pd.DataFrame:
        """What changed: members (tier) or accounts (band) whose label differs between the latest
        snapshot and the latest one at least ``days`` earlier; ``id``, ``date_before``, ``label_before``,
        ``score_before``, ``date_now``, ``label_now``, ``score_now``. Members are listed only with consent
        (the number left out is in ``attrs``)."""
        if level not in ("members", "accounts"):
            raise InputError(f"Scores are for members or accounts, not {level!r}.")
        rows = self.store.con.execute(
            """
            with s as (select * from score_snapshots where level = ?),
            latest as (select max(snapshot_date) as d from s),
            earlier as (select max(snapshot_date) as d from s, latest where snapshot_date <= latest.d - ?::INTEGER)
            select n.id, b.snapshot_date as date_before, b.label as label_before, b.score as score_before,
                   n.snapshot_date as date_now, n.label as label_now, n.score as score_now
            from s n join latest on n.snapshot_date = latest.d
            join s b on b.id = n.id join earlier on b.snapshot_date = earlier.d
            where b.label is distinct from n.label
            order by n.id
            """, [level[:-1], days]).fetchdf()
        if level == "members":  # person-level: members with consent only (the history itself keeps everyone)
            consented = rows["id"].isin(self._consenting_members())
            rows = rows[consented].reset_index(drop=True)
            rows.attrs["withheld_without_consent"] = int((~consented).sum())
        return rows

    def validate_health(self, *, as_of: datetime | None = None, replicates: int = 1000) -> dict[str, Any]:
        """Health taken ``lead_days`` before each decided renewal against its outcome: AUC with a bootstrap
        interval, the AUC the community component adds, churn per band, learned weights beside the
        configured ones (see :func:`commetrics.metrics.scores.validate_health`)."""
        from .metrics.scores import account_health, validate_health

        moment = self.as_of(as_of)
        settings = self.config.scores
        s = self.ibis().table("subscriptions")
        decided = s.filter(s.renewed.notnull() & (s.period_end <= moment)).execute()
        lead = pd.Timedelta(days=settings.health.lead_days)
        snapshots = pd.DataFrame({"account_id": decided["account_id"], "t": decided["period_end"] - lead,
                                  "churned": ~decided["renewed"].astype(bool)})
        frame = account_health(self.ibis(), settings.engagement, settings.health, snapshots)
        return validate_health(frame, settings.health, replicates=replicates)

    def impact(self, question: str = "renewal", *, as_of: datetime | None = None, exposure: str | None = None,
               outcome: str | None = None, window_days: int = 30, exposure_days: int = 90,
               covariates: Sequence[str] = (), experiment: str | None = None,
               control: str | None = None, horizon_days: int = 180, measure: str = "value", pre_months: int = 6,
               post_months: int = 6, estimand: Literal["att", "ate"] | None = None, refute: bool = False,
               seed: int = 0) -> dict[str, Any]:
        """How engagement relates to renewal, retention and NPS; raw figures beside adjusted associations.

        ``question``:

        * ``renewal``: engaged vs not engaged decided renewals. ``levels`` (renewal rate per
          participation level, Wilson intervals), ``quarters``, ``raw`` (Newcombe), ``adjusted``
          (AIPW, the headline), ``ipw``, ``matched`` (1:1 nearest neighbour on the logit propensity,
          caliper 0.2 SD), ``balance`` (standardised mean differences before/after weighting),
          ``overlap``, ``ess`` and ``e_value``.
        * ``retention``: Kaplan–Meier retention per participation level from a landmark
          (participation before it), the log-rank test, and a Cox model of churn on the level with
          the covariates (hazard ratios; groups with no churn are listed and left out).
        * ``nps``: NPS with its interval per participation level (participation before each
          answer), response rates per level, the Spearman correlation with a bootstrap interval
          over members, and an ordinal logit with tenure.
        * ``csat``: the same for CSAT (1-5; the share of 4s and 5s, Wilson intervals).
        * ``upsell``: expansion (upgrade, seat_expansion, cross_sell) in the ``horizon_days``
          after an account's first participation, against accounts matched on the covariates
          that had not yet participated then (risk-set matching: both clocks start together).
        * ``exposure``: "did members with an ``exposure`` activity (type, or ``program:NAME``) in
          the ``exposure_days`` before a landmark have the ``outcome`` more often in the
          ``window_days`` after it?" — raw and adjusted (AIPW) differences controlling for tenure,
          prior activity and the member attributes in ``covariates``, with balance and overlap.
        * ``experiment``: an A/B test of ``experiment`` on ``outcome`` (comma-separated for several)
          within ``window_days`` of exposure: rates per variant, the sample-ratio check, each
          variant against ``control`` (Newcombe, z-test, Holm over all comparisons), CUPED on the
          activities in the ``exposure_days`` before exposure, and the minimum detectable effect.
        * ``campaign``: a community-targeted campaign (``experiment``: its name in the experiments
          table, accounts as units) against the control arm or never-reached accounts: the monthly
          ``measure`` (value or count) of ``outcome`` (default: expansion), two-way fixed-effects
          difference-in-differences, the event study from ``pre_months`` before to ``post_months``
          after the start, and the pre-trend test. See :mod:`commetrics.metrics.campaign`.

        See :mod:`commetrics.metrics.impact`.
        """
        from .metrics.impact import (
            experiment_impact,
            experiment_table,
            exposure_impact,
            exposure_table,
            renewal_impact,
            renewal_table,
            retention_impact,
            retention_table,
            survey_impact,
            upsell_impact,
            upsell_table,
        )

        settings = self.config.impact
        if estimand is not None:
            settings = settings.model_copy(update={"estimand": estimand})
        moment = self.as_of(as_of)
        if question == "renewal":
            return renewal_impact(renewal_table(self.ibis(), settings, moment), settings, seed=seed, refute=refute)
        if question == "retention":
            return retention_impact(retention_table(self.ibis(), settings, moment), settings)
        if question in ("nps", "csat"):
            return survey_impact(self.ibis(), settings, moment, kind=question, seed=seed, refute=refute)
        if question == "exposure":
            if not exposure or not outcome:
                raise InputError("The exposure question needs exposure= (an activity type or program:NAME) and "
                                 "outcome= (an outcome type).")
            table = exposure_table(self.ibis(), exposure=exposure, outcome=outcome, window_days=window_days,
                                   exposure_days=exposure_days, covariates=tuple(covariates), as_of=moment)
            return exposure_impact(table, exposure=exposure, outcome=outcome, settings=settings, seed=seed,
                                   refute=refute)
        if question == "upsell":
            accounts, expansions = upsell_table(self.ibis(), settings, moment)
            return upsell_impact(accounts, expansions, as_of=moment, horizon_days=horizon_days, settings=settings)
        if question == "experiment":
            if not experiment or not outcome:
                raise InputError("The experiment question needs experiment= (its name) and outcome= (one outcome "
                                 "type, or several separated by commas).")
            kinds = tuple(o.strip() for o in outcome.split(",") if o.strip())
            table = experiment_table(self.ibis(), name=experiment, outcomes=kinds, window_days=window_days,
                                     pre_days=exposure_days, as_of=moment)
            return experiment_impact(table, outcomes=kinds, control=control)
        if question == "campaign":
            from .metrics.campaign import campaign_impact, campaign_table
            from .metrics.impact import EXPANSION_OUTCOMES

            if not experiment:
                raise InputError("The campaign question needs experiment= (the campaign's name in the experiments "
                                 "table).")
            kinds = tuple(o.strip() for o in (outcome or ",".join(EXPANSION_OUTCOMES)).split(",") if o.strip())
            panel = campaign_table(self.ibis(), name=experiment, outcomes=kinds, measure=measure, as_of=moment,
                                   pre=pre_months, post=post_months, control=control)
            return campaign_impact(panel, pre=pre_months, post=post_months)
        raise InputError(f"Impact questions available: renewal, retention, nps, csat, upsell, exposure, experiment, "
                         f"campaign; "
                         f"{question!r} is not one of them yet.")

    def feedback_contributors(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        """Members who gave feedback, whether it shipped and what their account did next — the
        contributors to thank. Person-level: only members with consent are listed (the number left
        out is in ``attrs``). See :func:`commetrics.metrics.impact.feedback_contributors`."""
        from .metrics.impact import feedback_contributors

        frame = feedback_contributors(self.ibis(), self.as_of(as_of))
        consented = frame["member_id"].isin(self._consenting_members())
        shown = frame[consented].reset_index(drop=True)
        shown.attrs["withheld_without_consent"] = int((~consented).sum())
        return shown

    def community_metrics(self, *, as_of: datetime | None = None, since: datetime | None = None) -> pd.DataFrame:
        """Activation rate, contributor share, contribution-to-consumption ratio, accepted-answer rate and
        revenue per member (see :mod:`commetrics.metrics.community`)."""
        from .metrics.community import community_metrics

        return community_metrics(self.ibis(), as_of=self.as_of(as_of), since=since)

    def report(self, path: str | Path, *, conversions: Sequence[str] | None = None,
               by: Sequence[str] = ("entry_path", "join_month"), as_of: datetime | None = None) -> Path:
        """Write the self-contained HTML conversion report (tables, charts, definitions) to ``path``."""
        from .reports.build import write_report

        return write_report(self, path, conversions=conversions, by=by, as_of=as_of)

    def as_of(self, as_of: datetime | None = None) -> datetime:
        """The "now" analyses use: ``as_of`` (naive read as UTC), else the latest instant loaded.

        Exports are snapshots: measuring against the clock would count the time since the export
        as time in which nobody converted.
        """
        if as_of is None:
            from .metrics.conversion import data_as_of

            return data_as_of(self.ibis())
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)

    # -- looking at the store ------------------------------------------------------------------

    def status(self, *, last_loads: int = 10) -> Status:
        """Rows per table, the latest loads and the quarantine summary."""
        con = self.store.con
        loads = con.execute(
            f"""
            select load_id, table_name, source, file, rows_read, rows_loaded, rows_quarantined,
                rows_duplicate, finished_at
            from {schema.LEDGER_TABLE}
            order by load_id desc
            limit $n
            """,
            {"n": last_loads},
        ).df()
        quarantine = con.execute(
            f"""
            select table_name, reason, count(*) as rows
            from {schema.QUARANTINE_TABLE}
            group by table_name, reason
            order by table_name, rows desc, reason
            """
        ).df()
        people = int(con.execute("select count(distinct person_id) from people").fetchall()[0][0])
        return Status(str(self.workspace.directory), self.store.row_counts(), loads, quarantine, people=people,
                      identity_note=self.identity_note())

    def quarantine(self, *, table: str | None = None, reason: str | None = None,
                   load_id: int | None = None, limit: int | None = None) -> pd.DataFrame:
        """Quarantined rows (file, line, reason, column, detail and the raw record)."""
        if table is not None and table not in schema.TABLES:
            msg = f"Unknown table {table!r}; quarantine holds rows of: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        sql = f"""
            select load_id, table_name, source, file, line, reason, column_name, detail, record
            from {schema.QUARANTINE_TABLE}
            where ($table is null or table_name = $table)
                and ($reason is null or reason = $reason)
                and ($load_id is null or load_id = $load_id)
            order by load_id, file, line
        """
        params: dict[str, Any] = {"table": table, "reason": reason, "load_id": load_id}
        if limit is not None:
            sql += " limit $limit"
            params["limit"] = limit
        return self.store.con.execute(sql, params).df()

    def table(self, name: str) -> pd.DataFrame:
        """A whole canonical table as a DataFrame (small tables; analyses use :meth:`ibis`)."""
        if name not in schema.TABLES:
            msg = f"Unknown table {name!r}. Tables: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        columns = ", ".join(quote_identifier(c) for c in (*schema.TABLES[name].column_names, "source", "load_id"))
        return self.store.con.execute(f"select {columns} from {quote_identifier(name)} order by load_id").df()

    def ibis(self) -> IbisBackend:
        """The Ibis connection that analyses use."""
        return self.store.ibis()

    def ibis_table(self, name: str) -> IbisTable:
        """A canonical table as an Ibis expression: its columns plus ``source`` and ``load_id``."""
        if name not in schema.TABLES:
            msg = f"Unknown table {name!r}. Tables: {', '.join(schema.TABLES)}."
            raise InputError(msg)
        return self.store.ibis().table(name).select(*schema.TABLES[name].column_names, "source", "load_id")

    # -- identity --------------------------------------------------------------------------------

    def resolve_identities(self) -> dict[str, Any]:
        """Link every member and CRM contact into people, and people into accounts.

        E-mail and explicit maps first, then probabilistic linkage on names, handles and
        companies (``[identity]`` in ``commetrics.toml``), with the manual overrides applied on
        top. Replaces ``people`` and ``identity_links``; analyses count people from then on. Runs
        after each load of members, contacts or identity maps unless ``resolve_on_load = false``.
        See :mod:`commetrics.identity.people`.
        """
        from .identity.people import resolve_store

        self._writable("Identity resolution")
        settings = self.config.identity
        run = resolve_store(self.store.con, threshold=settings.match_threshold, probabilistic=settings.probabilistic,
                            free_mail=settings.free_mail)
        return run.as_dict()

    def explain_identity(self, identifier: str) -> dict[str, Any]:
        """Who ``identifier`` (member id, contact id, e-mail, ``m:``/``c:`` record id or ``p:`` person
        id) is: their person, records, account, and every link with its rule or match weights."""
        from .identity.people import explain

        return explain(self.store.con, identifier)

    def override_identity(self, a: str, b: str, decision: Literal["link", "unlink", "clear"]) -> dict[str, Any]:
        """Decide by hand that two records are one person (``link``), are not (``unlink``), or leave
        it to the evidence again (``clear``); the people are resolved again at once. Overrides are
        kept in ``identity_overrides`` and win over the evidence in every later run."""
        from .identity.people import remove_override, set_override

        self._writable("An identity override")
        if decision == "clear":
            first, second, replaced = remove_override(self.store.con, a, b)
        else:
            first, second, replaced = set_override(self.store.con, a, b, decision)
        run = self.resolve_identities()
        people = dict(self.store.con.execute("select record_id, person_id from people where record_id in (?, ?)",
                                             [first, second]).fetchall())
        return {"record_a": first, "record_b": second, "decision": decision, "replaced": replaced,
                "person_a": people.get(first), "person_b": people.get(second), "run": run}

    def identity_note(self) -> str:
        """Why the resolved people may not describe the store ("" when they do)."""
        from .identity.people import stale

        return stale(self.store.con)

    def _writable(self, what: str) -> None:
        if self.store.read_only:
            raise InputError(f"{what} needs a writable workspace; open it without read_only.")

    # -- privacy ---------------------------------------------------------------------------------

    @property
    def _on_disk(self) -> bool:
        return str(self.workspace.directory) != ":memory:"

    @property
    def keyring(self) -> Keyring:
        """The workspace's pseudonym keys (``commetrics.keys``; in memory for :meth:`in_memory`)."""
        if self._keyring is None:
            self._keyring = Keyring.open(self.workspace.keys_path)
        return self._keyring

    def _erasure_ledger(self) -> Path | None:
        return self.workspace.erasure_path if self._on_disk else None

    def _erase_loaded(self, con: Any, table: schema.Table, load_id: int) -> int:
        from .privacy.erasure import erase_loaded, read_ledger

        entries = read_ledger(self._erasure_ledger()) if self._on_disk else self._memory_entries
        if not entries:
            return 0  # nothing was ever erased: no key needed, no cost
        return erase_loaded(con, self.keyring, table, load_id, entries)

    def _reopen(self) -> None:
        """Close the store, compact the file (erased values leave the bytes), open it again."""
        from .privacy.erasure import compact

        self.store.close()
        compact(self.workspace.database_path)
        self.store = self.workspace.open_store()

    def _settle_erasures(self) -> None:
        """On open: re-apply erasures the database does not know (restored from an older copy) and
        finish a compaction an interrupted ``forget`` left pending."""
        from .privacy.erasure import pending_compaction, read_ledger, reapply

        entries = read_ledger(self.workspace.erasure_path)
        if not entries:
            return
        reapply(self.store.con, self.keyring, entries)
        if pending_compaction(self.store.con):
            self._reopen()

    def export_pseudonymised(self, out: str | Path, *, tables: Sequence[str] | None = None,
                             file_format: Literal["parquet", "csv"] = "parquet") -> dict[str, Any]:
        """Write the store's tables into the folder ``out`` with every person identifier replaced by
        its keyed pseudonym (HMAC-SHA-256, workspace key), names and attributes left out, and only
        members and contacts with consent; returns the manifest (also ``manifest.json``). See
        :mod:`commetrics.privacy.export`."""
        from .privacy.export import export_pseudonymised

        return export_pseudonymised(self.store.con, self.keyring, Path(out), tables=tables, file_format=file_format)

    def forget(self, identifier: str) -> dict[str, Any]:
        """Erase one person — an e-mail, member id or contact id — from every table.

        Every member and contact resolved into the same person goes too. The erasure is recorded
        with keyed pseudonyms only (``erasures`` table and the ``commetrics.erasures`` file), the
        database file is compacted so the deleted bytes are gone, and later loads drop the
        person's rows on arrival. A repeated request changes nothing and says so. Exports and
        reports written before must be written again; the result says which tables changed.
        See :mod:`commetrics.privacy.erasure`.
        """
        from .privacy.erasure import forget

        self._writable("Erasure")
        result = forget(self.store.con, self.keyring, identifier, ledger=self._erasure_ledger())
        if result.erasure_id and self.store.con.execute("select count(*) from identity_runs").fetchall()[0][0]:
            self.resolve_identities()  # the derived people: the rest of a merged person may stand apart now
        if not self._on_disk and result.erasure_id:
            self._memory_entries.append(result.entry)
        compacted = False
        if self._on_disk and result.erasure_id:
            self._reopen()
            compacted = True
        out = result.as_dict()
        out["compacted"] = compacted
        return out

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Engine", "Status", "WorkspaceError"]
