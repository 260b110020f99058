import tomllib
from datetime import UTC, datetime

import pytest

from services.notifications import domain
from services.notifications.content import Document, Section, render
from services.notifications.i18n import LOCALES_DIR, resolve, supported, texts
from shared.contracts import (
    AssignmentRequested,
    Channel,
    CriterionScore,
    DeliveryChannel,
    JobLeadProposal,
    LeadKind,
    Location,
    MatchProposedPayload,
    Stakeholder,
    Unmatched,
)

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)


def no_match(event: AssignmentRequested) -> MatchProposedPayload:
    return MatchProposedPayload(
        assignment_id=event.payload.assignment_id,
        coach=None,
        job_leads=[],
        proposed_at=AT,
        unmatched=[Unmatched(subject="coach", reason_code="no_capacity", message="all coaches are fully booked")],
    )


def in_language(event: AssignmentRequested, language: str) -> AssignmentRequested:
    partner = event.payload.partner.model_copy(update={"preferred_language": language})
    return event.model_copy(update={"payload": event.payload.model_copy(update={"partner": partner})})


def test_each_role_gets_its_own_content(request_event: AssignmentRequested) -> None:
    event = in_language(request_event, "en")
    messages = domain.duty_of_information(event.payload, no_match(event), AT)
    by_role = {m.stakeholder: m for m in messages}
    assert set(by_role) == {Stakeholder.PARTNER, Stakeholder.EMPLOYEE, Stakeholder.HR}
    partner = by_role[Stakeholder.PARTNER]
    assert partner.recipient == "anna.weber@family.example"
    assert "family immigration permit" in partner.body and "udi.no" in partner.body
    assert "Last reviewed on November 22, 2026" in partner.body
    assert "career coaching" in partner.body
    assert "all coaches are fully booked" in partner.body
    assert "Anna" not in by_role[Stakeholder.EMPLOYEE].body.split("Dear")[0]
    hr = by_role[Stakeholder.HR].body
    assert "partner: partner.support_and_match by email at 2026-11-22T12:00:00+00:00" in hr
    assert "employee: employee.partner_support by email" in hr
    assert "action needed: all coaches are fully booked" in hr


def test_the_partner_reads_it_in_their_language_with_norway_named_and_dates_localised(
    request_event: AssignmentRequested,
) -> None:
    partner = domain.for_partner(in_language(request_event, "de").payload, no_match(request_event))
    assert partner.language == "de"
    assert "Ihr Recht auf Arbeit in Norwegen" in partner.body and "22. November 2026" in partner.body
    assert "udi.no" in partner.body
    norwegian = domain.for_partner(in_language(request_event, "no").payload, no_match(request_event))
    assert norwegian.language == "nb" and "Din rett til å arbeide i Norge" in norwegian.body
    for language, phrase in (("es", "Tu derecho a trabajar"), ("fr", "Votre droit de travailler")):
        assert phrase in domain.for_partner(in_language(request_event, language).payload, no_match(request_event)).body


def test_a_language_we_do_not_write_falls_back_to_english() -> None:
    assert resolve("ja") == "en" and resolve("nn") == "nb"
    assert texts("ja", "hr")("profile_private") == "The partner has not consented to share their profile with HR."


def test_hr_reads_the_record_in_its_language_every_text_translated() -> None:
    english = tomllib.loads((LOCALES_DIR / "en.toml").read_text())
    for language in supported():
        catalogue = tomllib.loads((LOCALES_DIR / f"{language}.toml").read_text())
        for section, keys in english.items():
            assert catalogue.get(section, {}).keys() == keys.keys(), f"{language}.toml [{section}]"
    assert texts("de", "hr")("actions_heading") == "Handlungsbedarf"


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = render(Document("en", "<b>s</b>", "Dear <script>x</script>", (Section("h", ("a & b",)),)))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html and "a &amp; b" in rendered.html
    assert "Dear <script>x</script>" in rendered.text and "a & b" in rendered.text


def test_hr_sees_the_profile_only_with_the_partners_consent(request_event: AssignmentRequested) -> None:
    hr = domain.for_hr(request_event.payload, no_match(request_event), [], AT).body
    assert "Reservoir engineer" not in hr and "has not consented" in hr


def test_an_unknown_host_country_gets_a_follow_up_and_hr_a_task_never_a_guess(
    request_event: AssignmentRequested,
) -> None:
    moved = in_language(request_event, "en").payload.model_copy(
        update={"host_location": Location(city="Lagos", country="NG")}
    )
    partner = domain.for_partner(moved, no_match(request_event)).body
    assert "We do not yet hold verified work-permit information for Nigeria" in partner and "follow up" in partner
    assert "may work" not in partner
    hr = domain.for_hr(moved, no_match(request_event), [], AT).body
    assert "confirm the partner's right to work in Nigeria" in hr


def test_an_unverified_country_is_treated_like_an_unknown_one(request_event: AssignmentRequested) -> None:
    moved = in_language(request_event, "en").payload.model_copy(
        update={"host_location": Location(city="Mexico City", country="MX")}
    )
    assert "do not yet hold verified work-permit information" in domain.for_partner(moved, no_match(request_event)).body
    assert "right to work in Mexico" in domain.for_hr(moved, no_match(request_event), [], AT).body


def test_partner_channels_follow_the_request(request_event: AssignmentRequested) -> None:
    partner = request_event.payload.partner.model_copy(update={"channels": [Channel.SMS, Channel.FIRM_PORTAL]})
    assignment = request_event.payload.model_copy(update={"partner": partner})
    assert domain.partner_channels(assignment) == (
        DeliveryChannel.EMAIL,
        DeliveryChannel.WEBHOOK,
        DeliveryChannel.KAFKA,
    )


@pytest.fixture
def match_with_leads(request_event: AssignmentRequested) -> MatchProposedPayload:
    why = [CriterionScore(criterion="sector", weight=1, score=1, explanation="same sector as your last job")]
    leads = [
        JobLeadProposal(
            job_lead_id=f"lead-{n}",
            kind=LeadKind.JOB,
            title=f"Reservoir engineer {n}",
            organisation=f"Energy company {n}",
            location=Location(city="Stavanger", country="NO"),
            remote=n == 1,
            url=None,
            score=0.8,
            criteria=why,
        )
        for n in range(3)
    ]
    return MatchProposedPayload(
        assignment_id=request_event.payload.assignment_id, coach=None, job_leads=leads, proposed_at=AT
    )


def test_a_changed_match_tells_only_what_changed(
    request_event: AssignmentRequested, match_with_leads: MatchProposedPayload
) -> None:
    assert domain.match_changes(match_with_leads, match_with_leads) is None
    fewer = match_with_leads.model_copy(update={"job_leads": match_with_leads.job_leads[1:]})
    changes = domain.match_changes(fewer, match_with_leads)
    assert changes is not None and not changes.coach_changed
    assert [lead.job_lead_id for lead in changes.added_leads] == [match_with_leads.job_leads[0].job_lead_id]
    update = domain.for_partner_update(in_language(request_event, "en").payload, match_with_leads, changes)
    assert update.content_kind.startswith("partner.match_update.")
    assert match_with_leads.job_leads[0].title in update.body
    assert match_with_leads.job_leads[1].title not in update.body, "unchanged leads are not repeated"
    assert "Support available" not in update.body
