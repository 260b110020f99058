"""matching's handlers: `assignment.created` in, `match.proposed` out; the coach and job lead
catalogs in, `catalog.rejected` for refused records and `match.updated` for changed matches out."""

import logging
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import outbox
from shared.contracts import (
    AssignmentCreated,
    CatalogRejected,
    CatalogRejectedPayload,
    Coach,
    FieldError,
    JobLead,
    MatchProposed,
    MatchProposedPayload,
    RejectedRecord,
    UpdateReason,
    utc_now,
)
from shared.contracts.catalog_events import CATALOG_FIRM_ID
from shared.contracts.decoding import InvalidEvent, decode
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer, record_coordinates
from shared.settings import ServiceSettings
from shared.topics import ASSIGNMENT_CREATED, CATALOG_COACHES, CATALOG_JOB_LEADS, CATALOG_REJECTED, MATCH_PROPOSED

from . import repository, updates
from .catalog_cache import CatalogCache
from .matcher import match_partner
from .settings import MatchingSettings
from .unmatched import NO_CONSENT

log = logging.getLogger(__name__)

CONSUMER = "matching"
CATALOG_GROUP = "trailblazer-matching-catalog"


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    assert isinstance(settings, MatchingSettings)
    consumer = Consumer(CONSUMER, pool, settings)
    cache = CatalogCache()

    async def propose_match(connection: Connection, message: KafkaMessage) -> None:
        created = decode(message.body, AssignmentCreated)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(created.event_id)):
            return
        proposal = await _proposal(connection, cache, created, settings)
        await repository.save_proposal(connection, proposal)
        event = MatchProposed.create(firm_id=created.firm_id, correlation_id=created.correlation_id, payload=proposal)
        await outbox.add_event(connection, topic=MATCH_PROPOSED, key=str(proposal.assignment_id), event=event)
        log.info("match proposed: coach=%s, %d job leads", proposal.coach is not None, len(proposal.job_leads))

    async def coach_record(connection: Connection, message: KafkaMessage) -> None:
        key, value = _key_value(message)
        coach = await _validated(connection, message, "coach", Coach, key, value)
        if coach is not False:
            moved = await updates.coach_changed(connection, cache, settings, key or "", coach, utc_now())
            log.info("coach %s: %s, %d partners re-matched", key, "upserted" if coach else "removed", moved)

    async def lead_record(connection: Connection, message: KafkaMessage) -> None:
        key, value = _key_value(message)
        lead = await _validated(connection, message, "job_lead", JobLead, key, value)
        if lead is None:
            await repository.delete_job_lead(connection, key or "")
            await updates.leads_removed(
                connection, cache, settings, [key or ""], utc_now(), UpdateReason.JOB_LEADS_WITHDRAWN
            )
        elif lead is not False:
            told = await updates.lead_added(connection, cache, settings, lead, utc_now())
            log.info("job lead upserted, offered to %d open partners", told)

    consumer.subscribe(broker, ASSIGNMENT_CREATED, propose_match, group_id="trailblazer-matching")
    consumer.subscribe(broker, CATALOG_COACHES, coach_record, group_id=CATALOG_GROUP)
    consumer.subscribe(broker, CATALOG_JOB_LEADS, lead_record, group_id=CATALOG_GROUP)


def _key_value(message: KafkaMessage) -> tuple[str | None, bytes | None]:
    raw: Any = message.raw_message
    key = raw.key.decode("utf-8", "replace") if raw.key else None
    return key, raw.value


async def _validated(
    connection: Connection,
    message: KafkaMessage,
    catalog: str,
    model: type[Coach] | type[JobLead],
    key: str | None,
    value: bytes | None,
) -> Any:
    """The record, None for a tombstone, or False once a refusal has been queued: a catalog
    record is outside input, and a bad one must not stop the ones behind it."""
    try:
        if not key:
            raise InvalidEvent(
                [FieldError(field="$key", code="missing_key", message="catalog records are keyed by id")]
            )
        if value is None:
            return None
        record = decode(value, model)
        record_id = record.coach_id if isinstance(record, Coach) else record.job_lead_id
        if record_id != key:
            message_text = f"the record key '{key}' is not the record's id '{record_id}'"
            raise InvalidEvent([FieldError(field="$key", code="key_mismatch", message=message_text)])
        return record
    except InvalidEvent as invalid:
        await _reject(connection, message, catalog, key, invalid)
        return False


async def _reject(
    connection: Connection, message: KafkaMessage, catalog: str, key: str | None, invalid: InvalidEvent
) -> None:
    topic, partition, offset, _ = record_coordinates(message)
    payload = CatalogRejectedPayload(
        catalog="coach" if catalog == "coach" else "job_lead",
        key=key,
        errors=invalid.errors,
        record=RejectedRecord(topic=topic, partition=partition, offset=offset, key=key),
        rejected_at=utc_now(),
    )
    event = CatalogRejected.create(
        firm_id=CATALOG_FIRM_ID, correlation_id=f"{topic}:{partition}:{offset}", payload=payload
    )
    await outbox.add_event(connection, topic=CATALOG_REJECTED, key=key or "", event=event)
    log.warning("%s record refused: %s", catalog, invalid)


async def _proposal(
    connection: Connection, cache: CatalogCache, created: AssignmentCreated, settings: MatchingSettings
) -> MatchProposedPayload:
    assignment = created.payload.assignment
    now = utc_now()
    if not assignment.partner.consent.matching:
        return MatchProposedPayload(
            assignment_id=assignment.assignment_id, coach=None, job_leads=[], unmatched=[NO_CONSENT], proposed_at=now
        )
    partner = repository.OpenPartner(
        assignment_id=assignment.assignment_id,
        firm_id=created.firm_id,
        correlation_id=created.correlation_id,
        profile=assignment.partner.profile,
        host=assignment.host_location,
        start_date=assignment.start_date,
    )
    await repository.open_partner(connection, partner)
    await cache.refresh(connection)
    match = await match_partner(connection, cache, partner, settings, now)
    return MatchProposedPayload(
        assignment_id=assignment.assignment_id,
        coach=match.coach,
        job_leads=match.job_leads,
        unmatched=match.unmatched,
        proposed_at=now,
    )
