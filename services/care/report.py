"""care's commands for HR and operators:

    python -m services.care report --firm F                 # the four duties, per firm
    python -m services.care report --assignment ID [--json]  # one assignment's duty-of-care record
    python -m services.care scorecard --firm F [--provider P] [--json]
    python -m services.care clock show | advance DAYS       # the test clock (TRAILBLAZER_CARE_CLOCK=database)

Reports print codes, figures and ids only: never a partner's name, address or comment.
"""

import argparse
import asyncio
import json
import uuid
from typing import Any

from shared.contracts import utc_now
from shared.db import Connection, create_pool

from . import repository, scorecards
from .settings import CareSettings

_FIRM_SUMMARY = """
SELECT
  (SELECT count(*) FROM care_assignments WHERE firm_id = $1) AS assignments,
  (SELECT count(*) FROM care_assignments WHERE firm_id = $1 AND stopped IS NOT NULL) AS stopped,
  (SELECT count(DISTINCT assignment_id) FROM care_record WHERE firm_id = $1 AND duty = 'information'
     AND kind IN ('delivery.sent', 'delivery.delivered')) AS informed,
  (SELECT count(*) FROM care_record WHERE firm_id = $1 AND kind = 'check_in.sent') AS check_ins_sent,
  (SELECT count(*) FROM care_pulses p JOIN care_assignments a USING (assignment_id)
     WHERE a.firm_id = $1 AND p.check_in_id IS NOT NULL) AS check_ins_answered,
  (SELECT count(*) FROM care_pulses p JOIN care_assignments a USING (assignment_id) WHERE a.firm_id = $1) AS pulses,
  (SELECT round(avg(p.score)::numeric, 2) FROM care_pulses p JOIN care_assignments a USING (assignment_id)
     WHERE a.firm_id = $1) AS mean_pulse,
  (SELECT count(*) FROM care_escalations e JOIN care_assignments a USING (assignment_id) WHERE a.firm_id = $1)
     AS escalations,
  (SELECT count(*) FROM care_escalations e JOIN care_assignments a USING (assignment_id)
     WHERE a.firm_id = $1 AND e.state = 'open') AS open_escalations,
  (SELECT count(*) FROM care_outcomes o JOIN care_assignments a USING (assignment_id) WHERE a.firm_id = $1)
     AS outcomes
"""

_OPEN_ESCALATIONS = """
SELECT e.escalation_id, e.assignment_id, e.rule, e.level, e.raised_at FROM care_escalations e
JOIN care_assignments a USING (assignment_id) WHERE a.firm_id = $1 AND e.state = 'open' ORDER BY e.raised_at
"""


def timeline_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        detail = ", ".join(f"{k}={v}" for k, v in row["detail"].items() if v is not None)
        subject = f" [{row['subject_id']}]" if row["subject_id"] else ""
        lines.append(
            f"{row['recorded_at'].isoformat(timespec='seconds')}  {row['duty']:<12} {row['kind']:<22}{subject}"
            f"  {detail}  trace={row['trace_id'] or '-'}"
        )
    return lines


async def _firm_report(connection: Connection, firm_id: str) -> list[str]:
    s = await connection.fetchrow(_FIRM_SUMMARY, firm_id)
    assert s is not None
    lines = [
        f"Duty-of-care report for {firm_id}",
        f"assignments: {s['assignments']} (stopped: {s['stopped']})",
        f"information:  assignments with a message delivered: {s['informed']}"
        " (details: python -m services.notifications report)",
        f"prevention:   check-ins sent {s['check_ins_sent']}, answered {s['check_ins_answered']};"
        f" pulses {s['pulses']}, mean {s['mean_pulse'] if s['mean_pulse'] is not None else '-'}",
        f"intervention: escalations {s['escalations']}, open {s['open_escalations']}",
        f"control:      outcomes reported {s['outcomes']};"
        f" scorecards: python -m services.care scorecard --firm {firm_id}",
    ]
    for row in await connection.fetch(_OPEN_ESCALATIONS, firm_id):
        lines.append(
            f"  open: {row['escalation_id']} assignment {row['assignment_id']} {row['rule']}"
            f" (level {row['level']}) since {row['raised_at'].isoformat(timespec='seconds')}"
        )
    return lines


async def run(args: argparse.Namespace) -> str:
    pool = await create_pool(args.database_url, size=1)
    try:
        async with pool.acquire() as connection:
            if args.command == "clock":
                if args.action == "advance":
                    offset = await repository.advance_clock(connection, args.days * 86400)
                else:
                    offset = await connection.fetchval("SELECT offset_s FROM care_clock")
                return f"care clock offset: {offset / 86400:.3f} days"
            if args.command == "scorecard":
                providers = (
                    [args.provider] if args.provider else await repository.providers_of_firm(connection, args.firm)
                )
                cards = [await scorecards.compute(connection, args.firm, p, utc_now()) for p in providers]
                if args.json:
                    return json.dumps([json.loads(card.model_dump_json()) for card in cards], indent=2)
                return "\n".join(_scorecard_lines(args.firm, cards))
            if args.assignment:
                rows = [dict(r) for r in await repository.record_of(connection, args.assignment)]
                if args.json:
                    return json.dumps(rows, default=str, indent=2)
                header = f"Duty-of-care record of assignment {args.assignment} ({len(rows)} entries)"
                return "\n".join([header, *timeline_lines(rows)])
            return "\n".join(await _firm_report(connection, args.firm))
    finally:
        await pool.close()


def _scorecard_lines(firm_id: str, cards: list[Any]) -> list[str]:
    lines = [f"Provider scorecards for {firm_id}'s partners"]
    head = f"{'':<24} {'partners':>8} {'accepted':>8} {'engaged':>7} {'sessions':>8} {'days→1st':>8}"
    head += f" {'pulses':>6} {'mean':>5} {'outcomes':>8} {'escal.':>6}"
    for card in cards:
        lines += ["", f"provider {card.provider_id}", head]
        for name, f in [("all coaches", card.figures)] + [(c.coach_id, c) for c in card.coaches]:
            days = "-" if f.median_days_to_first_session is None else f"{f.median_days_to_first_session:.1f}"
            mean = "-" if f.mean_pulse is None else f"{f.mean_pulse:.1f}"
            lines.append(
                f"{name:<24} {f.assignments:>8} {f.accepted:>8} {f.engaged:>7} {f.sessions:>8} {days:>8}"
                f" {f.pulses:>6} {mean:>5} {sum(f.outcomes.values()):>8} {f.escalations:>6}"
            )
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.care")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", default=CareSettings().database_url)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", parents=[common], help="the four duties for a firm, or one assignment's record"
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--firm")
    which.add_argument("--assignment", type=uuid.UUID)
    report.add_argument("--json", action="store_true")
    scorecard = commands.add_parser("scorecard", parents=[common], help="provider and coach scorecards for a firm")
    scorecard.add_argument("--firm", required=True)
    scorecard.add_argument("--provider")
    scorecard.add_argument("--json", action="store_true")
    clock = commands.add_parser("clock", parents=[common], help="the test clock (TRAILBLAZER_CARE_CLOCK=database)")
    clock.add_argument("action", choices=("show", "advance"))
    clock.add_argument("days", type=float, nargs="?", default=0.0)
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
