"""Every Kafka topic Trailblazer reads or writes, in one place.

Names carry a version suffix: a breaking contract change gets a new topic so that firms can
migrate at their own pace. Records are keyed by assignment id, so one assignment's events stay
in order on one partition.

Tenancy (docs/tenancy.md): each relocation firm and each catalog provider has its own topics
under one prefix, `trailblazer.firm.<firm_id>.` / `trailblazer.provider.<provider_id>.`, and the
broker's prefixed ACLs let only that tenant (and the services) use them. A record's tenant is
the topic it arrived on (`tenant_of`), never a field its sender wrote. Ids allow no dots, so one
tenant's prefix is never a prefix of another tenant's topics. The other topics are internal:
services only.
"""

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


# The internal topics: services only. Everything a firm or a catalog provider writes or reads is
# on its own topics (below, `FIRM_TOPICS` and `PROVIDER_TOPICS`).
ASSIGNMENT_CREATED = "trailblazer.assignment.created.v1"
MATCH_PROPOSED = "trailblazer.match.proposed.v1"
MATCH_UPDATED = "trailblazer.match.updated.v1"
DEAD_LETTER = "trailblazer.dead-letter.v1"
# care -> notifications: send a check-in to the partner, in the partner's language.
CARE_CHECK_IN_DUE = "trailblazer.care.check-in-due.v1"

_WEEK_MS = str(7 * 24 * 3600 * 1000)
_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ASSIGNMENT_CREATED, 6, "intake -> matching, notifications, gateway, care: assignment accepted"),
    TopicSpec(MATCH_PROPOSED, 6, "matching -> notifications, gateway, care: coach and job leads, explained"),
    TopicSpec(
        MATCH_UPDATED, 6, "matching -> notifications, gateway, care: a proposal changed (leads, coach), explained"
    ),
    TopicSpec(DEAD_LETTER, 3, "any service -> operators: records that could not be handled"),
    TopicSpec(CARE_CHECK_IN_DUE, 6, "care -> notifications: send a check-in to the partner"),
)


# ---- tenants: firms and catalog providers ------------------------------------------------------

TENANT_ID_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?"
_TENANT_ID = re.compile(rf"^{TENANT_ID_PATTERN}$")
FIRM_PREFIX = "trailblazer.firm."
PROVIDER_PREFIX = "trailblazer.provider."
TOPIC_VERSION = "v1"


class Kind(StrEnum):
    FIRM = "firm"
    PROVIDER = "provider"


class Direction(Enum):
    INBOUND = "inbound"  # the tenant writes, services read
    OUTBOUND = "outbound"  # services write, the tenant reads


class FirmEvent(StrEnum):
    """The event part of a firm topic's name: `trailblazer.firm.<firm_id>.<event>.v1`."""

    # inbound
    ASSIGNMENT_REQUESTED = "assignment.requested"
    ASSIGNMENT_CANCELLED = "assignment.cancelled"
    PARTNER_CONSENT_WITHDRAWN = "partner.consent-withdrawn"
    MATCH_ACCEPTED = "match.accepted"
    # outbound
    ASSIGNMENT_REJECTED = "assignment.rejected"
    MATCH_ACCEPTANCE_REFUSED = "match.acceptance-refused"
    STAKEHOLDER_NOTIFIED = "stakeholder.notified"
    DUTY_OF_INFORMATION = "duty-of-information"
    # the duty of care (services/care): inbound
    CARE_PULSE_GIVEN = "care.pulse-given"
    CARE_SESSION_HELD = "care.session-held"
    CARE_OUTCOME_REPORTED = "care.outcome-reported"
    CARE_ESCALATION_CLOSED = "care.escalation-closed"
    CARE_PERMIT_CLARIFIED = "care.permit-clarified"
    # the duty of care: outbound
    CARE_ESCALATION = "care.escalation"
    DUTY_OF_CARE = "duty-of-care"
    CARE_SCORECARD = "care.scorecard"
    CARE_REFUSED = "care.refused"


class ProviderEvent(StrEnum):
    """The event part of a provider topic's name: `trailblazer.provider.<provider_id>.<event>.v1`."""

    CATALOG_COACHES = "catalog.coaches"
    CATALOG_JOB_LEADS = "catalog.job-leads"
    CATALOG_REJECTED = "catalog.rejected"


@dataclass(frozen=True)
class TenantTopicSpec:
    """One topic every tenant of a kind gets at onboarding (with its partitions and config)."""

    event: FirmEvent | ProviderEvent
    direction: Direction
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


# What onboarding creates for every firm and provider, and which of them the tenant may write
# (its Write ACLs are literal, one per inbound topic). A new event is one entry here plus its
# FirmEvent/ProviderEvent member.
FIRM_TOPICS: tuple[TenantTopicSpec, ...] = (
    TenantTopicSpec(
        FirmEvent.ASSIGNMENT_REQUESTED,
        Direction.INBOUND,
        3,
        "firm -> intake: a new assignment",
        {"retention.ms": _WEEK_MS},
    ),
    TenantTopicSpec(
        FirmEvent.ASSIGNMENT_CANCELLED,
        Direction.INBOUND,
        3,
        "firm -> notifications, matching: assignment cancelled, stop pending messages, free the coach place",
    ),
    TenantTopicSpec(
        FirmEvent.PARTNER_CONSENT_WITHDRAWN,
        Direction.INBOUND,
        3,
        "firm -> notifications, matching: partner withdrew consent, stop sending, free the coach place",
    ),
    TenantTopicSpec(
        FirmEvent.MATCH_ACCEPTED, Direction.INBOUND, 3, "firm -> matching: the partner accepted the proposed coach"
    ),
    TenantTopicSpec(
        FirmEvent.ASSIGNMENT_REJECTED, Direction.OUTBOUND, 3, "intake -> firm: request refused, one reason per field"
    ),
    TenantTopicSpec(
        FirmEvent.MATCH_ACCEPTANCE_REFUSED,
        Direction.OUTBOUND,
        3,
        "matching -> firm: acceptance not recorded, one reason per field",
    ),
    TenantTopicSpec(
        FirmEvent.STAKEHOLDER_NOTIFIED, Direction.OUTBOUND, 3, "notifications -> firm: who was told what, and when"
    ),
    TenantTopicSpec(
        FirmEvent.DUTY_OF_INFORMATION,
        Direction.OUTBOUND,
        3,
        "notifications -> firm: every delivery status change, the proof",
    ),
    # The duty of care (services/care, docs/care.md).
    TenantTopicSpec(FirmEvent.CARE_PULSE_GIVEN, Direction.INBOUND, 3, "firm -> care: the partner's pulse, 1-10"),
    TenantTopicSpec(FirmEvent.CARE_SESSION_HELD, Direction.INBOUND, 3, "firm -> care: a coaching session took place"),
    TenantTopicSpec(
        FirmEvent.CARE_OUTCOME_REPORTED, Direction.INBOUND, 3, "firm -> care: work found, education, enterprise"
    ),
    TenantTopicSpec(
        FirmEvent.CARE_ESCALATION_CLOSED, Direction.INBOUND, 3, "firm -> care: the case owner closed an escalation"
    ),
    TenantTopicSpec(
        FirmEvent.CARE_PERMIT_CLARIFIED, Direction.INBOUND, 3, "firm -> care: HR's work-permit task is done"
    ),
    TenantTopicSpec(FirmEvent.CARE_ESCALATION, Direction.OUTBOUND, 3, "care -> firm: an escalation for the case owner"),
    TenantTopicSpec(FirmEvent.DUTY_OF_CARE, Direction.OUTBOUND, 3, "care -> firm: every duty-of-care record entry"),
    # Keyed by provider id: compacted, the latest scorecard per provider is the scorecard.
    TenantTopicSpec(FirmEvent.CARE_SCORECARD, Direction.OUTBOUND, 3, "care -> firm: provider scorecards", _COMPACT),
    TenantTopicSpec(
        FirmEvent.CARE_REFUSED, Direction.OUTBOUND, 3, "care -> firm: a care event refused, one reason per field"
    ),
)
CARE_FIRM_INBOUND: tuple[FirmEvent, ...] = (
    FirmEvent.CARE_PULSE_GIVEN,
    FirmEvent.CARE_SESSION_HELD,
    FirmEvent.CARE_OUTCOME_REPORTED,
    FirmEvent.CARE_ESCALATION_CLOSED,
    FirmEvent.CARE_PERMIT_CLARIFIED,
)
# care's own outbound topics: care follows a firm's assignments once these exist (services/care/firms.py).
CARE_FIRM_OUTBOUND: tuple[FirmEvent, ...] = (
    FirmEvent.CARE_ESCALATION,
    FirmEvent.DUTY_OF_CARE,
    FirmEvent.CARE_SCORECARD,
    FirmEvent.CARE_REFUSED,
)
PROVIDER_TOPICS: tuple[TenantTopicSpec, ...] = (
    # Keyed by coach / job lead id, compacted so the latest record per id (or its tombstone,
    # until deleted) is the provider's catalog.
    TenantTopicSpec(
        ProviderEvent.CATALOG_COACHES,
        Direction.INBOUND,
        3,
        "provider -> matching: coach upserts, null = removed",
        _COMPACT,
    ),
    TenantTopicSpec(
        ProviderEvent.CATALOG_JOB_LEADS,
        Direction.INBOUND,
        3,
        "provider -> matching: job lead upserts, null = removed",
        _COMPACT,
    ),
    TenantTopicSpec(
        ProviderEvent.CATALOG_REJECTED,
        Direction.OUTBOUND,
        3,
        "matching -> provider: catalog records refused, one reason per field",
    ),
)

FIRM_INBOUND: frozenset[FirmEvent] = frozenset(
    FirmEvent(s.event) for s in FIRM_TOPICS if s.direction is Direction.INBOUND
)
FIRM_OUTBOUND: frozenset[FirmEvent] = frozenset(
    FirmEvent(s.event) for s in FIRM_TOPICS if s.direction is Direction.OUTBOUND
)
PROVIDER_INBOUND: frozenset[ProviderEvent] = frozenset(
    ProviderEvent(s.event) for s in PROVIDER_TOPICS if s.direction is Direction.INBOUND
)
PROVIDER_OUTBOUND: frozenset[ProviderEvent] = frozenset(
    ProviderEvent(s.event) for s in PROVIDER_TOPICS if s.direction is Direction.OUTBOUND
)


class InvalidTenantId(ValueError):
    """A firm or provider id that the topic convention does not allow."""


@dataclass(frozen=True)
class Tenant:
    """Whose topic a record arrived on, and which event it is."""

    kind: Kind
    id: str
    event: FirmEvent | ProviderEvent


def is_valid_tenant_id(tenant_id: str) -> bool:
    return bool(_TENANT_ID.fullmatch(tenant_id))


def validate_tenant_id(tenant_id: str, kind: Kind | str = Kind.FIRM) -> str:
    """The id unchanged, or InvalidTenantId saying what the convention allows."""
    if not isinstance(tenant_id, str) or not is_valid_tenant_id(tenant_id):
        raise InvalidTenantId(
            f"{Kind(kind)} id {tenant_id!r} is not allowed: 1 to 48 characters of lowercase letters, digits "
            "and hyphens, starting and ending with a letter or digit (no dots)"
        )
    return tenant_id


def validate_firm_id(firm_id: str) -> str:
    return validate_tenant_id(firm_id, Kind.FIRM)


def validate_provider_id(provider_id: str) -> str:
    return validate_tenant_id(provider_id, Kind.PROVIDER)


def firm_prefix(firm_id: str) -> str:
    """The firm's topic and consumer-group prefix, as its prefixed ACLs name it."""
    return f"{FIRM_PREFIX}{validate_firm_id(firm_id)}."


def provider_prefix(provider_id: str) -> str:
    return f"{PROVIDER_PREFIX}{validate_provider_id(provider_id)}."


def firm_topic(firm_id: str, event: FirmEvent | str) -> str:
    """`trailblazer.firm.<firm_id>.<event>.v1`; ValueError for an unknown event or a bad id."""
    return f"{firm_prefix(firm_id)}{FirmEvent(event)}.{TOPIC_VERSION}"


def provider_topic(provider_id: str, event: ProviderEvent | str) -> str:
    """`trailblazer.provider.<provider_id>.<event>.v1`; ValueError for an unknown event or a bad id."""
    return f"{provider_prefix(provider_id)}{ProviderEvent(event)}.{TOPIC_VERSION}"


def firm_pattern(event: FirmEvent | str, *more: FirmEvent | str) -> str:
    """The regex a service subscribes with to read these events from every firm, present and
    future (one consumer for several events: every consumer that joins a group rebalances it)."""
    return _pattern(FIRM_PREFIX, [FirmEvent(e) for e in (event, *more)])


def provider_pattern(event: ProviderEvent | str, *more: ProviderEvent | str) -> str:
    return _pattern(PROVIDER_PREFIX, [ProviderEvent(e) for e in (event, *more)])


def _pattern(prefix: str, events: list[FirmEvent] | list[ProviderEvent]) -> str:
    names = [re.escape(e) for e in events]
    event = names[0] if len(names) == 1 else f"(?:{'|'.join(names)})"
    return f"^{re.escape(prefix)}{TENANT_ID_PATTERN}\\.{event}\\.{TOPIC_VERSION}$"


_TENANT_TOPIC = re.compile(
    rf"^trailblazer\.(?P<kind>firm|provider)\.(?P<id>{TENANT_ID_PATTERN})\.(?P<event>.+)\.{TOPIC_VERSION}$"
)


def tenant_of(topic: str) -> Tenant | None:
    """The tenant a topic belongs to and its event, or None for an internal or unknown topic."""
    match = _TENANT_TOPIC.fullmatch(topic)
    if match is None:
        return None
    kind = Kind(match["kind"])
    events: type[FirmEvent] | type[ProviderEvent] = FirmEvent if kind is Kind.FIRM else ProviderEvent
    try:
        event = events(match["event"])
    except ValueError:
        return None
    return Tenant(kind, match["id"], event)


def firm_of_topic(topic: str) -> str:
    """The firm whose topic this is: a firm's identity for a record it wrote. ValueError for any
    other topic (a subscription by `firm_pattern` only ever gets firms' topics)."""
    tenant = tenant_of(topic)
    if tenant is None or tenant.kind is not Kind.FIRM:
        raise ValueError(f"{topic} is not a firm's topic")
    return tenant.id


def provider_of_topic(topic: str) -> str:
    """The catalog provider whose topic this is; ValueError for any other topic."""
    tenant = tenant_of(topic)
    if tenant is None or tenant.kind is not Kind.PROVIDER:
        raise ValueError(f"{topic} is not a provider's topic")
    return tenant.id


def partitions_of(topic: str) -> int:
    """The partition count an internal or a tenant's topic is created with (StopIteration for
    a topic that is neither)."""
    tenant = tenant_of(topic)
    if tenant is None:
        return next(spec.partitions for spec in TOPICS if spec.name == topic)
    specs = FIRM_TOPICS if tenant.kind is Kind.FIRM else PROVIDER_TOPICS
    return next(spec.partitions for spec in specs if spec.event == tenant.event)


def firm_topic_specs(firm_id: str) -> tuple[TopicSpec, ...]:
    """The topics onboarding creates for one firm."""
    return tuple(TopicSpec(firm_topic(firm_id, s.event), s.partitions, s.purpose, dict(s.config)) for s in FIRM_TOPICS)


def provider_topic_specs(provider_id: str) -> tuple[TopicSpec, ...]:
    """The topics onboarding creates for one catalog provider."""
    return tuple(
        TopicSpec(provider_topic(provider_id, s.event), s.partitions, s.purpose, dict(s.config))
        for s in PROVIDER_TOPICS
    )


def tenant_topic_specs(kind: Kind | str, tenant_id: str) -> tuple[TopicSpec, ...]:
    return firm_topic_specs(tenant_id) if Kind(kind) is Kind.FIRM else provider_topic_specs(tenant_id)


def tenant_prefix(kind: Kind | str, tenant_id: str) -> str:
    return firm_prefix(tenant_id) if Kind(kind) is Kind.FIRM else provider_prefix(tenant_id)


def tenant_inbound_topics(kind: Kind | str, tenant_id: str) -> tuple[str, ...]:
    """The topics the tenant may write (its literal Write ACLs)."""
    if Kind(kind) is Kind.FIRM:
        return tuple(firm_topic(tenant_id, s.event) for s in FIRM_TOPICS if s.direction is Direction.INBOUND)
    return tuple(provider_topic(tenant_id, s.event) for s in PROVIDER_TOPICS if s.direction is Direction.INBOUND)


_INTERNAL = frozenset(spec.name for spec in TOPICS)


def written_by_services(topic: str) -> bool:
    """True for a topic only Trailblazer's services write (internal, or a tenant's outbound
    topic): its records' event ids were made by a service, not chosen by an outside party."""
    tenant = tenant_of(topic)
    if tenant is None:
        return topic in _INTERNAL
    return tenant.event in FIRM_OUTBOUND or tenant.event in PROVIDER_OUTBOUND
