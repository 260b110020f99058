"""Wires matching: its settings, migrations, handlers and the optional sample catalog."""

from datetime import date
from pathlib import Path

from shared.db import Connection, create_pool
from shared.runtime import Service

from . import handlers, repository
from .sample_catalog import generate_catalog
from .settings import MatchingSettings


def create_service(settings: MatchingSettings | None = None) -> Service:
    settings = settings or MatchingSettings()
    return Service(
        name="matching",
        migrations=Path(__file__).parent / "migrations",
        register=handlers.register,
        settings=settings,
        after_migrate=seed_sample_catalog if settings.sample_catalog else None,
    )


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
    catalog = generate_catalog(today=date.today())
    await repository.upsert_coaches(connection, catalog.coaches)
    await repository.upsert_job_leads(connection, catalog.job_leads)
