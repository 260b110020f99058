"""The duty-of-information report an HR team reads, per firm:

    python -m services.notifications report --firm nordic-relocation [--since 2026-11-01]

Share of assignments where partner, employee and HR were all informed, and the time from the
assignment's acceptance to each stakeholder being informed (p50 / p95). "Informed" means the
first email accepted by the SMTP server or the first webhook the firm acknowledged."""

import argparse
import asyncio
import sys
from datetime import date, datetime

import asyncpg

from shared.ops.cli import add_connection_options, database_error
from shared.reporting import FirmReport, summarise

from .settings import NotificationSettings

_QUERY = """
SELECT a.assignment_id, (a.created->>'accepted_at')::timestamptz AS accepted_at, d.stakeholder,
       min(coalesce(d.delivered_at, d.sent_at)) AS informed_at
FROM assignments a
LEFT JOIN deliveries d ON d.assignment_id = a.assignment_id AND d.channel IN ('email', 'webhook')
     AND d.status IN ('sent', 'delivered') AND d.content_kind NOT LIKE 'hr.delivery_failed%'
WHERE a.firm_id = $1 AND a.received_at >= $2
  AND NOT EXISTS (SELECT 1 FROM cancellations c WHERE c.assignment_id = a.assignment_id)
GROUP BY 1, 2, 3
"""


async def build(database_url: str, firm_id: str, since: date) -> FirmReport:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(_QUERY, firm_id, datetime(since.year, since.month, since.day).astimezone())
    finally:
        await connection.close()
    return summarise(firm_id, [dict(row) for row in rows])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifications report")
    parser.add_argument("--firm", required=True)
    parser.add_argument("--since", type=date.fromisoformat, default=date(2000, 1, 1))
    add_connection_options(parser, database="notifications' database")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(build(args.database_url or NotificationSettings().database_url, args.firm, args.since))
    except (OSError, asyncpg.PostgresError) as error:
        print(database_error("notifications' database", error), file=sys.stderr)
        raise SystemExit(2) from None
    print("\n".join(report.lines()))
