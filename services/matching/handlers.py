"""matching's handler: `assignment.created` in, `match.proposed` out."""

import logging
import uuid

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from shared import outbox
from shared.contracts import (
    AssignmentCreated,
    CoachProposal,
    Location,
    MatchProposed,
    MatchProposedPayload,
    Unmatched,
    utc_now,
)
from shared.contracts.decoding import decode
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer
from shared.settings import ServiceSettings
from shared.topics import ASSIGNMENT_CREATED, MATCH_PROPOSED

from . import domain, repository
from .settings import MatchingSettings

log = logging.getLogger(__name__)

CONSUMER = "matching"
NO_CONSENT = Unmatched(subject="coach", reason_code="no_consent", message="the partner has not consented to matching")


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    consumer = Consumer(CONSUMER, pool, settings)
    leads_per_partner = settings.job_leads_per_partner if isinstance(settings, MatchingSettings) else 10

    async def propose_match(connection: Connection, message: KafkaMessage) -> None:
        created = decode(message.body, AssignmentCreated)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(created.event_id)):
            return
        proposal = await _proposal(connection, created, leads_per_partner)
        await repository.save_proposal(connection, proposal)
        event = MatchProposed.create(firm_id=created.firm_id, correlation_id=created.correlation_id, payload=proposal)
        await outbox.add_event(connection, topic=MATCH_PROPOSED, key=str(proposal.assignment_id), event=event)
        log.info("match proposed: coach=%s, %d job leads", proposal.coach is not None, len(proposal.job_leads))

    @broker.subscriber(
        ASSIGNMENT_CREATED,
        group_id="trailblazer-matching",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_assignment_created(message: KafkaMessage) -> None:
        await consumer.run(message, propose_match)


async def _proposal(connection: Connection, created: AssignmentCreated, limit: int) -> MatchProposedPayload:
    assignment = created.payload.assignment
    partner, host, now = assignment.partner, assignment.host_location, utc_now()
    if not partner.consent.matching:
        return MatchProposedPayload(
            assignment_id=assignment.assignment_id, coach=None, job_leads=[], unmatched=[NO_CONSENT], proposed_at=now
        )
    candidates = await repository.coaches_for(connection, host)
    ranked = domain.rank_coaches(candidates, partner.profile, host)
    coach = await _reserve_best(connection, ranked, assignment.assignment_id, host)
    leads = domain.rank_job_leads(
        await repository.open_job_leads_for(connection, host, now), partner.profile, host, now, limit=limit
    )
    unmatched = []
    if coach is None:
        unmatched.append(domain.why_no_coach(candidates, partner.profile, host))
    if not leads:
        unmatched.append(domain.no_leads(host))
    return MatchProposedPayload(
        assignment_id=assignment.assignment_id,
        coach=coach,
        job_leads=[domain.job_lead_proposal(lead) for lead in leads],
        unmatched=unmatched,
        proposed_at=now,
    )


async def _reserve_best(
    connection: Connection,
    ranked: list[domain.Scored[domain.CoachCandidate]],
    assignment_id: uuid.UUID,
    host: Location,
) -> CoachProposal | None:
    """The best-ranked coach whose place we can still take: another replica may have taken the
    last place since we read the catalog."""
    for scored in ranked:
        if await repository.reserve_coach(connection, scored.item.coach.coach_id, assignment_id):
            return domain.coach_proposal(scored, host)
    return None
