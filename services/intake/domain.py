"""Business rules a well-formed assignment request must also meet. Pure: no I/O."""

from datetime import date, timedelta

from shared.contracts import AssignmentRequested, FieldError

# A start date far in the past is almost always a typo; far in the future, a placeholder.
MAX_DAYS_IN_PAST = 365
MAX_DAYS_AHEAD = 3 * 365


def review(request: AssignmentRequested, *, record_key: str | None, today: date) -> list[FieldError]:
    """Reasons to refuse a request that parsed; an empty list means accept."""
    return [
        *_key_matches_assignment(request, record_key),
        *_consent_from_partner(request),
        *_plausible_start(request, today),
    ]


def _key_matches_assignment(request: AssignmentRequested, record_key: str | None) -> list[FieldError]:
    expected = str(request.payload.assignment_id)
    if record_key == expected:
        return []
    return [
        FieldError(
            field="$key",
            code="key_mismatch",
            message=f"the record key must be the assignment id {expected}, so that one assignment's"
            " events stay in order",
        )
    ]


def _consent_from_partner(request: AssignmentRequested) -> list[FieldError]:
    if request.payload.partner.consent.given_by_partner:
        return []
    return [
        FieldError(
            field="payload.partner.consent.given_by_partner",
            code="consent_not_from_partner",
            message="consent must be given by the partner directly, never on their behalf",
        )
    ]


def _plausible_start(request: AssignmentRequested, today: date) -> list[FieldError]:
    start = request.payload.start_date
    if today - timedelta(days=MAX_DAYS_IN_PAST) <= start <= today + timedelta(days=MAX_DAYS_AHEAD):
        return []
    return [
        FieldError(
            field="payload.start_date",
            code="start_date_out_of_range",
            message=f"start date must lie between {MAX_DAYS_IN_PAST} days ago and {MAX_DAYS_AHEAD} days ahead",
        )
    ]
