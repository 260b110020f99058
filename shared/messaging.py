"""Kafka adapters shared by every service: the broker, publishing outbox records, and the one
consume loop that separates transient failures (retry, then hand back to Kafka) from permanent
ones (dead-letter and move on, so one bad record never blocks a partition)."""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider

from . import outbox
from .db import TRANSIENT_DB_ERRORS, Connection
from .settings import ServiceSettings
from .topics import DEAD_LETTER

log = logging.getLogger(__name__)

Effect = Callable[[Connection, KafkaMessage], Awaitable[None]]


def create_broker(settings: ServiceSettings, service_name: str, tracer_provider: TracerProvider) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=service_name,
        # acks from all in-sync replicas and the idempotent producer: no loss, no broker-side dupes.
        acks="all",
        enable_idempotence=True,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=20.0,
    )


async def publish_record(broker: KafkaBroker, record: outbox.OutboxRecord) -> None:
    await broker.publish(record.payload, topic=record.topic, key=record.key.encode(), headers=record.headers)


def record_coordinates(message: KafkaMessage) -> tuple[str, int, int, str | None]:
    raw: Any = message.raw_message
    key = raw.key.decode("utf-8", "replace") if raw.key else None
    return raw.topic, raw.partition, raw.offset, key


async def retry_transient(work: Callable[[], Awaitable[None]], *, budget_s: float) -> None:
    """Run `work`, retrying database outages with capped exponential backoff and jitter."""
    deadline = time.monotonic() + budget_s
    delay = 0.1
    while True:
        try:
            return await work()
        except TRANSIENT_DB_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable (%s); retrying in %.1f s", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2) * random.uniform(0.8, 1.2)


class Consumer:
    """Runs a service's effect for one Kafka record inside one database transaction."""

    def __init__(self, name: str, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        self.name = name
        self._pool = pool
        self._budget_s = settings.transient_retry_budget_s

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
            log.exception("%s could not handle a record; it goes to the dead-letter topic", self.name)
            failure = error
            await retry_transient(lambda: self._dead_letter(message, failure), budget_s=self._budget_s)

    async def _dead_letter(self, message: KafkaMessage, error: Exception) -> None:
        topic, partition, offset, key = record_coordinates(message)
        raw: Any = message.raw_message
        original = {name: value.decode("utf-8", "replace") for name, value in raw.headers or ()}
        headers = {
            **original,
            "dead_letter.reason": f"{type(error).__name__}: {error}"[:1000],
            "dead_letter.consumer": self.name,
            "dead_letter.topic": topic,
            "dead_letter.partition": str(partition),
            "dead_letter.offset": str(offset),
        }
        async with self._pool.acquire() as connection, connection.transaction():
            await outbox.add_raw(
                connection,
                event_id=f"dead-letter:{self.name}:{topic}:{partition}:{offset}",
                topic=DEAD_LETTER,
                key=key or "",
                payload=raw.value or b"",
                headers=headers,
            )
