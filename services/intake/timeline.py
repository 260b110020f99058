"""intake's part of an assignment's journey (`python -m services.journey`)."""

import uuid

from shared.db import Connection
from shared.timeline import Step


async def timeline(connection: Connection, assignment_id: uuid.UUID) -> list[Step]:
    steps: list[Step] = []
    for row in await connection.fetch(
        "SELECT firm_id, host_country, start_date, accepted_at FROM assignments WHERE assignment_id = $1",
        assignment_id,
    ):
        what = f"accepted for firm {row['firm_id']}: host country {row['host_country']}, start {row['start_date']}"
        steps.append(Step(row["accepted_at"], "intake", what))
    for row in await connection.fetch(
        "SELECT errors, topic, partition, record_offset, rejected_at FROM rejections WHERE assignment_id = $1",
        assignment_id,
    ):
        codes = "; ".join(f"{e['field']}={e['code']}" for e in row["errors"])
        where = f"{row['topic']}/{row['partition']}/{row['record_offset']}"
        steps.append(Step(row["rejected_at"], "intake", f"rejected the request at {where}: {codes}"))
    return steps
