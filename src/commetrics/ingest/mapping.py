"""Which file column feeds which canonical column: names, ``--map``, ``--set``, generated keys, drift.

File columns match canonical columns by name, ignoring case and punctuation (``Member ID`` is
``member_id``). In JSON Lines, where every record has its own keys, a canonical column reads every
spelling the file uses for it, record by record (the exact name first), so one record spelling a
key differently decides nothing for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import schema
from ..errors import InputError, MissingColumnError, SchemaContractError, UnknownNameError
from .files import StagedFile


@dataclass(frozen=True)
class Resolved:
    """The outcome of matching a file to a table."""

    mapping: dict[str, tuple[str, ...]]  # canonical (and ``source``) -> file column(s)
    attributes: tuple[str, ...]  # extra file columns kept in ``attributes``
    drift: tuple[str, ...]  # every extra file column (noted in the ledger)
    generated_key: bool  # the key column is absent: ids are made from the content


def normalise(name: str) -> str:
    """A column name compared without case and punctuation."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def resolve_mapping(
    table: schema.Table,
    staged: StagedFile,
    explicit: dict[str, str],
    contract: str,
    *,
    constants: dict[str, str] | None = None,
    inputs: tuple[schema.Column, ...] = (),
    aliases: dict[str, tuple[str, ...]] | None = None,
    computed: tuple[str, ...] = (),
) -> Resolved:
    """Match canonical columns to file columns.

    ``constants`` are canonical columns filled by ``--set``; ``inputs`` are extra columns to find
    (a snapshot's tenure and churn), ``aliases`` more names each may go by, and ``computed``
    canonical columns the loader derives itself. Raises before anything is written when a required
    column is missing, a mapping names an unknown column, or the contract is ``freeze`` and the file
    has extra columns.
    """
    constants = constants or {}
    aliases = aliases or {}
    file_name = staged.path.name
    targets = (*table.column_names, "source", *(c.name for c in inputs))
    mapping: dict[str, tuple[str, ...]] = {}
    for canonical, file_column in explicit.items():
        if canonical not in targets:
            raise UnknownNameError.for_name(f"column of {table.name}", canonical, targets,
                                            "The left side of --map is a canonical column.")
        if canonical in constants:
            raise InputError(f"{canonical} is given both by --map and by --set; keep one.")
        if canonical in computed:
            raise InputError(f"{canonical} is computed from the snapshot (--snapshot-as-of); do not --map it.")
        if file_column not in staged.columns:
            msg = (f"{file_name} has no column {file_column!r} (named in --map {canonical}={file_column}). "
                   f"Columns found: {', '.join(staged.columns) or '(none)'}.")
            raise MissingColumnError(msg)
        mapping[canonical] = (file_column,)
    for canonical in constants:
        if canonical not in table.column_names or canonical == "attributes":
            raise UnknownNameError.for_name(f"column of {table.name}", canonical,
                                            [c for c in table.column_names if c != "attributes"],
                                            "The left side of --set is a canonical column (use --source for "
                                            "the source).")
    used = {c for cols in mapping.values() for c in cols}
    spellings: dict[str, list[str]] = {}
    for column in staged.columns:
        spellings.setdefault(normalise(column), []).append(column)
    for canonical in targets:
        if canonical in mapping or canonical in constants or canonical in computed:
            continue
        names = [canonical, *aliases.get(canonical, ())]
        found = [c for name in names for c in spellings.get(name, []) if c not in used]
        if not found:
            continue
        found.sort(key=lambda c: c != canonical)  # the exact name first
        chosen = tuple(found) if staged.format == "jsonl" else found[:1]
        mapping[canonical] = tuple(chosen)
        used.update(chosen)
    generated = False
    missing = [c for c in table.required_columns if c not in mapping and c not in constants and c not in computed]
    missing += [c.name for c in inputs if c.required and c.name not in mapping]
    if table.derivable_key and missing == [table.key[0]]:
        generated, missing = True, []
    if missing:
        example = missing[0]
        msg = (f"{file_name} has no column {', '.join(map(repr, missing))}, which {table.name} needs. "
               f"Columns found: {', '.join(staged.columns) or '(none)'}. "
               f"Map one with --map {example}=FILE_COLUMN"
               f"{' or give it one value with --set ' + example + '=VALUE' if example not in table.key else ''}. "
               f"Nothing from {file_name} was loaded.")
        raise MissingColumnError(msg)
    extras = tuple(c for c in staged.columns if c not in used)
    if extras and contract == "freeze":
        msg = (f"{file_name} has columns outside the {table.name} schema: {', '.join(extras)}; the schema "
               "contract is 'freeze' (ingest.schema_contract), so nothing was loaded. Map them with --map, "
               "remove them, or set schema_contract = \"evolve\" or \"discard_value\".")
        raise SchemaContractError(msg)
    attributes = extras if (contract == "evolve" and table.has_attributes) else ()
    return Resolved(mapping, attributes, extras, generated)
