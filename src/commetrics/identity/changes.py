"""What the loads since the last run changed, record by record: the first half of an incremental run.

Everything here builds tables in the run's private scratch catalog from the store's tables and
writes nothing to the store. In order:

1. **touched**: the members and contacts loaded since the last run, and those of accounts loaded
   since (their account's domain may differ); **changed**: those whose own normalised values
   differ from their stored row, or that are new; overrides that differ from the ones applied
   last time; map rows loaded since.
2. **spelled names**: a changed record can make a given name common enough (two records) or a
   surname known, or no longer: the nameless records whose address may spell such a word are
   spelled again (``respelled``).
3. **features** of the changed and re-spelled records, then the **groups** they left or joined:
   blocking keys whose group crossed ``MAX_BLOCK_SIZE`` either way, and the work addresses of a
   name at a company, counted over the whole store for those groups only.
4. **deterministic links** of every address a change concerns (its records' old and new
   addresses, and the map rows that name them or their handles), and the deterministic
   components around them, labelled again.
5. **rows**: the new row of every record whose row may differ, with the frequencies of new values
   as the stored records know them; **differing**: the records whose row did differ (the rows a run
   writes to ``identity_records``); **dirty**: those and the records an override change names, whose
   candidate pairs must be scored again.

The steps are those of :mod:`commetrics.identity.features`; each record ends up with the row a
full run would give it (a property test checks this).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from . import features, rules, state
from .linkage import FREQUENCY_COLUMNS, MAX_BLOCK_SIZE, Model
from .linkage.clusters import _components, _deterministic_links

__all__ = ["Changes"]

#: A stored record's own normalised values, as ``features.cleaned_sql`` gives them.
_STORED_CLEANED = ("record_id, source, email, case when name_spelled then null else name end as name, handle, "
                   "account_domain")
_GROUP_COLUMNS = ("email_local_key", "name", "last_name", "company", "given_name", "first_name", "handle_key",
                  "name_key")
_NULL_OF = {"name_company_works": "null::bigint"}


def _crossed(alias: str) -> str:
    """Whether the group counted in ``alias`` crossed the blocking cap, either way."""
    return f"(({alias}.n_old > {MAX_BLOCK_SIZE}) <> ({alias}.n_new > {MAX_BLOCK_SIZE}))"


def _matches(block: str, alias: str, record: str) -> str:
    """``record``'s row belongs to the group of ``block`` counted in ``alias``."""
    return " and ".join(f"{alias}.g{i} = {features.qualified(part, record)}"
                        for i, part in enumerate(features.BLOCKS[block][0]))


class Changes:
    """The tables of one incremental run's first half (see the module docstring)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, store: str, free_mail: str, model: Model | None) -> None:
        self.cur = cur
        self.s = f"{store}.main"
        self.params = {"free_mail": free_mail}
        self.model = model
        self.maps = bool(self.one(f"select count(*) from {self.s}.identity_maps"))

    def one(self, sql: str) -> int:
        return int(self.cur.execute(sql).fetchall()[0][0])

    def table(self, name: str, sql: str, *, params: bool = False) -> int:
        """Create (or replace) scratch table ``name`` as ``sql``; returns its rows."""
        self.cur.execute(f"create or replace table {name} as {sql}", self.params if params else None)
        return self.one(f"select count(*) from {name}")

    # -- 1. touched and changed ------------------------------------------------------------------

    def read(self, last_load_id: int | None) -> int:
        """The touched records, their new values, and which of them changed; returns the touched count."""
        s, since = self.s, int(last_load_id if last_load_id is not None else -1)
        self.table("changed_accounts", f"select distinct account_id from {s}.accounts where load_id > {since}")
        touched = self.table("touched", f"""
            select 'm:' || member_id as record_id from {s}.members where load_id > {since}
            union
            select 'c:' || contact_id from {s}.contacts where load_id > {since}
            union
            select 'm:' || member_id from {s}.members where account_id in (select account_id from changed_accounts)
            union
            select 'c:' || contact_id from {s}.contacts where account_id in (select account_id from changed_accounts)
        """)
        self.table("account_domains", f"""
            select distinct {rules.domain_sql('domain')} as domain from {s}.accounts
            where account_id in (select account_id from changed_accounts) and domain is not null
        """)
        self.table("raw", state.records_sql(
            members="member_id in (select substr(record_id, 3) from touched where starts_with(record_id, 'm:'))",
            contacts="contact_id in (select substr(record_id, 3) from touched where starts_with(record_id, 'c:'))",
            schema=s))
        self.table("cleaned", features.cleaned_sql("raw"))
        self.table("changed", f"""
            select * from cleaned
            except
            select {_STORED_CLEANED} from {s}.identity_records where record_id in (select record_id from cleaned)
        """)
        # only the columns read from it (a read of every stored column costs as much as the rest of a step)
        self.table("old_changed", f"select record_id, source, email, handle, name, name_spelled "
                                  f"from {s}.identity_records where record_id in (select record_id from changed)")
        applied = f"select record_a, record_b, decision from {s}.identity_overrides_applied"
        current = f"select record_a, record_b, decision from {s}.identity_overrides"
        self.table("override_records", f"""
            with differ as (select * from ({current} except {applied}) union all
                            select * from ({applied} except {current}))
            select record_a as record_id from differ union select record_b from differ
        """)
        no_maps = "select null::varchar as record_id, null::varchar as handle, null::varchar as email where false"
        self.table("all_maps", state.maps_sql(schema=s) if self.maps else no_maps)
        self.table("new_maps", state.maps_sql(f"load_id > {since}", schema=s) if self.maps else no_maps)
        self.cur.execute(f"""
            create or replace view now_ids as
            select record_id, source, email, handle from {s}.identity_records
            where record_id not in (select record_id from changed)
            union all
            select record_id, source, email, handle from changed
        """)
        return touched

    def new_records(self) -> int:
        """The changed records the store did not hold yet."""
        return self.one("select count(*) from changed where record_id not in (select record_id from old_changed)")

    # -- 2. spelled names ------------------------------------------------------------------------

    def _word_counts(self, word: str, column: str, wanted: str) -> str:
        """Per ``word`` of ``wanted`` (a relation of words): ``n_old`` and ``n_new``, the records whose
        own name (with a space) has it as ``column`` (``first_name`` or ``last_name``), before and after."""
        part = "split_part(name, ' ', 1)" if column == "first_name" else "regexp_extract(name, '(\\S+)$', 1)"
        return f"""
            with w as (select distinct {word} from {wanted}),
            stored as (
                select {column} as {word}, count(*) as n from {self.s}.identity_records
                where not name_spelled and last_name is not null and {column} in (select {word} from w) group by 1
            ),
            removed as (
                select {part} as {word}, count(*) as n
                from (select case when name_spelled then null else name end as name from old_changed)
                where contains(name, ' ') group by 1
            ),
            added as (select {part} as {word}, count(*) as n from changed where contains(name, ' ') group by 1)
            select w.{word}, coalesce(stored.n, 0) as n_old,
                coalesce(stored.n, 0) - coalesce(removed.n, 0) + coalesce(added.n, 0) as n_new
            from w left join stored using ({word}) left join removed using ({word}) left join added using ({word})
        """

    def respell(self) -> int:
        """Spell again the nameless records a changed given name or surname may concern; returns how many."""
        self.table("words", """
            select split_part(name, ' ', 1) as given, regexp_extract(name, '(\\S+)$', 1) as last
            from (select name from changed union all
                  select case when name_spelled then null else name end from old_changed)
            where contains(name, ' ')
        """)
        self.table("given_flips", f"select given from ({self._word_counts('given', 'first_name', 'words')}) "
                                  "where (n_old >= 2) <> (n_new >= 2)")
        self.table("surname_flips", f"select last from ({self._word_counts('last', 'last_name', 'words')}) "
                                    "where (n_old >= 1) <> (n_new >= 1)")
        flips = self.one("select (select count(*) from given_flips) + (select count(*) from surname_flips)")
        self.table("respelled", f"""
            select record_id from {self.s}.identity_records as s
            where {flips} > 0 and (s.name is null or s.name_spelled) and s.email is not null
                and record_id not in (select record_id from changed)
                and (exists (select 1 from given_flips as f where starts_with(s.email_local, f.given))
                     or exists (select 1 from surname_flips as f where contains(s.email_local, f.last)))
        """)
        self.table("nameless", f"""
            select record_id, split_part(email, '@', 1) as local_part from changed
            where name is null and email is not null
            union all
            select record_id, email_local from {self.s}.identity_records
            where record_id in (select record_id from respelled)
        """)
        self.table("spellings", features.spellings_sql("nameless"))
        self.table("given_names", f"select given from ({self._word_counts('given', 'first_name', 'spellings')}) "
                                  "where n_new >= 2")
        self.table("surnames", f"select last from ({self._word_counts('last', 'last_name', 'spellings')}) "
                               "where n_new >= 1")
        self.table("spelled", features.spelled_sql("spellings", "given_names", "surnames"))
        return self.one("select count(*) from respelled")

    # -- 3. features and groups ------------------------------------------------------------------

    def featurise(self) -> int:
        """The features of the changed and re-spelled records (``features``; their stored rows ``old``)."""
        self.table("named", f"""
            select c.* replace (coalesce(c.name, sp.spelled_name) as name), sp.spelled_name is not null as name_spelled
            from (select record_id, source, email, name, handle, account_domain from changed
                  union all
                  select record_id, source, email, null, handle, account_domain from {self.s}.identity_records
                  where record_id in (select record_id from respelled)) as c
            left join spelled as sp using (record_id)
        """)
        count = self.table("features", features.features_sql("named"), params=True)
        self.table("old", f"select * from {self.s}.identity_records where record_id in "
                          "(select record_id from features)")
        return count

    def regroup(self) -> None:
        """Count again the groups the changed records left or joined; ``rows`` holds the new rows of
        the changed records and of the records whose blocking key or work addresses change."""
        s = self.s
        groups = ", ".join(_GROUP_COLUMNS)
        self.table("group_values", f"select {groups} from features union all select {groups} from old")
        for block, (parts, _) in features.BLOCKS.items():
            values = [features.qualified(p, "") for p in parts]
            keys = ", ".join(f"g{i}" for i in range(len(values)))
            self.table(f"v_{block}", f"select distinct {', '.join(f'{v} as g{i}' for i, v in enumerate(values))} "
                                     f"from group_values where {' and '.join(f'{v} is not null' for v in values)}")
            members = f"(select * from {s}.identity_records as s where exists (select 1 from v_{block} as v " \
                      f"where {_matches(block, 'v', 's')}))"
            self.table(f"n_{block}", f"""
                select v.*, coalesce(st.n, 0) as n_old, coalesce(st.n, 0) - coalesce(o.n, 0) + coalesce(f.n, 0) as n_new
                from v_{block} as v
                left join ({features.group_counts_sql(block, members)}) as st using ({keys})
                left join ({features.group_counts_sql(block, 'old')}) as o using ({keys})
                left join ({features.group_counts_sql(block, 'features')}) as f using ({keys})
            """)
        self.table("v_works", "select distinct name_key, company from group_values "
                              "where name_key is not null and company is not null")
        works_columns = "record_id, name_key, company, email, email_domain, email_is_free"
        self.table("works_rows", f"""
            select {works_columns} from {s}.identity_records as s
            where exists (select 1 from v_works as v where v.name_key = s.name_key and v.company = s.company)
                and record_id not in (select record_id from features)
            union all
            select {works_columns} from features
        """)
        self.table("works", features.works_sql("works_rows"))
        have = set(self.cur.sql("select * from features limit 0").columns)
        columns = ", ".join(f"f.{c}" if c in have else f"{_NULL_OF.get(c, 'null::varchar')} as {c}"
                            for c in features.COLUMNS)
        # the stored records of a group that crossed the cap (rare: most loads cross none, and a scan of
        # every stored record per block would cost more than the rest of the run)
        crossed = [f"select s.record_id from {s}.identity_records as s join n_{block} as n "
                   f"on {_matches(block, 'n', 's')} where {_crossed('n')}" for block in features.BLOCKS
                   if self.one(f"select count(*) from n_{block} as n where {_crossed('n')}")]
        self.table("rows", f"""
            select {columns}, coalesce(o.det_cluster, f.record_id) as det_cluster,
                {', '.join(f'o.freq_{c}' for c in FREQUENCY_COLUMNS)}, true as featured
            from features as f left join old as o using (record_id)
            union all
            select s.*, false from {s}.identity_records as s
            where record_id not in (select record_id from features)
                and record_id in ({' union '.join([*crossed, 'select record_id from works_rows'])})
        """)
        # the stored rows of every record in ``rows`` (``old``'s and these), kept as read: comparing with
        # them later spares a read of every stored column
        self.table("stored_rows", "select * exclude (featured) from rows where not featured union all "
                                  "select * from old")
        for block in features.BLOCKS:
            capped = features.capped_sql(block, "n.n_new", MAX_BLOCK_SIZE, "rows")
            self.cur.execute(f"update rows set {block} = {capped} from n_{block} as n "
                             f"where {_matches(block, 'n', 'rows')} and (rows.featured or {_crossed('n')})")
        self.cur.execute("update rows set name_company_works = w.works, "
                         "name_company_work = case when w.works = 1 then w.work end "
                         "from works as w where rows.name_key = w.name_key and rows.company = w.company")

    # -- 4. deterministic links and components ---------------------------------------------------

    def relink(self) -> pd.DataFrame:
        """The deterministic links of every address a change concerns (as link rows); ``emails2`` holds
        those addresses (their stored links are replaced), ``det_clusters`` the components around them."""
        s = self.s
        self.table("emails", f"""
            select email from changed union select email from old_changed
            union select email from {s}.identity_records where record_id in (select record_id from override_records)
            union select email from new_maps
        """)
        self.table("handles", f"""
            select handle from changed where source = 'member' union select handle from old_changed
            where source = 'member' union select handle from {s}.identity_records
            where source = 'member' and record_id in (select record_id from override_records)
        """)
        self.table("maps1", """
            select * from all_maps where email in (select email from emails)
                or record_id in (select record_id from changed union select record_id from override_records)
                or handle in (select handle from handles)
        """)
        self.table("emails2", "select email from emails where email is not null union "
                              "select email from maps1 where email is not null")
        self.table("maps2", "select * from all_maps where email in (select email from emails2)")
        self.table("relinked", """
            select * from now_ids where email in (select email from emails2)
                or (source = 'member' and (record_id in (select record_id from maps2)
                                           or handle in (select handle from maps2)))
        """)
        edges = self.cur.sql(f"""
            select * from ({features.email_edges_sql('(select * from relinked where email in '
                                                     '(select email from emails2))')})
            union all select * from ({features.map_edges_sql('relinked', 'maps2')})
        """).df()
        self._components()
        return _deterministic_links(edges)

    def _components(self) -> None:
        """``det_clusters``: the new deterministic component (its smallest record id) of every record
        whose component may have changed, from the closure of the changed addresses' records."""
        s = self.s
        self.table("closure", f"""
            select record_id from relinked union select record_id from changed
            union select record_id from {s}.identity_records where email in (select email from emails2)
            union select record_id from {s}.identity_records where source = 'member'
                and (record_id in (select record_id from maps2) or handle in (select handle from maps2))
        """)
        while self.one(f"""
                insert into closure
                select distinct record_id from (
                    select record_id from {s}.identity_records where det_cluster in (
                        select det_cluster from {s}.identity_records where record_id in (select record_id from closure))
                    union all
                    select record_id from now_ids where email in (
                        select email from now_ids where record_id in (select record_id from closure))
                    {self._map_neighbours() if self.maps else ''}
                ) where record_id not in (select record_id from closure)"""):
            pass  # each round adds the records one more link away; components are small
        self.table("closed", "select * from now_ids where record_id in (select record_id from closure)")
        self.table("closed_maps", "select * from all_maps where email in (select email from closed) or record_id in "
                                  "(select record_id from closed) or handle in (select handle from closed)")
        edges = self.cur.sql(f"""
            select record_a, record_b from ({features.email_edges_sql('closed')})
            union all select record_a, record_b from ({features.map_edges_sql('closed', 'closed_maps')})
        """).df()
        ids = pd.Index(sorted(self.cur.sql("select record_id from closed").df()["record_id"]))
        labels = _components(len(ids), ids.get_indexer(edges["record_a"]), ids.get_indexer(edges["record_b"]))
        first = np.full(labels.max(initial=-1) + 1, len(ids))
        np.minimum.at(first, labels, np.arange(len(ids)))
        values = ids.to_numpy(dtype=object)
        self.cur.register("_det_clusters", pa.table({"record_id": pa.array(values, pa.string()),
                                                     "det_cluster": pa.array(values[first[labels]], pa.string())}))
        self.table("det_clusters", "select * from _det_clusters")
        self.cur.unregister("_det_clusters")

    def _map_neighbours(self) -> str:
        """The records an explicit map joins to the closure's records (both ways)."""
        return """
            union all
            select n.record_id from now_ids as n join all_maps as m
                on n.record_id = m.record_id or (n.handle = m.handle and n.source = 'member')
            where m.email in (select email from now_ids where record_id in (select record_id from closure))
            union all
            select n.record_id from now_ids as n join all_maps as m on n.email = m.email
            join now_ids as c on c.record_id = m.record_id or (c.handle = m.handle and c.source = 'member')
            where c.record_id in (select record_id from closure)
        """

    # -- 5. rows and dirty records ---------------------------------------------------------------

    def finish(self) -> int:
        """Bring the new deterministic components and frequencies into ``rows``; returns how many
        records are ``dirty``."""
        s = self.s
        # which records moved is read from two columns; their whole stored rows only when there are any
        moved = self.table("moved_ids", f"""
            select record_id from {s}.identity_records as r join det_clusters as d using (record_id)
            where r.det_cluster <> d.det_cluster and record_id not in (select record_id from rows)
        """)
        self.table("moved", f"select * from {s}.identity_records where "
                            f"{'record_id in (select record_id from moved_ids)' if moved else 'false'}")
        self.cur.execute("insert into rows select *, false from moved")
        self.cur.execute("insert into stored_rows select * from moved")
        self.cur.execute("update rows set det_cluster = d.det_cluster from det_clusters as d "
                         "where rows.record_id = d.record_id")
        if self.model is not None:
            for column in FREQUENCY_COLUMNS:
                lookup = state.frequency_lookup_sql(column, f"{s}.identity_records",
                                                    f"{column} in (select {column} from rows where featured)")
                self.cur.execute(f"update rows set freq_{column} = case when {column} is not null then "
                                 f"{self.model.fill(column)!r} end where featured")
                self.cur.execute(f"update rows set freq_{column} = l.tf_{column} from ({lookup}) as l "
                                 f"where rows.featured and rows.{column} = l.{column}")
        else:
            self.cur.execute(f"update rows set {', '.join(f'freq_{c} = null' for c in FREQUENCY_COLUMNS)}")
        self.table("differing", """
            select record_id from (select * exclude (featured) from rows except select * from stored_rows)
        """)
        return self.table("dirty", """
            select record_id from differing
            union
            select record_id from override_records where record_id in (select record_id from now_ids)
        """)
