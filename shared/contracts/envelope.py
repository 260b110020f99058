"""The envelope every Trailblazer event travels in.

The assignment id is also the Kafka record key, so all events of one assignment land on one
partition and keep their order. `event_id` is assigned once by the producer; consumers use it to
recognise a redelivery.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, Field

from .common import Contract, Identifier


def _to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-14:00 is past year 9999 in UTC
        raise ValueError("lies outside the supported date range once converted to UTC") from None


# Revision 1 of the v1 topics. Raise it with an additive change (a new optional field, a new
# outbound enum value announced first); a breaking change needs a new topic version instead.
SCHEMA_REVISION = 1

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(Contract):
    event_id: uuid.UUID
    event_type: str
    # The revision of the contract within the topic's version (`...v1`): additive, compatible
    # changes raise it; readers accept any revision of their topic version (docs/events.md).
    schema_version: Annotated[int, Field(ge=1)] = SCHEMA_REVISION
    occurred_at: UtcDatetime
    firm_id: Identifier
    correlation_id: Annotated[str, Field(min_length=1, max_length=128)]

    @classmethod
    def create(cls, *, firm_id: str, correlation_id: str, **fields: object) -> Self:
        """A new event with a fresh id, stamped now."""
        return cls(
            event_id=uuid.uuid4(),
            occurred_at=utc_now(),
            firm_id=firm_id,
            correlation_id=correlation_id,
            **fields,
        )
