"""Queueing one composed message for each of its channels, in the caller's transaction: the
notification row, a delivery per channel, the Kafka event and the record, all or nothing. And
HR's messages, composed from what really happened to the others' deliveries."""

import logging
import uuid
from datetime import datetime

from opentelemetry import propagate

from shared import outbox
from shared.contracts import (
    AssignmentCreatedPayload,
    DeliveryChannel,
    DeliveryStatus,
    Stakeholder,
    StakeholderNotified,
    StakeholderNotifiedPayload,
    utc_now,
)
from shared.db import Connection
from shared.telemetry import current_trace_id
from shared.topics import FirmEvent, firm_topic

from . import deliveries, domain, record, repository
from .deliveries import Delivery
from .domain import Message
from .settings import NotificationSettings

log = logging.getLogger(__name__)


def channels_for(message: Message, firm_has_webhook: bool) -> list[DeliveryChannel]:
    """The message's channels, minus webhooks the firm has not configured; a partner who asked for
    the firm's portal only still gets the content, by email."""
    wanted = [c for c in message.deliver_by if c is not DeliveryChannel.WEBHOOK or firm_has_webhook]
    if message.stakeholder is Stakeholder.PARTNER and wanted == [DeliveryChannel.KAFKA]:
        wanted.insert(0, DeliveryChannel.EMAIL)
    return wanted


async def queue_message(
    connection: Connection,
    *,
    assignment_id: uuid.UUID,
    firm_id: str,
    correlation_id: str,
    message: Message,
    at: datetime,
    firm_has_webhook: bool,
    suppressed: bool = False,
) -> bool:
    """False if this stakeholder already has this content (a redelivery or another replica)."""
    notification_id = uuid.uuid4()
    trace_id = current_trace_id()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    recorded = await repository.record_notification(
        connection,
        notification_id=notification_id,
        assignment_id=assignment_id,
        firm_id=firm_id,
        message=message,
        trace_id=trace_id,
        at=at,
    )
    if not recorded:
        return False
    for channel in channels_for(message, firm_has_webhook):
        status = DeliveryStatus.QUEUED
        if suppressed:
            status = DeliveryStatus.SUPPRESSED
        elif channel is DeliveryChannel.KAFKA:
            status = DeliveryStatus.SENT  # the outbox publishes it; see docs for what "sent" means here
            await _publish(connection, notification_id, assignment_id, firm_id, correlation_id, message, at)
        delivery_id = await deliveries.queue(
            connection,
            notification_id=notification_id,
            assignment_id=assignment_id,
            firm_id=firm_id,
            stakeholder=message.stakeholder,
            content_kind=message.content_kind,
            channel=channel,
            status=status,
            trace_id=trace_id,
            traceparent=carrier.get("traceparent"),
        )
        assert delivery_id is not None  # the notification is new, so are its deliveries
        await record.status_changed(
            connection,
            firm_id=firm_id,
            correlation_id=correlation_id,
            delivery_id=delivery_id,
            assignment_id=assignment_id,
            stakeholder=message.stakeholder,
            channel=channel,
            content_kind=message.content_kind,
            status=status,
            attempts=0,
            trace_id=trace_id,
        )
    log.info("%s: %s queued%s", message.stakeholder.value, message.content_kind, " (suppressed)" if suppressed else "")
    return True


async def _publish(
    connection: Connection,
    notification_id: uuid.UUID,
    assignment_id: uuid.UUID,
    firm_id: str,
    correlation_id: str,
    message: Message,
    at: datetime,
) -> None:
    event = StakeholderNotified.create(
        firm_id=firm_id,
        correlation_id=correlation_id,
        payload=StakeholderNotifiedPayload(
            notification_id=notification_id,
            assignment_id=assignment_id,
            stakeholder=message.stakeholder,
            channel=message.channel,
            content_kind=message.content_kind,
            language=message.language,
            recipient=message.recipient,
            subject=message.subject,
            body=message.body,
            notified_at=at,
        ),
    )
    topic = firm_topic(firm_id, FirmEvent.STAKEHOLDER_NOTIFIED)  # the assignment's firm only
    await outbox.add_event(connection, topic=topic, key=str(assignment_id), event=event)


async def report_when_settled(connection: Connection, assignment_id: uuid.UUID, settings: NotificationSettings) -> bool:
    """Queue HR's duty-of-information record once every delivery of the partner's and the
    employee's first messages has settled (sent, delivered, failed for good, suppressed): it then
    names the channels really used and the times they really left. The caller holds the
    assignment's lock, so two replicas settling the last two deliveries see each other; the
    notifications table's uniqueness makes it once in any case. Composing it cannot fail the
    caller's own outcome: a savepoint keeps that, and the error is logged."""
    if await repository.hr_record_queued(connection, assignment_id):
        return False
    outcomes = await deliveries.first_outcomes(connection, assignment_id)
    stakeholders = {outcome.stakeholder for outcome in outcomes}
    if stakeholders != {Stakeholder.PARTNER, Stakeholder.EMPLOYEE}:
        return False
    if any(outcome.status in deliveries.UNSETTLED for outcome in outcomes):
        return False
    cancelled, _ = await deliveries.stops(connection, assignment_id)
    known = await repository.assignment_and_match(connection, assignment_id)
    if cancelled or known is None:
        return False
    firm_id, correlation_id, created, match = known
    try:
        async with connection.transaction(), outbox.gathered(connection):  # see outbox.gathered
            return await queue_message(
                connection,
                assignment_id=assignment_id,
                firm_id=firm_id,
                correlation_id=correlation_id,
                message=domain.for_hr(created.assignment, match, outcomes),
                at=utc_now(),
                firm_has_webhook=firm_id in settings.firm_webhooks,
            )
    except Exception as error:
        log.error("HR's record for %s could not be queued: %s", assignment_id, type(error).__name__)
        return False


async def tell_hr_of_failure(
    connection: Connection, delivery: Delivery, error: str, settings: NotificationSettings
) -> None:
    """A delivery failed for good: HR hears it (not of a failed notice about a failure, which
    would loop). Never fails the caller's parking of the delivery."""
    if delivery.content_kind.startswith(domain.HR_DELIVERY_FAILED):
        return
    row = await connection.fetchrow(
        "SELECT correlation_id, created FROM assignments WHERE assignment_id = $1", delivery.assignment_id
    )
    if row is None:
        return
    try:
        async with connection.transaction(), outbox.gathered(connection):  # see outbox.gathered
            assignment = AssignmentCreatedPayload.model_validate(row["created"]).assignment
            notice = domain.for_hr_delivery_failed(
                assignment,
                stakeholder=delivery.stakeholder,
                content_kind=delivery.content_kind,
                channel=delivery.channel,
                attempts=delivery.attempts,
                error=error,
            )
            await queue_message(
                connection,
                assignment_id=delivery.assignment_id,
                firm_id=delivery.firm_id,
                correlation_id=row["correlation_id"],
                message=notice,
                at=utc_now(),
                firm_has_webhook=delivery.firm_id in settings.firm_webhooks,
            )
    except Exception as failure:
        log.error("HR could not be told of a failed delivery of %s: %s", delivery.assignment_id, type(failure).__name__)
