"""Matching quality on the real broker and database (issue 15). The online path decides with what
the last batch knows: the batch writes its prices, a later partner for whom a coach's free place
is worth less than to the partners the batch saw waiting is told the place is kept
(`places_held`), and a partner it is worth more to gets it. A new job lead reaches every open
partner of its country it fits at once (`lead_added` works on the set)."""

import json
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from deploy.local.topic_reader import TopicReader
from services.matching.assignment.batch import rebalance
from services.matching.catalog.cache import CatalogCache
from services.matching.settings import MatchingSettings
from shared import topics
from shared.db import create_pool

from .matching_catalog import COACHES, JOB_LEADS, coach, job_lead, publish_requests, publish_to, unique
from .polling import eventually
from .test_match_lifecycle import (
    CANCELLED,
    about,
    assignment_of,
    cancellation,
    coaches_stored,
    equals,
    handled,
    load_of,
    partner_speaking,
    proposed,
    publish_firm,
    reservation,
    retire_earlier_coaches,
)

pytestmark = pytest.mark.integration
READ = (topics.MATCH_PROPOSED, topics.MATCH_UPDATED)


async def test_a_free_place_is_kept_for_the_partners_the_batch_saw_needing_it(local_stack: StackConfig) -> None:
    """One Albanian-speaking coach in Tirana with two places. Online, first come: a partner
    speaking Albanian at C1 and one at C2 take both; another C2 speaker gets none. The batch (plain
    score optimum) gives both places to the C2 speakers, and prices the coach at no less than what
    the C1 speaker would have scored. One C2 speaker cancels: a new partner speaking Albanian at
    B1 scores less than that price and is held back although the place is free; a new C2 speaker
    gets it."""
    kafka = local_stack
    coach_id = unique("coach-al")
    c1, c2, c2_later = (partner_speaking({"sq": level}, "Tirana", "AL") for level in ("C1", "C2", "C2"))
    db = await asyncpg.connect(local_stack.database_url("matching"))
    try:
        await retire_earlier_coaches(kafka, db, "coach-al")
        await publish_to(kafka, COACHES, [(coach_id, coach(coach_id, "sq", "Tirana", "AL", 2))])
        await eventually(lambda: coaches_stored(db, coach_id))
        async with TopicReader(kafka, *READ) as reader:
            await publish_requests(kafka, [c1])
            assert (await proposed(reader, c1))["coach"]["coach_id"] == coach_id
            await publish_requests(kafka, [c2])
            assert (await proposed(reader, c2))["coach"]["coach_id"] == coach_id
            await publish_requests(kafka, [c2_later])
            assert (await proposed(reader, c2_later))["coach"] is None

            # Two runs (say two nights): the online path averages the prices of the last two.
            pool = await create_pool(local_stack.database_url("matching"), size=1)
            try:
                for _ in range(2):
                    async with pool.acquire() as connection, connection.transaction():
                        await rebalance(connection, CatalogCache(), MatchingSettings(batch_fair_share=0.0))
            finally:
                await pool.close()
            assert await reservation(db, c1) is None, "the batch gives the places to the C2 speakers"
            assert await reservation(db, c2_later) == (coach_id, "proposed")
            prices = await db.fetch(
                "SELECT price FROM coach_prices WHERE coach_id = $1 ORDER BY run_id DESC LIMIT 2", coach_id
            )
            assert len(prices) == 2 and all(r["price"] > 0.5 for r in prices), "three partners wanted two places"

            cancel = cancellation(c2)
            await publish_firm(kafka, CANCELLED, cancel)
            await eventually(lambda: handled(db, cancel))
            assert await load_of(db, coach_id) == 1

            b1, c2_new = (partner_speaking({"sq": level}, "Tirana", "AL") for level in ("B1", "C2"))
            await publish_requests(kafka, [b1])
            held = await proposed(reader, b1)
            assert held["coach"] is None
            assert [u["reason_code"] for u in held["unmatched"] if u["subject"] == "coach"] == ["places_held"]
            assert await load_of(db, coach_id) == 1, "the place stays free"

            await publish_requests(kafka, [c2_new])
            assert (await proposed(reader, c2_new))["coach"]["coach_id"] == coach_id
            await eventually(lambda: equals(load_of(db, coach_id), 2))
    finally:
        await db.close()


async def test_a_new_lead_reaches_every_open_partner_it_fits_at_once(local_stack: StackConfig) -> None:
    """Six partners in Podgorica who may work, one who may not, one in Skopje. A job in Podgorica
    that needs work rights is announced to the six, each once with the lead added, and to nobody
    else."""
    kafka = local_stack
    lead_id = unique("lead-me")
    family = replace(SAMPLE_FAMILIES[0], host=("Podgorica", "ME"))
    fits = [assignment_request(family) for _ in range(6)]
    no_rights = assignment_request(replace(family, work_permit="dependent_permit_without_work_rights"))
    elsewhere = assignment_request(replace(family, host=("Skopje", "MK")))
    others = [no_rights, elsewhere]
    db = await asyncpg.connect(local_stack.database_url("matching"))
    try:
        async with TopicReader(kafka, *READ) as reader:
            await publish_requests(kafka, [*fits, *others])
            for request in (*fits, *others):
                await proposed(reader, request)

            lead: dict[str, Any] = {**job_lead(lead_id, "Podgorica", "ME"), "work_rights_required": True}
            await publish_to(kafka, JOB_LEADS, [(lead_id, lead)])
            for request in fits:
                [told] = await reader.wait_for(about(topics.MATCH_UPDATED, request))
                payload = told.value["payload"]
                assert payload["reason"] == "new_job_leads" and payload["added_job_lead_ids"] == [lead_id]
                assert lead_id in {j["job_lead_id"] for j in payload["job_leads"]}

            # The announcements left in the lead's transaction: the others' proposals are final for it.
            for request in others:
                held = await db.fetchval(
                    "SELECT proposal->'job_leads' @> $2::jsonb FROM proposals WHERE assignment_id = $1",
                    uuid.UUID(assignment_of(request)),
                    json.dumps([{"job_lead_id": lead_id}]),
                )
                assert held is False
                assert not reader.matching(about(topics.MATCH_UPDATED, request))
            assert all(len(reader.matching(about(topics.MATCH_UPDATED, r))) == 1 for r in fits), "told once"
    finally:
        await db.close()
