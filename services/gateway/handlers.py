"""gateway's consumers: what the services answered, projected into what a firm can ask over HTTP
(an assignment's status, its duty-of-information record). Each event once (inbox)."""

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from shared.contracts import (
    AssignmentCancelled,
    AssignmentCreated,
    AssignmentRejected,
    DeliveryRecorded,
    DeliveryStatus,
    MatchAcceptanceRefused,
    MatchProposed,
    MatchUpdated,
    PartnerConsentWithdrawn,
)
from shared.contracts.decoding import decode
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer
from shared.settings import ServiceSettings
from shared.topics import (
    ASSIGNMENT_CANCELLED,
    ASSIGNMENT_CREATED,
    ASSIGNMENT_REJECTED,
    DUTY_OF_INFORMATION,
    MATCH_ACCEPTANCE_REFUSED,
    MATCH_PROPOSED,
    MATCH_UPDATED,
    PARTNER_CONSENT_WITHDRAWN,
)

from . import repository

CONSUMER = "gateway"
GROUP = "trailblazer-gateway"
# A delivery informed its stakeholder once the SMTP server took it or the firm acknowledged it.
_INFORMED = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}

Project = Callable[[Connection, Any], Awaitable[None]]


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    consumer = Consumer(CONSUMER, pool, settings)
    for topic, contract, project in (
        (ASSIGNMENT_CREATED, AssignmentCreated, created),
        (ASSIGNMENT_REJECTED, AssignmentRejected, rejected),
        (MATCH_PROPOSED, MatchProposed, proposed),
        (MATCH_UPDATED, MatchUpdated, updated),
        (MATCH_ACCEPTANCE_REFUSED, MatchAcceptanceRefused, refused),
        (ASSIGNMENT_CANCELLED, AssignmentCancelled, cancelled),
        (PARTNER_CONSENT_WITHDRAWN, PartnerConsentWithdrawn, withdrawn),
        (DUTY_OF_INFORMATION, DeliveryRecorded, delivered),
    ):
        consumer.subscribe(broker, topic, _once(contract, project), group_id=GROUP)


def _once(contract: Any, project: Project) -> Callable[[Connection, KafkaMessage], Awaitable[None]]:
    async def effect(connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, contract)
        if await first_sighting(connection, consumer=CONSUMER, event_id=str(event.event_id)):
            await project(connection, event)

    return effect


async def created(connection: Connection, event: AssignmentCreated) -> None:
    assignment_id = event.payload.assignment.assignment_id
    await repository.accepted(connection, assignment_id, event.firm_id, event.correlation_id, event.payload.accepted_at)


async def rejected(connection: Connection, event: AssignmentRejected) -> None:
    if event.payload.assignment_id is not None:  # a record that did not parse names no assignment
        await repository.rejected(connection, event.payload.assignment_id, event.firm_id, list(event.payload.errors))


async def proposed(connection: Connection, event: MatchProposed) -> None:
    p = event.payload
    await repository.matched(
        connection,
        p.assignment_id,
        event.firm_id,
        coach_id=p.coach.coach_id if p.coach else None,
        job_leads=len(p.job_leads),
        unmatched=[u.reason_code for u in p.unmatched],
        at=p.proposed_at,
    )


async def updated(connection: Connection, event: MatchUpdated) -> None:
    p = event.payload
    await repository.matched(
        connection,
        p.assignment_id,
        event.firm_id,
        coach_id=p.coach.coach_id if p.coach else None,
        job_leads=len(p.job_leads),
        unmatched=[u.reason_code for u in p.unmatched],
        at=p.updated_at,
    )


async def refused(connection: Connection, event: MatchAcceptanceRefused) -> None:
    if event.payload.assignment_id is not None:
        errors = list(event.payload.errors)
        await repository.acceptance_refused(connection, event.payload.assignment_id, event.firm_id, errors)


async def cancelled(connection: Connection, event: AssignmentCancelled) -> None:
    await repository.cancelled(connection, event.payload.assignment_id, event.firm_id, event.payload.cancelled_at)


async def withdrawn(connection: Connection, event: PartnerConsentWithdrawn) -> None:
    await repository.consent_withdrawn(
        connection, event.payload.assignment_id, event.firm_id, event.payload.withdrawn_at
    )


async def delivered(connection: Connection, event: DeliveryRecorded) -> None:
    record = event.payload.model_dump()
    await repository.delivery(connection, event.firm_id, record, event.payload.status in _INFORMED)
