"""Idempotent consumers: an event's effects and its inbox row commit together, so a redelivered
event finds its row and is skipped.

A batch handled in one transaction claims the inbox rows of all its records with one statement
at its start (`claimed_together`); each record's `first_sighting` then answers from that claim
instead of a round trip of its own. Only event ids a service made are claimed that way (records
on topics only services write): an outside party's event id is claimed by its effect, after the
checks that decide whether the record counts at all."""

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from .db import Connection
from .telemetry import DB, span, traced


@dataclass
class _Claim:
    connection: Connection
    consumer: str
    asked: set[str]  # the ids claimed together whose effect has not asked yet
    first: set[str]  # of those, the ones this transaction inserted: first sightings


_claim: ContextVar[_Claim | None] = ContextVar("inbox_claim", default=None)


@traced("inbox.first_sighting", **DB)
async def first_sighting(connection: Connection, *, consumer: str, event_id: str) -> bool:
    """True the first time `consumer` sees `event_id`; call inside the effect's transaction."""
    claimed = claimed_sighting(connection, consumer=consumer, event_id=event_id)
    if claimed is not None:
        return claimed
    inserted = await connection.fetchval(
        "INSERT INTO inbox(consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return inserted is not None


def claimed_sighting(connection: Connection, *, consumer: str, event_id: str) -> bool | None:
    """`first_sighting`'s answer from the batch's claim, or None if the claim does not hold it."""
    claim = _claim.get()
    if claim is None or claim.connection is not connection or claim.consumer != consumer:
        return None
    if event_id not in claim.asked:
        return None
    # Answered once: the same event twice in one batch finds its row the second time.
    claim.asked.discard(event_id)
    return event_id in claim.first


@contextlib.asynccontextmanager
async def claimed_together(connection: Connection, *, consumer: str, event_ids: Iterable[str]) -> AsyncIterator[None]:
    """Inside the batch's transaction: insert the inbox rows of `event_ids` with one statement
    (in sorted order, so two batches claiming overlapping ids wait instead of deadlocking), and
    answer `first_sighting` for them from it in this block. A row another transaction holds
    uncommitted waits for it, as a single insert would."""
    ids = sorted(set(event_ids))
    first: set[str] = set()
    if ids:
        with span("inbox.claim", **DB, **{"trailblazer.inbox.events": len(ids)}):
            rows = await connection.fetch(
                "INSERT INTO inbox(consumer, event_id) SELECT $1, e FROM unnest($2::text[]) WITH ORDINALITY AS s(e, n)"
                " ORDER BY n ON CONFLICT DO NOTHING RETURNING event_id",
                consumer,
                ids,
            )
            first = {row["event_id"] for row in rows}
    token = _claim.set(_Claim(connection, consumer, set(ids), first))
    try:
        yield
    finally:
        _claim.reset(token)


# The services serialise an envelope with `event_id` first (shared/contracts/envelope.py), so
# the id is read from the body's first bytes without parsing all of it a second time.
_LEADING_EVENT_ID = re.compile(rb'\A\s*\{\s*"event_id"\s*:\s*"([0-9A-Fa-f-]{32,36})"')


def event_id_of(body: bytes | None) -> str | None:
    """The envelope's `event_id` as the effects write it (`str(uuid)`), or None if the body does
    not start with one (the effect then claims it on its own)."""
    match = _LEADING_EVENT_ID.match(body or b"")
    if match is None:
        return None
    try:
        return str(uuid.UUID(match[1].decode()))
    except ValueError:
        return None
