"""The timer worker: fires due deadlines, once, whatever the number of replicas and restarts.

Each round claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same transaction, moves
each to `fired` and writes what it causes (the check-in for notifications, or the escalation and
its record entries) to the outbox. A replica that dies mid-round rolls back and releases its
rows; another (or the restarted one) claims them on its next round. Nothing sleeps until a
deadline: the worker polls every `care_timer_poll_s`, against the service's clock.
"""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from shared import outbox
from shared.contracts.care import CheckInDue, CheckInDuePayload, Duty
from shared.db import TRANSIENT_DB_ERRORS, Connection
from shared.topics import CARE_CHECK_IN_DUE

from . import domain, record, repository
from .escalations import raise_escalation
from .settings import CareSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class TimerWorker:
    def __init__(self, pool: asyncpg.Pool, settings: CareSettings) -> None:
        self._pool = pool
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                while await self.fire_due() == self._settings.care_timer_batch:
                    pass  # a full batch: more may be due
            except TRANSIENT_DB_ERRORS as error:
                log.warning("timer worker paused: database unavailable (%s)", type(error).__name__)
            await asyncio.sleep(self._settings.care_timer_poll_s)

    async def fire_due(self) -> int:
        async with self._pool.acquire() as connection, connection.transaction():
            now = await repository.now(connection, database_clock=self._settings.care_clock == "database")
            due = await repository.claim_due(connection, now, self._settings.care_timer_batch)
            for row in due:
                await self._fire_one(connection, row, now)
        return len(due)

    async def _fire_one(self, connection: Connection, row: asyncpg.Record, now: datetime) -> None:
        # The deadline was set while handling the assignment's events: join that trace.
        token = otel_context.attach(propagate.extract(dict(row["trace_headers"])))
        try:
            with tracer.start_as_current_span("care deadline fired", attributes={"care.deadline": row["kind"]}):
                try:
                    async with connection.transaction():  # a savepoint: one bad deadline does not block the rest
                        await self._fire(connection, row, now)
                except TRANSIENT_DB_ERRORS:
                    raise
                except Exception as error:
                    log.error("deadline %s could not fire (%s); parked", row["deadline_id"], type(error).__name__)
                    await connection.execute(
                        "UPDATE care_deadlines SET state = 'failed', settled_at = $2 WHERE deadline_id = $1",
                        row["deadline_id"],
                        now,
                    )
        finally:
            otel_context.detach(token)

    async def _fire(self, connection: Connection, row: asyncpg.Record, now: datetime) -> None:
        deadline_id: uuid.UUID = row["deadline_id"]
        kind: str = row["kind"]
        known = await repository.assignment(connection, row["assignment_id"])
        assert known is not None
        await repository.mark_fired(connection, deadline_id, now)
        escalation = domain.escalation_rule(kind)
        if escalation is None:
            await self._send_check_in(connection, known, deadline_id, kind, now)
            return
        rule, level = escalation
        policy = self._settings.policy(known["firm_id"])
        days = domain.rule_days(kind, policy)
        await raise_escalation(
            connection,
            known,
            rule=rule,
            level=level,
            advice=domain.advice(rule, level=level, days=days),
            at=now,
            deadline_id=deadline_id,
            deadline=row["due_at"],
        )
        log.info("deadline %s fired: %s escalated", kind, rule.value)

    async def _send_check_in(
        self, connection: Connection, known: asyncpg.Record, check_in_id: uuid.UUID, kind: str, now: datetime
    ) -> None:
        settings = self._settings
        answer_by = now + timedelta(days=settings.care_link_valid_days)
        token = domain.sign_link(check_in_id, answer_by, settings.care_link_secret.get_secret_value())
        name = kind.removeprefix("check_in.")
        event = CheckInDue.create(
            firm_id=known["firm_id"],
            correlation_id=known["correlation_id"],
            payload=CheckInDuePayload(
                check_in_id=check_in_id,
                assignment_id=known["assignment_id"],
                kind=name,
                start_date=known["start_date"],
                answer_url=f"{settings.care_public_url.rstrip('/')}/care/check-in/{token}",
                answer_by=answer_by,
            ),
        )
        await outbox.add_event(connection, topic=CARE_CHECK_IN_DUE, key=str(known["assignment_id"]), event=event)
        await record.entry(
            connection,
            firm_id=known["firm_id"],
            correlation_id=known["correlation_id"],
            assignment_id=known["assignment_id"],
            duty=Duty.PREVENTION,
            kind="check_in.sent",
            at=now,
            subject_id=check_in_id,
            check_in=name,
            answer_by=answer_by.isoformat(),
        )
        log.info("check-in %s sent to notifications", name)
