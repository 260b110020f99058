"""Idempotent consumers: an event's effects and its inbox row commit together, so a redelivered
event finds its row and is skipped."""

from .db import Connection
from .telemetry import DB, traced


@traced("inbox.first_sighting", **DB)
async def first_sighting(connection: Connection, *, consumer: str, event_id: str) -> bool:
    """True the first time `consumer` sees `event_id`; call inside the effect's transaction."""
    inserted = await connection.fetchval(
        "INSERT INTO inbox(consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return inserted is not None
