"""Queueing composed messages for each of their channels, in the caller's transaction: the
notification rows and a delivery per channel in one statement, then the Kafka events and the
records, all or nothing. And HR's messages, composed from what really happened to the others'
deliveries."""

import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import propagate, trace
from opentelemetry.trace import Span

from shared import outbox
from shared.contracts import (
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


@dataclass(frozen=True)
class Owed:
    """A message owed to a stakeholder of an assignment, to be queued."""

    assignment_id: uuid.UUID
    firm_id: str
    correlation_id: str
    message: Message
    at: datetime
    firm_has_webhook: bool
    suppressed: bool = False  # recorded, never sent (the partner withdrew consent)
    span: Span | None = None  # queued in this span's trace (else the caller's)


def _in_trace(span: Span | None) -> contextlib.AbstractContextManager[object]:
    return trace.use_span(span, end_on_exit=False) if span is not None else contextlib.nullcontext()


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
    owed = Owed(assignment_id, firm_id, correlation_id, message, at, firm_has_webhook, suppressed)
    return bool(await queue(connection, [owed]))


async def queue(connection: Connection, owed: Sequence[Owed]) -> list[tuple[Owed, DeliveryChannel, DeliveryStatus]]:
    """Record the messages (of one assignment or several) with a delivery per channel, in one
    statement, then their Kafka events and duty records: (message, channel, status) of each delivery
    recorded. A message whose stakeholder already has its content (a redelivery or another replica)
    is left out."""
    new: list[repository.NewNotification] = []
    for item in owed:
        with _in_trace(item.span):
            trace_id = current_trace_id()
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        by_channel = []
        for channel in channels_for(item.message, item.firm_has_webhook):
            status = DeliveryStatus.QUEUED
            if item.suppressed:
                status = DeliveryStatus.SUPPRESSED
            elif channel is DeliveryChannel.KAFKA:
                status = DeliveryStatus.SENT  # the outbox publishes it; see docs for what "sent" means here
            by_channel.append(repository.NewDelivery(uuid.uuid4(), channel, status))
        new.append(
            repository.NewNotification(
                uuid.uuid4(),
                item.assignment_id,
                item.firm_id,
                item.message,
                trace_id,
                carrier.get("traceparent"),
                item.at,
                by_channel,
            )
        )
    recorded = await repository.record_notifications(connection, new)
    queued: list[tuple[Owed, DeliveryChannel, DeliveryStatus]] = []
    for item, notification in zip(owed, new, strict=True):
        if not notification.deliveries or notification.deliveries[0].delivery_id not in recorded:
            continue
        message = item.message
        with _in_trace(item.span):
            for delivery in notification.deliveries:
                if delivery.channel is DeliveryChannel.KAFKA and delivery.status is DeliveryStatus.SENT:
                    await _publish(connection, notification, item.correlation_id)
                await record.status_changed(
                    connection,
                    firm_id=item.firm_id,
                    correlation_id=item.correlation_id,
                    delivery_id=delivery.delivery_id,
                    assignment_id=item.assignment_id,
                    stakeholder=message.stakeholder,
                    channel=delivery.channel,
                    content_kind=message.content_kind,
                    status=delivery.status,
                    attempts=0,
                    trace_id=notification.trace_id,
                    queued_at=recorded[delivery.delivery_id],
                )
                queued.append((item, delivery.channel, delivery.status))
        log.info(
            "%s: %s queued%s",
            message.stakeholder.value,
            message.content_kind,
            " (suppressed)" if item.suppressed else "",
        )
    return queued


async def queue_apart(connection: Connection, owed: Sequence[Owed], what: str) -> int:
    """Queue in a savepoint, so that a message that cannot be queued never fails the caller's own
    work; if the set fails, each on its own, so that one does not keep the others back. Logs what
    failed; returns how many were queued."""
    if not owed:
        return 0
    try:
        async with connection.transaction(), outbox.gathered(connection):  # see outbox.gathered
            recorded = await queue(connection, owed)
        return len({id(item) for item, _, _ in recorded})
    except Exception as error:
        if len(owed) == 1:
            log.error("%s for %s could not be queued: %s", what, owed[0].assignment_id, type(error).__name__)
            return 0
    return sum([await queue_apart(connection, [item], what) for item in owed])


async def _publish(connection: Connection, notification: repository.NewNotification, correlation_id: str) -> None:
    message = notification.message
    event = StakeholderNotified.create(
        firm_id=notification.firm_id,
        correlation_id=correlation_id,
        payload=StakeholderNotifiedPayload(
            notification_id=notification.notification_id,
            assignment_id=notification.assignment_id,
            stakeholder=message.stakeholder,
            channel=message.channel,
            content_kind=message.content_kind,
            language=message.language,
            recipient=message.recipient,
            subject=message.subject,
            body=message.body,
            notified_at=notification.at,
        ),
    )
    topic = firm_topic(notification.firm_id, FirmEvent.STAKEHOLDER_NOTIFIED)  # the assignment's firm only
    await outbox.add_event(connection, topic=topic, key=str(notification.assignment_id), event=event)


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
    notifications table's uniqueness makes it once in any case. Composing or queueing them cannot
    fail the caller's own outcomes (`queue_apart`); the error is logged. All are queued with one
    statement, each in the trace of its span in `spans` if given (else the caller's). Returns how
    many."""
    if not assignment_ids:
        return 0
    ready = await deliveries.settled(connection, assignment_ids)
    owed: list[Owed] = []
    for found in ready:
        span = (spans or {}).get(found.assignment_id)
        try:
            with _in_trace(span):
                created = repository.created_payload(found.created)
                match = MatchProposedPayload.model_validate(found.proposal)
                message = domain.for_hr(created.assignment, match, found.outcomes)
        except Exception as error:
            log.error("HR's record for %s could not be composed: %s", found.assignment_id, type(error).__name__)
            continue
        webhook = found.firm_id in settings.firm_webhooks
        owed.append(
            Owed(found.assignment_id, found.firm_id, found.correlation_id, message, utc_now(), webhook, span=span)
        )
    return await queue_apart(connection, owed, "HR's record")


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
            assignment = repository.created_payload(row["created"]).assignment
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
