"""Keeping matches fresh: every change to an open partner's proposal is saved and announced as
one `match.updated` event, in the transaction of the catalog record that caused it."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from shared import outbox
from shared.contracts import (
    Coach,
    JobLead,
    MatchProposedPayload,
    MatchUpdated,
    MatchUpdatedPayload,
    UpdateReason,
)
from shared.db import Connection
from shared.topics import MATCH_UPDATED

from .. import domain, repository
from ..assignment.matcher import explained_leads, match_partner, reserve_best_coach, situation_for
from ..catalog.cache import CatalogCache
from ..ranking.unmatched import why_no_coach, why_no_leads
from ..settings import MatchingSettings


async def announce(
    connection: Connection,
    partner: repository.OpenPartner,
    before: MatchProposedPayload,
    after: MatchProposedPayload,
    reason: UpdateReason,
) -> None:
    await announce_all(connection, [(partner, before, after)], reason)


async def announce_all(
    connection: Connection,
    changes: Sequence[tuple[repository.OpenPartner, MatchProposedPayload, MatchProposedPayload]],
    reason: UpdateReason,
) -> int:
    """Save every changed proposal at once and queue one `match.updated` per partner whose coach or
    leads changed; returns how many were announced."""
    changed = [
        (partner, after, payload) for partner, before, after in changes if (payload := update(before, after, reason))
    ]
    await repository.save_proposals(connection, [after for _, after, _ in changed])
    for partner, _, payload in changed:
        event = MatchUpdated.create(firm_id=partner.firm_id, correlation_id=partner.correlation_id, payload=payload)
        await outbox.add_event(connection, topic=MATCH_UPDATED, key=str(partner.assignment_id), event=event)
    return len(changed)


def update(
    before: MatchProposedPayload, after: MatchProposedPayload, reason: UpdateReason
) -> MatchUpdatedPayload | None:
    """What a partner is told when their proposal changes (None: the coach and the leads are the same)."""
    old = {lead.job_lead_id for lead in before.job_leads}
    new = {lead.job_lead_id for lead in after.job_leads}
    previous_coach = before.coach.coach_id if before.coach else None
    current_coach = after.coach.coach_id if after.coach else None
    if old == new and previous_coach == current_coach:
        return None
    return MatchUpdatedPayload(
        assignment_id=after.assignment_id,
        reason=reason,
        coach=after.coach,
        job_leads=after.job_leads,
        unmatched=after.unmatched,
        previous_coach_id=previous_coach if previous_coach != current_coach else None,
        added_job_lead_ids=sorted(new - old),
        removed_job_lead_ids=sorted(old - new),
        updated_at=after.proposed_at,
    )


async def coach_changed(
    connection: Connection,
    cache: CatalogCache,
    settings: MatchingSettings,
    coach_id: str,
    coach: Coach | None,
    now: datetime,
) -> int:
    """A coach was upserted or removed: release places beyond the new capacity (all of them if
    the coach left or went inactive) and re-match those partners. Returns how many moved."""
    keep = coach.capacity if coach is not None and coach.active else 0
    released = await repository.release_over_capacity(connection, coach_id, keep)
    if coach is None:
        await repository.delete_coach(connection, coach_id)
    else:
        await repository.upsert_coaches(connection, [coach])
    await cache.refresh(connection)
    for partner in await repository.open_partners_by_id(connection, released):
        await reassign_coach(connection, cache, settings, partner, coach_id, coach, now)
    return len(released)


async def reassign_coach(
    connection: Connection,
    cache: CatalogCache,
    settings: MatchingSettings,
    partner: repository.OpenPartner,
    leaving_coach: str,
    leaving_as_now: Coach | None,
    now: datetime,
) -> None:
    """Re-match a partner the coach released. The cache holds only committed rows, so the coach
    as this transaction changed it (`leaving_as_now`, None if removed) is given apart."""
    before = await repository.proposal(connection, partner.assignment_id)
    if before is None:
        return
    situation = situation_for(partner, cache, settings, now)
    coach = await reserve_best_coach(connection, cache, partner, situation, exclude_coach=leaving_coach)
    unmatched = [u for u in before.unmatched if u.subject != "coach"]
    if coach is None:
        coaches = {**cache.coaches, leaving_coach: leaving_as_now}
        present = [c for c in coaches.values() if c is not None]
        unmatched.insert(0, why_no_coach(present, partner.profile, situation))
    after = before.model_copy(update={"coach": coach, "unmatched": unmatched, "proposed_at": now})
    await announce(connection, partner, before, after, UpdateReason.COACH_WITHDRAWN)


async def lead_added(
    connection: Connection, cache: CatalogCache, settings: MatchingSettings, lead: JobLead, now: datetime
) -> int:
    """Offer a new or changed lead to every open partner it fits and would rank for, as a set:
    one query reads the open partners who could take it with their proposals, the rules run in
    memory, one statement saves the changed proposals. Returns how many partners were told."""
    await repository.lock_lead_shard(connection, repository.REMOTE_LEADS if lead.remote else lead.location.country)
    await repository.upsert_job_leads(connection, [lead])
    await cache.refresh(connection)
    candidates = await repository.open_proposals(connection, None if lead.remote else lead.location.country)
    changes = []
    for partner, before in candidates:
        after = with_lead(before, lead, partner, situation_for(partner, cache, settings, now), settings, now)
        if after is not None:
            changes.append((partner, before, after))
    return await announce_all(connection, changes, UpdateReason.NEW_JOB_LEADS)


def with_lead(
    before: MatchProposedPayload,
    lead: JobLead,
    partner: repository.OpenPartner,
    situation: domain.Situation,
    settings: MatchingSettings,
    now: datetime,
) -> MatchProposedPayload | None:
    """The proposal with `lead` among its best leads, or None if the partner may not take it or
    it does not rank among their best `job_leads_per_partner`."""
    if not domain.lead_is_proposable(lead, partner.profile, situation):
        return None
    scored = domain.score_lead(lead, partner.profile, situation)
    kept = [p for p in before.job_leads if p.job_lead_id != lead.job_lead_id]
    merged = sorted([*kept, domain.job_lead_proposal(scored)], key=lambda p: (-p.score, p.job_lead_id))
    merged = merged[: settings.job_leads_per_partner]
    if lead.job_lead_id not in {p.job_lead_id for p in merged}:
        return None
    unmatched = [u for u in before.unmatched if u.subject != "job_leads"]
    return before.model_copy(update={"job_leads": merged, "unmatched": unmatched, "proposed_at": now})


async def leads_removed(
    connection: Connection,
    cache: CatalogCache,
    settings: MatchingSettings,
    lead_ids: list[str],
    now: datetime,
    reason: UpdateReason,
    *,
    assignment_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Take withdrawn or expired leads out of every proposal holding them (or only out of
    `assignment_ids`' proposals, found and locked by the caller), refilling each from the next
    best leads, as a set: one query reads the partners with their proposals, the ranking runs in
    memory, one query reads the leads ranked, one statement saves the changed proposals."""
    await cache.refresh(connection)
    affected: set[uuid.UUID] = set(assignment_ids or ())
    for lead_id in lead_ids if assignment_ids is None else ():
        affected.update(await repository.proposals_with_lead(connection, lead_id))
    gone = set(lead_ids)
    limit = settings.job_leads_per_partner
    partners = await repository.open_proposals_by_id(connection, sorted(affected))
    situations = [situation_for(partner, cache, settings, now) for partner, _ in partners]
    # A lead this transaction withdrew is still in the cache (it holds committed rows only):
    # rank as many more as were withdrawn, so that each partner is refilled to the limit.
    ranked = [
        [(i, score) for i, score in cache.leads.rank(p.profile, s, limit=limit + len(gone)) if i not in gone]
        for (p, _), s in zip(partners, situations, strict=True)
    ]
    leads = await repository.job_leads_by_id(connection, sorted({i for found in ranked for i, _ in found}))
    everything: dict[str, list[JobLead]] = {}  # per host country, read only if a partner has no lead left
    changes = []
    for (partner, before), situation, found in zip(partners, situations, ranked, strict=True):
        kept = explained_leads(found, leads, partner, situation, limit)
        unmatched = [u for u in before.unmatched if u.subject != "job_leads"]
        if not kept:  # the last lead went: say why none is left, so that HR can act
            country = partner.host.country
            if country not in everything:
                everything[country] = await repository.open_job_leads_for(connection, partner.host, now)
            unmatched.append(why_no_leads(everything[country], partner.profile, situation))
        after = before.model_copy(update={"job_leads": kept, "unmatched": unmatched, "proposed_at": now})
        changes.append((partner, before, after))
    await announce_all(connection, changes, reason)
    return len(affected)


__all__ = ["announce", "announce_all", "coach_changed", "lead_added", "leads_removed", "match_partner", "update"]
