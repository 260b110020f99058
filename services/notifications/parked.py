"""Parked deliveries, for operators: list them and put them back in the queue.

    python -m services.notifications deliveries list [--firm F] [--status failed|all|...] [--limit 50]
    python -m services.notifications deliveries requeue <delivery_id> [<delivery_id> ...]
    python -m services.notifications deliveries requeue --firm F --all-failed

A delivery that failed for good or ran out of attempts is parked (`failed`): nothing retries it.
`requeue` sets it back to `queued` with no attempts and due now, wakes the delivery workers, and
records the change on the firm's `trailblazer.firm.<firm_id>.duty-of-information.v1` (status
`queued`, through the outbox, in the same transaction). It refuses deliveries that were
cancelled or suppressed, and parked deliveries of an assignment since cancelled or, for the
partner, whose consent was since withdrawn. A delivery that is not parked is left as it is, so
running a requeue twice changes nothing twice. Output holds ids, roles, channels, statuses and
error codes, never names, addresses or message content. The database comes from `--database-url` or
`TRAILBLAZER_DATABASE_URL`, as the service reads it.
"""

import argparse
import asyncio
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg

from shared.contracts import DeliveryChannel, DeliveryStatus, Stakeholder
from shared.db import Connection, create_pool
from shared.ops.cli import add_connection_options, database_error

from . import deliveries, record, repository
from .settings import NotificationSettings

_PENDING = frozenset({DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.SENDING})
_ADDRESS = re.compile(r"[^\s@<>\"'()\[\],;:]+@[^\s@<>\"'()\[\],;:]+")
_ERROR_WIDTH = 60
_CANCELLED = "the assignment was cancelled, nothing more is sent for it"
_WITHDRAWN = "the partner withdrew consent, nothing more is sent to them"


class Action(StrEnum):
    REQUEUED = "requeued"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str


def decide(status: DeliveryStatus, stakeholder: Stakeholder, *, cancelled: bool, withdrawn: bool) -> Verdict:
    """What a requeue does to a delivery in `status`, given the assignment's stops."""
    if status is DeliveryStatus.FAILED:
        if cancelled:
            return Verdict(Action.REFUSED, _CANCELLED)
        if withdrawn and stakeholder is Stakeholder.PARTNER:
            return Verdict(Action.REFUSED, _WITHDRAWN)
        return Verdict(Action.REQUEUED, "back in the queue, attempts reset, due now")
    if status is DeliveryStatus.CANCELLED:
        return Verdict(Action.REFUSED, f"cancelled: {_CANCELLED}")
    if status is DeliveryStatus.SUPPRESSED:
        return Verdict(Action.REFUSED, f"suppressed: {_WITHDRAWN}")
    if status in _PENDING:
        return Verdict(Action.UNCHANGED, f"not parked: already {status.value}")
    return Verdict(Action.UNCHANGED, f"not parked: already {status.value}, nothing to send again")


def redact(error: str | None) -> str:
    """An error code for the terminal: any address in it replaced, and kept short."""
    if not error:
        return "-"
    text = _ADDRESS.sub("<address>", " ".join(error.split()))
    return text if len(text) <= _ERROR_WIDTH else text[: _ERROR_WIDTH - 1] + "…"


@dataclass(frozen=True)
class Parked:
    delivery_id: uuid.UUID
    assignment_id: uuid.UUID
    firm_id: str
    stakeholder: str
    channel: str
    content_kind: str
    status: str
    attempts: int
    updated_at: datetime
    last_error: str | None


def list_lines(rows: Sequence[Parked]) -> list[str]:
    lines = [
        f"{'delivery':<36} {'assignment':<36} {'firm':<20} {'stakeholder':<11} {'channel':<7} {'status':<10}"
        f" {'attempts':>8} {'updated (UTC)':<19} {'content kind':<32} last error"
    ]
    for d in rows:
        lines.append(
            f"{d.delivery_id!s:<36} {d.assignment_id!s:<36} {d.firm_id:<20} {d.stakeholder:<11} {d.channel:<7}"
            f" {d.status:<10} {d.attempts:>8} {_utc(d.updated_at):<19} {d.content_kind:<32} {redact(d.last_error)}"
        )
    lines.append(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")
    return lines


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Outcome:
    delivery_id: uuid.UUID
    verdict: Verdict

    def line(self) -> str:
        return f"{self.delivery_id} {self.verdict.action.value}: {self.verdict.reason}"


def summary(outcomes: Sequence[Outcome]) -> str:
    counts = {action: sum(1 for o in outcomes if o.verdict.action is action) for action in Action}
    return ", ".join(f"{n} {action.value}" for action, n in counts.items())


# --- against the database --------------------------------------------------------------------


async def parked(
    connection: Connection, *, firm_id: str | None = None, status: str | None = "failed", limit: int | None = None
) -> list[Parked]:
    rows = await deliveries.listing(connection, firm_id=firm_id, status=status, limit=limit)
    return [Parked(**dict(row)) for row in rows]


async def requeue_one(connection: Connection, delivery_id: uuid.UUID, assignment_id: uuid.UUID) -> Outcome:
    """One delivery in one transaction, serialised with the assignment's handlers (a withdrawal
    arriving meanwhile either sees the delivery queued and suppresses it, or is seen here)."""
    async with connection.transaction():
        await repository.lock_assignment(connection, assignment_id)
        row = await deliveries.lock(connection, delivery_id)
        assert row is not None, "deliveries are never deleted"
        cancelled, withdrawn = await deliveries.stops(connection, assignment_id)
        stakeholder = Stakeholder(row["stakeholder"])
        verdict = decide(DeliveryStatus(row["status"]), stakeholder, cancelled=cancelled, withdrawn=withdrawn)
        if verdict.action is Action.REQUEUED and await deliveries.requeue(connection, delivery_id):
            await record.status_changed(
                connection,
                firm_id=row["firm_id"],
                correlation_id=await record.correlation_of(connection, assignment_id),
                delivery_id=delivery_id,
                assignment_id=assignment_id,
                stakeholder=stakeholder,
                channel=DeliveryChannel(row["channel"]),
                content_kind=row["content_kind"],
                status=DeliveryStatus.QUEUED,
                attempts=0,
                trace_id=row["trace_id"],
                queued_at=None,
                requeued=True,
            )
    return Outcome(delivery_id, verdict)


async def requeue(connection: Connection, delivery_ids: Sequence[uuid.UUID]) -> list[Outcome]:
    """Requeue each delivery that may be; raises LookupError, changing nothing, if one is unknown."""
    wanted = list(dict.fromkeys(delivery_ids))
    assignments = await deliveries.known(connection, wanted)
    unknown = [d for d in wanted if d not in assignments]
    if unknown:
        raise LookupError(", ".join(map(str, unknown)))
    return [await requeue_one(connection, d, assignments[d]) for d in wanted]


async def requeue_all_failed(connection: Connection, firm_id: str) -> list[Outcome]:
    return await requeue(connection, await deliveries.failed_of(connection, firm_id))


# --- the command -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.notifications deliveries", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per delivery, oldest first; no personal data")
    listing.add_argument("--firm", help="only this firm's deliveries")
    statuses = [s.value for s in DeliveryStatus]
    listing.add_argument("--status", choices=[*statuses, "all"], default="failed", help="default: failed (parked)")
    listing.add_argument("--limit", type=int, default=0, help="only the newest N")
    again = commands.add_parser("requeue", help="put parked deliveries back in the queue")
    again.add_argument("delivery_ids", nargs="*", type=uuid.UUID, metavar="DELIVERY_ID")
    again.add_argument("--firm", help="with --all-failed: the firm whose parked deliveries to requeue")
    again.add_argument("--all-failed", action="store_true", help="every parked delivery of --firm")
    add_connection_options(parser, (listing, again), database="notifications' database")
    return parser


async def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "requeue" and bool(args.delivery_ids) == bool(args.all_failed):
        parser.error("requeue: name delivery ids, or pass --firm F --all-failed")
    if args.command == "requeue" and args.all_failed and not args.firm:
        parser.error("requeue --all-failed needs --firm")
    pool = await create_pool(args.database_url or NotificationSettings().database_url, size=1)
    try:
        async with pool.acquire() as connection:
            return await _run(args, connection)
    finally:
        await pool.close()


async def _run(args: argparse.Namespace, connection: Connection) -> int:
    if args.command == "list":
        status = None if args.status == "all" else args.status
        rows = await parked(connection, firm_id=args.firm, status=status, limit=args.limit or None)
        print("\n".join(list_lines(rows)))
        return 0
    try:
        if args.all_failed:
            outcomes = await requeue_all_failed(connection, args.firm)
        else:
            outcomes = await requeue(connection, args.delivery_ids)
    except LookupError as error:
        print(f"no delivery {error} (see `list`); nothing requeued", file=sys.stderr)
        return 2
    for outcome in outcomes:
        refused = outcome.verdict.action is Action.REFUSED
        print(outcome.line(), file=sys.stderr if refused else sys.stdout)
    print(summary(outcomes))
    return 1 if any(o.verdict.action is Action.REFUSED for o in outcomes) else 0


def run(argv: Sequence[str]) -> None:
    try:
        sys.exit(asyncio.run(main(argv)))
    except (OSError, asyncpg.PostgresError) as error:
        print(database_error("notifications' database", error), file=sys.stderr)
        sys.exit(2)
