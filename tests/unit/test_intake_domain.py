from datetime import timedelta

from services.intake.domain import review
from shared.contracts import AssignmentRequested

from .conftest import TODAY


def key_of(event: AssignmentRequested) -> str:
    return str(event.payload.assignment_id)


def test_a_sound_request_is_accepted(request_event: AssignmentRequested) -> None:
    assert review(request_event, record_key=key_of(request_event), today=TODAY) == []


def test_the_record_key_must_be_the_assignment_id(request_event: AssignmentRequested) -> None:
    errors = review(request_event, record_key="something-else", today=TODAY)
    assert [(e.field, e.code) for e in errors] == [("$key", "key_mismatch")]
    assert [e.code for e in review(request_event, record_key=None, today=TODAY)] == ["key_mismatch"]


def test_consent_given_on_the_partners_behalf_is_refused(request_event: AssignmentRequested) -> None:
    consent = request_event.payload.partner.consent.model_copy(update={"given_by_partner": False})
    partner = request_event.payload.partner.model_copy(update={"consent": consent})
    event = request_event.model_copy(update={"payload": request_event.payload.model_copy(update={"partner": partner})})
    assert [e.code for e in review(event, record_key=key_of(event), today=TODAY)] == ["consent_not_from_partner"]


def test_implausible_start_dates_are_refused(request_event: AssignmentRequested) -> None:
    for start in (TODAY - timedelta(days=400), TODAY + timedelta(days=4 * 365)):
        event = request_event.model_copy(
            update={"payload": request_event.payload.model_copy(update={"start_date": start})}
        )
        assert [e.code for e in review(event, record_key=key_of(event), today=TODAY)] == ["start_date_out_of_range"]
