"""Wires matching: its settings, migrations, handlers, the lead expiry worker, the catalog
listener and the optional sample catalog."""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from faststream.kafka import KafkaBroker

from shared import metrics
from shared.db import Connection, create_pool
from shared.runtime import Service
from shared.settings import ServiceSettings
from shared.telemetry import trace_module
from shared.topics import DEAD_LETTER, MATCH_PROPOSED, MATCH_UPDATED, FirmEvent, ProviderEvent

from . import handlers, repository
from .catalog.cache import CatalogCache
from .catalog.listener import catalog_listener
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
        publishes=(
            MATCH_PROPOSED,
            MATCH_UPDATED,
            FirmEvent.MATCH_ACCEPTANCE_REFUSED,
            ProviderEvent.CATALOG_REJECTED,
            DEAD_LETTER,
        ),
        after_migrate=_seeder(settings.sample_catalog_provider) if settings.sample_catalog else None,
        workers=(expiry.lead_expiry_worker(cache), catalog_listener(cache)),
        samplers=(lambda _connection: _sample_cache_age(cache),),
    )


async def _sample_cache_age(cache: CatalogCache) -> None:
    if cache.read_at is not None:
        metrics.CATALOG_CACHE_AGE.set((datetime.now(UTC) - cache.read_at).total_seconds())


def _seeder(provider_id: str) -> Callable[[str], Awaitable[None]]:
    async def seed(dsn: str) -> None:
        await seed_sample_catalog(dsn, provider_id)

    return seed


async def seed_sample_catalog(dsn: str, provider_id: str) -> None:
    pool = await create_pool(dsn, size=1)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await _seed(connection, provider_id)
    finally:
        await pool.close()


async def _seed(connection: Connection, provider_id: str) -> None:
    if not await repository.catalog_is_empty(connection):
        return
    # Sample data lives outside the product package; only a demo or test deployment loads it.
    from samples.matching_catalog import generate_catalog

    catalog = generate_catalog(today=date.today())
    await repository.upsert_coaches(connection, catalog.coaches)
    await repository.upsert_job_leads(connection, catalog.job_leads)
    # As if the provider had published it: only that provider may change it.
    await repository.claim_catalog(connection, "coach", [c.coach_id for c in catalog.coaches], provider_id)
    await repository.claim_catalog(connection, "job_lead", [j.job_lead_id for j in catalog.job_leads], provider_id)
