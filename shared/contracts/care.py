"""Contracts of the duty of care beyond information: prevention (check-ins and pulses),
intervention (escalations with deadlines), control (provider scorecards) and the record.

Inbound events are written by a firm on its own topics (`trailblazer.firm.<firm_id>.care.*.v1`);
the firm is the topic's, and a body `firm_id` that disagrees is refused (`firm_mismatch`).
"""

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import EmailStr, Field

from .assignment import FieldError, RejectedRecord
from .common import Contract, CountryCode, Identifier, Name, WorkPermitStatus
from .envelope import Envelope, UtcDatetime

Comment = Annotated[str, Field(max_length=1000)]


# --- Inbound: the firm reports ------------------------------------------------------------------


class PulseGivenPayload(Contract):
    assignment_id: uuid.UUID
    # The check-in answered, if the pulse answers one; a pulse may also come unprompted.
    check_in_id: uuid.UUID | None = None
    score: Annotated[int, Field(ge=1, le=10)]
    # Free text from the partner: stored for the case owner, never put on a topic or in a log.
    comment: Comment = ""
    given_at: UtcDatetime


class PulseGiven(Envelope):
    """The partner's satisfaction, 1 (very unhappy) to 10; 6 or less escalates."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused

    event_type: Literal["care.pulse_given"] = "care.pulse_given"
    payload: PulseGivenPayload


class SessionHeldPayload(Contract):
    assignment_id: uuid.UUID
    coach_id: Identifier
    held_at: UtcDatetime


class SessionHeld(Envelope):
    """A coaching session took place (reported by the firm, from its provider)."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused

    event_type: Literal["care.session_held"] = "care.session_held"
    payload: SessionHeldPayload


class Outcome(StrEnum):
    FOUND_WORK = "found_work"
    STARTED_EDUCATION = "started_education"
    ENTERPRISE_REGISTERED = "enterprise_registered"


class OutcomeReportedPayload(Contract):
    assignment_id: uuid.UUID
    outcome: Outcome
    reported_at: UtcDatetime


class OutcomeReported(Envelope):
    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused

    event_type: Literal["care.outcome_reported"] = "care.outcome_reported"
    payload: OutcomeReportedPayload


class EscalationClosedPayload(Contract):
    assignment_id: uuid.UUID
    escalation_id: uuid.UUID
    resolution: Annotated[str, Field(min_length=1, max_length=1000)]
    closed_at: UtcDatetime


class EscalationClosed(Envelope):
    """The case owner dealt with an escalation."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused

    event_type: Literal["care.escalation_closed"] = "care.escalation_closed"
    payload: EscalationClosedPayload


class PermitClarifiedPayload(Contract):
    assignment_id: uuid.UUID
    work_permit: WorkPermitStatus
    clarified_at: UtcDatetime


class PermitClarified(Envelope):
    """HR's task on an unknown or pending work permit is done: the permit deadline is met."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused

    event_type: Literal["care.permit_clarified"] = "care.permit_clarified"
    payload: PermitClarifiedPayload


# --- Outbound: care tells the firm --------------------------------------------------------------


class EscalationRule(StrEnum):
    NOT_MATCHED = "not_matched"  # no coach proposed N working days after the assignment was accepted
    NO_ACCEPTANCE = "no_acceptance"  # the proposed coach not accepted within N working days
    NO_FIRST_SESSION = "no_first_session"  # no session reported within 3 (level 1) and 5 (level 2) working days
    LOW_PULSE = "low_pulse"  # a pulse at or below the threshold (6)
    PERMIT_UNRESOLVED = "permit_unresolved"  # permit unknown or pending and HR's task open after N working days
    DELIVERY_FAILED = "delivery_failed"  # a duty-of-information delivery failed and was not resolved


class CaseOwner(Contract):
    full_name: Name
    email: EmailStr


class CareEscalationPayload(Contract):
    escalation_id: uuid.UUID
    assignment_id: uuid.UUID
    rule: EscalationRule
    level: Annotated[int, Field(ge=1, le=2)] = 1
    owner: CaseOwner
    what_happened: str
    what_to_do: str
    # The deadline that passed (null for a low pulse, which escalates at once).
    deadline: UtcDatetime | None
    host_country: CountryCode
    raised_at: UtcDatetime
    trace_id: str | None


class CareEscalation(Envelope):
    """Published by care on `trailblazer.firm.<firm_id>.care.escalation.v1` for the firm's case
    owner; closed by the firm's `care.escalation_closed`."""

    event_type: Literal["care.escalation"] = "care.escalation"
    payload: CareEscalationPayload


class Duty(StrEnum):
    INFORMATION = "information"
    PREVENTION = "prevention"
    INTERVENTION = "intervention"
    CONTROL = "control"


class DutyOfCareEntryPayload(Contract):
    entry_id: uuid.UUID
    assignment_id: uuid.UUID
    duty: Duty
    # e.g. check_in.scheduled, check_in.sent, pulse.received, escalation.raised, escalation.closed,
    # deadline.scheduled, deadline.met, deadline.cancelled, session.held, outcome.reported
    kind: str
    # What the entry is about: a check-in, deadline, escalation or delivery id.
    subject_id: str | None
    # Codes and figures only (a rule, a score, a due time): never free text or contact data.
    detail: dict[str, str | int | None]
    recorded_at: UtcDatetime
    trace_id: str | None


class DutyOfCareEntry(Envelope):
    """Published by care on `trailblazer.firm.<firm_id>.duty-of-care.v1`: the duty-of-care record
    as a stream, one entry per fact. Carries no personal data."""

    event_type: Literal["duty_of_care.entry"] = "duty_of_care.entry"
    payload: DutyOfCareEntryPayload


class Figures(Contract):
    assignments: int  # partners proposed one of the provider's (or the coach's) coaches
    accepted: int
    engaged: int  # partners with at least one session held
    sessions: int
    median_days_to_first_session: float | None  # from the proposal, calendar days
    pulses: int
    mean_pulse: float | None
    outcomes: dict[str, int]
    escalations: int


class CoachFigures(Figures):
    coach_id: str


class ProviderScorecardPayload(Contract):
    provider_id: str
    figures: Figures
    coaches: list[CoachFigures]
    computed_at: UtcDatetime


class ProviderScorecard(Envelope):
    """Published by care on `trailblazer.firm.<firm_id>.care.scorecard.v1`, keyed by provider id,
    whenever a figure changes: the provider as this firm's partners experience it."""

    event_type: Literal["care.scorecard"] = "care.scorecard"
    payload: ProviderScorecardPayload


class CareRefusedPayload(Contract):
    assignment_id: uuid.UUID | None
    request_event_id: uuid.UUID | None
    errors: Annotated[list[FieldError], Field(min_length=1)]
    record: RejectedRecord
    refused_at: UtcDatetime


class CareRefused(Envelope):
    """Published by care on `trailblazer.firm.<firm_id>.care.refused.v1` for a care event it could
    not record, one reason per field (shaped like `assignment.rejected`)."""

    event_type: Literal["care.refused"] = "care.refused"
    payload: CareRefusedPayload


# --- Internal: care asks notifications to send a check-in -------------------------------------


class CheckInDuePayload(Contract):
    check_in_id: uuid.UUID
    assignment_id: uuid.UUID
    kind: str  # pre_departure, two_weeks, three_months, six_months, or a firm's own
    start_date: date
    # The signed one-time link the partner answers with (1-10 and a comment).
    answer_url: str
    answer_by: UtcDatetime


class CheckInDue(Envelope):
    """Published by care on `trailblazer.care.check-in-due.v1`: notifications sends it to the
    partner in the partner's language (services only)."""

    event_type: Literal["care.check_in_due"] = "care.check_in_due"
    payload: CheckInDuePayload
