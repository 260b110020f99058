"""The duty-of-information record as a stream: one `DeliveryRecorded` per status change, written
to the outbox in the same transaction as the change."""

import uuid

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
    error: str | None = None,
) -> None:
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
        ),
    )
    topic = firm_topic(firm_id, FirmEvent.DUTY_OF_INFORMATION)  # the assignment's firm only
    await outbox.add_event(connection, topic=topic, key=str(assignment_id), event=event)


async def correlation_of(connection: Connection, assignment_id: uuid.UUID) -> str:
    found = await connection.fetchval("SELECT correlation_id FROM assignments WHERE assignment_id = $1", assignment_id)
    return str(found or assignment_id)
