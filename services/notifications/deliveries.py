"""SQL of the deliveries table: queueing, claiming with FOR UPDATE SKIP LOCKED, outcomes, stops."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.contracts import DeliveryChannel, DeliveryStatus, Stakeholder
from shared.db import Connection

from .domain import EMPLOYEE_CONTENT, HR_RECORD, PARTNER_CONTENT, Outcome

WAKE_CHANNEL = "deliveries"
_PENDING = ("queued", "retrying")
UNSETTLED = ("queued", "retrying", "sending")


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery with everything needed to send it."""

    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    assignment_id: uuid.UUID
    firm_id: str
    stakeholder: Stakeholder
    content_kind: str
    channel: DeliveryChannel
    attempts: int
    trace_id: str | None
    language: str
    recipient: str
    subject: str
    body: str
    html: str
    notified_at: datetime
    # W3C traceparent of the assignment's trace where the delivery was queued: its spans join it.
    traceparent: str | None = None
    # Its last allowed attempt was cut short: park it, do not send again.
    exhausted: bool = False
    correlation_id: str | None = None  # the firm's reference, for the records
    queued_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """A claimed delivery's new status after its attempt (or instead of it)."""

    delivery_id: uuid.UUID
    status: DeliveryStatus
    error: str | None = None
    message_id: str | None = None  # sent e-mails: the Message-ID it went out with
    retry_in_s: float = 0.0  # retrying: when the next attempt is due


async def claim(connection: Connection, *, lease_s: float, limit: int, max_attempts: int) -> list[Delivery]:
    """Take due deliveries for this worker. SKIP LOCKED lets replicas claim side by side; the lease
    returns a delivery to the queue if its worker dies while sending. A claim is an attempt, but
    never beyond `max_attempts`: a delivery whose last allowed attempt was cut short (its worker
    died, its lease ran out) comes back `exhausted`, to be parked without another try."""
    rows = await connection.fetch(
        """
        WITH due AS (
            SELECT delivery_id, notification_id, attempts FROM deliveries
            WHERE ((status IN ('queued', 'retrying') AND next_attempt_at <= now())
                   OR (status = 'sending' AND claimed_until < now()))
            ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        UPDATE deliveries d SET status = 'sending', updated_at = now(),
            attempts = CASE WHEN due.attempts < $3 THEN due.attempts + 1 ELSE due.attempts END,
            claimed_until = now() + make_interval(secs => $1)
        FROM due JOIN notifications n ON n.notification_id = due.notification_id
            LEFT JOIN assignments a ON a.assignment_id = n.assignment_id
        WHERE d.delivery_id = due.delivery_id
        RETURNING d.delivery_id, d.notification_id, d.assignment_id, d.firm_id, d.stakeholder, d.content_kind,
            d.channel, d.attempts, d.trace_id, d.traceparent, n.language, n.recipient, n.subject, n.body, n.html,
            n.notified_at, due.attempts >= $3 AS exhausted, a.correlation_id, d.queued_at
        """,
        lease_s,
        limit,
        max_attempts,
    )
    return [
        Delivery(**{**dict(r), "stakeholder": Stakeholder(r["stakeholder"]), "channel": DeliveryChannel(r["channel"])})
        for r in rows
    ]


async def settle(connection: Connection, changes: Sequence[Change]) -> dict[uuid.UUID, datetime]:
    """Record claimed deliveries' new statuses in one statement: sent or delivered (with the time
    and the Message-ID), retrying (due again after `retry_in_s`), failed (parked), cancelled or
    suppressed. Only a delivery still `sending` changes (a stop meanwhile, or another worker after
    the lease, took the others): delivery id → queued_at of those that changed."""
    if not changes:
        return {}
    rows = await connection.fetch(
        """
        UPDATE deliveries d SET status = c.status, claimed_until = NULL, updated_at = now(),
            sent_at = CASE WHEN c.status = 'sent' THEN now() ELSE d.sent_at END,
            delivered_at = CASE WHEN c.status = 'delivered' THEN now() ELSE d.delivered_at END,
            failed_at = CASE WHEN c.status = 'failed' THEN now() ELSE d.failed_at END,
            message_id = CASE WHEN c.status IN ('sent', 'delivered') THEN c.message_id ELSE d.message_id END,
            next_attempt_at = CASE WHEN c.status = 'retrying' THEN now() + make_interval(secs => c.retry_in_s)
                ELSE d.next_attempt_at END,
            last_error = CASE WHEN c.status IN ('sent', 'delivered') THEN NULL ELSE COALESCE(c.error, d.last_error) END
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[])
            AS c(delivery_id, status, error, message_id, retry_in_s)
        WHERE d.delivery_id = c.delivery_id AND d.status = 'sending'
        RETURNING d.delivery_id, d.queued_at
        """,
        [c.delivery_id for c in changes],
        [c.status.value for c in changes],
        [c.error for c in changes],
        [c.message_id for c in changes],
        [c.retry_in_s for c in changes],
    )
    return {row["delivery_id"]: row["queued_at"] for row in rows}


async def wait_for_stops(connection: Connection, assignment_ids: Sequence[uuid.UUID]) -> None:
    """Wait until no transaction holds one of these assignments' locks (a stop being recorded),
    holding none of them meanwhile: each is taken and let go at once, shared. A stop that was
    under way is then seen by the next statement; one that comes later finds the delivery
    `sending` and leaves it to its attempt, as it would after the attempt started."""
    keys = sorted({str(a) for a in assignment_ids})
    await connection.execute(
        "SELECT pg_advisory_lock_shared(hashtextextended(k, 0)), pg_advisory_unlock_shared(hashtextextended(k, 0))"
        " FROM unnest($1::text[]) WITH ORDINALITY AS s(k, n) ORDER BY n",
        keys,
    )


async def stops_of(connection: Connection, assignment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[bool, bool]]:
    """(cancelled, partner consent withdrawn) of each assignment that has a stop."""
    rows = await connection.fetch(
        "SELECT s.assignment_id,"
        " EXISTS (SELECT 1 FROM cancellations c WHERE c.assignment_id = s.assignment_id) AS cancelled,"
        " EXISTS (SELECT 1 FROM consent_withdrawals w WHERE w.assignment_id = s.assignment_id) AS withdrawn"
        " FROM unnest($1::uuid[]) AS s(assignment_id)",
        list(set(assignment_ids)),
    )
    return {r["assignment_id"]: (r["cancelled"], r["withdrawn"]) for r in rows if r["cancelled"] or r["withdrawn"]}


async def stop_pending(
    connection: Connection, assignment_id: uuid.UUID, status: DeliveryStatus, stakeholder: Stakeholder | None = None
) -> list[asyncpg.Record]:
    """Cancel or suppress what has not gone out yet; returns the rows changed, for the record."""
    return await connection.fetch(
        "UPDATE deliveries SET status = $2, claimed_until = NULL, updated_at = now()"
        " WHERE assignment_id = $1 AND status = ANY($3::text[]) AND ($4::text IS NULL OR stakeholder = $4)"
        " RETURNING delivery_id, stakeholder, channel, content_kind, attempts, trace_id, queued_at",
        assignment_id,
        status.value,
        list(_PENDING),
        stakeholder.value if stakeholder else None,
    )


@dataclass(frozen=True)
class Settled:
    """An assignment whose partner's and employee's first messages have all settled and whose HR
    record is not queued yet, with what composing that record needs."""

    assignment_id: uuid.UUID
    firm_id: str
    correlation_id: str
    created: dict[str, object]
    proposal: dict[str, object]
    outcomes: list[Outcome]


async def settled(connection: Connection, assignment_ids: Sequence[uuid.UUID]) -> list[Settled]:
    """Of these assignments, those ready for HR's record: not cancelled, no HR record yet, and every
    delivery of the partner's and the employee's first messages on the channels that reach a person
    (e-mail, the firm's portal) settled. One round trip for the set."""
    rows = await connection.fetch(
        """
        SELECT a.assignment_id, a.firm_id, a.correlation_id, a.created, m.proposal,
            (SELECT json_agg(json_build_object('stakeholder', d.stakeholder, 'channel', d.channel,
                    'status', d.status, 'attempts', d.attempts, 'error', d.last_error,
                    'at', CASE d.status WHEN 'sent' THEN d.sent_at WHEN 'delivered' THEN d.delivered_at
                               WHEN 'failed' THEN d.failed_at END)
                    ORDER BY d.stakeholder DESC, d.channel)
             FROM deliveries d WHERE d.assignment_id = a.assignment_id AND d.content_kind = ANY($2::text[])
                AND d.channel <> 'kafka') AS outcomes
        FROM assignments a JOIN matches m USING (assignment_id)
        WHERE a.assignment_id = ANY($1::uuid[])
            AND NOT EXISTS (SELECT 1 FROM cancellations c WHERE c.assignment_id = a.assignment_id)
            AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.assignment_id = a.assignment_id
                AND n.content_kind = $3)
            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.assignment_id = a.assignment_id
                AND d.content_kind = ANY($2::text[]) AND d.channel <> 'kafka' AND d.status = ANY($4::text[]))
        ORDER BY a.assignment_id
        """,
        list(set(assignment_ids)),
        [PARTNER_CONTENT, EMPLOYEE_CONTENT],
        HR_RECORD,
        list(UNSETTLED),
    )
    found = []
    for row in rows:
        outcomes = [
            Outcome(
                stakeholder=Stakeholder(o["stakeholder"]),
                channel=DeliveryChannel(o["channel"]),
                status=o["status"],
                at=None if o["at"] is None else datetime.fromisoformat(o["at"]),
                attempts=o["attempts"],
                error=o["error"],
            )
            for o in row["outcomes"] or []
        ]
        if {o.stakeholder for o in outcomes} == {Stakeholder.PARTNER, Stakeholder.EMPLOYEE}:
            found.append(
                Settled(
                    row["assignment_id"],
                    row["firm_id"],
                    row["correlation_id"],
                    row["created"],
                    row["proposal"],
                    outcomes,
                )
            )
    return found


async def record_stop(connection: Connection, table: str, assignment_id: uuid.UUID, firm_id: str, at: datetime) -> None:
    column = "withdrawn_at" if table == "consent_withdrawals" else "cancelled_at"
    await connection.execute(
        f"INSERT INTO {table}(assignment_id, firm_id, {column}) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        assignment_id,
        firm_id,
        at,
    )


async def stops(connection: Connection, assignment_id: uuid.UUID) -> tuple[bool, bool]:
    """(cancelled, partner consent withdrawn) for the assignment."""
    row = await connection.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM cancellations WHERE assignment_id = $1) AS cancelled,"
        " EXISTS (SELECT 1 FROM consent_withdrawals WHERE assignment_id = $1) AS withdrawn",
        assignment_id,
    )
    assert row is not None
    return bool(row["cancelled"]), bool(row["withdrawn"])


# --- an operator's view: parked deliveries, and putting them back in the queue -------------------


async def listing(
    connection: Connection, *, firm_id: str | None, status: str | None, limit: int | None
) -> list[asyncpg.Record]:
    """The newest `limit` deliveries (all if None), oldest first, without any message content."""
    rows = await connection.fetch(
        "SELECT delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status, attempts,"
        " updated_at, last_error FROM deliveries"
        " WHERE ($1::text IS NULL OR firm_id = $1) AND ($2::text IS NULL OR status = $2)"
        " ORDER BY updated_at DESC, delivery_id DESC LIMIT $3",
        firm_id,
        status,
        limit,
    )
    return list(reversed(rows))


async def known(connection: Connection, delivery_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """delivery_id → assignment_id for those of `delivery_ids` that exist."""
    rows = await connection.fetch(
        "SELECT delivery_id, assignment_id FROM deliveries WHERE delivery_id = ANY($1::uuid[])", delivery_ids
    )
    return {row["delivery_id"]: row["assignment_id"] for row in rows}


async def failed_of(connection: Connection, firm_id: str) -> list[uuid.UUID]:
    rows = await connection.fetch(
        "SELECT delivery_id FROM deliveries WHERE firm_id = $1 AND status = 'failed' ORDER BY failed_at, delivery_id",
        firm_id,
    )
    return [row["delivery_id"] for row in rows]


async def lock(connection: Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    """The delivery's row, locked until commit. Take the assignment's lock first, as handlers do."""
    return await connection.fetchrow(
        "SELECT delivery_id, assignment_id, firm_id, stakeholder, channel, content_kind, status, attempts, trace_id"
        " FROM deliveries WHERE delivery_id = $1 FOR UPDATE",
        delivery_id,
    )


async def requeue(connection: Connection, delivery_id: uuid.UUID) -> bool:
    """A parked delivery back to the queue: attempts from zero, due now; False if it is not parked.
    `last_error` stays until the next attempt, for whoever looks at it meanwhile."""
    done = await connection.fetchval(
        "UPDATE deliveries SET status = 'queued', attempts = 0, next_attempt_at = now(), claimed_until = NULL,"
        " failed_at = NULL, updated_at = now() WHERE delivery_id = $1 AND status = 'failed' RETURNING 1",
        delivery_id,
    )
    if done is None:
        return False
    await connection.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)
    return True
