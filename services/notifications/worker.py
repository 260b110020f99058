"""The delivery worker: claims due deliveries in sets (several replicas side by side, never the
same one), sends the set concurrently through its channels, and records the set's outcomes in one
transaction with the record events. Transient failures are retried with capped exponential
backoff and jitter; permanent ones, or running out of attempts, park the delivery as failed and
tell HR. A failure of any kind while composing or sending one delivery is an attempt of that
delivery: it never stops the worker or another delivery. Each delivery's work is a span in its
assignment's trace.

Round trips per set, whatever its size: the claim; a check for stops that arrived meanwhile; the
outcomes (the set's locks, one update, HR's records where due, the outbox), for all the sends that
end together (a slow one is recorded on its own). Not per delivery."""

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode

from shared import outbox
from shared.contracts import DeliveryStatus, Stakeholder
from shared.db import TRANSIENT_DB_ERRORS, Connection

from . import deliveries, record, repository
from .channels import PermanentFailure, SmtpSessions, TransientFailure, message_id, send_email, send_webhook
from .deliveries import Change, Delivery
from .informing import report_when_settled, tell_hr_of_failure
from .settings import NotificationSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("trailblazer.notifications.deliveries")

_BATCH = 20
# How long the outcomes of a set's sends that have ended wait for the others still under way, to be
# recorded in the same transaction.
_LINGER_S = 0.05
# A deadlock between the set's locks and a handler's (PostgreSQL ends one of the two): the
# outcomes are recorded again, so the deliveries need not wait for their lease.
_RECORDING_TRIES = 3
INTERRUPTED = "attempt_interrupted"


@dataclass
class Attempt:
    """One claimed delivery on its way: its span, and what its attempt came to."""

    delivery: Delivery
    span: Span
    reached: DeliveryStatus | None = None  # sent or delivered
    error: str | None = None
    permanent: bool = False
    stop: DeliveryStatus | None = None  # cancelled or suppressed before sending
    change: Change | None = field(default=None, repr=False)


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
            await self.close()

    async def close(self) -> None:
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
        """Claim a set of due deliveries, send them, record what came of them; how many.

        Outcomes are recorded in groups as the sends end: those that end within `_LINGER_S` of
        each other share a transaction, so a slow webhook holds up only itself."""
        async with self._pool.acquire() as connection:
            claimed = await deliveries.claim(
                connection,
                lease_s=self._settings.delivery_lease_s,
                limit=_BATCH,
                max_attempts=self._settings.delivery_max_attempts,
            )
            if not claimed:
                return 0
            attempts = [Attempt(delivery, self._start_span(delivery)) for delivery in claimed]
            try:
                await self._check_stops(connection, attempts)
            except Exception as error:  # nothing was sent: each delivery comes back after its lease
                await self._unrecorded(attempts, error)
                return len(claimed)
        sending = {
            asyncio.create_task(self._attempt(a)): a for a in attempts if a.stop is None and not a.delivery.exhausted
        }
        # Stopped, or out of attempts: nothing to send, recorded at once.
        group = [a for a in attempts if a.stop is not None or a.delivery.exhausted]
        failures: list[BaseException] = []
        while group or sending:
            if group:
                failures.extend(await self._record_group(group))
            group = []
            if sending:
                done, _ = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                if len(done) < len(sending):  # the others may end in a moment: one transaction for all
                    more, _ = await asyncio.wait(set(sending) - done, timeout=_LINGER_S)
                    done |= more
                group = [sending.pop(task) for task in done]
        transient = [f for f in failures if isinstance(f, TRANSIENT_DB_ERRORS)]
        if transient:
            raise transient[0]  # the worker's loop waits for the database
        return len(claimed)

    async def _record_group(self, group: Sequence[Attempt]) -> list[BaseException]:
        """Record a group's outcomes and end their spans; the database's error, if it failed."""
        try:
            await self._record(group)
        except Exception as error:
            await self._unrecorded(group, error)
            return [error]
        for attempt in group:
            attempt.span.end()
        return []

    async def _unrecorded(self, group: Sequence[Attempt], error: BaseException) -> None:
        """The database failed: each delivery of the group comes back after its lease."""
        for attempt in group:
            attempt.change = None
            attempt.span.set_attribute("trailblazer.delivery.outcome", "unrecorded")
            attempt.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            attempt.span.end()
        log.error(
            "%d deliveries: outcome not recorded (%s); claimed again after their lease",
            len(group),
            type(error).__name__,
        )
        if not isinstance(error, TRANSIENT_DB_ERRORS):
            log.debug("recording failed", exc_info=error)

    def _start_span(self, delivery: Delivery) -> Span:
        """The delivery's span, a child of the assignment's trace where it was queued."""
        parent = propagate.extract({"traceparent": delivery.traceparent}) if delivery.traceparent else None
        return tracer.start_span(
            f"deliver {delivery.stakeholder.value} {delivery.channel.value}",
            context=parent if parent is not None else otel_context.Context(),
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
        )

    async def _check_stops(self, connection: Connection, attempts: Sequence[Attempt]) -> None:
        """A stop changes only pending deliveries; one claimed at that moment, or taken over after
        a worker died while sending it, must not go out now. Waits for the stops being recorded
        for the set's assignments (`deliveries.wait_for_stops`), then reads them: two round trips
        for the set, on the connection that claimed it. The stopped ones are recorded with the
        first group, unsent."""
        assignment_ids = [a.delivery.assignment_id for a in attempts]
        await deliveries.wait_for_stops(connection, assignment_ids)
        stops = await deliveries.stops_of(connection, assignment_ids)
        for attempt in attempts:
            attempt.stop = _stop_of(attempt.delivery, stops)
            if attempt.stop is not None:
                log.info(
                    "%s by %s %s before sending",
                    attempt.delivery.content_kind,
                    attempt.delivery.channel.value,
                    attempt.stop,
                )

    async def _attempt(self, attempt: Attempt) -> None:
        """Send one delivery, within its span; whatever goes wrong is its attempt's outcome."""
        delivery = attempt.delivery
        with trace.use_span(attempt.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            try:
                if delivery.channel.value == "email":
                    attempt.reached = await send_email(delivery, self._settings, self._smtp)
                else:
                    attempt.reached = await send_webhook(delivery, self._settings)
            except TransientFailure as failure:
                attempt.error = str(failure)
            except PermanentFailure as failure:
                attempt.error, attempt.permanent = str(failure), True
            except Exception as error:
                # Not a failure the channel foresaw (composing the message, a library's surprise):
                # still an attempt of this delivery, retried within its maximum, never the worker's.
                # The type only: an exception's text may quote the message's content.
                attempt.error = f"unexpected {type(error).__name__}"

    async def _record(self, attempts: Sequence[Attempt]) -> None:
        for tries in range(1, _RECORDING_TRIES + 1):
            try:
                await self._record_once(attempts)
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                if tries == _RECORDING_TRIES:
                    raise
                for attempt in attempts:
                    attempt.change = None
        for attempt in attempts:
            if attempt.change is not None:
                self._log(attempt)

    async def _record_once(self, attempts: Sequence[Attempt]) -> None:
        """A group's outcomes in one transaction, under its assignments' locks (as the stop
        handlers take them: a stop is either seen here or finds the delivery pending again): one
        update for all, their records, HR told of those parked, HR's records that are now due."""
        async with self._pool.acquire() as connection, connection.transaction(), outbox.gathered(connection):
            await repository.lock_assignments(connection, [a.delivery.assignment_id for a in attempts])
            failed = [a.delivery.assignment_id for a in attempts if a.reached is None and a.stop is None]
            stops = await deliveries.stops_of(connection, failed) if failed else {}
            for attempt in attempts:
                attempt.change = self._change(attempt, stops)
            changed = await deliveries.settle(connection, [a.change for a in attempts if a.change is not None])
            for attempt in attempts:
                if attempt.change is None or attempt.change.delivery_id not in changed:
                    attempt.change = None  # a stop meanwhile, or another worker after the lease, took it
                    continue
                # In the delivery's trace: the records' traceparent agrees with their trace_id.
                with trace.use_span(attempt.span, end_on_exit=False):
                    await self._status_changed(connection, attempt, changed[attempt.change.delivery_id])
                    if attempt.change.status is DeliveryStatus.FAILED:
                        error = attempt.change.error or ""
                        await tell_hr_of_failure(connection, attempt.delivery, error, self._settings)
            # HR's record once the partner's and the employee's first messages have all settled,
            # in the trace of the delivery that settled last.
            settling = {
                a.delivery.assignment_id: a.span
                for a in attempts
                if a.change is not None and a.delivery.stakeholder is not Stakeholder.HR
            }
            await report_when_settled(connection, list(settling), self._settings, spans=settling)

    def _change(self, attempt: Attempt, stops: dict[uuid.UUID, tuple[bool, bool]]) -> Change:
        delivery = attempt.delivery
        if attempt.stop is not None:
            return Change(delivery.delivery_id, attempt.stop)
        if attempt.reached is not None:
            mid = message_id(delivery) if delivery.channel.value == "email" else None
            return Change(delivery.delivery_id, attempt.reached, message_id=mid)
        error = INTERRUPTED if delivery.exhausted else attempt.error or "unexpected"
        # Its last allowed attempt was cut short (a worker died, or recording failed): parked.
        permanent = attempt.permanent or delivery.exhausted
        # Stopped while this attempt was under way: it ends here, neither retried nor parked.
        stop = _stop_of(delivery, stops)
        if stop is not None:
            return Change(delivery.delivery_id, stop, error=error)
        if permanent or delivery.attempts >= self._settings.delivery_max_attempts:
            return Change(delivery.delivery_id, DeliveryStatus.FAILED, error=error)
        return Change(
            delivery.delivery_id, DeliveryStatus.RETRYING, error=error, retry_in_s=self.backoff(delivery.attempts)
        )

    async def _status_changed(self, connection: Connection, attempt: Attempt, queued_at: datetime) -> None:
        delivery, change = attempt.delivery, attempt.change
        assert change is not None
        await record.status_changed(
            connection,
            firm_id=delivery.firm_id,
            correlation_id=delivery.correlation_id or str(delivery.assignment_id),
            delivery_id=delivery.delivery_id,
            assignment_id=delivery.assignment_id,
            stakeholder=delivery.stakeholder,
            channel=delivery.channel,
            content_kind=delivery.content_kind,
            status=change.status,
            attempts=delivery.attempts,
            trace_id=delivery.trace_id,
            queued_at=queued_at,
            error=change.error,
        )

    def _log(self, attempt: Attempt) -> None:
        """The outcome on the delivery's span and in the log, once it is recorded."""
        delivery, change, span = attempt.delivery, attempt.change, attempt.span
        assert change is not None
        span.set_attribute("trailblazer.delivery.outcome", change.status.value)
        if change.error is not None:
            span.set_attribute("trailblazer.delivery.error", change.error.split(" ", 1)[0])
        kind, channel = delivery.content_kind, delivery.channel.value
        if change.status is DeliveryStatus.FAILED:
            span.set_status(Status(StatusCode.ERROR, (change.error or "").split(" ", 1)[0]))
            log.error(
                "%s by %s failed for good after %d attempt(s): %s", kind, channel, delivery.attempts, change.error
            )
        elif change.status is DeliveryStatus.RETRYING:
            log.warning("%s by %s: %s; retry in %.1f s", kind, channel, change.error, change.retry_in_s)
        elif attempt.stop is None and change.error is not None:
            log.info("%s by %s %s after a failed attempt", kind, channel, change.status.value)

    def backoff(self, attempts: int) -> float:
        base: float = self._settings.delivery_backoff_s * 2.0 ** max(0, attempts - 1)
        return float(min(self._settings.delivery_backoff_cap_s, base) * random.uniform(0.8, 1.2))


def _stop_of(delivery: Delivery, stops: dict[uuid.UUID, tuple[bool, bool]]) -> DeliveryStatus | None:
    """Cancelled, or suppressed (partner), if the delivery's assignment was stopped."""
    cancelled, withdrawn = stops.get(delivery.assignment_id, (False, False))
    if cancelled:
        return DeliveryStatus.CANCELLED
    if withdrawn and delivery.stakeholder is Stakeholder.PARTNER:
        return DeliveryStatus.SUPPRESSED
    return None
