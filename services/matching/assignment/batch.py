"""Batch mode: the optimal coach for every open partner at once (the flow is in optimum.py).

Only proposals not yet accepted move. Run nightly or after a bulk import:

    uv run --frozen python -m services.matching.assignment.batch      # with the service's TRAILBLAZER_* settings
"""

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from shared.contracts import Location, MatchProposedPayload, PartnerProfile, UpdateReason, utc_now
from shared.db import Connection, create_pool

from .. import domain, repository
from ..assignment.matcher import situation_for
from ..assignment.optimum import Arcs, Plan, fair_plan
from ..assignment.prices import RUNS_AVERAGED
from ..catalog.cache import CatalogCache
from ..lifecycle import updates
from ..ranking.vectors import CoachMatrix, Ints, same_place
from ..settings import MatchingSettings

log = logging.getLogger(__name__)
# Partners scored at once: bounds the partner × coach matrices (1000 × 2000 floats = 16 MB each).
PLACE_BLOCK = 1000


async def rebalance(connection: Connection, cache: CatalogCache, settings: MatchingSettings) -> int:
    """Re-assign every open partner whose coach is not accepted; returns how many changed."""
    now = utc_now()
    # Serialise with online reservations: nobody takes a place while we plan. Catalog writes to
    # coaches wait too, so the cache read after the lock holds every coach as the plan sees it.
    await connection.execute("LOCK TABLE coaches IN SHARE ROW EXCLUSIVE MODE")
    await cache.refresh(connection)
    proposed = await repository.proposed_reservations(connection)
    pool = await repository.open_partners(connection)
    accepted = await repository.accepted_partners(connection)
    pool = [p for p in pool if p.assignment_id not in accepted]
    await repository.lock_proposals(connection, [p.assignment_id for p in pool])
    for partner in pool:
        if partner.assignment_id in proposed:
            await repository.release_reservation(connection, partner.assignment_id)
    matrix = cache.matrix
    loads = await repository.coach_loads(connection, [c.coach_id for c in matrix.coaches])
    load = np.array([loads.get(c.coach_id, c.capacity) for c in matrix.coaches], dtype=np.int64)
    situations = [situation_for(p, cache, settings, now) for p in pool]
    arcs = pool_arcs(matrix, [p.profile for p in pool], situations, load)
    free = np.maximum(matrix.capacity - load, 0).tolist()
    tiers = fairness_tiers([p.profile for p in pool], [p.host for p in pool])
    plan = fair_plan(arcs, len(pool), free, tiers, settings.batch_fair_share)
    await _save_prices(connection, matrix, plan, reachable=len(arcs.partner) > 0)
    changed = 0
    for partner, situation, index in zip(pool, situations, plan.chosen, strict=True):
        changed += await _apply(connection, cache, partner, situation, int(index), proposed, load)
    return changed


def pool_arcs(
    matrix: CoachMatrix, profiles: Sequence[PartnerProfile], situations: Sequence[domain.Situation], load: Ints
) -> Arcs:
    """Every feasible (partner, coach) arc with its score, scored a place at a time."""
    places: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, situation in enumerate(situations):
        places[same_place(situation)].append(i)
    partners, coaches, scores = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for members in places.values():
        where = situations[members[0]]
        for block in _chunks(members, PLACE_BLOCK):
            arrivals = [situations[i].arrival for i in block]
            mask, score = matrix.pool_scores([profiles[i] for i in block], arrivals, where, load)
            rows, columns = np.nonzero(mask)
            partners.append(np.asarray(block, dtype=np.int64)[rows])
            coaches.append(columns.astype(np.int64))
            scores.append(score[rows, columns])
    return Arcs(np.concatenate(partners), np.concatenate(coaches), np.concatenate(scores))


def fairness_tiers(profiles: Sequence[PartnerProfile], hosts: Sequence[Location]) -> list[list[str]]:
    """Groups whose coverage a fair batch evens out: language and host country, inside language."""
    languages = [domain.strongest_language(profile) for profile in profiles]
    return [[f"{language}/{host.country}" for language, host in zip(languages, hosts, strict=True)], languages]


async def _save_prices(connection: Connection, matrix: CoachMatrix, plan: Plan, *, reachable: bool) -> None:
    """What this run teaches the online path (assignment/prices.py). A pool nobody in it could be
    served from teaches nothing: the previous prices stay."""
    if not reachable:
        return
    coach_price = {c.coach_id: float(p) for c, p in zip(matrix.coaches, plan.coach_price, strict=True)}
    run = await repository.save_price_run(connection, coach_price, plan.group_boost, plan.coverage)
    await repository.prune_price_runs(connection, keep=RUNS_AVERAGED)
    log.info("batch prices saved: run %d, %d coaches priced above 0", run, sum(p > 0 for p in coach_price.values()))


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def _apply(
    connection: Connection,
    cache: CatalogCache,
    partner: repository.OpenPartner,
    situation: domain.Situation,
    index: int,
    proposed: dict[uuid.UUID, str],
    load: Ints,
) -> int:
    before: MatchProposedPayload | None = await repository.proposal(connection, partner.assignment_id)
    coach_proposal = None
    if index >= 0:
        coach = cache.matrix.coaches[index]
        taken = await repository.reserve_coach(connection, coach.coach_id, partner.assignment_id)
        assert taken, "places were counted under the table lock"
        scored = domain.score_coach(domain.CoachCandidate(coach, int(load[index])), partner.profile, situation)
        coach_proposal = domain.coach_proposal(scored, situation.host)
    if before is None:
        return 0
    after = before.model_copy(update={"coach": coach_proposal, "proposed_at": situation.now})
    previous = proposed.get(partner.assignment_id)
    if previous == (coach_proposal.coach_id if coach_proposal else None):
        return 0
    await updates.announce(connection, partner, before, after, UpdateReason.REBALANCED)
    return 1


async def _main() -> None:
    settings = MatchingSettings()
    pool = await create_pool(settings.database_url, size=1)
    try:
        async with pool.acquire() as connection, connection.transaction():
            changed = await rebalance(connection, CatalogCache(), settings)
        print(f"batch re-assignment: {changed} proposals changed")
    finally:
        await pool.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
