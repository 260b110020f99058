"""Matching rules: which coaches and job leads are feasible for a partner, and how well each
fits, explained per criterion. Pure: no I/O, so every rule is tested directly.

Hard constraints are never traded against score: an infeasible candidate is not ranked at all.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
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
    Unmatched,
)

T = TypeVar("T")

# A partner at B1 can follow a coaching session; a coach needs B2 to lead one.
PARTNER_USABLE_LEVEL = CefrLevel.B1
COACH_USABLE_LEVEL = CefrLevel.B2

COACH_WEIGHTS: Mapping[str, float] = {
    "language": 0.25,
    "goals": 0.2,
    "sector": 0.2,
    "place": 0.15,
    "availability": 0.1,
    "rating": 0.1,
}
JOB_LEAD_WEIGHTS: Mapping[str, float] = {
    "skills": 0.35,
    "sector": 0.2,
    "occupation": 0.15,
    "language": 0.15,
    "place": 0.15,
}
# Which kinds of lead serve which goal: a partner who seeks integration gets networks and
# volunteering, not only jobs.
LEAD_KINDS_FOR_GOAL: Mapping[Goal, frozenset[LeadKind]] = {
    Goal.EMPLOYMENT: frozenset({LeadKind.JOB, LeadKind.NETWORK}),
    Goal.ENTREPRENEURSHIP: frozenset({LeadKind.NETWORK, LeadKind.JOB}),
    Goal.EDUCATION: frozenset({LeadKind.EDUCATION}),
    Goal.INTEGRATION: frozenset({LeadKind.NETWORK, LeadKind.VOLUNTEERING, LeadKind.EDUCATION}),
}
LANGUAGE_NAMES: Mapping[str, str] = {
    "ar": "Arabic",
    "da": "Danish",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "nb": "Norwegian",
    "nl": "Dutch",
    "nn": "Norwegian",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tl": "Tagalog",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}


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


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def _levels(skills: Iterable[LanguageSkill]) -> dict[str, CefrLevel]:
    return {skill.code: skill.level for skill in skills}


def best_shared_language(partner: PartnerProfile, coach: Coach) -> tuple[str, CefrLevel] | None:
    """The shared language the partner speaks best, if both speak it at a usable level."""
    coach_levels = _levels(coach.languages)
    usable = [
        (skill.code, skill.level)
        for skill in partner.languages
        if skill.level >= PARTNER_USABLE_LEVEL and coach_levels.get(skill.code, 0) >= COACH_USABLE_LEVEL
    ]
    return max(usable, key=lambda pair: pair[1], default=None)


def serves_place(coach: Coach, host: Location) -> bool:
    return coach.remote or host in coach.cities or host.country in coach.countries


def coach_is_feasible(candidate: CoachCandidate, partner: PartnerProfile, host: Location) -> bool:
    coach = candidate.coach
    return candidate.has_room and serves_place(coach, host) and best_shared_language(partner, coach) is not None


def _criterion(name: str, weights: Mapping[str, float], score: float, explanation: str) -> CriterionScore:
    return CriterionScore(criterion=name, weight=weights[name], score=round(score, 4), explanation=explanation)


def _total(criteria: list[CriterionScore]) -> float:
    weight = sum(c.weight for c in criteria) or 1.0
    return round(sum(c.weight * c.score for c in criteria) / weight, 4)


def score_coach(
    candidate: CoachCandidate, partner: PartnerProfile, host: Location, weights: Mapping[str, float] = COACH_WEIGHTS
) -> Scored[CoachCandidate]:
    coach = candidate.coach
    shared = best_shared_language(partner, coach)
    assert shared is not None, "score only feasible coaches"
    code, level = shared
    goals = set(partner.goals) & set(coach.specialties)
    in_person = host in coach.cities or host.country in coach.countries
    free = coach.capacity - candidate.active_partners
    criteria = [
        _criterion(
            "language", weights, level / CefrLevel.C2, f"speaks {language_name(code)}, which you speak at {level.name}"
        ),
        _criterion(
            "goals",
            weights,
            len(goals) / len(partner.goals),
            f"coaches for {len(goals)} of your {len(partner.goals)} goals"
            + (f" ({', '.join(sorted(goals))})" if goals else ""),
        ),
        _criterion(
            "sector",
            weights,
            1.0 if partner.sector in coach.sectors else 0.0,
            f"knows the {partner.sector.value.replace('_', ' ')} sector"
            if partner.sector in coach.sectors
            else f"does not specialise in {partner.sector.value.replace('_', ' ')}",
        ),
        _criterion(
            "place",
            weights,
            1.0 if in_person else 0.6,
            f"meets in person in {host.city}" if in_person else "coaches remotely",
        ),
        _criterion("availability", weights, free / coach.capacity, f"has {free} of {coach.capacity} places free"),
        _criterion("rating", weights, coach.rating / 5, f"rated {coach.rating:.1f} of 5 by partners"),
    ]
    return Scored(candidate, _total(criteria), criteria)


def rank_coaches(
    candidates: Iterable[CoachCandidate],
    partner: PartnerProfile,
    host: Location,
    weights: Mapping[str, float] = COACH_WEIGHTS,
) -> list[Scored[CoachCandidate]]:
    scored = [score_coach(c, partner, host, weights) for c in candidates if coach_is_feasible(c, partner, host)]
    return sorted(scored, key=lambda s: (-s.score, s.item.coach.coach_id))


def why_no_coach(candidates: Iterable[CoachCandidate], partner: PartnerProfile, host: Location) -> Unmatched:
    """The most specific reason no coach is feasible, for HR to act on."""
    in_region = [c for c in candidates if c.coach.active and serves_place(c.coach, host)]
    speaking = [c for c in in_region if best_shared_language(partner, c.coach) is not None]
    if not in_region:
        code, message = "no_coach_in_region", f"no active coach serves {host.city}, {host.country} or works remotely"
    elif not speaking:
        languages = ", ".join(language_name(s.code) for s in partner.languages)
        code, message = "no_shared_language", f"no coach for {host.city} speaks {languages} at a usable level"
    else:
        code, message = "no_capacity", f"all {len(speaking)} suitable coaches for {host.city} are fully booked"
    return Unmatched(subject="coach", reason_code=code, message=message)


def lead_is_feasible(lead: JobLead, partner: PartnerProfile, host: Location, now: datetime) -> bool:
    partner_levels = _levels(partner.languages)
    wanted_kinds = set().union(*(LEAD_KINDS_FOR_GOAL[goal] for goal in partner.goals))
    return (
        not lead.is_expired(now)
        and (lead.remote or lead.location.country == host.country)
        and (not lead.work_rights_required or lead.visa_sponsorship or partner.work_permit.may_work)
        and all(partner_levels.get(req.code, 0) >= req.level for req in lead.required_languages)
        and lead.kind in wanted_kinds
    )


def _words(text: str) -> set[str]:
    return {word for word in text.lower().replace("(", " ").replace(")", " ").split() if len(word) > 2}


def score_lead(
    lead: JobLead, partner: PartnerProfile, host: Location, weights: Mapping[str, float] = JOB_LEAD_WEIGHTS
) -> Scored[JobLead]:
    partner_skills = {s.lower() for s in partner.skills}
    asked = {s.lower() for s in lead.skills}
    matched = partner_skills & asked
    occupation_overlap = _words(partner.occupation) & _words(lead.occupation)
    languages = ", ".join(f"{language_name(r.code)} {r.level.name}" for r in lead.required_languages)
    criteria = [
        _criterion(
            "skills",
            weights,
            len(matched) / len(asked) if asked else 0.5,
            f"{len(matched)} of the {len(asked)} skills asked for are yours"
            if asked
            else "asks for no specific skills",
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
            min(1.0, len(occupation_overlap) / 2),
            f"close to your occupation ({lead.occupation})"
            if occupation_overlap
            else f"a different occupation ({lead.occupation})",
        ),
        _criterion(
            "language",
            weights,
            1.0,
            f"you meet the language requirement ({languages})" if languages else "no language requirement",
        ),
        _criterion(
            "place",
            weights,
            1.0 if lead.location == host else 0.7 if not lead.remote else 0.8,
            f"in {lead.location.city}" + (" or remote" if lead.remote else ""),
        ),
    ]
    return Scored(lead, _total(criteria), criteria)


def rank_job_leads(
    leads: Iterable[JobLead],
    partner: PartnerProfile,
    host: Location,
    now: datetime,
    *,
    limit: int,
    weights: Mapping[str, float] = JOB_LEAD_WEIGHTS,
) -> list[Scored[JobLead]]:
    scored = [score_lead(lead, partner, host, weights) for lead in leads if lead_is_feasible(lead, partner, host, now)]
    return sorted(scored, key=lambda s: (-s.score, s.item.job_lead_id))[:limit]


def no_leads(host: Location) -> Unmatched:
    return Unmatched(
        subject="job_leads",
        reason_code="no_feasible_leads",
        message=f"no open lead in {host.country} fits the partner's goals, permit and languages",
    )


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
    )
