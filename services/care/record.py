"""The duty-of-care record: each entry is stored and published on the firm's own duty-of-care
topic in the caller's transaction, so the record and the stream never disagree."""

import uuid
from datetime import datetime

from shared import outbox
from shared.contracts.care import Duty, DutyOfCareEntry, DutyOfCareEntryPayload
from shared.db import Connection, encode_json
from shared.telemetry import current_trace_id
from shared.topics import FirmEvent, firm_topic

from . import repository


async def entry(
    connection: Connection,
    *,
    firm_id: str,
    correlation_id: str,
    assignment_id: uuid.UUID,
    duty: Duty,
    kind: str,
    at: datetime,
    subject_id: object = None,
    **detail: str | int | None,
) -> None:
    entry_id = uuid.uuid4()
    trace_id = current_trace_id()
    subject = None if subject_id is None else str(subject_id)
    row = (entry_id, assignment_id, firm_id, duty.value, kind, subject, encode_json(detail), at, trace_id)
    # Written with the transaction's other entries, in one statement at its end.
    await outbox.add_later(connection, repository.append_records, row)
    event = DutyOfCareEntry.create(
        firm_id=firm_id,
        correlation_id=correlation_id,
        payload=DutyOfCareEntryPayload(
            entry_id=entry_id,
            assignment_id=assignment_id,
            duty=duty,
            kind=kind,
            subject_id=subject,
            detail=detail,
            recorded_at=at,
            trace_id=trace_id,
        ),
    )
    await outbox.add_event(
        connection, topic=firm_topic(firm_id, FirmEvent.DUTY_OF_CARE), key=str(assignment_id), event=event
    )
