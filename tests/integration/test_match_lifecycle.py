"""The life cycle of a proposal on the real broker and database: a firm accepts the proposed
coach (and batch re-assignment then leaves that coach alone), an acceptance that cannot be
recorded is refused with a reason, closing an assignment frees the coach's place, and a job lead
that expires drops out of the proposal already sent, announced once."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest

from deploy.local import stack
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from deploy.local.topic_reader import Received, TopicReader
from services.matching import repository
from services.matching.assignment.batch import rebalance
from services.matching.catalog.cache import CatalogCache
from services.matching.settings import MatchingSettings
from shared import topics
from shared.contracts import JobLead
from shared.db import create_pool
from shared.topics import FirmEvent, firm_topic

from .conftest import SERVICE_ENV
from .matching_catalog import COACHES, FIRM, JOB_LEADS, coach, job_lead, publish_requests, publish_to, unique
from .polling import eventually

pytestmark = pytest.mark.integration
# The firm's own topics (a local firm: they come with the stack).
ACCEPTED, CANCELLED, WITHDRAWN, REFUSED = (
    firm_topic(FIRM, event)
    for event in (
        FirmEvent.MATCH_ACCEPTED,
        FirmEvent.ASSIGNMENT_CANCELLED,
        FirmEvent.PARTNER_CONSENT_WITHDRAWN,
        FirmEvent.MATCH_ACCEPTANCE_REFUSED,
    )
)
READ = (topics.MATCH_PROPOSED, topics.MATCH_UPDATED, REFUSED)
T = TypeVar("T")


# ---- what a firm and a provider publish ------------------------------------------------------


def partner_speaking(languages: dict[str, str], city: str, country: str) -> dict[str, Any]:
    family = replace(SAMPLE_FAMILIES[0], partner_languages=languages, host=(city, country))
    return assignment_request(family, firm_id=FIRM)


def firm_event(request: dict[str, Any], event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "firm_id": request["firm_id"],
        "correlation_id": request["correlation_id"],
        "payload": {"assignment_id": assignment_of(request), **payload},
    }


def acceptance(request: dict[str, Any], coach_id: str) -> dict[str, Any]:
    return firm_event(request, "match.accepted", {"coach_id": coach_id, "accepted_at": datetime.now(UTC).isoformat()})


def cancellation(request: dict[str, Any]) -> dict[str, Any]:
    return firm_event(
        request, "assignment.cancelled", {"reason": "assignment ended", "cancelled_at": datetime.now(UTC).isoformat()}
    )


def consent_withdrawal(request: dict[str, Any]) -> dict[str, Any]:
    return firm_event(request, "partner.consent_withdrawn", {"withdrawn_at": datetime.now(UTC).isoformat()})


def assignment_of(request: dict[str, Any]) -> str:
    assignment_id: str = request["payload"]["assignment_id"]
    return assignment_id


async def publish_firm(kafka: StackConfig, topic: str, *events: dict[str, Any]) -> None:
    await publish_to(kafka, topic, [(str(e["payload"]["assignment_id"]), e) for e in events])


def coach_in(coach_id: str, language: str, city: str, country: str, zone: str, **changes: Any) -> dict[str, Any]:
    return {**coach(coach_id, language, city, country, 1), "timezone": zone, **changes}


# ---- what the firm and the database see --------------------------------------------------------


def about(topic: str, request: dict[str, Any]) -> Callable[[Received], bool]:
    return lambda r: r.topic == topic and r.key == assignment_of(request)


async def proposed(reader: TopicReader, request: dict[str, Any]) -> dict[str, Any]:
    [record] = await reader.wait_for(about(topics.MATCH_PROPOSED, request))
    payload: dict[str, Any] = record.value["payload"]
    return payload


async def refusals(reader: TopicReader, request: dict[str, Any], count: int = 1) -> list[list[tuple[str, str]]]:
    found = await reader.wait_for(about(REFUSED, request), count=count)
    return [[(e["field"], e["code"]) for e in r.value["payload"]["errors"]] for r in found]


async def reservation(db: asyncpg.Connection, request: dict[str, Any]) -> tuple[str, str] | None:
    row = await db.fetchrow(
        "SELECT coach_id, status FROM coach_reservations WHERE assignment_id = $1", uuid.UUID(assignment_of(request))
    )
    return None if row is None else (row["coach_id"], row["status"])


async def load_of(db: asyncpg.Connection, coach_id: str) -> int:
    load: int = await db.fetchval("SELECT active_partners FROM coaches WHERE coach_id = $1", coach_id)
    return load


async def handled(db: asyncpg.Connection, event: dict[str, Any]) -> bool:
    inbox_id = f"{event['event_type']}:{event['event_id']}"
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1)", inbox_id))


# ---- tests ----------------------------------------------------------------------------------


async def equals(value: Awaitable[T], expected: T) -> bool:
    return await value == expected


async def coaches_stored(db: asyncpg.Connection, *coach_ids: str) -> bool:
    stored = await db.fetchval("SELECT count(*) FROM coaches WHERE coach_id = ANY($1)", list(coach_ids))
    return bool(stored == len(coach_ids))


async def retire_earlier_coaches(kafka: StackConfig, db: asyncpg.Connection, prefix: str) -> None:
    """A stack directory kept between sessions still holds the coaches of an earlier run: their
    providers remove them, so that this run's partners meet only this run's coaches."""
    rows = await db.fetch("SELECT coach_id FROM coaches WHERE coach_id LIKE $1 AND NOT deleted", f"{prefix}-%")
    earlier = [r["coach_id"] for r in rows]
    if earlier:
        await publish_to(kafka, COACHES, [(coach_id, None) for coach_id in earlier])

        async def retired() -> bool:
            left = await db.fetchval("SELECT count(*) FROM coaches WHERE coach_id = ANY($1) AND NOT deleted", earlier)
            return bool(left == 0)

        await eventually(retired)


async def test_an_accepted_coach_stays_and_a_wrong_acceptance_is_refused(local_stack: StackConfig) -> None:
    """P1 speaks Estonian and Latvian, P2 only Estonian; each coach has one place. Online, P1
    gets the better rated Estonian coach and P2 nobody; a batch re-assignment would give P1
    the Latvian coach and P2 the Estonian one, unless P1 accepted theirs."""
    kafka = local_stack
    estonian, latvian = unique("coach-ee"), unique("coach-lv")
    first = partner_speaking({"et": "C2", "lv": "C2"}, "Tallinn", "EE")
    second = partner_speaking({"et": "C2"}, "Tallinn", "EE")
    db = await asyncpg.connect(local_stack.database_url("matching"))
    try:
        await retire_earlier_coaches(kafka, db, "coach-ee")
        await retire_earlier_coaches(kafka, db, "coach-lv")
        await publish_to(
            kafka,
            COACHES,
            [
                (estonian, coach_in(estonian, "et", "Tallinn", "EE", "Europe/Tallinn", rating=5.0)),
                (latvian, coach_in(latvian, "lv", "Tallinn", "EE", "Europe/Tallinn", rating=3.0)),
            ],
        )
        await eventually(lambda: coaches_stored(db, estonian, latvian))
        async with TopicReader(kafka, *READ) as reader:
            await publish_requests(kafka, [first])
            assert (await proposed(reader, first))["coach"]["coach_id"] == estonian
            await publish_requests(kafka, [second])
            assert (await proposed(reader, second))["coach"] is None

            # A record that is no acceptance is refused and does not hold up the one behind it.
            await publish_to(kafka, ACCEPTED, [(assignment_of(first), {"coach_id": estonian})])
            await publish_firm(kafka, ACCEPTED, acceptance(first, estonian))
            await eventually(lambda: equals(reservation(db, first), (estonian, "accepted")))
            [malformed] = await refusals(reader, first)
            assert ("event_id", "missing_field") in malformed and ("coach_id", "unknown_field") in malformed

            await publish_firm(kafka, ACCEPTED, acceptance(first, latvian), acceptance(second, estonian))
            assert (await refusals(reader, first, count=2))[1] == [("payload.coach_id", "coach_not_proposed")]
            assert await refusals(reader, second) == [[("payload.coach_id", "no_coach_proposed")]]

        pool = await create_pool(local_stack.database_url("matching"), size=1)
        try:
            async with pool.acquire() as connection, connection.transaction():
                await rebalance(connection, CatalogCache(), MatchingSettings())
        finally:
            await pool.close()
        assert await reservation(db, first) == (estonian, "accepted"), "batch never moves an accepted coach"
        assert await reservation(db, second) is None, "the accepted coach's place stays taken"
        assert await load_of(db, estonian) == 1
    finally:
        await db.close()


async def test_closing_an_assignment_frees_its_coach_place_once(local_stack: StackConfig) -> None:
    """Cancelled (after acceptance) or consent withdrawn (while proposed): the reservation goes,
    the coach's load drops by one, and the partner is no longer open; redelivered and repeated
    closings change nothing, and a later acceptance is refused as closed."""
    kafka = local_stack
    coach_id = unique("coach-si")
    cancelled = partner_speaking({"sl": "C2"}, "Ljubljana", "SI")
    withdrawn = partner_speaking({"sl": "C2"}, "Ljubljana", "SI")
    db = await asyncpg.connect(local_stack.database_url("matching"))
    try:
        await retire_earlier_coaches(kafka, db, "coach-si")
        await publish_to(
            kafka,
            COACHES,
            [(coach_id, {**coach_in(coach_id, "sl", "Ljubljana", "SI", "Europe/Ljubljana"), "capacity": 2})],
        )
        await eventually(lambda: coaches_stored(db, coach_id))
        async with TopicReader(kafka, *READ) as reader:
            await publish_requests(kafka, [cancelled, withdrawn])
            for request in (cancelled, withdrawn):
                assert (await proposed(reader, request))["coach"]["coach_id"] == coach_id
            assert await load_of(db, coach_id) == 2
            await publish_firm(kafka, ACCEPTED, acceptance(cancelled, coach_id))
            await eventually(lambda: equals(reservation(db, cancelled), (coach_id, "accepted")))

            cancel = cancellation(cancelled)
            await publish_firm(kafka, CANCELLED, cancel)
            await eventually(lambda: handled(db, cancel))
            assert await reservation(db, cancelled) is None
            assert await load_of(db, coach_id) == 1

            # A withdrawal, its redelivery and another withdrawal (the same partition, so handled
            # in this order), then a cancellation of the closed assignment: one place freed.
            withdrawal, again = consent_withdrawal(withdrawn), consent_withdrawal(withdrawn)
            await publish_firm(kafka, WITHDRAWN, withdrawal, withdrawal, again)
            await eventually(lambda: handled(db, again))
            late_cancel = cancellation(withdrawn)
            await publish_firm(kafka, CANCELLED, late_cancel)
            await eventually(lambda: handled(db, late_cancel))
            assert await reservation(db, withdrawn) is None
            assert await load_of(db, coach_id) == 0, "each place is freed once"
            open_partners = await db.fetchval(
                "SELECT count(*) FROM open_partners WHERE assignment_id = ANY($1)",
                [uuid.UUID(assignment_of(r)) for r in (cancelled, withdrawn)],
            )
            assert open_partners == 0

            await publish_firm(kafka, ACCEPTED, acceptance(withdrawn, coach_id))
            assert await refusals(reader, withdrawn) == [[("payload.assignment_id", "assignment_closed")]]
    finally:
        await db.close()


async def test_an_expired_lead_drops_out_of_the_proposal_sent_announced_once(local_stack: StackConfig) -> None:
    """A second matching replica sweeps every half second beside the first: the partner whose
    proposal held the lead hears once that it expired."""
    kafka = local_stack
    stack.start_service(local_stack, "matching", 1, extra_env={**SERVICE_ENV, "TRAILBLAZER_LEAD_EXPIRY_SWEEP_S": "0.5"})
    try:
        lead_id = unique("lead-lt")
        lead = job_lead(lead_id, "Vilnius", "LT")
        partner = partner_speaking({"lt": "C2"}, "Vilnius", "LT")
        async with TopicReader(kafka, *READ) as reader:
            await publish_to(kafka, JOB_LEADS, [(lead_id, lead)])
            await publish_requests(kafka, [partner])

            def holds_lead(record: Received) -> bool:
                if record.key != assignment_of(partner) or record.topic == REFUSED:
                    return False
                return lead_id in {j["job_lead_id"] for j in record.value["payload"]["job_leads"]}

            await reader.wait_for(holds_lead)  # proposed with it, or told of it as a new lead

            expired_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            await publish_to(kafka, JOB_LEADS, [(lead_id, {**lead, "expires_at": expired_at})])

            def expiry_of(record: Received) -> bool:
                return about(topics.MATCH_UPDATED, partner)(record) and (
                    record.value["payload"]["reason"] == "job_leads_expired"
                )

            [update] = await reader.wait_for(expiry_of)
            payload = update.value["payload"]
            assert lead_id in payload["removed_job_lead_ids"]
            assert lead_id not in {j["job_lead_id"] for j in payload["job_leads"]}
            told_why = any(u["subject"] == "job_leads" for u in payload["unmatched"])
            assert bool(payload["job_leads"]) != told_why, "leads left, or the reason why none is"
            await asyncio.sleep(3)  # several more sweeps, by either replica
            assert len(reader.matching(expiry_of)) == 1, "announced once"
    finally:
        stack.kill_service(local_stack, "matching", 1, signal=15)


async def test_a_lead_re_sent_already_expired_leaves_every_cache(local_stack: StackConfig) -> None:
    """A provider may re-send a lead with an expiry in the past. A replica's cache that read the
    open version before must drop it on its next refresh, or it keeps proposing it to newcomers."""
    lead = JobLead.model_validate(job_lead(unique("lead-ee"), "Tallinn", "EE"))
    pool = await create_pool(local_stack.database_url("matching"), size=1)
    try:
        cache = CatalogCache()
        async with pool.acquire() as connection:
            await repository.upsert_job_leads(connection, [lead])
            await cache.refresh(connection)
            assert lead.job_lead_id in cache.leads.rows
            expired = lead.model_copy(update={"expires_at": datetime.now(UTC) - timedelta(minutes=1)})
            await repository.upsert_job_leads(connection, [expired])
            await cache.refresh(connection)
            assert lead.job_lead_id not in cache.leads.rows
    finally:
        await pool.close()
