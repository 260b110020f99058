"""The ACL table (shared/acls.py): what each tenant and each service may do on the broker."""

import pytest

from shared import topics
from shared.acls import SERVICE_ACCESS, Operation, Pattern, Resource, service_acls, tenant_acls, tenant_user
from shared.ops import tenants
from shared.topics import FirmEvent, Kind, firm_topic


def test_a_firm_reads_its_prefix_and_writes_only_its_inbound_topics() -> None:
    acls = tenant_acls(Kind.FIRM, "acme")
    writes = {a.name for a in acls if a.operation is Operation.WRITE}
    assert writes == {firm_topic("acme", e) for e in topics.FIRM_INBOUND}
    assert all(a.pattern is Pattern.LITERAL for a in acls if a.operation is Operation.WRITE)
    prefixed = {(a.resource, a.operation) for a in acls if a.pattern is Pattern.PREFIXED}
    assert prefixed == {
        (Resource.TOPIC, Operation.READ),
        (Resource.TOPIC, Operation.DESCRIBE),
        (Resource.GROUP, Operation.READ),
    }
    assert all(a.name.startswith("trailblazer.firm.acme.") for a in acls)
    assert firm_topic("acme", FirmEvent.STAKEHOLDER_NOTIFIED) not in writes


def test_a_provider_writes_its_catalogs_only() -> None:
    writes = {a.name for a in tenant_acls(Kind.PROVIDER, "p1") if a.operation is Operation.WRITE}
    assert writes == {"trailblazer.provider.p1.catalog.coaches.v1", "trailblazer.provider.p1.catalog.job-leads.v1"}


def test_every_service_of_the_stack_has_an_entry_and_no_service_writes_a_topic_it_reads() -> None:
    for service, access in SERVICE_ACCESS.items():
        assert topics.DEAD_LETTER in access.writes
        assert not set(access.reads) & set(access.writes), service
        assert access.groups, service
        internal = {s.name for s in topics.TOPICS}
        assert set(access.reads) | set(access.writes) <= internal
        literal = [a for a in service_acls(service) if a.pattern is Pattern.LITERAL and a.resource is Resource.TOPIC]
        assert {a.name for a in literal} <= internal


def test_tenant_users_are_named_by_kind_and_id() -> None:
    assert tenant_user("firm", "acme") == "firm-acme"
    assert tenant_user(Kind.PROVIDER, "p1") == "provider-p1"
    with pytest.raises(topics.InvalidTenantId):
        tenant_user("firm", "Acme.EU")


async def test_the_onboarding_command_refuses_an_id_outside_the_convention(capsys: pytest.CaptureFixture[str]) -> None:
    assert await tenants.main(["onboard", "firm", "acme.eu"]) == 2
    assert "lowercase letters, digits and hyphens" in capsys.readouterr().err


async def test_the_onboarding_command_lists_a_tenants_acls_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert await tenants.main(["acls", "firm", "acme"]) == 0
    out = capsys.readouterr().out
    assert "trailblazer.firm.acme.assignment.requested.v1" in out and "prefixed" in out


def test_each_service_is_granted_exactly_what_its_code_reads_writes_and_consumes_as() -> None:
    """SERVICE_ACCESS against the subscriptions each service registers and what it declares it
    writes (the same sources as the AsyncAPI document): no missing grant, none to spare."""
    from services.asyncapi import channel_of, platform, subscriptions

    kinds = {"firm_id": Kind.FIRM, "provider_id": Kind.PROVIDER}
    for service in platform():
        access = SERVICE_ACCESS[service.name]
        found = subscriptions(service)
        written = [channel_of(p) for p in service.publishes]
        assert set(access.reads) == {s.channel.address for s in found if s.channel.parameter is None}, service.name
        assert access.tenants == {kinds[s.channel.parameter] for s in found if s.channel.parameter}, service.name
        assert set(access.groups) == {s.group_id for s in found}, service.name
        # Every service's consumer dead-letters; the gateway's outbox does not declare it.
        assert set(access.writes) == {c.address for c in written if c.parameter is None} | {topics.DEAD_LETTER}
        assert access.tenant_writes == {kinds[c.parameter] for c in written if c.parameter}, service.name
