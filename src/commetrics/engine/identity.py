"""The Engine's identity part: members and CRM contacts resolved into people, explained, overridden."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..identity.people import explain, remove_override, resolve_store, set_override
from .base import EngineBase

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IdentityPart"]


class IdentityPart(EngineBase):
    """Identity resolution over the workspace's store."""

    def resolve_identities(self, *, full: bool = False) -> dict[str, Any]:
        """Link the members and CRM contacts into people, and people into accounts.

        E-mail and explicit maps first, then probabilistic linkage on names, handles and
        companies (``[identity]`` in ``commetrics.toml``), with the manual overrides applied on
        top. Runs after each load of members, contacts, accounts or identity maps unless ``resolve_on_load =
        false``. Incremental by default: only the records loaded since the last run, and the people
        they may join, are resolved again, with the stored model; ``full=True`` resolves every
        record (with the stored model). Writes only the rows of ``people`` and ``identity_links``
        that change. See :mod:`commetrics.identity.people` and ``docs/identity.md``.
        """
        return self._resolve(full=full, retrain=False)

    def retrain_identities(self) -> dict[str, Any]:
        """Train the identity model again on the records as they are now, keep it, and resolve every
        record with it. Resolution also trains again by itself once the records have grown by
        ``[identity] retrain_growth`` since the model was trained."""
        return self._resolve(full=True, retrain=True)

    def _resolve(self, *, full: bool, retrain: bool) -> dict[str, Any]:
        self._writable("Identity resolution")
        settings = self.config.identity
        run = resolve_store(self.store.con, threshold=settings.match_threshold, probabilistic=settings.probabilistic,
                            free_mail=settings.free_mail, progress=self.progress, full=full, retrain=retrain,
                            incremental=settings.incremental, retrain_growth=settings.retrain_growth,
                            review_margin=settings.review_margin)
        self._store_changed()
        return run.as_dict()

    def explain_identity(self, identifier: str) -> dict[str, Any]:
        """Who ``identifier`` (member id, contact id, e-mail, ``m:``/``c:`` record id or ``p:`` person
        id) is: their person, records, account, and every link with its rule or match weights."""
        return explain(self.store.con, identifier)

    def identity_review(self, *, margin: float | None = None, limit: int = 100) -> pd.DataFrame:
        """Pairs of records to decide by hand: the probabilistic pairs within ``margin`` (default ``[identity]
        review_margin``) of ``[identity] match_threshold`` — linked, set aside by a constraint, or scored just
        below it and not linked — nearest first, with what each record says and the decision already taken
        (see :func:`commetrics.identity.review.review_pairs`). Personal data: for the analyst who holds it."""
        from ..identity.review import review_pairs

        settings = self.config.identity
        return review_pairs(self.store.con, threshold=settings.match_threshold,
                            margin=settings.review_margin if margin is None else margin, limit=limit)

    def override_identity(self, a: str, b: str, decision: Literal["link", "unlink", "clear"]) -> dict[str, Any]:
        """Decide by hand that two records are one person (``link``), are not (``unlink``), or leave
        it to the evidence again (``clear``); the people are resolved again at once. Overrides are
        kept in ``identity_overrides`` and win over the evidence in every later run."""
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
