"""Expired leads drop out of proposals already sent: a worker that every
`lead_expiry_sweep_s` seconds takes each expired job lead out of the open proposals holding it,
refills them from the next best leads, and announces each changed proposal once with
`match.updated` (reason `job_leads_expired`).

Several replicas may run it: a transaction-scoped advisory lock lets one sweep at a time, and
the proposals it changes stay row-locked until its transaction commits, so no change is
announced twice. A database outage pauses it (retried with the shared backoff, then at the next
interval); it never ends the service.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from shared.contracts import UpdateReason, utc_now
from shared.db import TRANSIENT_DB_ERRORS
from shared.messaging import retry_transient
from shared.runtime import Worker
from shared.settings import ServiceSettings

from .. import repository
from ..catalog.cache import CatalogCache
from ..lifecycle import updates
from ..settings import MatchingSettings

log = logging.getLogger(__name__)

# Partners changed per transaction: short transactions, a bounded amount of work lost to a crash.
BATCH = 200


async def sweep_once(pool: asyncpg.Pool, cache: CatalogCache, settings: MatchingSettings) -> int:
    """One sweep over every open proposal; returns how many partners were told. Returns 0 at
    once if another replica is sweeping."""
    told = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            if not await repository.try_expiry_sweep_lock(connection):
                return told
            freed = await repository.release_closed_reservations(connection)
            if freed:
                log.info("freed %d coach places held by closed assignments", freed)
            now = utc_now()
            held = await repository.proposals_holding_expired_leads(connection, now, BATCH)
            if held:
                expired = sorted({lead_id for lead_ids in held.values() for lead_id in lead_ids})
                await updates.leads_removed(
                    connection,
                    cache,
                    settings,
                    expired,
                    now,
                    UpdateReason.JOB_LEADS_EXPIRED,
                    assignment_ids=sorted(held),
                )
        told += len(held)
        if len(held) < BATCH:
            return told


async def run(sweep: Callable[[], Awaitable[int]], interval_s: float, *, retry_budget_s: float) -> None:
    """Call `sweep` now and then every `interval_s` seconds, for as long as the task runs."""
    while True:
        told = 0

        async def attempt() -> None:
            nonlocal told
            told = await sweep()

        try:
            await retry_transient(attempt, budget_s=retry_budget_s)
            if told:
                log.info("expired job leads taken out of %d proposals", told)
        except TRANSIENT_DB_ERRORS as error:
            log.warning("lead expiry sweep paused: database unavailable (%s)", type(error).__name__)
        except Exception:
            log.exception("lead expiry sweep failed; trying again in %.0f s", interval_s)
        await asyncio.sleep(interval_s)


def lead_expiry_worker(cache: CatalogCache) -> Worker:
    """The worker for `Service.workers`, sharing the handlers' catalog cache."""

    async def expire_leads(pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        assert isinstance(settings, MatchingSettings)
        await run(
            lambda: sweep_once(pool, cache, settings),
            settings.lead_expiry_sweep_s,
            retry_budget_s=settings.transient_retry_budget_s,
        )

    return expire_leads
