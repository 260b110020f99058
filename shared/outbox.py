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
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate

from .contracts import Envelope
from .db import TRANSIENT_DB_ERRORS, Connection

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


# Hands a record to the producer; the returned future resolves when the broker acknowledged it.
Publish = Callable[[OutboxRecord], Awaitable["asyncio.Future[Any]"]]


def _trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def add_raw(
    connection: Connection,
    *,
    event_id: str,
    topic: str,
    key: str | bytes,
    payload: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """Queue a record; must run inside the caller's transaction."""
    await connection.execute(
        "INSERT INTO outbox(event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id,
        topic,
        key.encode() if isinstance(key, str) else key,
        payload,
        {**(headers or {}), **_trace_headers()},
    )
    # Delivered at commit, so the relay wakes only when the row is visible.
    await connection.execute("SELECT pg_notify($1, '')", _CHANNEL)


async def add_event(connection: Connection, *, topic: str, key: str, event: Envelope) -> None:
    await add_raw(
        connection,
        event_id=str(event.event_id),
        topic=topic,
        key=key,
        payload=event.model_dump_json().encode(),
        headers={"event_type": event.event_type, "content-type": "application/json"},
    )


class OutboxRelay:
    """Publishes outbox rows in id order and deletes each row once the broker acknowledged it."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, publish: Publish, *, poll_interval_s: float) -> None:
        self._pool = pool  # kept for the signature; the relay works on its own connection
        self._dsn = dsn
        self._publish = publish
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self._active = False
        self._stopping = False

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
                while batch := await self.relay_batch():
                    relayed += batch
        except TRANSIENT_DB_ERRORS as error:
            log.warning("outbox relay paused: database unavailable (%s)", type(error).__name__)
            await self._drop_connection()
        except Exception as error:
            # Broker unavailable or refused the record: the row stays and is tried again.
            log.warning("outbox relay paused: publishing failed (%s: %s)", type(error).__name__, error)
            log.debug("publishing failed", exc_info=True)
        return relayed

    async def relay_batch(self) -> int:
        connection = self._connection
        if connection is None or not self._active:
            return 0
        acknowledged: list[int] = []
        failure: BaseException | None = None
        async with connection.transaction():
            rows = await connection.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                _BATCH,
            )
            try:
                await self._publish_in_order(rows, acknowledged)
            except Exception as error:
                failure = error
            if acknowledged:
                await connection.execute("DELETE FROM outbox WHERE id = ANY($1)", acknowledged)
        if failure is not None:
            raise failure
        return len(rows)

    async def _publish_in_order(self, rows: list[asyncpg.Record], acknowledged: list[int]) -> None:
        """Hand the whole batch to the producer in id order, then collect the broker's acks.
        Only the acknowledged prefix is deleted, so a failure never lets a later event of a key
        overtake an earlier one."""
        pending = [(row["id"], await self._publish_in_original_trace(row)) for row in rows]
        for row_id, delivery in pending:
            await delivery
            acknowledged.append(row_id)

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
                log.info("outbox relay active on this replica")
        return self._active

    async def _ensure_connection(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        self._active = False  # a new session holds no lock
        # Dedicated connection: LISTEN and a session lock do not survive a pool's reset.
        connection = await asyncpg.connect(self._dsn, timeout=5)
        await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        await connection.add_listener(_CHANNEL, lambda *_: self._wake.set())
        self._connection = connection
        return connection

    async def _drop_connection(self) -> None:
        self._active = False
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def _sleep_until_woken(self) -> None:
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
