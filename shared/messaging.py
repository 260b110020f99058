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
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
from aiokafka.structs import RecordMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry.provider import KafkaTelemetrySettingsProvider
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.response import KafkaPublishCommand
from faststream.message import StreamMessage
from faststream.opentelemetry.middleware import TelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.semconv.trace import SpanAttributes

from . import dead_letter, metrics, outbox
from .backoff import backoff_delays
from .contracts.decoding import InvalidEvent
from .db import TRANSIENT_DB_ERRORS, Connection
from .inbox import first_sighting
from .kafka_security import KafkaSecurity
from .settings import ServiceSettings
from .telemetry import DB, span
from .topics import DEAD_LETTER, firm_of_topic

log = logging.getLogger(__name__)

Effect = Callable[[Connection, KafkaMessage], Awaitable[None]]
Parse = Callable[[Any], Awaitable[StreamMessage[Any]]]


class _TextKeys(KafkaTelemetrySettingsProvider):
    """FastStream puts the record key on spans as bytes, which exporters show as a list of byte
    codes; ours are assignment and catalog ids, readable as text."""

    def get_consume_attrs_from_message(self, msg: Any) -> dict[str, Any]:
        return _key_as_text(super().get_consume_attrs_from_message(msg))

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        return _key_as_text(super().get_publish_attrs_from_cmd(cmd))


def _key_as_text(attributes: dict[str, Any]) -> dict[str, Any]:
    key = attributes.get(SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY)
    if isinstance(key, bytes | bytearray):
        attributes[SpanAttributes.MESSAGING_KAFKA_MESSAGE_KEY] = bytes(key).decode("utf-8", "replace")
    return attributes


class TextKeyTelemetryMiddleware(TelemetryMiddleware[KafkaPublishCommand]):
    """FastStream's Kafka telemetry middleware, with the record key as text."""

    def __init__(self, *, tracer_provider: TracerProvider) -> None:
        super().__init__(settings_provider_factory=lambda _message: _TextKeys(), tracer_provider=tracer_provider)


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
        middlewares=(
            TextKeyTelemetryMiddleware(tracer_provider=tracer_provider),
            # Records received and published per topic, handling and publishing durations.
            KafkaPrometheusMiddleware(registry=metrics.REGISTRY, app_name=service_name),
        ),
        graceful_timeout=settings.graceful_timeout_s,
        metadata_max_age_ms=int(settings.kafka_metadata_max_age_s * 1000),
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
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


def firm_of_record(message: KafkaMessage) -> str:
    """The firm a record came from: the firm whose topic it is on, never what the record says
    (only that firm may write there: docs/tenancy.md)."""
    return firm_of_topic(message.raw_message.topic)  # type: ignore[union-attr]


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
    caller's transaction. Keyed like the original, so a replay lands on the same partition. A copy
    that would not fit the producer's limit is trimmed, and says so (`dead_letter.trimmed`)."""
    raw: Any = message.raw_message
    origin = dead_letter.Origin(consumer, raw.topic, raw.partition, raw.offset)
    key, value, headers = dead_letter.fit(
        raw.key or b"", raw.value or b"", dead_letter.dead_letter_headers(raw.headers or (), origin, reason)
    )
    await outbox.add_raw(
        connection,
        event_id=f"dead-letter:{consumer}:{origin.record_id}",
        topic=DEAD_LETTER,
        key=key,
        payload=value,
        headers=headers,
    )
    metrics.DEAD_LETTERS.labels(consumer, raw.topic, reason.split(":")[0]).inc()


class Consumer:
    """Runs a service's effect for one Kafka record inside one database transaction, under the
    failure policy every service shares (docs/operations.md, "Failure policy"):

    - transient (the database away): retried with backoff within `transient_retry_budget_s`, then
      handed back to Kafka, which redelivers the record: nothing is dead-lettered for an outage;
    - permanent (`InvalidEvent`: the record breaks its contract): dead-lettered at once;
    - unexpected (any other exception): retried `unexpected_error_attempts` times with backoff,
      then dead-lettered, counted and logged. If that happens to `halt_after_failures` records of
      one handler in a row, the fault is the code's, not the records': the handler holds its
      record (redelivered with a growing pause) instead of moving its whole topic to the
      dead-letter topic, until a record succeeds (a fixed deploy). `trailblazer_consumer_halted`
      is 1 meanwhile.
    """

    def __init__(self, name: str, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        self.name = name
        self._pool = pool
        self._budget_s = settings.transient_retry_budget_s
        self._attempts = max(1, settings.unexpected_error_attempts)
        self._first_delay_s = settings.unexpected_error_backoff_s
        self._halt_after = settings.halt_after_failures
        # Per handler: records in a row that ended dead-lettered for an unexpected error.
        self._failures_in_a_row: dict[Effect, int] = {}
        self._halted_pauses: dict[Effect, Iterator[float]] = {}

    def subscribe(self, broker: KafkaBroker, topic: str, effect: Effect, *, group_id: str) -> None:
        """Consume `topic` with the delivery policy every service shares: from the earliest offset
        for a new group, one record at a time, the offset committed only after the effect's
        transaction (`NACK_ON_ERROR` instead of auto-commit)."""

        @broker.subscriber(topic, group_id=group_id, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR)
        async def on_record(message: KafkaMessage) -> None:
            await self.run(message, effect)

    def subscribe_pattern(self, broker: KafkaBroker, pattern: str, effect: Effect, *, group_id: str) -> None:
        """Consume every topic that matches `pattern` (every firm's or provider's topics of some
        events: `shared.topics.firm_pattern`), with the same delivery policy. A tenant onboarded
        while the service runs is found at the next metadata refresh (`kafka_metadata_max_age_s`);
        its first records are already waiting then, hence the earliest offset."""

        @broker.subscriber(
            pattern=pattern, group_id=group_id, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
        )
        async def on_record(message: KafkaMessage) -> None:
            await self.run(message, effect)

    async def run(self, message: KafkaMessage, effect: Effect) -> None:
        topic = message.raw_message.topic  # type: ignore[union-attr]
        timer = metrics.Timer()

        async def in_transaction() -> None:
            # Spans: `<consumer>.handle` over the whole transaction, its repository operations,
            # then `commit`; so a trace shows where a handler's time goes.
            with span(f"{self.name}.handle", **{"trailblazer.attempt": attempt}):
                async with contextlib.AsyncExitStack() as stack:
                    with span("db.begin", **DB):  # a connection from the pool, the transaction opened
                        connection = await stack.enter_async_context(self._pool.acquire())
                        transaction = connection.transaction()
                        await transaction.start()
                    try:
                        # The effect's outbox records: one statement and one notify at its end.
                        async with outbox.gathered(connection):
                            await effect(connection, message)
                    except BaseException:
                        with contextlib.suppress(Exception):  # the effect's error is the one to tell
                            await transaction.rollback()
                        raise
                    with span("db.commit", **DB):
                        await transaction.commit()

        delays = backoff_delays(self._first_delay_s, cap_s=30.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                await retry_transient(in_transaction, budget_s=self._budget_s)
            except TRANSIENT_DB_ERRORS:
                metrics.HANDLER_ERRORS.labels(self.name, topic, "transient").inc()
                metrics.HANDLED.labels(self.name, topic, "redelivered").observe(timer.elapsed)
                # Raised on: the subscriber's NACK_ON_ERROR policy seeks back and Kafka redelivers.
                raise
            except InvalidEvent as error:
                metrics.HANDLER_ERRORS.labels(self.name, topic, "invalid_event").inc()
                await self._give_up(message, error, "invalid_event" + _codes(error))
            except Exception as error:
                metrics.HANDLER_ERRORS.labels(self.name, topic, "unexpected").inc()
                if attempt < self._attempts:
                    delay = next(delays)
                    # Type only: an exception's text may quote personal data from the record.
                    log.warning(
                        "%s: unexpected %s at %s (attempt %d of %d); retrying in %.1f s",
                        self.name, type(error).__name__, _position(message), attempt, self._attempts, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                if self._halting(effect):
                    await self._hold(message, effect, error, timer)
                    raise
                self._failures_in_a_row[effect] = self._failures_in_a_row.get(effect, 0) + 1
                await self._give_up(message, error, f"unexpected {type(error).__name__} after {attempt} attempts")
            else:
                self._recovered(effect)
                metrics.HANDLED.labels(self.name, topic, "ok").observe(timer.elapsed)
                return
            metrics.HANDLED.labels(self.name, topic, "dead_lettered").observe(timer.elapsed)
            return

    async def _give_up(self, message: KafkaMessage, error: BaseException, summary: str) -> None:
        log.error("%s dead-letters the record at %s: %s", self.name, _position(message), summary)
        reason = failure_reason(error)
        if not isinstance(error, InvalidEvent):
            reason = "unexpected: " + reason
        await retry_transient(lambda: self._dead_letter(message, reason), budget_s=self._budget_s)

    def _halting(self, effect: Effect) -> bool:
        return 0 < self._halt_after <= self._failures_in_a_row.get(effect, 0)

    async def _hold(self, message: KafkaMessage, effect: Effect, error: BaseException, timer: metrics.Timer) -> None:
        """Several records in a row failed the same handler: wait, then hand the record back."""
        pauses = self._halted_pauses.setdefault(effect, backoff_delays(5.0, cap_s=60.0))
        delay = next(pauses)
        metrics.CONSUMER_HALTED.labels(self.name).set(1)
        log.error(
            "%s halted: %d records in a row failed unexpectedly (%s now at %s); holding it, next try in %.0f s. "
            "A fault of the code or a dependency, not of the records: see the log above, fix, redeploy",
            self.name, self._failures_in_a_row[effect], type(error).__name__, _position(message), delay,
        )  # fmt: skip
        await asyncio.sleep(delay)
        metrics.HANDLED.labels(self.name, message.raw_message.topic, "redelivered").observe(timer.elapsed)  # type: ignore[union-attr]

    def _recovered(self, effect: Effect) -> None:
        if self._failures_in_a_row.pop(effect, 0) and self._halted_pauses.pop(effect, None) is not None:
            log.warning("%s resumed: a record succeeded after the halt", self.name)
            if not self._halted_pauses:
                metrics.CONSUMER_HALTED.labels(self.name).set(0)

    async def _dead_letter(self, message: KafkaMessage, reason: str) -> None:
        raw: Any = message.raw_message
        origin = dead_letter.Origin(self.name, raw.topic, raw.partition, raw.offset)
        async with self._pool.acquire() as connection, connection.transaction():
            # A redelivery after a crash must not dead-letter the same record twice.
            if await first_sighting(connection, consumer=self.name, event_id=f"dead-letter:{origin.record_id}"):
                await add_dead_letter(connection, message, consumer=self.name, reason=reason)


def _position(message: KafkaMessage) -> str:
    raw: Any = message.raw_message
    return f"{raw.topic}/{raw.partition}/{raw.offset}"


def _codes(error: BaseException) -> str:
    return (" " + ", ".join(f"{e.field}={e.code}" for e in error.errors)) if isinstance(error, InvalidEvent) else ""


async def sample_consumer_lag(broker: KafkaBroker) -> None:
    """`trailblazer_consumer_lag_records` per group and topic, from what each consumer already
    knows (the high watermark of its last fetch): no request to the broker."""
    lag: dict[tuple[str, str], int] = {}
    for subscriber in broker.subscribers:
        consumer: Any = getattr(subscriber, "consumer", None)
        if consumer is None:
            continue
        group = getattr(subscriber, "group_id", None) or "-"
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            position = await consumer.position(partition)
            lag[(group, partition.topic)] = lag.get((group, partition.topic), 0) + max(0, highwater - position)
    for (group, topic), records in lag.items():
        metrics.CONSUMER_LAG.labels(group, topic).set(records)
