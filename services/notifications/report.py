"""The duty-of-information report an HR team reads, per firm:

    python -m services.notifications report --firm nordic-relocation [--since 2026-11-01]

Share of assignments where partner, employee and HR were all informed, and the time from the
assignment's acceptance to each stakeholder being informed (p50 / p95). "Informed" means the
first email accepted by the SMTP server or the first webhook the firm acknowledged."""

import argparse
import asyncio
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from shared.ops.cli import add_connection_options, database_error

from .settings import NotificationSettings

STAKEHOLDERS = ("partner", "employee", "hr")

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


@dataclass(frozen=True)
class FirmReport:
    firm_id: str
    assignments: int
    all_informed: int
    seconds: dict[str, list[float]]

    def lines(self) -> list[str]:
        share = self.all_informed / self.assignments if self.assignments else 0.0
        out = [
            f"Duty-of-information report for {self.firm_id}",
            f"assignments: {self.assignments}; all three informed: {self.all_informed} ({share:.1%})",
            f"{'stakeholder':<10} {'informed':>8} {'p50 (s)':>9} {'p95 (s)':>9}",
        ]
        for stakeholder in STAKEHOLDERS:
            values = sorted(self.seconds.get(stakeholder, []))
            out.append(
                f"{stakeholder:<10} {len(values):>8} {_fmt(percentile(values, 50))} {_fmt(percentile(values, 95))}"
            )
        return out


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no data."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _fmt(value: float | None) -> str:
    return f"{'-':>9}" if value is None else f"{value:>9.1f}"


def summarise(firm_id: str, rows: Sequence[Mapping[str, Any]]) -> FirmReport:
    informed: dict[object, dict[str, datetime]] = {}
    accepted: dict[object, datetime] = {}
    for row in rows:
        accepted[row["assignment_id"]] = row["accepted_at"]
        if row["stakeholder"] is not None and row["informed_at"] is not None:
            informed.setdefault(row["assignment_id"], {})[row["stakeholder"]] = row["informed_at"]
    seconds: dict[str, list[float]] = {s: [] for s in STAKEHOLDERS}
    for assignment_id, by_stakeholder in informed.items():
        for stakeholder, at in by_stakeholder.items():
            seconds.setdefault(stakeholder, []).append((at - accepted[assignment_id]).total_seconds())
    complete = sum(1 for a in accepted if set(STAKEHOLDERS) <= set(informed.get(a, {})))
    return FirmReport(firm_id, len(accepted), complete, seconds)


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
