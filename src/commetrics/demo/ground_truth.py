"""What ``ground_truth.json`` states: the planted effects, from the parameters and the drawn renewals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from .outcomes import _trial_cdf
from .params import (
    CONTACT_TRIAL_P,
    CONVERSION_WINDOWS,
    DRIVER_DAYS,
    DRIVER_OUTCOME,
    DRIVER_WINDOW_DAYS,
    DRIVERS,
    ENGAGED_FILE,
    ENGAGED_MIN_ACTIVITIES,
    ENTRY_PATHS,
    EXISTING_CUSTOMER_SHARE,
    EXPOSURE_END_DAYS,
    EXPOSURE_START_DAYS,
    GENERATOR_VERSION,
    HISTORY_DAYS,
    LATE_TRIAL_MEAN_DAYS,
    LATE_TRIAL_MIN_DAYS,
    LATE_TRIAL_P,
    LOG_ARR_CENTER,
    LOG_ARR_SCALE,
    NPS_BASE,
    NPS_NOISE_SD,
    NPS_RESPONSE_P,
    NPS_SECOND_P,
    NPS_SLOPE,
    PROPENSITY,
    RENEWAL,
    TRIAL_MAX_DAYS,
    TRIAL_MEAN_DAYS,
    TRIAL_P,
    USAGE_CENTER,
    USAGE_SCALE,
)
from .renewal import _Periods


def _conversion_truth() -> dict[str, Any]:
    by_path = {
        path: {str(w): round(TRIAL_P[path] * _trial_cdf(w), 12) for w in CONVERSION_WINDOWS} for path in ENTRY_PATHS
    }
    ratio = {str(w): TRIAL_P["webinar"] / TRIAL_P["seo"] for w in CONVERSION_WINDOWS}
    return {
        "description": (
            "Each non-staff member who is not an existing customer starts a trial (outcome trial_start, "
            "keyed by member_id) within 90 days of joining with probability p90[entry_path]. The delay "
            "from joined_at is exponential with mean 20 days truncated to [0, 90) days, so "
            "P(trial within W days) = p90 * (1 - exp(-W/20)) / (1 - exp(-90/20)). The webinar/seo ratio "
            "is 2.5 in every window. About 3% of non-converters start a trial later, 91+ days after "
            "joining. Existing customers (trial before joining) are excluded and counted apart."
        ),
        "outcome_type": "trial_start",
        "anchor": "join",
        "unit": "person",
        "windows_days": list(CONVERSION_WINDOWS),
        "window_bounds": "elapsed time, 0 <= ts - joined_at <= W days (inclusive)",
        "eligible": "is_staff = false, no trial_start/purchase before joined_at, joined_at + W <= as_of",
        "p90": dict(TRIAL_P),
        "probability": by_path,
        "ratio_webinar_to_seo": ratio,
        "relative_to_seo": {path: TRIAL_P[path] / TRIAL_P["seo"] for path in ENTRY_PATHS},
        "delay_distribution": {
            "kind": "truncated_exponential",
            "mean_days": TRIAL_MEAN_DAYS,
            "max_days": TRIAL_MAX_DAYS,
        },
        "late_trials": {
            "probability": LATE_TRIAL_P,
            "min_days": LATE_TRIAL_MIN_DAYS,
            "extra_mean_days": LATE_TRIAL_MEAN_DAYS,
        },
        "non_member_contacts": {
            "description": "CRM contacts who never joined; trial_start keyed by contact_id, anchor contacts.created_at",
            "p90": CONTACT_TRIAL_P,
            "probability": {str(w): round(CONTACT_TRIAL_P * _trial_cdf(w), 12) for w in CONVERSION_WINDOWS},
        },
        "existing_customer_share": EXISTING_CUSTOMER_SHARE,
    }


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def _difference(x: np.ndarray, group: np.ndarray) -> float | None:
    """mean(x | group) - mean(x | not group), or None when a group is empty."""
    if not 0 < group.sum() < group.size:
        return None
    return float(x[group].mean() - x[~group].mean())


def _renewal_truth(periods: _Periods) -> dict[str, Any]:
    d = np.flatnonzero(periods.decided)
    engaged = periods.engaged[d].astype(bool)
    p0, p1 = periods.p0[d], periods.p1[d]
    renewed = periods.renewed[d].astype(bool)
    return {
        "description": (
            "Each decided renewal (subscriptions.renewed not null) is first made engaged with probability "
            "sigmoid(propensity), then renews with probability sigmoid(outcome + engaged * tau). Both "
            "models rise with account size and usage, so the raw renewal difference engaged - not engaged "
            "overstates the effect; true_ate/true_att are the planted effects on the risk-difference "
            "scale (means of p(renew|x, engaged=1) - p(renew|x, engaged=0) over the decided renewals, "
            "respectively the engaged ones)."
        ),
        "K": ENGAGED_MIN_ACTIVITIES,
        "engaged_definition": (
            "the account's members (members.account_id) together have >= K activities with ts in "
            "[period_end - 180 days, period_end - 60 days)"
        ),
        "window": {
            "start_days_before_period_end": EXPOSURE_START_DAYS,
            "end_days_before_period_end": EXPOSURE_END_DAYS,
            "bounds": "[start, end)",
        },
        "covariates": ["accounts.arr", "accounts.segment", "accounts.product_usage"],
        "covariate_proxies": ["accounts.employees", "accounts.seats"],
        "model_terms": {
            "z_log_arr": f"(ln(accounts.arr) - {LOG_ARR_CENTER}) / {LOG_ARR_SCALE}",
            "z_usage": f"(accounts.product_usage - {USAGE_CENTER}) / {USAGE_SCALE}",
            "segment": "accounts.segment (smb is the reference level)",
        },
        "coefficients": {
            "engaged": {"link": "logit", **PROPENSITY},
            "renewed": {"link": "logit", **RENEWAL},
        },
        "tau": RENEWAL["engaged"],
        "n_decided": int(d.size),
        "n_engaged": int(engaged.sum()),
        "true_ate": _mean(p1 - p0),
        "true_att": _mean((p1 - p0)[engaged]),
        "naive_difference_expected": _difference(np.where(engaged, p1, p0), engaged),
        "raw_difference_realised": _difference(renewed.astype(np.float64), engaged),
        "renewal_rate_realised": _mean(renewed),
        "engaged_file": ENGAGED_FILE,
    }


def _nps_truth() -> dict[str, Any]:
    return {
        "description": (
            f"About {NPS_RESPONSE_P:.0%} of non-staff members answer an NPS survey at least 14 days after "
            f"joining ({NPS_SECOND_P:.0%} of them again 90-240 days later). score = clip(round({NPS_BASE} + "
            f"{NPS_SLOPE} * ln(1 + n) + Normal(0, {NPS_NOISE_SD})), 0, 10), where n is the member's number "
            "of activities strictly before the response. Non-member contacts answer with n = 0. A few CSAT "
            "answers (1..5) carry no effect."
        ),
        "kind": "nps",
        "base": NPS_BASE,
        "slope_per_log1p_activities": NPS_SLOPE,
        "noise_sd": NPS_NOISE_SD,
        "exposure": "activities of the member with ts < survey ts",
    }


def _drivers_truth() -> dict[str, Any]:
    return {
        "description": (
            f"Each non-staff member who is not an existing customer becomes a lead (outcome {DRIVER_OUTCOME}, keyed "
            f"by member_id) between {DRIVER_DAYS} and {DRIVER_DAYS + DRIVER_WINDOW_DAYS} days after joining with "
            "probability sigmoid(intercept + the coefficient of each behaviour the member had in the first "
            f"{DRIVER_DAYS} days). Only the listed behaviours change it; every other activity type and programme "
            "is a non-driver."
        ),
        "outcome_type": DRIVER_OUTCOME,
        "days": DRIVER_DAYS,
        "window_days": DRIVER_WINDOW_DAYS,
        "link": "logit",
        "coefficients": dict(DRIVERS),
        "drivers": [name for name in DRIVERS if name != "intercept"],
    }


def _ground_truth(
    members: int, seed: int, as_of: datetime, activities_per_member: float, periods: _Periods
) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "members": members,
        "activities_per_member": activities_per_member,
        "as_of": as_of.isoformat(),
        "history_days": HISTORY_DAYS,
        "conversion": _conversion_truth(),
        "renewal": _renewal_truth(periods),
        "nps": _nps_truth(),
        "drivers": _drivers_truth(),
        "description": {
            "conversion": "Webinar joiners start trials 2.5x as often as SEO joiners within every window.",
            "renewal": "Big accounts both engage more and renew more: raw renewal lift exceeds the true effect.",
            "nps": "Members with more activity before answering give higher NPS scores.",
            "drivers": "Members who attend a webinar or ask a question in their first 30 days become leads more often.",
            "staff": "About 3% of members are staff (is_staff = true): exclude them from cohorts.",
            "consent": "Consent is about 85% true, 10% missing, 5% false.",
        },
    }
