from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from samples.matching_catalog import HOST_CITIES, Catalog, generate_catalog
from shared.contracts import Coach, Goal, JobLead, LeadKind, Sector

TODAY = date(2026, 11, 22)
MIDNIGHT = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(today=TODAY)


def test_same_seed_gives_the_same_catalog(catalog: Catalog) -> None:
    again = generate_catalog(today=TODAY)
    assert again.coaches == catalog.coaches
    assert again.job_leads == catalog.job_leads


def test_another_seed_gives_another_catalog(catalog: Catalog) -> None:
    other = generate_catalog(seed=8, today=TODAY)
    assert other.coaches != catalog.coaches
    assert other.job_leads != catalog.job_leads


def test_default_sizes(catalog: Catalog) -> None:
    assert len(catalog.coaches) >= 50
    assert len(catalog.job_leads) >= 500


def test_sizes_follow_the_arguments() -> None:
    small = generate_catalog(seed=1, coaches=3, job_leads=7, today=TODAY)
    assert (len(small.coaches), len(small.job_leads)) == (3, 7)
    assert generate_catalog(coaches=0, job_leads=0, today=TODAY) == Catalog(coaches=[], job_leads=[])
    with pytest.raises(ValueError):
        generate_catalog(coaches=-1, today=TODAY)


def test_ids_are_unique_and_formatted(catalog: Catalog) -> None:
    coach_ids = [coach.coach_id for coach in catalog.coaches]
    lead_ids = [lead.job_lead_id for lead in catalog.job_leads]
    assert len(set(coach_ids)) == len(coach_ids)
    assert len(set(lead_ids)) == len(lead_ids)
    assert coach_ids[0] == "coach-0001"
    assert lead_ids[0] == "lead-00001"
    assert all(lead.url == f"https://jobs.example/{lead.job_lead_id}" for lead in catalog.job_leads)
    emails = [coach.contact_email for coach in catalog.coaches]
    assert len(set(emails)) == len(emails)
    assert all(email.endswith("@coach.example") for email in emails)


def test_every_record_passes_contract_validation(catalog: Catalog) -> None:
    for coach in catalog.coaches:
        assert Coach.model_validate_json(coach.model_dump_json()) == coach
    for lead in catalog.job_leads:
        assert JobLead.model_validate_json(lead.model_dump_json()) == lead


def test_host_cities() -> None:
    assert len(HOST_CITIES) >= 12
    assert len(set(HOST_CITIES)) == len(HOST_CITIES)
    per_country = Counter(city.country for city in HOST_CITIES)
    assert per_country["NO"] >= 3
    assert sum(1 for count in per_country.values() if count > 1) >= 3


def test_every_host_city_has_coaches_and_leads(catalog: Catalog) -> None:
    coach_cities = Counter(coach.cities[0] for coach in catalog.coaches)
    lead_cities = Counter(lead.location for lead in catalog.job_leads)
    for city in HOST_CITIES:
        assert coach_cities[city] >= 1, city
        assert lead_cities[city] >= 3, city
    assert set(lead_cities) <= set(HOST_CITIES)
    assert all(set(coach.cities) <= set(HOST_CITIES) for coach in catalog.coaches)


def test_coaches_keep_their_city_time_zone_and_same_country_cities(catalog: Catalog) -> None:
    zones = {coach.cities[0]: coach.timezone for coach in catalog.coaches}
    assert zones[HOST_CITIES[0]] == "Europe/Oslo"
    for coach in catalog.coaches:
        ZoneInfo(coach.timezone)  # a real IANA zone
        assert len({city.country for city in coach.cities}) == 1
        assert 1 <= len(coach.languages) <= 4
        assert 1 <= len(coach.sectors) <= 3
        assert 2 <= coach.capacity <= 12
        assert 3.2 <= coach.rating <= 5.0
        assert round(coach.rating, 1) == coach.rating


def test_coach_mix_is_realistic(catalog: Catalog) -> None:
    coaches = catalog.coaches
    remote = sum(coach.remote for coach in coaches) / len(coaches)
    assert 0.1 <= remote <= 0.5
    assert sum(not coach.active for coach in coaches) < len(coaches) * 0.15
    assert sum(Goal.EMPLOYMENT in coach.specialties for coach in coaches) > len(coaches) * 0.6
    assert any(Goal.INTEGRATION in coach.specialties for coach in coaches)
    languages = {skill.code for coach in coaches for skill in coach.languages}
    assert {"en", "no", "de"} <= languages
    assert len(languages - {"en", "no", "de", "nl", "da", "sv", "fr", "es", "ar"}) >= 3  # minority languages


def test_all_sectors_and_kinds_present(catalog: Catalog) -> None:
    sectors = Counter(lead.sector for lead in catalog.job_leads)
    assert set(sectors) == set(Sector)
    assert min(sectors.values()) >= 3
    kinds = Counter(lead.kind for lead in catalog.job_leads)
    assert set(kinds) == set(LeadKind)
    assert kinds[LeadKind.JOB] > len(catalog.job_leads) / 2


def test_some_leads_expired_most_not(catalog: Catalog) -> None:
    expired = sum(lead.is_expired(MIDNIGHT) for lead in catalog.job_leads)
    assert 0 < expired < len(catalog.job_leads) * 0.25
    for lead in catalog.job_leads:
        assert lead.expires_at.tzinfo is not None
        assert lead.expires_at.utcoffset() == timedelta(0)
        assert MIDNIGHT - timedelta(days=10) <= lead.expires_at <= MIDNIGHT + timedelta(days=90)


def test_lead_fields_are_plausible(catalog: Catalog) -> None:
    leads = catalog.job_leads
    jobs = [lead for lead in leads if lead.kind is LeadKind.JOB]
    others = [lead for lead in leads if lead.kind is not LeadKind.JOB]
    assert all(3 <= len(lead.skills) <= 8 for lead in leads)
    assert all(len(set(lead.skills)) == len(lead.skills) for lead in leads)
    assert sum(lead.work_rights_required for lead in jobs) > len(jobs) * 0.7
    assert sum(not lead.work_rights_required for lead in others) > len(others) * 0.7
    assert not any(lead.visa_sponsorship for lead in others)
    assert 0.03 <= sum(lead.visa_sponsorship for lead in jobs) / len(jobs) <= 0.2
    assert 0.05 <= sum(lead.remote for lead in leads) / len(leads) <= 0.3
    assert any(not lead.required_languages for lead in jobs)
    assert sum(any(s.code == "en" for s in lead.required_languages) for lead in jobs) > len(jobs) * 0.4
