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


def test_partner_and_employee_are_told_at_once_hr_only_later(request_event: AssignmentRequested) -> None:
    event = in_language(request_event, "en")
    messages = domain.duty_of_information(event.payload, no_match(event))
    by_role = {m.stakeholder: m for m in messages}
    assert set(by_role) == {Stakeholder.PARTNER, Stakeholder.EMPLOYEE}, "HR's record waits for the real outcomes"
    partner = by_role[Stakeholder.PARTNER]
    assert partner.recipient == "anna.weber@family.example"
    assert "family immigration permit" in partner.body and "udi.no" in partner.body
    assert "Last reviewed on November 22, 2026" in partner.body
    assert "career coaching" in partner.body
    assert "the coaches who would fit are fully booked" in partner.body
    assert "Anna" not in by_role[Stakeholder.EMPLOYEE].body.split("Dear")[0]


def test_the_partner_reads_it_in_their_language_with_norway_named_and_dates_localised(
    request_event: AssignmentRequested,
) -> None:
    partner = domain.for_partner(in_language(request_event, "de").payload, no_match(request_event))
    assert partner.language == "de"
    assert "Ihr Recht auf Arbeit in Norwegen" in partner.body and "22. November 2026" in partner.body
    assert "udi.no" in partner.body and partner.body.startswith("Guten Tag Anna Weber,")
    norwegian = domain.for_partner(in_language(request_event, "no").payload, no_match(request_event))
    assert norwegian.language == "nb" and "Din rett til å arbeide i Norge" in norwegian.body
    for language, phrase in (
        ("es", "Su derecho a trabajar en Noruega"),
        ("fr", "Votre droit de travailler en Norvège"),
    ):
        assert phrase in domain.for_partner(in_language(request_event, language).payload, no_match(request_event)).body


def test_a_language_we_do_not_write_falls_back_to_english_and_everyone_is_told_so(
    request_event: AssignmentRequested,
) -> None:
    assert resolve("ja") == "en" and resolve("nn") == "nb"
    assert texts("ja", "hr")("profile_private") == "The partner has not consented to share their profile with HR."
    portuguese = in_language(request_event, "pt").payload
    partner = domain.for_partner(portuguese, no_match(request_event))
    assert partner.language == "en"
    assert "We do not write in Portuguese yet, so this message is in English." in partner.body
    employee = domain.for_employee(portuguese, no_match(request_event)).body
    assert "in English: we do not write in Portuguese yet" in employee and "own language" not in employee
    german_employee = portuguese.employee.model_copy(update={"preferred_language": "de"})
    deutsch = domain.for_employee(portuguese.model_copy(update={"employee": german_employee}), no_match(request_event))
    assert "auf Englisch, weil wir noch nicht auf Portugiesisch schreiben" in deutsch.body
    hr = domain.for_hr(portuguese, no_match(request_event), outcomes()).body
    assert "Partner: asked for Portuguese; we wrote in English" in hr


def test_every_catalogue_has_every_text() -> None:
    english = tomllib.loads((LOCALES_DIR / "en.toml").read_text())
    for language in supported():
        catalogue = tomllib.loads((LOCALES_DIR / f"{language}.toml").read_text())
        for section, keys in english.items():
            assert catalogue.get(section, {}).keys() == keys.keys(), f"{language}.toml [{section}]"
    assert texts("de", "hr")("actions_heading") == "Was Sie tun müssen"


def test_country_names_come_from_cldr_with_their_grammar() -> None:
    cases = {
        "en": {"NL": "in the Netherlands", "US": "in the United States", "NO": "in Norway"},
        "fr": {"DE": "en Allemagne", "JP": "au Japon", "US": "aux États-Unis", "SG": "à Singapour", "MX": "au Mexique"},
        "de": {
            "CH": "in der Schweiz",
            "NL": "in den Niederlanden",
            "GB": "im Vereinigten Königreich",
            "NO": "in Norwegen",
        },
        "es": {"NL": "en los Países Bajos", "DE": "en Alemania"},
        "nb": {"US": "i USA", "DE": "i Tyskland"},
    }
    for language, expected in cases.items():
        t = texts(language, "partner")
        assert {code: t.in_country(code) for code in expected} == expected, language


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = render(Document("en", "<b>s</b>", "Dear <script>x</script>", (Section("h", ("a & b",)),)))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html and "a &amp; b" in rendered.html
    assert "Dear <script>x</script>" in rendered.text and "a & b" in rendered.text


def outcomes(
    partner: tuple[DeliveryChannel, str] = (DeliveryChannel.EMAIL, "sent"),
    employee: tuple[DeliveryChannel, str] = (DeliveryChannel.EMAIL, "sent"),
) -> list[domain.Outcome]:
    def one(stakeholder: Stakeholder, channel: DeliveryChannel, status: str) -> domain.Outcome:
        failed = status == "failed"
        error = "smtp_recipient_refused [550]" if failed else None
        return domain.Outcome(stakeholder, channel, status, AT, 6 if failed else 1, error)

    return [one(Stakeholder.PARTNER, *partner), one(Stakeholder.EMPLOYEE, *employee)]


def test_hr_reads_the_real_channel_and_time_in_words(request_event: AssignmentRequested) -> None:
    hr = domain.for_hr(
        request_event.payload, no_match(request_event), outcomes(partner=(DeliveryChannel.WEBHOOK, "delivered"))
    )
    assert hr.content_kind == domain.HR_RECORD
    assert (
        "Partner: through your firm's portal, acknowledged by it on November 22, 2026, 12:00:00\u202fPM UTC." in hr.body
    )
    assert "Employee: by e-mail, accepted by the mail server on November 22, 2026" in hr.body
    assert "Duty of information fulfilled" in hr.subject
    for code in ("partner.support_and_match", "email", "webhook", "2026-11-22T", "+00:00"):
        assert code not in hr.body, code
    german = request_event.payload.hr_contact.model_copy(update={"preferred_language": "de"})
    deutsch = domain.for_hr(
        request_event.payload.model_copy(update={"hr_contact": german}), no_match(request_event), outcomes()
    )
    assert (
        "Begleitende Person: per E-Mail, vom Mailserver angenommen am 22. November 2026, 12:00:00 UTC." in deutsch.body
    )


def test_hr_hears_when_someone_was_not_reached_and_what_to_do(request_event: AssignmentRequested) -> None:
    hr = domain.for_hr(
        request_event.payload, no_match(request_event), outcomes(partner=(DeliveryChannel.EMAIL, "failed"))
    )
    assert hr.subject.startswith("Action needed, duty of information not fulfilled")
    assert not hr.subject.startswith("Duty of information fulfilled") and "have both been informed" not in hr.body
    assert "Partner: could not be reached by e-mail; the mail server refused the address (attempts: 6)." in hr.body
    assert "Inform the partner another way" in hr.body


def test_hr_sees_the_profile_only_with_the_partners_consent(request_event: AssignmentRequested) -> None:
    hr = domain.for_hr(request_event.payload, no_match(request_event), outcomes()).body
    assert "Reservoir engineer" not in hr and "has not consented" in hr


def test_an_unknown_host_country_gets_a_follow_up_and_hr_a_task_never_a_guess(
    request_event: AssignmentRequested,
) -> None:
    moved = in_language(request_event, "en").payload.model_copy(
        update={"host_location": Location(city="Lagos", country="NG")}
    )
    partner = domain.for_partner(moved, no_match(request_event)).body
    assert "We do not yet hold verified information on the right to work in Nigeria" in partner
    assert "follow up" in partner and "may work" not in partner
    hr = domain.for_hr(moved, no_match(request_event), outcomes()).body
    assert "Confirm with the partner their right to work in Nigeria" in hr


def test_an_unverified_country_is_treated_like_an_unknown_one(request_event: AssignmentRequested) -> None:
    moved = in_language(request_event, "en").payload.model_copy(
        update={"host_location": Location(city="Mexico City", country="MX")}
    )
    assert "do not yet hold verified information" in domain.for_partner(moved, no_match(request_event)).body
    assert "right to work in Mexico" in domain.for_hr(moved, no_match(request_event), outcomes()).body


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


def test_a_place_held_for_fairness_is_explained_to_the_partner_in_their_language(
    request_event: AssignmentRequested,
) -> None:
    held = no_match(request_event).model_copy(
        update={
            "unmatched": [
                Unmatched(subject="coach", reason_code="places_held", message="places kept for other partners")
            ]
        }
    )
    english = domain.for_partner(in_language(request_event, "en").payload, held).body
    assert "kept for partners with fewer options" in english and "no coach fits yet" not in english
    german = domain.for_partner(in_language(request_event, "de").payload, held).body
    assert "für Partner mit weniger Möglichkeiten reserviert" in german
