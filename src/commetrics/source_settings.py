"""The ``[sources]`` section of ``commetrics.toml``: how the platform connectors map a platform's names.

Each platform names its deals, opportunities, events and statuses its own way; these mappings say
which become which canonical outcome or activity type. They live in the config (``commetrics config``
prints them) so a team changes a mapping without touching code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HubspotSettings", "SalesforceSettings", "SegmentSettings", "SourcesSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubspotSettings(_Section):
    """HubSpot CRM exports and ``pull hubspot``."""

    won_stages: tuple[str, ...] = Field(("closedwon", "Closed Won"), description="Deal stages (internal value or "
                                        "label, any case) that make a deal an outcome")
    deal_types: dict[str, str] = Field(
        default_factory=lambda: {"newbusiness": "purchase", "New Business": "purchase",
                                 "existingbusiness": "upgrade", "Existing Business": "upgrade",
                                 "renewal": "renewal", "Renewal": "renewal"},
        description="Deal type (internal value or label) -> outcome type of a closed-won deal")
    default_outcome: str = Field("purchase", description="Outcome type of a closed-won deal whose type is empty "
                                 "or not in deal_types")
    currency: str = Field("", description="Currency of deal amounts that carry none (the portal's currency, e.g. "
                          "'USD'); empty: leave it unknown")


class SalesforceSettings(_Section):
    """Salesforce Data Export CSVs and ``pull salesforce``."""

    opportunity_types: dict[str, str] = Field(
        default_factory=lambda: {"New Business": "purchase", "New Customer": "purchase",
                                 "Existing Business": "upgrade", "Existing Customer - Upgrade": "upgrade",
                                 "Existing Customer - Replacement": "renewal", "Renewal": "renewal",
                                 "Existing Customer - Downgrade": "downgrade"},
        description="Opportunity Type -> outcome type of a Closed Won opportunity")
    default_outcome: str = Field("purchase", description="Outcome type of a Closed Won opportunity whose Type is "
                                 "empty or not in opportunity_types")
    currency: str = Field("", description="Currency of Amount when the org is single-currency (no CurrencyIsoCode "
                          "column), e.g. 'USD'; empty: leave it unknown")
    campaign_statuses: dict[str, str] = Field(
        default_factory=lambda: {"Registered": "event_registered", "Attended": "event_attended",
                                 "Responded": "event_attended"},
        description="CampaignMember Status -> activity type; members with other statuses (Sent, ...) are not "
                    "loaded and are counted as excluded")


class SegmentSettings(_Section):
    """Segment / RudderStack track, identify and group events."""

    activity_events: dict[str, str] = Field(
        default_factory=lambda: {"Webinar Attended": "webinar_attended", "Webinar Registered": "webinar_registered",
                                 "Event Attended": "event_attended", "Event Registered": "event_registered",
                                 "Course Completed": "course_completed", "Feedback Submitted": "feedback_submitted",
                                 "Feature Requested": "feature_request", "Review Submitted": "review"},
        description="Track event name -> activity type")
    outcome_events: dict[str, str] = Field(
        default_factory=lambda: {"Signed Up": "signup", "Trial Started": "trial_start",
                                 "Demo Requested": "demo_request", "Account Activated": "activation",
                                 "Order Completed": "purchase", "Subscription Upgraded": "upgrade",
                                 "Subscription Renewed": "renewal", "Subscription Cancelled": "churn"},
        description="Track event name -> outcome type (value from properties.revenue or .value, currency from "
                    "properties.currency)")


class SourcesSettings(_Section):
    """How the platform connectors (``commetrics load-dump``, ``commetrics pull``) map platform names."""

    hubspot: HubspotSettings = Field(default_factory=lambda: HubspotSettings(), description="HubSpot")
    salesforce: SalesforceSettings = Field(default_factory=lambda: SalesforceSettings(), description="Salesforce")
    segment: SegmentSettings = Field(default_factory=lambda: SegmentSettings(), description="Segment / RudderStack")
