"""The inputs of :func:`~commetrics.identity.linkage.resolve`: records, explicit maps and overrides, checked.

Each is a pandas DataFrame or a pyarrow Table; the checks raise ``InputError`` (or
``MissingColumnError``) with a message that says what to pass instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from commetrics.errors import InputError, MissingColumnError

from .. import rules

#: Columns a records frame must have; ``handle`` and ``account_domain`` may be absent (all null).
RECORD_COLUMNS = ("record_id", "source", "email", "name")
OPTIONAL_RECORD_COLUMNS = ("handle", "account_domain")
SOURCES = ("member", "contact")


def _as_arrow(frame: pd.DataFrame | pa.Table, what: str) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    msg = f"{what} must be a pandas DataFrame or a pyarrow Table, got {type(frame).__name__}."
    raise InputError(msg)


def _text_columns(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    arrays = []
    for name in columns:
        if name in table.column_names:
            arrays.append(table.column(name).cast(pa.string()))
        else:
            arrays.append(pa.nulls(table.num_rows, pa.string()))
    return pa.table(arrays, names=list(columns))


def _require(table: pa.Table, what: str, required: Sequence[str], hint: str) -> None:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        msg = (f"The {what} have no column {', '.join(map(repr, missing))}. Columns found: "
               f"{', '.join(table.column_names) or '(none)'}.\n{hint}")
        raise MissingColumnError(msg)


def _records_table(records: pd.DataFrame | pa.Table) -> pa.Table:
    table = _as_arrow(records, "records")
    _require(table, "records", RECORD_COLUMNS,
             "Pass one row per identity record with record_id, source ('member' or 'contact'), email and name "
             "(handle and account_domain are optional).")
    table = _text_columns(table, RECORD_COLUMNS + OPTIONAL_RECORD_COLUMNS)
    ids = table.column("record_id").to_pandas()
    if ids.isna().any() or (ids.str.strip() == "").any():
        msg = (f"{int(ids.isna().sum() + (ids.str.strip() == '').sum())} records have no record_id. "
               "Every record needs a unique record_id, such as 'm:<member_id>' or 'c:<contact_id>'.")
        raise InputError(msg)
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(repr, sorted(duplicated)[:5]))
        msg = (f"{len(duplicated)} record_id values appear more than once (e.g. {shown}). Each record needs its "
               "own record_id: prefix ids by source ('m:' for members, 'c:' for contacts) and drop duplicate rows.")
        raise InputError(msg)
    sources = table.column("source").to_pandas()
    unknown = sorted(set(sources.dropna()) - set(SOURCES))
    if unknown or sources.isna().any():
        shown = ", ".join(map(repr, unknown[:5])) or "null"
        msg = f"Unknown source {shown} in records. source must be one of {', '.join(map(repr, SOURCES))}."
        raise InputError(msg)
    return table


def _maps_table(maps: pd.DataFrame | pa.Table) -> pa.Table:
    table = _as_arrow(maps, "maps")
    hint = "Each map row links an email to a member: give email and one of member_id, record_id or handle."
    _require(table, "maps", ("email",), hint)
    if not {"member_id", "record_id", "handle"} & set(table.column_names):
        _require(table, "maps", ("member_id",), hint)
    return _text_columns(table, ("email", "member_id", "record_id", "handle"))


MAPS_SQL = f"""
create table maps as
select
    coalesce(record_id, 'm:' || member_id) as record_id,
    {rules.handle_sql('handle')} as handle,
    {rules.email_sql('email')} as email
from input_maps
"""


def _overrides_table(overrides: pd.DataFrame | pa.Table | None) -> pd.DataFrame:
    columns = ["record_a", "record_b", "decision"]
    if overrides is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    table = _as_arrow(overrides, "overrides")
    _require(table, "overrides", columns, "Each override names two records and a decision, 'link' or 'unlink'.")
    frame = _text_columns(table, columns).to_pandas()
    frame["decision"] = frame["decision"].str.strip().str.lower()
    bad = sorted(set(frame["decision"].dropna()) - {"link", "unlink"})
    if bad or frame.isna().any().any():
        msg = (f"Overrides must name two records and a decision 'link' or 'unlink'; found "
               f"{', '.join(map(repr, bad)) or 'empty values'}.")
        raise InputError(msg)
    frame = frame[frame["record_a"] != frame["record_b"]]
    a, b = frame["record_a"].to_numpy(dtype=object), frame["record_b"].to_numpy(dtype=object)
    frame = pd.DataFrame({"record_a": np.where(a < b, a, b), "record_b": np.where(a < b, b, a),
                          "decision": frame["decision"].to_numpy()}).drop_duplicates()
    both = frame[frame.duplicated(["record_a", "record_b"], keep=False)]
    if not both.empty:
        pair = both.iloc[0]
        msg = (f"Overrides both link and unlink {pair.record_a!r} and {pair.record_b!r}. "
               "Keep the one decision you mean and remove the other.")
        raise InputError(msg)
    return frame.sort_values(["record_a", "record_b"]).reset_index(drop=True)


def _known_overrides(overrides: pd.DataFrame, index: pd.Index) -> tuple[pd.DataFrame, int]:
    known = overrides["record_a"].isin(index) & overrides["record_b"].isin(index)
    return overrides[known].reset_index(drop=True), int((~known).sum())
