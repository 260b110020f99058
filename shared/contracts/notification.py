"""What notifications tells the firm it told each stakeholder."""

import uuid
from enum import StrEnum
from typing import Literal

from .common import Channel, Contract
from .envelope import Envelope, UtcDatetime


class Stakeholder(StrEnum):
    PARTNER = "partner"
    EMPLOYEE = "employee"
    HR = "hr"


class StakeholderNotifiedPayload(Contract):
    notification_id: uuid.UUID
    assignment_id: uuid.UUID
    stakeholder: Stakeholder
    channel: Channel
    content_kind: str
    language: str
    recipient: str
    subject: str
    body: str
    notified_at: UtcDatetime


class StakeholderNotified(Envelope):
    """Published by notifications on the firm's `trailblazer.firm.<firm_id>.stakeholder.notified.v1`:
    the firm delivers it through the named channel, and keeps it as proof of the duty of
    information."""

    event_type: Literal["stakeholder.notified"] = "stakeholder.notified"
    payload: StakeholderNotifiedPayload
