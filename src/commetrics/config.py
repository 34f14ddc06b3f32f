"""Typed configuration: ``commetrics.toml`` in the workspace, read into pydantic models.

Every field carries help text (``commetrics config`` prints them all). An unknown key or a bad
value is a :class:`~commetrics.errors.ConfigError` that names the key, says what is wrong and
suggests the closest known key.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .engine_settings import DashboardSettings, EngineSettings, StoreSettings
from .errors import ConfigError
from .score_settings import ScoreSettings
from .source_settings import SourcesSettings

CONFIG_FILE = "commetrics.toml"

DEFAULT_ACTIVITY_TYPES = (
    "post",
    "question",
    "answer",
    "reply",
    "comment",
    "accepted_answer",
    "reaction",
    "vote",
    "badge",
    "login",
    "event_attended",
    "event_registered",
    "webinar_attended",
    "webinar_registered",
    "feedback_submitted",
    "feature_request",
    "referral",
    "case_study",
    "review",
    "user_group_attended",
    "course_completed",
    "joined",
)

DEFAULT_OUTCOME_TYPES = (
    "signup",
    "lead",
    "trial_start",
    "demo_request",
    "activation",
    "purchase",
    "upgrade",
    "seat_expansion",
    "cross_sell",
    "renewal",
    "churn",
    "downgrade",
    "referral_made",
    "case_study_published",
    "review_published",
    "accepted_answer",
    "support_ticket",
    "feature_shipped",
)

DEFAULT_ENTRY_PATHS = ("seo", "webinar", "referral", "event", "direct", "social", "paid", "partner", "other")

#: The windows of a conversion that names none, and of an ad-hoc conversion.
DEFAULT_WINDOWS = (7, 30, 60, 90)
#: The outcomes that carry revenue: what attribution credits by default.
REVENUE_OUTCOMES = ("purchase", "upgrade", "seat_expansion", "cross_sell", "renewal")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(_Section):
    """How files are read and validated."""

    schema_contract: Literal["evolve", "discard_value", "freeze"] = Field(
        "evolve",
        description=(
            "What to do with file columns that are not canonical: 'evolve' keeps them in "
            "`attributes` (members, accounts) and ignores them elsewhere, noting the drift in "
            "the load ledger; 'discard_value' drops them and notes the drift; 'freeze' refuses "
            "the file before anything is written"
        ),
    )
    future_tolerance_hours: float = Field(
        24.0, ge=0, description="A timestamp later than load time plus this many hours is quarantined"
    )
    earliest_timestamp: date = Field(
        date(1990, 1, 1), description="A timestamp before this date is quarantined as early_timestamp "
        "(placeholders such as 0001-01-01 or 1970-01-01 are not real events)"
    )
    detect_rows: int = Field(
        10_000, ge=100, description="Rows read to detect the date format of a timestamp column (the whole "
        "column is read only when they cannot tell day-first from month-first)"
    )
    max_field_bytes: int = Field(
        65536, ge=1024, description="A single value longer than this many bytes is quarantined"
    )
    activity_types: tuple[str, ...] = Field(
        DEFAULT_ACTIVITY_TYPES,
        description="Accepted activity types (lowercase); others are quarantined as unknown_enum",
    )
    outcome_types: tuple[str, ...] = Field(
        DEFAULT_OUTCOME_TYPES,
        description="Accepted outcome types (lowercase); others are quarantined as unknown_enum",
    )
    entry_paths: tuple[str, ...] = Field(
        DEFAULT_ENTRY_PATHS,
        description="Accepted entry paths of members (lowercase); others are quarantined",
    )
    survey_kinds: tuple[Literal["nps", "csat", "ces"], ...] = Field(
        ("nps", "csat", "ces"), description="Accepted survey kinds"
    )

    @field_validator("activity_types", "outcome_types", "entry_paths")
    @classmethod
    def _lowercase_names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip().lower() for v in values)
        if not all(cleaned):
            msg = "names must not be empty"
            raise ValueError(msg)
        return cleaned

    def enum_values(self, name: str) -> tuple[str, ...]:
        """The closed list called ``name`` (as named in ``schema.Column.enum``)."""
        values: tuple[str, ...] = getattr(self, name)
        return values


class ReportingSettings(_Section):
    """How results are bucketed and shown."""

    timezone: str = Field(
        "UTC",
        description=(
            "IANA time zone used to bucket cohorts (join month/week) and to show dates; "
            "data are stored in UTC"
        ),
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'"
            raise ValueError(msg) from None
        return value


class PrivacySettings(_Section):
    """Consent and small-cell rules applied to every output."""

    min_cell_size: int = Field(
        10, ge=5, description="Aggregated cells with fewer people than this are suppressed (never below 5)"
    )


class IdentitySettings(_Section):
    """How community members and CRM contacts are linked into people."""

    match_threshold: float = Field(
        0.9, gt=0, lt=1, description="Match probability at or above which a probabilistic pair is one person"
    )
    probabilistic: bool = Field(True, description="Link on names, handles and companies too (false: e-mail, "
                                "maps and overrides only)")
    review_margin: float = Field(0.05, ge=0, lt=1, description="Pairs scored up to this far below match_threshold "
                                 "are kept for review by hand (never linked); the review lists pairs this near")
    resolve_on_load: bool = Field(True, description="Resolve identities again after each load of members, "
                                  "contacts or identity_maps, so analyses always count people")
    incremental: bool = Field(True, description="Resolve only what the loads since the last run touched (new or "
                              "changed records and the people they may join); false: every record, every run")
    retrain_growth: float = Field(1.25, gt=1, description="Train the model again (and resolve every record) once "
                                  "the records have grown by this factor since it was trained; "
                                  "`commetrics identity retrain` trains it at once")
    free_mail: list[str] = Field(
        default_factory=list,
        description="More free-mail domains ('*' for a top-level domain, e.g. 'mail.*'), beside the built-in list",
    )


class CrmSettings(_Section):
    """Pushes to a CRM's REST API (``commetrics export crm --push``)."""

    hubspot_url: str = Field("https://api.hubapi.com", description="HubSpot's API address (a push to Salesforce "
                             "needs --url, the org's instance address)")
    max_retries: int = Field(5, ge=0, le=20, description="Retries of a request answered 429 or 5xx, or not at all")
    max_wait_seconds: float = Field(
        300.0, gt=0, le=86_400,
        description="The longest wait a CRM's Retry-After may ask for; a longer one stops the push (run it again "
                    "later: the journal keeps what was sent)")
    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Seconds to wait for one answer of the CRM")


class ImpactSettings(_Section):
    """How participation is measured before an outcome, and what the adjustment controls for."""

    exposure_start_days: int = Field(
        180, ge=1, description="Participation counts from this many days before the outcome (renewal date) ..."
    )
    exposure_end_days: int = Field(
        60, ge=0, description="... up to this many days before it, so it comes before the decision"
    )
    levels: dict[str, float] = Field(
        default_factory=lambda: {"none": 0.0, "low": 1.0, "medium": 5.0, "high": 15.0},
        description="Participation level -> lowest number of activities in the exposure window",
    )
    engaged_level: str = Field(
        "medium", description="Accounts at this level or above are 'engaged' in the engaged vs not comparison"
    )
    covariates: tuple[str, ...] = Field(
        ("log:arr", "segment", "product_usage"),
        description="Account columns or attributes the adjustment controls for; 'log:NAME' takes ln(1 + value); "
        "text values become categories",
    )
    estimand: Literal["att", "ate"] = Field(
        "att", description="Adjusted comparisons answer for the engaged ('att': did those who took part do better "
        "than they would have?) or for everyone alike ('ate')"
    )
    trim: Literal["crump", "none"] = Field(
        "crump", description="Set aside units without a comparable counterpart (Crump et al. 2009 rule on the "
        "propensity), or keep every unit ('none')"
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-fitting folds of the adjustment's models")
    max_smd: float = Field(
        0.1, gt=0, description="No adjusted headline when a covariate's standardised mean difference after "
        "weighting exceeds this"
    )
    min_ess: float = Field(
        30.0, ge=2, description="No adjusted headline when either group's effective sample size falls below this"
    )
    window_days: int = Field(30, ge=1, description="Exposure and experiments: days after the landmark (or "
                             "exposure) in which the outcome counts")
    exposure_days: int = Field(90, ge=1, description="Exposure: days before the landmark in which the exposure "
                               "counts; experiments: the pre-period of the CUPED covariate")
    upsell_horizon_days: int = Field(180, ge=1, description="Upsell: days after participation in which an "
                                     "expansion counts")
    campaign_pre_months: int = Field(6, ge=1, description="Campaigns: months before the start (pre-trend check)")
    campaign_post_months: int = Field(6, ge=1, description="Campaigns: months after the start measured")
    replicates: int = Field(1000, ge=50, description="Bootstrap resamples (NPS correlation, upsell value)")

    @model_validator(mode="after")
    def _window_and_levels(self) -> ImpactSettings:
        if self.exposure_end_days >= self.exposure_start_days:
            msg = "exposure_end_days must be smaller than exposure_start_days (the window ends before the outcome)"
            raise ValueError(msg)
        if self.engaged_level not in self.levels:
            msg = f"engaged_level {self.engaged_level!r} is not one of the levels {', '.join(self.levels)}"
            raise ValueError(msg)
        if min(self.levels.values()) > 0:
            msg = "one level must start at 0 activities, so that every account has a level"
            raise ValueError(msg)
        return self


class AttributionSettings(_Section):
    """Defaults of attribution (``commetrics attribution`` and the report's attribution section)."""

    outcomes: tuple[str, ...] = Field(REVENUE_OUTCOMES, description="Outcome types whose conversions and value "
                                      "are attributed when none are named")
    lookback_days: int = Field(90, ge=1, description="Touches up to this many days before a conversion count")
    by: Literal["type", "channel", "program", "tag"] = Field(
        "program", description="The touchpoint class credit goes to: activity type, channel, program or tag")
    unit: Literal["person", "account"] = Field(
        "person", description="Journeys per person, or per account (every member's touches in one journey)")
    half_life_days: float = Field(7.0, gt=0, description="Time decay: a touch this many days before the "
                                  "conversion weighs half as much")
    first_touch_share: float = Field(0.4, ge=0, le=1, description="Position-based: the first touch's share")
    last_touch_share: float = Field(0.4, ge=0, le=1, description="Position-based: the last touch's share (the "
                                    "touches between share the rest)")
    markov_order: int = Field(1, ge=1, le=4, description="Order of the Markov chain (1 to 4, solved exactly)")
    replicates: int = Field(200, ge=20, description="Bootstrap resamples of the journeys for intervals")

    @model_validator(mode="after")
    def _shares(self) -> AttributionSettings:
        if self.first_touch_share + self.last_touch_share > 1:
            msg = "first_touch_share + last_touch_share must not exceed 1 (the middle touches share the rest)"
            raise ValueError(msg)
        return self


class ConversionSettings(_Section):
    """Defaults of conversion analyses that no named definition sets."""

    windows: tuple[int, ...] = Field(DEFAULT_WINDOWS, description="Windows in days of an ad-hoc conversion "
                                     "(--outcome without a name)")
    report_by: tuple[str, ...] = Field(("entry_path", "join_month"), description="Cohort keys the report breaks "
                                       "every conversion down by")

    @field_validator("windows")
    @classmethod
    def _positive(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if not values or any(v <= 0 for v in values):
            msg = "windows must be a non-empty list of positive day counts, e.g. [7, 30, 60, 90]"
            raise ValueError(msg)
        return tuple(sorted(set(values)))


class DriversSettings(_Section):
    """Conversion drivers: which behaviours of a member's first days go with converting."""

    days: int = Field(30, ge=1, description="The behaviours counted: a member's first this many days after the "
                      "anchor")
    window_days: int | None = Field(None, ge=1, description="Conversions counted in this many days after those "
                                    "(default: the conversion's longest window)")
    controls: tuple[str, ...] = Field(("entry_path", "segment"), description="Adjusted for: member or account "
                                      "columns or attributes (text becomes categories)")
    min_members: int = Field(20, ge=1, description="A behaviour is a candidate only when at least this many members "
                             "(and privacy.min_cell_size) had it and as many did not")
    alpha: float = Field(0.05, gt=0, lt=1, description="Familywise error rate of the Holm-adjusted test that calls "
                         "a behaviour associated with conversion")
    conversion: str | None = Field(None, description="Conversion of the report's drivers (default: summary.conversion)")


class SummarySettings(_Section):
    """The summary that opens the report (``commetrics summary``): which figures lead, and the assumptions behind
    the support-deflection estimate."""

    conversion: str = Field("trial_after_join", description="The conversion whose members-against-non-members "
                            "difference the summary shows (its longest window with a non-member baseline)")
    attribution_model: str = Field("markov", description="The attribution model whose credit the summary leads "
                                   "with (the range across every model is shown beside it)")
    cost_per_ticket: float = Field(20.0, ge=0, description="Support deflection: what one support ticket costs; "
                                   "each accepted community answer counts as one ticket avoided (0 leaves the "
                                   "money out)")
    currency: str = Field("USD", min_length=3, max_length=3, description="The currency of cost_per_ticket")
    top_programs: int = Field(3, ge=1, le=10, description="How many programs (touchpoint classes) with the most "
                              "credited revenue the summary names")


class ConversionDefinition(_Section):
    """A named conversion: which outcome, from which anchor, over which windows."""

    label: str = Field("", description="The conversion's name in words, for reports (default: the name with "
                       "spaces for underscores)")
    description: str = Field("", description="What the conversion means, in one sentence")
    owner: str = Field("", description="Who may change this definition")
    outcome: str | tuple[str, ...] = Field(description="Outcome type(s) that count as converting")
    anchor: str = Field(
        "join", description="'join' (first join), an activity type ('question'), 'program:NAME' or 'outcome:TYPE'"
    )
    nth: int | None = Field(None, ge=2, description="With anchor = 'outcome:TYPE': the nth converts (default 2)")
    windows: tuple[int, ...] = Field(DEFAULT_WINDOWS, description="Windows in days after the anchor")
    unit: Literal["person", "account"] = Field("person", description="Count people or accounts")
    family: Literal["acquisition", "activation", "retention_expansion", "advocacy", "support_deflection"] | None = (
        Field(None, description="The family it belongs to, for grouping in reports")
    )
    landmark_days: int = Field(
        30, ge=1, description="Program cohorts: participation counts within this many days of the anchor"
    )

    @property
    def outcomes(self) -> tuple[str, ...]:
        return (self.outcome,) if isinstance(self.outcome, str) else tuple(self.outcome)

    def title(self, name: str) -> str:
        """The label, or ``name`` in words ("trial_after_join" → "Trial after join")."""
        return self.label or name.replace("_", " ").capitalize()

    @model_validator(mode="after")
    def _nth_needs_an_outcome_anchor(self) -> ConversionDefinition:
        if self.nth is not None and not self.anchor.startswith("outcome:"):
            raise ValueError(f"nth counts outcomes of the anchor's type: anchor = 'outcome:TYPE', not {self.anchor}")
        return self

    @field_validator("windows")
    @classmethod
    def _positive_windows(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if not values or any(v <= 0 for v in values):
            msg = "windows must be a non-empty list of positive day counts, e.g. [7, 30, 60, 90]"
            raise ValueError(msg)
        return tuple(sorted(set(values)))


class Config(_Section):
    """Everything in ``commetrics.toml``."""

    ingest: IngestSettings = Field(default_factory=lambda: IngestSettings(), description="Loading and validation")
    reporting: ReportingSettings = Field(default_factory=lambda: ReportingSettings(),
                                         description="Time zone and display")
    privacy: PrivacySettings = Field(default_factory=lambda: PrivacySettings(), description="Consent and suppression")
    identity: IdentitySettings = Field(default_factory=lambda: IdentitySettings(),
                                       description="Identity resolution into people")
    scores: ScoreSettings = Field(default_factory=lambda: ScoreSettings(), description="Engagement and health scores")
    impact: ImpactSettings = Field(default_factory=lambda: ImpactSettings(),
                                   description="Participation and adjustment for impact analyses")
    attribution: AttributionSettings = Field(default_factory=lambda: AttributionSettings(),
                                             description="Attribution defaults")
    conversion: ConversionSettings = Field(default_factory=lambda: ConversionSettings(),
                                           description="Defaults of conversions that no definition sets")
    crm: CrmSettings = Field(default_factory=lambda: CrmSettings(), description="Pushes to a CRM's REST API")
    store: StoreSettings = Field(default_factory=lambda: StoreSettings(), description="The store: lock, backups")
    summary: SummarySettings = Field(default_factory=lambda: SummarySettings(),
                                     description="The summary that opens the report")
    drivers: DriversSettings = Field(default_factory=lambda: DriversSettings(),
                                     description="Conversion drivers (commetrics drivers)")
    conversions: dict[str, ConversionDefinition] = Field(
        default_factory=lambda: _default_conversions(),
        description="Named conversion definitions (default: one example per family, as in a new workspace)",
    )
    sources: SourcesSettings = Field(default_factory=lambda: SourcesSettings(),
                                     description="Platform connectors: deal, opportunity and event mappings")
    engine: EngineSettings = Field(default_factory=lambda: EngineSettings(),
                                   description="Which engine runs the analyses: DuckDB, or Spark over a mirror")
    dashboard: DashboardSettings = Field(default_factory=lambda: DashboardSettings(),
                                         description="How commetrics serve reads: at once, and before anyone asks")


def _default_conversions() -> dict[str, ConversionDefinition]:
    """The conversions of a new workspace's commetrics.toml (one per family)."""
    data = tomllib.loads(DEFAULT_CONFIG_TEXT).get("conversions", {})
    return {name: ConversionDefinition.model_validate(value) for name, value in data.items()}


def _known_keys(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The field names valid at ``path`` inside ``model`` (for suggestions)."""
    current: type[BaseModel] = model
    parts = list(path)
    while parts:
        field = current.model_fields.get(str(parts.pop(0)))
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            current = args[-1]
            if parts:
                parts.pop(0)  # dict[str, Model]: skip the user-chosen name
        else:
            return []
    return sorted(current.model_fields)


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source} is not valid:"]
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(p) for p in loc)
        if item["type"] == "extra_forbidden":
            parent = loc[:-1]
            known = _known_keys(Config, parent)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            lines.append(f"- unknown key {key!r}.{hint} Known keys here: {', '.join(known)}.")
        else:
            lines.append(f"- {key}: {item['msg']} (got {item.get('input')!r}).")
    lines.append("Fix the file and run the command again; `commetrics config` lists every setting.")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = CONFIG_FILE) -> Config:
    """Validate a mapping (as read from TOML) into a :class:`Config`."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: Path) -> Config:
    """Read ``commetrics.toml``; a missing file gives the defaults."""
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path} is not valid TOML: {exc}. Fix the syntax and run the command again."
        raise ConfigError(msg) from None
    except UnicodeDecodeError:
        msg = f"{path} is not UTF-8 text. Save it as UTF-8 and run the command again."
        raise ConfigError(msg) from None
    return parse_config(data, str(path))


def add_accepted_values(path: Path, setting: str, values: tuple[str, ...], current: tuple[str, ...]) -> None:
    """Add ``values`` to the list ``[ingest] setting`` of the ``commetrics.toml`` at ``path``, keeping its comments.

    ``current`` is the list in force (the default when the file does not set it). The assignment is
    rewritten in place, or added under ``[ingest]`` (added itself when missing); the result is read
    back and must give the new list, or nothing is written."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    wanted = (*current, *(v for v in values if v not in current))
    line = f"{setting} = {_toml_value(list(wanted))}"
    section = re.search(r"(?m)^\[ingest\][ \t]*(#.*)?$", text)
    if section is None:
        updated = text.rstrip("\n") + ("\n\n" if text.strip() else "") + f"[ingest]\n{line}\n"
    else:
        end = re.search(r"(?m)^\[", text[section.end():])
        stop = section.end() + end.start() if end else len(text)
        body = text[section.end():stop]
        existing = re.search(rf"(?ms)^{re.escape(setting)}[ \t]*=[ \t]*\[.*?\][ \t]*(#[^\n]*)?$", body)
        body = body[:existing.start()] + line + body[existing.end():] if existing else "\n" + line + body
        updated = text[:section.end()] + body + text[stop:]
    try:
        check = parse_config(tomllib.loads(updated), str(path))
    except (tomllib.TOMLDecodeError, ConfigError):
        check = None
    if check is None or tuple(getattr(check.ingest, setting)) != tuple(v.strip().lower() for v in wanted):
        msg = (f"Could not add {', '.join(values)} to ingest.{setting} in {path} automatically. Add them to the "
               f"list by hand under [ingest]: {line}")
        raise ConfigError(msg)
    path.write_text(updated, encoding="utf-8")


def describe_settings(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every setting as (dotted key, default, help), for `commetrics config` and the docs."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe_settings(annotation, f"{key}."))
            continue
        default = "" if field.is_required() else repr(field.get_default(call_default_factory=True))
        rows.append((key, default, field.description or ""))
    return rows


def _toml_value(value: Any) -> str:
    """One value in TOML: strings quoted, tuples as arrays, mappings as inline tables."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        return '""  # not set'
    return json.dumps(str(value))


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def settings_toml(config: Config | None = None) -> str:
    """Every setting as TOML — the values in force, each with its help text — for ``commetrics config``.

    What it prints is a valid ``commetrics.toml`` that gives the same configuration."""
    config = config or Config()
    lines = ["# Every setting of commetrics.toml, with the values in force (`commetrics config`).", ""]

    def section(model: BaseModel, header: str) -> None:
        scalars, nested = [], []
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                nested.append((name, value))
            elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
                nested += [(f"{name}.{_toml_key(key)}", item) for key, item in value.items()]
            else:
                if value is None and not field.is_required():
                    lines_for = f"# {name} = (not set)  # {field.description or ''}"
                    scalars.append(lines_for)
                    continue
                scalars.append(f"{_toml_key(name)} = {_toml_value(value)}  # {field.description or ''}".rstrip())
        if scalars:
            lines.append(f"[{header}]")
            lines.extend(scalars)
            lines.append("")
        for name, value in nested:
            section(value, f"{header}.{name}" if header else name)

    section(config, "")
    return "\n".join(lines).rstrip() + "\n"


#: A new workspace's ``commetrics.toml`` (``data/default_config.toml``): the commented settings and one
#: example conversion per family.
DEFAULT_CONFIG_TEXT = (Path(__file__).parent / "data" / "default_config.toml").read_text(encoding="utf-8")
