"""Who may do what on the broker, in one table: each service's least-privilege ACLs, and the
prefixed ACLs every firm and catalog provider gets at onboarding (docs/tenancy.md, "ACL matrix").

The local stack grants exactly these (deploy/local/kafka.py), the onboarding command grants the
tenants' (shared/ops/tenants.py), and tests/unit/test_deploy_manifests.py checks that
deploy/k8s declares the same for its KafkaUsers. A new service is one `SERVICE_ACCESS` entry.

Services reach every tenant's topics through the prefix `trailblazer.firm.` (or
`trailblazer.provider.`): ACLs cannot name a topic by its suffix, so a service that reads the
firms' inbound topics may read their outbound ones too. Tenants are the untrusted side, and each
of them is held to its own prefix, with Write on its inbound topics only.
"""

from dataclasses import dataclass, field
from enum import StrEnum

from .topics import (
    ASSIGNMENT_CREATED,
    CARE_CHECK_IN_DUE,
    DEAD_LETTER,
    FIRM_PREFIX,
    MATCH_PROPOSED,
    MATCH_UPDATED,
    PROVIDER_PREFIX,
    Kind,
    tenant_inbound_topics,
    tenant_prefix,
)

SUPER_USER = "admin"  # the stack's own tooling: topics, users, ACLs, operator commands


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(StrEnum):
    READ = "Read"
    WRITE = "Write"
    DESCRIBE = "Describe"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule for a principal, from any host (Strimzi's `acls[]` entry, Kafka's binding)."""

    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


@dataclass(frozen=True)
class ServiceAccess:
    """What one service does on Kafka: internal topics by name, tenants' topics by kind."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = (DEAD_LETTER,)  # shared.messaging dead-letters for every service
    groups: tuple[str, ...] = ()
    # Reads the topics of every tenant of these kinds (their inbound ones, by pattern) ...
    tenants: frozenset[Kind] = field(default_factory=frozenset)
    # ... and writes the (outbound) topics of every tenant of these.
    tenant_writes: frozenset[Kind] = field(default_factory=frozenset)


# Exactly what each service's code reads, writes and which consumer groups it uses (the firms'
# and providers' topics by prefix: it reads their inbound topics by pattern and writes their
# outbound ones).
SERVICE_ACCESS: dict[str, ServiceAccess] = {
    "intake": ServiceAccess(  # firms' assignment.requested in, their assignment.rejected out
        writes=(ASSIGNMENT_CREATED, DEAD_LETTER),
        groups=("trailblazer-intake",),
        tenants=frozenset({Kind.FIRM}),
        tenant_writes=frozenset({Kind.FIRM}),
    ),
    "matching": ServiceAccess(  # providers' catalogs and firms' acceptances and stops in, refusals out
        reads=(ASSIGNMENT_CREATED,),
        writes=(MATCH_PROPOSED, MATCH_UPDATED, DEAD_LETTER),
        groups=("trailblazer-matching", "trailblazer-matching-catalog", "trailblazer-matching-lifecycle"),
        tenants=frozenset({Kind.FIRM, Kind.PROVIDER}),
        tenant_writes=frozenset({Kind.FIRM, Kind.PROVIDER}),
    ),
    "notifications": ServiceAccess(  # firms' stops in, stakeholder.notified and duty-of-information out
        reads=(ASSIGNMENT_CREATED, MATCH_PROPOSED, MATCH_UPDATED, CARE_CHECK_IN_DUE),
        groups=("trailblazer-notifications",),
        tenants=frozenset({Kind.FIRM}),
        tenant_writes=frozenset({Kind.FIRM}),
    ),
    "gateway": ServiceAccess(  # writes the firms' inbound topics for them (HTTP), projects the answers
        reads=(ASSIGNMENT_CREATED, MATCH_PROPOSED, MATCH_UPDATED),
        groups=("trailblazer-gateway",),
        tenants=frozenset({Kind.FIRM}),
        tenant_writes=frozenset({Kind.FIRM}),
    ),
    "care": ServiceAccess(  # firms' acceptances, stops, deliveries and care events in; providers' coaches in
        reads=(ASSIGNMENT_CREATED, MATCH_PROPOSED, MATCH_UPDATED),
        writes=(CARE_CHECK_IN_DUE, DEAD_LETTER),
        groups=("trailblazer-care", "trailblazer-care-firms", "trailblazer-care-catalog"),
        tenants=frozenset({Kind.FIRM, Kind.PROVIDER}),
        tenant_writes=frozenset({Kind.FIRM}),  # providers' coaches in; nothing to providers
    ),
}

_TENANT_ROOT = {Kind.FIRM: FIRM_PREFIX, Kind.PROVIDER: PROVIDER_PREFIX}


def service_user(service: str) -> str:
    """The service's Kafka user (its KafkaUser's name in deploy/k8s)."""
    return f"trailblazer-{service}"


def tenant_user(kind: Kind | str, tenant_id: str) -> str:
    """A firm's or provider's Kafka user: `firm-acme`, `provider-coaches-r-us`."""
    tenant_prefix(kind, tenant_id)  # validates the id
    return f"{Kind(kind)}-{tenant_id}"


def principal(user: str) -> str:
    return f"User:{user}"


def service_acls(service: str) -> list[Acl]:
    access = SERVICE_ACCESS[service]
    acls = [Acl(Resource.TOPIC, topic, Pattern.LITERAL, Operation.READ) for topic in access.reads]
    acls += [Acl(Resource.TOPIC, topic, Pattern.LITERAL, Operation.WRITE) for topic in access.writes]
    acls += [Acl(Resource.GROUP, group, Pattern.LITERAL, Operation.READ) for group in access.groups]
    acls += [Acl(Resource.TOPIC, _TENANT_ROOT[kind], Pattern.PREFIXED, Operation.READ) for kind in access.tenants]
    acls += [
        Acl(Resource.TOPIC, _TENANT_ROOT[kind], Pattern.PREFIXED, Operation.WRITE) for kind in access.tenant_writes
    ]
    return sorted(set(acls))


def tenant_acls(kind: Kind | str, tenant_id: str) -> list[Acl]:
    """Read and Describe on the tenant's whole prefix, Write on its inbound topics only, and
    consumer groups under its prefix."""
    prefix = tenant_prefix(kind, tenant_id)
    acls = [
        Acl(Resource.TOPIC, prefix, Pattern.PREFIXED, Operation.READ),
        Acl(Resource.TOPIC, prefix, Pattern.PREFIXED, Operation.DESCRIBE),
        Acl(Resource.GROUP, prefix, Pattern.PREFIXED, Operation.READ),
    ]
    acls += [Acl(Resource.TOPIC, t, Pattern.LITERAL, Operation.WRITE) for t in tenant_inbound_topics(kind, tenant_id)]
    return sorted(acls)
