"""One e-mail delivery to the partner, as the notifications worker hands it to the e-mail channel;
tests override what they are about."""

import uuid
from datetime import UTC, datetime
from typing import Any

from services.notifications.deliveries import Delivery
from shared.contracts import DeliveryChannel, Stakeholder


def email_delivery(**overrides: Any) -> Delivery:
    fields: dict[str, Any] = {
        "delivery_id": uuid.uuid4(),
        "notification_id": uuid.uuid4(),
        "assignment_id": uuid.uuid4(),
        "firm_id": "nordic-relocation",
        "stakeholder": Stakeholder.PARTNER,
        "content_kind": "partner.support_and_match",
        "channel": DeliveryChannel.EMAIL,
        "attempts": 1,
        "trace_id": None,
        "language": "de",
        "recipient": "partner@family.example",
        "subject": "Ihre Unterstützung in Stavanger",
        "body": "Guten Tag,\n\nIhre Karriere zählt.\n",
        "html": "<p>Ihre Karriere zählt.</p>",
        "notified_at": datetime.now(UTC),
    }
    return Delivery(**(fields | overrides))
