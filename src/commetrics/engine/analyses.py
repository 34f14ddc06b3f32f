"""The Engine's analyses: every registered analysis run into a published :class:`~commetrics.results.Result`.

:meth:`AnalysesPart.run` is the one path: the analysis's spec takes its defaults from the config, its
compute step reads the store, and — unless the analyst asks for ``exact=True`` — its publish step
applies the workspace's publication policy (consent, small cells with their partners, withheld
figures). The named methods (``conversion``, ``attribution``, ``impact`` ...) are that call with the
analysis's parameters spelled out.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pandas as pd

from ..errors import BackendError, CommetricsError, NotEnoughDataError, UnknownNameError
from ..metrics.analysis import ANALYSES, Analysis, Computed, SpecBase
from ..results import Publication, Result
from .base import EngineBase
from .cache import Uncacheable, cache_key, settings_digest

if TYPE_CHECKING:
    from ..metrics.conversion import ConversionSpec

__all__ = ["AnalysesPart"]

T = TypeVar("T")

#: keywords of :meth:`AnalysesPart.impact` that older code used, and the parameter each now is
_IMPACT_ALIASES = {"experiment": "name", "pre_months": "pre", "post_months": "post"}


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


class AnalysesPart(EngineBase):
    """Runs analyses and returns Results."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Rows of a read-only SQL query on the store (for analyses of the store's own history tables)."""
        return self.store.con.execute(sql, list(params)).fetchdf()

    @property
    def shares(self) -> bool:
        """Whether :meth:`shared` keeps what it computes (the Engine keeps Results: ``cache=True``)."""
        return self.cache is not None

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, data several analyses read (an attribution's journeys): with a results cache, computed
        once per data version by all the Engines of this process and kept in memory until the data changes
        (:meth:`ResultCache.shared <commetrics.engine.cache.ResultCache.shared>`); without one, computed here.
        ``key`` names it and every parameter it depends on."""
        if self.cache is None:
            return compute()
        return self.cache.shared(self.data_version(), (self.backend, key), compute, lambda: self._interrupted,
                                 self.waiting)

    def _spec(self, analysis: str, params: dict[str, Any]) -> tuple[Analysis[Any], SpecBase]:
        """The analysis and its spec: the defaults from the config, and the data's "now" when there is one."""
        entry = ANALYSES.get(analysis)
        spec = entry.spec.from_config(self.config, **params)
        # The Result says which "now" it used; an empty store has none, and analyses that need one say so.
        with contextlib.suppress(NotEnoughDataError):
            spec = spec.with_as_of(self.as_of(spec.as_of))
        return entry, spec

    def _computed(self, analysis: str, params: dict[str, Any]) -> tuple[Analysis[Any], SpecBase, Computed]:
        entry, spec = self._spec(analysis, params)
        return entry, spec, self._compute(entry, spec)

    def _compute(self, entry: Analysis[Any], spec: SpecBase) -> Computed:
        analysis = entry.name
        try:
            return entry.compute(self, spec)
        except CommetricsError:
            raise
        except Exception as exc:
            if self.backend != "spark":
                raise
            # An expression Spark cannot compile or run: say which analysis, and how to get its figures.
            detail = (str(exc).strip().splitlines() or [""])[0][:300]
            raise BackendError(f"The analysis {analysis!r} could not run on Spark ({type(exc).__name__}: {detail}); "
                               "nothing was computed. Run it on the store with [engine] backend = \"duckdb\" (or an "
                               "Engine without spark=), and report the analysis with this message.") from exc

    def run(self, analysis: str, *, exact: bool = False, **params: Any) -> Result:
        """Run a registered analysis (``commetrics.metrics.analysis.ANALYSES``) with ``params``.

        Parameters the caller leaves out take the workspace's config defaults. The Result's
        published figures have the publication policy applied (``privacy.min_cell_size``, consent);
        ``exact=True`` publishes the exact figures instead — for the analyst who holds the data, never
        for sharing.
        """
        entry, spec = self._spec(analysis, params)
        if self.cache is None or exact:
            return self._result(entry, spec, self._compute(entry, spec), exact=exact)
        # The Engine was opened with cache=True: the published Result of the same question on the same data
        # is read back instead of computed (see commetrics.engine.cache).
        try:
            key = self._cache_key(entry, spec)
        except Uncacheable:
            self.cache.stats.uncacheable += 1
            return self._result(entry, spec, self._compute(entry, spec), exact=False)
        version = self.data_version()
        cached = self.cache.get(version, key)
        if cached is not None:
            return cached
        # The same question asked by two Engines of this process at once is computed once.
        with self.cache.computing(version, key, lambda: self._interrupted, self.waiting) as waited:
            cached = self.cache.get(version, key) if waited else None
            if cached is not None:
                return cached
            return self.cache.put(version, key, self._result(entry, spec, self._compute(entry, spec), exact=False))

    def cached(self, analysis: str, **params: Any) -> Result | None:
        """The published Result :meth:`run` would give for ``analysis`` with ``params`` when the results cache
        already holds it for the current data, else None: nothing is computed (a look-up of a few milliseconds)."""
        if self.cache is None:
            return None
        entry, spec = self._spec(analysis, params)
        try:
            key = self._cache_key(entry, spec)
        except Uncacheable:
            return None
        return self.cache.get(self.data_version(), key)

    def _cache_key(self, entry: Analysis[Any], spec: SpecBase) -> str:
        """Where the results cache files this question (:class:`Uncacheable` for parameters it cannot key)."""
        return cache_key(entry.name, spec.as_params(), settings_digest(self.config))

    def _result(self, entry: Analysis[Any], spec: SpecBase, computed: Computed, *, exact: bool) -> Result:
        k = self.config.privacy.min_cell_size
        if exact:
            published: Mapping[str, Any] = computed.figures
            publication = Publication(k, exact=True)
        else:
            published, publication = entry.publish(computed, spec, k)
        return Result(entry.name, spec.as_params(), dict(computed.figures), dict(published), publication,
                      computed.diagnostics, computed.notes, computed.primary, entry.title)

    # -- conversion ----------------------------------------------------------------------------

    def conversion_spec(self, name: str | None = None, *, outcome: str | Sequence[str] | None = None,
                        anchor: str | None = None, windows: Sequence[int] | None = None,
                        unit: Literal["person", "account"] | None = None, by: Sequence[str] = ()) -> ConversionSpec:
        """A named conversion of ``commetrics.toml``, or an ad-hoc one from ``outcome`` (flags override)."""
        from ..metrics.conversion_analysis import ConversionRequest, definition  # the analysis stack loads when used

        return definition(self.config, ConversionRequest(name=name, outcome=_as_tuple(outcome), anchor=anchor,
                                                         windows=tuple(windows) if windows else None, unit=unit,
                                                         by=tuple(by)))

    def conversion(self, name: str | None = None, *, outcome: str | Sequence[str] | None = None,
                   anchor: str | None = None, windows: Sequence[int] | None = None, by: Sequence[str] = (),
                   unit: Literal["person", "account"] | None = None, as_of: datetime | None = None,
                   reference: str | None = None, baseline: bool | None = None, curves: bool = False,
                   nth: int | None = None, exact: bool = False) -> Result:
        """Community Conversion Rate per cohort cell and window, and time to conversion.

        Parameters
        ----------
        name
            A conversion defined under ``[conversions.NAME]`` in ``commetrics.toml``.
        outcome, anchor, windows, unit
            An ad-hoc conversion, or overrides of the named one. ``anchor`` is ``"join"`` (first
            join), an activity type such as ``"question"``, ``"program:NAME"``, or ``"outcome:TYPE"``: the
            (``nth`` − 1)th outcome of that type (``nth`` default 2), for repeat and nth purchases.
        by
            Cohort keys: join_month, join_week, entry_path, first_activity, segment, program.
        as_of
            The data's "now" (default: the latest instant in the loaded data).
        reference
            The cohort the others are compared with (default: the one with most eligible anchors;
            with the baseline and no cohort keys, the baseline).
        baseline
            Add the non-community baseline: CRM contacts who never joined, anchored at their
            creation. ``None`` (default): whenever such contacts exist and the conversion allows it.
        curves
            Also the cumulative conversion curves (Kaplan–Meier), per cohort.
        exact
            Publish the exact figures (for the analyst holding the data; see :meth:`run`).

        Returns
        -------
        Result
            ``rates``: one row per cohort and window (eligible, in_progress, converters, rate, Wilson
            ci_low/ci_high, existing_customers, small, diff/diff_low/diff_high against the reference;
            ``suppressed`` and ``converters_suppressed`` when published); ``time_to_conversion``;
            ``curves`` on request; ``definition``.

        Examples
        --------
        >>> engine.conversion(outcome="trial_start", by=["entry_path"], windows=[30, 90]).table  # doctest: +SKIP
        """
        return self.run("conversion", exact=exact, name=name, outcome=_as_tuple(outcome), anchor=anchor,
                        windows=tuple(windows) if windows else None, by=tuple(by), unit=unit, as_of=as_of,
                        reference=reference, baseline=baseline, curves=curves, nth=nth)

    def drivers(self, name: str | None = None, *, outcome: str | Sequence[str] | None = None,
                days: int | None = None, window_days: int | None = None, controls: Sequence[str] | None = None,
                as_of: datetime | None = None, exact: bool = False) -> Result:
        """Behaviours associated with conversion: which activities and programmes in a member's first ``days``
        go with converting in the ``window_days`` after them, adjusted for each other and ``controls``.

        ``name`` is a conversion of ``commetrics.toml`` (or ``outcome`` an ad-hoc one); the defaults are
        ``[drivers]``. The Result's ``drivers`` table ranks the behaviours: ``members`` who had it,
        ``rate_with``/``rate_without`` (raw), ``odds_ratio`` with ``or_low``/``or_high`` and ``difference`` (the
        adjusted change in the chance of converting) with ``diff_low``/``diff_high`` from a Firth-penalised
        logistic model, ``p`` and the Holm-adjusted ``p_holm``, and ``associated`` ("more", "less" or "").
        Associations, not causes (see :mod:`commetrics.metrics.drivers`).
        """
        return self.run("drivers", exact=exact, name=name, outcome=_as_tuple(outcome), days=days,
                        window_days=window_days, controls=tuple(controls) if controls is not None else None,
                        as_of=as_of)

    # -- attribution -----------------------------------------------------------------------------

    def attribution(
        self,
        model: str | Sequence[str] = "all",
        *,
        outcome: str | Sequence[str] | None = None,
        lookback_days: int | None = None,
        by: Literal["type", "channel", "program", "tag"] | None = None,
        unit: Literal["person", "account"] | None = None,
        currency: str | None = None,
        half_life_days: float | None = None,
        first_touch_share: float | None = None,
        last_touch_share: float | None = None,
        as_of: datetime | None = None,
        paths: pd.DataFrame | str | Path | None = None,
        ci: bool = False,
        replicates: int | None = None,
        order: int | None = None,
        exact: bool = False,
    ) -> Result:
        """Credit for conversions and their value per community touchpoint class, model by model.

        ``model``: a registered attribution model (``first``, ``last``, ``linear``, ``position``,
        ``time_decay``, ``markov``, ``shapley``, or one a module registers) or ``"all"``. Every
        other parameter defaults to ``[attribution]`` in ``commetrics.toml``: ``outcome`` (the revenue
        outcomes), ``lookback_days``, ``by`` (type, channel, program or tag), ``unit`` (person, or
        account: the touches of all its members form one journey), ``half_life_days``,
        ``first_touch_share``/``last_touch_share`` (position-based), ``order`` (Markov), ``replicates``
        (bootstrap, with ``ci``). ``paths``: an aggregated path table (path, total_conversions,
        total_conversion_value, total_null) or CSV file instead of the store's journeys.

        Returns a Result whose ``models`` table holds ``model``, ``class``, ``conversions``,
        ``value``, ``share``, ``journeys`` (the distinct converting people or accounts through the
        class) and, with ``ci``, ``conversions_low`` ... ``value_high``; and
        ``conversions_without_touch``, ``value_without_touch`` and per-model ``totals``.
        """
        models = ("all",) if model == "all" else _as_tuple(model) or ("all",)
        return self.run("attribution", exact=exact, models=models, outcomes=_as_tuple(outcome),
                        lookback_days=lookback_days, by=by, unit=unit, currency=currency,
                        half_life_days=half_life_days, first_touch_share=first_touch_share,
                        last_touch_share=last_touch_share, as_of=as_of, paths=paths, ci=ci, replicates=replicates,
                        order=order)

    # -- scores --------------------------------------------------------------------------------

    def scores(self, level: str = "members", *, as_of: datetime | None = None, save: bool = False,
               exact: bool = False) -> Result:
        """Engagement scores of members (only those with consent, always) or health scores of accounts.

        ``save`` keeps a snapshot of every score for this as-of date in ``score_snapshots`` (replacing one
        of the same date), so trends and changes can be read later (:meth:`score_changes`).
        """
        if level not in ("members", "accounts"):
            raise UnknownNameError.for_name("score level", level, ("members", "accounts"))
        if not save:
            return self.run(f"scores.{level}", exact=exact, as_of=as_of)
        entry, spec, computed = self._computed(f"scores.{level}", {"as_of": as_of})
        self._save_snapshot(level, spec, computed)
        return self._result(entry, spec, computed, exact=exact)

    def _save_snapshot(self, level: str, spec: SpecBase, computed: Computed) -> None:
        from ..metrics.scores import COMPONENTS
        from ..metrics.scores_analysis import ScoresSpec, member_scores

        self._writable("Saving score snapshots")
        moment = spec.as_of
        assert moment is not None
        if level == "members":
            every, _ = member_scores(self, ScoresSpec(as_of=moment))  # the history keeps everyone
            snapshot = every.assign(id=every["member_id"], label=every["tier"],
                                    details=every[["activities", "active"]].to_dict(orient="records"))
        else:
            frame = computed.figures["accounts"]
            kept = ["engagement", "members", "active_members", "active_ratio", *COMPONENTS]
            snapshot = frame.assign(id=frame["account_id"], score=frame["health"], label=frame["band"],
                                    details=frame[kept].astype(float).round(4).to_dict(orient="records"))
        day = moment.date()
        rows = pd.DataFrame({"snapshot_date": day, "level": level[:-1], "id": snapshot["id"].astype(str),
                             "score": snapshot["score"].astype(float), "label": snapshot["label"].astype(object),
                             "details": [json.dumps(d, default=str) for d in snapshot["details"]]})
        con = self.store.con
        con.execute("begin transaction")
        try:
            con.execute("delete from score_snapshots where snapshot_date = ? and level = ?", [day, level[:-1]])
            con.register("_snapshot_rows", rows)
            con.execute("insert into score_snapshots select snapshot_date, level, id, score, label, "
                        "details::JSON, now() from _snapshot_rows")
            con.unregister("_snapshot_rows")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        self._store_changed()  # score changes read the snapshots

    def score_changes(self, level: str = "accounts", *, days: int = 30) -> Result:
        """Members (tier) or accounts (band) whose label differs between the latest snapshot and the latest
        one at least ``days`` earlier: ``id``, ``date_before``, ``label_before``, ``score_before``,
        ``date_now``, ``label_now``, ``score_now``. Members are listed only with consent."""
        return self.run("scores.changes", level=level, days=days)

    def validate_health(self, *, as_of: datetime | None = None, replicates: int = 1000) -> Result:
        """Health taken ``lead_days`` before each decided renewal against its outcome: AUC with a bootstrap
        interval, the AUC the community component adds, churn per band, learned weights beside the
        configured ones (see :func:`commetrics.metrics.scores.validate_health`)."""
        return self.run("scores.validation", as_of=as_of, replicates=replicates)

    def crm_records(self, *, as_of: datetime | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The CRM write-back: (contacts, companies).

        Contacts are members **with consent** (person-level): ``email`` (the member's latest, else that
        of a CRM contact resolved into the same person), ``member_id``, ``community_engagement_score``,
        ``community_tier``, ``community_last_active``, ``community_tags`` (``community-<tier>``, plus
        ``community-recent`` when active lately; :func:`commetrics.crm.community_tags`) and
        ``crm_contact_id`` (the person's CRM contact ids). Companies are accounts: ``account_id``,
        ``domain``, ``health_score``, ``health_band``, ``community_engagement_score`` and
        ``community_active_members``. ``contacts.attrs`` counts the members without consent left out.
        """
        from ..crm import community_tags
        from ..identity.people import member_contacts
        from ..metrics import fetch
        from ..metrics.scores_analysis import ScoresSpec, account_scores

        members_result = self.scores("members", as_of=as_of)
        members = members_result.table
        m = self.ibis().table("members")
        emails = m.filter(m.email.notnull()).group_by("member_id").aggregate(email=m.email.argmax(m.load_id))
        members = members.merge(fetch(emails), on="member_id", how="left")
        members = members.merge(member_contacts(self.store.con), on="member_id", how="left")
        contacts = pd.DataFrame({
            "email": members["email"].where(members["email"].notna(), members["contact_email"]),
            "member_id": members["member_id"],
            "community_engagement_score": members["score"], "community_tier": members["tier"],
            "community_last_active": members["last_active"],
            "community_tags": [community_tags(t, bool(a)) for t, a in zip(members["tier"], members["active"],
                                                                         strict=True)],
            "crm_contact_id": members["crm_contact_id"],
        })
        accounts = account_scores(self, ScoresSpec(as_of=self.as_of(as_of)))
        companies = pd.DataFrame({
            "account_id": accounts["account_id"], "domain": accounts["domain"],
            "health_score": accounts["health"], "health_band": accounts["band"],
            "community_engagement_score": accounts["engagement"],
            "community_active_members": accounts["active_members"],
        })
        contacts.attrs["withheld_without_consent"] = members_result["withheld_without_consent"]
        return contacts, companies

    # -- impact and the rest -------------------------------------------------------------------

    def impact(self, question: str = "renewal", *, exact: bool = False, **params: Any) -> Result:
        """How engagement relates to renewal, retention, NPS/CSAT, upsell and more: raw figures beside
        adjusted associations, each a registered analysis ``impact.QUESTION``.

        Questions: ``renewal``, ``retention``, ``nps``, ``csat``, ``upsell``, ``exposure`` (with
        ``exposure=`` and ``outcome=``), ``experiment`` (``name=`` and ``outcomes=``), ``campaign``
        (``name=``), ``feedback``, ``plan`` (``baseline=`` and ``target=`` or ``n=``). The parameters of
        each are its spec's fields (see :mod:`commetrics.metrics.impact`); those left out take
        ``[impact]`` in ``commetrics.toml``. ``experiment=`` is accepted for ``name=``, a
        comma-separated ``outcome=`` for ``outcomes=``, ``pre_months``/``post_months`` for
        ``pre``/``post``, and ``exposure_days`` as the experiment's ``pre_days``.
        """
        name = f"impact.{question}"
        if name not in ANALYSES:
            questions = [n.removeprefix("impact.") for n in ANALYSES.names() if n.startswith("impact.")]
            raise UnknownNameError.for_name("impact question", question, questions)
        params = {_IMPACT_ALIASES.get(k, k): v for k, v in params.items()}
        if question in ("experiment", "campaign") and "outcome" in params:
            outcome = params.pop("outcome")
            params["outcomes"] = tuple(o.strip() for o in outcome.split(",") if o.strip()) \
                if isinstance(outcome, str) else _as_tuple(outcome)
        if question == "experiment" and "exposure_days" in params:
            params["pre_days"] = params.pop("exposure_days")
        if "covariates" in params:
            params["covariates"] = tuple(params["covariates"])
        return self.run(name, exact=exact, **params)

    def feedback_contributors(self, *, as_of: datetime | None = None) -> Result:
        """Members who gave feedback, whether it shipped and what their account did next — the
        contributors to thank. Only members with consent are listed; the others are counted."""
        return self.run("impact.feedback", as_of=as_of)

    def community_metrics(self, *, as_of: datetime | None = None, since: datetime | None = None,
                          exact: bool = False) -> Result:
        """Activation rate, contributor share, contribution-to-consumption ratio, accepted-answer rate and
        revenue per member (see :mod:`commetrics.metrics.community`)."""
        return self.run("community", exact=exact, as_of=as_of, since=since)
