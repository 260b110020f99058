"""gateway's tables: the requests it answered (by idempotency key) and what it knows of each
assignment, projected from the events."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import asyncpg

from shared import outbox
from shared.contracts import FieldError
from shared.db import Connection, encode_json


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


# assignment.created is intake's word on whose assignment it is: a row another firm's early
# record made (a cancel naming an id before it existed) gives way, so it cannot hide the
# assignment from its own firm. One statement: the INSERT reads the DELETE's count, so it runs
# after it (sub-statements run in no set order otherwise), and a row the same statement deleted is
# no conflict. It answers what it met, for the batch's matches still to be written.
_ACCEPTED = """
WITH gone AS (
    DELETE FROM assignments WHERE assignment_id = $1 AND firm_id <> $2 AND accepted_at IS NULL RETURNING 1
), put AS (
    INSERT INTO assignments(assignment_id, firm_id, accepted_at, correlation_id)
    SELECT $1, $2, $3, $4 FROM (SELECT count(*) FROM gone) AS deleted_first
    ON CONFLICT (assignment_id) DO UPDATE SET accepted_at = EXCLUDED.accepted_at,
        correlation_id = coalesce(assignments.correlation_id, EXCLUDED.correlation_id), updated_at = now()
    WHERE assignments.firm_id = EXCLUDED.firm_id
)
SELECT EXISTS (SELECT FROM gone) AS deleted, NOT EXISTS (SELECT FROM assignments WHERE assignment_id = $1) AS absent
"""


async def accepted(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, correlation_id: str, at: datetime
) -> None:
    met = await connection.fetchrow(_ACCEPTED, assignment_id, firm_id, at, correlation_id)
    assert met is not None
    if met["deleted"] or met["absent"]:
        # The batch's matches gathered before it would have met the row as it was (`_surviving`).
        await outbox.add_later(connection, write_matches, Claimed(assignment_id, firm_id, deleted=met["deleted"]))


async def rejected(connection: Connection, assignment_id: uuid.UUID, firm_id: str, errors: list[FieldError]) -> None:
    await _set(connection, assignment_id, firm_id, "rejection", [e.model_dump() for e in errors])


class Match(NamedTuple):
    assignment_id: uuid.UUID
    firm_id: str
    coach_id: str | None
    job_leads: int
    unmatched: list[str]
    matched_at: datetime


class Claimed(NamedTuple):
    """`accepted` deleted another firm's row (`deleted`) or found none and inserted one."""

    assignment_id: uuid.UUID
    firm_id: str
    deleted: bool


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
    """The newest proposal wins, whatever order the proposal and its updates arrive in. Nothing
    reads it in the consumer's transaction: written with the batch's other matches at its end."""
    await outbox.add_later(connection, write_matches, Match(assignment_id, firm_id, coach_id, job_leads, unmatched, at))


_UPSERT_MATCHES = """
INSERT INTO assignments(assignment_id, firm_id, coach_id, job_leads, unmatched, matched_at)
SELECT m.assignment_id, m.firm_id, m.coach_id, m.job_leads, m.unmatched::jsonb, m.matched_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::timestamptz[])
    WITH ORDINALITY AS m(assignment_id, firm_id, coach_id, job_leads, unmatched, matched_at, n)
ORDER BY m.n
ON CONFLICT (assignment_id) DO UPDATE SET coach_id = EXCLUDED.coach_id, job_leads = EXCLUDED.job_leads,
    unmatched = EXCLUDED.unmatched, matched_at = EXCLUDED.matched_at, updated_at = now()
WHERE assignments.firm_id = EXCLUDED.firm_id
  AND (assignments.matched_at IS NULL OR assignments.matched_at <= EXCLUDED.matched_at)
"""


async def write_matches(connection: Connection, rows: list[Match | Claimed]) -> None:
    """A batch's matches, as the upsert applied to each in order would leave them."""
    for matches in _rounds(_surviving(rows), lambda m: m.assignment_id, _later_match):
        columns = _columns(matches)
        columns[4] = [encode_json(unmatched) for unmatched in columns[4]]  # jsonb, sent as text
        await connection.execute(_UPSERT_MATCHES, *columns)


def _surviving(rows: list[Match | Claimed]) -> list[Match]:
    """The matches that show when each is written as it comes. One gathered before `accepted` met
    the row as it stood then; `accepted` replaced that row, and with it what the match did, if it
    deleted another firm's row, or if it found none while the first earlier match (which would
    have made the row) was another firm's."""
    pending: dict[uuid.UUID, list[Match]] = {}
    for row in rows:
        earlier = pending.setdefault(row.assignment_id, [])
        if isinstance(row, Match):
            earlier.append(row)
        elif row.deleted or (earlier and earlier[0].firm_id != row.firm_id):
            earlier.clear()
    return [match for matches in pending.values() for match in matches]


def _later_match(earlier: Match, later: Match) -> Match:
    return later if earlier.matched_at <= later.matched_at else earlier


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


class Delivery(NamedTuple):
    delivery_id: uuid.UUID
    assignment_id: uuid.UUID
    firm_id: str
    stakeholder: str
    channel: str
    content_kind: str
    status: str
    attempts: int
    recorded_at: datetime
    informed_at: datetime | None


async def delivery(connection: Connection, firm_id: str, record: dict[str, Any], informed: bool) -> None:
    """The latest status by recorded_at; informed_at the first sent or delivered. Nothing reads it
    in the consumer's transaction: written with the batch's other deliveries at its end."""
    row = Delivery(
        record["delivery_id"],
        record["assignment_id"],
        firm_id,
        record["stakeholder"],
        record["channel"],
        record["content_kind"],
        record["status"],
        record["attempts"],
        record["recorded_at"],
        record["recorded_at"] if informed else None,
    )
    await outbox.add_later(connection, write_deliveries, row)


_UPSERT_DELIVERIES = """
INSERT INTO deliveries(delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status,
                       attempts, recorded_at, informed_at)
SELECT d.delivery_id, d.assignment_id, d.firm_id, d.stakeholder, d.channel, d.content_kind, d.status,
       d.attempts, d.recorded_at, d.informed_at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[],
            $9::timestamptz[], $10::timestamptz[])
    WITH ORDINALITY AS d(delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status,
                         attempts, recorded_at, informed_at, n)
ORDER BY d.n
ON CONFLICT (delivery_id) DO UPDATE SET
    status = CASE WHEN EXCLUDED.recorded_at >= deliveries.recorded_at
                  THEN EXCLUDED.status ELSE deliveries.status END,
    attempts = greatest(deliveries.attempts, EXCLUDED.attempts),
    recorded_at = greatest(deliveries.recorded_at, EXCLUDED.recorded_at),
    informed_at = least(deliveries.informed_at, EXCLUDED.informed_at)
WHERE deliveries.firm_id = EXCLUDED.firm_id
"""


async def write_deliveries(connection: Connection, rows: list[Delivery]) -> None:
    """A batch's duty-of-information records, as the upsert applied to each in order would leave them."""
    for deliveries in _rounds(rows, lambda d: d.delivery_id, _later_delivery):
        await connection.execute(_UPSERT_DELIVERIES, *_columns(deliveries))


def _later_delivery(earlier: Delivery, later: Delivery) -> Delivery:
    informed = [at for at in (earlier.informed_at, later.informed_at) if at is not None]
    return earlier._replace(
        status=later.status if later.recorded_at >= earlier.recorded_at else earlier.status,
        attempts=max(earlier.attempts, later.attempts),
        recorded_at=max(earlier.recorded_at, later.recorded_at),
        informed_at=min(informed, default=None),
    )


Row = TypeVar("Row", Match, Delivery)


def _rounds(rows: list[Row], key: Callable[[Row], uuid.UUID], later: Callable[[Row, Row], Row]) -> list[list[Row]]:
    """The rows merged per key and firm as the upsert would merge them one after another (one
    statement may not change a row twice), in rounds sorted by key (two batches lock rows in one
    order). A key named by a second firm goes in a second round, and so on: each firm's rows meet
    the row in the order they came, and only the row's owner changes it."""
    merged: dict[tuple[uuid.UUID, str], Row] = {}
    for row in rows:
        at = (key(row), row.firm_id)
        merged[at] = later(merged[at], row) if at in merged else row
    rounds: list[list[Row]] = []
    firms: dict[uuid.UUID, int] = {}
    for (row_key, _), row in merged.items():  # in order of first appearance
        n = firms[row_key] = firms.get(row_key, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return [sorted(round_, key=key) for round_ in rounds]


def _columns(rows: list[Row]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


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
