"""Matching rules: which coaches and job leads are feasible for a partner, and how well each
fits, explained per criterion. Pure: no I/O, so every rule is tested directly.

Hard constraints are never traded against score: an infeasible candidate is not ranked at all.
`vectors.py` computes the same rules with numpy for whole catalogs; tests hold the two equal.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from shared.contracts import (
    CefrLevel,
    Coach,
    CoachProposal,
    CriterionScore,
    Goal,
    JobLead,
    JobLeadProposal,
    LanguageSkill,
    LeadKind,
    Location,
    PartnerProfile,
)

from .catalog.reference import hours_apart, language_code, language_name, occupation_key, skill_key
from .settings import DEFAULT_COACH_WEIGHTS, DEFAULT_LEAD_WEIGHTS

T = TypeVar("T")

# A partner at B1 can follow a coaching session; a coach needs B2 to lead one.
PARTNER_USABLE_LEVEL = CefrLevel.B1
COACH_USABLE_LEVEL = CefrLevel.B2
# A coach who starts within this long after the partner arrives still counts as available.
AVAILABILITY_GRACE = timedelta(days=30)
REMOTE_PLACE_SCORE = 0.6
# Which kinds of lead serve which goal: a partner who seeks integration gets networks,
# volunteering and education, not only jobs.
LEAD_KINDS_FOR_GOAL: Mapping[Goal, frozenset[LeadKind]] = {
    Goal.EMPLOYMENT: frozenset({LeadKind.JOB, LeadKind.NETWORK}),
    Goal.ENTREPRENEURSHIP: frozenset({LeadKind.NETWORK, LeadKind.JOB}),
    Goal.EDUCATION: frozenset({LeadKind.EDUCATION}),
    Goal.INTEGRATION: frozenset({LeadKind.NETWORK, LeadKind.VOLUNTEERING, LeadKind.EDUCATION}),
}
SkillRarity = Callable[[str], float]
# How alike two occupations are (0..1), given their keys: 1.0 for the same one.
OccupationRelation = Callable[[str, str], float]
# A lead is proposed only when it is plausibly right for the partner (see lead_is_relevant):
# occupations at least this alike count as related ...
RELATED_OCCUPATION = 0.4
# ... and skills count when the partner has at least this share of what the lead asks for
# (rarity-weighted, so a generic skill every lead asks for does not carry a match on its own).
RELEVANT_SKILL_SHARE = 0.25
# A language course is for a partner who speaks the language below this level.
FLUENT = CefrLevel.C1


def _no_rarity(_: str) -> float:
    return 1.0


def _same_occupation(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


@dataclass(frozen=True)
class Situation:
    """Where and when a partner is matched, and how criteria are weighed."""

    host: Location
    now: datetime
    host_timezone: str | None = None
    start_date: date | None = None
    coach_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_COACH_WEIGHTS))
    lead_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LEAD_WEIGHTS))
    # How rare a skill key is among open leads (rarer skills count more in the overlap).
    rarity: SkillRarity = _no_rarity
    # How alike two occupations are among open leads (shared skills); same key only, by default.
    related: OccupationRelation = _same_occupation

    @property
    def arrival(self) -> date:
        return self.start_date or self.now.date()


@dataclass(frozen=True)
class CoachCandidate:
    coach: Coach
    active_partners: int

    @property
    def has_room(self) -> bool:
        return self.coach.active and self.active_partners < self.coach.capacity


@dataclass(frozen=True)
class Scored(Generic[T]):
    item: T
    score: float
    criteria: list[CriterionScore]


def _levels(skills: Iterable[LanguageSkill]) -> dict[str, CefrLevel]:
    return {skill.code: skill.level for skill in skills}


# ---- coaches ---------------------------------------------------------------------------------


def best_shared_language(partner: PartnerProfile, coach: Coach) -> tuple[str, CefrLevel] | None:
    """The shared language the partner speaks best, if both speak it at a usable level."""
    coach_levels = _levels(coach.languages)
    usable = [
        (skill.code, skill.level)
        for skill in partner.languages
        if skill.level >= PARTNER_USABLE_LEVEL and coach_levels.get(skill.code, 0) >= COACH_USABLE_LEVEL
    ]
    return max(usable, key=lambda pair: (pair[1], pair[0]), default=None)


def strongest_language(partner: PartnerProfile) -> str:
    """The language the partner speaks best (the first listed among equals): the language group
    whose coverage a fair batch evens out."""
    return max(partner.languages, key=lambda skill: skill.level).code


def meets_in_person(coach: Coach, host: Location) -> bool:
    return host in coach.cities or host.country in coach.countries


def serves_place(coach: Coach, host: Location) -> bool:
    return coach.remote or meets_in_person(coach, host)


def is_available(coach: Coach, arrival: date) -> bool:
    return coach.available_from is None or coach.available_from <= arrival + AVAILABILITY_GRACE


def coach_is_feasible(candidate: CoachCandidate, partner: PartnerProfile, situation: Situation) -> bool:
    coach = candidate.coach
    return (
        candidate.has_room
        and serves_place(coach, situation.host)
        and is_available(coach, situation.arrival)
        and best_shared_language(partner, coach) is not None
    )


def _criterion(name: str, weights: Mapping[str, float], score: float, explanation: str) -> CriterionScore:
    return CriterionScore(
        criterion=name,
        weight=weights.get(name, 0.0),
        score=round(min(1.0, max(0.0, score)), 4),
        explanation=explanation,
    )


def _total(criteria: list[CriterionScore]) -> float:
    weight = sum(c.weight for c in criteria) or 1.0
    return round(sum(c.weight * c.score for c in criteria) / weight, 4)


def timezone_gap(coach: Coach, situation: Situation) -> float | None:
    """Hours between coach and partner, or None when they meet in person or the host's zone is
    unknown."""
    if meets_in_person(coach, situation.host) or situation.host_timezone is None:
        return None
    return hours_apart(coach.timezone, situation.host_timezone, situation.now)


def timezone_score(gap: float | None) -> float:
    return 1.0 if gap is None else max(0.0, 1.0 - gap / 12.0)


def _sector_text(partner: PartnerProfile) -> str:
    return partner.sector.value.replace("_", " ")


def score_coach(candidate: CoachCandidate, partner: PartnerProfile, situation: Situation) -> Scored[CoachCandidate]:
    coach, weights, host = candidate.coach, situation.coach_weights, situation.host
    shared = best_shared_language(partner, coach)
    assert shared is not None, "score only feasible coaches"
    code, level = shared
    goals = sorted(set(partner.goals) & set(coach.specialties))
    in_person = meets_in_person(coach, host)
    gap = timezone_gap(coach, situation)
    free = coach.capacity - candidate.active_partners
    in_sector = partner.sector in coach.sectors
    criteria = [
        _criterion(
            "language", weights, level / CefrLevel.C2, f"speaks {language_name(code)}, which you speak at {level.name}"
        ),
        _criterion(
            "goals",
            weights,
            len(goals) / len(set(partner.goals)),
            f"coaches for {len(goals)} of your {len(set(partner.goals))} goals"
            + (f" ({', '.join(goals)})" if goals else ""),
        ),
        _criterion(
            "sector",
            weights,
            1.0 if in_sector else 0.0,
            f"knows the {_sector_text(partner)} sector"
            if in_sector
            else f"does not specialise in {_sector_text(partner)}",
        ),
        _criterion(
            "place",
            weights,
            1.0 if in_person else REMOTE_PLACE_SCORE,
            f"meets in person in {host.city}" if in_person else "coaches remotely",
        ),
        _criterion(
            "timezone",
            weights,
            timezone_score(gap),
            "same place, same time zone"
            if gap is None
            else ("same time zone" if gap == 0 else f"{gap:g} h time difference"),
        ),
        _criterion("load", weights, free / coach.capacity, f"has {free} of {coach.capacity} places free"),
        _criterion("rating", weights, coach.rating / 5, f"rated {coach.rating:.1f} of 5 by partners"),
    ]
    return Scored(candidate, _total(criteria), criteria)


def rank_coaches(
    candidates: Iterable[CoachCandidate], partner: PartnerProfile, situation: Situation
) -> list[Scored[CoachCandidate]]:
    scored = [score_coach(c, partner, situation) for c in candidates if coach_is_feasible(c, partner, situation)]
    return sorted(scored, key=lambda s: (-s.score, s.item.coach.coach_id))


# ---- job leads -------------------------------------------------------------------------------


def permit_allows(lead: JobLead, partner: PartnerProfile, host: Location) -> bool:
    if lead.kind is LeadKind.JOB and lead.location.country != host.country:
        # A remote job for an employer abroad is done where the partner lives: it needs the right
        # to work there, whatever the employer would sponsor in its own country.
        return partner.work_permit.may_work
    if lead.visa_sponsorship:
        return True
    if lead.eligible_permits:
        return partner.work_permit in lead.eligible_permits
    return not lead.work_rights_required or partner.work_permit.may_work


def wanted_kinds(partner: PartnerProfile) -> frozenset[LeadKind]:
    return frozenset().union(*(LEAD_KINDS_FOR_GOAL[goal] for goal in partner.goals))


def meets_languages(lead: JobLead, partner: PartnerProfile) -> bool:
    levels = _levels(partner.languages)
    return all(levels.get(req.code, 0) >= req.level for req in lead.required_languages)


def lead_is_feasible(lead: JobLead, partner: PartnerProfile, situation: Situation) -> bool:
    return (
        not lead.is_expired(situation.now)
        and (lead.remote or lead.location.country == situation.host.country)
        and permit_allows(lead, partner, situation.host)
        and meets_languages(lead, partner)
        and lead.kind in wanted_kinds(partner)
    )


def languages_taught(lead: JobLead) -> frozenset[str]:
    """The languages an education lead teaches: the skills that name a language ("German")."""
    if lead.kind is not LeadKind.EDUCATION:
        return frozenset()
    return frozenset(code for code in map(language_code, lead.skills) if code is not None)


def lead_is_relevant(lead: JobLead, partner: PartnerProfile, situation: Situation) -> bool:
    """Plausibly right for this partner, beyond being allowed: a job in the partner's occupation
    or a related one, or asking for enough of the partner's skills; a network in the sector too;
    a course of the sector or of a language the partner is still learning; volunteering always
    (it serves the integration goal). No overlap is no lead: fewer good leads beat ten poor ones."""
    if lead.kind is LeadKind.VOLUNTEERING:
        return True
    related = situation.related(occupation_key(partner.occupation), occupation_key(lead.occupation))
    share, matched, _ = _skill_overlap(lead, partner, situation.rarity)
    if related >= RELATED_OCCUPATION or (matched and round(share, 4) >= RELEVANT_SKILL_SHARE):
        return True
    if lead.kind is LeadKind.JOB:
        return False
    if lead.sector == partner.sector:
        return True
    levels = _levels(partner.languages)
    return any(levels.get(code, 0) < FLUENT for code in languages_taught(lead))


def lead_is_proposable(lead: JobLead, partner: PartnerProfile, situation: Situation) -> bool:
    return lead_is_feasible(lead, partner, situation) and lead_is_relevant(lead, partner, situation)


def _skill_overlap(lead: JobLead, partner: PartnerProfile, rarity: SkillRarity) -> tuple[float, int, int]:
    asked = {skill_key(s) for s in lead.skills}
    yours = {skill_key(s) for s in partner.skills}
    matched = asked & yours
    total = sum(rarity(k) for k in asked)
    return (sum(rarity(k) for k in matched) / total if total else 0.5), len(matched), len(asked)


def language_margin(lead: JobLead, partner: PartnerProfile) -> int | None:
    """Levels to spare over the tightest requirement, None if none is asked for."""
    levels = _levels(partner.languages)
    margins = [levels.get(req.code, 0) - req.level for req in lead.required_languages]
    return min(margins) if margins else None


def place_score(lead: JobLead, host: Location) -> float:
    if lead.location == host:
        return 1.0
    return 0.8 if lead.remote else 0.7


def score_lead(lead: JobLead, partner: PartnerProfile, situation: Situation) -> Scored[JobLead]:
    weights, host = situation.lead_weights, situation.host
    skills, matched, asked = _skill_overlap(lead, partner, situation.rarity)
    same_occupation = occupation_key(lead.occupation) == occupation_key(partner.occupation)
    primary = lead.kind in LEAD_KINDS_FOR_GOAL[partner.goals[0]]
    margin = language_margin(lead, partner)
    required = ", ".join(f"{language_name(r.code)} {r.level.name}" for r in lead.required_languages)
    criteria = [
        _criterion(
            "skills",
            weights,
            skills,
            f"{matched} of the {asked} skills asked for are yours" if asked else "asks for no specific skills",
        ),
        _criterion(
            "sector",
            weights,
            1.0 if lead.sector == partner.sector else 0.0,
            "in your sector"
            if lead.sector == partner.sector
            else f"in {lead.sector.value.replace('_', ' ')}, outside your sector",
        ),
        _criterion(
            "occupation",
            weights,
            1.0 if same_occupation else 0.0,
            f"your occupation ({lead.occupation})"
            if same_occupation
            else f"a different occupation ({lead.occupation})",
        ),
        _criterion(
            "goals",
            weights,
            1.0 if primary else 0.5,
            f"a {lead.kind.value} lead, for your first goal ({partner.goals[0].value})"
            if primary
            else f"a {lead.kind.value} lead, for one of your other goals",
        ),
        _criterion(
            "language",
            weights,
            1.0 if margin is None or margin >= 1 else 0.7,
            "no language requirement"
            if margin is None
            else f"you meet the language requirement ({required})"
            + (" with room to spare" if margin >= 1 else " exactly"),
        ),
        _criterion(
            "place",
            weights,
            place_score(lead, host),
            f"in {lead.location.city}" + (" or remote" if lead.remote else ""),
        ),
    ]
    return Scored(lead, _total(criteria), criteria)


def rank_job_leads(
    leads: Iterable[JobLead], partner: PartnerProfile, situation: Situation, *, limit: int
) -> list[Scored[JobLead]]:
    scored = [score_lead(lead, partner, situation) for lead in leads if lead_is_proposable(lead, partner, situation)]
    return sorted(scored, key=lambda s: (-s.score, s.item.job_lead_id))[:limit]


# ---- proposals -------------------------------------------------------------------------------


def coach_proposal(scored: Scored[CoachCandidate], host: Location) -> CoachProposal:
    coach = scored.item.coach
    location = host if host in coach.cities else (coach.cities[0] if coach.cities else None)
    return CoachProposal(
        coach_id=coach.coach_id,
        display_name=coach.display_name,
        contact_email=coach.contact_email,
        location=location,
        remote=coach.remote,
        score=scored.score,
        criteria=scored.criteria,
    )


def job_lead_proposal(scored: Scored[JobLead]) -> JobLeadProposal:
    lead = scored.item
    return JobLeadProposal(
        job_lead_id=lead.job_lead_id,
        kind=lead.kind,
        title=lead.title,
        organisation=lead.organisation,
        location=lead.location,
        remote=lead.remote,
        url=lead.url,
        score=scored.score,
        criteria=scored.criteria,
        work_rights_required=lead.work_rights_required,
        visa_sponsorship=lead.visa_sponsorship,
    )
