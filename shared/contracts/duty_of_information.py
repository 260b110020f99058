"""Contracts of the duty-of-information record, and the two events that stop messages:
a partner withdrawing consent, and a cancelled assignment."""

import uuid
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .common import Contract
from .envelope import Envelope, UtcDatetime
from .notification import Stakeholder


class DeliveryChannel(StrEnum):
    EMAIL = "email"  # SMTP to the stakeholder's address
    WEBHOOK = "webhook"  # signed HTTPS POST to the firm's endpoint (its portal, its HR system)
    KAFKA = "kafka"  # the firm's `trailblazer.firm.<firm_id>.stakeholder.notified.v1`


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"  # handed over: SMTP server accepted it, or written to the Kafka outbox
    DELIVERED = "delivered"  # the receiver acknowledged it (webhook answered 2xx)
    RETRYING = "retrying"  # a transient failure; next attempt scheduled with backoff
    FAILED = "failed"  # permanent or out of attempts: parked for an operator, HR told
    CANCELLED = "cancelled"  # the assignment was cancelled before it went out
    SUPPRESSED = "suppressed"  # the person withdrew consent before it went out


class DeliveryRecordedPayload(Contract):
    delivery_id: uuid.UUID
    assignment_id: uuid.UUID
    stakeholder: Stakeholder
    channel: DeliveryChannel
    content_kind: str
    status: DeliveryStatus
    attempts: Annotated[int, Field(ge=0)]
    recorded_at: UtcDatetime
    trace_id: str | None
    error: str | None = None  # a reason code and short text, never message content
    # Revision 2: when the delivery was queued (the duty arose), now that `queued` is not published.
    queued_at: UtcDatetime | None = None


# Revision 2 (2026-12-01): records only for the channels that reach a person (email, webhook) and
# only for the statuses that say where a delivery stands (not `queued`); `queued_at` added.
DUTY_RECORD_REVISION = 2


class DeliveryRecorded(Envelope):
    """Published by notifications on the firm's `trailblazer.firm.<firm_id>.duty-of-information.v1`
    when a delivery to a person (e-mail, the firm's webhook) is sent, delivered, retried, failed,
    cancelled or suppressed: the duty-of-information record as a stream. Carries no personal data."""

    event_type: Literal["duty_of_information.delivery"] = "duty_of_information.delivery"
    schema_version: Annotated[int, Field(ge=1)] = DUTY_RECORD_REVISION
    payload: DeliveryRecordedPayload


class PartnerConsentWithdrawnPayload(Contract):
    assignment_id: uuid.UUID
    withdrawn_at: UtcDatetime


class PartnerConsentWithdrawn(Envelope):
    """Published by a firm on its own `trailblazer.firm.<firm_id>.partner.consent-withdrawn.v1`
    when the partner withdraws consent: nothing more is sent to the partner for that assignment."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused
    event_type: Literal["partner.consent_withdrawn"] = "partner.consent_withdrawn"
    payload: PartnerConsentWithdrawnPayload


class AssignmentCancelledPayload(Contract):
    assignment_id: uuid.UUID
    reason: Annotated[str, Field(max_length=500)] = ""
    cancelled_at: UtcDatetime


class AssignmentCancelled(Envelope):
    """Published by a firm on its own `trailblazer.firm.<firm_id>.assignment.cancelled.v1`: every message not yet sent
    for the assignment is stopped."""

    strict_input: ClassVar[bool] = True  # written by firms: unknown fields refused
    event_type: Literal["assignment.cancelled"] = "assignment.cancelled"
    payload: AssignmentCancelledPayload
