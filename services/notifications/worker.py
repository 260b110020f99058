"""The delivery worker: claims due deliveries (several replicas side by side, never the same
one), sends each through its channel, and records the outcome with the record event. Transient
failures are retried with capped exponential backoff and jitter; permanent ones, or running out
of attempts, park the delivery as failed and tell HR. A failure of any kind while composing or
sending one delivery is an attempt of that delivery: it never stops the worker or another
delivery. Each delivery's work is a span in its assignment's trace."""

import asyncio
import contextlib
import logging
import random

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode

from shared import outbox
from shared.contracts import DeliveryStatus, Stakeholder
from shared.db import TRANSIENT_DB_ERRORS, Connection

from . import deliveries, record, repository
from .channels import PermanentFailure, SmtpSessions, TransientFailure, message_id, send_email, send_webhook
from .deliveries import Delivery
from .informing import report_when_settled, tell_hr_of_failure
from .settings import NotificationSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("trailblazer.notifications.deliveries")

_BATCH = 20
INTERRUPTED = "attempt_interrupted"


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        self._smtp = SmtpSessions(settings)  # reused across deliveries

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._smtp.close()

    async def _run(self) -> None:
        listener: asyncpg.Connection | None = None
        while True:
            try:
                listener = listener if listener and not listener.is_closed() else await self._listen()
                while await self.deliver_due():
                    pass
            except TRANSIENT_DB_ERRORS as error:
                log.warning("delivery worker waiting: database unavailable (%s)", type(error).__name__)
                listener = None
            except Exception:
                log.exception("delivery worker: claiming failed; trying again at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.delivery_poll_s)
            self._wake.clear()

    async def _listen(self) -> asyncpg.Connection:
        listener = await asyncpg.connect(self._settings.database_url)
        await listener.add_listener(deliveries.WAKE_CHANNEL, lambda *_: self._wake.set())
        return listener

    async def deliver_due(self) -> int:
        claimed = await deliveries.claim(
            self._pool,
            lease_s=self._settings.delivery_lease_s,
            limit=_BATCH,
            max_attempts=self._settings.delivery_max_attempts,
        )
        await asyncio.gather(*(self._deliver_in_trace(delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver_in_trace(self, delivery: Delivery) -> None:
        """One delivery, as a span of the assignment's trace (the context stored when it was
        queued). Whatever goes wrong stays with this delivery: it is recorded as its attempt if
        the database lets us, and otherwise its lease brings it back (within its attempts)."""
        parent = propagate.extract({"traceparent": delivery.traceparent}) if delivery.traceparent else None
        token = otel_context.attach(parent if parent is not None else otel_context.Context())
        try:
            with tracer.start_as_current_span(
                f"deliver {delivery.stakeholder.value} {delivery.channel.value}",
                attributes={
                    "trailblazer.delivery.id": str(delivery.delivery_id),
                    "trailblazer.assignment.id": str(delivery.assignment_id),
                    "trailblazer.firm.id": delivery.firm_id,
                    "trailblazer.delivery.stakeholder": delivery.stakeholder.value,
                    "trailblazer.delivery.channel": delivery.channel.value,
                    "trailblazer.delivery.content_kind": delivery.content_kind,
                    "trailblazer.delivery.attempt": delivery.attempts,
                    "trailblazer.delivery.max_attempts": self._settings.delivery_max_attempts,
                },
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    await self._deliver(delivery, span)
                except Exception as error:  # the database failed while recording: the lease retries
                    span.set_attribute("trailblazer.delivery.outcome", "unrecorded")
                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                    log.error(
                        "%s by %s: outcome not recorded (%s); claimed again after its lease",
                        delivery.content_kind,
                        delivery.channel.value,
                        type(error).__name__,
                    )
        finally:
            otel_context.detach(token)

    async def _deliver(self, delivery: Delivery, span: Span) -> None:
        if delivery.exhausted:
            # Its last allowed attempt was cut short (a worker died, or recording failed): parked.
            await self._failed(delivery, INTERRUPTED, permanent=True, span=span)
            return
        if await self._stopped_before_sending(delivery, span):
            return
        try:
            if delivery.channel.value == "email":
                reached = await send_email(delivery, self._settings, self._smtp)
            else:
                reached = await send_webhook(delivery, self._settings)
        except TransientFailure as failure:
            await self._failed(delivery, str(failure), permanent=False, span=span)
        except PermanentFailure as failure:
            await self._failed(delivery, str(failure), permanent=True, span=span)
        except Exception as error:
            # Not a failure the channel foresaw (composing the message, a library's surprise):
            # still an attempt of this delivery, retried within its maximum, never the worker's.
            # The type only: an exception's text may quote the message's content.
            await self._failed(delivery, f"unexpected {type(error).__name__}", permanent=False, span=span)
        else:
            async with self._pool.acquire() as connection, connection.transaction(), outbox.gathered(connection):
                await repository.lock_assignment(connection, delivery.assignment_id)
                mid = message_id(delivery) if delivery.channel.value == "email" else None
                if await deliveries.finish(connection, delivery.delivery_id, reached, message_id=mid):
                    await self._record(connection, delivery, reached)
                    await self._report(connection, delivery)
            span.set_attribute("trailblazer.delivery.outcome", reached.value)

    async def _failed(self, delivery: Delivery, error: str, *, permanent: bool, span: Span) -> None:
        give_up = permanent or delivery.attempts >= self._settings.delivery_max_attempts
        span.set_attribute("trailblazer.delivery.error", error.split(" ", 1)[0])
        async with self._pool.acquire() as connection, connection.transaction(), outbox.gathered(connection):
            stop = await self._stopped_meanwhile(connection, delivery)
            if stop is not None:
                # Stopped while this attempt was under way: it ends here, neither retried nor parked.
                if await deliveries.stop_sending(connection, delivery.delivery_id, stop, error=error):
                    await self._record(connection, delivery, stop, error)
                    await self._report(connection, delivery)
                outcome = stop
                log.info("%s by %s %s after a failed attempt", delivery.content_kind, delivery.channel.value, stop)
            elif give_up:
                await deliveries.park(connection, delivery.delivery_id, error=error)
                await self._record(connection, delivery, DeliveryStatus.FAILED, error)
                await tell_hr_of_failure(connection, delivery, error, self._settings)
                await self._report(connection, delivery)
                outcome = DeliveryStatus.FAILED
                log.error(
                    "%s by %s failed for good after %d attempt(s): %s",
                    delivery.content_kind,
                    delivery.channel.value,
                    delivery.attempts,
                    error,
                )
            else:
                delay = self.backoff(delivery.attempts)
                await deliveries.retry_later(connection, delivery.delivery_id, delay_s=delay, error=error)
                await self._record(connection, delivery, DeliveryStatus.RETRYING, error)
                outcome = DeliveryStatus.RETRYING
                log.warning(
                    "%s by %s: %s; retry in %.1f s", delivery.content_kind, delivery.channel.value, error, delay
                )
        span.set_attribute("trailblazer.delivery.outcome", outcome.value)
        if outcome is DeliveryStatus.FAILED:
            span.set_status(Status(StatusCode.ERROR, error.split(" ", 1)[0]))

    async def _report(self, connection: Connection, delivery: Delivery) -> None:
        """HR's record once the partner's and the employee's first messages have all settled."""
        if delivery.stakeholder is not Stakeholder.HR:
            await report_when_settled(connection, delivery.assignment_id, self._settings)

    async def _stopped_before_sending(self, delivery: Delivery, span: Span) -> bool:
        """A stop changes only pending deliveries; one claimed at that moment, or taken over after
        a worker died while sending it, must not go out now."""
        async with self._pool.acquire() as connection, connection.transaction(), outbox.gathered(connection):
            stop = await self._stopped_meanwhile(connection, delivery)
            if stop is None:
                return False
            if await deliveries.stop_sending(connection, delivery.delivery_id, stop):
                await self._record(connection, delivery, stop)
                await self._report(connection, delivery)
            log.info("%s by %s %s before sending", delivery.content_kind, delivery.channel.value, stop)
        span.set_attribute("trailblazer.delivery.outcome", stop.value)
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
