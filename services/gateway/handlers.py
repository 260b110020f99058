"""gateway's consumers: what the services answered, projected into what a firm can ask over HTTP
(an assignment's status, its duty-of-information record). Each event once (inbox). What comes from
a firm's own topics counts for that firm only: the firm is the topic's."""

from collections.abc import Awaitable, Callable
from datetime import datetime
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
    MatchProposedPayload,
    MatchUpdated,
    MatchUpdatedPayload,
    PartnerConsentWithdrawn,
)
from shared.contracts.decoding import decode
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer, firm_of_record
from shared.settings import ServiceSettings
from shared.topics import ASSIGNMENT_CREATED, MATCH_PROPOSED, MATCH_UPDATED, FirmEvent

from . import repository

CONSUMER = "gateway"
GROUP = "trailblazer-gateway"
# A delivery informed its stakeholder once the SMTP server took it or the firm acknowledged it.
_INFORMED = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED}

Project = Callable[[Connection, Any], Awaitable[None]]
Effect = Callable[[Connection, KafkaMessage], Awaitable[None]]


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    consumer = Consumer(CONSUMER, pool, settings)
    consumer.subscribe_each(
        broker,
        {
            ASSIGNMENT_CREATED: _once(AssignmentCreated, created),
            MATCH_PROPOSED: _once(MatchProposed, proposed),
            MATCH_UPDATED: _once(MatchUpdated, updated),
        },
        group_id=GROUP,
    )
    # The services' answers on every firm's outbound topics, and the firm's own stops on its
    # inbound ones: one consumer, by pattern.
    consumer.subscribe_tenant_events(
        broker,
        {
            FirmEvent.ASSIGNMENT_REJECTED: _once(AssignmentRejected, rejected, of_firm=True),
            FirmEvent.MATCH_ACCEPTANCE_REFUSED: _once(MatchAcceptanceRefused, refused, of_firm=True),
            FirmEvent.ASSIGNMENT_CANCELLED: _once(AssignmentCancelled, cancelled, of_firm=True),
            FirmEvent.PARTNER_CONSENT_WITHDRAWN: _once(PartnerConsentWithdrawn, withdrawn, of_firm=True),
            FirmEvent.DUTY_OF_INFORMATION: _once(DeliveryRecorded, delivered, of_firm=True),
        },
        group_id=GROUP,
    )


def _once(contract: Any, project: Project, *, of_firm: bool = False) -> Effect:
    async def effect(connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, contract)
        if of_firm and event.firm_id != firm_of_record(message):
            return  # names another firm than its topic's: the services refuse it, nothing to show
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
    await _matched(connection, event.firm_id, event.payload, event.payload.proposed_at)


async def updated(connection: Connection, event: MatchUpdated) -> None:
    await _matched(connection, event.firm_id, event.payload, event.payload.updated_at)


async def _matched(
    connection: Connection, firm_id: str, p: MatchProposedPayload | MatchUpdatedPayload, at: datetime
) -> None:
    await repository.matched(
        connection,
        p.assignment_id,
        firm_id,
        coach_id=p.coach.coach_id if p.coach else None,
        job_leads=len(p.job_leads),
        unmatched=[u.reason_code for u in p.unmatched],
        at=at,
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
