"""gateway's tables: the requests it answered (by idempotency key) and what it knows of each
assignment, projected from the events."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts import FieldError
from shared.db import Connection


@dataclass(frozen=True)
class Answer:
    fingerprint: str
    status_code: int
    response: dict[str, Any]


async def claim(connection: Connection, firm_id: str, key: str, fingerprint: str) -> Answer | None:
    """None if this key is new (the caller answers and commits); else the answer given before.
    A concurrent request with the same key waits here until the first commits or rolls back."""
    inserted = await connection.fetchval(
        "INSERT INTO requests(firm_id, idempotency_key, fingerprint, status_code, response)"
        " VALUES ($1, $2, $3, 0, '{}') ON CONFLICT DO NOTHING RETURNING 1",
        firm_id,
        key,
        fingerprint,
    )
    if inserted is not None:
        return None
    row = await connection.fetchrow(
        "SELECT fingerprint, status_code, response FROM requests WHERE firm_id = $1 AND idempotency_key = $2",
        firm_id,
        key,
    )
    assert row is not None
    return Answer(row["fingerprint"], row["status_code"], row["response"])


async def answer(connection: Connection, firm_id: str, key: str, status_code: int, response: dict[str, Any]) -> None:
    await connection.execute(
        "UPDATE requests SET status_code = $3, response = $4 WHERE firm_id = $1 AND idempotency_key = $2",
        firm_id,
        key,
        status_code,
        response,
    )


async def owner(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    found: str | None = await connection.fetchval(
        "SELECT firm_id FROM assignments WHERE assignment_id = $1", assignment_id
    )
    return found


async def correlation_of(connection: Connection, assignment_id: uuid.UUID) -> str | None:
    found: str | None = await connection.fetchval(
        "SELECT correlation_id FROM assignments WHERE assignment_id = $1", assignment_id
    )
    return found


# One statement per fact; a row belongs to the firm that wrote first and changes only for it.
_UPSERT = """
INSERT INTO assignments(assignment_id, firm_id, {column}) VALUES ($1, $2, $3)
ON CONFLICT (assignment_id) DO UPDATE SET {column} = {merge}, updated_at = now()
WHERE assignments.firm_id = EXCLUDED.firm_id
"""


async def _set(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, column: str, value: object, merge: str = ""
) -> None:
    merge = merge or f"EXCLUDED.{column}"
    await connection.execute(_UPSERT.format(column=column, merge=merge), assignment_id, firm_id, value)


async def submitted(connection: Connection, assignment_id: uuid.UUID, firm_id: str, correlation_id: str) -> None:
    await connection.execute(
        "INSERT INTO assignments(assignment_id, firm_id, submitted_at, correlation_id) VALUES ($1, $2, now(), $3)"
        " ON CONFLICT DO NOTHING",
        assignment_id,
        firm_id,
        correlation_id,
    )


async def accepted(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, correlation_id: str, at: datetime
) -> None:
    # assignment.created is intake's word on whose assignment it is: a row another firm's early
    # record made (a cancel naming an id before it existed) gives way, so it cannot hide the
    # assignment from its own firm.
    await connection.execute(
        "DELETE FROM assignments WHERE assignment_id = $1 AND firm_id <> $2 AND accepted_at IS NULL",
        assignment_id,
        firm_id,
    )
    await _set(connection, assignment_id, firm_id, "accepted_at", at)
    await _set(
        connection,
        assignment_id,
        firm_id,
        "correlation_id",
        correlation_id,
        "coalesce(assignments.correlation_id, EXCLUDED.correlation_id)",
    )


async def rejected(connection: Connection, assignment_id: uuid.UUID, firm_id: str, errors: list[FieldError]) -> None:
    await _set(connection, assignment_id, firm_id, "rejection", [e.model_dump() for e in errors])


async def matched(
    connection: Connection,
    assignment_id: uuid.UUID,
    firm_id: str,
    *,
    coach_id: str | None,
    job_leads: int,
    unmatched: list[str],
    at: datetime,
) -> None:
    """The newest proposal wins, whatever order the proposal and its updates arrive in."""
    await connection.execute(
        """
        INSERT INTO assignments(assignment_id, firm_id, coach_id, job_leads, unmatched, matched_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (assignment_id) DO UPDATE SET coach_id = EXCLUDED.coach_id, job_leads = EXCLUDED.job_leads,
            unmatched = EXCLUDED.unmatched, matched_at = EXCLUDED.matched_at, updated_at = now()
        WHERE assignments.firm_id = EXCLUDED.firm_id
          AND (assignments.matched_at IS NULL OR assignments.matched_at <= EXCLUDED.matched_at)
        """,
        assignment_id,
        firm_id,
        coach_id,
        job_leads,
        unmatched,
        at,
    )


async def acceptance_requested(connection: Connection, assignment_id: uuid.UUID, firm_id: str, coach_id: str) -> None:
    await _set(connection, assignment_id, firm_id, "acceptance", {"coach_id": coach_id, "errors": None})


async def acceptance_refused(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, errors: list[FieldError]
) -> None:
    # Keeps the coach the firm asked for; the refusal's errors come in as the parameter.
    merge = "jsonb_set(coalesce(assignments.acceptance, '{}'::jsonb), '{errors}', EXCLUDED.acceptance->'errors')"
    value = {"coach_id": None, "errors": [e.model_dump() for e in errors]}
    await _set(connection, assignment_id, firm_id, "acceptance", value, merge)


async def consent_withdrawn(connection: Connection, assignment_id: uuid.UUID, firm_id: str, at: datetime) -> None:
    await _set(
        connection,
        assignment_id,
        firm_id,
        "consent_withdrawn_at",
        at,
        "least(assignments.consent_withdrawn_at, EXCLUDED.consent_withdrawn_at)",
    )


async def cancelled(connection: Connection, assignment_id: uuid.UUID, firm_id: str, at: datetime) -> None:
    await _set(
        connection, assignment_id, firm_id, "cancelled_at", at, "least(assignments.cancelled_at, EXCLUDED.cancelled_at)"
    )


async def delivery(connection: Connection, firm_id: str, record: dict[str, Any], informed: bool) -> None:
    """The latest status by recorded_at; informed_at the first sent or delivered."""
    await connection.execute(
        """
        INSERT INTO deliveries(delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status,
                               attempts, recorded_at, informed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, CASE WHEN $10::boolean THEN $9::timestamptz END)
        ON CONFLICT (delivery_id) DO UPDATE SET
            status = CASE WHEN EXCLUDED.recorded_at >= deliveries.recorded_at
                          THEN EXCLUDED.status ELSE deliveries.status END,
            attempts = greatest(deliveries.attempts, EXCLUDED.attempts),
            recorded_at = greatest(deliveries.recorded_at, EXCLUDED.recorded_at),
            informed_at = least(deliveries.informed_at, EXCLUDED.informed_at)
        WHERE deliveries.firm_id = EXCLUDED.firm_id
        """,
        record["delivery_id"],
        record["assignment_id"],
        firm_id,
        record["stakeholder"],
        record["channel"],
        record["content_kind"],
        record["status"],
        record["attempts"],
        record["recorded_at"],
        informed,
    )


async def assignment(connection: Connection, firm_id: str, assignment_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT * FROM assignments WHERE assignment_id = $1 AND firm_id = $2", assignment_id, firm_id
    )
    return row


async def deliveries(connection: Connection, assignment_id: uuid.UUID) -> list[asyncpg.Record]:
    return await connection.fetch(
        "SELECT stakeholder, channel, content_kind, status, attempts, recorded_at FROM deliveries"
        " WHERE assignment_id = $1 ORDER BY recorded_at, delivery_id",
        assignment_id,
    )


async def informed(connection: Connection, firm_id: str, since: datetime) -> list[asyncpg.Record]:
    """When each stakeholder of each assignment was first informed (by e-mail or the firm's
    webhook; a failed-delivery notice to HR does not count), as notifications' report counts."""
    return await connection.fetch(
        """
        SELECT a.assignment_id, a.accepted_at, d.stakeholder, min(d.informed_at) AS informed_at
        FROM assignments a
        LEFT JOIN deliveries d ON d.assignment_id = a.assignment_id AND d.channel IN ('email', 'webhook')
             AND d.informed_at IS NOT NULL AND d.content_kind NOT LIKE 'hr.delivery_failed%'
        WHERE a.firm_id = $1 AND a.accepted_at >= $2 AND a.cancelled_at IS NULL
        GROUP BY 1, 2, 3
        """,
        firm_id,
        since,
    )
