"""Parameters of the synthetic community: sizes, shares, names and the planted effects.

Every number the generator draws with is here, so that :mod:`commetrics.demo.ground_truth`
states exactly what the other modules plant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

GENERATOR_VERSION = "1"
DEFAULT_AS_OF = datetime(2026, 6, 30, tzinfo=UTC)

#: canonical tables in load order
LOAD_ORDER = ("accounts", "members", "contacts", "activities", "outcomes", "subscriptions", "surveys")
GROUND_TRUTH_FILE = "ground_truth.json"
ENGAGED_FILE = "truth_renewal_engaged.parquet"
#: extra columns that the loader folds into ``attributes``
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("employees", "product_usage", "support_tickets", "prior_nps", "tenure_days"),
    "members": ("job_role",),
}

DAY = 86_400  # seconds
HISTORY_DAYS = 730
JOIN_GROWTH = 3.0  # joins per day at as_of / joins per day two years earlier
ACTIVITY_CHUNK_ROWS = 2_000_000

# --- members -------------------------------------------------------------------------------
ENTRY_PATHS = ("seo", "webinar", "referral", "event", "direct")
ENTRY_SHARES = (0.35, 0.15, 0.12, 0.13, 0.25)
STAFF_SHARE = 0.03
ACCOUNT_MEMBER_SHARE = 0.60
EXISTING_CUSTOMER_SHARE = 0.05
NO_EMAIL_SHARE = 0.08
CONSENT_SHARES = (0.85, 0.10, 0.05)  # true, null, false
JOB_ROLES = ("developer", "admin", "analyst", "manager", "executive", "consultant", "other")
JOB_ROLE_SHARES = (0.30, 0.20, 0.15, 0.15, 0.05, 0.05, 0.10)
STAFF_ROLE = "staff"
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Emeka", "Farah",
    "Felix", "Grace", "Hana", "Ivan", "Jonas", "Kai", "Lena", "Luis", "Maya", "Mei", "Nadia",
    "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Sofia", "Tariq", "Uma", "Victor", "Wen",
    "Yara", "Zoe", "Ravi", "Ingrid", "Kofi", "Lucia", "Marek",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoang", "Ito", "Jensen",
    "Kowalski", "Lopez", "Mensah", "Novak", "Okafor", "Park", "Quispe", "Rossi", "Schmidt", "Tanaka",
    "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Moreau", "Silva", "Nakamura", "Olsen",
    "Patel", "Reyes", "Santos", "Toth", "Walsh", "Kim", "Larsen", "Murphy", "Singh", "Berg",
)  # fmt: skip
PERSONAL_DOMAINS = ("mail.example", "inbox.example", "post.example")
STAFF_DOMAIN = "vendor.example"

# --- accounts ------------------------------------------------------------------------------
SEGMENTS = ("smb", "mid_market", "enterprise")
SEGMENT_SHARES = (0.60, 0.30, 0.10)
SEGMENT_MEDIAN_EMPLOYEES = (40.0, 500.0, 6000.0)
SEGMENT_MEMBER_WEIGHT = (1.0, 4.0, 15.0)  # relative number of community members per account
MEMBERS_PER_ACCOUNT = 8.0
CUSTOMER_SHARE = 0.75
LOG_ARR_CENTER, LOG_ARR_SCALE = 8.7, 1.75  # z_log_arr = (ln(arr) - 8.7) / 1.75
USAGE_CENTER, USAGE_SCALE = 55.0, 15.0  # z_usage = (product_usage - 55) / 15
ACCOUNT_WORDS_1 = (
    "North", "Blue", "Bright", "Silver", "Rapid", "Quiet", "Green", "Iron", "Clear", "Open",
    "Summit", "Harbor", "Pioneer", "Crimson", "Golden", "Polar", "Solar", "Vivid", "Urban", "Nimble",
)  # fmt: skip
ACCOUNT_WORDS_2 = (
    "Analytics", "Systems", "Labs", "Logistics", "Health", "Robotics", "Media", "Foods", "Energy",
    "Finance", "Networks", "Software", "Retail", "Works", "Dynamics", "Cloud", "Data", "Motors",
    "Bio", "Studio",
)  # fmt: skip
ACCOUNT_SUFFIXES = ("Inc", "Ltd", "GmbH", "LLC", "Group", "AG")

# --- planted effect 1: acquisition -----------------------------------------------------------
TRIAL_P = {"seo": 0.08, "webinar": 0.20, "referral": 0.16, "event": 0.12, "direct": 0.08}
TRIAL_MEAN_DAYS = 20.0
TRIAL_MAX_DAYS = 90.0
CONVERSION_WINDOWS = (7, 30, 60, 90)
LATE_TRIAL_P = 0.03
LATE_TRIAL_MIN_DAYS, LATE_TRIAL_MEAN_DAYS = 91.0, 120.0
CONTACT_TRIAL_P = 0.04
TRIAL_PURCHASE_P = 0.25
ACTIVATION_P = 0.5
DEMO_REQUEST_P = 0.06
UPGRADE_P, CROSS_SELL_P = 0.20, 0.10
ACCEPTED_ANSWER_P = 0.35  # per question asked
REFERRAL_MADE_P = 0.5  # per referral activity

# --- planted effect 2: renewal ---------------------------------------------------------------
PERIOD_DAYS = 365
ENGAGED_MIN_ACTIVITIES = 5  # K
EXPOSURE_START_DAYS, EXPOSURE_END_DAYS = 180, 60  # window [end - 180 d, end - 60 d)
ENGAGED_EXTRA_MEAN = 8.0  # engaged windows get K + Geometric(mean 8) activities
PROPENSITY: dict[str, Any] = {
    "intercept": -0.6,
    "z_log_arr": 0.8,
    "z_usage": 0.4,
    "segment": {"smb": 0.0, "mid_market": 0.3, "enterprise": 0.6},
}
RENEWAL: dict[str, Any] = {
    "intercept": 1.5,
    "z_log_arr": 0.8,
    "z_usage": 0.5,
    "segment": {"smb": 0.0, "mid_market": 0.25, "enterprise": 0.5},
    "engaged": 0.7,
}

# --- planted effect 3: NPS -------------------------------------------------------------------
NPS_RESPONSE_P, NPS_SECOND_P = 0.15, 0.30
NPS_BASE, NPS_SLOPE, NPS_NOISE_SD = 6.8, 0.6, 2.0
CSAT_P = 0.03
CSAT_SHARES = (0.05, 0.08, 0.17, 0.40, 0.30)  # scores 1..5
CONTACT_NPS_P = 0.05

# --- activities ------------------------------------------------------------------------------
ACTIVITY_TYPES = (
    "post", "reply", "accepted_answer", "reaction", "event_attended", "webinar_attended",
    "feedback_submitted", "referral", "case_study", "review", "question", "answer", "comment",
    "login",
)  # fmt: skip
ACTIVITY_SHARES = (
    0.07, 0.10, 0.02, 0.24, 0.03, 0.04, 0.025, 0.01, 0.002, 0.008, 0.07, 0.06, 0.10, 0.225,
)  # fmt: skip
ACTIVITY_SHAPE = 0.3  # gamma shape of the member's activity rate: many lurkers, few champions
STAFF_ACTIVITY_FACTOR = 4.0
ONBOARDING_DAYS = 30
BURST_SHARE = 0.3  # share of a member's activities drawn in the first 30 days
CHANNELS = ("forum", "slack", "events", "webinars")
PROGRAMS = ("ama", "user_group", "advocacy", "onboarding")
TAGS = ("onboarding", "api", "billing", "integrations", "security", "reporting", "sso", "performance")
TAGGED_TYPES = ("post", "reply", "question", "answer", "comment")

# --- planted effect 4: early behaviours and leads ----------------------------------------------
DRIVER_OUTCOME = "lead"
DRIVER_DAYS = 30  # behaviours in the first 30 days after joining ...
DRIVER_WINDOW_DAYS = 90  # ... raise the chance of a lead in the 90 days after them
#: logit P(lead in (join + 30 d, join + 120 d]) = intercept + sum of the coefficients of what the member did
DRIVERS: dict[str, float] = {"intercept": -3.0, "webinar_attended": 1.2, "question": 0.9}
