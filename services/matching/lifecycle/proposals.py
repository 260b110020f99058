"""The life cycle of a proposal after `match.proposed`: the firm says the partner accepted the
proposed coach (then no re-assignment moves that coach), or closes the assignment (cancelled,
consent withdrawn), which frees the coach's place and stops matching the partner.

Each step runs in the handler's transaction under the assignment's advisory lock, and waits for
(or holds off) a batch re-assignment, so neither can act on a reservation the other is moving.
"""

import logging
import uuid
from datetime import datetime
from enum import StrEnum

from shared import outbox
from shared.contracts import (
    FieldError,
    MatchAcceptanceRefused,
    MatchAcceptanceRefusedPayload,
    MatchAccepted,
    RejectedRecord,
    utc_now,
)
from shared.contracts.decoding import UNKNOWN_ASSIGNMENT, ensure_owner
from shared.db import Connection
from shared.topics import FirmEvent, firm_topic

from .. import repository

log = logging.getLogger(__name__)

# Why an acceptance was refused (FieldError codes, beside the decoding codes and `key_mismatch`).
ASSIGNMENT_CLOSED = "assignment_closed"
NO_COACH_PROPOSED = "no_coach_proposed"
COACH_NOT_PROPOSED = "coach_not_proposed"


class ClosedReason(StrEnum):
    CANCELLED = "cancelled"
    CONSENT_WITHDRAWN = "consent_withdrawn"


# ---- acceptance -------------------------------------------------------------------------------


def acceptance_errors(state: repository.AssignmentState, *, firm_id: str, coach_id: str) -> list[FieldError]:
    """Why the firm's acceptance of `coach_id` cannot be recorded; empty if it can (also when it
    already was). Another firm's assignment is reported as unknown: its existence is not theirs
    to learn."""
    foreign = state.owner_firm is not None and state.owner_firm != firm_id
    if foreign or (state.owner_firm is None and not state.proposed):
        return [
            FieldError(
                field="payload.assignment_id",
                code=UNKNOWN_ASSIGNMENT,
                message="matching has no proposal for this assignment of your firm",
            )
        ]
    if state.closed:
        return [
            FieldError(
                field="payload.assignment_id",
                code=ASSIGNMENT_CLOSED,
                message="the assignment was cancelled or the partner withdrew consent; the coach's place is released",
            )
        ]
    if state.reserved_coach is None or state.owner_firm is None:  # no owner: never open (no consent)
        return [
            FieldError(
                field="payload.coach_id",
                code=NO_COACH_PROPOSED,
                message="the current proposal names no coach (none was free, or the coach left)",
            )
        ]
    if state.reserved_coach != coach_id:
        return [
            FieldError(
                field="payload.coach_id",
                code=COACH_NOT_PROPOSED,
                message=f"the current proposal names coach '{state.reserved_coach}', not '{coach_id}'"
                " (see the latest match.updated)",
            )
        ]
    return []


def key_mismatch(key: str | None, accepted: MatchAccepted) -> list[FieldError]:
    if key == str(accepted.payload.assignment_id):
        return []
    message = f"the record key '{key}' is not the assignment id {accepted.payload.assignment_id}"
    return [FieldError(field="$key", code="key_mismatch", message=message)]


async def accept(connection: Connection, accepted: MatchAccepted) -> list[FieldError]:
    """Mark the assignment's reservation accepted if it is for the named coach; otherwise the
    reasons why not, and nothing changes. Accepting an accepted coach again changes nothing."""
    payload = accepted.payload
    await repository.lock_assignment(connection, payload.assignment_id)
    await repository.exclude_rebalance(connection)
    await repository.lock_coach(connection, payload.coach_id)
    state = await repository.assignment_state(connection, payload.assignment_id)
    errors = acceptance_errors(state, firm_id=accepted.firm_id, coach_id=payload.coach_id)
    if not errors and not state.accepted:
        taken = await repository.accept_reservation(
            connection, payload.assignment_id, payload.coach_id, payload.accepted_at
        )
        assert taken, "the reservation was read under its row lock"
        log.info("coach accepted for assignment %s", payload.assignment_id)
    return errors


async def refuse(
    connection: Connection,
    record: RejectedRecord,
    errors: list[FieldError],
    *,
    accepted: MatchAccepted | None,
    firm_id: str,
) -> None:
    """Answer the firm on its own `match.acceptance-refused` topic, through the outbox. `firm_id`
    is the firm whose topic the acceptance came on, whatever the acceptance names."""
    refusal = MatchAcceptanceRefused.create(
        firm_id=firm_id,
        correlation_id=accepted.correlation_id if accepted else f"{record.topic}:{record.partition}:{record.offset}",
        payload=MatchAcceptanceRefusedPayload(
            assignment_id=accepted.payload.assignment_id if accepted else None,
            request_event_id=accepted.event_id if accepted else None,
            errors=errors,
            record=record,
            refused_at=utc_now(),
        ),
    )
    key = record.key or (str(accepted.payload.assignment_id) if accepted else str(refusal.event_id))
    topic = firm_topic(firm_id, FirmEvent.MATCH_ACCEPTANCE_REFUSED)
    await outbox.add_event(connection, topic=topic, key=key, event=refusal)
    log.warning(
        "acceptance refused at %s/%d/%d: %s",
        record.topic,
        record.partition,
        record.offset,
        "; ".join(f"{e.field}={e.code}" for e in errors),
    )


# ---- closing -----------------------------------------------------------------------------------


async def closed_before_match(connection: Connection, assignment_id: uuid.UUID, firm_id: str) -> bool:
    """For `assignment.created`: take the assignment's lock, and say whether the firm already
    closed it (its cancellation overtook the creation on another topic); then nothing is opened.
    A close by another firm, recorded while the assignment was unknown here, is forgotten: it
    changes nothing of this firm's."""
    await repository.lock_assignment(connection, assignment_id)
    closed, foreign = await repository.closes(connection, assignment_id, firm_id)
    if foreign:
        log.warning("a close of assignment %s by another firm than its own is ignored", assignment_id)
    return closed


async def close(
    connection: Connection, assignment_id: uuid.UUID, *, firm_id: str, reason: ClosedReason, closed_at: datetime
) -> str | None:
    """Close the assignment: release its coach reservation whatever its status, so the coach's
    place is free again, and drop the partner from the open partners, so that batch
    re-assignment and new leads no longer consider them. Idempotent. Returns the coach whose
    place was freed, if any. Another firm's assignment is refused as unknown (dead-lettered)."""
    await repository.lock_assignment(connection, assignment_id)
    ensure_owner(await repository.assignment_firm(connection, assignment_id), firm_id)
    await repository.exclude_rebalance(connection)
    await repository.record_closed(connection, assignment_id, firm_id, reason.value, closed_at)
    coach_id = await repository.reserved_coach(connection, assignment_id)
    if coach_id is not None:
        await repository.lock_coach(connection, coach_id)  # the order release_over_capacity locks in
    freed = await repository.release_reservation(connection, assignment_id)
    await repository.close_partner(connection, assignment_id)
    return freed
