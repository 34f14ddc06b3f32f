"""Words for the names in the data: cohort keys, columns, covariates, and the glossary the report links to.

The store and the analyses speak in identifiers (``join_month``, ``ci_low``, ``log:arr``,
``segment_mid_market``); a community lead reads words. Every front door — terminal, report, summary —
names things through :func:`words` and :func:`column`, and links a technical term to its glossary
entry (:data:`GLOSSARY`) rather than leaving it unexplained.
"""

from __future__ import annotations

__all__ = ["COHORT_WORDS", "GLOSSARY", "cohort_key", "column", "words"]

#: Cohort keys, in words.
COHORT_WORDS = {
    "join_month": "month joined",
    "join_week": "week joined",
    "join_quarter": "quarter joined",
    "join_year": "year joined",
    "entry_path": "how they found the community",
    "first_activity": "first activity",
    "segment": "account segment",
    "program": "program taken part in",
}

#: Names that words cannot be derived from by replacing underscores.
_WORDS = {
    "arr": "annual recurring revenue",
    "log:arr": "annual recurring revenue (log scale)",
    "nps": "NPS",
    "csat": "CSAT",
    "ces": "CES",
    "seo": "search (SEO)",
    "ama": "AMA sessions",
    "mid_market": "mid-market",
    "smb": "small business",
    "tenure_days": "tenure",
    "product_usage": "product usage",
    "support_tickets": "support tickets",
    "all": "all members",
}

#: Column names of published tables whose words are not the name with spaces.
_COLUMNS = {
    "ci_low": "95% interval, low",
    "ci_high": "95% interval, high",
    "smd_before": "SMD before",
    "smd_after": "SMD after weighting",
    "variance_ratio_before": "variance ratio before",
    "variance_ratio_after": "variance ratio after",
    "window_days": "window (days)",
    "km_median_days": "Kaplan–Meier median (days)",
    "median_days_converters": "median days (converters)",
    "existing_customers": "existing customers",
    "diff": "difference",
    "diff_low": "difference, 95% low",
    "diff_high": "difference, 95% high",
}


def words(name: object) -> str:
    """An identifier from the data in words: ``log:arr`` → ``annual recurring revenue (log scale)``,
    ``segment_mid_market`` → ``segment: mid-market``, ``trial_after_join`` → ``trial after join``."""
    text = str(name)
    if text in _WORDS:
        return _WORDS[text]
    if text.startswith("log:"):
        return f"{words(text[4:])} (log scale)"
    for prefix in ("segment_", "tier_", "band_"):  # one-hot columns of a category
        if text.startswith(prefix) and len(text) > len(prefix):
            return f"{prefix[:-1]}: {words(text[len(prefix):])}"
    return text.replace("_", " ")


def cohort_key(key: str | None) -> str:
    """A cohort key in words (``None``: every member)."""
    if key is None:
        return "all members"
    return COHORT_WORDS.get(key, words(key))


def column(name: str) -> str:
    """A column of a published table in words: ``conversions_low`` → ``conversions, 95% low``."""
    if name in _COLUMNS:
        return _COLUMNS[name]
    for suffix, said in (("_low", "95% low"), ("_high", "95% high")):
        if name.endswith(suffix):
            return f"{words(name[: -len(suffix)])}, {said}"
    return words(name)


#: The glossary: id → (term, plain explanation). The report links every technical term here.
GLOSSARY: dict[str, tuple[str, str]] = {
    "conversion-rate": ("Conversion rate", "The share of eligible members who reached the outcome (say, started "
                        "a trial) within the window after their anchor (say, joining)."),
    "window": ("Window", "How many days after the anchor a conversion still counts. Members whose window has not "
               "ended yet are in progress, not failures."),
    "in-progress": ("In progress", "Members still inside their window: too early to say whether they convert, so "
                    "they are left out of the rate."),
    "existing-customers": ("Existing customers", "People who had already converted before their anchor; they are "
                           "counted apart, not as community conversions."),
    "interval": ("95% interval", "The range the true figure lies in with 95% confidence, given the data. A "
                 "difference whose interval includes zero is not a clear difference."),
    "points": ("Percentage points", "The difference between two percentages: 12% against 8% is +4 points."),
    "wilson": ("Wilson interval", "The 95% interval of a rate, reliable even for small groups and rates near 0 or "
               "100%."),
    "newcombe": ("Newcombe interval", "The 95% interval of a difference between two rates, built from the Wilson "
                 "intervals of each."),
    "kaplan-meier": ("Kaplan–Meier (KM)", "A way to read time to conversion that also uses members who have not "
                     "converted yet, instead of ignoring them. \u201cNot reached\u201d: fewer than half ever "
                     "convert."),
    "hidden": ("Hidden figures", "Groups of fewer people than the privacy threshold are never shown, nor any figure "
               "that would let one be worked out from a total (small-cell suppression)."),
    "attribution": ("Attribution", "Splitting the credit for each conversion over the community touches before "
                    "it. It allocates credit; it does not measure what the community caused."),
    "models": ("Attribution models", "Rules for splitting credit: first touch, last touch, equal shares (linear), "
               "position-based, time decay, Markov (what is lost when a touchpoint is removed) and Shapley (fair "
               "shares from game theory). Where they agree, the split does not depend on the rule."),
    "bootstrap": ("Bootstrap", "Re-running the analysis on many resamples of the data to see how much a figure "
                  "moves; the spread gives its interval."),
    "selection-bias": ("Selection bias", "People who take part differ from those who do not (bigger accounts, "
                       "heavier users). A raw comparison mixes that difference with any effect of taking part."),
    "adjusted": ("Adjusted difference", "The difference after comparing like with like in the covariates (size, "
                 "segment, usage ...), by a doubly robust estimate (AIPW): an adjusted association, not proof of "
                 "cause."),
    "covariates": ("Covariates", "The characteristics the adjustment holds equal between the groups."),
    "ipw": ("Weighting (IPW)", "Inverse propensity weighting: each account counts in inverse proportion to how "
            "likely it was to be in its group, so the groups look alike in the covariates."),
    "matching": ("Matched pairs", "Each engaged account compared with the most similar account that was not "
                 "engaged."),
    "propensity": ("Propensity", "How likely a unit was to be in the engaged group, given its covariates."),
    "smd": ("Standardised mean difference (SMD)", "How far apart the groups are in a covariate, in standard "
            "deviations. Below 0.1 after weighting counts as balanced."),
    "ess": ("Effective sample size", "How many equally weighted units the weighted group is worth."),
    "overlap": ("Overlap", "Whether every engaged unit has comparable units that were not engaged; units without "
                "one are set aside, and the answer says whom it describes."),
    "att": ("ATT / ATE", "ATT: the difference for those who took part, against what they would have done "
            "otherwise. ATE: the difference for everyone alike."),
    "robustness": ("Robustness value and E-value", "How strong a factor nobody measured would have to be to explain "
                   "the adjusted difference away. Larger is sturdier."),
    "nps": ("NPS", "Net Promoter Score: the % of promoters (9–10) minus the % of detractors (0–6), from −100 to "
            "+100."),
    "csat": ("CSAT", "Customer satisfaction score from surveys."),
    "spearman": ("Spearman correlation", "How consistently higher participation goes with higher scores, from −1 "
                 "to +1."),
    "ordinal": ("Ordinal logit", "A model of the score's ordered levels; its odds ratio says how the odds of a "
                "higher score change per step of participation."),
    "auc": ("AUC", "How well a score ranks those who churn above those who renew: 0.5 is a coin toss, 1 is "
            "perfect."),
    "health": ("Health score", "A 0–100 score per account from weighted components: community, product usage, "
               "support, relationship and commercial."),
    "tiers": ("Engagement tiers", "Members grouped by their engagement score: points per activity, contributions "
              "above consumption, fading with time."),
    "holm": ("Holm adjustment", "When many behaviours are tested at once, some look associated by chance; Holm's "
             "method raises each p-value so that the chance of calling any unrelated behaviour associated stays at "
             "5%."),
    "odds": ("Odds ratio", "How the odds of converting change with a behaviour, the others held equal: ×2 doubles "
             "them, ×1 is no difference."),
    "deflection": ("Support deflection", "Questions answered by the community that would otherwise have been "
                   "support tickets, priced at the configured cost per ticket. An estimate, not a measurement."),
}
