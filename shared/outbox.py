"""Transactional outbox: an event is written in the same transaction as the change it announces,
and a relay publishes it afterwards. A crash between commit and publish therefore loses nothing;
the relay may publish a row twice (crash after the broker's ack, before the delete), which the
receivers' inbox absorbs.

One relay per service database is active at a time: it holds a session-level advisory lock on
its own connection and runs every batch on that same connection, so a relay that lost its
connection (and with it the lock) cannot publish. Other replicas stand by and take over within
one poll interval. A single publisher keeps every key's events in the order they were written,
which two relays sharing the rows with `SKIP LOCKED` could not guarantee.
"""

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate

from . import metrics
from .backoff import backoff_delays
from .contracts import Envelope
from .db import TRANSIENT_DB_ERRORS, Connection, encode_json, set_json_codecs
from .telemetry import DB, span

log = logging.getLogger(__name__)

_CHANNEL = "outbox"
_BATCH = 200
# Same number in every service: each service has its own database, so the locks never meet.
RELAY_LOCK = 7230002


@dataclass(frozen=True)
class OutboxRecord:
    topic: str
    key: bytes
    payload: bytes
    headers: dict[str, str]


# Inserts a service's rows with one statement, in the order given, inside the caller's transaction.
WriteRows = Callable[[Connection, list[Any]], Awaitable[None]]

# Hands a record to the producer; the returned future resolves when the broker acknowledged it.
Publish = Callable[[OutboxRecord], Awaitable["asyncio.Future[Any]"]]


def _trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@dataclass
class _Gathering:
    """The records added on one connection inside a `gathered` block, not yet written."""

    connection: Connection
    rows: list[tuple[str, str, bytes, bytes, str]] = field(default_factory=list)  # event_id .. headers (JSON)
    open: bool = True
    # Snapshots of which only the latest counts, made once at the end of the outermost block.
    latest: dict[Hashable, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    # A service's own rows to insert (`add_later`), by the function that writes them, in order.
    later: dict[WriteRows, list[Any]] = field(default_factory=dict)


_gathering: ContextVar[_Gathering | None] = ContextVar("outbox_gathering", default=None)


@contextlib.asynccontextmanager
async def gathered(connection: Connection) -> AsyncIterator[None]:
    """Inside the caller's transaction: the records added on `connection` in this block are written
    when it ends without an error, in the order they were added, with one statement and at most
    one `pg_notify` for the transaction, instead of two round trips per record. On an error they
    are dropped, as the transaction they belong to rolls back.

    Nested in a block on the same connection, its records join the enclosing block's when it ends
    without an error (so a key's records keep the order they were added in) and are dropped
    otherwise. A savepoint inside a block must therefore open its own, inside the savepoint
    (`async with connection.transaction(), outbox.gathered(connection):`): records added in a
    savepoint without one would be written even if the savepoint rolled back."""
    enclosing = _gathering.get()
    nested = enclosing is not None and enclosing.open and enclosing.connection is connection
    gathering = _Gathering(connection)
    token = _gathering.set(gathering)
    try:
        yield
        while not nested and gathering.latest:  # their records join this block's, in order
            await gathering.latest.pop(next(iter(gathering.latest)))()
    finally:
        gathering.open = False
        _gathering.reset(token)
    if nested:
        assert enclosing is not None
        enclosing.rows.extend(gathering.rows)
        enclosing.latest.update(gathering.latest)
        for write, rows in gathering.later.items():
            enclosing.later.setdefault(write, []).extend(rows)
    else:
        for write, rows in gathering.later.items():
            await write(connection, rows)
        await _write(connection, gathering.rows)


async def add_latest(connection: Connection, key: Hashable, make: Callable[[], Awaitable[None]]) -> None:
    """For records of which only the newest matters (a snapshot on a compacted topic): inside a
    `gathered` block, `make` (which adds the records) runs once per `key` when the outermost
    block ends, the last one given; a batch of events about one provider makes one scorecard,
    not one per event. Outside a block, at once."""
    gathering = _gathering.get()
    if gathering is not None and gathering.open and gathering.connection is connection:
        gathering.latest.pop(key, None)  # kept in the order of the last request
        gathering.latest[key] = make
        return
    await make()


async def add_later(connection: Connection, write: WriteRows, row: Any) -> None:
    """For a service's own rows that nothing reads in the same transaction (a record's entries
    next to the events announcing them): inside a `gathered` block, `write` inserts all of the
    block's rows at its end with one statement, in the order added; outside a block, at once."""
    gathering = _gathering.get()
    if gathering is not None and gathering.open and gathering.connection is connection:
        gathering.later.setdefault(write, []).append(row)
        return
    await write(connection, [row])


async def add_raw(
    connection: Connection,
    *,
    event_id: str,
    topic: str,
    key: str | bytes,
    payload: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """Queue a record; must run inside the caller's transaction. Inside a `gathered` block on the
    same connection it is written at the block's end, otherwise at once."""
    # The trace context is the writer's now, whenever the row is written.
    row = (
        event_id,
        topic,
        key.encode() if isinstance(key, str) else key,
        payload,
        encode_json({**(headers or {}), **_trace_headers()}),
    )
    gathering = _gathering.get()
    if gathering is not None and gathering.open and gathering.connection is connection:
        gathering.rows.append(row)
        return
    await _write(connection, [row])


# One statement for a transaction's records: the rows in the order given (ids follow it: the
# relay publishes in id order), and `pg_notify` only if this transaction has not notified yet. A
# transaction-local setting remembers that; a rolled-back savepoint forgets it together with its
# notification. Identical notifications of one transaction reach a listener once anyway; this
# saves the calls. One row takes the plainer statement: PostgreSQL plans it faster.
_NOTIFY_ONCE = """
, first AS (
    SELECT current_setting('trailblazer.outbox_notified', true) IS DISTINCT FROM 'yes' AS first
)
SELECT CASE WHEN first THEN pg_notify($6, '') END,
       set_config('trailblazer.outbox_notified', 'yes', true)
FROM first
"""
_INSERT_ROWS = (
    """
WITH added AS (
    INSERT INTO outbox(event_id, topic, key, payload, headers)
    SELECT r.event_id, r.topic, r.key, r.payload, r.headers::jsonb
    FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])
        WITH ORDINALITY AS r(event_id, topic, key, payload, headers, position)
    ORDER BY r.position
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
)"""
    + _NOTIFY_ONCE
)
_INSERT_ROW = (
    """
WITH added AS (
    INSERT INTO outbox(event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5::text::jsonb)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
)"""
    + _NOTIFY_ONCE
)


async def _write(connection: Connection, rows: list[tuple[str, str, bytes, bytes, str]]) -> None:
    if not rows:
        return
    # One span per write, not per record: a trace shows the phase, not every row.
    topics = ", ".join(sorted({row[1] for row in rows}))
    attributes: dict[str, str | int] = {"messaging.destination.name": topics, "trailblazer.outbox.records": len(rows)}
    with span("outbox.add", **attributes, **DB):
        # Delivered at commit, so the relay wakes only when the rows are visible.
        if len(rows) == 1:
            await connection.execute(_INSERT_ROW, *rows[0], _CHANNEL)
        else:
            await connection.execute(_INSERT_ROWS, *(list(column) for column in zip(*rows, strict=True)), _CHANNEL)


async def add_event(connection: Connection, *, topic: str, key: str, event: Envelope) -> None:
    await add_raw(
        connection,
        event_id=str(event.event_id),
        topic=topic,
        key=key,
        payload=event.model_dump_json().encode(),
        headers={"event_type": event.event_type, "content-type": "application/json"},
    )


# Errors after which the same record will never be taken: too large, an invalid topic name, a
# record or a topic configuration the broker refuses. Matched by name, so that the relay does not
# depend on one client library's exception classes.
PERMANENT_PUBLISH_ERRORS = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "InvalidTopicError",
        "CorruptRecordException",
        "InvalidRecordError",
        "PolicyViolationError",
        "UnicodeEncodeError",
    }
)

# Kafka's rule for topic names; a row for any other name can never be published (and the client
# would only time out asking the broker about it).
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class InvalidTopicName(ValueError):
    """Raised before publishing: Kafka refuses the name."""


# Is the broker there? Refusals count towards a row's attempts only while it answers.
BrokerUp = Callable[[], Awaitable[bool]]


def is_permanent(error: BaseException) -> bool:
    return isinstance(error, InvalidTopicName) or type(error).__name__ in PERMANENT_PUBLISH_ERRORS


@dataclass
class _Batch:
    acknowledged: list[int] = field(default_factory=list)
    parked: list[tuple[int, str]] = field(default_factory=list)  # (row id, reason)
    attempted: list[tuple[int, str]] = field(default_factory=list)  # (row id, error), not parked
    failure: BaseException | None = None


class OutboxRelay:
    """Publishes outbox rows in id order and deletes each row once the broker acknowledged it.

    A row the broker refuses for good (too large, invalid topic), or refuses `max_attempts` times
    while it answers, is moved to `outbox_parked` with the reason, and the relay goes on; the
    later rows of the same topic and key follow it there (`held`), so a key's records never
    overtake each other. `python -m shared.ops.outbox` lists them and puts them back. An outage
    of the broker or of the database parks nothing: the relay pauses with a growing backoff.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        publish: Publish,
        *,
        poll_interval_s: float,
        broker_up: BrokerUp | None = None,
        max_attempts: int = 5,
    ) -> None:
        self._pool = pool  # kept for the signature; the relay works on its own connection
        self._dsn = dsn
        self._publish = publish
        self._poll_interval_s = poll_interval_s
        self._broker_up = broker_up
        self._max_attempts = max(1, max_attempts)
        self._wake = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._active = False
        self._stopping = False
        self._pauses: Iterator[float] | None = None  # set while publishing fails

    @property
    def active(self) -> bool:
        """True while this replica holds the relay lock."""
        return self._active

    async def run(self) -> None:
        while not self._stopping:
            await self.relay_once()
            await self._sleep_until_woken()

    async def relay_once(self) -> int:
        """Publish everything pending if this replica is (or becomes) the active relay."""
        relayed = 0
        try:
            if await self._take_lead():
                # A short batch was all there was: a row committed since sends its NOTIFY, which
                # wakes the relay again, so asking once more would only find nothing.
                while (batch := await self.relay_batch()) >= _BATCH:
                    relayed += batch
                relayed += batch
            self._pauses = None
        except TRANSIENT_DB_ERRORS as error:
            log.warning("outbox relay paused: database unavailable (%s)", type(error).__name__)
            self._pauses = self._pauses or backoff_delays(self._poll_interval_s, cap_s=30.0)
            await self._drop_connection()
        except Exception as error:
            # The broker is away or refused a row it may take later: the row stays.
            self._pauses = self._pauses or backoff_delays(self._poll_interval_s, cap_s=30.0)
            log.warning("outbox relay paused: publishing failed (%s)", type(error).__name__)
            log.debug("publishing failed", exc_info=True)
        return relayed

    async def relay_batch(self) -> int:
        """One batch: read in id order, publish, then delete what the broker acknowledged and
        note what it refused, each with one statement. No transaction is needed around them: only
        this relay (holding the relay lock on this connection) takes or deletes rows, and each
        statement alone leaves a state the next batch continues from (a crash after the acks and
        before the delete publishes those rows again; the inboxes absorb it)."""
        connection = self._connection
        if connection is None or not self._active:
            return 0
        rows = await connection.fetch(_PENDING, _BATCH)
        batch = _Batch()
        blocked = {(row["topic"], bytes(row["key"])): row["held_by"] for row in rows if row["held_by"] is not None}
        await self._publish_in_order(rows, blocked, batch)
        if batch.acknowledged:
            await connection.execute("DELETE FROM outbox WHERE id = ANY($1)", batch.acknowledged)
        for row_id, error in batch.attempted:
            await connection.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1", row_id, error
            )
        for row_id, reason in batch.parked:
            await _park(connection, row_id, reason)
        if batch.failure is not None:
            raise batch.failure
        return len(rows)

    async def _publish_in_order(
        self, rows: list[asyncpg.Record], blocked: dict[tuple[str, bytes], int], batch: _Batch
    ) -> None:
        """Hand the batch to the producer in id order, then collect the broker's acks. A failure
        that may pass stops the batch there: the rows from it on stay, so no later event of a key
        overtakes an earlier one (those already handed over may go out twice; inboxes absorb it)."""
        handed: list[tuple[asyncpg.Record, asyncio.Future[Any] | BaseException]] = []
        for row in rows:
            held_by = blocked.get((row["topic"], bytes(row["key"])))
            if held_by is not None and held_by < row["id"]:
                self._note_parked(batch, row, "held", f"held: row {held_by} of this topic and key is parked")
                continue
            try:
                if not _TOPIC_NAME.match(row["topic"]):
                    raise InvalidTopicName(f"{row['topic']!r} is not a valid Kafka topic name")
                handed.append((row, await self._publish_in_original_trace(row)))
            except Exception as error:  # refused before it left: too large, say
                handed.append((row, error))
                if not is_permanent(error):
                    break
                blocked.setdefault((row["topic"], bytes(row["key"])), row["id"])
        # The broker acknowledges a producer batch at once: wait for all of them together, then
        # take the outcomes in id order.
        waiting = [delivery for _, delivery in handed if isinstance(delivery, asyncio.Future)]
        if waiting:
            await asyncio.wait(waiting)
        for row, delivery in handed:
            try:
                if isinstance(delivery, BaseException):
                    raise delivery
                delivery.result()
            except Exception as error:
                metrics.OUTBOX_PUBLISH_ERRORS.labels(type(error).__name__).inc()
                described = _describe(error)
                if is_permanent(error):
                    self._note_parked(batch, row, "refused", f"refused: {described}")
                elif await self._answering() and (
                    # Asked for the whole metadata timeout while the broker answers: it has no such
                    # topic (and creates none), so retrying only holds up every later row.
                    type(error).__name__ == "UnknownTopicOrPartitionError" or row["attempts"] + 1 >= self._max_attempts
                ):
                    self._note_parked(batch, row, "attempts", f"attempts: {row['attempts'] + 1} x {described}")
                else:
                    batch.attempted.append((row["id"], described))
                    batch.failure = error
                    return
                blocked.setdefault((row["topic"], bytes(row["key"])), row["id"])
                continue
            batch.acknowledged.append(row["id"])
            metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()

    def _note_parked(self, batch: _Batch, row: asyncpg.Record, kind: str, reason: str) -> None:
        batch.parked.append((row["id"], reason))
        metrics.OUTBOX_PARKED_TOTAL.labels(row["topic"], kind).inc()
        # Ids, topic and error type only: the row's key may be a person's assignment id at most.
        log.error("outbox row %d for %s moved to outbox_parked: %s", row["id"], row["topic"], reason)

    async def _answering(self) -> bool:
        """A refusal counts as an attempt only if the broker answers; an outage parks nothing."""
        if self._broker_up is None:
            return True
        with contextlib.suppress(Exception):
            return await self._broker_up()
        return False

    async def _publish_in_original_trace(self, row: asyncpg.Record) -> "asyncio.Future[Any]":
        headers: dict[str, str] = dict(row["headers"])
        # Restore the writer's trace context so the publish span joins the assignment's trace.
        token = otel_context.attach(propagate.extract(headers))
        try:
            record_headers = {k: v for k, v in headers.items() if k not in ("traceparent", "tracestate")}
            return await self._publish(
                OutboxRecord(row["topic"], bytes(row["key"]), bytes(row["payload"]), record_headers)
            )
        finally:
            otel_context.detach(token)

    async def _take_lead(self) -> bool:
        connection = await self._ensure_connection()
        if not self._active:
            self._active = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK))
            if self._active:
                metrics.RELAY_ACTIVE.set(1)
                log.info("outbox relay active on this replica")
        return self._active

    async def _ensure_connection(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        self._active = False  # a new session holds no lock
        # Dedicated connection: LISTEN and a session lock do not survive a pool's reset.
        connection = await asyncpg.connect(self._dsn, timeout=5)
        await set_json_codecs(connection)
        await connection.add_listener(_CHANNEL, lambda *_: self._wake.set())
        self._connection = connection
        return connection

    async def _drop_connection(self) -> None:
        self._active = False
        metrics.RELAY_ACTIVE.set(0)
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def _sleep_until_woken(self) -> None:
        if self._pauses is not None:  # publishing failed: back off, a new row changes nothing
            await asyncio.sleep(next(self._pauses))
            self._wake.clear()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)
        self._wake.clear()

    def stop(self) -> None:
        """`run` returns after the batch in progress."""
        self._stopping = True
        self._wake.set()

    async def drain(self, budget_s: float) -> None:
        """On shutdown, after the consumers stopped: publish what their last handlers wrote."""
        self.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.relay_once(), timeout=budget_s)

    async def close(self) -> None:
        self._stopping = True
        if self._connection is not None:
            # Closing the session releases the advisory lock for a standby replica.
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                await self._connection.close(timeout=2)
            self._connection = None
            self._active = False


# The next rows in id order, each with the first parked row of its topic and key, if any, which
# holds it (and every later row of that key) back.
_PENDING = """
SELECT o.id, o.topic, o.key, o.payload, o.headers, o.attempts,
       (SELECT min(p.id) FROM outbox_parked p WHERE p.topic = o.topic AND p.key = o.key) AS held_by
FROM outbox o ORDER BY o.id LIMIT $1
"""


async def _park(connection: Connection, row_id: int, reason: str) -> None:
    await connection.execute(
        "WITH moved AS (DELETE FROM outbox WHERE id = $1 RETURNING *)"
        " INSERT INTO outbox_parked(id, event_id, topic, key, payload, headers, created_at, attempts, reason)"
        " SELECT id, event_id, topic, key, payload, headers, created_at, attempts, $2 FROM moved",
        row_id,
        reason[:2000],
    )


def _describe(error: BaseException) -> str:
    """The error's type and, for the broker's own refusals, its text (which quotes sizes and
    topic names, not record content)."""
    name = type(error).__name__
    if is_permanent(error) or type(error).__module__.startswith("aiokafka"):
        return f"{name}: {error}"[:500]
    return name


async def sample_outbox(connection: Connection) -> None:
    """Outbox depth, the oldest row's age and the parked rows, for `/metrics`."""
    row = await connection.fetchrow(
        "SELECT count(*) AS depth, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age,"
        " (SELECT count(*) FROM outbox_parked) AS parked FROM outbox"
    )
    assert row is not None
    metrics.OUTBOX_DEPTH.set(row["depth"])
    metrics.OUTBOX_OLDEST_AGE.set(row["age"])
    metrics.OUTBOX_PARKED.set(row["parked"])
