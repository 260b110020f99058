"""PostgreSQL helpers: a connection pool with JSON codecs, waiting for the database, migrations."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TypeAlias, TypeVar

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from .backoff import backoff_delays

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
# Errors after which the same statement may succeed later: the database is down or restarting.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)

T = TypeVar("T")
# What handlers and repositories take: a pooled connection or a direct one.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


# The advisory-lock keys a transaction took for a whole batch (`holding`), by connection.
_held: ContextVar[tuple[Connection, Collection[str]] | None] = ContextVar("held_locks", default=None)


@contextlib.contextmanager
def holding(connection: Connection, keys: Collection[str]) -> Iterator[None]:
    """In this block, `connection`'s transaction holds its service's per-key lock of each of
    `keys` (taken for a batch at its start), so a record's effect need not take it again."""
    token = _held.set((connection, keys))
    try:
        yield
    finally:
        _held.reset(token)


def holds(connection: Connection, key: str) -> bool:
    held = _held.get()
    return held is not None and held[0] is connection and key in held[1]


class JsonText(str):
    """A JSON document already serialized, such as a model's `model_dump_json()`: a json or jsonb
    parameter takes it as it is (a plain `str` is a JSON string and is encoded)."""


def encode_json(value: object) -> str:
    if isinstance(value, JsonText):
        return value
    # orjson: several times faster than the standard library for the documents the services store.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def decode_json(text: str) -> object:
    return orjson.loads(text)


async def set_json_codecs(connection: "asyncpg.Connection | Connection") -> None:
    """json and jsonb as Python values (dicts, lists, ...) both ways."""
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=encode_json, decoder=decode_json, schema="pg_catalog")


async def _init_connection(connection: Connection) -> None:
    await set_json_codecs(connection)


async def lock_key(connection: Connection, namespace: int, key: str) -> None:
    """The transaction-level advisory lock of `key` in a service's `namespace` (the two-key form,
    the key hashed with `hashtext`), held until commit or rollback."""
    await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", namespace, key)


async def lock_keys(connection: Connection, namespace: int, keys: Iterable[str]) -> None:
    """`lock_key` for several keys in one round trip, in sorted order: two transactions taking
    overlapping sets (two consumers' batches) wait for each other instead of deadlocking."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(k)) FROM unnest($2::text[]) WITH ORDINALITY AS s(k, n) ORDER BY n",
        namespace,
        sorted(set(keys)),
    )


async def _keep_session(connection: Connection) -> None:
    """On release, asyncpg rolls back a transaction left open and drops listeners itself; its
    default reset then sends `RESET ALL; CLOSE ALL; UNLISTEN *; pg_advisory_unlock_all()` in
    one more round trip per release. Pooled connections here hold no session state (transaction
    locks and settings only; session locks and LISTEN live on dedicated connections: the outbox
    relay, the listeners), so there is nothing for it to undo."""


async def create_pool(dsn: str, *, size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, init=_init_connection, reset=_keep_session)
    assert pool is not None
    return pool


class DependencyRefused(Exception):
    """A dependency answered but refused us (credentials, certificate). The message says what to
    check and holds no secret, so `wait_for` logs it in full rather than only its type."""


async def wait_for(what: str, attempt: Callable[[], Awaitable[T]], *, budget_s: float, cap_s: float = 5.0) -> T:
    """Retry `attempt` with capped exponential backoff and jitter until it succeeds or the budget
    is spent; each failure is one clear log line."""
    deadline = time.monotonic() + budget_s
    delays = backoff_delays(0.2, cap_s)
    while True:
        try:
            return await attempt()
        except Exception as error:
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"{what} still unavailable after {budget_s:.0f} s: {error!r}") from error
            reason = f"{error}" if isinstance(error, DependencyRefused) else type(error).__name__
            log.warning("waiting for %s (%s); next try in %.1f s", what, reason, delay)
            await asyncio.sleep(delay)


def _migration_files(directories: Sequence[Path]) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for directory in directories:
        for path in sorted(directory.glob("*.sql")):
            files.append((f"{directory.parent.name}/{path.stem}", path))
    return files


async def apply_migrations(dsn: str, directories: Sequence[Path]) -> list[str]:
    """Apply each not yet applied `*.sql` file, in order, each in its own transaction.

    An advisory lock lets several replicas start at once without racing on the same migration.
    """
    connection = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, path in _migration_files(directories):
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(7230001)")
                done = await connection.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version)
                if done:
                    continue
                await connection.execute(path.read_text())
                await connection.execute("INSERT INTO schema_migrations(version) VALUES ($1)", version)
                applied_now.append(version)
    finally:
        await connection.close()
    return applied_now
