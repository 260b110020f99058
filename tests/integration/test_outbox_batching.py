"""The outbox in sets, on the real broker and database: a transaction's records are written with one
statement and wake the relay with one notification, the relay publishes them all in order per
key with the broker's acks awaited per batch, and a rolled-back savepoint takes its records with
it. The relay here is the services' own class, on a database and a topic of the test's own (the
services' relays hold their databases' relay locks)."""

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry.sdk.trace import TracerProvider

from deploy.local import kafka_access
from deploy.local.config import StackConfig
from deploy.local.topic_reader import TopicReader
from shared import inbox, outbox
from shared.db import SHARED_MIGRATIONS, create_pool
from shared.messaging import create_broker, publish_record
from shared.settings import ServiceSettings

from .scratch_database import scratch_database

pytestmark = pytest.mark.integration

KEYS = [f"assignment-{n}" for n in range(7)]
RECORDS = 350  # more than one relay batch (200 rows)


@pytest.fixture
async def database(local_stack: StackConfig) -> AsyncIterator[str]:
    async with scratch_database(local_stack, "outbox", [SHARED_MIGRATIONS]) as dsn:
        yield dsn


async def _topic(cfg: StackConfig, partitions: int) -> str:
    name = f"test.outbox.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, **kafka_access.client_options(cfg))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def _add(connection: Any, topic: str, key: str, payload: bytes) -> None:
    await outbox.add_raw(connection, event_id=str(uuid.uuid4()), topic=topic, key=key, payload=payload)


async def test_a_transactions_records_are_one_statement_one_notify_and_all_published_in_key_order(
    local_stack: StackConfig, database: str
) -> None:
    topic = await _topic(local_stack, partitions=3)
    # The stack's super user: the test's own topic (a service's user could not write it).
    settings = ServiceSettings.model_validate({**kafka_access.settings_fields(local_stack), "database_url": database})
    broker = create_broker(settings, "outbox-test", TracerProvider())
    await broker.connect()
    pool = await create_pool(database, size=2)
    relay = outbox.OutboxRelay(
        pool, database, lambda record: publish_record(broker, record), poll_interval_s=60.0, broker_up=None
    )
    listener = await asyncpg.connect(database)
    notified: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("outbox", lambda _c, _pid, _channel, payload: notified.put_nowait(payload))
    statements: list[str] = []

    def log_query(logged: Any) -> None:
        statements.append(logged.query)

    try:
        added: list[bytes] = []
        expected: dict[str, list[bytes]] = defaultdict(list)
        async with pool.acquire() as connection:
            connection.add_query_logger(log_query)
            async with connection.transaction(), outbox.gathered(connection):
                for n in range(RECORDS):
                    key = KEYS[n % len(KEYS) if n % 5 else 0]  # uneven: one key takes a larger share
                    payload = f"{key}:{n:05d}".encode()
                    await _add(connection, topic, key, payload)
                    added.append(payload)
                    expected[key].append(payload)
            connection.remove_query_logger(log_query)
        writes = [q for q in statements if "INSERT INTO outbox" in q]
        assert len(writes) == 1, statements
        assert not [q for q in statements if "pg_notify" in q and q not in writes], statements

        # The rows' ids follow the order of adding, which is the order the relay publishes in.
        async with pool.acquire() as connection:
            rows = await connection.fetch("SELECT payload FROM outbox ORDER BY id")
        assert [bytes(row["payload"]) for row in rows] == added

        # One notification for the transaction, however many records it wrote.
        assert await asyncio.wait_for(notified.get(), timeout=10) == ""
        async with TopicReader(local_stack, topic) as reader:
            assert await relay.relay_once() == RECORDS
            await reader.wait_for(lambda r: True, count=RECORDS)
            published: dict[str, list[bytes]] = defaultdict(list)
            for record in sorted(reader.records, key=lambda r: (r.partition, r.offset)):
                assert record.key is not None
                published[record.key].append(record.raw)
        assert published == expected
        assert notified.empty()  # publishing wrote nothing to the outbox
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT count(*) FROM outbox") == 0
            assert await connection.fetchval("SELECT count(*) FROM outbox_parked") == 0

        # A second transaction notifies again: the setting that says "notified" is the transaction's.
        async with pool.acquire() as connection, connection.transaction():
            await _add(connection, topic, KEYS[0], b"next transaction")
            await _add(connection, topic, KEYS[1], b"not gathered, still one notify")
        assert await asyncio.wait_for(notified.get(), timeout=10) == ""
    finally:
        await listener.close()
        await relay.close()
        await pool.close()
        await broker.stop()


async def test_a_rolled_back_savepoint_or_block_writes_none_of_its_records(database: str) -> None:
    pool = await create_pool(database, size=1)
    try:
        async with pool.acquire() as connection:
            async with connection.transaction(), outbox.gathered(connection):
                await _add(connection, "t", "k", b"before")
                with pytest.raises(RuntimeError):
                    async with connection.transaction(), outbox.gathered(connection):
                        await _add(connection, "t", "k", b"in the savepoint")
                        raise RuntimeError("the savepoint rolls back")
                async with connection.transaction(), outbox.gathered(connection):
                    await _add(connection, "t", "k", b"in a savepoint that holds")
                await _add(connection, "t", "k", b"after")
            with pytest.raises(RuntimeError):
                async with connection.transaction(), outbox.gathered(connection):
                    await _add(connection, "t", "k", b"in a block that fails")
                    raise RuntimeError("the transaction rolls back")
            # Outside any block: written at once.
            async with connection.transaction():
                await _add(connection, "t", "k", b"alone")
            payloads = await connection.fetch("SELECT payload, jsonb_typeof(headers) AS h FROM outbox ORDER BY id")
        # The headers are a JSON object (as the relay reads them) whether written alone or together.
        assert {row["h"] for row in payloads} == {"object"}
        # The savepoint's records that held joined the block's, in the order they were added.
        assert [bytes(row["payload"]) for row in payloads] == [
            b"before",
            b"in a savepoint that holds",
            b"after",
            b"alone",
        ]
    finally:
        await pool.close()


async def test_a_snapshot_is_made_once_per_key_at_the_end_of_the_outermost_block(database: str) -> None:
    """`add_latest`: of several requests for one key in a transaction, the last is made, once, when
    the outermost block ends, from the state then; a failed block makes none; outside a block, at once."""
    pool = await create_pool(database, size=1)
    made: list[str] = []

    def snapshot(connection: Any, key: str, label: str) -> Any:
        async def make() -> None:
            made.append(label)
            state = await connection.fetchval("SELECT count(*) FROM outbox")  # the state at the end
            await _add(connection, "scorecards", key, f"{label} after {state} rows".encode())

        return make

    try:
        async with pool.acquire() as connection:
            async with connection.transaction(), outbox.gathered(connection):
                for n in range(3):
                    await _add(connection, "events", "p1", f"event {n}".encode())
                    await outbox.add_latest(connection, "p1", snapshot(connection, "p1", f"p1 #{n}"))
                async with connection.transaction(), outbox.gathered(connection):  # a nested block
                    await outbox.add_latest(connection, "p2", snapshot(connection, "p2", "p2"))
                assert made == [], "nothing is made before the outermost block ends"
            with pytest.raises(RuntimeError):
                async with connection.transaction(), outbox.gathered(connection):
                    await outbox.add_latest(connection, "p3", snapshot(connection, "p3", "p3"))
                    raise RuntimeError("the transaction rolls back")
            async with connection.transaction():
                await outbox.add_latest(connection, "p4", snapshot(connection, "p4", "p4 alone"))
            rows = await connection.fetch("SELECT topic, key, payload FROM outbox ORDER BY id")
        assert made == ["p1 #2", "p2", "p4 alone"]
        assert [(row["topic"], bytes(row["key"]), bytes(row["payload"])) for row in rows] == [
            ("events", b"p1", b"event 0"),
            ("events", b"p1", b"event 1"),
            ("events", b"p1", b"event 2"),
            ("scorecards", b"p1", b"p1 #2 after 0 rows"),  # gathered rows are written at the end
            ("scorecards", b"p2", b"p2 after 0 rows"),
            ("scorecards", b"p4", b"p4 alone after 5 rows"),
        ]
    finally:
        await pool.close()


async def test_rows_added_later_are_written_in_order_at_the_end_and_dropped_with_a_rollback(database: str) -> None:
    """`add_later`: a service's own rows, one statement per writer at the end of the outermost
    block, in the order added (a savepoint's that held included); none from a block that failed;
    outside a block, at once."""
    pool = await create_pool(database, size=1)
    written: list[list[str]] = []

    async def write(connection: Any, rows: list[str]) -> None:
        written.append(list(rows))
        await connection.executemany("INSERT INTO inbox(consumer, event_id) VALUES ('later', $1)", [(r,) for r in rows])

    try:
        async with pool.acquire() as connection:
            async with connection.transaction(), outbox.gathered(connection):
                await outbox.add_later(connection, write, "a")
                with pytest.raises(RuntimeError):
                    async with connection.transaction(), outbox.gathered(connection):
                        await outbox.add_later(connection, write, "in the failed savepoint")
                        raise RuntimeError("the savepoint rolls back")
                async with connection.transaction(), outbox.gathered(connection):
                    await outbox.add_later(connection, write, "b")
                await outbox.add_later(connection, write, "c")
                assert written == [], "nothing is written before the outermost block ends"
            with pytest.raises(RuntimeError):
                async with connection.transaction(), outbox.gathered(connection):
                    await outbox.add_later(connection, write, "in the failed block")
                    raise RuntimeError("the transaction rolls back")
            async with connection.transaction():
                await outbox.add_later(connection, write, "alone")
            stored = await connection.fetch("SELECT event_id FROM inbox WHERE consumer = 'later' ORDER BY event_id")
        assert written == [["a", "b", "c"], ["alone"]]
        assert [row["event_id"] for row in stored] == ["a", "alone", "b", "c"]
    finally:
        await pool.close()


async def test_a_batch_claims_its_inbox_rows_together_and_each_effect_asks_once(database: str) -> None:
    """`inbox.claimed_together`: one statement claims the batch's events; each `first_sighting` of
    them answers from that claim (an event seen before: False), a second ask for the same event in
    the batch finds its row, an event not claimed asks the database; a rollback takes the claims."""
    pool = await create_pool(database, size=1)
    seen, new, twice, other = (str(uuid.uuid4()) for _ in range(4))
    try:
        async with pool.acquire() as connection:
            async with connection.transaction():
                assert await inbox.first_sighting(connection, consumer="batch", event_id=seen)
            with pytest.raises(RuntimeError):
                async with (
                    connection.transaction(),
                    inbox.claimed_together(connection, consumer="batch", event_ids=[new, twice]),
                ):
                    raise RuntimeError("the batch rolls back")
            async with connection.transaction():
                async with inbox.claimed_together(connection, consumer="batch", event_ids=[twice, seen, new, twice]):
                    assert not await inbox.first_sighting(connection, consumer="batch", event_id=seen)
                    assert await inbox.first_sighting(connection, consumer="batch", event_id=new)
                    assert await inbox.first_sighting(connection, consumer="batch", event_id=twice)
                    assert not await inbox.first_sighting(connection, consumer="batch", event_id=twice)
                    assert await inbox.first_sighting(connection, consumer="batch", event_id=other)
                    # Another consumer's inbox is its own: the claim does not answer for it.
                    assert await inbox.first_sighting(connection, consumer="someone else", event_id=new)
                # After the block, the database answers: every claimed row is there.
                assert not await inbox.first_sighting(connection, consumer="batch", event_id=new)
            rows = await connection.fetch("SELECT event_id FROM inbox WHERE consumer = 'batch'")
        assert {row["event_id"] for row in rows} == {seen, new, twice, other}
    finally:
        await pool.close()
