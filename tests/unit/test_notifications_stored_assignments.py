"""An accepted assignment read back from notifications' table is validated once per process."""

import json
from datetime import UTC, datetime, timedelta

from services.notifications.repository import created_payload
from shared.contracts import AssignmentCreatedPayload, AssignmentRequested

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _stored(payload: AssignmentCreatedPayload) -> dict[str, object]:
    """As `assignments.created` holds it (JSONB, decoded)."""
    loaded: dict[str, object] = json.loads(payload.model_dump_json())
    return loaded


def test_the_same_stored_assignment_is_parsed_once_and_equals_what_was_stored(
    request_event: AssignmentRequested,
) -> None:
    payload = AssignmentCreatedPayload(assignment=request_event.payload, accepted_at=AT)
    first = created_payload(_stored(payload))
    assert first == payload
    assert created_payload(_stored(payload)) is first, "read again: the one already parsed"


def test_a_row_made_anew_for_the_same_id_is_parsed_anew(request_event: AssignmentRequested) -> None:
    before = created_payload(_stored(AssignmentCreatedPayload(assignment=request_event.payload, accepted_at=AT)))
    later = AssignmentCreatedPayload(assignment=request_event.payload, accepted_at=AT + timedelta(days=1))
    again = created_payload(_stored(later))
    assert again is not before and again.accepted_at == later.accepted_at
