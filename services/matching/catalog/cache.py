"""The catalog as this process holds it: coaches as a CoachMatrix, open leads in a LeadIndex.

PostgreSQL is the truth; the cache reads what changed since its last read before each use
(usually nothing, one indexed query) from an exact change feed (`repository.catalog_changes`,
migration 006): rows changed by transactions at or after a watermark that is the xmin of the
previous read's snapshot. A catalog transaction that commits late, however late, is read once it
has committed; no clock is involved. A notification (`wake_catalog_caches`) only makes an idle
cache catch up early (catalog/listener.py).

Rows the reading transaction changed itself are not applied (it may still roll back, and the
cache outlives it); their ids are read again at the next refresh.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import numpy as np

from shared.contracts import Coach, JobLead, Location
from shared.db import Connection

from .. import repository
from ..assignment.prices import RUNS_AVERAGED, MarketPrices, average
from ..ranking.lead_index import LeadIndex
from ..ranking.vectors import CoachMatrix, Floats

# Leads kept for explanations, across countries: a bound on memory (a lead is a few KB).
_HOST_LEADS_KEPT = 20_000

ChangeFeed = Callable[[Connection, int | None, Sequence[str], Sequence[str]], Awaitable[repository.CatalogChanges]]


class CatalogCache:
    def __init__(self, feed: ChangeFeed = repository.catalog_changes) -> None:
        self.coaches: dict[str, Coach] = {}
        self.leads = LeadIndex()
        self._matrix: CoachMatrix | None = None
        self._read_at: datetime | None = None
        self._feed = feed
        self._watermark: int | None = None
        # Rows a reading transaction had changed itself: read again by id next time.
        self._own_coaches: set[str] = set()
        self._own_leads: set[str] = set()
        # One refresh at a time: two reads applied out of order would put back an older row.
        self._refreshing = asyncio.Lock()
        # What the latest batch runs taught the online path, and its prices per matrix row.
        self.market = MarketPrices()
        self._prices: tuple[CoachMatrix, tuple[int, ...], Floats] | None = None
        # The newest batch run the last refresh saw, and the one the market's prices were read at.
        self._newest_price_run: int | None = None
        self._priced_at_run: int | None = None
        # A host's leads as explaining "no good lead" reads them, by country, as of a leads version.
        self._host_leads: dict[str, tuple[int, list[JobLead]]] = {}
        self._leads_version = 0  # counts the refreshes that changed a lead

    @property
    def read_at(self) -> datetime | None:
        """When this process last caught up with the catalog in the database (None: never)."""
        return self._read_at

    @property
    def watermark(self) -> int | None:
        """Every catalog transaction below this id is in the cache (None: nothing read yet)."""
        return self._watermark

    @property
    def matrix(self) -> CoachMatrix:
        if self._matrix is None:
            self._matrix = CoachMatrix.build(sorted(self.coaches.values(), key=lambda c: c.coach_id))
        return self._matrix

    async def refresh(self, connection: Connection) -> None:
        async with self._refreshing:
            changes = await self._feed(connection, self._watermark, sorted(self._own_coaches), sorted(self._own_leads))
            for coach in changes.coaches:
                if self.coaches.get(coach.coach_id) != coach:
                    self.coaches[coach.coach_id] = coach
                    self._matrix = None
            for coach_id in changes.deleted_coaches:
                if self.coaches.pop(coach_id, None) is not None:
                    self._matrix = None
            for lead in changes.leads:
                self.leads.upsert(lead)
            for lead_id in changes.deleted_leads:
                self.leads.remove(lead_id)
            if self.leads.drop_expired(changes.read_at) or changes.leads or changes.deleted_leads:
                self._leads_version += 1
            self._own_coaches = set(changes.own_coaches)
            self._own_leads = set(changes.own_leads)
            self._watermark = changes.watermark
            self._read_at = changes.read_at
            self._newest_price_run = changes.newest_price_run

    async def host_leads(self, connection: Connection, host: Location, now: datetime) -> list[JobLead]:
        """The open leads in the host's country or remote (`repository.open_job_leads_for`), read
        once per change of the leads rather than once per partner who has none good. Kept for the
        last few countries asked (`_HOST_LEADS_KEPT` leads at most); not kept while this
        transaction has changed leads itself (it may roll back)."""
        kept = self._host_leads.get(host.country)
        if kept is not None and kept[0] == self._leads_version and not self._own_leads:
            return [lead for lead in kept[1] if not lead.is_expired(now)]
        leads = await repository.open_job_leads_for(connection, host, now)
        if self._watermark is not None and not self._own_leads:
            self._host_leads.pop(host.country, None)
            self._host_leads[host.country] = (self._leads_version, leads)
            while sum(len(v[1]) for v in self._host_leads.values()) > _HOST_LEADS_KEPT and len(self._host_leads) > 1:
                self._host_leads.pop(next(iter(self._host_leads)))
        return leads

    async def refresh_prices(self, connection: Connection) -> MarketPrices:
        """The latest batch runs' prices, read again only when the last catalog refresh (whose one
        statement names the newest run) saw a run they were not read at; before any refresh, at once."""
        if self._read_at is not None and self._newest_price_run == self._priced_at_run:
            return self.market
        latest = tuple(sorted(await repository.latest_price_runs(connection, RUNS_AVERAGED)))
        if latest != self.market.runs:
            runs = await repository.price_runs(connection, latest)
            self.market = average([(r.run_id, r.coach_price, r.group_boost, r.coverage) for r in runs])
        self._priced_at_run = max(latest, default=None)
        return self.market

    @property
    def coach_prices(self) -> Floats:
        """The market's price of each coach of `matrix`, row by row (0 for a coach no batch priced)."""
        matrix = self.matrix
        if self._prices is None or self._prices[0] is not matrix or self._prices[1] != self.market.runs:
            prices = np.array([self.market.coach_price.get(c.coach_id, 0.0) for c in matrix.coaches])
            self._prices = (matrix, self.market.runs, prices)
        return self._prices[2]
