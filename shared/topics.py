"""Every Kafka topic Trailblazer reads or writes, in one place.

Names carry a version suffix: a breaking contract change gets a new topic so that firms can
migrate at their own pace. Records are keyed by assignment id, so one assignment's events stay
in order on one partition.
"""

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


ASSIGNMENT_REQUESTED = "trailblazer.assignment.requested.v1"
ASSIGNMENT_CREATED = "trailblazer.assignment.created.v1"
ASSIGNMENT_REJECTED = "trailblazer.assignment.rejected.v1"
MATCH_PROPOSED = "trailblazer.match.proposed.v1"
STAKEHOLDER_NOTIFIED = "trailblazer.stakeholder.notified.v1"
DEAD_LETTER = "trailblazer.dead-letter.v1"
CATALOG_COACHES = "trailblazer.catalog.coaches.v1"
CATALOG_JOB_LEADS = "trailblazer.catalog.job-leads.v1"
CATALOG_REJECTED = "trailblazer.catalog.rejected.v1"
MATCH_UPDATED = "trailblazer.match.updated.v1"
DUTY_OF_INFORMATION = "trailblazer.duty-of-information.v1"
PARTNER_CONSENT_WITHDRAWN = "trailblazer.partner.consent-withdrawn.v1"
ASSIGNMENT_CANCELLED = "trailblazer.assignment.cancelled.v1"
MATCH_ACCEPTED = "trailblazer.match.accepted.v1"
MATCH_ACCEPTANCE_REFUSED = "trailblazer.match.acceptance-refused.v1"
# care -> notifications: send a check-in to the partner, in the partner's language.
CARE_CHECK_IN_DUE = "trailblazer.care.check-in-due.v1"

_WEEK_MS = str(7 * 24 * 3600 * 1000)
_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ASSIGNMENT_REQUESTED, 6, "firm -> intake: a new assignment", {"retention.ms": _WEEK_MS}),
    TopicSpec(ASSIGNMENT_CREATED, 6, "intake -> matching, notifications: assignment accepted"),
    TopicSpec(ASSIGNMENT_REJECTED, 3, "intake -> firm: request refused, one reason per field"),
    TopicSpec(MATCH_PROPOSED, 6, "matching -> notifications: coach and job leads, explained"),
    TopicSpec(STAKEHOLDER_NOTIFIED, 6, "notifications -> firm: who was told what, and when"),
    TopicSpec(DEAD_LETTER, 3, "any service -> operators: records that could not be handled"),
    # Catalogs: keyed by coach / job lead id, compacted so the latest record per id (or its
    # tombstone, until deleted) is the catalog.
    TopicSpec(CATALOG_COACHES, 3, "providers -> matching: coach upserts, null = removed", _COMPACT),
    TopicSpec(CATALOG_JOB_LEADS, 6, "providers -> matching: job lead upserts, null = removed", _COMPACT),
    TopicSpec(CATALOG_REJECTED, 3, "matching -> providers: catalog records refused, one reason per field"),
    TopicSpec(MATCH_UPDATED, 6, "matching -> notifications: a proposal changed (leads, coach), explained"),
    TopicSpec(DUTY_OF_INFORMATION, 6, "notifications -> firm: every delivery status change, the proof"),
    TopicSpec(
        PARTNER_CONSENT_WITHDRAWN,
        3,
        "firm -> notifications, matching: partner withdrew consent, stop sending, free the coach place",
    ),
    TopicSpec(
        ASSIGNMENT_CANCELLED,
        6,
        "firm -> notifications, matching: assignment cancelled, stop pending messages, free the coach place",
    ),
    TopicSpec(MATCH_ACCEPTED, 6, "firm -> matching: the partner accepted the proposed coach"),
    TopicSpec(MATCH_ACCEPTANCE_REFUSED, 3, "matching -> firm: acceptance not recorded, one reason per field"),
    TopicSpec(CARE_CHECK_IN_DUE, 6, "care -> notifications: send a check-in to the partner"),
)

# --- Tenant topics (TENANCY-CONVENTION; issue 9 owns these helpers) ---------------------------
# A firm's or provider's identity comes from the topic a record arrived on, never from its body.

_TENANT_ID = r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?"
_TENANT_TOPIC = re.compile(rf"^trailblazer\.(firm|provider)\.({_TENANT_ID})\.(.+)\.v1$")


@dataclass(frozen=True)
class Tenant:
    kind: str  # "firm" or "provider"
    tenant_id: str
    event: str


def firm_topic(firm_id: str, event: str) -> str:
    return f"trailblazer.firm.{firm_id}.{event}.v1"


def provider_topic(provider_id: str, event: str) -> str:
    return f"trailblazer.provider.{provider_id}.{event}.v1"


def firm_pattern(event: str) -> str:
    """The regex a service subscribes with to one inbound event of every firm."""
    return rf"^trailblazer\.firm\.{_TENANT_ID}\.{re.escape(event)}\.v1$"


def provider_pattern(event: str) -> str:
    return rf"^trailblazer\.provider\.{_TENANT_ID}\.{re.escape(event)}\.v1$"


def tenant_of(topic: str) -> Tenant | None:
    match = _TENANT_TOPIC.match(topic)
    return Tenant(match[1], match[2], match[3]) if match else None


# --- Duty of care (services/care) -------------------------------------------------------------
# Firm inbound (the firm writes, care reads).
CARE_PULSE_GIVEN = "care.pulse-given"
CARE_SESSION_HELD = "care.session-held"
CARE_OUTCOME_REPORTED = "care.outcome-reported"
CARE_ESCALATION_CLOSED = "care.escalation-closed"
CARE_PERMIT_CLARIFIED = "care.permit-clarified"
# Firm outbound (care writes, the firm reads).
CARE_ESCALATION = "care.escalation"
DUTY_OF_CARE = "duty-of-care"
CARE_SCORECARD = "care.scorecard"
CARE_REFUSED = "care.refused"
# Provider inbound: a provider's coach catalog names its coaches (care learns coach -> provider).
CATALOG_COACHES_EVENT = "catalog.coaches"

CARE_FIRM_INBOUND = (
    CARE_PULSE_GIVEN,
    CARE_SESSION_HELD,
    CARE_OUTCOME_REPORTED,
    CARE_ESCALATION_CLOSED,
    CARE_PERMIT_CLARIFIED,
)
CARE_FIRM_OUTBOUND = (CARE_ESCALATION, DUTY_OF_CARE, CARE_SCORECARD, CARE_REFUSED)


def care_firm_topics(firm_id: str) -> tuple[TopicSpec, ...]:
    """The duty-of-care topics one firm needs (created when the firm is onboarded)."""
    inbound = tuple(TopicSpec(firm_topic(firm_id, event), 3, f"firm -> care: {event}") for event in CARE_FIRM_INBOUND)
    outbound = (
        TopicSpec(firm_topic(firm_id, CARE_ESCALATION), 3, "care -> firm: an escalation to the case owner"),
        TopicSpec(firm_topic(firm_id, DUTY_OF_CARE), 6, "care -> firm: every duty-of-care record entry"),
        # Keyed by provider id: compacted, the latest scorecard per provider is the scorecard.
        TopicSpec(firm_topic(firm_id, CARE_SCORECARD), 3, "care -> firm: provider scorecards", _COMPACT),
        TopicSpec(firm_topic(firm_id, CARE_REFUSED), 3, "care -> firm: a care event refused, one reason per field"),
    )
    return inbound + outbound
