"""Kafka adapters shared by every service: the broker, publishing outbox records, and the one
consume loop that separates transient failures (retry, then hand back to Kafka) from permanent
ones (dead-letter and move on, so one bad record never blocks a partition).

Delivery is at-least-once. Subscribers use `AckPolicy.NACK_ON_ERROR` (auto-commit off). In
FastStream 0.6.7 `ack()` commits the consumer's current position of every assigned partition,
which is safe here because records are handled one at a time, in order: whatever the consumer
has handed out has been handled by the time the next ack commits. `nack()` seeks the partition
back to the failed record, so it and everything after it on that partition is fetched again:
order within a key holds.
"""

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka.structs import RecordMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.message import StreamMessage
from opentelemetry.sdk.trace import TracerProvider

from . import dead_letter, outbox
from .backoff import backoff_delays
from .contracts.decoding import InvalidEvent
from .db import TRANSIENT_DB_ERRORS, Connection
from .inbox import first_sighting
from .kafka_security import KafkaSecurity
from .settings import ServiceSettings
from .topics import DEAD_LETTER

log = logging.getLogger(__name__)

_FIRM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

Effect = Callable[[Connection, KafkaMessage], Awaitable[None]]
Parse = Callable[[Any], Awaitable[StreamMessage[Any]]]


def create_broker(settings: ServiceSettings, service_name: str, tracer_provider: TracerProvider) -> KafkaBroker:
    """The service's one Kafka client: every subscriber's consumer and the producer the handlers
    and the outbox relay publish with, all with the transport security of the settings
    (ConfigurationError for a combination that cannot work, or TLS files that cannot be read)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=service_name,
        security=KafkaSecurity.from_settings(settings).faststream(),
        # acks from all in-sync replicas and the idempotent producer: no loss, no broker-side dupes.
        acks="all",
        enable_idempotence=True,
        parser=parse_leniently,
        decoder=keep_raw_body,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=settings.graceful_timeout_s,
        metadata_max_age_ms=int(settings.kafka_metadata_max_age_s * 1000),
    )


async def parse_leniently(record: Any, original: Parse) -> StreamMessage[Any]:
    """FastStream decodes every header value as strict UTF-8; one bad header byte (or a null
    value) would fail parsing before our handler runs, and the record would be skipped without
    an answer. Parse a copy with readable headers, keep the original for the dead letter."""
    readable = [(name, (value or b"").decode("utf-8", "replace").encode()) for name, value in record.headers or ()]
    message = await original(dataclasses.replace(record, headers=readable))
    message.raw_message = record
    return message


async def keep_raw_body(message: StreamMessage[Any]) -> Any:
    """Our handlers take the KafkaMessage and decode its bytes against a contract themselves.
    FastStream's default decoder would `json.loads` every body first and raise on deep nesting
    (RecursionError), or on bad JSON under a `content-type: application/json` header, before the
    handler runs: NACK_ON_ERROR would then redeliver that record forever and stall the partition."""
    return message.body


async def publish_record(broker: KafkaBroker, record: outbox.OutboxRecord) -> "asyncio.Future[RecordMetadata]":
    """Hand the record to the producer; the returned future resolves once the broker acked it.
    Records handed over in sequence keep their order per partition (idempotent producer)."""
    future: asyncio.Future[RecordMetadata] = await broker.publish(
        record.payload, topic=record.topic, key=record.key, headers=record.headers, no_confirm=True
    )
    return future


def firm_of(message: KafkaMessage) -> str:
    """Best effort for a firm's record that did not parse: the `firm_id` header, else the body's,
    else `unknown`; so that the firm's refusal still reaches it."""
    candidate = message.headers.get("firm_id")
    if candidate is None:
        try:
            body = json.loads(message.body)
            candidate = body.get("firm_id") if isinstance(body, dict) else None
        except (ValueError, RecursionError):
            candidate = None
    return candidate if isinstance(candidate, str) and _FIRM_ID.match(candidate) else "unknown"


def record_coordinates(message: KafkaMessage) -> tuple[str, int, int, str | None]:
    raw: Any = message.raw_message
    key = raw.key.decode("utf-8", "replace") if raw.key else None
    return raw.topic, raw.partition, raw.offset, key


async def retry_transient(work: Callable[[], Awaitable[None]], *, budget_s: float) -> None:
    """Run `work`, retrying database outages with capped exponential backoff and jitter."""
    deadline = time.monotonic() + budget_s
    delays = backoff_delays(0.1)
    while True:
        try:
            return await work()
        except TRANSIENT_DB_ERRORS as error:
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable (%s); retrying in %.1f s", type(error).__name__, delay)
            await asyncio.sleep(delay)


def failure_reason(error: BaseException) -> str:
    """A specific, machine-readable reason: the field codes for a contract violation."""
    if isinstance(error, InvalidEvent):
        return "invalid_event: " + "; ".join(f"{e.field}={e.code}" for e in error.errors)
    return f"{type(error).__name__}: {error}"


async def add_dead_letter(connection: Connection, message: KafkaMessage, *, consumer: str, reason: str) -> None:
    """Queue the original record, its headers and `reason` for the dead-letter topic, inside the
    caller's transaction. Keyed like the original, so a replay lands on the same partition."""
    raw: Any = message.raw_message
    origin = dead_letter.Origin(consumer, raw.topic, raw.partition, raw.offset)
    await outbox.add_raw(
        connection,
        event_id=f"dead-letter:{consumer}:{origin.record_id}",
        topic=DEAD_LETTER,
        key=raw.key or b"",
        payload=raw.value or b"",
        headers=dead_letter.dead_letter_headers(raw.headers or (), origin, reason),
    )


class Consumer:
    """Runs a service's effect for one Kafka record inside one database transaction."""

    def __init__(self, name: str, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        self.name = name
        self._pool = pool
        self._budget_s = settings.transient_retry_budget_s

    def subscribe(self, broker: KafkaBroker, topic: str, effect: Effect, *, group_id: str) -> None:
        """Consume `topic` with the delivery policy every service shares: from the earliest offset
        for a new group, one record at a time, the offset committed only after the effect's
        transaction (`NACK_ON_ERROR` instead of auto-commit)."""

        @broker.subscriber(topic, group_id=group_id, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR)
        async def on_record(message: KafkaMessage) -> None:
            await self.run(message, effect)

    async def run(self, message: KafkaMessage, effect: Effect) -> None:
        async def in_transaction() -> None:
            async with self._pool.acquire() as connection, connection.transaction():
                await effect(connection, message)

        try:
            await retry_transient(in_transaction, budget_s=self._budget_s)
        except TRANSIENT_DB_ERRORS:
            # Raised on: the subscriber's NACK_ON_ERROR policy seeks back and Kafka redelivers.
            raise
        except Exception as error:
            reason = failure_reason(error)
            # Type and codes only: an exception's text may quote personal data from the record.
            log.error("%s dead-letters a record: %s", self.name, reason.split(":")[0] + _codes(error))
            await retry_transient(lambda: self._dead_letter(message, reason), budget_s=self._budget_s)

    async def _dead_letter(self, message: KafkaMessage, reason: str) -> None:
        raw: Any = message.raw_message
        origin = dead_letter.Origin(self.name, raw.topic, raw.partition, raw.offset)
        async with self._pool.acquire() as connection, connection.transaction():
            # A redelivery after a crash must not dead-letter the same record twice.
            if await first_sighting(connection, consumer=self.name, event_id=f"dead-letter:{origin.record_id}"):
                await add_dead_letter(connection, message, consumer=self.name, reason=reason)


def _codes(error: BaseException) -> str:
    return (" " + ", ".join(f"{e.field}={e.code}" for e in error.errors)) if isinstance(error, InvalidEvent) else ""
