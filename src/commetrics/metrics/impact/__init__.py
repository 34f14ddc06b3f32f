"""Impact of engagement on business outcomes: one module per question, each a registered analysis.

* ``impact.renewal`` (:mod:`.renewal`): renewal of engaged vs not engaged accounts, raw and adjusted.
* ``impact.retention`` (:mod:`.retention`): Kaplan–Meier retention per participation level and a Cox model.
* ``impact.nps``, ``impact.csat`` (:mod:`.surveys`): scores by participation and engaged vs other members.
* ``impact.exposure`` (:mod:`.exposure`): any exposure and outcome of members.
* ``impact.experiment``, ``impact.plan`` (:mod:`.experiment`): A/B tests and their planning.
* ``impact.upsell`` (:mod:`.upsell`): expansion after participation, risk-set matched.
* ``impact.campaign`` (:mod:`.campaign`): community-targeted campaigns, difference-in-differences.
* ``impact.feedback`` (:mod:`.feedback`): the feedback contributors to thank.

Every adjusted comparison goes through :func:`commetrics.metrics.adjusted.adjusted_difference`; the
wording is "adjusted association", never "effect".
"""

from __future__ import annotations

from .campaign import campaign_impact, campaign_table
from .common import MIN_RENEWALS
from .experiment import experiment_impact, experiment_table
from .exposure import exposure_impact, exposure_table
from .feedback import feedback_contributors
from .renewal import renewal_impact, renewal_table
from .retention import cox_guards, retention_impact, retention_table
from .surveys import SURVEY_KINDS, survey_impact, survey_table
from .upsell import EXPANSION_OUTCOMES, upsell_impact, upsell_table

__all__ = [
    "EXPANSION_OUTCOMES",
    "MIN_RENEWALS",
    "SURVEY_KINDS",
    "campaign_impact",
    "campaign_table",
    "cox_guards",
    "experiment_impact",
    "experiment_table",
    "exposure_impact",
    "exposure_table",
    "feedback_contributors",
    "renewal_impact",
    "renewal_table",
    "retention_impact",
    "retention_table",
    "survey_impact",
    "survey_table",
    "upsell_impact",
    "upsell_table",
]
