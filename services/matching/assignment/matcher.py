"""The online match for one partner: the best feasible coach whose place we can still take,
the best feasible leads, each explained, or the reasons why not."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from shared.contracts import CoachProposal, JobLead, JobLeadProposal, PartnerProfile, Unmatched
from shared.db import Connection
from shared.telemetry import span

from .. import domain, repository
from ..catalog.cache import CatalogCache
from ..catalog.reference import timezone_of
from ..ranking.unmatched import places_held, why_no_coach, why_no_leads
from ..ranking.vectors import CoachMatrix, Eligibility, Floats, Ints
from ..settings import MatchingSettings
from . import prices


@dataclass(frozen=True)
class Match:
    coach: CoachProposal | None
    job_leads: list[JobLeadProposal]
    unmatched: list[Unmatched]


def situation_for(
    partner: repository.OpenPartner, cache: CatalogCache, settings: MatchingSettings, now: datetime
) -> domain.Situation:
    return domain.Situation(
        host=partner.host,
        now=now,
        host_timezone=timezone_of(partner.host),
        start_date=partner.start_date,
        coach_weights=settings.coach_weights,
        lead_weights=settings.lead_weights,
        rarity=cache.leads.rarity,
        related=cache.leads.related,
    )


async def match_partner(
    connection: Connection,
    cache: CatalogCache,
    partner: repository.OpenPartner,
    settings: MatchingSettings,
    now: datetime,
) -> Match:
    """A new partner's match: the coach decided with the batch's prices (`reserve_priced_coach`)."""
    with span("matching.situation"):  # the host's time zone: reference data, loaded on first use
        situation = situation_for(partner, cache, settings, now)
    coach, held = await reserve_priced_coach(connection, cache, partner, situation)
    leads = await best_leads(connection, cache, partner, situation, settings.job_leads_per_partner)
    unmatched = []
    if held:
        unmatched.append(places_held(situation.host))
    elif coach is None:
        with span("matching.explain_no_coach"):
            unmatched.append(why_no_coach(cache.coaches.values(), partner.profile, situation))
    if not leads:
        with span("matching.explain_no_leads"):
            everything = await cache.host_leads(connection, partner.host, now)
            unmatched.append(why_no_leads(everything, partner.profile, situation))
    return Match(coach, leads, unmatched)


async def reserve_priced_coach(
    connection: Connection, cache: CatalogCache, partner: repository.OpenPartner, situation: domain.Situation
) -> tuple[CoachProposal | None, bool]:
    """The online decision with what the last batch runs know (assignment/prices.py): the
    coach whose score net of its price is best, among those whose score clears the price, or
    none (held back: the free places are kept for partners who need them more). Returns the
    proposal and whether the partner was held back. Before any batch: the best coach."""
    market = await cache.refresh_prices(connection)
    if not market.known:
        return await reserve_best_coach(connection, cache, partner, situation), False
    with span("matching.rank_coaches") as ranking:
        matrix = cache.matrix
        eligibility = matrix.eligible([partner.profile], [situation.arrival], situation)
        eligible = np.flatnonzero(eligibility.mask[0])
        loads = await repository.coach_loads(connection, [matrix.coaches[i].coach_id for i in eligible])
        load = np.array([loads.get(c.coach_id, c.capacity) for c in matrix.coaches], dtype=np.int64)
        keys = prices.balance_keys(partner.profile, partner.host)
        balances = await repository.fairness_balances(connection, keys)
        allowance = market.group_boost.get(prices.group_of(partner.profile, partner.host), 0.0)
        allowance += sum(balances.get(key, 0.0) for key in keys)
        free, order = priced_order(matrix, eligibility, partner.profile, situation, load, cache.coach_prices, allowance)
        ranking.set_attributes(
            {"matching.coaches": len(matrix.coaches), "matching.feasible": len(free), "matching.cleared": len(order)}
        )
    proposal = await _reserve_first(connection, cache, partner, situation, order, load)
    if len(eligible):  # a partner no coach could ever serve does not count for coverage
        step = prices.balance_step(market.target, proposal is not None)
        await repository.shift_balances(connection, keys, step, prices.BALANCE_LIMIT)
    return proposal, proposal is None and len(free) > 0 and len(order) == 0


def priced_order(
    matrix: CoachMatrix,
    eligibility: Eligibility,
    profile: PartnerProfile,
    situation: domain.Situation,
    load: Ints,
    coach_prices: Floats,
    allowance: float,
) -> tuple[Ints, Ints]:
    """The in-memory part of the priced decision (pure; also what benchmarks/matching_benchmark.py
    times): the coaches with a free place this partner could take, and those whose place the
    partner may take, best first (matrix rows)."""
    args = ([profile], [situation.arrival], situation)
    mask, score = matrix.pool_scores(*args, load, eligibility)
    _, at_batch = matrix.pool_scores(*args, np.zeros_like(load), eligibility)
    free = np.flatnonzero(mask[0])
    return free, free[prices.coach_order(score[0][free], at_batch[0][free], coach_prices[free], allowance)]


async def reserve_best_coach(
    connection: Connection,
    cache: CatalogCache,
    partner: repository.OpenPartner,
    situation: domain.Situation,
    exclude_coach: str | None = None,
) -> CoachProposal | None:
    """Rank with the loads read now, then take places best first: another replica may take the
    last place between our read and our reservation, and the atomic UPDATE tells us."""
    # Spans: the phases of the match (rank, reserve, explain), so a trace shows where time goes.
    with span("matching.rank_coaches") as ranking:
        matrix = cache.matrix
        eligibility = matrix.eligible([partner.profile], [situation.arrival], situation)
        ids = [matrix.coaches[i].coach_id for i in np.flatnonzero(eligibility.mask[0])]
        loads = await repository.coach_loads(connection, ids)
        load = np.array([loads.get(c.coach_id, c.capacity) for c in matrix.coaches], dtype=np.int64)
        order = matrix.ranked(partner.profile, situation, load, eligibility)
        ranking.set_attributes({"matching.coaches": len(matrix.coaches), "matching.feasible": len(order)})
    if exclude_coach is not None:
        order = np.array([i for i in order if matrix.coaches[i].coach_id != exclude_coach], dtype=np.int64)
    return await _reserve_first(connection, cache, partner, situation, order, load)


async def _reserve_first(
    connection: Connection,
    cache: CatalogCache,
    partner: repository.OpenPartner,
    situation: domain.Situation,
    order: Ints,
    load: Ints,
) -> CoachProposal | None:
    """Take the first coach of `order` whose place is still free, explained."""
    matrix = cache.matrix
    with span("matching.reserve_coach") as reserving:
        for tried, i in enumerate(order, start=1):
            coach = matrix.coaches[i]
            if await repository.reserve_coach(connection, coach.coach_id, partner.assignment_id):
                reserving.set_attribute("matching.tried", tried)
                break
        else:
            return None
    with span("matching.explain_coach"):
        scored = domain.score_coach(domain.CoachCandidate(coach, int(load[i])), partner.profile, situation)
        return domain.coach_proposal(scored, situation.host)


async def best_leads(
    connection: Connection,
    cache: CatalogCache,
    partner: repository.OpenPartner,
    situation: domain.Situation,
    limit: int,
) -> list[JobLeadProposal]:
    with span("matching.rank_leads"):
        ranked = cache.leads.rank(partner.profile, situation, limit=limit)
    with span("matching.explain_leads", **{"matching.leads": len(ranked)}):
        leads = await repository.job_leads_by_id(connection, [lead_id for lead_id, _ in ranked])
        return explained_leads(ranked, leads, partner, situation)


def explained_leads(
    ranked: list[tuple[str, float]],
    leads: dict[str, JobLead],
    partner: repository.OpenPartner,
    situation: domain.Situation,
    limit: int | None = None,
) -> list[JobLeadProposal]:
    """The ranked leads still in `leads` (read now: one withdrawn since the cache read is not
    among them), scored and explained, best first, at most `limit`."""
    scored = [
        domain.score_lead(leads[lead_id], partner.profile, situation) for lead_id, _ in ranked if lead_id in leads
    ]
    scored.sort(key=lambda s: (-s.score, s.item.job_lead_id))
    return [domain.job_lead_proposal(s) for s in scored[:limit]]
