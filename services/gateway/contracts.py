"""The HTTP API's bodies. Requests carry what a firm would put in its Kafka event, minus what the
gateway fills in (event id, time, firm, which comes from the sign-in); answers describe what the
gateway knows. Errors are the Kafka path's `FieldError`s, with the same codes."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from shared.contracts import Assignment, FieldError
from shared.contracts.common import Contract, Identifier

CorrelationId = Annotated[str, Field(min_length=1, max_length=128)]


class AssignmentSubmission(Contract):
    """`POST /v1/assignments`: the `assignment.requested` event's `payload`, and the firm's own
    reference echoed on every event of the assignment."""

    strict_input: ClassVar[bool] = True
    correlation_id: CorrelationId
    payload: Assignment


class CancellationRequest(Contract):
    strict_input: ClassVar[bool] = True
    reason: Annotated[str, Field(max_length=500)] = ""


class ConsentWithdrawalRequest(Contract):
    strict_input: ClassVar[bool] = True


class MatchAcceptanceRequest(Contract):
    strict_input: ClassVar[bool] = True
    coach_id: Identifier


class Submitted(Contract):
    """202: the event is written and will reach the services; follow `status_url`."""

    assignment_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status_url: str


class Problem(Contract):
    """Any 4xx/5xx: one entry per reason, `code` as on the Kafka path (docs/events.md)."""

    errors: list[FieldError]


class Lifecycle(StrEnum):
    SUBMITTED = "submitted"  # written, not yet answered by intake
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Match(Contract):
    coach_id: str | None
    job_leads: int
    unmatched: list[str]  # reason codes: what could not be found
    matched_at: datetime


class Acceptance(Contract):
    coach_id: str
    status: Literal["requested", "refused"]
    errors: list[FieldError] = []


class Delivery(Contract):
    stakeholder: str
    channel: str
    content_kind: str
    status: str
    attempts: int
    recorded_at: datetime


class AssignmentStatus(Contract):
    assignment_id: uuid.UUID
    status: Lifecycle
    submitted_at: datetime | None
    accepted_at: datetime | None
    rejection: list[FieldError] | None
    match: Match | None
    acceptance: Acceptance | None
    consent_withdrawn_at: datetime | None
    cancelled_at: datetime | None
    deliveries: list[Delivery]


class StakeholderFigures(Contract):
    stakeholder: str
    informed: int
    p50_s: float | None
    p95_s: float | None


class DutyOfInformationReport(Contract):
    firm_id: str
    since: date
    assignments: int
    all_informed: int
    share_all_informed: float
    stakeholders: list[StakeholderFigures]
