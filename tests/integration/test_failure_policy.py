"""The failure policy on the real broker and database (docs/operations.md, "Failure policy"):

- an outbox row the broker refuses for good is moved to `outbox_parked` with the reason, the
  later rows of its key are held behind it, and every other key's events flow; the operator
  command lists, retries and discards them;
- a dead-letter copy of a record near the broker's limit is trimmed to fit and says so;
- a handler raising an unexpected error is retried, then dead-lettered and counted; a run of
  them halts the handler instead of dead-lettering its whole topic, until a record succeeds.

The relay and the consumer here are the services' own classes, on a database of the test's own
(the services' relays hold their databases' relay locks) and topics of its own. Consumers take
records in batches: a batch commits together, and a poison record in it fails alone.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry.sdk.trace import TracerProvider

from deploy.local import kafka_access
from deploy.local.config import StackConfig
from deploy.local.topic_reader import TopicReader
from shared import dead_letter, metrics, outbox
from shared.db import SHARED_MIGRATIONS, Connection, create_pool
from shared.inbox import first_sighting
from shared.messaging import Consumer, create_broker, publish_record
from shared.ops import outbox as outbox_ops
from shared.settings import ServiceSettings
from shared.topics import DEAD_LETTER

from .polling import eventually
from .scratch_database import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(local_stack: StackConfig) -> AsyncIterator[str]:
    async with scratch_database(local_stack, "policy", [SHARED_MIGRATIONS]) as dsn:
        yield dsn


async def _topic(cfg: StackConfig, partitions: int = 1) -> str:
    name = f"test.policy.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, **kafka_access.client_options(cfg))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    return name


def _settings(local_stack: StackConfig, dsn: str, **overrides: Any) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {**kafka_access.settings_fields(local_stack), "database_url": dsn, **overrides}
    )


async def _add(connection: Connection, topic: str, key: str, payload: bytes) -> None:
    await outbox.add_raw(connection, event_id=str(uuid.uuid4()), topic=topic, key=key, payload=payload)


def _value(counter: Any, **labels: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(counter, labels)
    return sample or 0.0


async def test_a_refused_row_is_parked_its_key_held_and_later_keys_flow(
    local_stack: StackConfig, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _topic(local_stack)
    settings = _settings(local_stack, database)
    broker = create_broker(settings, "policy-test", TracerProvider())
    await broker.connect()
    pool = await create_pool(database, size=2)
    relay = outbox.OutboxRelay(
        pool,
        database,
        lambda record: publish_record(broker, record),
        poll_interval_s=0.2,
        broker_up=lambda: broker.ping(2.0),
    )
    try:
        async with pool.acquire() as connection, connection.transaction():
            await _add(connection, topic, "k1", b"first")
            await _add(connection, topic, "k2", b"x" * 1_500_000)  # over the producer's 1 MiB
            await _add(connection, topic, "k2", b"after the big one")  # must not overtake it
            await _add(connection, "not a topic!", "k3", b"bad topic name")
            await _add(connection, topic, "k3", b"later key")
        async with pool.acquire() as connection:
            await outbox.sample_outbox(connection)
        assert metrics.REGISTRY.get_sample_value("trailblazer_outbox_depth") == 5
        assert metrics.REGISTRY.get_sample_value("trailblazer_outbox_oldest_age_seconds", {}) is not None

        async with TopicReader(local_stack, topic) as reader:
            relayed = await relay.relay_once()
            assert relayed == 5
            got = await reader.wait_for(lambda r: True, count=2)
            await asyncio.sleep(1)  # room for anything that should not come
            assert sorted((r.key, r.raw) for r in reader.records) == [("k1", b"first"), ("k3", b"later key")]
            del got

        async with pool.acquire() as connection:
            parked = await connection.fetch("SELECT id, topic, key, reason FROM outbox_parked ORDER BY id")
            assert await connection.fetchval("SELECT count(*) FROM outbox") == 0
            await outbox.sample_outbox(connection)
        assert metrics.REGISTRY.get_sample_value("trailblazer_outbox_depth") == 0
        assert metrics.REGISTRY.get_sample_value("trailblazer_outbox_parked_rows") == 3
        reasons = [(bytes(row["key"]), row["reason"].split(":")[0]) for row in parked]
        assert reasons == [(b"k2", "refused"), (b"k2", "held"), (b"k3", "refused")], parked
        assert "MessageSizeTooLargeError" in parked[0]["reason"]
        assert "not a valid Kafka topic name" in parked[2]["reason"]

        # The operator command: list, discard the big one, retry the one held behind it.
        assert await outbox_ops.main(["list", "--database-url", database]) == 0
        listing = capsys.readouterr().out
        assert str(parked[0]["id"]) in listing and "MessageSizeTooLargeError" in listing
        assert await outbox_ops.main(["--database-url", database, "discard", str(parked[0]["id"])]) == 0
        assert await outbox_ops.main(["retry", str(parked[1]["id"]), "--database-url", database]) == 0
        async with TopicReader(local_stack, topic) as reader:
            await relay.relay_once()
            await reader.wait_for(lambda r: r.raw == b"after the big one")
        async with pool.acquire() as connection:
            left = await connection.fetch("SELECT id FROM outbox_parked")
        assert [row["id"] for row in left] == [parked[2]["id"]]
    finally:
        await relay.close()
        await pool.close()
        await broker.stop()


async def test_a_dead_letter_copy_near_the_limit_is_trimmed_to_fit(local_stack: StackConfig) -> None:
    marker = uuid.uuid4().hex.encode()
    value = marker + b"\x00" * 1_020_000  # fits the broker; the copy with its headers would not
    producer = AIOKafkaProducer(
        bootstrap_servers=local_stack.kafka_bootstrap,
        max_request_size=2_000_000,
        **kafka_access.client_options(local_stack),
    )
    await producer.start()
    try:
        # notifications reads match.proposed: a body that is no JSON is dead-lettered.
        await producer.send_and_wait(
            "trailblazer.match.proposed.v1", value=value, key=b"big", headers=[("note", b"y" * 20_000)]
        )
    finally:
        await producer.stop()
    async with TopicReader(local_stack, DEAD_LETTER) as reader:
        # The gateway reads match.proposed too and dead-letters its own copy: take notifications'.
        [letter] = await reader.wait_for(
            lambda r: r.raw.startswith(marker) and r.headers.get(dead_letter.CONSUMER) == "notifications",
            timeout_s=90,
        )
    trimmed = letter.headers[dead_letter.TRIMMED]
    assert "header note 20000 -> 1024 chars" in trimmed
    assert f"value {len(value)} -> " in trimmed and "sha256" in trimmed
    assert letter.headers[dead_letter.CONSUMER] == "notifications"
    assert len(letter.raw) < len(value)


async def test_an_unexpected_error_is_retried_then_dead_lettered_and_a_run_of_them_halts(
    local_stack: StackConfig, database: str
) -> None:
    topic = await _topic(local_stack)
    settings = _settings(
        local_stack, database, unexpected_error_attempts=3, unexpected_error_backoff_s=0.05, halt_after_failures=2
    )
    pool = await create_pool(database, size=4)
    handled: list[bytes] = []
    attempts: dict[bytes, int] = {}
    broken = True  # the "deploy": raises on every record whose body starts with b"boom"

    async def effect(connection: Connection, message: KafkaMessage) -> None:
        body = bytes(message.body)
        attempts[body] = attempts.get(body, 0) + 1
        if broken and body.startswith(b"boom"):
            raise RuntimeError("a bug, not the record's fault")
        handled.append(body)

    consumer = Consumer("policy", pool, settings)
    broker: KafkaBroker = create_broker(settings, "policy-test", TracerProvider())
    consumer.subscribe(broker, topic, effect, group_id=f"policy-{uuid.uuid4().hex[:6]}")
    before = _value("trailblazer_dead_letters_total", consumer="policy", topic=topic, reason="unexpected")
    producer = AIOKafkaProducer(
        bootstrap_servers=local_stack.kafka_bootstrap, **kafka_access.client_options(local_stack)
    )
    await producer.start()
    await broker.start()
    try:
        for body in (b"ok-1", b"boom-1", b"ok-2", b"boom-2", b"boom-3", b"boom-4", b"ok-3"):
            await producer.send_and_wait(topic, value=body, key=b"k")
        # One unexpected failure: three attempts, then a dead letter; the next record flows.
        await _until(lambda: b"ok-2" in handled, 30)
        assert attempts[b"boom-1"] == 3
        # boom-2 and boom-3 are dead-lettered too; that is two in a row: boom-4 is held.
        await _until(
            lambda: metrics.REGISTRY.get_sample_value("trailblazer_consumer_halted", {"consumer": "policy"}) == 1, 30
        )
        assert b"ok-3" not in handled
        after = _value("trailblazer_dead_letters_total", consumer="policy", topic=topic, reason="unexpected")
        assert after - before == 3
        async with pool.acquire() as connection:
            reasons = await connection.fetch("SELECT headers->>'dead_letter.reason' AS r FROM outbox ORDER BY id")
        assert [row["r"].split(":")[0:2] for row in reasons] == [["unexpected", " RuntimeError"]] * 3
        # The fixed deploy: the held record goes through, and the records behind it.
        broken = False
        await _until(lambda: b"ok-3" in handled, 60)
        assert b"boom-4" in handled
        assert metrics.REGISTRY.get_sample_value("trailblazer_consumer_halted", {"consumer": "policy"}) == 0
    finally:
        await broker.stop()
        await producer.stop()
        await pool.close()


async def _until(condition: Any, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_a_batch_commits_together_and_a_poison_record_in_it_is_dead_lettered_alone(
    local_stack: StackConfig, database: str
) -> None:
    """Records waiting when the consumer starts arrive as batches: each handled once, in order per
    key, one poison record dead-lettered alone while its neighbours commit, offsets committed."""
    topic = await _topic(local_stack, partitions=3)
    settings = _settings(local_stack, database, unexpected_error_attempts=2, unexpected_error_backoff_s=0.05)
    pool = await create_pool(database, size=4)
    async with pool.acquire() as connection:
        await connection.execute("CREATE TABLE handled (id bigserial PRIMARY KEY, key text, seq int)")
    keys = [f"k{n}" for n in range(6)]
    bodies = [(key, f"{key}-{seq}".encode()) for seq in range(20) for key in keys]
    bodies.insert(61, ("k1", b"poison"))

    async def effect(connection: Connection, message: KafkaMessage) -> None:
        body = bytes(message.body)
        if not await first_sighting(connection, consumer="batch-test", event_id=body.decode()):
            return
        if body == b"poison":
            raise RuntimeError("a record the code cannot handle")
        key, seq = body.decode().split("-")
        await connection.execute("INSERT INTO handled(key, seq) VALUES ($1, $2)", key, int(seq))
        await _add(connection, f"{topic}.out", key, body)  # an outbox record per record

    group = f"policy-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=local_stack.kafka_bootstrap, **kafka_access.client_options(local_stack)
    )
    await producer.start()
    try:
        for key, body in bodies:
            await producer.send(topic, value=body, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    batches_before = _value("trailblazer_consumer_batch_records_count", consumer="batch-test")
    fallbacks_before = _value("trailblazer_consumer_batch_fallbacks_total", consumer="batch-test")
    consumer = Consumer("batch-test", pool, settings)
    broker: KafkaBroker = create_broker(settings, "policy-test", TracerProvider())
    consumer.subscribe(broker, topic, effect, group_id=group)
    await broker.start()
    try:

        async def all_handled() -> bool:
            async with pool.acquire() as connection:
                return bool(await connection.fetchval("SELECT count(*) FROM handled") == 120)

        await eventually(all_handled, "all 120 good records handled", timeout_s=60)
        async with pool.acquire() as connection:
            rows = await connection.fetch("SELECT key, seq FROM handled ORDER BY id")
            letters = await connection.fetch(
                "SELECT key, payload, headers->>'dead_letter.reason' AS reason FROM outbox WHERE topic = $1",
                DEAD_LETTER,
            )
            relayed = await connection.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", f"{topic}.out")
        for key in keys:
            assert [row["seq"] for row in rows if row["key"] == key] == list(range(20)), f"order of {key}"
        assert [(bytes(row["key"]), bytes(row["payload"])) for row in letters] == [(b"k1", b"poison")]
        assert letters[0]["reason"].startswith("unexpected: RuntimeError")
        assert relayed == 120, "each good record's outbox record once, none of the rolled-back batch twice"
        batches = _value("trailblazer_consumer_batch_records_count", consumer="batch-test") - batches_before
        assert batches < 121, "the waiting records arrived in batches"
        assert _value("trailblazer_consumer_batch_fallbacks_total", consumer="batch-test") - fallbacks_before == 1

        async def committed() -> bool:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=local_stack.kafka_bootstrap, **kafka_access.client_options(local_stack)
            )
            await admin.start()
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            finally:
                await admin.close()
            return bool(sum(meta.offset for meta in offsets.values()) == len(bodies))

        await eventually(committed, "the group's offsets past every record")
    finally:
        await broker.stop()
        await pool.close()
