"""Queueing one composed message for each of its channels, in the caller's transaction: the
notification row, a delivery per channel, the Kafka event and the record, all or nothing."""

import logging
import uuid
from datetime import datetime

from shared import outbox
from shared.contracts import (
    DeliveryChannel,
    DeliveryStatus,
    Stakeholder,
    StakeholderNotified,
    StakeholderNotifiedPayload,
)
from shared.db import Connection
from shared.telemetry import current_trace_id
from shared.topics import STAKEHOLDER_NOTIFIED

from . import deliveries, record, repository
from .domain import Message

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
    await outbox.add_event(connection, topic=STAKEHOLDER_NOTIFIED, key=str(assignment_id), event=event)
