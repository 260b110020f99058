"""Tenancy, enforced by the real broker (issue 9; docs/tenancy.md, "ACL matrix").

Every cell is tried by the principal's own client, signed in with its own SCRAM-SHA-512
credentials, and its outcome is what the broker answers: the record is taken (or read), or
aiokafka raises the broker's authorization error, `TopicAuthorizationFailedError` or
`GroupAuthorizationFailedError`. No check of ours stands in between.

- firm B cannot write firm A's inbound topics, nor read A's outbound topics or any internal
  topic, nor join a consumer group outside its own prefix; A writes its inbound and reads its
  outbound topics (and B its own);
- a provider cannot write another provider's catalog topics, nor read its answers;
- each service's user is allowed exactly what `shared.acls.service_acls` grants it and refused
  the rest: every internal topic (read, write), each kind of tenant topic, consumer groups;
- a firm onboarded with the operator command can connect and write; offboarded, its open
  connection is refused and it can no longer sign in.

Tenants are onboarded for this module with the same code the operator command runs. The matrix
tried is written to `<basetemp>/acl-matrix.md` and printed (`pytest -s`).
"""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from pydantic import SecretStr

from deploy.local import kafka_access
from deploy.local.config import SERVICES, StackConfig
from deploy.local.probes import run_async
from shared.acls import SERVICE_ACCESS, service_user
from shared.db import DependencyRefused
from shared.kafka_security import KafkaSecurity, check_access
from shared.ops import tenants
from shared.topics import (
    DEAD_LETTER,
    FIRM_TOPICS,
    PROVIDER_TOPICS,
    TOPICS,
    Direction,
    FirmEvent,
    Kind,
    ProviderEvent,
    firm_topic,
    provider_topic,
    tenant_prefix,
)

pytestmark = pytest.mark.integration

ALLOWED = "allowed"
TOPIC_REFUSED = TopicAuthorizationFailedError.__name__
GROUP_REFUSED = GroupAuthorizationFailedError.__name__
REFUSALS = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)
READ_TIMEOUT_S = 60.0  # only a bound: an allowed read returns as soon as its probe arrives
INTERNAL = [spec.name for spec in TOPICS]
FIRM_INBOUND = [s.event for s in FIRM_TOPICS if s.direction is Direction.INBOUND]
FIRM_OUTBOUND = [s.event for s in FIRM_TOPICS if s.direction is Direction.OUTBOUND]
PROVIDER_INBOUND = [s.event for s in PROVIDER_TOPICS if s.direction is Direction.INBOUND]
PROVIDER_OUTBOUND = [s.event for s in PROVIDER_TOPICS if s.direction is Direction.OUTBOUND]


@dataclass(frozen=True)
class Cell:
    who: str
    action: str
    resource: str
    outcome: str


MATRIX: list[Cell] = []


@pytest.fixture(scope="module", autouse=True)
def acl_matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    lines = ["| principal | action | resource | broker's answer |", "| --- | --- | --- | --- |"]
    lines += [f"| {c.who} | {c.action} | {c.resource} | {c.outcome} |" for c in MATRIX]
    path = Path(tmp_path_factory.getbasetemp()) / "acl-matrix.md"
    path.write_text("\n".join(lines) + "\n\n" + summary(MATRIX) + "\n")
    print(f"\nACL matrix tried on the broker ({len(MATRIX)} cells, {path}):\n" + summary(MATRIX))


def summary(cells: list[Cell]) -> str:
    """Per principal: what the broker allowed, and how many of each action it refused, with what."""
    rows = ["| principal | allowed | refused |", "| --- | --- | --- |"]
    for who in dict.fromkeys(c.who for c in cells):
        mine = [c for c in cells if c.who == who]
        allowed = [f"{c.action} {c.resource}" for c in mine if c.outcome == ALLOWED]
        refused: dict[tuple[str, str], int] = {}
        for c in mine:
            if c.outcome != ALLOWED:
                refused[(c.action, c.outcome)] = refused.get((c.action, c.outcome), 0) + 1
        refusals = [f"{action} ×{n} ({outcome})" for (action, outcome), n in refused.items()]
        rows.append(f"| {who} | {'; '.join(allowed) or '-'} | {'; '.join(refusals) or '-'} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class Principal:
    """One principal's own clients (what it would run), and how it appears in the matrix."""

    name: str
    options: dict[str, Any]
    bootstrap: str

    async def write(self, topic: str, key: str) -> str:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **self.options)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'{"acl_probe": true}', key=key.encode())
            return ALLOWED
        except REFUSALS as refused:
            return type(refused).__name__
        finally:
            await producer.stop()

    async def read(self, topic: str, *, group: str | None = None, key: str | None = None) -> str:
        """Reads `topic` from the start (in `group`, joining it, if given) until the record
        keyed `key` arrives; without a key, one fetch without a refusal counts as allowed."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **self.options,
        )
        try:
            await consumer.start()
            deadline = time.monotonic() + READ_TIMEOUT_S
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                if key is None or any(r.key == key.encode() for records in batch.values() for r in records):
                    return ALLOWED
                assert time.monotonic() < deadline, f"{self.name}: the probe {key} on {topic} never arrived"
        except REFUSALS as refused:
            return type(refused).__name__
        finally:
            await consumer.stop()

    async def group_offsets(self, group: str, topic: str) -> str:
        """The group's committed offset (OffsetFetch, Describe on the group) without joining it:
        joining a running service's group would take partitions from it."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, **self.options)
        try:
            await consumer.start()
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.committed(partition)
            return ALLOWED
        except REFUSALS as refused:
            return type(refused).__name__
        finally:
            await consumer.stop()


def check(who: Principal, action: str, resource: str, outcome: str, expected: str) -> None:
    MATRIX.append(Cell(who.name, action, resource, outcome))
    assert outcome == expected, f"{who.name} {action} {resource}: broker answered {outcome}, expected {expected}"


def probe_key() -> str:
    return f"acl-probe-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Tenants:
    firm_a: str
    firm_b: str
    provider_a: str
    provider_b: str
    clients: dict[str, Principal]


def scram(user: str, password: str) -> dict[str, Any]:
    return KafkaSecurity(kafka_access.PROTOCOL, "SCRAM-SHA-512", user, SecretStr(password)).client_options()


@pytest.fixture(scope="module")
def tenants_of_test(local_stack: StackConfig) -> Tenants:
    """Two firms and two providers, onboarded by the onboarding code, each with its own client."""
    run = uuid.uuid4().hex[:6]
    ids = {"firm A": (Kind.FIRM, f"acme-{run}"), "firm B": (Kind.FIRM, f"bravo-{run}")}
    ids |= {"provider A": (Kind.PROVIDER, f"coaches-{run}"), "provider B": (Kind.PROVIDER, f"leads-{run}")}

    async def onboard_all() -> dict[str, Principal]:
        clients = {}
        async with kafka_access.admin(local_stack) as admin:
            for name, (kind, tenant_id) in ids.items():
                onboarded = await tenants.onboard(admin, kind, tenant_id)
                options = scram(onboarded.user, onboarded.password)
                clients[name] = Principal(name, options, local_stack.kafka_bootstrap)
        return clients

    clients = run_async(onboard_all())
    return Tenants(ids["firm A"][1], ids["firm B"][1], ids["provider A"][1], ids["provider B"][1], clients)


@pytest.fixture(scope="module")
def admin(local_stack: StackConfig) -> Principal:
    return Principal("admin", kafka_access.client_options(local_stack), local_stack.kafka_bootstrap)


async def test_a_firm_cannot_touch_another_firms_topics_nor_internal_ones(tenants_of_test: Tenants) -> None:
    t = tenants_of_test
    b = t.clients["firm B"]
    b_group = f"{tenant_prefix(Kind.FIRM, t.firm_b)}reader"
    for event in FIRM_INBOUND:
        check(b, "write", f"A's {event}", await b.write(firm_topic(t.firm_a, event), probe_key()), TOPIC_REFUSED)
    for event in FIRM_OUTBOUND:
        topic = firm_topic(t.firm_a, event)
        check(b, "read", f"A's {event}", await b.read(topic, group=b_group), TOPIC_REFUSED)
    for topic in INTERNAL:
        check(b, "read", topic, await b.read(topic, group=b_group), TOPIC_REFUSED)
        check(b, "write", topic, await b.write(topic, probe_key()), TOPIC_REFUSED)
    # Its own outbound topics are the services' to write: a firm cannot forge their answers.
    for event in FIRM_OUTBOUND:
        check(b, "write", f"B's own {event}", await b.write(firm_topic(t.firm_b, event), probe_key()), TOPIC_REFUSED)
    own = firm_topic(t.firm_b, FirmEvent.ASSIGNMENT_REQUESTED)
    for group in ("trailblazer-intake", f"{tenant_prefix(Kind.FIRM, t.firm_a)}reader", "any-group"):
        check(b, "join group", f"{group} (on its own topic)", await b.read(own, group=group), GROUP_REFUSED)


async def test_a_firm_writes_its_inbound_and_reads_its_outbound_topics(
    tenants_of_test: Tenants, admin: Principal
) -> None:
    t = tenants_of_test
    a = t.clients["firm A"]
    group = f"{tenant_prefix(Kind.FIRM, t.firm_a)}reader-{uuid.uuid4().hex[:6]}"
    for event in FIRM_INBOUND:
        key = probe_key()
        check(a, "write", f"A's {event}", await a.write(firm_topic(t.firm_a, event), key), ALLOWED)
    # What the services would write to A: here the admin, so this test needs no service.
    for event in FIRM_OUTBOUND:
        topic, key = firm_topic(t.firm_a, event), probe_key()
        assert await admin.write(topic, key) == ALLOWED
        check(a, "read (own group)", f"A's {event}", await a.read(topic, group=group, key=key), ALLOWED)


async def test_a_provider_cannot_change_another_providers_catalog(tenants_of_test: Tenants) -> None:
    t = tenants_of_test
    p, q = t.clients["provider A"], t.clients["provider B"]
    q_group = f"{tenant_prefix(Kind.PROVIDER, t.provider_b)}reader"
    for event in PROVIDER_INBOUND:
        topic = provider_topic(t.provider_a, event)
        check(q, "write", f"provider A's {event}", await q.write(topic, probe_key()), TOPIC_REFUSED)
        check(p, "write", f"provider A's {event}", await p.write(topic, probe_key()), ALLOWED)
    for event in PROVIDER_OUTBOUND:
        topic = provider_topic(t.provider_a, event)
        check(q, "read", f"provider A's {event}", await q.read(topic, group=q_group), TOPIC_REFUSED)
    topic = firm_topic(t.firm_a, FirmEvent.ASSIGNMENT_REQUESTED)
    check(q, "read", f"firm A's {FirmEvent.ASSIGNMENT_REQUESTED}", await q.read(topic, group=q_group), TOPIC_REFUSED)
    check(q, "write", f"firm A's {FirmEvent.ASSIGNMENT_REQUESTED}", await q.write(topic, probe_key()), TOPIC_REFUSED)


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_user_is_allowed_its_acls_and_refused_the_rest(
    service: str, local_stack: StackConfig, tenants_of_test: Tenants, admin: Principal
) -> None:
    t = tenants_of_test
    access = SERVICE_ACCESS[service]
    user = service_user(service)
    me = Principal(user, kafka_access.client_options(local_stack, user), local_stack.kafka_bootstrap)
    for topic in INTERNAL:
        expected = ALLOWED if topic in access.writes else TOPIC_REFUSED
        check(me, "write", topic, await me.write(topic, probe_key()), expected)
    for topic in INTERNAL:
        if topic in access.reads:
            key = probe_key()
            assert await admin.write(topic, key) == ALLOWED
            check(me, "read", topic, await me.read(topic, key=key), ALLOWED)
        else:
            check(me, "read", topic, await me.read(topic), TOPIC_REFUSED)
    # Tenants' topics, by kind: the inbound ones read, the outbound ones written (answers).
    tenant_topics = {
        Kind.FIRM: (firm_topic(t.firm_a, FirmEvent.ASSIGNMENT_REQUESTED), firm_topic(t.firm_a, FIRM_OUTBOUND[0])),
        Kind.PROVIDER: (
            provider_topic(t.provider_a, ProviderEvent.CATALOG_COACHES),
            provider_topic(t.provider_a, PROVIDER_OUTBOUND[0]),
        ),
    }
    for kind, (inbound, outbound) in tenant_topics.items():
        read_as, write_as = (f"{kind} A's {topic.split('.', 3)[3]}" for topic in (inbound, outbound))
        if kind in access.tenants:
            key = probe_key()
            assert await admin.write(inbound, key) == ALLOWED
            check(me, "read", read_as, await me.read(inbound, key=key), ALLOWED)
        else:
            check(me, "read", read_as, await me.read(inbound), TOPIC_REFUSED)
        expected = ALLOWED if kind in access.tenant_writes else TOPIC_REFUSED
        check(me, "write", write_as, await me.write(outbound, probe_key()), expected)
    # Its own consumer groups (offsets only: joining would disturb the running service), and
    # every other service's; asked for the dead-letter topic, which every service may describe.
    for other in SERVICES:
        for group in SERVICE_ACCESS[other].groups:
            expected = ALLOWED if group in access.groups else GROUP_REFUSED
            check(me, "group offsets", group, await me.group_offsets(group, DEAD_LETTER), expected)


async def test_onboarding_then_offboarding_a_firm_removes_its_access(
    local_stack: StackConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The operator command, as `./dev ops tenants` runs it: onboard, connect, offboard."""
    for name, value in kafka_access.kafka_env(local_stack).items():
        monkeypatch.setenv(name, value)
    firm_id = f"gamma-{uuid.uuid4().hex[:6]}"
    password = f"gamma-password-{uuid.uuid4().hex}"
    (tmp_path / "password").write_text(password + "\n")
    assert await tenants.main(["onboard", "firm", firm_id, "--password-file", str(tmp_path / "password")]) == 0
    sheet = capsys.readouterr().out
    inbound = firm_topic(firm_id, FirmEvent.ASSIGNMENT_REQUESTED)
    assert f"firm {firm_id} is onboarded." in sheet
    assert f"user               firm-{firm_id}" in sheet and "SCRAM-SHA-512" in sheet
    assert f"    {inbound}" in sheet and f"    {firm_topic(firm_id, FirmEvent.STAKEHOLDER_NOTIFIED)}" in sheet
    gamma = Principal("firm gamma", scram(f"firm-{firm_id}", password), local_stack.kafka_bootstrap)
    check(gamma, "write (onboarded)", "its assignment.requested", await gamma.write(inbound, probe_key()), ALLOWED)

    producer = AIOKafkaProducer(bootstrap_servers=local_stack.kafka_bootstrap, acks="all", **gamma.options)
    await producer.start()
    try:
        await producer.send_and_wait(inbound, b'{"acl_probe": true}')
        assert await tenants.main(["offboard", "firm", firm_id]) == 0
        assert f"firm {firm_id} is offboarded: user firm-{firm_id} can no longer log in" in capsys.readouterr().out
        try:
            await producer.send_and_wait(inbound, b'{"acl_probe": true}')
            outcome = ALLOWED
        except TopicAuthorizationFailedError as refused:
            outcome = type(refused).__name__
        check(gamma, "write (offboarded, connection open)", "its assignment.requested", outcome, TOPIC_REFUSED)
    finally:
        await producer.stop()
    security = KafkaSecurity(kafka_access.PROTOCOL, "SCRAM-SHA-512", f"firm-{firm_id}", SecretStr(password))
    with pytest.raises(DependencyRefused, match="refused the credentials") as refusal:
        await check_access(local_stack.kafka_bootstrap, security, client_id="tenancy-test")
    assert password not in str(refusal.value)
    MATRIX.append(Cell(gamma.name, "sign in (offboarded)", "SCRAM-SHA-512", "SaslAuthenticationFailed"))
