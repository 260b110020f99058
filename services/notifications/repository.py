"""notifications' tables: what it knows of each assignment and the record of who was told what."""

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts import (
    AssignmentCreated,
    AssignmentCreatedPayload,
    DeliveryChannel,
    DeliveryStatus,
    MatchProposedPayload,
)
from shared.db import Connection, JsonText, holds
from shared.inbox import claimed_sighting

from .deliveries import WAKE_CHANNEL
from .domain import Message


async def lock_assignment(connection: Connection, assignment_id: uuid.UUID) -> None:
    """Serialise the two handlers for one assignment until commit: otherwise the created event and
    the match, arriving at the same moment, could each miss the other and nobody would notify.
    A batch that took it already (`lock_assignments`, record keys) holds it: no round trip."""
    if holds(connection, str(assignment_id)):
        return
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", str(assignment_id))


async def lock_assignments(connection: Connection, assignment_ids: Sequence[uuid.UUID | str]) -> None:
    """Several assignments' locks in one round trip, always in the same order (by id), so two
    workers (or consumers' batches: the record keys) taking overlapping sets wait for each other
    instead of deadlocking."""
    keys = sorted({str(a) for a in assignment_ids})
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) WITH ORDINALITY AS s(k, n)"
        " ORDER BY n",
        keys,
    )


async def locked_first_sighting(
    connection: Connection, assignment_id: uuid.UUID, *, consumer: str, event_id: str
) -> bool:
    """The assignment's lock (`lock_assignment`), then the inbox's first sighting of the event
    (`shared.inbox.first_sighting`), in one round trip; none if the batch holds both already."""
    claimed = claimed_sighting(connection, consumer=consumer, event_id=event_id)
    if claimed is not None:  # the batch claimed the event's row (and usually took the lock)
        await lock_assignment(connection, assignment_id)
        return claimed
    inserted = await connection.fetchval(
        "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)))"
        " INSERT INTO inbox(consumer, event_id) SELECT $2, $3 FROM locked ON CONFLICT DO NOTHING RETURNING 1",
        str(assignment_id),
        consumer,
        event_id,
    )
    return inserted is not None


@dataclass(frozen=True)
class Informing:
    """What informing the stakeholders of an assignment needs, once its assignment and match are
    both known: read in one round trip."""

    firm_id: str
    correlation_id: str
    created: AssignmentCreatedPayload
    match: MatchProposedPayload
    cancelled: bool
    withdrawn: bool  # the partner's consent
    informed: bool  # the partner's first message is recorded


def _stops_and_informed(firm: str) -> str:
    """What informing needs besides the assignment and the match, for the assignment $1 of the
    firm `firm` (an SQL expression): its stops (one by another firm never counts) and whether the
    partner's first message is recorded."""
    return f"""
    EXISTS (SELECT 1 FROM cancellations x WHERE x.assignment_id = $1 AND x.firm_id IN ('', {firm})) AS cancelled,
    EXISTS (SELECT 1 FROM consent_withdrawals x WHERE x.assignment_id = $1 AND x.firm_id IN ('', {firm})) AS withdrawn,
    EXISTS (SELECT 1 FROM notifications n WHERE n.assignment_id = $1
        AND n.content_kind = 'partner.support_and_match') AS informed"""


# An assignment as accepted never changes (`assignment.created` is a fact), so its stored JSON
# is validated once per process, not at every read: validating its e-mail addresses again was a
# tenth of notifications' time. Keyed by id and acceptance time (a row made anew after an
# offboarding is parsed anew); the most recent few thousand are kept.
_CREATED_KEPT = 4096
_created: OrderedDict[tuple[uuid.UUID, str], AssignmentCreatedPayload] = OrderedDict()


def created_payload(stored: dict[str, Any]) -> AssignmentCreatedPayload:
    """The accepted assignment from its stored JSON (`assignments.created`)."""
    key = (uuid.UUID(str(stored["assignment"]["assignment_id"])), str(stored["accepted_at"]))
    payload = _created.get(key)
    if payload is None:
        payload = AssignmentCreatedPayload.model_validate(stored)
        _keep(key, payload)
    else:
        _created.move_to_end(key)
    return payload


def _keep(key: tuple[uuid.UUID, str], payload: AssignmentCreatedPayload) -> None:
    _created[key] = payload
    while len(_created) > _CREATED_KEPT:
        _created.popitem(last=False)


async def save_assignment(connection: Connection, created: AssignmentCreated) -> tuple[int, Informing | None]:
    """Remember the assignment and drop the stops of it by other firms than its own (kept while it
    was unknown here), in one statement: (how many stops were dropped, what informing needs if its
    match is known)."""
    assignment_id = created.payload.assignment.assignment_id
    stored = JsonText(created.payload.model_dump_json())
    # The key the stored document gives back (`created_payload`): accepted_at as the JSON has it.
    accepted_at = created.payload.model_dump(mode="json", include={"accepted_at"})["accepted_at"]
    _keep((assignment_id, str(accepted_at)), created.payload)
    row = await connection.fetchrow(
        "WITH saved AS (INSERT INTO assignments(assignment_id, firm_id, correlation_id, created)"
        "  VALUES ($1, $2, $3, $4) ON CONFLICT (assignment_id) DO NOTHING RETURNING 1),"
        " c AS (DELETE FROM cancellations WHERE assignment_id = $1 AND firm_id NOT IN ('', $2) RETURNING 1),"
        " w AS (DELETE FROM consent_withdrawals WHERE assignment_id = $1 AND firm_id NOT IN ('', $2) RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM saved) AS saved, (SELECT count(*) FROM c) + (SELECT count(*) FROM w) AS dropped,"
        " (SELECT proposal FROM matches WHERE assignment_id = $1) AS proposal," + _stops_and_informed("$2"),
        assignment_id,
        created.firm_id,
        created.correlation_id,
        stored,
    )
    assert row is not None
    if not row["saved"]:  # known already (another event for it): the one held counts
        return row["dropped"], await informing(connection, assignment_id)
    if row["proposal"] is None:
        return row["dropped"], None
    known = Informing(
        firm_id=created.firm_id,
        correlation_id=created.correlation_id,
        created=created.payload,
        match=MatchProposedPayload.model_validate(row["proposal"]),
        cancelled=row["cancelled"],
        withdrawn=row["withdrawn"],
        informed=row["informed"],
    )
    return row["dropped"], known


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
    return row["firm_id"], row["correlation_id"], created_payload(row["created"])


async def save_match(
    connection: Connection, match: MatchProposedPayload
) -> tuple[bool, MatchProposedPayload | None, Informing | None]:
    """Keep the newest match, in one statement: (saved, the match held before, what informing needs
    if the assignment is known). Not saved if the one already held is newer: `match.proposed` and
    `match.updated` travel on different topics, so an update may overtake its proposal."""
    row = await connection.fetchrow(
        "WITH previous AS (SELECT proposal FROM matches WHERE assignment_id = $1),"
        " saved AS (INSERT INTO matches(assignment_id, proposal) VALUES ($1, $2)"
        "  ON CONFLICT (assignment_id) DO UPDATE SET proposal = EXCLUDED.proposal, received_at = now()"
        "  WHERE (matches.proposal->>'proposed_at')::timestamptz <= (EXCLUDED.proposal->>'proposed_at')::timestamptz"
        "  RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM saved) AS saved, (SELECT proposal FROM previous) AS previous,"
        " a.firm_id, a.correlation_id, a.created," + _stops_and_informed("a.firm_id") + " FROM (SELECT 1) AS one"
        " LEFT JOIN assignments a ON a.assignment_id = $1",
        match.assignment_id,
        JsonText(match.model_dump_json()),
    )
    assert row is not None
    previous = None if row["previous"] is None else MatchProposedPayload.model_validate(row["previous"])
    if not row["saved"] or row["created"] is None:
        return bool(row["saved"]), previous, None
    known = Informing(
        firm_id=row["firm_id"],
        correlation_id=row["correlation_id"],
        created=created_payload(row["created"]),
        match=match,
        cancelled=row["cancelled"],
        withdrawn=row["withdrawn"],
        informed=row["informed"],
    )
    return True, previous, known


async def informing(connection: Connection, assignment_id: uuid.UUID) -> Informing | None:
    row = await connection.fetchrow(
        "SELECT a.firm_id, a.correlation_id, a.created, m.proposal,"
        " EXISTS (SELECT 1 FROM cancellations c WHERE c.assignment_id = a.assignment_id) AS cancelled,"
        " EXISTS (SELECT 1 FROM consent_withdrawals w WHERE w.assignment_id = a.assignment_id) AS withdrawn,"
        " EXISTS (SELECT 1 FROM notifications n WHERE n.assignment_id = a.assignment_id"
        "  AND n.content_kind = 'partner.support_and_match') AS informed"
        " FROM assignments a JOIN matches m USING (assignment_id) WHERE a.assignment_id = $1",
        assignment_id,
    )
    if row is None:
        return None
    return Informing(
        firm_id=row["firm_id"],
        correlation_id=row["correlation_id"],
        created=created_payload(row["created"]),
        match=MatchProposedPayload.model_validate(row["proposal"]),
        cancelled=row["cancelled"],
        withdrawn=row["withdrawn"],
        informed=row["informed"],
    )


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: uuid.UUID
    channel: DeliveryChannel
    status: DeliveryStatus


@dataclass(frozen=True)
class NewNotification:
    notification_id: uuid.UUID
    assignment_id: uuid.UUID
    firm_id: str
    message: Message
    trace_id: str | None
    traceparent: str | None  # where it was queued: its deliveries' spans join that trace
    at: datetime
    deliveries: list[NewDelivery]


async def record_notifications(
    connection: Connection, notifications: Sequence[NewNotification]
) -> dict[uuid.UUID, datetime]:
    """Record the notifications (of one assignment or several) with their deliveries, in one
    statement, and wake the worker if one is queued: delivery id → queued_at of those recorded. A
    notification whose stakeholder already has its content (a redelivery, another replica) is
    skipped with its deliveries."""
    rows = [(n, d) for n in notifications for d in n.deliveries]
    recorded = await connection.fetch(
        """
        WITH n AS (
            INSERT INTO notifications(notification_id, assignment_id, firm_id, stakeholder, channel,
                content_kind, language, recipient, subject, body, trace_id, notified_at, html)
            SELECT r.notification_id, r.assignment_id, r.firm_id, r.stakeholder, r.channel, r.content_kind,
                r.language, r.recipient, r.subject, r.body, r.trace_id, r.notified_at, r.html
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[]) WITH ORDINALITY
                AS r(notification_id, assignment_id, firm_id, stakeholder, channel, content_kind, language,
                    recipient, subject, body, trace_id, notified_at, html, i)
            ORDER BY r.i
            ON CONFLICT (assignment_id, stakeholder, content_kind) DO NOTHING
            RETURNING notification_id, assignment_id, firm_id, stakeholder, content_kind, trace_id
        ), d AS (
            INSERT INTO deliveries(delivery_id, notification_id, assignment_id, firm_id, stakeholder, content_kind,
                channel, status, trace_id, traceparent, sent_at)
            SELECT q.delivery_id, n.notification_id, n.assignment_id, n.firm_id, n.stakeholder, n.content_kind,
                q.channel, q.status, n.trace_id, q.traceparent, CASE WHEN q.status = 'sent' THEN now() END
            FROM unnest($14::uuid[], $15::uuid[], $16::text[], $17::text[], $18::text[]) WITH ORDINALITY
                AS q(delivery_id, notification_id, channel, status, traceparent, i)
            JOIN n USING (notification_id)
            ORDER BY q.i
            RETURNING delivery_id, status, queued_at
        )
        SELECT d.delivery_id, d.queued_at, w.woken
        FROM d, (SELECT CASE WHEN bool_or(status = 'queued') THEN pg_notify($19, '') END AS woken FROM d) AS w
        """,
        [n.notification_id for n in notifications],
        [n.assignment_id for n in notifications],
        [n.firm_id for n in notifications],
        [n.message.stakeholder.value for n in notifications],
        [n.message.channel.value for n in notifications],
        [n.message.content_kind for n in notifications],
        [n.message.language for n in notifications],
        [n.message.recipient for n in notifications],
        [n.message.subject for n in notifications],
        [n.message.body for n in notifications],
        [n.trace_id for n in notifications],
        [n.at for n in notifications],
        [n.message.html for n in notifications],
        [d.delivery_id for _, d in rows],
        [n.notification_id for n, _ in rows],
        [d.channel.value for _, d in rows],
        [d.status.value for _, d in rows],
        [n.traceparent for n, _ in rows],
        WAKE_CHANNEL,
    )
    return {row["delivery_id"]: row["queued_at"] for row in recorded}
