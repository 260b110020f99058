"""SQL of the deliveries table: queueing, claiming with FOR UPDATE SKIP LOCKED, outcomes, stops."""

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.contracts import DeliveryChannel, DeliveryStatus, Stakeholder
from shared.db import Connection

from .domain import EMPLOYEE_CONTENT, PARTNER_CONTENT, Outcome

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


async def queue(
    connection: Connection,
    *,
    notification_id: uuid.UUID,
    assignment_id: uuid.UUID,
    firm_id: str,
    stakeholder: Stakeholder,
    content_kind: str,
    channel: DeliveryChannel,
    status: DeliveryStatus,
    trace_id: str | None,
    traceparent: str | None = None,
) -> uuid.UUID | None:
    """Insert one delivery; None if this notification already has this channel."""
    delivery_id = uuid.uuid4()
    sent = "now()" if status is DeliveryStatus.SENT else "NULL"
    inserted = await connection.fetchval(
        "INSERT INTO deliveries(delivery_id, notification_id, assignment_id, firm_id, stakeholder, content_kind,"
        f" channel, status, trace_id, traceparent, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {sent})"
        " ON CONFLICT (notification_id, channel) DO NOTHING RETURNING 1",
        delivery_id,
        notification_id,
        assignment_id,
        firm_id,
        stakeholder.value,
        content_kind,
        channel.value,
        status.value,
        trace_id,
        traceparent,
    )
    if inserted is None:
        return None
    if status is DeliveryStatus.QUEUED:
        await connection.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)
    return delivery_id


async def claim(pool: asyncpg.Pool, *, lease_s: float, limit: int, max_attempts: int) -> list[Delivery]:
    """Take due deliveries for this worker. SKIP LOCKED lets replicas claim side by side; the lease
    returns a delivery to the queue if its worker dies while sending. A claim is an attempt, but
    never beyond `max_attempts`: a delivery whose last allowed attempt was cut short (its worker
    died, its lease ran out) comes back `exhausted`, to be parked without another try."""
    rows = await pool.fetch(
        """
        WITH due AS (
            SELECT delivery_id, attempts FROM deliveries
            WHERE ((status IN ('queued', 'retrying') AND next_attempt_at <= now())
                   OR (status = 'sending' AND claimed_until < now()))
            ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        UPDATE deliveries d SET status = 'sending', updated_at = now(),
            attempts = CASE WHEN due.attempts < $3 THEN due.attempts + 1 ELSE due.attempts END,
            claimed_until = now() + make_interval(secs => $1)
        FROM due, notifications n
        WHERE d.delivery_id = due.delivery_id AND n.notification_id = d.notification_id
        RETURNING d.delivery_id, d.notification_id, d.assignment_id, d.firm_id, d.stakeholder, d.content_kind,
            d.channel, d.attempts, d.trace_id, d.traceparent, n.language, n.recipient, n.subject, n.body, n.html,
            n.notified_at, due.attempts >= $3 AS exhausted
        """,
        lease_s,
        limit,
        max_attempts,
    )
    return [
        Delivery(**{**dict(r), "stakeholder": Stakeholder(r["stakeholder"]), "channel": DeliveryChannel(r["channel"])})
        for r in rows
    ]


async def finish(
    connection: Connection, delivery_id: uuid.UUID, status: DeliveryStatus, *, message_id: str | None = None
) -> bool:
    """Record success; False if the delivery was meanwhile cancelled or suppressed."""
    column = "delivered_at" if status is DeliveryStatus.DELIVERED else "sent_at"
    done = await connection.fetchval(
        f"UPDATE deliveries SET status = $2, {column} = now(), message_id = $3, claimed_until = NULL,"
        " last_error = NULL, updated_at = now() WHERE delivery_id = $1 AND status = 'sending' RETURNING 1",
        delivery_id,
        status.value,
        message_id,
    )
    return done is not None


async def retry_later(connection: Connection, delivery_id: uuid.UUID, *, delay_s: float, error: str) -> None:
    await connection.execute(
        "UPDATE deliveries SET status = 'retrying', next_attempt_at = now() + make_interval(secs => $2),"
        " claimed_until = NULL, last_error = $3, updated_at = now() WHERE delivery_id = $1 AND status = 'sending'",
        delivery_id,
        delay_s,
        error,
    )


async def park(connection: Connection, delivery_id: uuid.UUID, *, error: str) -> None:
    await connection.execute(
        "UPDATE deliveries SET status = 'failed', failed_at = now(), claimed_until = NULL, last_error = $2,"
        " updated_at = now() WHERE delivery_id = $1 AND status = 'sending'",
        delivery_id,
        error,
    )


async def stop_sending(
    connection: Connection, delivery_id: uuid.UUID, status: DeliveryStatus, *, error: str | None = None
) -> bool:
    """Cancel or suppress a claimed delivery whose assignment was stopped: before its attempt, or
    after one that failed (`error`)."""
    done = await connection.fetchval(
        "UPDATE deliveries SET status = $2, claimed_until = NULL, last_error = COALESCE($3, last_error),"
        " updated_at = now()"
        " WHERE delivery_id = $1 AND status = 'sending' RETURNING 1",
        delivery_id,
        status.value,
        error,
    )
    return done is not None


async def stop_pending(
    connection: Connection, assignment_id: uuid.UUID, status: DeliveryStatus, stakeholder: Stakeholder | None = None
) -> list[asyncpg.Record]:
    """Cancel or suppress what has not gone out yet; returns the rows changed, for the record."""
    return await connection.fetch(
        "UPDATE deliveries SET status = $2, claimed_until = NULL, updated_at = now()"
        " WHERE assignment_id = $1 AND status = ANY($3::text[]) AND ($4::text IS NULL OR stakeholder = $4)"
        " RETURNING delivery_id, stakeholder, channel, content_kind, attempts, trace_id",
        assignment_id,
        status.value,
        list(_PENDING),
        stakeholder.value if stakeholder else None,
    )


async def first_outcomes(connection: Connection, assignment_id: uuid.UUID) -> list[Outcome]:
    """Where the partner's and the employee's first messages stand on the channels that reach a
    person (e-mail, the firm's portal): the status and when it was reached."""
    rows = await connection.fetch(
        "SELECT stakeholder, channel, status, attempts, last_error,"
        " CASE status WHEN 'sent' THEN sent_at WHEN 'delivered' THEN delivered_at WHEN 'failed' THEN failed_at"
        " ELSE NULL END AS at"
        " FROM deliveries WHERE assignment_id = $1 AND content_kind = ANY($2::text[]) AND channel <> 'kafka'"
        " ORDER BY stakeholder DESC, channel",
        assignment_id,
        [PARTNER_CONTENT, EMPLOYEE_CONTENT],
    )
    return [
        Outcome(
            stakeholder=Stakeholder(row["stakeholder"]),
            channel=DeliveryChannel(row["channel"]),
            status=row["status"],
            at=row["at"],
            attempts=row["attempts"],
            error=row["last_error"],
        )
        for row in rows
    ]


async def record_stop(connection: Connection, table: str, assignment_id: uuid.UUID, firm_id: str, at: datetime) -> None:
    column = "withdrawn_at" if table == "consent_withdrawals" else "cancelled_at"
    await connection.execute(
        f"INSERT INTO {table}(assignment_id, firm_id, {column}) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        assignment_id,
        firm_id,
        at,
    )


async def forget_foreign_stops(connection: Connection, assignment_id: uuid.UUID, firm_id: str) -> int:
    """Drop stops of the assignment by other firms than its own (kept while it was unknown here)."""
    dropped = 0
    for table in ("cancellations", "consent_withdrawals"):
        rows = await connection.fetch(
            f"DELETE FROM {table} WHERE assignment_id = $1 AND firm_id NOT IN ('', $2) RETURNING 1",
            assignment_id,
            firm_id,
        )
        dropped += len(rows)
    return dropped


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
