"""notifications' handlers: `assignment.created` and `match.proposed` in, one
`stakeholder.notified` per stakeholder out, once both are known."""

import logging
import uuid

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import outbox
from shared.contracts import (
    AssignmentCreated,
    MatchProposed,
    StakeholderNotified,
    StakeholderNotifiedPayload,
    utc_now,
)
from shared.contracts.decoding import decode
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer
from shared.settings import ServiceSettings
from shared.telemetry import current_trace_id
from shared.topics import ASSIGNMENT_CREATED, MATCH_PROPOSED, STAKEHOLDER_NOTIFIED

from . import domain, repository

log = logging.getLogger(__name__)

CONSUMER = "notifications"
GROUP = "trailblazer-notifications"


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    consumer = Consumer(CONSUMER, pool, settings)

    @broker.subscriber(
        ASSIGNMENT_CREATED, group_id=GROUP, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def on_assignment_created(message: KafkaMessage) -> None:
        await consumer.run(message, remember_assignment)

    @broker.subscriber(MATCH_PROPOSED, group_id=GROUP, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def on_match_proposed(message: KafkaMessage) -> None:
        await consumer.run(message, remember_match)


async def remember_assignment(connection: Connection, message: KafkaMessage) -> None:
    created = decode(message.body, AssignmentCreated)
    assignment_id = created.payload.assignment.assignment_id
    await repository.lock_assignment(connection, assignment_id)
    if await first_sighting(connection, consumer=CONSUMER, event_id=str(created.event_id)):
        await repository.save_assignment(connection, created)
        await inform_when_ready(connection, assignment_id)


async def remember_match(connection: Connection, message: KafkaMessage) -> None:
    proposed = decode(message.body, MatchProposed)
    assignment_id = proposed.payload.assignment_id
    await repository.lock_assignment(connection, assignment_id)
    if await first_sighting(connection, consumer=CONSUMER, event_id=str(proposed.event_id)):
        await repository.save_match(connection, proposed.payload)
        await inform_when_ready(connection, assignment_id)


async def inform_when_ready(connection: Connection, assignment_id: uuid.UUID) -> None:
    known = await repository.assignment_and_match(connection, assignment_id)
    if known is None:
        return  # the other event has not arrived yet; its handler will inform
    firm_id, correlation_id, created, match = known
    now = utc_now()
    for message in domain.duty_of_information(created.assignment, match, now):
        notification_id = uuid.uuid4()
        recorded = await repository.record_notification(
            connection,
            notification_id=notification_id,
            assignment_id=assignment_id,
            firm_id=firm_id,
            message=message,
            trace_id=current_trace_id(),
            at=now,
        )
        if not recorded:
            continue  # this stakeholder already has this content
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
                notified_at=now,
            ),
        )
        await outbox.add_event(connection, topic=STAKEHOLDER_NOTIFIED, key=str(assignment_id), event=event)
        log.info("%s informed (%s)", message.stakeholder.value, message.content_kind)
