"""Raising an escalation: stored, sent to the firm's case owner on its escalation topic and written
to the record, in the caller's transaction."""

import uuid
from datetime import datetime

import asyncpg

from shared import outbox
from shared.contracts.care import CareEscalation, CareEscalationPayload, CaseOwner, Duty, EscalationRule
from shared.db import Connection
from shared.telemetry import current_trace_id
from shared.topics import FirmEvent, firm_topic

from . import record, repository
from .domain import Advice


async def raise_escalation(
    connection: Connection,
    assignment: asyncpg.Record,
    *,
    rule: EscalationRule,
    level: int,
    advice: Advice,
    at: datetime,
    deadline_id: uuid.UUID | None = None,
    deadline: datetime | None = None,
) -> uuid.UUID:
    escalation_id = uuid.uuid4()
    assignment_id = assignment["assignment_id"]
    firm_id = assignment["firm_id"]
    await repository.add_escalation(
        connection,
        escalation_id=escalation_id,
        assignment_id=assignment_id,
        rule=rule.value,
        level=level,
        coach_id=assignment["coach_id"],
        deadline_id=deadline_id,
        at=at,
    )
    event = CareEscalation.create(
        firm_id=firm_id,
        correlation_id=assignment["correlation_id"],
        payload=CareEscalationPayload(
            escalation_id=escalation_id,
            assignment_id=assignment_id,
            rule=rule,
            level=level,
            owner=CaseOwner(full_name=assignment["owner_name"], email=assignment["owner_email"]),
            what_happened=advice.what_happened,
            what_to_do=advice.what_to_do,
            deadline=deadline,
            host_country=assignment["host_country"],
            raised_at=at,
            trace_id=current_trace_id(),
        ),
    )
    await outbox.add_event(
        connection, topic=firm_topic(firm_id, FirmEvent.CARE_ESCALATION), key=str(assignment_id), event=event
    )
    await record.entry(
        connection,
        firm_id=firm_id,
        correlation_id=assignment["correlation_id"],
        assignment_id=assignment_id,
        duty=Duty.INTERVENTION,
        kind="escalation.raised",
        at=at,
        subject_id=escalation_id,
        rule=rule.value,
        level=level,
        deadline=deadline.isoformat() if deadline else None,
    )
    return escalation_id
