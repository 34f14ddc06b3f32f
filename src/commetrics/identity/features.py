"""The records as linkage sees them, and the deterministic links between them.

One row per identity record: its own values normalised (``rules``), the name a nameless record's
address spells, the parts and keys of its name, its company, and the blocking keys of the model.
Some of these depend on *other* records, and that is what incremental resolution must follow
(:mod:`commetrics.identity.incremental`):

* a spelled name needs given names that two or more records carry, and surnames that records carry;
* ``name_company_works`` / ``name_company_work``: the work addresses of the records with the same
  name at the same company (``WORKS``);
* a blocking key is null where more than ``max_block_size`` records share its values (``BLOCKS``).

``normalised_records_sql`` builds them for every record at once from named steps
(``cleaned_sql``, ``spellings_sql``, ``spelled_sql``, ``features_sql``, then the group counts);
the incremental path runs the same steps for the records a load touched, with the group counts
taken over the whole store for the groups those records belong to.

The deterministic links (``email_edges_sql``, ``map_edges_sql``, ``deterministic_edges_sql``):

* ``email``: two records with the same normalised e-mail address are the same person;
* ``map``: an explicit map row (a member id or handle, and an e-mail address, from an export)
  links the member's records to every record with that address.

Both name the address in their evidence (``EVIDENCE_EMAIL_SQL`` reads it back), so that the links
of one address can be replaced when its records change.
"""

from __future__ import annotations

from .rules import (
    domain_sql,
    email_sql,
    free_mail_sql,
    handle_sql,
    name_sql,
    nickname_sql,
)

#: An e-mail local part that spells a name: two words of letters joined by ``.``, ``_`` or ``-``,
#: maybe digits after (``jane.doe``, ``jane_doe2``); not ``jdoe`` or ``jane``.
_NAME_LOCAL_PART = r"^([a-z]{2,})[._-]([a-z]{2,})[0-9]*$"
_NAME_LOCAL_PART_SQL = "'" + _NAME_LOCAL_PART + "'"  # (no quote in it)

#: The columns of a normalised record, in order (``normalised_records_sql``).
COLUMNS = ("record_id", "source", "email", "email_local", "email_local_key", "email_domain", "email_is_free", "name",
           "name_spelled", "first_name", "last_name", "given_name", "name_key", "handle", "handle_key",
           "email_local_from_name", "handle_from_name", "company", "account_domain", "name_company_works",
           "name_company_work",
           "block_local", "block_name", "block_last_company", "block_given_company", "block_initial_last",
           "block_handle")

#: Each blocking key: the values whose records form its groups, and the key itself. A key is
#: null where more than ``max_block_size`` records share those values: such a value (``info``, a
#: very common name) would give too many pairs to score and says little about one person.
BLOCKS: dict[str, tuple[tuple[str, ...], str]] = {
    "block_local": (("{r}email_local_key",), "{r}email_local_key"),
    "block_name": (("{r}name",), "{r}name"),
    "block_last_company": (("{r}last_name", "{r}company"), "{r}last_name || '|' || {r}company"),
    "block_given_company": (("{r}given_name", "{r}company"), "{r}given_name || '|' || {r}company"),
    "block_initial_last": (("left({r}first_name, 1)", "{r}last_name"), "left({r}first_name, 1) || '|' || {r}last_name"),
    "block_handle": (("{r}handle_key",), "{r}handle_key"),
}

#: The group of a record's name at its company, whose work addresses ``name_company_works`` counts.
WORKS = ("name_key", "company")

#: A record's work address at its company's own domain (null for others).
WORK_SQL = "case when email_domain = company and not email_is_free then email end"


def from_name_sql(key: str) -> str:
    """A DuckDB expression: whether ``key`` (letters and digits) is made from the record's own name.

    ``janedoe``, ``doejane``, ``jdoe``, ``janed``, ``jane``, ``doe``, with or without digits
    (``janedoe87``), from the given name as written or as the nickname resolves (``jim`` and
    ``james``), and from the last word or all words after the given name (``berg``, ``vanderberg``):
    such a local part or handle says nothing that the name does not.
    """
    letters = f"regexp_replace({key}, '[0-9]', '', 'g')"
    made = []
    for surname in ("last_name", "regexp_replace(name, '^[^ ]+ ?', '')"):  # "berg" and "van der berg"
        last = f"regexp_replace({surname}, '[^a-z]', '', 'g')"
        for given in ("first_name", "given_name"):
            first = f"regexp_replace({given}, '[^a-z]', '', 'g')"
            made += [f"{first} || {last}", f"{last} || {first}", f"left({first}, 1) || {last}",
                     f"{first} || left({last}, 1)", f"{last} || left({first}, 1)", first]
        made.append(last)
    return f"coalesce(list_contains(list_filter([{', '.join(made)}], lambda v: length(v) >= 2), {letters}), false)"


# --- one record's own values --------------------------------------------------------------------


def cleaned_sql(table: str) -> str:
    """One row per record of ``table`` (``record_id``, ``source``, ``email``, ``name``, ``handle``,
    ``account_domain``): its own values normalised, nothing from other records."""
    return f"""
select
    record_id,
    source,
    {email_sql('email')} as email,
    {name_sql('name')} as name,
    {handle_sql('handle')} as handle,
    {domain_sql('account_domain')} as account_domain
from {table}
"""


def spellings_sql(nameless: str) -> str:
    """Every way the local part of a nameless record (``record_id``, ``local_part``) reads as a name:
    ``record_id``, ``given``, ``last``, ``separated``."""
    return f"""
-- ``jane.doe2``: two words joined by ``.``, ``_`` or ``-``
select
    record_id,
    words.given,
    words.last,
    true as separated
from (
    select
        record_id,
        regexp_extract(local_part, {_NAME_LOCAL_PART_SQL}, ['given', 'last']) as words
    from {nameless}
)
where words.given <> ''
union all
-- ``janedoe2`` (gmail drops the dots): every split into two words of two letters or more
select
    record_id,
    left(letters, i) as given,
    substr(letters, i + 1) as last,
    false as separated
from (select record_id, regexp_extract(local_part, '^([a-z]+)[0-9]*$', 1) as letters from {nameless})
cross join range(2, 40) as r(i)
where i <= length(letters) - 2
"""


def spelled_sql(spellings: str, given_names: str, surnames: str) -> str:
    """One row per record whose address spells one name only: ``record_id``, ``spelled_name``.

    The first word must be a given name that two or more records carry (``given_names.given``:
    ``sales.team@`` stays nameless); without a separator the second must be a surname that
    records carry (``surnames.last``), and the address must read one way only (``annasmith``:
    anna smith, not ann asmith).
    """
    return f"""
select
    s.record_id,
    any_value(s.given || ' ' || s.last) as spelled_name
from {spellings} as s
join {given_names} as g
    on g.given = s.given
left join {surnames} as l
    on l.last = s.last
where s.separated or l.last is not null
group by s.record_id
having count(*) = 1
"""


def features_sql(named: str) -> str:
    """Everything one named record decides by itself: ``named`` has the columns of ``cleaned_sql``
    (``name`` spelled where it was spelled) and ``name_spelled``."""
    return f"""
with parts as (
    select
        record_id,
        source,
        email,
        split_part(email, '@', 1) as email_local,
        split_part(email, '@', 2) as email_domain,
        name,
        name_spelled,
        split_part(name, ' ', 1) as first_name,
        case when contains(name, ' ') then regexp_extract(name, '(\\S+)$', 1) end as last_name,
        handle,
        account_domain
    from {named}
),

keyed as (
    select
        *,
        nullif(regexp_replace(email_local, '[^a-z0-9]', '', 'g'), '') as email_local_key,  -- jane.doe → janedoe
        {free_mail_sql('email_domain')} as email_is_free,
        {nickname_sql('first_name')} as given_name,
        nullif(concat_ws(' ', {nickname_sql('first_name')}, last_name), '') as name_key,  -- bob smith → robert smith
        nullif(regexp_replace(handle, '[^\\p{{L}}\\p{{N}}]', '', 'g'), '') as handle_key
    from parts
),

companied as (
    select
        *,
        coalesce(account_domain, case when not email_is_free then email_domain end) as company
    from keyed
)

select
    *,
    {from_name_sql('email_local_key')} as email_local_from_name,
    {from_name_sql('handle_key')} as handle_from_name
from companied
"""


# --- the groups ---------------------------------------------------------------------------------


def qualified(template: str, record: str) -> str:
    """``template`` (``{r}`` before each column) for the rows of ``record`` ("" for no alias)."""
    return template.format(r=f"{record}." if record else "")


def group_counts_sql(block: str, records: str, where: str = "") -> str:
    """Records per group of ``block`` (``g0``, and ``g1`` where two values form it; ``n``) among
    ``records``, optionally only the groups ``where`` names (a condition on ``g0``, ``g1``)."""
    parts = [qualified(part, "") for part in BLOCKS[block][0]]
    values = ", ".join(f"{part} as g{i}" for i, part in enumerate(parts))
    present = " and ".join(f"{part} is not null" for part in parts)
    return (f"select * from (select {values}, count(*) as n from {records} where {present} group by all)"
            + (f" where {where}" if where else ""))


def group_join(block: str, alias: str, counts: str, record: str = "f") -> str:
    """The join of ``record``'s rows to their groups' counts of ``block`` (``counts``, as ``alias``)."""
    on = " and ".join(f"{qualified(part, record)} = {alias}.g{i}" for i, part in enumerate(BLOCKS[block][0]))
    return f"left join {counts} as {alias} on {on}"


def capped_sql(block: str, count: str, max_block_size: int, record: str = "f") -> str:
    """A DuckDB expression: ``record``'s key of ``block``, null where its group holds more than
    ``max_block_size`` records (``count``, the group's size)."""
    return f"case when {count} <= {int(max_block_size)} then {qualified(BLOCKS[block][1], record)} end"


def works_sql(records: str, where: str = "") -> str:
    """Per name at a company (``name_key``, ``company``) among ``records``: ``works``, its distinct
    work addresses, and ``work``, the largest of them (the one when there is exactly one)."""
    return (f"select * from (select name_key, company, count(distinct {WORK_SQL}) as works, max({WORK_SQL}) as work "
            f"from {records} where name_key is not null and company is not null group by all)"
            + (f" where {where}" if where else ""))


#: A record's ``name_company_works`` and ``name_company_work`` from its row ``w`` of ``works_sql``.
WORKS_COLUMNS = ("w.works as name_company_works", "case when w.works = 1 then w.work end as name_company_work")


def normalised_records_sql(table: str, *, max_block_size: int) -> str:
    """One row per identity record of ``table``: the normalised values linkage compares (``COLUMNS``).

    ``table`` has ``record_id``, ``source``, ``email``, ``name``, ``handle``, ``account_domain``.
    Binds ``$free_mail`` (``rules.free_mail_pattern``). Blocking keys (``block_*``) are null where
    more than ``max_block_size`` records share a value (``BLOCKS``).

    A record without a name takes the name its address spells (``jane.doe2@`` → ``jane doe``;
    ``janedoe@gmail.com`` → ``jane doe`` when records carry the given name ``jane`` and the
    surname ``doe`` and the address reads no other way); ``name_spelled`` says so.
    ``name_company_works`` counts the distinct work addresses (at the company's own domain) among
    the records with the same name and company, and ``name_company_work`` is that address when
    there is exactly one.
    """
    counts = ",\n".join(f"counts_{block} as ({group_counts_sql(block, 'featured')})" for block in BLOCKS)
    joins = "\n".join(group_join(block, f"k_{block}", f"counts_{block}") for block in BLOCKS)
    blocks = ",\n    ".join(f"{capped_sql(block, f'k_{block}.n', max_block_size)} as {block}" for block in BLOCKS)
    named = [f"f.{c}" for c in COLUMNS[:COLUMNS.index("name_company_works")]]
    return f"""
with cleaned as ({cleaned_sql(table)}),

given_names as (
    select split_part(name, ' ', 1) as given
    from cleaned
    where contains(name, ' ')
    group by all
    having count(*) >= 2
),

surnames as (
    select distinct regexp_extract(name, '(\\S+)$', 1) as last
    from cleaned
    where contains(name, ' ')
),

nameless as (
    select record_id, split_part(email, '@', 1) as local_part
    from cleaned
    where name is null and email is not null
),

spellings as ({spellings_sql('nameless')}),

spelled as ({spelled_sql('spellings', 'given_names', 'surnames')}),

named as (
    select
        c.* replace (coalesce(c.name, s.spelled_name) as name),
        s.spelled_name is not null as name_spelled
    from cleaned as c
    left join spelled as s using (record_id)
),

featured as ({features_sql('named')}),

works as ({works_sql('featured')}),

{counts}

select
    {', '.join(named)},
    {', '.join(WORKS_COLUMNS)},
    {blocks}
from featured as f
left join works as w using (name_key, company)
{joins}
"""


# --- deterministic links ------------------------------------------------------------------------

#: The address a deterministic link's ``evidence`` names (``detail`` is its JSON, as stored).
EVIDENCE_EMAIL_SQL = ("regexp_extract(json_extract_string(detail, '$.evidence'), "
                      "'^(?:same normalised e-mail|explicit map to) (.*)$', 1)")


def email_edges_sql(records: str) -> str:
    """``email`` links: every record to the smallest record id sharing its normalised address (a
    star, not every pair: the components are the same). ``record_a``, ``record_b``, ``rule``,
    ``evidence``; exact for the addresses whose records ``records`` holds all of."""
    return f"""
select record_a, record_b, rule, evidence from (
    select
        record_id as record_a,
        min(record_id) over (partition by email) as record_b,
        'email' as rule,
        'same normalised e-mail ' || email as evidence
    from {records}
    where email is not null
)
where record_a <> record_b
"""


def map_edges_sql(records: str, maps: str) -> str:
    """``map`` links: ``maps`` (normalised, with ``record_id`` and/or ``handle`` and ``email``) links a
    member's records (by record id, or every member record with the handle) to the records with
    the mapped address. Exact for the map rows whose members and address holders ``records`` holds."""
    return f"""
with mapped_members as (
    select distinct
        r.record_id,
        m.email
    from {maps} as m
    join {records} as r
        on r.record_id = m.record_id
        or (r.handle = m.handle and r.source = 'member')
    where m.email is not null
),

map_edges as (
    select distinct
        mm.record_id as record_a,
        r.record_id as record_b,
        'map' as rule,
        'explicit map to ' || mm.email as evidence
    from mapped_members as mm
    join {records} as r
        on r.email = mm.email
)

select record_a, record_b, rule, evidence from map_edges where record_a <> record_b
"""


def deterministic_edges_sql(records: str, maps: str | None) -> str:
    """One row per deterministic link of ``records`` (normalised): ``record_a``, ``record_b``,
    ``rule``, ``evidence`` (see the module docstring)."""
    if maps is None:
        return email_edges_sql(records)
    return f"select * from ({email_edges_sql(records)})\nunion all\nselect * from ({map_edges_sql(records, maps)})"
