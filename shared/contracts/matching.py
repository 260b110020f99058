"""What matching proposes, with a per-criterion explanation a partner can read."""

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import EmailStr, Field

from .catalog import LeadKind
from .common import Contract, Location
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
