"""Batch mode: the optimal coach for every open partner at once, by min-cost flow.

    source -> partner (cap 1) -> coach (cap = free places) -> sink, plus partner -> sink
    ("unassigned", cost 0); an arc partner -> coach costs -round(score * 10^4).

Only proposals not yet accepted move. Run nightly or after a bulk import:

    uv run --frozen python -m services.matching.batch      # with the service's TRAILBLAZER_* settings
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow  # type: ignore[import-untyped]

from shared.contracts import Location, MatchProposedPayload, PartnerProfile, UpdateReason, utc_now
from shared.db import Connection, create_pool

from . import domain, repository, updates
from .catalog_cache import CatalogCache
from .matcher import situation_for
from .settings import MatchingSettings
from .vectors import Bools, CoachMatrix, Floats, Ints

log = logging.getLogger(__name__)
SCALE = 10_000


@dataclass(frozen=True)
class Arcs:
    """Feasible (partner, coach) pairs and their scores, one array entry per arc."""

    partner: Ints
    coach: Ints
    score: Floats


def optimal_assignment(arcs: Arcs, partners: int, free: Sequence[int]) -> Ints:
    """The coach index per partner (-1: none) maximising the total score within free places."""
    coaches = len(free)
    source, sink = partners + coaches, partners + coaches + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    p = np.arange(partners, dtype=np.int64)
    c = np.arange(coaches, dtype=np.int64)
    starts = np.concatenate([np.full(partners, source), arcs.partner, p, partners + c])
    ends = np.concatenate([p, partners + arcs.coach, np.full(partners, sink), np.full(coaches, sink)])
    capacities = np.concatenate(
        [np.ones(partners), np.ones(len(arcs.partner)), np.ones(partners), np.asarray(free, dtype=np.int64)]
    ).astype(np.int64)
    costs = np.concatenate(
        [np.zeros(partners), -np.round(arcs.score * SCALE), np.zeros(partners), np.zeros(coaches)]
    ).astype(np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(starts, ends, capacities, costs)
    flow.set_nodes_supplies(np.array([source, sink]), np.array([partners, -partners]))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    used = flow.flows(np.arange(partners, partners + len(arcs.partner))) > 0
    chosen = np.full(partners, -1, dtype=np.int64)
    chosen[arcs.partner[used]] = arcs.coach[used]
    return chosen


async def rebalance(connection: Connection, cache: CatalogCache, settings: MatchingSettings) -> int:
    """Re-assign every open partner whose coach is not accepted; returns how many changed."""
    now = utc_now()
    await cache.refresh(connection)
    # Serialise with online reservations: nobody takes a place while we plan.
    await connection.execute("LOCK TABLE coaches IN SHARE ROW EXCLUSIVE MODE")
    proposed = await repository.proposed_reservations(connection)
    pool = await repository.open_partners(connection)
    accepted = await repository.accepted_partners(connection)
    pool = [p for p in pool if p.assignment_id not in accepted]
    for partner in pool:
        if partner.assignment_id in proposed:
            await repository.release_reservation(connection, partner.assignment_id)
    matrix = cache.matrix
    loads = await repository.coach_loads(connection, [c.coach_id for c in matrix.coaches])
    load = np.array([loads.get(c.coach_id, c.capacity) for c in matrix.coaches], dtype=np.int64)
    situations = [situation_for(p, cache, settings, now) for p in pool]
    arcs = pool_arcs(matrix, [p.profile for p in pool], situations, load)
    chosen = optimal_assignment(arcs, len(pool), np.maximum(matrix.capacity - load, 0).tolist())
    changed = 0
    for partner, situation, index in zip(pool, situations, chosen, strict=True):
        changed += await _apply(connection, cache, partner, situation, int(index), proposed, load)
    return changed


def pool_arcs(
    matrix: CoachMatrix, profiles: Sequence[PartnerProfile], situations: Sequence[domain.Situation], load: Ints
) -> Arcs:
    """Every feasible (partner, coach) arc with its score, vectorised per partner."""
    partners, coaches, scores = [], [], []
    in_person: dict[Location, Bools] = {}
    for i, (profile, situation) in enumerate(zip(profiles, situations, strict=True)):
        host = situation.host
        if host not in in_person:
            in_person[host] = matrix.in_person(host)
        mask, score = matrix.scores(profile, situation, load, in_person[host])
        feasible = np.flatnonzero(mask)
        partners.append(np.full(len(feasible), i, dtype=np.int64))
        coaches.append(feasible)
        scores.append(score[feasible])
    if not partners:
        return Arcs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    return Arcs(np.concatenate(partners), np.concatenate(coaches), np.concatenate(scores))


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
