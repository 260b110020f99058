"""The online match for one partner: the best feasible coach whose place we can still take,
the best feasible leads, each explained, or the reasons why not."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from shared.contracts import CoachProposal, JobLeadProposal, Unmatched
from shared.db import Connection
from shared.telemetry import span

from .. import domain, repository
from ..catalog.cache import CatalogCache
from ..catalog.reference import timezone_of
from ..ranking.unmatched import why_no_coach, why_no_leads
from ..settings import MatchingSettings


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
    *,
    exclude_coach: str | None = None,
) -> Match:
    with span("matching.situation"):  # the host's time zone: reference data, loaded on first use
        situation = situation_for(partner, cache, settings, now)
    coach = await reserve_best_coach(connection, cache, partner, situation, exclude_coach)
    leads = await best_leads(connection, cache, partner, situation, settings.job_leads_per_partner)
    unmatched = []
    if coach is None:
        with span("matching.explain_no_coach"):
            candidates = await _candidates(connection, cache, partner, situation)
            unmatched.append(why_no_coach(candidates, partner.profile, situation))
    if not leads:
        with span("matching.explain_no_leads"):
            everything = await repository.open_job_leads_for(connection, partner.host, now)
            unmatched.append(why_no_leads(everything, partner.profile, situation))
    return Match(coach, leads, unmatched)


async def _candidates(
    connection: Connection, cache: CatalogCache, partner: repository.OpenPartner, situation: domain.Situation
) -> list[domain.CoachCandidate]:
    coaches = list(cache.coaches.values())
    loads = await repository.coach_loads(connection, [c.coach_id for c in coaches])
    return [domain.CoachCandidate(c, loads.get(c.coach_id, 0)) for c in coaches]


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
    with span("matching.reserve_coach") as reserving:
        for tried, i in enumerate(order, start=1):
            coach = matrix.coaches[i]
            if coach.coach_id == exclude_coach:
                continue
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
        scored = [
            domain.score_lead(leads[lead_id], partner.profile, situation) for lead_id, _ in ranked if lead_id in leads
        ]
        scored.sort(key=lambda s: (-s.score, s.item.job_lead_id))
        return [domain.job_lead_proposal(s) for s in scored]
