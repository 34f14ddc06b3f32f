"""The Splink model's settings: comparisons and their fixed levels, blocking rules, and ``Namesakes``.

Splink is imported inside the functions, so that importing the package does not load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

#: A blocking key shared by more records than this does not block (too many pairs, little evidence).
MAX_BLOCK_SIZE = 200
#: Fixed m probability of the email level "another local part at the same work domain". The data
#: rarely shows this level among matches (EM often cannot observe it), and it depends on the company
#: level (same domain, same company): a small fixed m makes it cancel the company evidence, so that
#: two colleagues with the same name stay two people.
COLLEAGUE_M_PROBABILITY = 1e-4
#: Fixed m probability of "two different work domains (and local parts)": about the share of true
#: pairs where a person moved employer. EM, blocked on names or local parts, sees almost none and
#: would make the level a veto (weight -100); a changed employer plus a shared handle must still link.
TWO_WORK_DOMAINS_M_PROBABILITY = 0.02
#: Fixed m probability of "the names differ beyond a nickname, a typo or a similar surname", for the
#: same reason: unfixed, EM drives it to ~1e-10 and no other evidence could ever outweigh it.
NAME_DIFFERS_M_PROBABILITY = 0.005
#: Starting u and m probabilities of handle levels that the data may never show (a handle equal to
#: another record's e-mail local part): kept when training sees none, replaced when it sees some.
RARE_U_PROBABILITY = 1e-6
RARE_M_PROBABILITY = 0.01
#: A comparison level that carries no evidence (weight 0) but keeps its own label in explanations.
NEUTRAL: dict[str, Any] = {"m_probability": 0.5, "u_probability": 0.5, "fix_m_probability": True,
                           "fix_u_probability": True}


#: Two names at most one edit (or one swap of neighbours) apart. DuckDB's ``damerau_levenshtein``
#: is slow (about 5 µs a pair, most of the model's run time), so the cheap bounds go first, in a
#: CASE (which, unlike AND, evaluates a branch only where the earlier ones failed): one edit changes
#: the length by at most one, and one swap is two Levenshtein edits.
ONE_EDIT_APART = ("(case when abs(length(name_l) - length(name_r)) > 1 then false "
                  "when levenshtein(name_l, name_r) > 2 then false "
                  "else damerau_levenshtein(name_l, name_r) <= 1 end)")


def _comparisons(namesakes: Namesakes | None = None) -> list[Any]:
    """The Splink comparisons, most specific level first.

    * ``name``: exact; the same name once nicknames are resolved (``bob smith`` / ``robert
      smith``); one edit apart; the same given name and a surname with Jaro-Winkler ≥ 0.92 (all
      four adjusted by how common the name is: ``name_frequency_sql``); the same surname; else.
    * ``email``: the same address; the same local part once dots, dashes and underscores are
      gone (``bluefox42@gmail.com`` / ``blue.fox42@yahoo.com``; term-frequency adjusted); the
      same local part but **made from the name** (``jane.doe``: no evidence beyond the name, so
      weight 0); **another local part at the same work domain** (two colleagues; fixed m, see
      ``COLLEAGUE_M_PROBABILITY``); **two different work domains** (another person, or a
      changed employer; fixed m); else (a free-mail address on one side).
    * ``handle``: the same handle (term-frequency adjusted); the same but for punctuation; one
      side's handle is the other's e-mail local part; none on a side (contacts have none: weight
      0); a handle made from the name (weight 0); else.
    * ``company``: the same company domain (the CRM account's, else a work address's; term-
      frequency adjusted); else.
    * ``namesake``, for two records with one name (or a typo, a nickname apart) at one company:
      the records with the name there hold at most one work address there (the name is one
      person's: about +3 bits on the benchmark); they hold two or more (namesake colleagues: about
      -5 bits); else (weight 0). Fixed m and u, estimated from the records (``Namesakes``).

    Handles and local parts are term-frequency adjusted by how many *other* people hold them
    (``value_frequency_sql``): Splink's own frequency of a handle that only one person's two
    records hold is 2 / records, as weak as a common name.

    The same name at another company with another local part collects at most the name's capped
    weight (``NAME_FREQUENCY_FLOOR``) minus the "two work domains" and company penalties, below
    what the prior needs: such a pair links only when a handle (or an explicit map) agrees.
    """
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    # Every name level that agrees on given name and surname is adjusted by how common the name is
    # (``name_frequency_sql``): "jim smith" / "james smith" is weak evidence, "jim kowalczyk" /
    # "james kowalczyk" strong.
    frequency: dict[str, Any] = {"tf_adjustment_column": "name_key", "tf_adjustment_weight": 1.0,
                                 "disable_tf_exact_match_detection": True}
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name").configure(**frequency),
            cll.CustomLevel("name_key_l = name_key_r", "nickname").configure(**frequency),
            cll.CustomLevel(ONE_EDIT_APART, "Damerau-Levenshtein distance of name <= 1").configure(**frequency),
            cll.CustomLevel("given_name_l = given_name_r and jaro_winkler_similarity(last_name_l, last_name_r) >= 0.92",
                            "same given name, surname Jaro-Winkler >= 0.92").configure(**frequency),
            cll.CustomLevel("last_name_l = last_name_r", "same surname"),
            cll.ElseLevel().configure(m_probability=NAME_DIFFERS_M_PROBABILITY, fix_m_probability=True),
        ],
    )
    made = "(email_local_from_name_l or email_local_from_name_r)"
    rare: dict[str, Any] = {"u_probability": RARE_U_PROBABILITY, "m_probability": RARE_M_PROBABILITY}
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email"),
            cll.CustomLevel(f"email_local_key_l = email_local_key_r and not {made}", "same local part"
                            ).configure(tf_adjustment_column="email_local_key", tf_adjustment_weight=1.0,
                                        disable_tf_exact_match_detection=True),
            cll.CustomLevel("email_local_key_l = email_local_key_r", "same local part, made from the name"
                            ).configure(**NEUTRAL),
            cll.CustomLevel("email_domain_l = email_domain_r and not email_is_free_l", "colleague at the same domain"
                            ).configure(m_probability=COLLEAGUE_M_PROBABILITY, fix_m_probability=True),
            cll.CustomLevel("not email_is_free_l and not email_is_free_r", "two work domains"
                            ).configure(m_probability=TWO_WORK_DOMAINS_M_PROBABILITY, fix_m_probability=True),
            cll.ElseLevel(),
        ],
    )
    handle = cl.CustomComparison(
        output_column_name="handle",
        comparison_levels=[
            cll.ExactMatchLevel("handle", term_frequency_adjustments=True).configure(label_for_charts="same handle"),
            cll.CustomLevel("handle_key_l = handle_key_r and not handle_from_name_l and not handle_from_name_r",
                            "same handle but punctuation").configure(**rare),
            cll.CustomLevel("(handle_key_l = email_local_key_r "
                            "and not handle_from_name_l and not email_local_from_name_r) "
                            "or (email_local_key_l = handle_key_r "
                            "and not email_local_from_name_l and not handle_from_name_r)",
                            "handle is the other's e-mail local part").configure(**rare),
            cll.NullLevel("handle_key"),
            cll.CustomLevel("handle_from_name_l or handle_from_name_r", "a handle made from the name"
                            ).configure(**NEUTRAL),
            cll.ElseLevel(),
        ],
    )
    company = cl.CustomComparison(
        output_column_name="company",
        comparison_levels=[
            cll.NullLevel("company"),
            cll.ExactMatchLevel("company", term_frequency_adjustments=True),
            cll.ElseLevel(),
        ],
    )
    # The same name at the same company: is anyone else there called that? The name and company
    # comparisons count how often each occurs (as if independent); this one adds what the records
    # say about the name *at that company* (see ``Namesakes``).
    namesakes = namesakes or Namesakes()
    agree = (f"company_l = company_r and (name_key_l = name_key_r or {ONE_EDIT_APART} "
             "or (given_name_l = given_name_r and jaro_winkler_similarity(last_name_l, last_name_r) >= 0.92))")
    alone = ("name_company_works_l <= 1 and name_company_works_r <= 1 "
             "and (name_company_work_l is null or name_company_work_r is null "
             "or name_company_work_l = name_company_work_r)")
    namesake = cl.CustomComparison(
        output_column_name="namesake",
        comparison_levels=[
            cll.CustomLevel(f"{agree} and {alone}", "the name at the company is one person's"
                            ).configure(m_probability=namesakes.m_alone, u_probability=namesakes.u_alone,
                                        fix_m_probability=True, fix_u_probability=True),
            cll.CustomLevel(agree, "namesake colleagues: two work addresses with the name at the company"
                            ).configure(m_probability=1 - namesakes.m_alone, u_probability=1 - namesakes.u_alone,
                                        fix_m_probability=True, fix_u_probability=True),
            cll.ElseLevel().configure(**NEUTRAL, label_for_charts="not the same name at the same company"),
        ],
    )
    return [name, email, handle, company, namesake]


@dataclass(frozen=True)
class Namesakes:
    """How likely the records show one person with a name at a company, for the same and for two people.

    A person at a company usually shows up with their work address there. So when the records
    with a name at a company (``name_company_works``) hold at most one work address there, the
    name is one person's, unless a namesake colleague is known only by a personal address. When
    they hold two, there are namesake colleagues (``jsmith@`` and ``jsmith2@``).

    * ``m_alone``: for the records of one person, the share of names at companies that no namesake
      with another work address shares: 1 - the share of (name, company) with a work address
      that have two or more;
    * ``u_alone``: for two different people with one name at one company, the chance that at
      most one shows a work address: 1 - (1 - q)², where q is the share of (name, company) with
      no work address at all (an upper bound: a typo in one record's name also makes one).

    Both are estimated from the records (``_namesakes``); the defaults are typical values.
    """

    m_alone: float = 0.98
    u_alone: float = 0.1


#: Pairs scored by the model: each rule is an equi-join on a capped blocking key, and skips pairs
#: the deterministic rules already joined.
BLOCKING_KEYS = ("block_local", "block_name", "block_last_company", "block_given_company", "block_initial_last",
                 "block_handle")


def _settings(namesakes: Namesakes | None = None) -> Any:
    from splink import SettingsCreator
    from splink.blocking_rule_library import CustomRule

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=_comparisons(namesakes),
        blocking_rules_to_generate_predictions=[
            CustomRule(f"l.{key} = r.{key} and l.det_cluster <> r.det_cluster") for key in BLOCKING_KEYS],
        retain_matching_columns=True,  # the gamma columns, for explain()
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
    )


#: Bounds of the estimated share of (name, company) without a work address, and of those with two
#: or more: with none (a few records, or all with work addresses) a level would become a certainty.
NAMESAKE_SHARE_BOUNDS = (0.01, 0.5)


def _namesakes(cur: duckdb.DuckDBPyConnection, table: str) -> Namesakes:
    """``Namesakes`` estimated from the (name, company) pairs of ``table`` (see there)."""
    none, several = cur.sql(f"""
        select
            avg((name_company_works = 0)::double),
            avg((name_company_works >= 2)::double) filter (where name_company_works >= 1)
        from (select distinct name_key, company, name_company_works from {table} where name_company_works is not null)
    """).fetchall()[0]
    low, high = NAMESAKE_SHARE_BOUNDS
    q = min(max(float(none if none is not None else high), low), high)  # no (name, company): say little
    crowded = min(max(float(several if several is not None else low), low), high)  # no work address: no namesakes
    return Namesakes(m_alone=1 - crowded, u_alone=1 - (1 - q) ** 2)
