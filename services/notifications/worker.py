"""The delivery worker: claims due deliveries (several replicas side by side, never the same
one), sends each through its channel, and records the outcome with the record event. Transient
failures are retried with capped exponential backoff and jitter; permanent ones, or running out
of attempts, park the delivery as failed and tell HR on the firm's topic."""

import asyncio
import contextlib
import logging
import random

import asyncpg

from shared.contracts import AssignmentCreatedPayload, DeliveryStatus, Stakeholder, utc_now
from shared.db import TRANSIENT_DB_ERRORS, Connection

from . import deliveries, domain, record, repository
from .channels import PermanentFailure, TransientFailure, message_id, send_email, send_webhook
from .deliveries import Delivery
from .informing import queue_message
from .settings import NotificationSettings

log = logging.getLogger(__name__)

_BATCH = 20


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        while True:
            try:
                listener = listener if listener and not listener.is_closed() else await self._listen()
                while await self.deliver_due():
                    pass
            except TRANSIENT_DB_ERRORS as error:
                log.warning("delivery worker paused: database unavailable (%s)", type(error).__name__)
                listener = None
            except Exception:
                log.exception("delivery worker paused")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.delivery_poll_s)
            self._wake.clear()

    async def _listen(self) -> asyncpg.Connection:
        listener = await asyncpg.connect(self._settings.database_url)
        await listener.add_listener(deliveries.WAKE_CHANNEL, lambda *_: self._wake.set())
        return listener

    async def deliver_due(self) -> int:
        claimed = await deliveries.claim(self._pool, lease_s=self._settings.delivery_lease_s, limit=_BATCH)
        await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver(self, delivery: Delivery) -> None:
        if await self._stopped_before_sending(delivery):
            return
        send = send_email if delivery.channel.value == "email" else send_webhook
        try:
            reached = await send(delivery, self._settings)
        except TransientFailure as failure:
            await self._failed(delivery, str(failure), permanent=False)
        except PermanentFailure as failure:
            await self._failed(delivery, str(failure), permanent=True)
        else:
            async with self._pool.acquire() as connection, connection.transaction():
                mid = message_id(delivery) if delivery.channel.value == "email" else None
                if await deliveries.finish(connection, delivery.delivery_id, reached, message_id=mid):
                    await self._record(connection, delivery, reached)

    async def _failed(self, delivery: Delivery, error: str, *, permanent: bool) -> None:
        give_up = permanent or delivery.attempts >= self._settings.delivery_max_attempts
        async with self._pool.acquire() as connection, connection.transaction():
            stop = await self._stopped_meanwhile(connection, delivery)
            if stop is not None:
                # Stopped while this attempt was under way: it ends here, neither retried nor parked.
                if await deliveries.stop_sending(connection, delivery.delivery_id, stop, error=error):
                    await self._record(connection, delivery, stop, error)
                log.info("%s by %s %s after a failed attempt", delivery.content_kind, delivery.channel.value, stop)
            elif give_up:
                await deliveries.park(connection, delivery.delivery_id, error=error)
                await self._record(connection, delivery, DeliveryStatus.FAILED, error)
                await self._tell_hr(connection, delivery, error)
                log.error("%s by %s failed for good: %s", delivery.content_kind, delivery.channel.value, error)
            else:
                delay = self.backoff(delivery.attempts)
                await deliveries.retry_later(connection, delivery.delivery_id, delay_s=delay, error=error)
                await self._record(connection, delivery, DeliveryStatus.RETRYING, error)
                log.warning(
                    "%s by %s: %s; retry in %.1f s", delivery.content_kind, delivery.channel.value, error, delay
                )

    async def _stopped_before_sending(self, delivery: Delivery) -> bool:
        """A stop changes only pending deliveries; one claimed at that moment, or taken over after
        a worker died while sending it, must not go out now."""
        async with self._pool.acquire() as connection, connection.transaction():
            stop = await self._stopped_meanwhile(connection, delivery)
            if stop is None:
                return False
            if await deliveries.stop_sending(connection, delivery.delivery_id, stop):
                await self._record(connection, delivery, stop)
            log.info("%s by %s %s before sending", delivery.content_kind, delivery.channel.value, stop)
            return True

    async def _stopped_meanwhile(self, connection: Connection, delivery: Delivery) -> DeliveryStatus | None:
        """Cancelled, or suppressed (partner), if a stop arrived while the delivery was `sending`:
        stops change only pending deliveries, so one in flight would otherwise be retried. Takes
        the assignment's lock, as the stop handlers do, so a stop is either seen here or finds
        the delivery pending again."""
        await repository.lock_assignment(connection, delivery.assignment_id)
        cancelled, withdrawn = await deliveries.stops(connection, delivery.assignment_id)
        if cancelled:
            return DeliveryStatus.CANCELLED
        if withdrawn and delivery.stakeholder is Stakeholder.PARTNER:
            return DeliveryStatus.SUPPRESSED
        return None

    def backoff(self, attempts: int) -> float:
        base: float = self._settings.delivery_backoff_s * 2.0 ** max(0, attempts - 1)
        return float(min(self._settings.delivery_backoff_cap_s, base) * random.uniform(0.8, 1.2))

    async def _record(
        self, connection: Connection, delivery: Delivery, status: DeliveryStatus, error: str | None = None
    ) -> None:
        await record.status_changed(
            connection,
            firm_id=delivery.firm_id,
            correlation_id=await record.correlation_of(connection, delivery.assignment_id),
            delivery_id=delivery.delivery_id,
            assignment_id=delivery.assignment_id,
            stakeholder=delivery.stakeholder,
            channel=delivery.channel,
            content_kind=delivery.content_kind,
            status=status,
            attempts=delivery.attempts,
            trace_id=delivery.trace_id,
            error=error,
        )

    async def _tell_hr(self, connection: Connection, delivery: Delivery, error: str) -> None:
        row = await connection.fetchrow(
            "SELECT correlation_id, created FROM assignments WHERE assignment_id = $1", delivery.assignment_id
        )
        if row is None:
            return
        assignment = AssignmentCreatedPayload.model_validate(row["created"]).assignment
        failed = f"{delivery.stakeholder.value}|{delivery.content_kind}|{delivery.channel.value}"
        notice = domain.for_hr_delivery_failed(assignment, failed, delivery.attempts, error)
        await queue_message(
            connection,
            assignment_id=delivery.assignment_id,
            firm_id=delivery.firm_id,
            correlation_id=row["correlation_id"],
            message=notice,
            at=utc_now(),
            firm_has_webhook=False,
        )
