"""Term-frequency lookups: how common a name, a handle, an e-mail local part or a company is.

SQL builders. Training computes them (``model.train``); each record keeps its values' frequencies
(``freq_*``), and scoring registers those as Splink's term-frequency lookups (``scoring.score``).
"""

from __future__ import annotations

#: The frequency of a name never counts as lower than this multiple of the prior probability that two
#: random records match: a name alone is then worth at most log2(m / 0.02) ≈ 5 bits more than the
#: prior needs, so a different company and a different e-mail local part always outweigh it.
NAME_FREQUENCY_FLOOR = 0.02


def value_frequency_sql(table: str, column: str, *, floor: float) -> str:
    """One row per value of ``column`` (a handle, a local part): ``tf_<column>``, its frequency among *other* people.

    Splink's own term frequency counts the records being compared: a handle such as
    ``tigerraven42`` that only one person's two records hold gets the frequency 2 / records, about
    as weak as a common name, although nobody else uses it. Here a value's frequency is the
    number of *other* holders (the two being compared left out) over the records that have one.
    A holder is a deterministic component (``det_cluster``: records already joined by address or
    map are one person), so three records of one person sharing an address count once. A value
    that no other holder has gets ``floor``, as the rarest names do: it is rare but not
    impossible, and alone it is worth a bounded number of bits (``NAME_FREQUENCY_FLOOR``).
    """
    return f"""
with holders as (
    select
        {column},
        count(distinct det_cluster) as holders,
        sum(count(*)) over () as records
    from {table}
    where {column} is not null
    group by {column}
)

select
    {column},
    greatest((holders - 2) / records, {float(floor)!r}) as tf_{column}
from holders
"""


def name_frequency_sql(table: str, *, floor: float) -> str:
    """One row per ``name_key`` of ``table``: ``tf_name_key``, how common the name is among *other* people.

    Splink's own term frequency of a value is its share of the records, which counts the records
    being compared: a name seen only on one person's three records looks as common as a name
    three different people share, and such records never link on their name. Here the frequency
    of a full name is instead

    * given-name frequency × surname frequency, each counted among the *other* records (the two
      being compared left out, and at least half a record, so a surname seen only on this pair
      is rare but not impossible): given names and surnames are close to independent, so for a
      common name this is about its observed share, and for a rare one it says how likely
      another person is to have it by chance (names whose parts go together, like "wei wang",
      come out somewhat rarer than they are);
    * but never below ``floor``, a small multiple of the prior, so that no name alone outweighs
      the e-mail and company evidence against a pair (the "changed employer" guard).
    """
    return f"""
with named as (
    select
        name_key,
        given_name,
        last_name,
        count(*) over () as records
    from {table}
    where name_key is not null
),

name_counts as (
    select
        name_key,
        any_value(given_name) as given_name,
        any_value(last_name) as last_name,
        count(*) as name_count,
        any_value(records) as records
    from named
    group by name_key
),

given_counts as (
    select
        given_name,
        count(*) as given_count
    from named
    group by given_name
),

surname_counts as (
    select
        last_name,
        count(*) as surname_count
    from named
    where last_name is not null
    group by last_name
)

select
    n.name_key,
    greatest(
        coalesce(
            greatest(g.given_count - 2, 0.5) * greatest(s.surname_count - 2, 0.5) / (n.records * n.records),
            greatest(n.name_count - 2, 0.5) / n.records  -- a one-word name has no parts
        ),
        {float(floor)!r}
    ) as tf_name_key
from name_counts as n
left join given_counts as g using (given_name)
left join surname_counts as s using (last_name)
"""


def company_frequency_sql(table: str) -> str:
    """One row per ``company`` of ``table``: ``tf_company``, its share of the records that name one
    (Splink's own term frequency, computed here so that it can be kept with the records)."""
    return f"""
select
    company,
    cast(count(*) as float8) / (select count(company) from {table}) as tf_company
from {table}
where company is not null
group by company
"""
