"""Transactional outbox: an event is written in the same transaction as the change it announces,
and a relay publishes it afterwards. A crash between commit and publish therefore loses nothing;
the relay may publish a row twice (crash after the broker's ack, before the delete), which the
receivers' inbox absorbs.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate

from .contracts import Envelope
from .db import TRANSIENT_DB_ERRORS, Connection

log = logging.getLogger(__name__)

_CHANNEL = "outbox"
_BATCH = 100


@dataclass(frozen=True)
class OutboxRecord:
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str]


Publish = Callable[[OutboxRecord], Awaitable[None]]


def _trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def add_raw(
    connection: Connection,
    *,
    event_id: str,
    topic: str,
    key: str,
    payload: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """Queue a record; must run inside the caller's transaction."""
    await connection.execute(
        "INSERT INTO outbox(event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id,
        topic,
        key,
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
    """Publishes outbox rows in id order and deletes each batch once the broker acknowledged it.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas relay side by side
    without publishing the same row at the same time.
    """

    def __init__(self, pool: asyncpg.Pool, dsn: str, publish: Publish, *, poll_interval_s: float) -> None:
        self._pool = pool
        self._dsn = dsn
        self._publish = publish
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def run(self) -> None:
        while True:
            await self._ensure_listening()
            try:
                while await self.relay_batch():
                    pass
            except TRANSIENT_DB_ERRORS as error:
                log.warning("outbox relay paused: database unavailable (%s)", type(error).__name__)
                await self._drop_listener()
            except Exception:
                # Broker unavailable or rejected the record: keep the row, try again later.
                log.exception("outbox relay paused: publishing failed")
            await self._sleep_until_woken()

    async def relay_batch(self) -> int:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                _BATCH,
            )
            for row in rows:
                await self._publish_in_original_trace(row)
            if rows:
                await connection.execute("DELETE FROM outbox WHERE id = ANY($1)", [r["id"] for r in rows])
        return len(rows)

    async def _publish_in_original_trace(self, row: asyncpg.Record) -> None:
        headers: dict[str, str] = dict(row["headers"])
        # Restore the writer's trace context so the publish span joins the assignment's trace.
        token = otel_context.attach(propagate.extract(headers))
        try:
            record_headers = {k: v for k, v in headers.items() if k not in ("traceparent", "tracestate")}
            await self._publish(OutboxRecord(row["topic"], row["key"], bytes(row["payload"]), record_headers))
        finally:
            otel_context.detach(token)

    async def _ensure_listening(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            # LISTEN needs a dedicated connection: pooled ones are reset when released.
            self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(_CHANNEL, lambda *_: self._wake.set())
        except TRANSIENT_DB_ERRORS:
            self._listener = None  # polling still covers us until the database is back

    async def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)
        self._wake.clear()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
