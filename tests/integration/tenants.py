"""Firms and catalog providers of the test stack, onboarded as an operator onboards them
(docs/tenancy.md): their user, topics and ACLs; their passwords are kept with the stack's, so
`publish(cfg, ..., firm_id=...)` and `kafka_access.tenant_options` sign in as them. The services read
every firm's and provider's topics by pattern, so a tenant onboarded while they run is served once
their next metadata refresh finds its topics."""

from collections.abc import Callable, Iterable

from deploy.local import kafka_access
from deploy.local.config import StackConfig
from deploy.local.topic_reader import Received
from shared.topics import FirmEvent, Kind, ProviderEvent, firm_topic, tenant_of


def onboard(cfg: StackConfig, *firm_ids: str, providers: Iterable[str] = ()) -> None:
    """Onboard the firms and providers (again: safe; their topics and passwords are kept)."""
    for firm_id in firm_ids:
        kafka_access.onboard_tenant(cfg, Kind.FIRM, firm_id)
    for provider_id in providers:
        kafka_access.onboard_tenant(cfg, Kind.PROVIDER, provider_id)


def firm_topics(firm_ids: Iterable[str], *events: FirmEvent) -> list[str]:
    """Each firm's own topic of each event, for a reader that reads as the firms would."""
    return [firm_topic(firm_id, event) for firm_id in firm_ids for event in events]


def on(event: FirmEvent | ProviderEvent, key: str) -> Callable[[Received], bool]:
    """A record of this event, on whichever tenant's topic, keyed `key`."""

    def matches(record: Received) -> bool:
        tenant = tenant_of(record.topic)
        return tenant is not None and tenant.event == event and record.key == key

    return matches
