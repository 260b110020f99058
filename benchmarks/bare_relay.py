"""Bare relays: what this machine's Kafka and PostgreSQL allow a consume → (store) → produce hop,
with none of the services' code. Measured in the same run as the pipeline, on the same broker and
database, so the pipeline's figure can be read as a share of what the hardware gives.

Each request is one ~1.5 KB record in; the relay answers it with 14 records of 1 KB out (about
what the pipeline writes per assignment), keyed like the request. The styles:

- `batched`: `getmany`, every answer handed to a producer with a 1 MB batch and 5 ms linger, the
  batch's acks awaited, offsets committed once per batch. No database.
- `batched, transaction per record`: the same, plus one PostgreSQL transaction per request
  (inbox insert, outbox insert, outbox delete: 2 inserts + 1 delete).
- `batched, transaction per batch`: the same statements for the whole batch in one transaction
  (`executemany`), which is what the services do after issue 12.
- `one at a time`: `getone`, a transaction per request, the producer's defaults (16 KB batch,
  linger 0), the acks awaited and the offset committed per request: the services' style before
  issue 12.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ANSWERS_PER_REQUEST = 14
_PARTITIONS = 6
_REQUEST_BYTES = 1500
_ANSWER = b"x" * 1024
_DATABASE = "bench_relay"


@dataclass(frozen=True)
class Style:
    name: str
    batched: bool
    database: str  # "none", "record" (a transaction per request) or "batch" (one per batch)
    tuned_producer: bool


STYLES = (
    Style("batched", batched=True, database="none", tuned_producer=True),
    Style("batched, transaction per record", batched=True, database="record", tuned_producer=True),
    Style("batched, transaction per batch", batched=True, database="batch", tuned_producer=True),
    Style(
        "one at a time (transaction, acks and commit per record)",
        batched=False,
        database="record",
        tuned_producer=False,
    ),
)


@dataclass(frozen=True)
class Result:
    style: str
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def run_all(bootstrap: str, options: dict[str, Any], admin_dsn: str, dsn: str, requests: int) -> list[Result]:
    """`options`: aiokafka's sign-in (the local stack's super user: these topics are the benchmark's own)."""
    await _ensure_database(admin_dsn, dsn)
    return [await run_style(bootstrap, options, dsn, style, requests) for style in STYLES]


async def run_style(bootstrap: str, options: dict[str, Any], dsn: str, style: Style, requests: int) -> Result:
    run = uuid.uuid4().hex[:8]
    source, sink = f"bench.relay.{run}.requests", f"bench.relay.{run}.answers"
    await _create_topics(bootstrap, options, [source, sink])
    await _fill(bootstrap, options, source, requests)
    connection = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-relay-{run}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
        **options,
    )
    tuning: dict[str, Any] = {"linger_ms": 5, "max_batch_size": 1024 * 1024} if style.tuned_producer else {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **tuning, **options)
    await consumer.start()
    await producer.start()
    try:
        started = time.perf_counter()
        done = 0
        while done < requests:
            if style.batched:
                fetched = await consumer.getmany(timeout_ms=200, max_records=500)
                records = [record for batch in fetched.values() for record in batch]
            else:
                records = [await consumer.getone()]
            if not records:
                continue
            await _store(connection, style, records)
            acks = [await producer.send(sink, _ANSWER, key=r.key) for r in records for _ in range(ANSWERS_PER_REQUEST)]
            await asyncio.gather(*acks)
            await consumer.commit()
            done += len(records)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()
        await connection.close()
        await _delete_topics(bootstrap, options, [source, sink])
    return Result(style.name, requests, elapsed)


async def _store(connection: asyncpg.Connection, style: Style, records: Sequence[Any]) -> None:
    rows = [(str(uuid.uuid4()), r.key, r.value) for r in records]
    if style.database == "record":
        for event_id, key, value in rows:
            async with connection.transaction():
                await connection.execute("INSERT INTO inbox(event_id) VALUES ($1)", event_id)
                outbox_id = await connection.fetchval(
                    "INSERT INTO outbox(key, payload) VALUES ($1, $2) RETURNING id", key, value
                )
                await connection.execute("DELETE FROM outbox WHERE id = $1", outbox_id)
    elif style.database == "batch":
        async with connection.transaction():
            await connection.executemany("INSERT INTO inbox(event_id) VALUES ($1)", [(r[0],) for r in rows])
            ids = await connection.fetch(
                "INSERT INTO outbox(key, payload) SELECT * FROM unnest($1::bytea[], $2::bytea[]) RETURNING id",
                [r[1] for r in rows],
                [r[2] for r in rows],
            )
            await connection.execute("DELETE FROM outbox WHERE id = ANY($1)", [row["id"] for row in ids])


async def _ensure_database(admin_dsn: str, dsn: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", _DATABASE):
            await admin.execute(f"CREATE DATABASE {_DATABASE}")
    finally:
        await admin.close()
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS inbox(event_id text PRIMARY KEY, seen_at timestamptz DEFAULT now());"
            "CREATE TABLE IF NOT EXISTS outbox(id bigserial PRIMARY KEY, key bytea, payload bytea);"
            "TRUNCATE inbox, outbox"
        )
    finally:
        await connection.close()


async def _fill(bootstrap: str, options: dict[str, Any], topic: str, requests: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        **options,
    )
    await producer.start()
    try:
        body = json.dumps({"padding": "r" * _REQUEST_BYTES}).encode()
        acks = [await producer.send(topic, body, key=uuid.uuid4().bytes) for _ in range(requests)]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def _create_topics(bootstrap: str, options: dict[str, Any], names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, _PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


async def _delete_topics(bootstrap: str, options: dict[str, Any], names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()
