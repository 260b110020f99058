"""care's SQL (asyncpg): assignments, durable deadlines, pulses, sessions, outcomes, escalations,
the duty-of-care record and the clock."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.contracts import AssignmentCreated
from shared.db import Connection, holds, lock_key, lock_keys

from .domain import Deadline, Engagement

_LOCK_NAMESPACE = 7230011  # care's advisory locks per assignment (its own database)


async def now(connection: Connection, *, database_clock: bool) -> datetime:
    """The service's clock: the wall clock, plus the test offset when the database clock is on."""
    if not database_clock:
        return datetime.now(UTC)
    offset = await connection.fetchval("SELECT offset_s FROM care_clock")
    return datetime.now(UTC) + timedelta(seconds=offset or 0.0)


async def advance_clock(connection: Connection, seconds: float) -> float:
    offset: float = await connection.fetchval(
        "UPDATE care_clock SET offset_s = offset_s + $1 RETURNING offset_s", seconds
    )
    return offset


async def lock_assignment(connection: Connection, assignment_id: uuid.UUID) -> None:
    """Serialises one assignment's handlers (events of one assignment come on several topics).
    A batch that took it already (`lock_assignments`, record keys) holds it: no round trip."""
    if not holds(connection, str(assignment_id)):
        await lock_key(connection, _LOCK_NAMESPACE, str(assignment_id))


async def lock_assignments(connection: Connection, assignment_ids: Sequence[uuid.UUID | str]) -> None:
    """Several assignments' locks in one round trip, in one order (by id): a batch of records
    takes its assignments' locks at its start, so two batches wait for each other instead of
    deadlocking."""
    await lock_keys(connection, _LOCK_NAMESPACE, (str(a) for a in assignment_ids))


async def save_assignment(
    connection: Connection, created: AssignmentCreated, owner_name: str, owner_email: str
) -> asyncpg.Record | None:
    """None if the assignment was saved before; else what was kept while it was unknown, taken
    in the same round trip: the early stop (`stop_firm_id`, `stop_reason`, `stopped_at`, null
    without one) and the early coach (`early_coach`, removed from the waiting room)."""
    a = created.payload.assignment
    return await connection.fetchrow(
        "WITH saved AS (INSERT INTO care_assignments(assignment_id, firm_id, correlation_id, host_country, start_date,"
        " work_permit, owner_name, owner_email, accepted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING assignment_id),"
        " coach AS (DELETE FROM care_early_coaches c USING saved WHERE c.assignment_id = saved.assignment_id"
        " RETURNING c.coach_id)"
        " SELECT s.firm_id AS stop_firm_id, s.reason AS stop_reason, s.stopped_at,"
        " (SELECT coach_id FROM coach) AS early_coach"
        " FROM saved LEFT JOIN care_early_stops s ON s.assignment_id = saved.assignment_id",
        a.assignment_id,
        created.firm_id,
        created.correlation_id,
        a.host_location.country,
        a.start_date,
        a.partner.profile.work_permit.value,
        owner_name,
        owner_email,
        created.payload.accepted_at,
    )


async def assignment(connection: Connection, assignment_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow("SELECT * FROM care_assignments WHERE assignment_id = $1", assignment_id)


async def save_early_stop(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, reason: str, at: datetime
) -> None:
    await connection.execute(
        "INSERT INTO care_early_stops VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        assignment_id,
        firm_id,
        reason,
        at,
    )


async def save_early_coach(connection: Connection, assignment_id: uuid.UUID, coach_id: str | None) -> None:
    await connection.execute(
        "INSERT INTO care_early_coaches VALUES ($1, $2) ON CONFLICT (assignment_id) DO UPDATE SET coach_id = $2",
        assignment_id,
        coach_id,
    )


async def stop(connection: Connection, assignment_id: uuid.UUID, reason: str, at: datetime) -> bool:
    """False if the assignment was already stopped (a cancellation after a withdrawal, say)."""
    updated = await connection.fetchval(
        "UPDATE care_assignments SET stopped = $2, stopped_at = $3 WHERE assignment_id = $1 AND stopped IS NULL"
        " RETURNING 1",
        assignment_id,
        reason,
        at,
    )
    return updated is not None


async def add_deadlines(
    connection: Connection, assignment_id: uuid.UUID, deadlines: Sequence[Deadline], trace_headers: dict[str, str]
) -> list[asyncpg.Record]:
    """The deadlines not set before (a redelivery or a second proposal sets none twice), in the
    order given, with one statement."""
    if not deadlines:
        return []
    rows = await connection.fetch(
        "INSERT INTO care_deadlines(deadline_id, assignment_id, kind, due_at, trace_headers)"
        " SELECT d.deadline_id, $1, d.kind, d.due_at, $5::jsonb"
        " FROM unnest($2::uuid[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS d(deadline_id, kind, due_at, n)"
        " ORDER BY d.n ON CONFLICT (assignment_id, kind) DO NOTHING RETURNING deadline_id, kind, due_at",
        assignment_id,
        [uuid.uuid4() for _ in deadlines],
        [deadline.kind for deadline in deadlines],
        [deadline.due_at for deadline in deadlines],
        trace_headers,
    )
    order = {deadline.kind: n for n, deadline in enumerate(deadlines)}
    return sorted(rows, key=lambda row: order[row["kind"]])


async def settle_pending(
    connection: Connection, assignment_id: uuid.UUID, state: str, at: datetime, kinds: Sequence[str] | None = None
) -> list[asyncpg.Record]:
    """Move pending deadlines (all, or those of `kinds`) to `state`: met or cancelled. A deadline
    the timer worker is firing right now is locked; this waits for it and then finds it fired."""
    return await connection.fetch(
        "UPDATE care_deadlines SET state = $2, settled_at = $3"
        " WHERE assignment_id = $1 AND state = 'pending' AND ($4::text[] IS NULL OR kind = ANY($4))"
        " RETURNING deadline_id, kind, due_at",
        assignment_id,
        state,
        at,
        list(kinds) if kinds is not None else None,
    )


async def assignment_meeting(
    connection: Connection, assignment_id: uuid.UUID, firm_id: str, kinds: Sequence[str], at: datetime
) -> tuple[asyncpg.Record | None, list[tuple[uuid.UUID, str]]]:
    """The firm's assignment as `assignment` reads it (None if care does not follow it for this
    firm) and, in the same round trip, its pending deadlines of `kinds` moved to met as
    `settle_pending` does: (deadline_id, kind) of each."""
    row = await connection.fetchrow(
        "WITH known AS (SELECT * FROM care_assignments WHERE assignment_id = $1 AND firm_id = $2),"
        " met AS (UPDATE care_deadlines d SET state = 'met', settled_at = $3 FROM known"
        " WHERE d.assignment_id = known.assignment_id AND d.state = 'pending' AND d.kind = ANY($4)"
        " RETURNING d.deadline_id, d.kind)"
        " SELECT known.*, ARRAY(SELECT deadline_id FROM met) AS met_ids, ARRAY(SELECT kind FROM met) AS met_kinds"
        " FROM known",
        assignment_id,
        firm_id,
        at,
        list(kinds),
    )
    if row is None:
        return None, []
    return row, list(zip(row["met_ids"], row["met_kinds"], strict=True))


async def claim_due(connection: Connection, at: datetime, limit: int) -> list[asyncpg.Record]:
    """Due deadlines no other replica holds; the row locks last until the caller's commit."""
    return await connection.fetch(
        "SELECT d.deadline_id, d.assignment_id, d.kind, d.due_at, d.trace_headers"
        " FROM care_deadlines d WHERE d.state = 'pending' AND d.due_at <= $1"
        " ORDER BY d.due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        at,
        limit,
    )


async def mark_fired(connection: Connection, deadline_id: uuid.UUID, at: datetime) -> None:
    await connection.execute(
        "UPDATE care_deadlines SET state = 'fired', settled_at = $2 WHERE deadline_id = $1", deadline_id, at
    )


async def deadline(connection: Connection, deadline_id: uuid.UUID) -> asyncpg.Record | None:
    return await connection.fetchrow("SELECT * FROM care_deadlines WHERE deadline_id = $1", deadline_id)


async def set_coach(connection: Connection, assignment_id: uuid.UUID, coach_id: str, at: datetime) -> bool:
    """True the first time a coach is proposed for the assignment (the engagement clock starts)."""
    first = await connection.fetchval(
        "UPDATE care_assignments SET coach_id = $2, proposed_at = COALESCE(proposed_at, $3)"
        " WHERE assignment_id = $1 RETURNING proposed_at = $3",
        assignment_id,
        coach_id,
        at,
    )
    return bool(first)


async def record_acceptance(connection: Connection, assignment_id: uuid.UUID, coach_id: str, at: datetime) -> None:
    await connection.execute(
        "UPDATE care_assignments SET coach_id = $2, coach_accepted_at = COALESCE(coach_accepted_at, $3)"
        " WHERE assignment_id = $1",
        assignment_id,
        coach_id,
        at,
    )


async def record_session(
    connection: Connection, event_id: str, assignment_id: uuid.UUID, coach_id: str, at: datetime
) -> None:
    await connection.execute(
        "INSERT INTO care_sessions VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        event_id,
        assignment_id,
        coach_id,
        at,
    )
    await connection.execute(
        "UPDATE care_assignments SET sessions = sessions + 1,"
        " first_session_at = LEAST(COALESCE(first_session_at, $2), $2) WHERE assignment_id = $1",
        assignment_id,
        at,
    )


async def check_in_answerable(connection: Connection, check_in_id: uuid.UUID) -> asyncpg.Record | None:
    """The check-in's deadline row if it was sent; None if it never was (or is unknown)."""
    return await connection.fetchrow(
        "SELECT d.deadline_id, d.assignment_id, d.kind, a.firm_id, a.stopped,"
        " EXISTS (SELECT 1 FROM care_pulses p WHERE p.check_in_id = d.deadline_id) AS answered"
        " FROM care_deadlines d JOIN care_assignments a USING (assignment_id)"
        " WHERE d.deadline_id = $1 AND d.kind LIKE 'check\\_in.%' AND d.state = 'fired'",
        check_in_id,
    )


async def save_pulse(
    connection: Connection,
    *,
    assignment_id: uuid.UUID,
    check_in_id: uuid.UUID | None,
    score: int,
    comment: str,
    source: str,
    coach_id: str | None,
    at: datetime,
) -> uuid.UUID | None:
    """None if the check-in was answered already: a link answers once."""
    pulse_id = uuid.uuid4()
    inserted = await connection.fetchval(
        "INSERT INTO care_pulses VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (check_in_id) DO NOTHING"
        " RETURNING 1",
        pulse_id,
        assignment_id,
        check_in_id,
        score,
        comment,
        source,
        coach_id,
        at,
    )
    return pulse_id if inserted else None


async def save_outcome(
    connection: Connection, assignment_id: uuid.UUID, outcome: str, coach_id: str | None, at: datetime
) -> bool:
    inserted = await connection.fetchval(
        "INSERT INTO care_outcomes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
        assignment_id,
        outcome,
        coach_id,
        at,
    )
    return inserted is not None


async def add_escalation(
    connection: Connection,
    *,
    escalation_id: uuid.UUID,
    assignment_id: uuid.UUID,
    rule: str,
    level: int,
    coach_id: str | None,
    deadline_id: uuid.UUID | None,
    at: datetime,
) -> None:
    await connection.execute(
        "INSERT INTO care_escalations(escalation_id, assignment_id, rule, level, coach_id, deadline_id, raised_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        escalation_id,
        assignment_id,
        rule,
        level,
        coach_id,
        deadline_id,
        at,
    )


async def close_escalation(
    connection: Connection, assignment_id: uuid.UUID, escalation_id: uuid.UUID, resolution: str, at: datetime
) -> str | None:
    """'closed' when closed now, 'already' if it was, None if the assignment has no such escalation."""
    row = await connection.fetchrow(
        "SELECT state FROM care_escalations WHERE escalation_id = $1 AND assignment_id = $2 FOR UPDATE",
        escalation_id,
        assignment_id,
    )
    if row is None:
        return None
    if row["state"] != "open":
        return "already"
    await connection.execute(
        "UPDATE care_escalations SET state = 'closed', closed_at = $2, resolution = $3 WHERE escalation_id = $1",
        escalation_id,
        at,
        resolution,
    )
    return "closed"


async def cancel_open_escalations(connection: Connection, assignment_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
    rows = await connection.fetch(
        "UPDATE care_escalations SET state = 'cancelled', closed_at = $2"
        " WHERE assignment_id = $1 AND state = 'open' RETURNING escalation_id",
        assignment_id,
        at,
    )
    return [row["escalation_id"] for row in rows]


async def save_coach_provider(connection: Connection, coach_id: str, provider_id: str) -> None:
    """The first provider to publish a coach owns it (as in matching, which refuses the others)."""
    await connection.execute(
        "INSERT INTO care_coaches VALUES ($1, $2) ON CONFLICT (coach_id) DO NOTHING",
        coach_id,
        provider_id,
    )


async def provider_of(connection: Connection, coach_id: str | None) -> str | None:
    if coach_id is None:
        return None
    provider: str | None = await connection.fetchval(
        "SELECT provider_id FROM care_coaches WHERE coach_id = $1", coach_id
    )
    return provider


async def engagements(connection: Connection, firm_id: str, provider_id: str) -> list[Engagement]:
    """One firm's assignments proposed a coach of the provider, with what followed."""
    rows = await connection.fetch(
        "SELECT a.coach_id, a.proposed_at, a.coach_accepted_at IS NOT NULL AS accepted, a.sessions,"
        " a.first_session_at,"
        " ARRAY(SELECT p.score FROM care_pulses p WHERE p.assignment_id = a.assignment_id ORDER BY p.given_at)"
        "  AS pulses,"
        " ARRAY(SELECT o.outcome FROM care_outcomes o WHERE o.assignment_id = a.assignment_id ORDER BY o.outcome)"
        "  AS outcomes,"
        " (SELECT count(*) FROM care_escalations e WHERE e.assignment_id = a.assignment_id) AS escalations"
        " FROM care_assignments a JOIN care_coaches c ON c.coach_id = a.coach_id"
        " WHERE a.firm_id = $1 AND c.provider_id = $2 AND a.proposed_at IS NOT NULL"
        " ORDER BY a.coach_id, a.assignment_id",
        firm_id,
        provider_id,
    )
    return [
        Engagement(
            coach_id=row["coach_id"],
            proposed_at=row["proposed_at"],
            accepted=row["accepted"],
            sessions=row["sessions"],
            first_session_at=row["first_session_at"],
            pulses=tuple(row["pulses"]),
            outcomes=tuple(row["outcomes"]),
            escalations=row["escalations"],
        )
        for row in rows
    ]


async def providers_of_firm(connection: Connection, firm_id: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT DISTINCT c.provider_id FROM care_assignments a JOIN care_coaches c USING (coach_id)"
        " WHERE a.firm_id = $1 ORDER BY 1",
        firm_id,
    )
    return [row["provider_id"] for row in rows]


async def append_records(connection: Connection, entries: list[tuple[object, ...]]) -> None:
    """The duty-of-care record's entries, in order (their `position` follows it): each a tuple
    (entry_id, assignment_id, firm_id, duty, kind, subject_id, detail, recorded_at, trace_id)."""
    await connection.execute(
        "INSERT INTO care_record(entry_id, assignment_id, firm_id, duty, kind, subject_id, detail, recorded_at,"
        " trace_id) SELECT e.entry_id, e.assignment_id, e.firm_id, e.duty, e.kind, e.subject_id, e.detail::jsonb,"
        " e.recorded_at, e.trace_id FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::timestamptz[], $9::text[]) WITH ORDINALITY AS e(entry_id, assignment_id,"
        " firm_id, duty, kind, subject_id, detail, recorded_at, trace_id, n) ORDER BY e.n",
        *(list(column) for column in zip(*entries, strict=True)),
    )


async def record_of(connection: Connection, assignment_id: uuid.UUID) -> list[asyncpg.Record]:
    return await connection.fetch("SELECT * FROM care_record WHERE assignment_id = $1 ORDER BY position", assignment_id)
