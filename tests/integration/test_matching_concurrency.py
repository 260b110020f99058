"""No coach over capacity, also when many assignments for the same scarce coach arrive at once
on several partitions and two matching processes race for the last places."""

import asyncpg
import pytest

from deploy.local import stack
from deploy.local.config import StackConfig
from deploy.local.services import service_ready
from deploy.local.topic_reader import TopicReader
from shared import topics

from .conftest import SERVICE_ENV
from .matching_catalog import (
    COACHES,
    coach,
    partner_request,
    publish_requests,
    publish_to,
    second_replica_consumes,
    unique,
)
from .polling import eventually

pytestmark = pytest.mark.integration
PARTNERS = 24
CAPACITY = 5


async def test_two_matching_processes_never_overbook_a_coach(local_stack: StackConfig) -> None:
    stack.start_services(local_stack, replicas={"matching": 2}, extra_env={"matching": SERVICE_ENV})
    try:
        kafka = local_stack
        await eventually(
            lambda: second_replica_consumes(local_stack), "the second replica took partitions", timeout_s=90
        )
        coach_id = unique("coach-mt")
        await publish_to(kafka, COACHES, [(coach_id, coach(coach_id, "mt", "Valletta", "MT", CAPACITY))])
        await eventually(lambda: _coach_known(local_stack, coach_id), "the coach in matching's catalog before the rush")
        requests = [partner_request("mt", "Valletta", "MT") for _ in range(PARTNERS)]
        ids = {r["payload"]["assignment_id"] for r in requests}
        async with TopicReader(kafka, topics.MATCH_PROPOSED) as reader:
            await publish_requests(kafka, requests)
            matches = await reader.wait_for(lambda r: r.key in ids, count=PARTNERS)
        coached = [m for m in matches if m.value["payload"]["coach"] is not None]
        assert len(coached) == CAPACITY
        assert {m.value["payload"]["coach"]["coach_id"] for m in coached} == {coach_id}
        reasons = {m.value["payload"]["unmatched"][0]["reason_code"] for m in matches if m not in coached}
        assert reasons == {"no_capacity"}
        connection = await asyncpg.connect(local_stack.database_url("matching"))
        try:
            load = await connection.fetchval("SELECT active_partners FROM coaches WHERE coach_id = $1", coach_id)
            held = await connection.fetchval("SELECT count(*) FROM coach_reservations WHERE coach_id = $1", coach_id)
        finally:
            await connection.close()
        assert load == held == CAPACITY
        assert service_ready(local_stack, "matching", 1), "the second replica took part and still runs"
    finally:
        stack.kill_service(local_stack, "matching", 1, signal=15)


async def _coach_known(cfg: StackConfig, coach_id: str) -> bool:
    connection = await asyncpg.connect(cfg.database_url("matching"))
    try:
        return bool(await connection.fetchval("SELECT EXISTS (SELECT 1 FROM coaches WHERE coach_id = $1)", coach_id))
    finally:
        await connection.close()
