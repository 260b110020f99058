"""A database of a test's own on the stack's PostgreSQL, migrated, dropped afterwards: for tests
that drive a service's classes directly and must not touch (or be touched by) the running
services' databases."""

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncpg

from deploy.local.config import StackConfig
from deploy.local.postgres import start_postgres, stop_postgres
from shared.db import apply_migrations


@contextlib.contextmanager
def postgres_alone(tmp_dir: Path, slot: int) -> Iterator[StackConfig]:
    """PostgreSQL alone, started in `tmp_dir` on a port of its own (`slot` ports above the test
    stack's, so it runs next to a session's full stack and to other such tests), then stopped."""
    base = StackConfig.for_tests(tmp_dir)
    cfg = dataclasses.replace(
        base, postgres_port=base.postgres_port + slot, health_base_port=base.health_base_port + 10 * slot
    )
    try:
        start_postgres(cfg)
        yield cfg
    finally:
        stop_postgres(cfg)


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
