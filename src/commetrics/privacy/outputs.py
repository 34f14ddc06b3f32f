"""Small-cell suppression applied to the tables commetrics publishes (CLI, JSON, report).

The library's analysis methods return exact figures to the analyst who holds the data; everything
printed, written or shown goes through these functions first, with ``privacy.min_cell_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..results import Publication
from .suppression import SUPPRESSED, SuppressionSummary, check_k, nullable, suppress, suppression_summary

__all__ = ["attribution_note", "label_hidden", "suppress_attribution", "suppress_counts", "suppress_experiment",
           "suppress_exposure", "suppress_rates", "suppress_ratios", "suppress_survey", "suppress_timing",
           "suppression_note"]

#: the figures of a conversion row that come from its eligible people
RATE_VALUES = ("in_progress", "converters", "rate", "ci_low", "ci_high", "existing_customers", "diff", "diff_low",
               "diff_high")


def suppress_rates(rates: pd.DataFrame, k: int, *, totals_published: bool,
                   separate: Sequence[str] = ()) -> pd.DataFrame:
    """A conversion table (one row per cohort and window) as it may be published.

    - A cell of 0 < eligible people < ``k`` is hidden whole (``suppressed``).
    - Every count of people is a cell of its own, numerators included: where 0 < converters < ``k``
      the converters, the rate, its interval and the difference from the reference are withheld
      (``converters_suppressed``), and likewise ``in_progress`` and ``existing_customers`` alone.
    - ``totals_published``: the same population's total per window is published too (the table
      without cohort keys is the total of every breakdown of it, and commands and the report
      publish both), so complementary cells are hidden, for the eligible people and for each
      count, and no subtraction between two outputs recovers a hidden cell. ``separate`` names
      cohorts that are not part of that total (the non-community baseline).
    - When the reference cohort's rate is withheld, every difference from it in that window is too.
    """
    if rates.empty:
        return rates.assign(suppressed=pd.Series(dtype=bool), converters_suppressed=pd.Series(dtype=bool))
    population = np.where(rates["cohort"].isin(list(separate)), "separate", "community")
    work = rates.assign(_population=population)
    dims = [c for c in ("conversion", "_population", "cohort", "window_days") if c in work.columns]
    margins = [tuple(c for c in dims if c != "cohort")] if totals_published else []
    values = [c for c in RATE_VALUES if c in work.columns]
    out = suppress(work, people="eligible", k=k, dims=dims, margins=margins, values=values)
    summary = suppression_summary(out)
    primary, complementary = summary.primary, summary.complementary
    withheld = list(summary.withheld_totals)
    numerators = {"converters": [c for c in ("converters", "rate", "ci_low", "ci_high", "diff", "diff_low",
                                             "diff_high") if c in work.columns],
                  "in_progress": ["in_progress"], "existing_customers": ["existing_customers"]}
    hidden_converters = out[SUPPRESSED].to_numpy(bool).copy()
    for count, blanked in numerators.items():
        if count not in work.columns:
            continue
        pass_ = suppress(work, people=count, k=k, dims=dims, margins=margins, values=[])
        extra = pass_[SUPPRESSED].to_numpy(bool) & ~out[SUPPRESSED].to_numpy(bool)
        for column in blanked:
            out[column] = nullable(out[column]).mask(extra)
        if count == "converters":
            hidden_converters |= extra
        primary += int(extra.sum())
        withheld += [w for w in suppression_summary(pass_).withheld_totals if w not in withheld]
    out["converters_suppressed"] = hidden_converters
    if "reference" in out.columns and "diff" in out.columns:
        hidden_reference = out.loc[hidden_converters & (out["cohort"] == out["reference"]), "window_days"]
        windows = out["window_days"].isin(set(hidden_reference))
        for column in ("diff", "diff_low", "diff_high"):
            out[column] = nullable(out[column]).mask(windows.to_numpy(bool))
    out = out.drop(columns="_population")
    out.attrs["suppression"] = SuppressionSummary(k=k, primary=primary, complementary=complementary,
                                                  withheld_totals=tuple(withheld))
    return out


def suppress_timing(timing: pd.DataFrame, k: int) -> pd.DataFrame:
    """Time to conversion (one row per cohort) as it may be published: a cohort is hidden when fewer than
    ``k`` people are eligible, or when 0 < converters < ``k`` (a median over a handful of people is
    theirs); a cohort's ``suppressed`` flag says to leave out its conversion curve too."""
    if timing.empty or "eligible" not in timing:
        return timing.assign(suppressed=False)
    values = [c for c in timing.columns if c != "cohort" and pd.api.types.is_numeric_dtype(timing[c])]
    people = timing["eligible"]
    if "converters" in timing.columns:
        people = people.where(timing["converters"] == 0, np.minimum(timing["eligible"], timing["converters"]))
    out = suppress(timing.assign(_people=people), people="_people", k=k, dims=["cohort"], values=values)
    summary = out.attrs["suppression"]
    out = out.drop(columns="_people")
    out.attrs["suppression"] = summary
    return out


def suppress_counts(frame: pd.DataFrame, *, people: str, k: int, dims: Sequence[str],
                    values: Sequence[str] = ()) -> pd.DataFrame:
    """A one-way table of people per group with shares of the whole (so the total is published):
    small groups hidden, and a partner for each so that the total does not give them away."""
    if frame.empty:
        return frame.assign(suppressed=pd.Series(dtype=bool))
    return suppress(frame, people=people, k=k, dims=list(dims), margins=[()], values=list(values))


def suppress_attribution(result: pd.DataFrame, k: int) -> pd.DataFrame:
    """Attribution results (:meth:`Engine.attribution`, one row per model and touchpoint class) with the
    classes that fewer than ``k`` converting people (or accounts) went through hidden in every model.

    The group behind a class's credit is the ``journeys`` column: the distinct converting units with a
    touch of the class in the lookback (from a path file, its converting journeys through the class). A
    model's credits add up to its total, which the report shows, so a partner class is hidden too
    (complementary suppression, with the grand total as the margin); the same classes are hidden in
    every model, since every model's credit of a class comes from the same journeys. Hidden rows keep
    their model and class, with ``suppressed`` true and every figure null.

    ``attrs``:

    - ``suppression``: a :class:`SuppressionSummary` counting touchpoint classes (each hidden in every
      model); its ``withheld_totals`` holds the grand total when that must not be shown.
    - ``totals``: per model the total ``conversions`` and ``value`` attributed, or ``None`` when withheld
      (fewer than ``k`` converting units in all, or no class with converters left visible).
    - ``conversions_without_touch`` and ``value_without_touch`` become ``None`` (and
      ``without_touch_suppressed`` true) when those conversions come from fewer than ``k`` units.
    """
    if "journeys" not in result.columns:
        msg = "attribution results need the journeys column (converting units per class) to be suppressed"
        raise ValueError(msg)
    k = check_k(k)
    out = result.copy()
    out.attrs = dict(result.attrs)
    classes = (result.groupby("class", sort=True)["journeys"].max().reset_index()
               if len(result) else pd.DataFrame({"class": pd.Series(dtype=object), "journeys": pd.Series(dtype=int)}))
    table = suppress(classes, people="journeys", k=k, dims=["class"], margins=[()], values=[]) if len(classes) else (
        classes.assign(suppressed=pd.Series(dtype=bool)))
    hidden_classes = set(table.loc[table[SUPPRESSED], "class"]) if len(table) else set()
    summary = table.attrs.get("suppression", SuppressionSummary(k=k, primary=0, complementary=0))

    units = out.attrs.get("units_with_touch")
    visible_with_people = bool(((~classes["class"].isin(hidden_classes)) & (classes["journeys"] > 0)).any())
    anyone = bool((classes["journeys"] > 0).any())
    withhold_total = bool(summary.withheld(())) or (anyone and not visible_with_people) or (
        units is not None and 0 < int(units) < k)
    if withhold_total and anyone:  # the total's people are fewer than k: no class of it can be shown either
        hidden_classes |= set(classes.loc[classes["journeys"] > 0, "class"])
    primary = int(((classes["journeys"] > 0) & (classes["journeys"] < k)).sum())
    summary = SuppressionSummary(k=k, primary=primary, complementary=len(hidden_classes) - primary,
                                 withheld_totals=(((), ()),) if withhold_total and anyone else ())

    totals = None if withhold_total and anyone else {
        str(model): {"conversions": float(part["conversions"].sum()), "value": float(part["value"].sum())}
        for model, part in result.groupby("model", sort=False)}
    mask = out["class"].isin(hidden_classes).to_numpy()
    _blank(out, mask, labels=("model", "class"))
    out[SUPPRESSED] = mask

    without = out.attrs.get("units_without_touch")
    if without is None:  # unknown: the conversions are an upper bound of the units behind them
        without = out.attrs.get("conversions_without_touch", 0)
    small = 0 < int(without or 0) < k
    if small:
        out.attrs.update(conversions_without_touch=None, value_without_touch=None)
    out.attrs.update(suppression=summary, totals=totals, without_touch_suppressed=small)
    for name in ("units_with_touch", "units_without_touch"):  # group sizes: used here, never published
        out.attrs.pop(name, None)
    return out


def attribution_note(frame: pd.DataFrame) -> str:
    """The suppression note of :func:`suppress_attribution`'s output ("" when nothing was hidden)."""
    parts = [suppression_note(frame, noun="touchpoint class", where=" in every model")]
    if frame.attrs.get("totals", {}) is None:
        parts.append("The total attributed is withheld too.")
    if frame.attrs.get("without_touch_suppressed"):
        parts.append("The conversions with no community touch are withheld: they come from fewer than "
                     f"{suppression_summary(frame).k} people.")
    return " ".join(p for p in parts if p)


#: per figure of ``commetrics metrics``: the distinct people behind its numerator and its denominator
RATIO_PEOPLE = ("numerator_people", "denominator_people")


def suppress_ratios(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Community metrics (one row per figure, a ratio) with every figure hidden whose numerator or
    denominator comes from 0 < people < ``k`` (``numerator_people`` and ``denominator_people``).

    The figures are single ratios with no totals published beside them, so no complementary cells are
    needed: figures that share a group of people (revenue per member and activation share the members)
    are hidden together because their counts are the same.
    """
    if table.empty:
        return table.assign(suppressed=pd.Series(dtype=bool))
    smallest = _smaller_side(table, RATIO_PEOPLE)
    values = [c for c in table.columns if c != "metric" and pd.api.types.is_numeric_dtype(table[c])]
    out = suppress(table.assign(_people=smallest), people="_people", k=k, dims=["metric"], values=values)
    summary = out.attrs["suppression"]
    out = out.drop(columns="_people")
    out.attrs["suppression"] = summary
    return out


def suppression_note(frame: pd.DataFrame, *, noun: str = "cell", where: str = "") -> str:
    """One sentence saying whether suppression applied, for under a table ("" when it did not).

    ``noun`` names what was hidden ("cell", "touchpoint class"), ``where`` is added after it.
    """
    if "suppression" not in frame.attrs:
        return ""
    summary = suppression_summary(frame)
    if not summary.applied:
        return ""
    hidden = summary.primary + summary.complementary
    plural = noun if hidden == 1 else noun + ("es" if noun.endswith("s") else "s")
    partners = (f" ({summary.complementary} of them only so that totals do not reveal the others)"
                if summary.complementary else "")
    return f"{hidden} {plural} hidden{where} to protect groups of fewer than {summary.k} people{partners}."


# --------------------------------------------------------------------------- impact analyses of people


def _survey_levels(levels: pd.DataFrame, k: int) -> pd.DataFrame:
    """NPS/CSAT per level, judged by the members behind the answers (one member answers often)."""
    people = "members" if "members" in levels.columns else "answers"
    return suppress_counts(levels, people=people, k=k, dims=["level"],
                           values=[c for c in levels.columns if c not in ("level", people)])


def suppress_survey(result: dict[str, Any], k: int) -> tuple[dict[str, Any], Publication]:
    """NPS or CSAT by participation (:meth:`Engine.impact` ``"nps"`` / ``"csat"``) as published, and its note.

    - ``levels`` (one row per participation level): a level whose answers come from 0 < members < ``k`` is
      hidden; the total of the answers is printed beside it, so a partner level is hidden too
      (:func:`suppress_counts`, as in the report).
    - ``response`` (members per level over the last year): the same, on its members.
    - When the answers come from fewer than ``k`` members in all (or the answers' total must be withheld),
      every level with answers is hidden and the totals, the rank correlation and the ordinal model (all
      computed over those few people) are withheld: ``None``, and named in ``withheld``.

    Returns the published figures and the :class:`~commetrics.results.Publication` (``withheld`` names the
    keys set to ``None``; its note is "" when nothing was hidden).
    """
    k = check_k(k)
    out = dict(result)
    levels, response = result["levels"], result["response"]
    out["levels"] = _survey_levels(levels, k)
    out["response"] = suppress_counts(response, people="members", k=k, dims=["level"],
                                      values=[c for c in response.columns if c not in ("level", "members")])
    withheld: list[str] = []
    few = 0 < int(result["members"]) < k or bool(_summary(out["levels"], k).withheld(()))
    if few:  # every figure of the levels comes from fewer than k people
        out["levels"] = _hide(out["levels"], levels["answers"] > 0, labels=("level",), k=k, total_withheld=True)
        withheld = ["answers", "members", "spearman", "ordinal"]
        out.update(dict.fromkeys(withheld))
    comparison = result.get("comparison") or {}
    sides = (comparison.get("engaged_members", 0), comparison.get("other_members", 0))
    # Engaged vs not engaged regroups the levels: its counts beside a hidden level would give that level away.
    if comparison and (few or bool(_summary(out["levels"], k).applied) or any(0 < side < k for side in sides)):
        out["comparison"] = None
        withheld.append("comparison")
    notes = [suppression_note(out["levels"], noun="level", where=" in the scores"),
             suppression_note(out["response"], noun="level", where=" in the response table")]
    if few:
        notes.append(f"The totals, the correlation and the ordinal model are withheld: the answers come from fewer "
                     f"than {k} members.")
    if "comparison" in withheld:
        notes.append("The comparison of engaged and other members is withheld: it regroups levels hidden here, or "
                     f"one side has fewer than {k} members.")
    return _published(out, k, withheld, notes)


def suppress_exposure(result: dict[str, Any], k: int) -> tuple[dict[str, Any], Publication]:
    """``impact exposure`` (:meth:`Engine.impact` ``"exposure"``) as published, and its note.

    The cells are the two groups, exposed and not exposed (their members and outcome rates). The number of
    eligible members is printed beside them, so when one group has 0 < members < ``k`` the other is hidden
    too (it is the total minus the small one). Everything that compares the groups then rests on fewer than
    ``k`` people and is withheld (``None``): the raw and adjusted (AIPW, IPW) differences, the balance table
    (which holds the small group's covariate means), the propensity overlap (its extreme scores) and the
    effective sample sizes. When nothing is small the result is unchanged.
    """
    k = check_k(k)
    members, exposed = int(result["members"]), int(result["exposed"])
    groups = pd.DataFrame({"group": ["exposed", "unexposed"], "members": [exposed, members - exposed],
                           "rate": [result["rate_exposed"], result["rate_unexposed"]]})
    groups = suppress_counts(groups, people="members", k=k, dims=["group"], values=["rate"])
    summary = suppression_summary(groups)
    out = dict(result)
    out.pop("units", None)  # one row per member with a propensity: for the analyst holding the data only
    withheld: list[str] = []
    if summary.applied:
        withheld = ["exposed", "rate_exposed", "rate_unexposed", "raw", "adjusted", "headline", "guards",
                    "population", "notes", "ipw", "matched", "matched_pairs", "balance", "overlap", "ess",
                    "sensitivity", "e_value", "refutations"]
        if summary.withheld(()):
            withheld.insert(0, "members")
        out.update(dict.fromkeys(withheld))
    notes = [suppression_note(groups, noun="group")]
    if summary.applied:
        notes.append(f"The comparison (raw and adjusted differences, balance, overlap, effective sample sizes) is "
                     f"withheld: it rests on a group of fewer than {k} people.")
    return _published(out, k, withheld, notes)


def suppress_experiment(result: dict[str, Any], k: int) -> tuple[dict[str, Any], Publication]:
    """``impact experiment`` (:meth:`Engine.impact` ``"experiment"``) as published, and its note.

    A variant is hidden, for every outcome, when its units assigned or analysed (the smaller non-empty of
    the two) are 0 < units < ``k``: its row in ``variants`` and its count in the sample-ratio check become
    null. No total of the variants is printed (the sample-ratio check lists them one by one), so no partner
    is hidden; but figures computed from a hidden variant are withheld: every comparison of it or against
    it (its row in ``comparisons`` keeps its labels, with ``suppressed`` true and every figure null), the
    sample-ratio chi-square and p (with the visible counts they give the hidden one away; ``mismatch`` stays),
    and the minimum detectable effect when the control is hidden (it comes from the control's size and rate).
    """
    k = check_k(k)
    variants = result["variants"]
    per = variants.groupby("variant", sort=True)[["assigned", "analysed"]].max().reset_index()
    people = _smaller_side(per, ("assigned", "analysed"))
    table = suppress(per.assign(units=people)[["variant", "units"]], people="units", k=k, dims=["variant"],
                     values=[])
    hidden = set(table.loc[table[SUPPRESSED], "variant"])
    summary = suppression_summary(table)
    out = dict(result)
    out["variants"] = _hide(variants, variants["variant"].isin(hidden), labels=("outcome", "variant"), k=k)
    comparisons = result["comparisons"]
    if len(comparisons):
        mask = comparisons["variant"].isin(hidden) | comparisons["control"].isin(hidden)
        out["comparisons"] = _hide(comparisons, mask, labels=("outcome", "variant", "control"), k=k)
    else:
        out["comparisons"] = comparisons.assign(suppressed=pd.Series(dtype=bool))
    withheld: list[str] = []
    if hidden:
        srm = dict(result["srm"])
        srm["counts"] = {v: (None if v in hidden else n) for v, n in srm["counts"].items()}
        srm.update(chi2=None, p=None)
        out["srm"] = srm
        withheld = ["srm.chi2", "srm.p"]
        if result["control"] in hidden:
            out["minimum_detectable_effect"] = None
            withheld.append("minimum_detectable_effect")
    notes = [suppression_note(table, noun="variant", where=" in every outcome")]
    if hidden:
        notes.append("Comparisons with a hidden variant and the sample-ratio chi-square are withheld"
                     + (", and so is the minimum detectable effect (the control is hidden)."
                        if result["control"] in hidden else "."))
    out["variants"].attrs["suppression"] = summary
    return _published(out, k, withheld, notes)


def label_hidden(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A suppressed table for the terminal: ``column`` says "suppressed" on hidden rows, the flag is dropped."""
    if SUPPRESSED not in frame.columns:
        return frame
    hidden = frame[SUPPRESSED].to_numpy(bool)
    shown = frame.drop(columns=SUPPRESSED)
    if hidden.any():
        shown = shown.astype({column: object})
        shown.loc[hidden, column] = "suppressed"
    return shown


def _summary(frame: pd.DataFrame, k: int) -> SuppressionSummary:
    summary = frame.attrs.get("suppression")
    return summary if isinstance(summary, SuppressionSummary) else SuppressionSummary(k=k, primary=0, complementary=0)


def _hide(frame: pd.DataFrame, mask: pd.Series, *, labels: Sequence[str], k: int,
          total_withheld: bool = False) -> pd.DataFrame:
    """``frame`` with the rows of ``mask`` hidden: every figure null, ``suppressed`` true, labels kept.

    A ``suppressed`` column already there (from :func:`suppress`) is widened; the summary counts the rows
    hidden as primary (those that were hidden already keep their count)."""
    before = _summary(frame, k)
    already = frame[SUPPRESSED].to_numpy(bool) if SUPPRESSED in frame.columns else None
    mask = mask.to_numpy(bool)
    out = frame.copy()
    _blank(out, mask, labels=labels)
    out[SUPPRESSED] = mask if already is None else (mask | already)
    added = int(out[SUPPRESSED].sum()) - (int(already.sum()) if already is not None else 0)
    withheld = before.withheld_totals + ((((), ()),) if total_withheld and not before.withheld(()) else ())
    out.attrs["suppression"] = SuppressionSummary(k=k, primary=before.primary + added,
                                                  complementary=before.complementary, withheld_totals=withheld)
    return out


def _blank(frame: pd.DataFrame, mask: Any, *, labels: Sequence[str]) -> None:
    """Null every figure (numeric column but ``labels`` and the flag) of the rows of ``mask``, in place."""
    for column in frame.columns:
        if column not in labels and column != SUPPRESSED and pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = nullable(frame[column]).mask(mask)


def _smaller_side(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Per row, the smaller non-empty of two counts of people (0 when both are empty)."""
    sides = frame[list(columns)].astype(float)
    return sides.where(sides > 0).min(axis=1).fillna(0).astype("int64")


def _published(out: dict[str, Any], k: int, withheld: list[str], notes: list[str]
               ) -> tuple[dict[str, Any], Publication]:
    note = " ".join(n for n in notes if n)
    return out, Publication(k, suppression_applied=bool(note), withheld=tuple(withheld), note=note)
