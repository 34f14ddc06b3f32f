"""Cohorts by any member or account attribute, and bands of a numeric one (``--by plan``, ``--by arr:10000,100000``).

Beyond the built-in cohort keys, a conversion can be broken down by any column or attribute of the
member (``landing_page``, ``job_role``, ``referred``) or, when the member has none by that name, of the
member's account (``contract``, ``plan``, ``business_segment``). A numeric one is cut into bands with
``NAME:CUT,CUT,...`` — ``arr:10000,100000`` gives ``< 10000``, ``10000 to < 100000`` and ``>= 100000``;
``tenure_days:90,365`` gives tenure bands. Members without a value form the cohort ``unknown``. The
values are those of the latest load (the attributes module's rules), read as one expression, so the
breakdown stays one query.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import ibis

from ..errors import InputError, UnknownNameError
from .attributes import _latest, _value, known_names
from .people import Identities

__all__ = ["add_attribute_keys", "parse_key"]


def parse_key(key: str) -> tuple[str, tuple[float, ...]]:
    """``NAME`` or ``NAME:CUT,CUT,...`` → the name and the band cuts (ascending)."""
    name, _, cuts = key.partition(":")
    if not cuts:
        return name.strip(), ()
    try:
        values = tuple(sorted({float(c) for c in cuts.split(",") if c.strip()}))
    except ValueError:
        raise InputError(f"--by {key!r}: bands are NAME:CUT,CUT,... with numbers, e.g. arr:10000,100000.") from None
    if not values:
        raise InputError(f"--by {key!r}: give at least one cut, e.g. {name}:10000.")
    return name.strip(), values


def _number(cut: float) -> str:
    return f"{cut:g}"


def _bands(value: Any, cuts: tuple[float, ...]) -> Any:
    """Band labels of a text value read as a number (not a number: ``unknown``)."""
    number = value.try_cast("float64")
    branches = [(number < cuts[0], f"< {_number(cuts[0])}")]
    branches += [((number >= low) & (number < high), f"{_number(low)} to < {_number(high)}")
                 for low, high in pairwise(cuts)]
    branches.append((number >= cuts[-1], f">= {_number(cuts[-1])}"))
    return ibis.cases(*branches, else_="unknown")


def add_attribute_keys(db: Any, anchors: Any, keys: list[str], ids: Identities | None, builtin: tuple[str, ...]
                       ) -> Any:
    """``anchors`` (with ``person_id`` and ``account_id``) with a column per attribute key, named as the key."""
    if not keys:
        return anchors
    on_members, on_accounts = known_names(db, "members"), known_names(db, "accounts")
    for key in keys:
        name, cuts = parse_key(key)
        if name in on_members:
            m = _latest(db, "members")
            values = m.select("member_id", value=_value(m, name))
            if ids is not None:
                values = values.join(ids.members.select("member_id", "person_id"), "member_id")
            else:
                values = values.mutate(person_id=values.member_id)
            per_person = values.group_by("person_id").aggregate(_v=values.value.max())
            anchors = anchors.left_join(per_person, "person_id").drop("person_id_right")
        elif name in on_accounts:
            a = _latest(db, "accounts")
            per_account = a.group_by("account_id").aggregate(_v=_value(a, name).max())
            anchors = anchors.left_join(per_account, "account_id").drop("account_id_right")
        else:
            raise UnknownNameError.for_name(
                "cohort key", name, list(dict.fromkeys([*builtin, *on_members, *on_accounts])),
                "Use a built-in key, or a column or attribute of the loaded members or accounts files (add "
                ":CUT,CUT for bands of a number, e.g. arr:10000,100000).")
        label = _bands(anchors._v, cuts) if cuts else anchors._v.fill_null("unknown")
        anchors = anchors.mutate(**{key: label}).drop("_v")
    return anchors
