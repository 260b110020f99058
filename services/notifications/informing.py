"""Queueing composed messages for each of their channels, in the caller's transaction: the
notification rows and a delivery per channel in one statement, then the Kafka events and the
records, all or nothing. And HR's messages, composed from what really happened to the others'
deliveries."""

import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from opentelemetry import propagate, trace
from opentelemetry.trace import Span

from shared import outbox
from shared.contracts import (
    AssignmentCreatedPayload,
    DeliveryChannel,
    DeliveryStatus,
    MatchProposedPayload,
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
    queued = await queue_messages(
        connection,
        assignment_id=assignment_id,
        firm_id=firm_id,
        correlation_id=correlation_id,
        messages=[message],
        at=at,
        firm_has_webhook=firm_has_webhook,
        suppressed=lambda _: suppressed,
    )
    return bool(queued)


async def queue_messages(
    connection: Connection,
    *,
    assignment_id: uuid.UUID,
    firm_id: str,
    correlation_id: str,
    messages: Sequence[Message],
    at: datetime,
    firm_has_webhook: bool,
    suppressed: Callable[[Message], bool],
) -> list[tuple[Message, DeliveryChannel, DeliveryStatus]]:
    """Record the messages with a delivery per channel, in one statement, with their Kafka events
    and duty records: (message, channel, status) of each delivery recorded. A message whose
    stakeholder already has its content (a redelivery or another replica) is left out."""
    trace_id = current_trace_id()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    new: list[repository.NewNotification] = []
    for message in messages:
        by_channel = []
        for channel in channels_for(message, firm_has_webhook):
            status = DeliveryStatus.QUEUED
            if suppressed(message):
                status = DeliveryStatus.SUPPRESSED
            elif channel is DeliveryChannel.KAFKA:
                status = DeliveryStatus.SENT  # the outbox publishes it; see docs for what "sent" means here
            by_channel.append(repository.NewDelivery(uuid.uuid4(), channel, status))
        new.append(repository.NewNotification(uuid.uuid4(), message, by_channel))
    recorded = await repository.record_notifications(
        connection,
        new,
        assignment_id=assignment_id,
        firm_id=firm_id,
        trace_id=trace_id,
        traceparent=carrier.get("traceparent"),
        at=at,
    )
    queued: list[tuple[Message, DeliveryChannel, DeliveryStatus]] = []
    for notification in new:
        message = notification.message
        if not notification.deliveries or notification.deliveries[0].delivery_id not in recorded:
            continue
        for delivery in notification.deliveries:
            if delivery.channel is DeliveryChannel.KAFKA and delivery.status is DeliveryStatus.SENT:
                await _publish(
                    connection, notification.notification_id, assignment_id, firm_id, correlation_id, message, at
                )
            await record.status_changed(
                connection,
                firm_id=firm_id,
                correlation_id=correlation_id,
                delivery_id=delivery.delivery_id,
                assignment_id=assignment_id,
                stakeholder=message.stakeholder,
                channel=delivery.channel,
                content_kind=message.content_kind,
                status=delivery.status,
                attempts=0,
                trace_id=trace_id,
                queued_at=recorded[delivery.delivery_id],
            )
            queued.append((message, delivery.channel, delivery.status))
        log.info(
            "%s: %s queued%s",
            message.stakeholder.value,
            message.content_kind,
            " (suppressed)" if suppressed(message) else "",
        )
    return queued


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


async def report_when_settled(
    connection: Connection,
    assignment_ids: Sequence[uuid.UUID],
    settings: NotificationSettings,
    *,
    spans: Mapping[uuid.UUID, Span] | None = None,
) -> int:
    """Queue HR's duty-of-information record for each of these assignments whose partner's and
    employee's first messages have all settled (sent, delivered, failed for good, suppressed): it
    then names the channels really used and the times they really left. The caller holds the
    assignments' locks, so two replicas settling the last two deliveries see each other; the
    notifications table's uniqueness makes it once in any case. Composing one cannot fail the
    caller's own outcomes: a savepoint keeps them, and the error is logged. Each is queued in the
    trace of its span in `spans`, if given (else the caller's). Returns how many."""
    if not assignment_ids:
        return 0
    ready = await deliveries.settled(connection, assignment_ids)
    queued = 0
    for found in ready:
        span = (spans or {}).get(found.assignment_id)
        with trace.use_span(span, end_on_exit=False) if span is not None else contextlib.nullcontext():
            try:
                async with connection.transaction(), outbox.gathered(connection):  # see outbox.gathered
                    created = AssignmentCreatedPayload.model_validate(found.created)
                    match = MatchProposedPayload.model_validate(found.proposal)
                    queued += await queue_message(
                        connection,
                        assignment_id=found.assignment_id,
                        firm_id=found.firm_id,
                        correlation_id=found.correlation_id,
                        message=domain.for_hr(created.assignment, match, found.outcomes),
                        at=utc_now(),
                        firm_has_webhook=found.firm_id in settings.firm_webhooks,
                    )
            except Exception as error:
                log.error("HR's record for %s could not be queued: %s", found.assignment_id, type(error).__name__)
    return queued


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
