"""intake's tables: accepted assignments and the refusals it answered."""

from shared.contracts import AssignmentRejected, AssignmentRequested
from shared.db import Connection, JsonText


async def save_assignment(connection: Connection, request: AssignmentRequested) -> bool:
    """Store an accepted assignment; False if the assignment id is already taken."""
    assignment = request.payload
    inserted = await connection.fetchval(
        """
        INSERT INTO assignments(assignment_id, firm_id, request_event_id, correlation_id,
                                host_country, host_city, start_date, assignment)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (assignment_id) DO NOTHING
        RETURNING 1
        """,
        assignment.assignment_id,
        request.firm_id,
        request.event_id,
        request.correlation_id,
        assignment.host_location.country,
        assignment.host_location.city,
        assignment.start_date,
        JsonText(assignment.model_dump_json()),
    )
    return inserted is not None


async def save_rejection(connection: Connection, rejection: AssignmentRejected) -> None:
    payload = rejection.payload
    await connection.execute(
        """
        INSERT INTO rejections(event_id, firm_id, assignment_id, request_event_id, errors,
                               topic, partition, record_offset)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        rejection.event_id,
        rejection.firm_id,
        payload.assignment_id,
        payload.request_event_id,
        [error.model_dump() for error in payload.errors],
        payload.record.topic,
        payload.record.partition,
        payload.record.offset,
    )


async def handled_request(connection: Connection, request: AssignmentRequested) -> bool:
    """True if this event id was accepted or refused for this same assignment: a redelivery."""
    found = await connection.fetchval(
        """
        SELECT 1 FROM assignments WHERE request_event_id = $1 AND assignment_id = $2
        UNION ALL
        SELECT 1 FROM rejections WHERE request_event_id = $1 AND assignment_id = $2
        LIMIT 1
        """,
        request.event_id,
        request.payload.assignment_id,
    )
    return found is not None
