"""The duty-of-information record as a stream: a `DeliveryRecorded` for each status change that
says where a delivery to a person stands, written to the outbox in the same transaction as the
change.

What an auditor needs is, per stakeholder and message, whether and when it reached the person,
by which channel, after how many attempts, or why not. So (revision 2, docs/events.md):
- `queued` is not published when a message is queued: it says only that a message is owed, which
  its outcome record says too (with `queued_at`), as does `stakeholder.notified`; it is published
  when an operator re-queues a parked delivery, a decision the record must show;
- the `kafka` channel is not published: its delivery *is* the `stakeholder.notified` record on the
  firm's topic, written in the same transaction, and it reaches no person.
Normally that is one record per stakeholder (the e-mail `sent`), three per assignment instead of
nine; every retry, failure, cancellation and suppression is still published."""

import uuid
from datetime import datetime

from shared import outbox
from shared.contracts import (
    DeliveryChannel,
    DeliveryRecorded,
    DeliveryRecordedPayload,
    DeliveryStatus,
    Stakeholder,
    utc_now,
)
from shared.db import Connection
from shared.topics import FirmEvent, firm_topic


def published(channel: DeliveryChannel, status: DeliveryStatus, *, requeued: bool = False) -> bool:
    """Whether this status change goes on the firm's duty-of-information topic (see above)."""
    if channel is DeliveryChannel.KAFKA or status is DeliveryStatus.SENDING:
        return False
    return status is not DeliveryStatus.QUEUED or requeued


async def status_changed(
    connection: Connection,
    *,
    firm_id: str,
    correlation_id: str,
    delivery_id: uuid.UUID,
    assignment_id: uuid.UUID,
    stakeholder: Stakeholder,
    channel: DeliveryChannel,
    content_kind: str,
    status: DeliveryStatus,
    attempts: int,
    trace_id: str | None,
    queued_at: datetime | None,
    error: str | None = None,
    requeued: bool = False,
) -> None:
    if not published(channel, status, requeued=requeued):
        return
    event = DeliveryRecorded.create(
        firm_id=firm_id,
        correlation_id=correlation_id,
        payload=DeliveryRecordedPayload(
            delivery_id=delivery_id,
            assignment_id=assignment_id,
            stakeholder=stakeholder,
            channel=channel,
            content_kind=content_kind,
            status=status,
            attempts=attempts,
            recorded_at=utc_now(),
            trace_id=trace_id,
            error=error,
            queued_at=queued_at,
        ),
    )
    topic = firm_topic(firm_id, FirmEvent.DUTY_OF_INFORMATION)  # the assignment's firm only
    await outbox.add_event(connection, topic=topic, key=str(assignment_id), event=event)


async def correlation_of(connection: Connection, assignment_id: uuid.UUID) -> str:
    found = await connection.fetchval("SELECT correlation_id FROM assignments WHERE assignment_id = $1", assignment_id)
    return str(found or assignment_id)
