"""Each replica's catalog cache catches up as soon as another replica (or this one) commits a
catalog change, instead of at its next use: a LISTEN on `repository.CATALOG_CHANNEL`.

Only a wake-up: the cache reads the exact change feed (catalog/cache.py) before every use
anyway, so a notification lost while the listening connection was down changes nothing but how
early the cache catches up. Without notifications it also refreshes every `IDLE_REFRESH_S`. A
database outage pauses it (backoff, one log line per outage); it never ends the service.
"""

import asyncio
import contextlib
import logging

import asyncpg

from shared.backoff import backoff_delays
from shared.runtime import Worker
from shared.settings import ServiceSettings

from .. import repository
from .cache import CatalogCache

log = logging.getLogger(__name__)

IDLE_REFRESH_S = 30.0


async def listen(cache: CatalogCache, pool: asyncpg.Pool, dsn: str) -> None:
    """Refresh `cache` on every notification, for as long as the task runs."""
    woken = asyncio.Event()
    delays = backoff_delays(0.5, cap_s=30.0)
    down = False
    while True:
        connection: asyncpg.Connection | None = None
        try:
            # Dedicated connection: a pooled one's listeners are dropped when it is reset.
            connection = await asyncpg.connect(dsn, timeout=5)
            await connection.add_listener(repository.CATALOG_CHANNEL, lambda *_: woken.set())
            if down:
                log.info("catalog listener connected again")
            down, delays = False, backoff_delays(0.5, cap_s=30.0)
            while not connection.is_closed():
                async with pool.acquire() as pooled:
                    await cache.refresh(pooled)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), timeout=IDLE_REFRESH_S)
                woken.clear()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not down:
                what = type(error).__name__
                log.warning("catalog listener paused (%s); the cache still refreshes before each use", what)
            down = True
            await asyncio.sleep(next(delays))
        finally:
            if connection is not None:
                connection.terminate()


def catalog_listener(cache: CatalogCache) -> Worker:
    """The worker for `Service.workers`, refreshing the handlers' catalog cache."""

    async def run(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        await listen(cache, pool, settings.database_url)

    return run
