"""notifications' handlers: `assignment.created`, `match.proposed` and `match.updated` in; once both are known, the
duty of information is queued per stakeholder and channel; a later match tells the partner what
changed; a withdrawal of consent or a cancellation (from the firm's own topics) stops what has not
gone out. The delivery worker sends what is queued; what each stakeholder was told and every
delivery status go to the assignment's firm's own topics."""

import logging
import uuid

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from shared.contracts import (
    AssignmentCancelled,
    AssignmentCreated,
    DeliveryChannel,
    DeliveryStatus,
    MatchProposed,
    MatchProposedPayload,
    MatchUpdated,
    PartnerConsentWithdrawn,
    Stakeholder,
    utc_now,
)
from shared.contracts.decoding import decode, ensure_owner, ensure_sender
from shared.db import Connection
from shared.messaging import Consumer, firm_of_record
from shared.settings import ServiceSettings
from shared.topics import (
    ASSIGNMENT_CREATED,
    CARE_CHECK_IN_DUE,
    MATCH_PROPOSED,
    MATCH_UPDATED,
    FirmEvent,
)

from . import check_ins, deliveries, domain, record, repository
from .informing import Owed, queue, queue_message, report_when_settled
from .settings import NotificationSettings
from .worker import DeliveryWorker

log = logging.getLogger(__name__)

CONSUMER = "notifications"
GROUP = "trailblazer-notifications"


def notification_settings(settings: ServiceSettings) -> NotificationSettings:
    return settings if isinstance(settings, NotificationSettings) else NotificationSettings()


async def deliver(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    """The delivery worker, for as long as the service runs; a send interrupted by a stop is
    claimed again after its lease."""
    await DeliveryWorker(pool, notification_settings(settings)).run()


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    config = notification_settings(settings)
    consumer = Consumer(CONSUMER, pool, settings, lock_keys=repository.lock_assignments)
    handlers = Handlers(config)

    consumer.subscribe_each(
        broker,
        {
            ASSIGNMENT_CREATED: handlers.remember_assignment,
            MATCH_PROPOSED: handlers.remember_match,
            MATCH_UPDATED: handlers.remember_match_update,
            CARE_CHECK_IN_DUE: handlers.send_check_in,
        },
        group_id=GROUP,
    )
    # Every firm's stops, from its own topics: one consumer, by pattern.
    consumer.subscribe_tenant_events(
        broker,
        {
            FirmEvent.PARTNER_CONSENT_WITHDRAWN: handlers.withdraw_consent,
            FirmEvent.ASSIGNMENT_CANCELLED: handlers.cancel,
        },
        group_id=GROUP,
    )


class Handlers:
    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings

    def _has_webhook(self, firm_id: str) -> bool:
        return firm_id in self._settings.firm_webhooks

    async def send_check_in(self, connection: Connection, message: KafkaMessage) -> None:
        """care's check-in for the partner (services/notifications/check_ins.py)."""
        await check_ins.send_check_in(connection, message, has_webhook=self._has_webhook)

    async def remember_assignment(self, connection: Connection, message: KafkaMessage) -> None:
        created = decode(message.body, AssignmentCreated)
        assignment_id = created.payload.assignment.assignment_id
        if await repository.locked_first_sighting(
            connection, assignment_id, consumer=CONSUMER, event_id=str(created.event_id)
        ):
            dropped, known = await repository.save_assignment(connection, created)
            if dropped:
                log.warning("a stop of assignment %s by another firm than its own is ignored", assignment_id)
            if known is not None:  # else the match has not arrived yet; its handler will inform
                await self.inform(connection, assignment_id, known)

    async def remember_match(self, connection: Connection, message: KafkaMessage) -> None:
        proposed = decode(message.body, MatchProposed)
        await self._apply_match(connection, str(proposed.event_id), proposed.payload)

    async def remember_match_update(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, MatchUpdated)
        update = event.payload
        current = MatchProposedPayload(
            assignment_id=update.assignment_id,
            coach=update.coach,
            job_leads=update.job_leads,
            unmatched=update.unmatched,
            proposed_at=update.updated_at,
        )
        await self._apply_match(connection, str(event.event_id), current)

    async def _apply_match(self, connection: Connection, event_id: str, match: MatchProposedPayload) -> None:
        assignment_id = match.assignment_id
        if not await repository.locked_first_sighting(connection, assignment_id, consumer=CONSUMER, event_id=event_id):
            return
        saved, previous, known = await repository.save_match(connection, match)
        if not saved or known is None:
            return  # an older match than the one held (nothing to tell), or the assignment is not here yet
        if previous is not None and known.informed:
            await self.tell_what_changed(connection, assignment_id, previous, known)
        else:
            await self.inform(connection, assignment_id, known)

    async def inform(self, connection: Connection, assignment_id: uuid.UUID, known: repository.Informing) -> None:
        """The partner's and the employee's first messages, in one statement."""
        if known.cancelled:
            return
        at, webhook = utc_now(), self._has_webhook(known.firm_id)
        owed = [
            Owed(
                assignment_id,
                known.firm_id,
                known.correlation_id,
                message,
                at,
                webhook,
                suppressed=known.withdrawn and message.stakeholder is Stakeholder.PARTNER,
            )
            for message in domain.duty_of_information(known.created.assignment, known.match)
        ]
        queued = await queue(connection, owed)
        # A delivery queued now is not settled: HR's record waits for the worker. Only if nothing
        # was left to send (suppressed, or queued before) could it be due already.
        if not any(status is DeliveryStatus.QUEUED for _, _, status in queued):
            await report_when_settled(connection, [assignment_id], self._settings)

    async def tell_what_changed(
        self,
        connection: Connection,
        assignment_id: uuid.UUID,
        previous: MatchProposedPayload,
        known: repository.Informing,
    ) -> None:
        changes = domain.match_changes(previous, known.match)
        if changes is None or known.cancelled:
            return
        await queue_message(
            connection,
            assignment_id=assignment_id,
            firm_id=known.firm_id,
            correlation_id=known.correlation_id,
            message=domain.for_partner_update(known.created.assignment, known.match, changes),
            at=utc_now(),
            firm_has_webhook=self._has_webhook(known.firm_id),
            suppressed=known.withdrawn,
        )

    async def withdraw_consent(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, PartnerConsentWithdrawn)
        # Another firm's name, or another firm's assignment: dead-lettered with the reason (the
        # firm has no refusal topic for stops; docs/events.md).
        ensure_sender(event.firm_id, firm_of_record(message))
        assignment_id = event.payload.assignment_id
        await repository.lock_assignment(connection, assignment_id)
        ensure_owner(await repository.firm_of(connection, assignment_id), event.firm_id)
        await deliveries.record_stop(
            connection, "consent_withdrawals", assignment_id, event.firm_id, event.payload.withdrawn_at
        )
        stopped = await deliveries.stop_pending(
            connection, assignment_id, DeliveryStatus.SUPPRESSED, Stakeholder.PARTNER
        )
        await _record_stops(connection, event.firm_id, assignment_id, stopped, DeliveryStatus.SUPPRESSED)
        await report_when_settled(connection, [assignment_id], self._settings)

    async def cancel(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, AssignmentCancelled)
        ensure_sender(event.firm_id, firm_of_record(message))
        assignment_id = event.payload.assignment_id
        await repository.lock_assignment(connection, assignment_id)
        ensure_owner(await repository.firm_of(connection, assignment_id), event.firm_id)
        await deliveries.record_stop(
            connection, "cancellations", assignment_id, event.firm_id, event.payload.cancelled_at
        )
        stopped = await deliveries.stop_pending(connection, assignment_id, DeliveryStatus.CANCELLED)
        await _record_stops(connection, event.firm_id, assignment_id, stopped, DeliveryStatus.CANCELLED)


async def _record_stops(
    connection: Connection, firm_id: str, assignment_id: uuid.UUID, rows: list[asyncpg.Record], status: DeliveryStatus
) -> None:
    correlation_id = await record.correlation_of(connection, assignment_id)
    for row in rows:
        await record.status_changed(
            connection,
            firm_id=firm_id,
            correlation_id=correlation_id,
            delivery_id=row["delivery_id"],
            assignment_id=assignment_id,
            stakeholder=Stakeholder(row["stakeholder"]),
            channel=DeliveryChannel(row["channel"]),
            content_kind=row["content_kind"],
            status=status,
            attempts=row["attempts"],
            trace_id=row["trace_id"],
            queued_at=row["queued_at"],
        )
    log.info("%d pending deliveries %s", len(rows), status.value)
