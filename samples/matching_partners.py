"""Deterministic generated partners for the quality evaluation and the benchmark: host cities
weighted like the sample catalog's, a majority of English and host-language speakers and long
tails of minority languages, the goals and permits relocating partners report."""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from samples.matching_catalog import HOST_CITIES, Catalog
from shared.contracts import (
    CefrLevel,
    Goal,
    LanguageSkill,
    LeadKind,
    Location,
    PartnerProfile,
    Sector,
    WorkPermitStatus,
)

# First language of the partner and its share; the rest are minorities in every host.
_FIRST_LANGUAGES = (
    ("en", 24), ("de", 8), ("es", 8), ("fr", 6), ("hi", 7), ("zh", 6), ("pt", 5), ("ar", 5), ("nl", 3),
    ("no", 2), ("it", 4), ("pl", 4), ("ru", 3), ("tr", 3), ("uk", 3), ("tl", 3), ("ja", 2), ("sv", 2),
    ("da", 1), ("ko", 1),
)  # fmt: skip
_PERMITS = (
    (WorkPermitStatus.DEPENDENT_PERMIT_WITH_WORK_RIGHTS, 45),
    (WorkPermitStatus.HAS_WORK_RIGHTS, 20),
    (WorkPermitStatus.DEPENDENT_PERMIT_WITHOUT_WORK_RIGHTS, 20),
    (WorkPermitStatus.APPLICATION_PENDING, 10),
    (WorkPermitStatus.UNKNOWN, 5),
)
_LEVELS = list(CefrLevel)


@dataclass(frozen=True)
class SamplePartner:
    partner_id: str
    profile: PartnerProfile
    host: Location
    start_date: date
    # The generator's truth, which the profile may not show: the sector of the job the partner's
    # occupation and skills were drawn from (the profile names another sector for 1 in 5).
    true_sector: Sector


def generate_partners(n: int, catalog: Catalog, *, seed: int = 11, today: date) -> list[SamplePartner]:
    rng = random.Random(seed)
    # A partner's occupation is a profession: drawn from job leads, not from networks or courses.
    jobs = [lead for lead in catalog.job_leads[:5000] if lead.kind is LeadKind.JOB]
    occupations = [(lead.occupation, lead.sector, lead.skills) for lead in jobs]
    sizes = [6, 5, 3, 7, 5, 6, 4, 10, 6, 9, 7, 6, 5, 5, 5, 7, 5, 6, 5]
    codes, shares = zip(*_FIRST_LANGUAGES, strict=True)
    permits = [permit for permit, _ in _PERMITS]
    permit_shares = [share for _, share in _PERMITS]
    partners = []
    for number in range(1, n + 1):
        host = rng.choices(HOST_CITIES, weights=sizes[: len(HOST_CITIES)])[0]
        first = rng.choices(codes, weights=shares)[0]
        languages = {first: CefrLevel.C2}
        if first != "en" and rng.random() < 0.6:
            languages["en"] = rng.choice(_LEVELS[2:])
        if rng.random() < 0.2:
            languages.setdefault(rng.choice(codes), rng.choice(_LEVELS[:4]))
        occupation, sector, skills = rng.choice(occupations)
        true_sector = sector
        if rng.random() < 0.2:
            sector = rng.choice(list(Sector))
        goals = [Goal.EMPLOYMENT] if rng.random() < 0.7 else [rng.choice(list(Goal))]
        if rng.random() < 0.3:
            goals.append(rng.choice([g for g in Goal if g not in goals]))
        partners.append(
            SamplePartner(
                partner_id=f"partner-{number:05d}",
                profile=PartnerProfile(
                    languages=[LanguageSkill(code=c, level=lvl) for c, lvl in languages.items()],
                    occupation=occupation,
                    skills=rng.sample(skills, min(len(skills), rng.randint(2, 6))),
                    sector=sector,
                    goals=goals,
                    work_permit=rng.choices(permits, weights=permit_shares)[0],
                ),
                host=host,
                start_date=today + timedelta(days=rng.randint(0, 90)),
                true_sector=true_sector,
            )
        )
    return partners
