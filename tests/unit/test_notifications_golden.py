"""Golden e-mails: the exact text each reader gets, per language, committed under
tests/unit/golden/ and reviewed like code. A change to a text shows up here as a diff; after
reviewing it, regenerate with `TRAILBLAZER_UPDATE_GOLDEN=1 ./dev test tests/unit/test_notifications_golden.py`."""

import os
import re
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notifications import domain
from services.notifications.i18n import LOCALES_DIR
from shared.contracts import (
    Assignment,
    AssignmentRequested,
    CoachProposal,
    CriterionScore,
    DeliveryChannel,
    JobLeadProposal,
    LeadKind,
    Location,
    MatchProposedPayload,
    Stakeholder,
)

GOLDEN = Path(__file__).parent / "golden"
AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
ASSIGNMENT_ID = uuid.UUID("43a23705-b2db-41d7-93a9-856427503158")
PARTNER_LANGUAGES = ("de", "es", "fr", "nb", "en")
# As matching writes them: English, shown to English readers only.
COACH_WHY = {
    "language": "speaks German, which you speak at C2",
    "goals": "coaches for 1 of your 2 goals (employment)",
    "sector": "knows the energy sector",
    "rating": "rated 4.6 of 5 by partners",
}
LEAD_WHY = {
    "skills": "2 of the 5 skills asked for are yours",
    "sector": "in your sector",
    "goals": "a network lead, for one of your other goals",
}
EXPLANATIONS = [*COACH_WHY.values(), *LEAD_WHY.values()]


def _criteria(why: dict[str, str], *scores: tuple[str, float]) -> list[CriterionScore]:
    return [CriterionScore(criterion=c, weight=1, score=v, explanation=why[c]) for c, v in scores]


def the_match() -> MatchProposedPayload:
    stavanger = Location(city="Stavanger", country="NO")
    return MatchProposedPayload(
        assignment_id=ASSIGNMENT_ID,
        coach=CoachProposal(
            coach_id="coach-kari",
            display_name="Kari Nordmann",
            contact_email="kari.nordmann@coaching.example",
            location=stavanger,
            remote=True,
            score=0.8235,
            criteria=_criteria(COACH_WHY, ("language", 1.0), ("goals", 0.5), ("sector", 1.0), ("rating", 0.92)),
        ),
        job_leads=[
            JobLeadProposal(
                job_lead_id="lead-1",
                kind=LeadKind.JOB,
                title="Senior Reservoir Engineer",
                organisation="Nordsjø Energi AS",
                location=stavanger,
                remote=False,
                url="https://jobs.example/1",
                score=0.7312,
                criteria=_criteria(LEAD_WHY, ("skills", 0.4), ("sector", 1.0)),
                work_rights_required=True,
                visa_sponsorship=False,
            ),
            JobLeadProposal(
                job_lead_id="lead-2",
                kind=LeadKind.JOB,
                title="Subsurface Data Analyst",
                organisation="Geodata Nordic",
                location=stavanger,
                remote=True,
                url=None,
                score=0.6,
                criteria=_criteria(LEAD_WHY, ("skills", 0.2)),
                work_rights_required=False,
                visa_sponsorship=False,
            ),
            JobLeadProposal(
                job_lead_id="lead-3",
                kind=LeadKind.NETWORK,
                title="Women in Energy Stavanger",
                organisation="WiE Nordic",
                location=stavanger,
                remote=False,
                url=None,
                score=0.55,
                criteria=_criteria(LEAD_WHY, ("goals", 0.5)),
            ),
        ],
        proposed_at=AT,
    )


def the_assignment(request_event: AssignmentRequested, *, partner: str, hr: str = "en") -> Assignment:
    payload = request_event.payload
    return payload.model_copy(
        update={
            "assignment_id": ASSIGNMENT_ID,
            "partner": payload.partner.model_copy(update={"preferred_language": partner}),
            "employee": payload.employee.model_copy(update={"preferred_language": partner}),
            "hr_contact": payload.hr_contact.model_copy(update={"preferred_language": hr}),
        }
    )


def as_mail(message: domain.Message) -> str:
    return f"Subject: {message.subject}\nContent-Language: {message.language}\n\n{message.body}"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRAILBLAZER_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with TRAILBLAZER_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("language", PARTNER_LANGUAGES)
def test_the_partners_email_is_the_reviewed_one(request_event: AssignmentRequested, language: str) -> None:
    message = domain.for_partner(the_assignment(request_event, partner=language), the_match())
    check_golden(f"partner.{language}.txt", as_mail(message))


@pytest.mark.parametrize("language", ("de", "en"))
def test_the_employees_email_is_the_reviewed_one(request_event: AssignmentRequested, language: str) -> None:
    message = domain.for_employee(the_assignment(request_event, partner=language), the_match())
    check_golden(f"employee.{language}.txt", as_mail(message))


@pytest.mark.parametrize("language", ("en", "de", "fr"))
def test_hrs_record_is_the_reviewed_one(request_event: AssignmentRequested, language: str) -> None:
    assignment = the_assignment(request_event, partner="de", hr=language)
    outcomes = [
        domain.Outcome(
            Stakeholder.PARTNER, DeliveryChannel.EMAIL, "sent", datetime(2026, 12, 1, 2, 54, 47, tzinfo=UTC), 1
        ),
        domain.Outcome(
            Stakeholder.PARTNER, DeliveryChannel.WEBHOOK, "delivered", datetime(2026, 12, 1, 2, 54, 48, tzinfo=UTC), 1
        ),
        domain.Outcome(
            Stakeholder.EMPLOYEE, DeliveryChannel.EMAIL, "sent", datetime(2026, 12, 1, 2, 54, 46, tzinfo=UTC), 2
        ),
    ]
    check_golden(f"hr.{language}.txt", as_mail(domain.for_hr(assignment, the_match(), outcomes)))


def test_hrs_record_when_the_partner_was_not_reached(request_event: AssignmentRequested) -> None:
    assignment = the_assignment(request_event, partner="pt")
    outcomes = [
        domain.Outcome(Stakeholder.PARTNER, DeliveryChannel.EMAIL, "failed", AT, 6, "unexpected ValueError"),
        domain.Outcome(Stakeholder.EMPLOYEE, DeliveryChannel.EMAIL, "sent", AT, 1),
    ]
    check_golden("hr.en.partner-not-reached.txt", as_mail(domain.for_hr(assignment, the_match(), outcomes)))


def english_phrases() -> set[str]:
    """Every fixed stretch of at least three words in the English catalogue."""
    english = tomllib.loads((LOCALES_DIR / "en.toml").read_text())
    phrases = set()
    for section in english.values():
        for template in section.values():
            for fragment in re.split(r"\{[a-z_]+\}", template):
                words = fragment.strip(" ,.:;()").split()
                if len(words) >= 3:
                    phrases.add(" ".join(words))
    return phrases


@pytest.mark.parametrize("language", ("de", "es", "fr", "nb"))
def test_no_english_sentence_reaches_a_reader_of_another_language(
    request_event: AssignmentRequested, language: str
) -> None:
    assignment = the_assignment(request_event, partner=language, hr=language)
    match = the_match()
    outcomes = [
        domain.Outcome(Stakeholder.PARTNER, DeliveryChannel.WEBHOOK, "delivered", AT, 1),
        domain.Outcome(Stakeholder.EMPLOYEE, DeliveryChannel.EMAIL, "failed", AT, 6, "smtp_recipient_refused [550]"),
    ]
    messages = [
        domain.for_partner(assignment, match),
        domain.for_employee(assignment, match),
        domain.for_hr(assignment, match, outcomes),
    ]
    for message in messages:
        english = [phrase for phrase in english_phrases() if phrase in message.body or phrase in message.subject]
        assert not english, f"{message.stakeholder} ({language}): {english}"
        assert not [e for e in EXPLANATIONS if e in message.body], "matching's English explanations"
        assert "Norway" not in message.body and "Netherlands" not in message.body
