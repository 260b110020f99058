"""Every Kafka topic Trailblazer reads or writes, in one place.

Names carry a version suffix: a breaking contract change gets a new topic so that firms can
migrate at their own pace. Records are keyed by assignment id, so one assignment's events stay
in order on one partition.
"""

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
)
