"""What a relocation firm sends (AssignmentRequested) and what intake answers."""

import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .common import (
    Channel,
    Contact,
    Contract,
    Goal,
    LanguageSkill,
    Location,
    Sector,
    ShortText,
    WorkPermitStatus,
)
from .envelope import Envelope, UtcDatetime


class PartnerProfile(Contract):
    languages: Annotated[list[LanguageSkill], Field(min_length=1, max_length=20)]
    occupation: ShortText
    skills: Annotated[list[ShortText], Field(max_length=50)] = []
    sector: Sector
    goals: Annotated[list[Goal], Field(min_length=1, max_length=4)]
    work_permit: WorkPermitStatus


class Consent(Contract):
    """Recorded from the partner directly; never given on their behalf."""

    given_by_partner: bool
    matching: bool
    share_profile_with_hr: bool
    recorded_at: UtcDatetime


class Partner(Contact):
    channels: Annotated[list[Channel], Field(min_length=1, max_length=3)]
    profile: PartnerProfile
    consent: Consent


class Assignment(Contract):
    assignment_id: uuid.UUID
    employee: Contact
    partner: Partner
    hr_contact: Contact
    home_location: Location
    host_location: Location
    start_date: date


class AssignmentRequested(Envelope):
    """Published by a relocation firm on its own `trailblazer.firm.<firm_id>.assignment.requested.v1`."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused
    event_type: Literal["assignment.requested"] = "assignment.requested"
    payload: Assignment


class AssignmentCreatedPayload(Contract):
    assignment: Assignment
    accepted_at: UtcDatetime


class AssignmentCreated(Envelope):
    """Published by intake once the assignment is stored."""

    event_type: Literal["assignment.created"] = "assignment.created"
    payload: AssignmentCreatedPayload


class FieldError(Contract):
    """One reason for a rejection. `field` is a dotted path into the request, e.g.
    `payload.partner.profile.languages.0.level`; `code` is stable and machine-readable."""

    field: str
    code: str
    message: str


class RejectedRecord(Contract):
    """Where the refused record sits, so a firm can find it even when nothing in it parsed."""

    topic: str
    partition: int
    offset: int
    key: str | None


class AssignmentRejectedPayload(Contract):
    assignment_id: uuid.UUID | None
    request_event_id: uuid.UUID | None
    errors: Annotated[list[FieldError], Field(min_length=1)]
    record: RejectedRecord


class AssignmentRejected(Envelope):
    """Published by intake on the sender's `trailblazer.firm.<firm_id>.assignment.rejected.v1`
    for a request it refused."""

    event_type: Literal["assignment.rejected"] = "assignment.rejected"
    payload: AssignmentRejectedPayload
