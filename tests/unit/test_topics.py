"""The tenant topic convention (docs/tenancy.md): names, patterns, ids, and the way back from a
topic to its tenant."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import topics
from shared.topics import FirmEvent, Kind, ProviderEvent, Tenant

tenant_ids = st.from_regex(re.compile(rf"^{topics.TENANT_ID_PATTERN}$"), fullmatch=True)


def test_firm_and_provider_topics_follow_the_convention() -> None:
    assert topics.firm_topic("acme", FirmEvent.ASSIGNMENT_REQUESTED) == "trailblazer.firm.acme.assignment.requested.v1"
    assert topics.firm_topic("acme-relo", "duty-of-information") == "trailblazer.firm.acme-relo.duty-of-information.v1"
    assert (
        topics.provider_topic("coaches-r-us", ProviderEvent.CATALOG_JOB_LEADS)
        == "trailblazer.provider.coaches-r-us.catalog.job-leads.v1"
    )
    assert topics.firm_prefix("acme") == "trailblazer.firm.acme."
    assert topics.provider_prefix("p1") == "trailblazer.provider.p1."


@pytest.mark.parametrize(
    "bad", ["", "Acme", "acme.eu", "-acme", "acme-", "acme_relo", "a" * 49, "acme relo", "ä", "acme\n"]
)
def test_ids_outside_the_convention_are_refused(bad: str) -> None:
    assert not topics.is_valid_tenant_id(bad)
    with pytest.raises(topics.InvalidTenantId, match="lowercase letters, digits and hyphens"):
        topics.validate_firm_id(bad)
    with pytest.raises(topics.InvalidTenantId, match="provider id"):
        topics.provider_topic(bad, ProviderEvent.CATALOG_COACHES)
    with pytest.raises(topics.InvalidTenantId):
        topics.firm_topic(bad, FirmEvent.ASSIGNMENT_REQUESTED)


@pytest.mark.parametrize("good", ["a", "0", "acme", "acme-relo-2", "a" * 48, "a-b"])
def test_ids_inside_the_convention_are_kept(good: str) -> None:
    assert topics.validate_firm_id(good) == good
    assert topics.validate_provider_id(good) == good


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError):
        topics.firm_topic("acme", "assignment.exploded")
    with pytest.raises(ValueError):
        topics.firm_pattern("catalog.coaches")  # a provider event, not a firm's
    with pytest.raises(ValueError):
        topics.provider_topic("p1", FirmEvent.ASSIGNMENT_REQUESTED)


@given(firm=tenant_ids, event=st.sampled_from(list(FirmEvent)))
def test_tenant_of_reads_back_what_firm_topic_wrote(firm: str, event: FirmEvent) -> None:
    topic = topics.firm_topic(firm, event)
    assert topics.tenant_of(topic) == Tenant(Kind.FIRM, firm, event)
    assert re.fullmatch(topics.firm_pattern(event), topic)
    assert len(topic) <= 249 and re.fullmatch(r"[a-zA-Z0-9._-]+", topic)  # Kafka's own topic name rules


@given(provider=tenant_ids, event=st.sampled_from(list(ProviderEvent)))
def test_tenant_of_reads_back_what_provider_topic_wrote(provider: str, event: ProviderEvent) -> None:
    topic = topics.provider_topic(provider, event)
    assert topics.tenant_of(topic) == Tenant(Kind.PROVIDER, provider, event)
    assert re.fullmatch(topics.provider_pattern(event), topic)


@given(a=tenant_ids, b=tenant_ids)
def test_no_firms_prefix_covers_another_firms_topics(a: str, b: str) -> None:
    # Prefixed ACLs grant a firm everything under its prefix: that must never reach another firm.
    if a != b:
        for event in FirmEvent:
            assert not topics.firm_topic(b, event).startswith(topics.firm_prefix(a))


@pytest.mark.parametrize(
    "topic",
    [
        topics.ASSIGNMENT_CREATED,
        topics.DEAD_LETTER,
        topics.MATCH_PROPOSED,
        "trailblazer.firm.acme.assignment.exploded.v1",
        "trailblazer.firm.acme.assignment.requested.v2",
        "trailblazer.firm.Acme.assignment.requested.v1",
        "trailblazer.firm.acme.eu.assignment.requested.v1",
        "trailblazer.provider.p1.assignment.requested.v1",
        "trailblazer.firm.p1.catalog.coaches.v1",
        "xtrailblazer.firm.acme.assignment.requested.v1",
    ],
)
def test_internal_and_foreign_topics_have_no_tenant(topic: str) -> None:
    assert topics.tenant_of(topic) is None


def test_a_pattern_matches_its_own_event_only() -> None:
    pattern = re.compile(topics.firm_pattern(FirmEvent.ASSIGNMENT_REQUESTED))
    assert pattern.fullmatch("trailblazer.firm.acme.assignment.requested.v1")
    assert not pattern.fullmatch("trailblazer.firm.acme.assignment.requested.v1x")
    assert not pattern.fullmatch("trailblazer.firm.acme.eu.assignment.requested.v1")
    assert not pattern.fullmatch("trailblazer.firm.acme.assignment.cancelled.v1")
    assert not pattern.fullmatch("trailblazer.provider.acme.assignment.requested.v1")


def test_every_event_has_one_topic_spec_and_a_direction() -> None:
    assert [s.event for s in topics.FIRM_TOPICS] == list(FirmEvent)
    assert [s.event for s in topics.PROVIDER_TOPICS] == list(ProviderEvent)
    assert set(FirmEvent) == topics.FIRM_INBOUND | topics.FIRM_OUTBOUND
    assert not topics.FIRM_INBOUND & topics.FIRM_OUTBOUND
    assert {ProviderEvent.CATALOG_COACHES, ProviderEvent.CATALOG_JOB_LEADS} == topics.PROVIDER_INBOUND


def test_onboarding_topic_sets() -> None:
    specs = topics.tenant_topic_specs(Kind.FIRM, "acme")
    assert {s.name for s in specs} == {topics.firm_topic("acme", e) for e in FirmEvent}
    assert all(s.partitions >= 1 for s in specs)
    assert set(topics.tenant_inbound_topics(Kind.FIRM, "acme")) == {
        topics.firm_topic("acme", e) for e in topics.FIRM_INBOUND
    }
    provider = topics.tenant_topic_specs("provider", "p1")
    assert {s.name for s in provider} == {topics.provider_topic("p1", e) for e in ProviderEvent}
    compacted = {s.name for s in provider if s.config.get("cleanup.policy") == "compact"}
    assert compacted == set(topics.tenant_inbound_topics(Kind.PROVIDER, "p1"))
