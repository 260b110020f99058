"""Wires matching: its settings, migrations, handlers, the lead expiry worker and the optional
sample catalog."""

from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.db import Connection, create_pool
from shared.runtime import Service
from shared.settings import ServiceSettings
from shared.telemetry import trace_module
from shared.topics import CATALOG_REJECTED, DEAD_LETTER, MATCH_ACCEPTANCE_REFUSED, MATCH_PROPOSED, MATCH_UPDATED

from . import handlers, repository
from .catalog.cache import CatalogCache
from .lifecycle import expiry
from .settings import MatchingSettings


def create_service(settings: MatchingSettings | None = None) -> Service:
    settings = settings or MatchingSettings()
    trace_module(repository, "matching.repository")  # spans named for what the SQL does
    # One in-memory catalog per process, shared by the handlers and the lead expiry worker.
    cache = CatalogCache()

    def register(broker: KafkaBroker, pool: asyncpg.Pool, service_settings: ServiceSettings) -> None:
        handlers.register(broker, pool, service_settings, cache=cache)

    return Service(
        name="matching",
        migrations=Path(__file__).parent / "migrations",
        register=register,
        settings=settings,
        publishes=(MATCH_PROPOSED, MATCH_UPDATED, MATCH_ACCEPTANCE_REFUSED, CATALOG_REJECTED, DEAD_LETTER),
        after_migrate=seed_sample_catalog if settings.sample_catalog else None,
        workers=(expiry.lead_expiry_worker(cache),),
        samplers=(lambda _connection: _sample_cache_age(cache),),
    )


async def _sample_cache_age(cache: CatalogCache) -> None:
    if cache.read_at is not None:
        metrics.CATALOG_CACHE_AGE.set((datetime.now(UTC) - cache.read_at).total_seconds())


async def seed_sample_catalog(dsn: str) -> None:
    pool = await create_pool(dsn, size=1)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await _seed(connection)
    finally:
        await pool.close()


async def _seed(connection: Connection) -> None:
    if not await repository.catalog_is_empty(connection):
        return
    # Sample data lives outside the product package; only a demo or test deployment loads it.
    from samples.matching_catalog import generate_catalog

    catalog = generate_catalog(today=date.today())
    await repository.upsert_coaches(connection, catalog.coaches)
    await repository.upsert_job_leads(connection, catalog.job_leads)
