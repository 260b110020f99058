from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching import domain
from services.matching.domain import CoachCandidate
from services.matching.ranking import unmatched
from shared.contracts import (
    CefrLevel,
    Coach,
    Goal,
    JobLead,
    LanguageSkill,
    LeadKind,
    Location,
    PartnerProfile,
    Sector,
    WorkPermitStatus,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
STAVANGER = Location(city="Stavanger", country="NO")
OSLO = Location(city="Oslo", country="NO")
BERLIN = Location(city="Berlin", country="DE")


def at(host: Location) -> domain.Situation:
    return domain.Situation(host=host, now=NOW, host_timezone="Europe/Oslo")


levels = st.sampled_from(list(CefrLevel))
language_skills = st.lists(
    st.builds(LanguageSkill, code=st.sampled_from(["de", "en", "no", "pl", "ar"]), level=levels),
    min_size=1,
    max_size=3,
    unique_by=lambda s: s.code,
)


def partner(**changes: object) -> PartnerProfile:
    base = PartnerProfile(
        languages=[LanguageSkill(code="de", level=CefrLevel.C2), LanguageSkill(code="en", level=CefrLevel.B2)],
        occupation="Reservoir engineer",
        skills=["manage project", "perform reservoir simulation"],
        sector=Sector.ENERGY,
        goals=[Goal.EMPLOYMENT],
        work_permit=WorkPermitStatus.DEPENDENT_PERMIT_WITH_WORK_RIGHTS,
    )
    return base.model_copy(update=changes)


def coach(coach_id: str = "coach-1", **changes: object) -> Coach:
    base = Coach(
        coach_id=coach_id,
        display_name="Kari Nordmann",
        contact_email="kari@coach.example",
        languages=[LanguageSkill(code="no", level=CefrLevel.C2), LanguageSkill(code="de", level=CefrLevel.C1)],
        sectors=[Sector.ENERGY],
        specialties=[Goal.EMPLOYMENT],
        cities=[STAVANGER],
        remote=False,
        timezone="Europe/Oslo",
        capacity=3,
        rating=4.5,
    )
    return base.model_copy(update=changes)


def lead(lead_id: str = "lead-1", **changes: object) -> JobLead:
    base = JobLead(
        job_lead_id=lead_id,
        title="Reservoir engineer",
        organisation="North Sea Energy",
        location=STAVANGER,
        remote=False,
        sector=Sector.ENERGY,
        occupation="reservoir engineer",
        skills=["perform reservoir simulation", "analyse geological data"],
        required_languages=[LanguageSkill(code="en", level=CefrLevel.B2)],
        work_rights_required=True,
        visa_sponsorship=False,
        expires_at=NOW + timedelta(days=30),
    )
    return base.model_copy(update=changes)


def test_a_coach_speaking_the_partners_language_in_the_host_city_is_proposed_and_explained() -> None:
    ranked = domain.rank_coaches([CoachCandidate(coach(), 0)], partner(), at(STAVANGER))
    assert len(ranked) == 1
    explanations = {c.criterion: c.explanation for c in ranked[0].criteria}
    assert explanations["language"] == "speaks German, which you speak at C2"
    assert explanations["load"] == "has 3 of 3 places free"
    assert 0 < ranked[0].score <= 1


def test_full_inactive_distant_or_non_speaking_coaches_are_never_proposed() -> None:
    candidates = [
        CoachCandidate(coach("full"), 3),
        CoachCandidate(coach("inactive", active=False), 0),
        CoachCandidate(coach("berlin", cities=[BERLIN]), 0),
        CoachCandidate(coach("no-german", languages=[LanguageSkill(code="no", level=CefrLevel.C2)]), 0),
        CoachCandidate(coach("weak-german", languages=[LanguageSkill(code="de", level=CefrLevel.B1)]), 0),
    ]
    assert domain.rank_coaches(candidates, partner(), at(STAVANGER)) == []


def test_a_remote_coach_serves_any_host() -> None:
    ranked = domain.rank_coaches([CoachCandidate(coach(cities=[BERLIN], remote=True), 0)], partner(), at(STAVANGER))
    assert [c.explanation for c in ranked[0].criteria if c.criterion == "place"] == ["coaches remotely"]


def test_the_reason_no_coach_fits_is_the_most_specific_one() -> None:
    def reason(*coaches: Coach) -> str:
        return unmatched.why_no_coach(list(coaches), partner(), at(STAVANGER)).reason_code

    assert reason(coach(cities=[BERLIN])) == "no_coach_in_region"
    assert reason(coach(languages=[LanguageSkill(code="no", level=CefrLevel.C2)])) == "no_shared_language"
    # Asked only when no place could be taken: a coach every constraint allows is full.
    assert reason(coach()) == "no_capacity"


@settings(max_examples=200, deadline=None)
@given(
    partner_languages=language_skills,
    coaches=st.lists(
        st.tuples(
            language_skills,
            st.integers(0, 4),
            st.integers(0, 4),
            st.booleans(),
            st.booleans(),
            st.sampled_from([STAVANGER, OSLO, BERLIN]),
        ),
        max_size=12,
    ),
)
def test_ranked_coaches_always_meet_every_hard_constraint(
    partner_languages: list[LanguageSkill], coaches: list[tuple[list[LanguageSkill], int, int, bool, bool, Location]]
) -> None:
    profile = partner(languages=partner_languages)
    candidates = [
        CoachCandidate(coach(f"c{i}", languages=langs, capacity=cap, active=active, remote=remote, cities=[city]), load)
        for i, (langs, cap, load, active, remote, city) in enumerate(coaches)
    ]
    ranked = domain.rank_coaches(candidates, profile, at(STAVANGER))
    for scored in ranked:
        chosen = scored.item
        assert chosen.coach.active and chosen.active_partners < chosen.coach.capacity
        assert chosen.coach.remote or STAVANGER in chosen.coach.cities
        shared = domain.best_shared_language(profile, chosen.coach)
        assert shared is not None and shared[1] >= CefrLevel.B1
    feasible = [c for c in candidates if domain.coach_is_feasible(c, profile, at(STAVANGER))]
    assert len(ranked) == len(feasible)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_leads_that_are_expired_abroad_need_a_permit_or_a_language_are_filtered() -> None:
    no_rights = partner(work_permit=WorkPermitStatus.DEPENDENT_PERMIT_WITHOUT_WORK_RIGHTS)
    leads = [
        lead("ok"),
        lead("expired", expires_at=NOW - timedelta(minutes=1)),
        lead("abroad", location=BERLIN),
        lead("norwegian", required_languages=[LanguageSkill(code="no", level=CefrLevel.B2)]),
    ]
    assert [s.item.job_lead_id for s in domain.rank_job_leads(leads, partner(), at(STAVANGER), limit=10)] == ["ok"]
    assert domain.rank_job_leads([lead("ok")], no_rights, at(STAVANGER), limit=10) == []
    sponsored = lead("sponsored", visa_sponsorship=True)
    assert [s.item.job_lead_id for s in domain.rank_job_leads([sponsored], no_rights, at(STAVANGER), limit=10)] == [
        "sponsored"
    ]


def test_partners_seeking_integration_get_networks_and_volunteering_not_jobs() -> None:
    profile = partner(goals=[Goal.INTEGRATION])
    leads = [
        lead("job"),
        lead("network", kind=LeadKind.NETWORK, work_rights_required=False),
        lead("volunteer", kind=LeadKind.VOLUNTEERING, work_rights_required=False),
    ]
    found = {s.item.job_lead_id for s in domain.rank_job_leads(leads, profile, at(STAVANGER), limit=10)}
    assert found == {"network", "volunteer"}


def test_lead_scores_explain_skill_overlap() -> None:
    scored = domain.score_lead(lead(), partner(), at(STAVANGER))
    skills = next(c for c in scored.criteria if c.criterion == "skills")
    assert skills.explanation == "1 of the 2 skills asked for are yours" and skills.score == 0.5


# ---- relevance: a lead is proposed only when it is plausibly right for the partner ----------

ANALYST = partner(
    occupation="Financial analyst",
    skills=["financial analysis", "prepare financial reports", "financial forecasting"],
    sector=Sector.FINANCE,
)
SINGAPORE = Location(city="Singapore", country="SG")


def test_a_lead_sharing_no_occupation_skill_or_sector_is_not_padding() -> None:
    """The demo's case: a financial analyst was offered a molecular biologist and a civil engineer."""
    biologist = lead(
        "biologist",
        title="Senior molecular biologist",
        occupation="molecular biologist",
        sector=Sector.HEALTHCARE,
        skills=["molecular biology", "laboratory techniques"],
    )
    analyst_job = lead(
        "analyst",
        title="Financial analyst",
        occupation="financial analyst",
        sector=Sector.FINANCE,
        skills=["financial analysis", "risk management"],
    )
    skills_only = lead(
        "controller",
        occupation="financial controller",
        sector=Sector.FINANCE,
        skills=["prepare financial reports", "financial forecasting", "budgeting"],
    )
    found = [
        s.item.job_lead_id
        for s in domain.rank_job_leads([biologist, analyst_job, skills_only], ANALYST, at(STAVANGER), limit=10)
    ]
    assert found == ["analyst", "controller"]
    assert not domain.lead_is_relevant(biologist, ANALYST, at(STAVANGER))


def test_a_related_occupation_counts_without_shared_skills() -> None:
    related = domain.Situation(host=STAVANGER, now=NOW, related=lambda a, b: 1.0 if a == b else 0.6)
    auditor = lead("auditor", occupation="auditor", sector=Sector.FINANCE, skills=["audit procedures"])
    assert domain.lead_is_relevant(auditor, ANALYST, related)
    assert not domain.lead_is_relevant(auditor, ANALYST, at(STAVANGER))


def test_a_sponsored_visa_abroad_does_not_let_a_partner_without_work_rights_work_remotely() -> None:
    no_rights = ANALYST.model_copy(update={"work_permit": WorkPermitStatus.DEPENDENT_PERMIT_WITHOUT_WORK_RIGHTS})
    remote_abroad = lead(
        "abroad",
        location=SINGAPORE,
        remote=True,
        visa_sponsorship=True,
        work_rights_required=False,
        occupation="financial analyst",
        skills=["financial analysis"],
    )
    at_home = remote_abroad.model_copy(update={"job_lead_id": "home", "location": STAVANGER})
    assert not domain.permit_allows(remote_abroad, no_rights, STAVANGER)
    assert domain.permit_allows(at_home, no_rights, STAVANGER)
    found = [
        s.item.job_lead_id for s in domain.rank_job_leads([remote_abroad, at_home], no_rights, at(STAVANGER), limit=10)
    ]
    assert found == ["home"]


def test_language_courses_go_to_partners_still_learning_the_language() -> None:
    course = lead(
        "norwegian-a2",
        kind=LeadKind.EDUCATION,
        occupation="language learner",
        sector=Sector.EDUCATION,
        skills=["Norwegian", "understand spoken Norwegian"],
        required_languages=[],
        work_rights_required=False,
    )
    learner = ANALYST.model_copy(update={"goals": [Goal.INTEGRATION]})
    fluent = learner.model_copy(update={"languages": [LanguageSkill(code="no", level=CefrLevel.C2)]})
    assert domain.languages_taught(course) == {"no"}
    assert domain.lead_is_relevant(course, learner, at(STAVANGER))
    assert not domain.lead_is_relevant(course, fluent, at(STAVANGER))


def test_none_good_yet_is_an_answer_with_a_reason() -> None:
    biologist = lead(
        "biologist", occupation="molecular biologist", sector=Sector.HEALTHCARE, skills=["molecular biology"]
    )
    assert domain.rank_job_leads([biologist], ANALYST, at(STAVANGER), limit=10) == []
    reason = unmatched.why_no_leads([biologist], ANALYST, at(STAVANGER))
    assert reason.reason_code == "no_relevant_leads"
    assert "Financial analyst" in reason.message
