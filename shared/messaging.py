"""Kafka adapters shared by every service: the broker, publishing outbox records, and the one
consume loop that separates transient failures (retry, then hand back to Kafka) from permanent
ones (dead-letter and move on, so one bad record never blocks a partition).

Delivery is at-least-once. Subscribers take the records that have arrived in batches (up to
`consume_batch_records`), handle them in order in one database transaction, and then commit the
offsets of the batch's partitions once (`AckPolicy.MANUAL`, auto-commit off: FastStream's `ack()`
would commit the position of every assigned partition, dozens for a pattern subscription).
A record that fails rolls the batch back, and the batch is handled again one record at a time,
each in its own transaction, so the failing record alone is retried or dead-lettered and its
neighbours commit. When a batch is handed back to Kafka (a database outage, a halted handler),
every partition in it is rewound to its first record in the batch: each effect records its
event in the inbox, so what had committed is skipped, and order within a key holds.
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.structs import RecordMetadata
from faststream import AckPolicy, PublishType
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry.provider import (
    BatchKafkaTelemetrySettingsProvider,
    KafkaTelemetrySettingsProvider,
)
from faststream.kafka.parser import AioKafkaParser
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.response import KafkaPublishCommand
from faststream.message import StreamMessage
from faststream.opentelemetry.middleware import TelemetryMiddleware
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.semconv.trace import SpanAttributes

from . import dead_letter, metrics, outbox
from .backoff import backoff_delays
from .contracts.decoding import InvalidEvent
from .db import TRANSIENT_DB_ERRORS, Connection, holding
from .inbox import claimed_together, event_id_of, first_sighting
from .kafka_security import KafkaSecurity
from .settings import ServiceSettings
from .telemetry import DB, publish_span, record_span, span
from .topics import (
    DEAD_LETTER,
    FirmEvent,
    ProviderEvent,
    firm_of_topic,
    firm_pattern,
    provider_pattern,
    tenant_of,
    written_by_services,
)

log = logging.getLogger(__name__)

Effect = Callable[[Connection, KafkaMessage], Awaitable[None]]
# Takes a service's locks for the given record keys (sorted, distinct) in that order.
LockKeys = Callable[[Connection, list[str]], Awaitable[None]]
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
        super().__init__(settings_provider_factory=_telemetry_settings, tracer_provider=tracer_provider)


def _telemetry_settings(raw: Any) -> KafkaTelemetrySettingsProvider | BatchKafkaTelemetrySettingsProvider:
    # A batch's span names no key (it has many); each record's own span is `<consumer>.handle`.
    return BatchKafkaTelemetrySettingsProvider() if isinstance(raw, Sequence) else _TextKeys()


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


async def parse_leniently(raw: Any, original: Parse) -> StreamMessage[Any]:
    """FastStream decodes every header value as strict UTF-8; one bad header byte (or a null
    value) would fail parsing before our handler runs, and the batch would be skipped without an
    answer. Parse copies with readable headers, keep the originals for the dead letter."""
    copies = tuple(_readable(record) for record in raw) if isinstance(raw, tuple) else _readable(raw)
    message = await original(copies)
    message.raw_message = raw
    return message


def _readable(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    headers = [(name, (value or b"").decode("utf-8", "replace").encode()) for name, value in record.headers or ()]
    return dataclasses.replace(record, headers=headers)


_RECORD_PARSER = AioKafkaParser(msg_class=KafkaMessage, regex=None)


async def one_by_one(batch: KafkaMessage) -> list[KafkaMessage]:
    """A batch's records as messages of their own, in the order consumed (per partition, the
    partition's order), each with its original record as `raw_message`."""
    records: tuple[ConsumerRecord[Any, Any], ...] = batch.raw_message
    messages = []
    for record in records:
        message = await _RECORD_PARSER.parse_message(_readable(record))
        message.raw_message = record
        messages.append(message)
    return messages  # type: ignore[return-value]


async def keep_raw_body(message: StreamMessage[Any]) -> Any:
    """Our handlers take the KafkaMessage and decode its bytes against a contract themselves.
    FastStream's default decoder would `json.loads` every body first and raise on deep nesting
    (RecursionError), or on bad JSON under a `content-type: application/json` header, before the
    handler runs: the batch would then be redelivered forever and stall the partition."""
    return message.body


async def publish_record(broker: KafkaBroker, record: outbox.OutboxRecord) -> "asyncio.Future[RecordMetadata]":
    """Hand the record to the broker's producer; the returned future resolves once the broker acked
    it. Records handed over in sequence keep their order per partition (idempotent producer).

    Past the broker's publish middlewares: FastStream's made two spans, a correlation id and three
    metric updates per record, three quarters of the relay's time. Here: one PRODUCER span in the
    trace the relay restored (the writer's), whose context the record carries, so the consumer's
    span is its child; the relay counts what the broker acknowledged
    (`trailblazer_outbox_published_total`)."""
    headers = dict(record.headers)
    with publish_span(record.topic, record.key):
        propagate.inject(headers)
        command = KafkaPublishCommand(
            record.payload,
            topic=record.topic,
            key=record.key,
            headers=headers,
            no_confirm=True,
            _publish_type=PublishType.PUBLISH,
        )
        future: asyncio.Future[RecordMetadata] = await broker.config.producer.publish(command)
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

    def __init__(
        self, name: str, pool: asyncpg.Pool, settings: ServiceSettings, *, lock_keys: LockKeys | None = None
    ) -> None:
        """`lock_keys`: for a service whose effects lock per record key (the assignment), so that
        a batch takes all its locks at its start in one order; batches of two consumers that took
        them in record order could deadlock."""
        self.name = name
        self._pool = pool
        self._lock_keys = lock_keys
        self._budget_s = settings.transient_retry_budget_s
        self._attempts = max(1, settings.unexpected_error_attempts)
        self._first_delay_s = settings.unexpected_error_backoff_s
        self._halt_after = settings.halt_after_failures
        self._batch_records = settings.consume_batch_records
        self._batch_wait_ms = settings.consume_batch_wait_ms
        # Per handler: records in a row that ended dead-lettered for an unexpected error.
        self._failures_in_a_row: dict[Effect, int] = {}
        self._halted_pauses: dict[Effect, Iterator[float]] = {}

    def subscribe(self, broker: KafkaBroker, topic: str | tuple[str, ...], effect: Effect, *, group_id: str) -> None:
        """Consume `topic` (or several topics with one consumer: each consumer that joins a group
        rebalances all of it) with the delivery policy every service shares: from the earliest
        offset for a new group, in batches, the offsets committed only after the batch's
        transaction (`run_batch`; no auto-commit)."""
        self._subscribe(broker, effect, *((topic,) if isinstance(topic, str) else topic), group_id=group_id)

    def subscribe_pattern(
        self, broker: KafkaBroker, pattern: str, effect: Effect, *, group_id: str, max_records: int | None = None
    ) -> None:
        """Consume every topic that matches `pattern` (every firm's or provider's topics of some
        events: `shared.topics.firm_pattern`), with the same delivery policy. A tenant onboarded
        while the service runs is found at the next metadata refresh (`kafka_metadata_max_age_s`);
        its first records are already waiting then, hence the earliest offset. `max_records`: a
        smaller batch than the setting's for effects that must see each other's commits (1: each
        record in its own transaction)."""
        self._subscribe(broker, effect, pattern=pattern, group_id=group_id, max_records=max_records)

    def subscribe_each(self, broker: KafkaBroker, effects: Mapping[str, Effect], *, group_id: str) -> None:
        """Several topics with one consumer (so one group member and one batch across them), each
        record to its own topic's effect."""

        async def by_topic(connection: Connection, message: KafkaMessage) -> None:
            await effects[_topic(message)](connection, message)

        self.subscribe(broker, tuple(effects), by_topic, group_id=group_id)

    def subscribe_tenant_events(
        self,
        broker: KafkaBroker,
        effects: Mapping[FirmEvent, Effect] | Mapping[ProviderEvent, Effect],
        *,
        group_id: str,
        max_records: int | None = None,
    ) -> None:
        """Every firm's (or every provider's) topics of the given events with one consumer, by
        pattern, each record to its event's effect (the tenant is the topic's: `firm_of_record`)."""
        events = list(effects)
        firms = all(isinstance(event, FirmEvent) for event in events)
        pattern = firm_pattern(*events) if firms else provider_pattern(*events)
        by_event_of: Mapping[FirmEvent | ProviderEvent, Effect] = effects  # type: ignore[assignment]

        async def by_event(connection: Connection, message: KafkaMessage) -> None:
            tenant = tenant_of(_topic(message))
            assert tenant is not None  # the pattern matches tenants' topics only
            await by_event_of[tenant.event](connection, message)

        self.subscribe_pattern(broker, pattern, by_event, group_id=group_id, max_records=max_records)

    def _subscribe(
        self,
        broker: KafkaBroker,
        effect: Effect,
        *topics: str,
        pattern: str | None = None,
        group_id: str,
        max_records: int | None = None,
    ) -> None:
        @broker.subscriber(
            *topics,
            pattern=pattern,
            group_id=group_id,
            auto_offset_reset="earliest",
            # `run_batch` commits, and only the batch's partitions (auto-commit off).
            ack_policy=AckPolicy.MANUAL,
            batch=True,
            max_records=max_records or self._batch_records,
            batch_timeout_ms=self._batch_wait_ms,
        )
        async def on_batch(batch: KafkaMessage) -> None:
            await self.run_batch(batch, effect)

    async def run_batch(self, batch: KafkaMessage, effect: Effect) -> None:
        """Handle a batch in one transaction; if a record in it fails, one record at a time. A
        record handed back to Kafka (an outage outlasting the retry budget, a halted handler) is
        consumed again with everything after it: the partitions are rewound to the first record
        not handled, and the subscriber's ack then commits exactly what was."""
        messages = await one_by_one(batch)
        metrics.CONSUMED_BATCH.labels(self.name).observe(len(messages))
        consumer: Any = batch.consumer
        pending = messages
        try:
            together = len(messages) > 1
            failed = await self._together(messages, effect) if together else None
            if not together or failed is not None:
                for index, message in enumerate(messages):
                    pending = messages[index:]
                    # The batch's try counts as the failing record's first attempt.
                    await self.run(message, effect, tried=1 if message is failed else 0)
            pending = []
        except Exception as error:
            _rewind(consumer, pending)
            log.warning(
                "%s hands %d records back to Kafka from %s (%s)",
                self.name, len(pending), _position(pending[0]), type(error).__name__,
            )  # fmt: skip
        except BaseException:
            _rewind(consumer, pending)
            raise
        await self._commit(consumer, messages, pending)

    async def _commit(self, consumer: Any, messages: list[KafkaMessage], pending: list[KafkaMessage]) -> None:
        """Commit what was handled: for each partition of the batch, the offset after its last
        handled record, or of its first record not handled. The batch's partitions only (FastStream's
        `ack` commits every assigned partition's position: dozens for a pattern subscription). A
        partition revoked meanwhile is left to its new consumer, which starts from the last commit
        (the inbox skips what was handled here)."""
        offsets: dict[TopicPartition, int] = {}
        for message in messages:  # in each partition's order: the last handled wins
            raw: Any = message.raw_message
            offsets[TopicPartition(raw.topic, raw.partition)] = raw.offset + 1
        for message in reversed(pending):  # the first not handled wins
            raw = message.raw_message
            offsets[TopicPartition(raw.topic, raw.partition)] = raw.offset
        assigned = consumer.assignment()
        try:
            await consumer.commit({tp: offset for tp, offset in offsets.items() if tp in assigned})
        except Exception as error:
            log.warning("%s could not commit its offsets (%s); the records come again", self.name, type(error).__name__)

    async def _together(self, messages: list[KafkaMessage], effect: Effect) -> KafkaMessage | None:
        """The batch's effects in order in one transaction, their outbox records in one write.
        None once committed; the record that failed, with nothing committed, if one failed for
        any reason but a database outage (which is retried, then raised)."""
        timer = metrics.Timer()
        failed: list[tuple[KafkaMessage, Exception]] = []

        async def in_transaction() -> None:
            failed.clear()
            async with self._transaction() as connection, self._batch_scope(connection, messages):
                for message in messages:
                    with record_span(f"{self.name}.handle", message.headers, batch=len(messages)):
                        try:
                            await effect(connection, message)
                        except TRANSIENT_DB_ERRORS:
                            raise
                        except Exception as error:
                            failed.append((message, error))
                            raise

        try:
            await retry_transient(in_transaction, budget_s=self._budget_s)
        except TRANSIENT_DB_ERRORS:
            for message in messages:
                metrics.HANDLER_ERRORS.labels(self.name, _topic(message), "transient").inc()
            raise
        except Exception as error:
            # The record that failed, or, if writing the batch's outbox records failed, the first.
            message, error = failed[0] if failed else (messages[0], error)
            metrics.BATCH_FALLBACKS.labels(self.name).inc()
            # Type only: an exception's text may quote personal data from the record.
            log.warning(
                "%s: %s at %s in a batch of %d; handling the batch one record at a time",
                self.name, type(error).__name__, _position(message), len(messages),
            )  # fmt: skip
            return message
        self._recovered(effect)
        share = timer.elapsed / len(messages)
        for message in messages:
            metrics.HANDLED.labels(self.name, _topic(message), "ok").observe(share)
        return None

    @contextlib.asynccontextmanager
    async def _batch_scope(self, connection: Connection, messages: list[KafkaMessage]) -> AsyncIterator[None]:
        """What the batch's transaction does once for all its records: the service's per-key
        locks (sorted), and the inbox rows of the events services made, so each effect's own
        lock and `first_sighting` need no round trip."""
        keys = _keys(messages)
        held: list[str] = []
        if self._lock_keys is not None:
            await self._lock_keys(connection, keys)
            held = keys
        made = (event_id_of(m.raw_message.value) for m in messages if written_by_services(_topic(m)))  # type: ignore[union-attr]
        with holding(connection, frozenset(held)):
            async with claimed_together(connection, consumer=self.name, event_ids=[e for e in made if e]):
                yield

    async def run(self, message: KafkaMessage, effect: Effect, *, tried: int = 0) -> None:
        """One record in its own transaction, under the failure policy; raises when the record is
        to be handed back to Kafka (an outage outlasting the budget, a halted handler)."""
        topic = _topic(message)
        timer = metrics.Timer()

        async def in_transaction() -> None:
            # Spans: `<consumer>.handle` over the whole transaction, its repository operations,
            # then `commit`; so a trace shows where a handler's time goes.
            with record_span(f"{self.name}.handle", message.headers, attempt=attempt):
                async with self._transaction() as connection:
                    await effect(connection, message)

        delays = backoff_delays(self._first_delay_s, cap_s=30.0)
        attempt = tried
        while True:
            attempt += 1
            try:
                await retry_transient(in_transaction, budget_s=self._budget_s)
            except TRANSIENT_DB_ERRORS:
                metrics.HANDLER_ERRORS.labels(self.name, topic, "transient").inc()
                metrics.HANDLED.labels(self.name, topic, "redelivered").observe(timer.elapsed)
                # Raised on: `run_batch` rewinds the partitions to this record, Kafka hands it over again.
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

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """A pooled connection in a transaction, committed when the block ends and rolled back if
        it raises; the outbox records added in it are written with one statement at its end."""
        async with self._pool.acquire() as connection:
            with span("db.begin", **DB):
                transaction = connection.transaction()
                await transaction.start()
            try:
                async with outbox.gathered(connection):
                    yield connection
            except BaseException:
                with contextlib.suppress(Exception):  # the effect's error is the one to tell
                    await transaction.rollback()
                raise
            with span("db.commit", **DB):
                await transaction.commit()

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


def _rewind(consumer: Any, pending: list[KafkaMessage]) -> None:
    """Seek each partition with records not handled back to the first of them."""
    first: dict[TopicPartition, int] = {}
    for message in pending:
        raw: Any = message.raw_message
        first.setdefault(TopicPartition(raw.topic, raw.partition), raw.offset)
    for partition, offset in first.items():
        # A partition revoked meanwhile is another consumer's now; it resumes from the commit.
        with contextlib.suppress(Exception):
            consumer.seek(partition, offset)


def _keys(messages: list[KafkaMessage]) -> list[str]:
    """The batch's record keys, sorted and distinct; an id written in capitals is the same id."""
    keys = set()
    for message in messages:
        key = record_coordinates(message)[3]
        if key is not None:
            with contextlib.suppress(ValueError):
                key = str(uuid.UUID(key))
            keys.add(key)
    return sorted(keys)


def _topic(message: KafkaMessage) -> str:
    raw: Any = message.raw_message
    return str(raw.topic)


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
