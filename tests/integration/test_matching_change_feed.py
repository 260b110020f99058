"""matching's catalog change feed on the real PostgreSQL (migration 006, catalog/cache.py): a
change that a slow transaction commits after faster ones were read is still read, a reader's
own uncommitted change is not kept, and a notification wakes an idle cache. The order of the
transactions is set explicitly with separate connections; nothing waits for time to pass."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from deploy.local.config import StackConfig
from services.matching import repository
from services.matching.catalog import listener
from services.matching.catalog.cache import CatalogCache
from shared.contracts import Coach, JobLead
from shared.db import SHARED_MIGRATIONS, create_pool

from .matching_catalog import coach, job_lead, unique
from .polling import eventually
from .scratch_database import scratch_database

pytestmark = pytest.mark.integration

MIGRATIONS = Path(repository.__file__).parent / "migrations"


@pytest.fixture
async def database(local_stack: StackConfig) -> AsyncIterator[str]:
    """A matching database of the test's own: its coaches and leads must not reach the running
    matching service's partners (other tests count what that service proposes)."""
    async with scratch_database(local_stack, "matching_feed", [SHARED_MIGRATIONS, MIGRATIONS]) as dsn:
        yield dsn


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, size=4)
    try:
        yield pool
    finally:
        await pool.close()


def a_coach(capacity: int = 2) -> Coach:
    coach_id = unique("coach-feed")
    return Coach.model_validate(coach(coach_id, "mt", "Valletta", "MT", capacity))


def a_lead() -> JobLead:
    lead_id = unique("lead-feed")
    return JobLead.model_validate(job_lead(lead_id, "Valletta", "MT"))


async def test_a_change_a_slow_transaction_commits_after_a_faster_one_was_read_is_never_missed(
    pool: asyncpg.Pool,
) -> None:
    slow_coach, fast_coach, slow_lead = a_coach(), a_coach(), a_lead()
    cache = CatalogCache()
    async with pool.acquire() as slow, pool.acquire() as fast, pool.acquire() as reader:
        await cache.refresh(reader)
        late = slow.transaction()
        await late.start()
        try:
            # The slow transaction writes first (the lower transaction id and the earlier clock) ...
            await repository.upsert_coaches(slow, [slow_coach])
            await repository.upsert_job_leads(slow, [slow_lead])
            # ... a faster one writes after it and commits, and a replica reads.
            async with fast.transaction():
                await repository.upsert_coaches(fast, [fast_coach])
            await cache.refresh(reader)
            assert fast_coach.coach_id in cache.coaches
            assert slow_coach.coach_id not in cache.coaches
            written_at = await slow.fetchval("SELECT updated_at FROM coaches WHERE coach_id = $1", slow_coach.coach_id)
            # What a feed by time (or by a sequence) would have got wrong: the reader is past it.
            assert cache.read_at is not None and written_at < cache.read_at
        finally:
            await late.commit()
        await cache.refresh(reader)
    assert cache.coaches[slow_coach.coach_id] == slow_coach
    assert slow_lead.job_lead_id in cache.leads.rows


async def test_a_readers_own_uncommitted_change_is_not_kept_after_it_rolls_back(pool: asyncpg.Pool) -> None:
    before = a_coach(capacity=3)
    after = before.model_copy(update={"capacity": 1})
    new_lead = a_lead()
    async with pool.acquire() as connection:
        async with connection.transaction():
            await repository.upsert_coaches(connection, [before])
        cache = CatalogCache()  # a replica that starts while a handler changes the coach
        handler = connection.transaction()
        await handler.start()
        await repository.upsert_coaches(connection, [after])
        await repository.upsert_job_leads(connection, [new_lead])
        await cache.refresh(connection)
        assert before.coach_id not in cache.coaches
        assert new_lead.job_lead_id not in cache.leads.rows
        await handler.rollback()
        await cache.refresh(connection)
    assert cache.coaches[before.coach_id] == before
    assert new_lead.job_lead_id not in cache.leads.rows


async def test_a_committed_catalog_change_wakes_an_idle_cache(
    pool: asyncpg.Pool, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "IDLE_REFRESH_S", 3600.0)  # only the notification can wake it
    cache = CatalogCache()
    task = asyncio.create_task(listener.listen(cache, pool, database))
    try:
        await eventually(lambda: _value(cache.watermark is not None), "the listener's first read")
        coach_ = a_coach()
        async with pool.acquire() as connection, connection.transaction():
            await repository.upsert_coaches(connection, [coach_])
        await eventually(lambda: _value(coach_.coach_id in cache.coaches), "the woken cache holds the coach")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _value(result: bool) -> bool:
    return result
