"""Planted effect 4: what a member does in the first 30 days raises the chance of becoming a lead.

While the activities are written, :class:`_EarlyBehaviour` records, per member, whether they had a
``webinar_attended`` or a ``question`` activity in the first ``DRIVER_DAYS`` (30) days after joining.
Then every member who is neither staff nor an existing customer becomes a lead (outcome ``lead``,
keyed by ``member_id``) with probability ``sigmoid(-3.0 + 1.2 * webinar + 0.9 * question)``, at a moment
drawn uniformly in the ``DRIVER_WINDOW_DAYS`` (90) days after the first 30. Nothing else a member does —
reactions, logins, posts, the onboarding programme — changes that chance, so ``commetrics drivers
--outcome lead --days 30`` has two drivers to find and many behaviours that only ride along with them
(busy members do everything more).

The draws use a random stream of their own, so the other tables are the same as before this effect was
planted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .entities import _Members, _Rows
from .outcomes import _Outcomes
from .params import ACTIVITY_TYPES, DAY, DRIVER_DAYS, DRIVER_OUTCOME, DRIVER_WINDOW_DAYS, DRIVERS


@dataclass
class _EarlyBehaviour:
    """Per member, whether each planted behaviour happened in the first ``DRIVER_DAYS`` after joining."""

    flags: dict[str, np.ndarray]

    @classmethod
    def empty(cls, members: int) -> _EarlyBehaviour:
        return cls({name: np.zeros(members, dtype=bool) for name in DRIVERS if name != "intercept"})

    def record(self, rows: _Rows, kind: np.ndarray, m: _Members) -> None:
        """Mark the members of a written chunk who had a planted behaviour early."""
        early = rows.ts - m.join[rows.member] < DRIVER_DAYS * DAY
        for name, seen in self.flags.items():
            seen[rows.member[early & (kind == ACTIVITY_TYPES.index(name))]] = True


def _lead_outcomes(rng: np.random.Generator, m: _Members, early: _EarlyBehaviour, out: _Outcomes) -> None:
    """Leads after the first 30 days, with the planted chance (see the module docstring)."""
    people = np.flatnonzero(~m.staff & ~m.existing)
    logit = np.full(people.size, DRIVERS["intercept"])
    for name, seen in early.flags.items():
        logit += DRIVERS[name] * seen[people]
    hit = rng.random(people.size) < 1.0 / (1.0 + np.exp(-logit))
    delay = DRIVER_DAYS * DAY + np.floor(rng.random(people.size) * DRIVER_WINDOW_DAYS * DAY).astype(np.int64)
    chosen = people[hit]
    out.add(DRIVER_OUTCOME, (m.join[people] + delay)[hit], member=chosen, account=m.account[chosen])
