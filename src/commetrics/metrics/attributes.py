"""Member and account attributes by name: a canonical column or an extra column of a loaded file.

Loaded files often carry columns the canonical tables do not name — ``internet_type``, ``married``,
``contract``, ``landing_page``, ``plan`` — which the loader keeps in ``attributes`` (JSON). Several
analyses take such names: the covariates of the impact analyses, the cohort keys of a conversion,
the controls of the drivers, a static exposure flag. This module reads them all the same way:

* a name is a canonical column of the table (``segment``, ``arr``, ``entry_path``) or a key of
  ``attributes``; a name that is neither matches nothing and is reported as such
  (:func:`unknown_names`, with the closest known names), never read as a column of nulls;
* the latest load of each row wins (an account re-loaded with a new segment has the new one);
* values are typed by what they hold: a column whose every present value reads as a number is
  numeric (CSV extras arrive as text: ``"42"`` is 42), anything else is text — categories — as the
  docs promise. Booleans read as ``true``/``false`` text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from .. import schema
from . import fetch

__all__ = ["attribute_frame", "known_names", "suggest", "typed", "unknown_names"]

#: the tables whose rows carry ``attributes``, and their key
KEYS = {"members": "member_id", "accounts": "account_id"}
#: columns that are never attributes a user means (identifiers, bookkeeping)
_NOT_ATTRIBUTES = {"attributes", "source", "load_id", "member_id", "account_id", "email", "name", "handle", "domain"}


def known_names(db: Any, table: str) -> list[str]:
    """The names ``table`` (members or accounts) can be read by: its canonical columns and every key of
    ``attributes`` any of its rows holds."""
    columns = [c for c in schema.TABLES[table].column_names if c not in _NOT_ATTRIBUTES]
    t = db.table(table)
    # One expression on every backend (DuckDB's store, Spark's mirror): the keys of each object, one a row.
    keys = t.filter(t.attributes.notnull()).select(key=t.attributes.map.keys().unnest()).distinct()
    found = fetch(keys)["key"]
    return sorted(set(columns) | {str(k) for k in found.dropna()})


def unknown_names(db: Any, table: str, names: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``names`` that ``table`` holds under no column and no attribute, with the closest known names."""
    known = known_names(db, table)
    return {name: suggest(name, known) for name in names if name not in known}


def suggest(name: str, known: Sequence[str]) -> list[str]:
    """Up to three known names close to ``name``."""
    return difflib.get_close_matches(name, list(known), n=3)


def _latest(db: Any, table: str) -> Any:
    t = db.table(table)
    key = KEYS[table]
    latest = t.group_by(key).aggregate(load_id=t.load_id.max())
    return t.join(latest, [key, "load_id"])


def _value(t: Any, name: str) -> Any:
    """A column or attribute of ``t`` as text (numbers as their digits, JSON booleans as true/false)."""
    if name in t.columns and name != "attributes":
        column = t[name]
        return column.cast("string")
    value = t.attributes[name]
    return value.str.fill_null(value.float.cast("string")).fill_null(value.bool.cast("string"))


def typed(values: pd.Series) -> pd.Series:
    """``values`` as numbers when every present value reads as one, else as text (categories)."""
    present = values.dropna()
    if present.empty:
        return values.astype(object)
    numbers = pd.to_numeric(values, errors="coerce")
    if int(numbers.notna().sum()) == len(present):
        return numbers.astype(float)
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v).strip())


def attribute_frame(db: Any, table: str, names: Sequence[str]) -> pd.DataFrame:
    """One row per member or account (its latest load): the key and each of ``names``, typed (see :func:`typed`).

    A name the table does not hold gives a column of missing values; check names first with
    :func:`unknown_names`."""
    key = KEYS[table]
    t = _latest(db, table)
    columns = {f"_{i}": _value(t, name) for i, name in enumerate(names)}
    frame = fetch(t.select(key, **columns)).drop_duplicates(key).reset_index(drop=True)
    out = pd.DataFrame({key: frame[key]})
    for i, name in enumerate(names):
        out[name] = typed(frame[f"_{i}"])
    return out
