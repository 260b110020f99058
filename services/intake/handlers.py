"""intake's handlers: a firm's request in (from the firm's own topic, which says who the firm is),
`assignment.created` or the firm's own `assignment.rejected` out."""

import logging
from datetime import date

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import outbox
from shared.contracts import (
    AssignmentCreated,
    AssignmentCreatedPayload,
    AssignmentRejected,
    AssignmentRejectedPayload,
    AssignmentRequested,
    FieldError,
    RejectedRecord,
    utc_now,
)
from shared.contracts.decoding import InvalidEvent, decode, firm_mismatch
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer, add_dead_letter, firm_of_record, record_coordinates
from shared.settings import ServiceSettings
from shared.topics import ASSIGNMENT_CREATED, FirmEvent, firm_pattern, firm_topic

from . import domain, repository

log = logging.getLogger(__name__)

CONSUMER = "intake"


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    consumer = Consumer(CONSUMER, pool, settings)

    consumer.subscribe_pattern(
        broker, firm_pattern(FirmEvent.ASSIGNMENT_REQUESTED), accept_or_reject, group_id="trailblazer-intake"
    )


async def accept_or_reject(connection: Connection, message: KafkaMessage) -> None:
    topic, partition, offset, key = record_coordinates(message)
    try:
        request = decode(message.body, AssignmentRequested)
    except InvalidEvent as invalid:
        # Nothing parsed to carry an event id: the record's position identifies it instead.
        if await first_sighting(connection, consumer=CONSUMER, event_id=f"record:{topic}:{partition}:{offset}"):
            await _reject(connection, message, invalid.errors, request=None)
        return
    firm_id = firm_of_record(message)
    if request.firm_id != firm_id:
        # Another firm's name on this firm's topic: refused, and nothing is created for either
        # (checked before the inbox: a copy of another firm's request is refused, not skipped).
        if await first_sighting(connection, consumer=CONSUMER, event_id=f"record:{topic}:{partition}:{offset}"):
            await _reject(connection, message, [firm_mismatch(firm_id)], request=request)
        return
    if not await first_sighting(connection, consumer=CONSUMER, event_id=str(request.event_id)):
        # A redelivery changes nothing; the same event id on another assignment is refused, once.
        reused = not await repository.handled_request(connection, request)
        if reused and await first_sighting(
            connection, consumer=CONSUMER, event_id=f"record:{topic}:{partition}:{offset}"
        ):
            await _reject(connection, message, [_reused_event_id(request)], request=request)
        return
    errors = domain.review(request, record_key=key, today=date.today())
    if not errors and not await repository.save_assignment(connection, request):
        errors = [_duplicate(request)]
    if errors:
        await _reject(connection, message, errors, request=request)
        return
    created = AssignmentCreated.create(
        firm_id=firm_id,
        correlation_id=request.correlation_id,
        payload=AssignmentCreatedPayload(assignment=request.payload, accepted_at=utc_now()),
    )
    await outbox.add_event(connection, topic=ASSIGNMENT_CREATED, key=str(request.payload.assignment_id), event=created)
    log.info("assignment accepted (event %s)", request.event_id)


async def _reject(
    connection: Connection,
    message: KafkaMessage,
    errors: list[FieldError],
    *,
    request: AssignmentRequested | None,
) -> None:
    topic, partition, offset, key = record_coordinates(message)
    firm_id = firm_of_record(message)  # the answer goes to the sender, whoever the body names
    rejection = AssignmentRejected.create(
        firm_id=firm_id,
        correlation_id=request.correlation_id if request else f"{topic}:{partition}:{offset}",
        payload=AssignmentRejectedPayload(
            assignment_id=request.payload.assignment_id if request else None,
            request_event_id=request.event_id if request else None,
            errors=errors,
            record=RejectedRecord(topic=topic, partition=partition, offset=offset, key=key),
        ),
    )
    await repository.save_rejection(connection, rejection)
    await outbox.add_event(
        connection,
        topic=firm_topic(firm_id, FirmEvent.ASSIGNMENT_REJECTED),
        key=key or str(rejection.event_id),
        event=rejection,
    )
    codes = "; ".join(f"{error.field}={error.code}" for error in errors)
    # The firm has its answer; operators also get the original record, to replay once fixed.
    await add_dead_letter(connection, message, consumer=CONSUMER, reason=f"rejected: {codes}")
    # Codes and paths only: the messages may quote what the firm sent.
    log.warning("request rejected at %s/%d/%d: %s", topic, partition, offset, codes)


def _duplicate(request: AssignmentRequested) -> FieldError:
    return FieldError(
        field="payload.assignment_id",
        code="duplicate_assignment",
        message=f"assignment {request.payload.assignment_id} already exists; updates are not part of v1",
    )


def _reused_event_id(request: AssignmentRequested) -> FieldError:
    return FieldError(
        field="event_id",
        code="duplicate_event_id",
        message=f"event id {request.event_id} was already used for another assignment; every event needs a new id",
    )
