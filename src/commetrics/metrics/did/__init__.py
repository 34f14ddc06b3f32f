"""Difference-in-differences and event studies for campaigns aimed at part of the customer base.

METHODS.md card (d): when a campaign reached some accounts (for example, community members) and
not others, and outcomes are observed before and after, compare the change in the reached
accounts with the change in accounts it never reached. Two estimators, both pure functions on a
long panel with one row per unit and period:

=================  ===========================================================================
``unit``           the account or member id (any hashable value)
``period``         an integer period index, e.g. months since an epoch (``year * 12 + month``)
``y``              the outcome (usage, revenue, a 0/1 flag), numeric
``first_treated``  the period at which the unit's campaign started; NaN/None if it never did
=================  ===========================================================================

* :func:`twfe_did`, the two-way fixed-effects regression ``y ~ treated_post + unit + period``
  with standard errors clustered by unit. It is right for one start date (the classic 2×2 design)
  and for effects that stay constant; with staggered start dates and effects that grow, it
  compares late starters against early starters and can be badly biased, even in sign
  (Goodman-Bacon 2021).
* :func:`event_study`, the group-time estimator of Callaway & Sant'Anna (2021) with never-treated
  comparison units and no covariates, aggregated to event time (periods since the start). It
  shows the effect period by period and the pre-period differences that test the parallel-trends
  assumption, which every difference-in-differences estimate rests on.

These are adjusted associations: they equal the effect of the campaign only if the reached and
the other units would have moved in parallel without it.

The package: :mod:`~.panel` (the panel's columns and checks, shared by both estimators),
:mod:`~.records` (the result types), :mod:`~.twfe` (:func:`twfe_did`) and
:mod:`~.callaway_santanna` (:func:`event_study`); everything is importable from here.
"""

from __future__ import annotations

from .callaway_santanna import MIN_REPLICATES as MIN_REPLICATES
from .callaway_santanna import PRE_TREND_ALPHA as PRE_TREND_ALPHA
from .callaway_santanna import _bootstrap_weights as _bootstrap_weights
from .callaway_santanna import _group_time as _group_time
from .callaway_santanna import _Pairs as _Pairs
from .callaway_santanna import _pairs as _pairs
from .callaway_santanna import _pre_trend as _pre_trend
from .callaway_santanna import event_study
from .panel import COLUMNS as COLUMNS
from .panel import FloatArray as FloatArray
from .panel import IntArray as IntArray
from .panel import _confidence as _confidence
from .panel import _integer_column as _integer_column
from .panel import _Panel as _Panel
from .panel import _panel as _panel
from .records import DidResult, EventStudy, EventTime, PreTrendTest
from .twfe import _two_way_residuals as _two_way_residuals
from .twfe import twfe_did

__all__ = ["DidResult", "EventStudy", "EventTime", "PreTrendTest", "event_study", "twfe_did"]
