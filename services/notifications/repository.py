"""notifications' tables: what it knows of each assignment and the record of who was told what."""

import json
import uuid
from datetime import datetime

from shared.contracts import AssignmentCreated, AssignmentCreatedPayload, MatchProposedPayload
from shared.db import Connection

from .domain import Message


async def lock_assignment(connection: Connection, assignment_id: uuid.UUID) -> None:
    """Serialise the two handlers for one assignment until commit: otherwise the created event and
    the match, arriving at the same moment, could each miss the other and nobody would notify."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", str(assignment_id))


async def save_assignment(connection: Connection, created: AssignmentCreated) -> None:
    await connection.execute(
        "INSERT INTO assignments(assignment_id, firm_id, correlation_id, created) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (assignment_id) DO NOTHING",
        created.payload.assignment.assignment_id,
        created.firm_id,
        created.correlation_id,
        json.loads(created.payload.model_dump_json()),
    )


async def firm_of(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    firm_id: str | None = await connection.fetchval(
        "SELECT firm_id FROM assignments WHERE assignment_id = $1", assignment_id
    )
    return firm_id


async def created_of(
    connection: Connection, assignment_id: uuid.UUID
) -> tuple[str, str, AssignmentCreatedPayload] | None:
    """Firm id, correlation id and the assignment as accepted."""
    row = await connection.fetchrow(
        "SELECT firm_id, correlation_id, created FROM assignments WHERE assignment_id = $1", assignment_id
    )
    if row is None:
        return None
    return row["firm_id"], row["correlation_id"], AssignmentCreatedPayload.model_validate(row["created"])


async def save_match(connection: Connection, match: MatchProposedPayload) -> bool:
    """Keep the newest match; False if the one already held is newer. `match.proposed` and
    `match.updated` travel on different topics, so an update may overtake its proposal."""
    saved = await connection.fetchval(
        "INSERT INTO matches(assignment_id, proposal) VALUES ($1, $2)"
        " ON CONFLICT (assignment_id) DO UPDATE SET proposal = EXCLUDED.proposal, received_at = now()"
        " WHERE (matches.proposal->>'proposed_at')::timestamptz <= (EXCLUDED.proposal->>'proposed_at')::timestamptz"
        " RETURNING 1",
        match.assignment_id,
        json.loads(match.model_dump_json()),
    )
    return saved is not None


async def previous_match(connection: Connection, assignment_id: uuid.UUID) -> MatchProposedPayload | None:
    proposal = await connection.fetchval("SELECT proposal FROM matches WHERE assignment_id = $1", assignment_id)
    return None if proposal is None else MatchProposedPayload.model_validate(proposal)


async def was_informed(connection: Connection, assignment_id: uuid.UUID) -> bool:
    found = await connection.fetchval(
        "SELECT 1 FROM notifications WHERE assignment_id = $1 AND content_kind = 'partner.support_and_match'",
        assignment_id,
    )
    return found is not None


async def hr_record_queued(connection: Connection, assignment_id: uuid.UUID) -> bool:
    found = await connection.fetchval(
        "SELECT 1 FROM notifications WHERE assignment_id = $1 AND content_kind = 'hr.duty_of_information_record'",
        assignment_id,
    )
    return found is not None


async def assignment_and_match(
    connection: Connection, assignment_id: uuid.UUID
) -> tuple[str, str, AssignmentCreatedPayload, MatchProposedPayload] | None:
    """Firm id, correlation id, the assignment and its match, once both have arrived."""
    row = await connection.fetchrow(
        "SELECT a.firm_id, a.correlation_id, a.created, m.proposal FROM assignments a"
        " JOIN matches m USING (assignment_id) WHERE a.assignment_id = $1",
        assignment_id,
    )
    if row is None:
        return None
    return (
        row["firm_id"],
        row["correlation_id"],
        AssignmentCreatedPayload.model_validate(row["created"]),
        MatchProposedPayload.model_validate(row["proposal"]),
    )


async def record_notification(
    connection: Connection,
    *,
    notification_id: uuid.UUID,
    assignment_id: uuid.UUID,
    firm_id: str,
    message: Message,
    trace_id: str | None,
    at: datetime,
) -> bool:
    """Record one notification; False if this stakeholder already got this content."""
    inserted = await connection.fetchval(
        """
        INSERT INTO notifications(notification_id, assignment_id, firm_id, stakeholder, channel,
            content_kind, language, recipient, subject, body, trace_id, notified_at, html)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (assignment_id, stakeholder, content_kind) DO NOTHING
        RETURNING 1
        """,
        notification_id,
        assignment_id,
        firm_id,
        message.stakeholder.value,
        message.channel.value,
        message.content_kind,
        message.language,
        message.recipient,
        message.subject,
        message.body,
        trace_id,
        at,
        message.html,
    )
    return inserted is not None
