"""What matching proposes, with a per-criterion explanation a partner can read."""

import uuid
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import EmailStr, Field

from .assignment import FieldError, RejectedRecord
from .catalog import LeadKind
from .common import Contract, Identifier, Location
from .envelope import Envelope, UtcDatetime

Score = Annotated[float, Field(ge=0, le=1)]


class CriterionScore(Contract):
    criterion: str
    weight: float
    score: Score
    explanation: str


class CoachProposal(Contract):
    coach_id: str
    display_name: str
    contact_email: EmailStr
    location: Location | None
    remote: bool
    score: Score
    criteria: list[CriterionScore]


class JobLeadProposal(Contract):
    job_lead_id: str
    kind: LeadKind
    title: str
    organisation: str
    location: Location
    remote: bool
    url: str | None
    score: Score
    criteria: list[CriterionScore]
    # Whether the partner may take it, as the lead's provider states it; null in events written
    # before these fields existed.
    work_rights_required: bool | None = None
    visa_sponsorship: bool | None = None


class Unmatched(Contract):
    """Unmatchable is an answer: say what could not be found, and why, so HR can intervene."""

    subject: Literal["coach", "job_leads"]
    reason_code: str
    message: str


class MatchProposedPayload(Contract):
    assignment_id: uuid.UUID
    coach: CoachProposal | None
    job_leads: list[JobLeadProposal]
    unmatched: list[Unmatched] = []
    proposed_at: UtcDatetime


class MatchProposed(Envelope):
    """Published by matching on `trailblazer.match.proposed.v1`."""

    event_type: Literal["match.proposed"] = "match.proposed"
    payload: MatchProposedPayload


class UpdateReason(StrEnum):
    NEW_JOB_LEADS = "new_job_leads"
    JOB_LEADS_EXPIRED = "job_leads_expired"
    JOB_LEADS_WITHDRAWN = "job_leads_withdrawn"
    COACH_WITHDRAWN = "coach_withdrawn"
    REBALANCED = "rebalanced"


class MatchUpdatedPayload(Contract):
    """The whole current match after a change, plus what changed: a consumer can replace what
    it holds or show only the difference."""

    assignment_id: uuid.UUID
    reason: UpdateReason
    coach: CoachProposal | None
    job_leads: list[JobLeadProposal]
    unmatched: list[Unmatched] = []
    previous_coach_id: str | None = None
    added_job_lead_ids: list[str] = []
    removed_job_lead_ids: list[str] = []
    updated_at: UtcDatetime


class MatchUpdated(Envelope):
    """Published by matching on `trailblazer.match.updated.v1` when a proposal changes after
    `match.proposed`: new leads, expired leads, a coach who left, a batch rebalancing."""

    event_type: Literal["match.updated"] = "match.updated"
    payload: MatchUpdatedPayload


class MatchAcceptedPayload(Contract):
    assignment_id: uuid.UUID
    # The coach the firm's partner accepted: must be the coach the current proposal names.
    coach_id: Identifier
    accepted_at: UtcDatetime


class MatchAccepted(Envelope):
    """Published by a firm on its own `trailblazer.firm.<firm_id>.match.accepted.v1` (keyed by the assignment id) when
    the partner accepted the proposed coach: from then on no re-assignment moves that coach."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused
    event_type: Literal["match.accepted"] = "match.accepted"
    payload: MatchAcceptedPayload


class MatchAcceptanceRefusedPayload(Contract):
    """Shaped like `assignment.rejected`: the request (null fields when it did not parse), one
    reason per offending field, and where the refused record sits."""

    assignment_id: uuid.UUID | None
    request_event_id: uuid.UUID | None
    errors: Annotated[list[FieldError], Field(min_length=1)]
    record: RejectedRecord
    refused_at: UtcDatetime


class MatchAcceptanceRefused(Envelope):
    """Published by matching on the sender's `trailblazer.firm.<firm_id>.match.acceptance-refused.v1`
    for an acceptance it could not record: the assignment is unknown or closed, or its proposal now names another
    coach or none (a re-assignment moved it); the reservation stays as it was."""

    event_type: Literal["match.acceptance_refused"] = "match.acceptance_refused"
    payload: MatchAcceptanceRefusedPayload
