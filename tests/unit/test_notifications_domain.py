from datetime import UTC, datetime

from services.notifications import domain
from shared.contracts import AssignmentRequested, Location, MatchProposedPayload, Stakeholder, Unmatched

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)


def no_match(event: AssignmentRequested) -> MatchProposedPayload:
    return MatchProposedPayload(
        assignment_id=event.payload.assignment_id,
        coach=None,
        job_leads=[],
        proposed_at=AT,
        unmatched=[Unmatched(subject="coach", reason_code="no_capacity", message="all coaches are fully booked")],
    )


def test_each_role_gets_its_own_content(request_event: AssignmentRequested) -> None:
    messages = domain.duty_of_information(request_event.payload, no_match(request_event), AT)
    by_role = {m.stakeholder: m for m in messages}
    assert set(by_role) == {Stakeholder.PARTNER, Stakeholder.EMPLOYEE, Stakeholder.HR}
    partner = by_role[Stakeholder.PARTNER]
    assert partner.recipient == "anna.weber@family.example"
    assert "family immigration permit" in partner.body and "udi.no" in partner.body
    assert "career coaching" in partner.body
    assert "all coaches are fully booked" in partner.body
    assert "Anna" not in by_role[Stakeholder.EMPLOYEE].body.split("Dear")[0]
    hr = by_role[Stakeholder.HR].body
    assert "partner: partner.support_and_match by email at 2026-11-22T12:00:00+00:00" in hr
    assert "employee: employee.partner_support by email" in hr
    assert "action needed: all coaches are fully booked" in hr


def test_hr_sees_the_profile_only_with_the_partners_consent(request_event: AssignmentRequested) -> None:
    hr = domain.for_hr(request_event.payload, no_match(request_event), [], AT).body
    assert "Reservoir engineer" not in hr and "has not consented" in hr


def test_an_unknown_host_country_gets_a_follow_up_never_a_guess(request_event: AssignmentRequested) -> None:
    moved = request_event.payload.model_copy(update={"host_location": Location(city="Lagos", country="NG")})
    text = domain.permit_situation(moved)
    assert "do not yet hold reviewed work-permit information for NG" in text and "will follow up" in text
