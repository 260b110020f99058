"""Unmatchable is an answer: the most specific reason no coach or lead fits, in codes HR can
act on (recruit a coach who speaks X in Y, raise a coach's capacity, sponsor a permit)."""

from collections.abc import Iterable

from shared.contracts import Coach, JobLead, Location, PartnerProfile, Unmatched

from ..catalog.reference import language_name
from ..domain import (
    Situation,
    best_shared_language,
    is_available,
    lead_is_relevant,
    meets_languages,
    permit_allows,
    serves_place,
    wanted_kinds,
)

NO_CONSENT = Unmatched(subject="coach", reason_code="no_consent", message="the partner has not consented to matching")


def places_held(host: Location) -> Unmatched:
    """Suitable coaches have free places, but the last batch priced them for partners with fewer
    options (assignment/prices.py); the next batch re-assignment considers this partner again."""
    return Unmatched(
        subject="coach",
        reason_code="places_held",
        message=f"the free places of the suitable coaches for {host.city} are kept for partners who have"
        " fewer options; the next re-assignment considers this partner again",
    )


def why_no_coach(coaches: Iterable[Coach], partner: PartnerProfile, situation: Situation) -> Unmatched:
    """Asked when no coach's place could be taken: the coaches' attributes say which constraint
    ruled them out, and if none did, their places are taken (no load needs reading)."""
    host = situation.host
    active = [c for c in coaches if c.active]
    in_region = [c for c in active if serves_place(c, host)]
    speaking = [c for c in in_region if best_shared_language(partner, c) is not None]
    available = [c for c in speaking if is_available(c, situation.arrival)]
    languages = ", ".join(language_name(s.code) for s in partner.languages)
    if not in_region:
        code, message = "no_coach_in_region", f"no active coach serves {host.city}, {host.country} or works remotely"
    elif not speaking:
        code, message = "no_shared_language", f"no coach for {host.city} speaks {languages} at a usable level"
    elif not available:
        code, message = "no_coach_available_in_time", f"the coaches for {host.city} who speak {languages} start later"
    else:
        code, message = "no_capacity", f"all {len(available)} suitable coaches for {host.city} are fully booked"
    return Unmatched(subject="coach", reason_code=code, message=message)


def why_no_leads(leads: Iterable[JobLead], partner: PartnerProfile, situation: Situation) -> Unmatched:
    """Filters in the order HR can act on them; the first that empties the list names the reason."""
    host, now = situation.host, situation.now
    steps = (
        ("no_leads_in_country", lambda lead: lead.remote or lead.location.country == host.country),
        ("all_leads_expired", lambda lead: not lead.is_expired(now)),
        ("no_leads_for_goals", lambda lead: lead.kind in wanted_kinds(partner)),
        ("work_permit_required", lambda lead: permit_allows(lead, partner, host)),
        ("language_level_too_low", lambda lead: meets_languages(lead, partner)),
        ("no_relevant_leads", lambda lead: lead_is_relevant(lead, partner, situation)),
    )
    messages = {
        "no_leads_in_country": f"no lead is open in {host.country} or remote",
        "all_leads_expired": f"every lead in {host.country} has expired",
        "no_leads_for_goals": "no open lead serves the partner's goals",
        "work_permit_required": "every fitting lead needs work rights the partner's permit does not give",
        "language_level_too_low": "every fitting lead asks for a higher language level than the partner's",
        "no_relevant_leads": f"none good yet: no open lead the partner may take in {host.country} matches"
        f" their occupation ({partner.occupation}), a related one or their skills",
    }
    remaining = list(leads)
    for code, keep in steps:
        remaining = [lead for lead in remaining if keep(lead)]
        if not remaining:
            return Unmatched(subject="job_leads", reason_code=code, message=messages[code])
    return Unmatched(subject="job_leads", reason_code="no_feasible_leads", message="no open lead fits the partner")
