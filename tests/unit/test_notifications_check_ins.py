"""care's check-ins as notifications composes them: in the partner's language, with the link."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.notifications import check_ins
from services.notifications.i18n import supported
from shared.contracts import AssignmentCreatedPayload, AssignmentRequested, DeliveryChannel, Stakeholder
from shared.contracts.care import CheckInDue, CheckInDuePayload

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)


def due(event: AssignmentRequested, start: date) -> CheckInDue:
    return CheckInDue.create(
        firm_id=event.firm_id,
        correlation_id=event.correlation_id,
        payload=CheckInDuePayload(
            check_in_id=uuid.uuid4(),
            assignment_id=event.payload.assignment_id,
            kind="two_weeks",
            start_date=start,
            answer_url="https://care.example/care/check-in/TOKEN",
            answer_by=AT + timedelta(days=21),
        ),
    )


@pytest.mark.parametrize("language", ["en", "de", "fr", "es", "nb", "no", "ja"])
def test_the_check_in_speaks_the_partners_language_and_carries_the_link(
    request_event: AssignmentRequested, language: str
) -> None:
    partner = request_event.payload.partner.model_copy(update={"preferred_language": language})
    assignment = request_event.payload.model_copy(update={"partner": partner})
    created = AssignmentCreatedPayload(assignment=assignment, accepted_at=AT)
    message = check_ins.compose(created, due(request_event, AT.date() - timedelta(days=14)), AT.date())
    expected = {"no": "nb", "ja": "en"}.get(language, language)
    assert message.language == expected and expected in supported()
    assert message.stakeholder is Stakeholder.PARTNER and message.recipient == str(partner.email)
    assert message.content_kind == "partner.check_in.two_weeks"
    assert "https://care.example/care/check-in/TOKEN" in message.body and "TOKEN" in message.html
    assert partner.full_name in message.body
    assert DeliveryChannel.EMAIL in message.deliver_by


def test_before_departure_it_asks_how_ready_the_partner_feels(request_event: AssignmentRequested) -> None:
    created = AssignmentCreatedPayload(assignment=request_event.payload, accepted_at=AT)
    start = AT.date() + timedelta(days=7)
    before = check_ins.compose(created, due(request_event, start), AT.date())
    after = check_ins.compose(created, due(request_event, start), start + timedelta(days=14))
    assert before.body != after.body
