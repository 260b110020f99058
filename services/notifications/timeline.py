"""notifications' part of an assignment's journey (`python -m services.journey`): what each
stakeholder was told and each delivery's course, without recipients or content."""

import uuid

from shared.db import Connection
from shared.timeline import Step


async def timeline(connection: Connection, assignment_id: uuid.UUID) -> list[Step]:
    steps: list[Step] = []
    for row in await connection.fetch("SELECT received_at FROM assignments WHERE assignment_id = $1", assignment_id):
        steps.append(Step(row["received_at"], "notifications", "assignment received"))
    for row in await connection.fetch("SELECT received_at FROM matches WHERE assignment_id = $1", assignment_id):
        steps.append(Step(row["received_at"], "notifications", "match received"))
    for row in await connection.fetch(
        "SELECT stakeholder, channel, content_kind, language, notified_at FROM notifications WHERE assignment_id = $1",
        assignment_id,
    ):
        what = f"composed {row['content_kind']} for {row['stakeholder']} ({row['channel']}, {row['language']})"
        steps.append(Step(row["notified_at"], "notifications", what))
    for row in await connection.fetch(
        "SELECT delivery_id, stakeholder, channel, content_kind, status, attempts, last_error,"
        " queued_at, sent_at, delivered_at, failed_at FROM deliveries WHERE assignment_id = $1",
        assignment_id,
    ):
        name = f"{row['channel']} to {row['stakeholder']} ({row['content_kind']}, delivery {row['delivery_id']})"
        steps.append(Step(row["queued_at"], "notifications", f"queued {name}; now {row['status']}"))
        for column, verb in (("sent_at", "sent"), ("delivered_at", "delivered"), ("failed_at", "failed")):
            if row[column] is not None:
                error = f": {_code(row['last_error'])}" if verb == "failed" and row["last_error"] else ""
                steps.append(
                    Step(row[column], "notifications", f"{verb} {name} after {row['attempts']} attempt(s){error}")
                )
    for table, column, verb in (
        ("cancellations", "cancelled_at", "assignment cancelled"),
        ("consent_withdrawals", "withdrawn_at", "partner withdrew consent"),
    ):
        for row in await connection.fetch(
            f"SELECT {column} AS at FROM {table} WHERE assignment_id = $1", assignment_id
        ):
            steps.append(Step(row["at"], "notifications", verb))
    return steps


def _code(error: str) -> str:
    """The error's code, before any text that could quote an address."""
    return error.split(":")[0][:80]
