"""The ``[sources]`` section of ``commetrics.toml``: how the platform connectors map a platform's names.

Each platform names its deals, opportunities, events and statuses its own way; these mappings say
which become which canonical outcome or activity type. They live in the config (``commetrics config``
prints them) so a team changes a mapping without touching code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .schema import ACCOUNTS, MEMBERS

__all__ = ["ACCOUNT_TRAIT_COLUMNS", "MEMBER_TRAIT_COLUMNS", "HubspotSettings", "SalesforceSettings", "SegmentSettings",
           "SlackSettings", "SourcesSettings"]

#: the member columns an identify trait may fill (the others come from the identify call itself)
MEMBER_TRAIT_COLUMNS = ("entry_path", "consent", "is_staff")
#: the account columns a group trait may fill
ACCOUNT_TRAIT_COLUMNS = ("segment", "arr", "seats")


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
    member_traits: dict[str, str] = Field(
        default_factory=lambda: {"entry_path": "entry_path", "consent": "consent"},
        description="Identify trait -> member column (entry_path, consent, is_staff) or, under any other name, the "
                    "member attribute it is kept as; later identifies win")
    account_traits: dict[str, str] = Field(
        default_factory=lambda: {"segment": "segment", "arr": "arr", "seats": "seats", "employees": "employees",
                                 "industry": "industry", "plan": "plan"},
        description="Group trait -> account column (segment, arr, seats) or, under any other name, the account "
                    "attribute it is kept as; later group calls win")

    @field_validator("member_traits")
    @classmethod
    def _member_targets(cls, value: dict[str, str]) -> dict[str, str]:
        return _targets(value, MEMBERS.column_names, MEMBER_TRAIT_COLUMNS, "member")

    @field_validator("account_traits")
    @classmethod
    def _account_targets(cls, value: dict[str, str]) -> dict[str, str]:
        return _targets(value, ACCOUNTS.column_names, ACCOUNT_TRAIT_COLUMNS, "account")


def _targets(value: dict[str, str], columns: tuple[str, ...], fillable: tuple[str, ...], what: str) -> dict[str, str]:
    """A trait may fill the columns the call does not already set; any other canonical column is refused (it
    would be an attribute shadowing the column)."""
    taken = sorted(t for t in set(value.values()) if not t.strip() or (t in columns and t not in fillable))
    if taken:
        msg = (f"traits cannot fill the {what} column(s) {', '.join(repr(t) for t in taken)}: a trait fills "
               f"{', '.join(fillable)} or is kept as an attribute under another name")
        raise ValueError(msg)
    return value


class SlackSettings(_Section):
    """Slack workspace exports."""

    channel_programs: dict[str, str] = Field(
        default_factory=dict,
        description="Channel name -> the program of the activities in it (a community's #ama or #onboarding "
                    "channel); activities in other channels have none")


class SourcesSettings(_Section):
    """How the platform connectors (``commetrics load-dump``, ``commetrics pull``) map platform names."""

    hubspot: HubspotSettings = Field(default_factory=lambda: HubspotSettings(), description="HubSpot")
    salesforce: SalesforceSettings = Field(default_factory=lambda: SalesforceSettings(), description="Salesforce")
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings(), description="Slack")
    segment: SegmentSettings = Field(default_factory=lambda: SegmentSettings(), description="Segment / RudderStack")
