"""Readers for community platforms' own exports, one module per platform, each registered in :data:`SOURCES`.

A source turns a platform's export (a folder, a file, an archive) into canonical files and loads
them through a :class:`~commetrics.ingest.loader.Loader` — the Engine — so every check, quarantine
rule and deduplication of a load applies. To add a platform, add one module to this package that
calls ``SOURCES.register(Source(...))`` (or, from another package, register through the entry-point
group ``commetrics.sources``); ``commetrics load-dump KIND`` and :meth:`Engine.load_dump` then know
it. A source whose platform has an API may also give a ``pull``: ``commetrics pull KIND --url URL``.

What a connector reads but does not load on purpose — bots, system users, system messages, staff
actions — it counts as *excluded*, by reason, in the :class:`DumpReport` it returns, so that for
every table ``read = loaded + quarantined + duplicates + excluded``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..ingest import LoadReport
from ..registry import Registry

__all__ = ["EXCLUSION_HELP", "SOURCES", "DumpReport", "LoadFunction", "PullFunction", "Source"]

#: ``load(loader, path, source, now, **options) -> [LoadReport, ...]`` (a :class:`DumpReport` for
#: connectors that exclude records); ``options`` are those the source names in ``Source.options``.
LoadFunction = Callable[..., list[LoadReport]]
#: ``pull(loader, url, token, source, now, cursor, **options) -> (DumpReport, new cursor)``.
PullFunction = Callable[..., "tuple[DumpReport, dict[str, Any]]"]

#: Why a connector leaves a record out on purpose (the ``excluded`` reasons of a :class:`DumpReport`).
EXCLUSION_HELP: dict[str, str] = {
    "bot": "written by a bot or an integration, not a person",
    "system_user": "a platform's own system account (Slackbot, Discourse's system users with id <= 0)",
    "system_event": "a system message, not conversation (topic changes, bot added, pins, ...)",
    "deleted": "a placeholder left by a deleted message",
    "staff_action": "a moderator or small-action post (closed, split, pinned, ...), not conversation",
    "no_author": "no identifiable person or account (no user id; no e-mail and no name; no contact or account)",
    "not_won": "a deal or opportunity that is not closed-won: not an outcome (yet)",
    "unmapped_event": "an event whose name is not in the connector's event mapping in commetrics.toml",
    "not_loaded_kind": "a kind of record this connector does not load (page views, aliases, ...)",
    "sample_record": "a sample record the platform creates in every new account",
    "not_attendee": "a guest, order or campaign member that is not a person's registration or attendance",
    "staff": "the host, a panelist or an organiser of a meeting, webinar or event",
    "rejoin": "a re-join of the same person to the same meeting, merged into their one attendance (minutes summed)",
    "unreadable": "a record without the id or the date every record of the export has",
    "merged": "a later identify or group call of the same person or group, merged into one row (later traits win)",
    "extra_ticket": "another ticket of the same person to the same event: one registration per person per event",
    "converted_lead": "a converted lead: the person is loaded as the contact it became",
}


class DumpReport(list[LoadReport]):
    """The loads of one export (one :class:`LoadReport` per table) and what the connector excluded.

    It is the list of load reports that ``load_dump`` always returned, so existing callers keep
    working; ``excluded`` adds, per table, the records read from the export and left out on purpose
    (by reason, see :data:`EXCLUSION_HELP`), and ``counts`` what else the connector noticed. For each
    table, ``records_read(table) = loaded + quarantined + duplicates + excluded``.
    """

    def __init__(self, reports: Iterable[LoadReport] = (), excluded: Mapping[str, Mapping[str, int]] | None = None,
                 counts: Mapping[str, int] | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__(reports)
        self.excluded: dict[str, dict[str, int]] = {t: {r: n for r, n in by.items() if n}
                                                     for t, by in (excluded or {}).items()}
        self.counts: dict[str, int] = dict(counts or {})
        #: what the reader should know about the export (records it lists but does not hold, ...)
        self.notes: list[str] = list(notes)

    def rows_excluded(self, table: str) -> int:
        """Records of ``table`` read from the export and left out on purpose."""
        return sum(self.excluded.get(table, {}).values())

    def records_read(self, table: str) -> int:
        """Records of ``table`` read from the export: those loaded, quarantined, duplicated or excluded."""
        return sum(r.rows_read for r in self if r.table == table) + self.rows_excluded(table)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Each load as a dict (``LoadReport.as_dict``) with ``rows_excluded``, ``excluded`` (by reason) and
        ``records_read`` (= rows_read + rows_excluded); the excluded of a table go with its first load."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for report in self:
            data = report.as_dict()
            first = report.table not in seen
            seen.add(report.table)
            data["excluded"] = dict(self.excluded.get(report.table, {})) if first else {}
            data["rows_excluded"] = sum(data["excluded"].values())
            data["records_read"] = report.rows_read + data["rows_excluded"]
            out.append(data)
        return out

    @classmethod
    def of(cls, reports: Iterable[LoadReport]) -> DumpReport:
        """``reports`` as a DumpReport (a plain list from an older source excludes nothing)."""
        return reports if isinstance(reports, DumpReport) else cls(reports)


@dataclass(frozen=True)
class Source:
    """A platform export commetrics reads natively.

    Attributes
    ----------
    name
        The ``KIND`` of ``commetrics load-dump KIND PATH``.
    label
        The platform and export, in words ("Stack Exchange data dump").
    help
        What ``PATH`` must be, in one sentence.
    default_source
        The ``source`` the rows are loaded under unless the user names another.
    load
        ``load(loader, path, source, now, **options) -> [LoadReport, ...]``: one report per table loaded.
    options
        The keyword options ``load`` (and ``pull``) accept, of ``timezone`` (an IANA zone for naive
        times in the export) and ``settings`` (the ``[sources]`` section of commetrics.toml).
    pull
        For platforms with an API: ``pull(loader, url, token, source, now, cursor, **options)`` fetches
        what is new since ``cursor`` and loads it like an export; ``None`` if there is no pull.
    pull_help
        How ``pull`` authenticates and what ``--url`` is (the environment variables it reads).
    """

    name: str
    label: str
    help: str
    default_source: str
    load: LoadFunction
    options: tuple[str, ...] = ()
    pull: PullFunction | None = None
    pull_help: str = ""


SOURCES: Registry[Source] = Registry(
    "export format", discover="commetrics.sources", group="commetrics.sources",
    hint="Load the export's tables as CSV/Parquet/JSON Lines with `commetrics load TABLE FILE`, or add a source "
         "module (see commetrics.sources).")
