"""Two matching replicas under a catalog storm: coach capacities rise and fall, job leads come and
go, while assignments for the same host arrive, all published at once on several partitions.
Throughout, no coach holds more places than its provider's capacity (read from matching's
database while the storm runs), and at the end every partner's latest match (match.proposed,
then each match.updated) holds every lead still open and none withdrawn. Synchronised on the
real outputs only: the consumer groups' members, the topics, the database."""

import asyncio
import random
from typing import Any

import asyncpg
import pytest

from deploy.local import stack
from deploy.local.config import StackConfig
from deploy.local.topic_reader import Received, TopicReader
from shared import topics

from .conftest import SERVICE_ENV
from .matching_catalog import (
    COACHES,
    JOB_LEADS,
    coach,
    handled,
    job_lead,
    partner_request,
    publish_requests,
    publish_to,
    second_replica_consumes,
    unique,
)
from .polling import eventually

pytestmark = pytest.mark.integration

HOST = ("Luxembourg", "LU")  # no sample coach or lead: the storm's records are the host's catalog
LANGUAGE = "lb"
ROUNDS = 6
PARTNERS_PER_ROUND = 4


async def test_two_replicas_under_a_catalog_storm_never_overbook_a_coach_nor_miss_a_lead(
    local_stack: StackConfig,
) -> None:
    kafka = local_stack
    stack.start_services(local_stack, replicas={"matching": 2}, extra_env={"matching": SERVICE_ENV})
    database = await asyncpg.connect(local_stack.database_url("matching"))
    try:
        await eventually(
            lambda: second_replica_consumes(local_stack), "the second replica took partitions", timeout_s=90
        )
        rng = random.Random(15)
        coach_ids = [unique("coach-storm") for _ in range(3)]
        await publish_to(kafka, COACHES, [(c, coach(c, LANGUAGE, *HOST, 2)) for c in coach_ids])
        await eventually(lambda: _known(database, coach_ids), "the storm's coaches in matching's catalog")

        overbooked: list[Any] = []
        samples = 0
        storming = True

        async def watch_places() -> None:
            nonlocal samples
            watching = await asyncpg.connect(local_stack.database_url("matching"))
            try:
                while storming:
                    overbooked.extend(await _overbooked(watching, coach_ids))
                    samples += 1
                    await asyncio.sleep(0.02)  # the sampling rate (not a wait for anything)
            finally:
                await watching.close()

        watcher = asyncio.create_task(watch_places())
        kept: list[str] = []
        requests: list[dict[str, Any]] = []
        capacity: dict[str, int] = dict.fromkeys(coach_ids, 2)
        async with TopicReader(kafka, topics.MATCH_PROPOSED, topics.MATCH_UPDATED) as reader:
            for _ in range(ROUNDS):
                # All of one round at once, the three kinds of record interleaved in Kafka.
                round_requests = [partner_request(LANGUAGE, *HOST) for _ in range(PARTNERS_PER_ROUND)]
                requests += round_requests
                changed = {c: rng.randint(0, 3) for c in rng.sample(coach_ids, 2)}
                capacity |= changed
                lead_id, passing = unique("lead-storm"), unique("lead-passing")
                kept.append(lead_id)
                leads = [(lead_id, job_lead(lead_id, *HOST)), (passing, job_lead(passing, *HOST))]
                await asyncio.gather(
                    publish_requests(kafka, round_requests),
                    publish_to(kafka, COACHES, [(c, coach(c, LANGUAGE, *HOST, n)) for c, n in changed.items()]),
                    publish_to(kafka, JOB_LEADS, [*leads, (passing, None)]),
                )
            ids = {r["payload"]["assignment_id"] for r in requests}

            async def settled() -> bool:
                """Every partner matched, the open leads in every latest match, and each coach a
                latest match names holding that partner's place (and no other)."""
                latest = _latest_matches(reader.records, ids)
                if len(latest) < len(ids) or any(_storm_leads(m) != set(kept) for m in latest.values()):
                    return False
                if await _capacities(database, coach_ids) != capacity:  # the last coach records not read yet
                    return False
                return await _places(database, coach_ids) == _named_coaches(latest)

            try:
                await eventually(settled, "the storm's outcome in every partner's latest match and in the database")
            except AssertionError as timeout:
                raise AssertionError(
                    await _what_differs(database, reader.records, ids, set(kept), capacity)
                ) from timeout
            storming = False
            await watcher
            latest = _latest_matches(reader.records, ids)

        assert samples > ROUNDS, "places were read while the storm ran"
        assert overbooked == [], "a coach held more places than its capacity"
        assert await _overbooked(database, coach_ids) == []
        # Checked again after the watcher stopped: a match changed after the outcome settled says how.
        assert all(_storm_leads(m) == set(kept) for m in latest.values()), (
            "no open lead missed, none withdrawn kept: "
            + await _what_differs(database, reader.records, ids, set(kept), capacity)
        )
        named = _named_coaches(latest)
        assert named, "some partners got one of the storm's coaches"
        assert await _places(database, coach_ids) == named, "each named coach holds that partner's place"
        assert await _capacities(database, coach_ids) == capacity, "every capacity change applied"
        assert all(handled(local_stack, replica, topics.ASSIGNMENT_CREATED) for replica in (0, 1)), "both matched"
    finally:
        await database.close()
        stack.kill_service(local_stack, "matching", 1, signal=15)


async def _known(database: asyncpg.Connection, coach_ids: list[str]) -> bool:
    return bool(await database.fetchval("SELECT count(*) = $2 FROM coaches WHERE coach_id = ANY($1)", coach_ids, 3))


async def _overbooked(database: asyncpg.Connection, coach_ids: list[str]) -> list[Any]:
    """Coaches holding more places than the provider's capacity (none if inactive or removed), or
    whose load counter disagrees with their reservations: one snapshot."""
    rows = await database.fetch(
        """
        SELECT c.coach_id, c.active_partners, c.active AND NOT c.deleted AS open,
               (c.coach->>'capacity')::int AS capacity,
               (SELECT count(*) FROM coach_reservations r WHERE r.coach_id = c.coach_id) AS held
        FROM coaches c WHERE c.coach_id = ANY($1)
        """,
        coach_ids,
    )
    return [
        dict(r) for r in rows if r["held"] != r["active_partners"] or r["held"] > (r["capacity"] if r["open"] else 0)
    ]


def _latest_matches(records: list[Received], ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each partner's current match, as a consumer of the topics holds it: its last match.updated
    (keyed by the assignment: one partition, in order), else its match.proposed. Each carries the
    whole match."""
    latest: dict[str, dict[str, Any]] = {}
    for record in list(records):
        if record.key in ids and (record.topic == topics.MATCH_UPDATED or record.key not in latest):
            latest[record.key] = record.value["payload"]
    return latest


async def _what_differs(
    database: asyncpg.Connection, records: list[Received], ids: set[str], kept: set[str], capacity: dict[str, int]
) -> str:
    coach_ids = list(capacity)
    latest = _latest_matches(records, ids)
    leads = {k: (sorted(kept - _storm_leads(m)), sorted(_storm_leads(m) - kept)) for k, m in latest.items()}
    places, named = await _places(database, coach_ids), _named_coaches(latest)
    return (
        f"{len(ids) - len(latest)} partners without a match;"
        f" (missing, extra) leads: { {k[:8]: v for k, v in leads.items() if v != ([], [])} };"
        f" places held but not named: { {k[:8]: v for k, v in places.items() if named.get(k) != v} };"
        f" named but not held: { {k[:8]: v for k, v in named.items() if places.get(k) != v} };"
        f" capacities {await _capacities(database, coach_ids)}, published {capacity}"
    )


def _named_coaches(latest: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {key: match["coach"]["coach_id"] for key, match in latest.items() if match["coach"] is not None}


async def _capacities(database: asyncpg.Connection, coach_ids: list[str]) -> dict[str, int]:
    rows = await database.fetch(
        "SELECT coach_id, (coach->>'capacity')::int AS n FROM coaches WHERE coach_id = ANY($1)", coach_ids
    )
    return {r["coach_id"]: r["n"] for r in rows}


async def _places(database: asyncpg.Connection, coach_ids: list[str]) -> dict[str, str]:
    rows = await database.fetch(
        "SELECT assignment_id::text AS id, coach_id FROM coach_reservations WHERE coach_id = ANY($1)", coach_ids
    )
    return {r["id"]: r["coach_id"] for r in rows}


def _storm_leads(match: dict[str, Any]) -> set[str]:
    return {
        lead["job_lead_id"]
        for lead in match["job_leads"]
        if lead["job_lead_id"].startswith(("lead-storm", "lead-passing"))
    }
