"""matching's part of an assignment's journey (`python -m services.journey`)."""

import uuid

from shared.db import Connection
from shared.timeline import Step


async def timeline(connection: Connection, assignment_id: uuid.UUID) -> list[Step]:
    steps: list[Step] = []
    for row in await connection.fetch(
        "SELECT host_country, opened_at FROM open_partners WHERE assignment_id = $1", assignment_id
    ):
        steps.append(Step(row["opened_at"], "matching", f"partner open for matching in {row['host_country']}"))
    for row in await connection.fetch(
        "SELECT proposal, proposed_at FROM proposals WHERE assignment_id = $1", assignment_id
    ):
        proposal = row["proposal"]
        coach = proposal.get("coach")
        told = f"coach {coach['coach_id']} (score {coach['score']:.2f})" if coach else "no coach"
        leads = len(proposal.get("job_leads", []))
        steps.append(Step(row["proposed_at"], "matching", f"proposed {told} and {leads} job leads"))
    for row in await connection.fetch(
        "SELECT coach_id, status, reserved_at, accepted_at FROM coach_reservations WHERE assignment_id = $1",
        assignment_id,
    ):
        steps.append(Step(row["reserved_at"], "matching", f"coach place reserved with {row['coach_id']}"))
        if row["accepted_at"] is not None:
            steps.append(Step(row["accepted_at"], "matching", f"coach {row['coach_id']} accepted by the partner"))
    for row in await connection.fetch(
        "SELECT reason, closed_at FROM closed_assignments WHERE assignment_id = $1", assignment_id
    ):
        steps.append(Step(row["closed_at"], "matching", f"closed ({row['reason']}); coach place freed"))
    return steps
