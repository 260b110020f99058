"""matching's handlers: `assignment.created` in, `match.proposed` out; each provider's coach and
job lead catalog in (from its own topics, which say who the provider is), the provider's own
`catalog.rejected` for refused records and `match.updated` for changed matches out; each firm's
`match.accepted` in from its own topic (its own `match.acceptance-refused` out when it cannot be
recorded), and its `assignment.cancelled` / `partner.consent-withdrawn`, which free the coach's
place."""

import logging
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import outbox
from shared.contracts import (
    AssignmentCancelled,
    AssignmentCreated,
    CatalogRejected,
    CatalogRejectedPayload,
    Coach,
    FieldError,
    JobLead,
    MatchAccepted,
    MatchProposed,
    MatchProposedPayload,
    PartnerConsentWithdrawn,
    RejectedRecord,
    UpdateReason,
    utc_now,
)
from shared.contracts.catalog_events import CATALOG_FIRM_ID
from shared.contracts.decoding import FIRM_MISMATCH, UNKNOWN_ASSIGNMENT, InvalidEvent, decode, ensure_sender
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer, add_dead_letter, failure_reason, firm_of_record, record_coordinates
from shared.settings import ServiceSettings
from shared.telemetry import span
from shared.topics import (
    ASSIGNMENT_CREATED,
    MATCH_PROPOSED,
    FirmEvent,
    ProviderEvent,
    provider_of_topic,
    provider_topic,
)

from . import repository
from .assignment.matcher import match_partner
from .catalog.cache import CatalogCache
from .lifecycle import proposals, updates
from .ranking.unmatched import NO_CONSENT
from .settings import MatchingSettings

log = logging.getLogger(__name__)

CONSUMER = "matching"
CATALOG_GROUP = "trailblazer-matching-catalog"
# The firm's word on an assignment after the proposal: acceptance, cancellation, consent withdrawn.
LIFECYCLE_GROUP = "trailblazer-matching-lifecycle"
# A provider's record for a coach or job lead that another provider owns (catalog_owners).
PROVIDER_MISMATCH = "provider_mismatch"


def register(
    broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings, *, cache: CatalogCache | None = None
) -> None:
    assert isinstance(settings, MatchingSettings)
    consumer = Consumer(CONSUMER, pool, settings, lock_keys=repository.lock_assignments)
    cache = cache or CatalogCache()

    async def propose_match(connection: Connection, message: KafkaMessage) -> None:
        created = decode(message.body, AssignmentCreated)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(created.event_id)):
            return
        if await proposals.closed_before_match(connection, created.payload.assignment.assignment_id, created.firm_id):
            log.info("assignment closed before it was matched: nothing proposed")
            return
        proposal = await _proposal(connection, cache, created, settings)
        # Nothing reads it before the batch commits: written with the batch's others, in one statement.
        await outbox.add_later(connection, repository.save_first_proposals, (proposal, created.firm_id))
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
            shard = await repository.delete_job_lead(connection, key or "")
            if shard is not None:
                await repository.lock_lead_shard(connection, shard)
            await updates.leads_removed(
                connection, cache, settings, [key or ""], utc_now(), UpdateReason.JOB_LEADS_WITHDRAWN
            )
        elif lead is not False:
            told = await updates.lead_added(connection, cache, settings, lead, utc_now())
            log.info("job lead upserted, offered to %d open partners", told)

    consumer.subscribe(broker, ASSIGNMENT_CREATED, propose_match, group_id="trailblazer-matching")
    # Every provider's catalog, and every firm's word on its assignments: one consumer each, by
    # pattern (a provider or firm onboarded later is found at the next metadata refresh).
    # Catalog records one per transaction: each change re-ranks partners from the in-memory catalog,
    # which holds committed rows only, so a change must be committed before the next one re-ranks
    # (in one batch, a lead withdrawn after another was added re-ranked without the added one).
    consumer.subscribe_tenant_events(
        broker,
        {ProviderEvent.CATALOG_COACHES: coach_record, ProviderEvent.CATALOG_JOB_LEADS: lead_record},
        group_id=CATALOG_GROUP,
        max_records=1,
    )
    consumer.subscribe_tenant_events(
        broker,
        {
            FirmEvent.MATCH_ACCEPTED: accept_match,
            FirmEvent.ASSIGNMENT_CANCELLED: close_cancelled,
            FirmEvent.PARTNER_CONSENT_WITHDRAWN: close_withdrawn,
        },
        group_id=LIFECYCLE_GROUP,
    )


async def accept_match(connection: Connection, message: KafkaMessage) -> None:
    """A firm's acceptance is outside input, and the firm is the topic's: a record that does not
    parse, whose key is not its assignment, or that names another firm, is refused on the firm's
    own topic (and dead-lettered for operators); one that cannot be recorded is refused with the
    reason (another firm's assignment is an unknown one, dead-lettered too); none of them stops
    the records behind it."""
    topic, partition, offset, key = record_coordinates(message)
    firm_id = firm_of_record(message)
    record = RejectedRecord(topic=topic, partition=partition, offset=offset, key=key)
    accepted: MatchAccepted | None = None
    try:
        accepted = decode(message.body, MatchAccepted)
        ensure_sender(accepted.firm_id, firm_id)
        malformed = proposals.key_mismatch(key, accepted)
    except InvalidEvent as invalid:
        malformed = invalid.errors
    if malformed:
        # Keyed by the record's position: a record that did not parse has no event id, and a copy
        # of another firm's acceptance must not take that firm's event id.
        if await first_sighting(connection, consumer=CONSUMER, event_id=f"record:{topic}:{partition}:{offset}"):
            await proposals.refuse(connection, record, malformed, accepted=accepted, firm_id=firm_id)
            await add_dead_letter(
                connection, message, consumer=CONSUMER, reason=failure_reason(InvalidEvent(malformed))
            )
        return
    assert accepted is not None
    if not await first_sighting(connection, consumer=CONSUMER, event_id=f"match.accepted:{accepted.event_id}"):
        return
    if errors := await proposals.accept(connection, accepted):
        await proposals.refuse(connection, record, errors, accepted=accepted, firm_id=firm_id)
        if any(e.code in (UNKNOWN_ASSIGNMENT, FIRM_MISMATCH) for e in errors):
            await add_dead_letter(connection, message, consumer=CONSUMER, reason=f"refused: {_codes(errors)}")


async def close_cancelled(connection: Connection, message: KafkaMessage) -> None:
    """A record that does not parse, names another firm than its topic's or another firm's
    assignment is dead-lettered with the reason (firms have no refusal topic for closes)."""
    event = decode(message.body, AssignmentCancelled)
    ensure_sender(event.firm_id, firm_of_record(message))
    if await first_sighting(connection, consumer=CONSUMER, event_id=f"assignment.cancelled:{event.event_id}"):
        await _close(
            connection,
            event.payload.assignment_id,
            event.firm_id,
            proposals.ClosedReason.CANCELLED,
            event.payload.cancelled_at,
        )


async def close_withdrawn(connection: Connection, message: KafkaMessage) -> None:
    event = decode(message.body, PartnerConsentWithdrawn)
    ensure_sender(event.firm_id, firm_of_record(message))
    if await first_sighting(connection, consumer=CONSUMER, event_id=f"partner.consent_withdrawn:{event.event_id}"):
        await _close(
            connection,
            event.payload.assignment_id,
            event.firm_id,
            proposals.ClosedReason.CONSENT_WITHDRAWN,
            event.payload.withdrawn_at,
        )


async def _close(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, reason: proposals.ClosedReason, at: datetime
) -> None:
    freed = await proposals.close(connection, assignment_id, firm_id=firm_id, reason=reason, closed_at=at)
    log.info("assignment %s closed (%s); coach place freed: %s", assignment_id, reason.value, freed is not None)


def _codes(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}={e.code}" for e in errors)


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
    record is outside input, and a bad one must not stop the ones behind it. The provider is the
    topic's; a record for a coach or job lead another provider owns is refused."""
    provider_id = provider_of_topic(record_coordinates(message)[0])
    try:
        if not key:
            raise InvalidEvent(
                [FieldError(field="$key", code="missing_key", message="catalog records are keyed by id")]
            )
        record = None if value is None else decode(value, model)
        if record is not None:
            record_id = record.coach_id if isinstance(record, Coach) else record.job_lead_id
            if record_id != key:
                message_text = f"the record key '{key}' is not the record's id '{record_id}'"
                raise InvalidEvent([FieldError(field="$key", code="key_mismatch", message=message_text)])
        if await repository.claim_catalog_record(connection, catalog, key, provider_id) != provider_id:
            what = "coach" if catalog == "coach" else "job lead"
            message_text = f"{what} '{key}' belongs to another provider: only its own provider may change or remove it"
            raise InvalidEvent([FieldError(field="$key", code=PROVIDER_MISMATCH, message=message_text)])
        return record
    except InvalidEvent as invalid:
        await _reject(connection, message, catalog, key, invalid, provider_id)
        return False


async def _reject(
    connection: Connection,
    message: KafkaMessage,
    catalog: str,
    key: str | None,
    invalid: InvalidEvent,
    provider_id: str,
) -> None:
    """Answer the provider on its own `catalog.rejected` topic."""
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
    rejected = provider_topic(provider_id, ProviderEvent.CATALOG_REJECTED)
    await outbox.add_event(connection, topic=rejected, key=key or "", event=event)
    if any(e.code == PROVIDER_MISMATCH for e in invalid.errors):
        await add_dead_letter(connection, message, consumer=CONSUMER, reason=f"refused: {_codes(invalid.errors)}")
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
    with span("matching.load"):  # the partner opened (its leads held shared), the catalog cache caught up
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
