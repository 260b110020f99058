"""Event contracts v1: the only definitions of what travels between services and firms."""

from .assignment import (
    Assignment,
    AssignmentCreated,
    AssignmentCreatedPayload,
    AssignmentRejected,
    AssignmentRejectedPayload,
    AssignmentRequested,
    Consent,
    FieldError,
    Partner,
    PartnerProfile,
    RejectedRecord,
)
from .catalog import Coach, JobLead, LeadKind
from .common import (
    CefrLevel,
    Channel,
    Contact,
    Goal,
    LanguageSkill,
    Location,
    Sector,
    WorkPermitStatus,
)
from .envelope import Envelope, utc_now
from .matching import (
    CoachProposal,
    CriterionScore,
    JobLeadProposal,
    MatchProposed,
    MatchProposedPayload,
    Unmatched,
)
from .notification import Stakeholder, StakeholderNotified, StakeholderNotifiedPayload

__all__ = [
    "Assignment",
    "AssignmentCreated",
    "AssignmentCreatedPayload",
    "AssignmentRejected",
    "AssignmentRejectedPayload",
    "AssignmentRequested",
    "CefrLevel",
    "Channel",
    "Coach",
    "CoachProposal",
    "Consent",
    "Contact",
    "CriterionScore",
    "Envelope",
    "FieldError",
    "Goal",
    "JobLead",
    "JobLeadProposal",
    "LanguageSkill",
    "LeadKind",
    "Location",
    "MatchProposed",
    "MatchProposedPayload",
    "Partner",
    "PartnerProfile",
    "RejectedRecord",
    "Sector",
    "Stakeholder",
    "StakeholderNotified",
    "StakeholderNotifiedPayload",
    "Unmatched",
    "WorkPermitStatus",
    "utc_now",
]
