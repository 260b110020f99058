"""Firms and catalog providers of the test stack: their own topics, created as onboarding creates
them (docs/tenancy.md). The services read every firm's and provider's topics by pattern, so a
tenant onboarded while they run is served once their next metadata refresh finds its topics."""

from collections.abc import Callable, Iterable

from deploy.local import stack
from deploy.local.config import StackConfig
from deploy.local.topic_reader import Received
from shared.topics import FirmEvent, ProviderEvent, firm_topic, firm_topic_specs, provider_topic_specs, tenant_of


def onboard(cfg: StackConfig, *firm_ids: str, providers: Iterable[str] = ()) -> None:
    """Create the firms' and providers' own topics (those that already exist are kept)."""
    specs = [spec for firm_id in firm_ids for spec in firm_topic_specs(firm_id)]
    specs += [spec for provider_id in providers for spec in provider_topic_specs(provider_id)]
    stack.create_topics(cfg, specs)


def firm_topics(firm_ids: Iterable[str], *events: FirmEvent) -> list[str]:
    """Each firm's own topic of each event, for a reader that reads as the firms would."""
    return [firm_topic(firm_id, event) for firm_id in firm_ids for event in events]


def on(event: FirmEvent | ProviderEvent, key: str) -> Callable[[Received], bool]:
    """A record of this event, on whichever tenant's topic, keyed `key`."""

    def matches(record: Received) -> bool:
        tenant = tenant_of(record.topic)
        return tenant is not None and tenant.event == event and record.key == key

    return matches
