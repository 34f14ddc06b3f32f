"""The ``[scores]`` section of ``commetrics.toml``: points per activity and tiers of the member engagement
score, weights and bands of the account health score.

It lives beside :mod:`commetrics.config`, which includes it as ``Config.scores`` (and re-exports its
classes), so that the config module stays one a person can read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_POINTS", "EngagementSettings", "HealthSettings", "ScoreSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_POINTS = {
    "webinar_attended": 5.0, "post": 3.0, "reply": 2.0, "accepted_answer": 5.0, "event_attended": 5.0,
    "feedback_submitted": 4.0, "referral": 8.0, "question": 2.0, "answer": 2.0, "comment": 1.0,
    "case_study": 8.0, "review": 6.0, "reaction": 0.5,
}


class EngagementSettings(_Section):
    """The member engagement score: points per activity, decayed, in tiers."""

    points: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_POINTS),
        description="Points per activity type (types not listed earn 0)",
    )
    contribution_weight: float = Field(
        1.0, ge=0, description="Multiplier on the points of contributions (posts, replies, answers, feedback, ...)"
    )
    consumption_weight: float = Field(
        0.5, ge=0, description="Multiplier on the points of consumption (attending, reacting, ...): "
        "contributions count above consumption"
    )
    half_life_days: float = Field(30.0, gt=0, description="An activity's points halve every this many days")
    tiers: dict[str, float] = Field(
        default_factory=lambda: {"champion": 50.0, "active": 15.0, "casual": 3.0, "dormant": 0.0},
        description="Tier name -> lowest score of the tier; a member gets the highest tier they reach",
    )
    active_days: int = Field(30, ge=1, description="A member with an activity in this many days is active")


class HealthSettings(_Section):
    """The account health score: weighted 0-100 components, bands, validation."""

    weights: dict[str, float] = Field(
        default_factory=lambda: {"community": 30.0, "product_usage": 25.0, "support": 15.0,
                                 "relationship": 15.0, "commercial": 15.0},
        description="Weight per component (community, product_usage, support, relationship, commercial); "
        "renormalised over the components an account has",
    )
    bands: dict[str, float] = Field(
        default_factory=lambda: {"red": 0.0, "yellow": 50.0, "green": 75.0},
        description="Band name -> lowest score of the band",
    )
    product_usage_attribute: str = Field(
        "product_usage", description="Account attribute measuring product usage (higher is better)"
    )
    support_attribute: str = Field(
        "support_tickets", description="Account attribute counting support tickets (more is worse)"
    )
    score_target: float = Field(
        50.0, gt=0, description="Community: an account engagement score at or above this gives full depth "
        "(depth = ln(1 + score) / ln(1 + target))"
    )
    relationship_days: int = Field(365, ge=1, description="NPS answers within this many days count")
    lead_days: int = Field(90, ge=1, description="Validation: scores are taken this many days before each renewal")
    trend_days: int = Field(30, ge=1, description="The trend compares with the score this many days earlier")

    @field_validator("weights")
    @classmethod
    def _known_components(cls, values: dict[str, float]) -> dict[str, float]:
        known = ("community", "product_usage", "support", "relationship", "commercial")
        unknown = sorted(set(values) - set(known))
        if unknown:
            msg = f"unknown component(s) {', '.join(unknown)} in weights; the components are {', '.join(known)}"
            raise ValueError(msg)
        if any(w < 0 for w in values.values()) or not any(w > 0 for w in values.values()):
            msg = "weights must be 0 or more, at least one above 0"
            raise ValueError(msg)
        return values


class ScoreSettings(_Section):
    """Engagement and health scores."""

    engagement: EngagementSettings = Field(default_factory=lambda: EngagementSettings(),
                                           description="Member engagement score")
    health: HealthSettings = Field(default_factory=lambda: HealthSettings(), description="Account health score")
