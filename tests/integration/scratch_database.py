"""A database of a test's own on the stack's PostgreSQL, migrated, dropped afterwards: for tests
that drive a service's classes directly and must not touch (or be touched by) the running
services' databases."""

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg

from deploy.local.config import StackConfig
from shared.db import apply_migrations


@contextlib.asynccontextmanager
async def scratch_database(cfg: StackConfig, prefix: str, migrations: Sequence[Path]) -> AsyncIterator[str]:
    """The new database's URL, with `migrations` applied in order."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(cfg.database_url("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        dsn = cfg.database_url(name)
        await apply_migrations(dsn, list(migrations))
        yield dsn
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
