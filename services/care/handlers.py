"""care's handlers: the assignment and its match in (internal topics); the firm's acceptance, stops
and delivery statuses in (the firms' own topics, firm from the topic); the firm's care events in
(its own topics); each sets, meets or cancels durable deadlines and writes the duty-of-care
record, in one transaction."""

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import propagate

from shared import outbox
from shared.contracts import (
    AssignmentCancelled,
    AssignmentCreated,
    Coach,
    DeliveryRecorded,
    DeliveryStatus,
    Envelope,
    FieldError,
    MatchAccepted,
    MatchProposed,
    MatchUpdated,
    PartnerConsentWithdrawn,
    RejectedRecord,
    utc_now,
)
from shared.contracts.care import (
    CareRefused,
    CareRefusedPayload,
    Duty,
    EscalationClosed,
    EscalationRule,
    OutcomeReported,
    PermitClarified,
    PulseGiven,
    SessionHeld,
)
from shared.contracts.decoding import (
    InvalidEvent,
    decode,
    ensure_owner,
    ensure_sender,
    firm_mismatch,
    unknown_assignment,
)
from shared.db import Connection
from shared.inbox import first_sighting
from shared.messaging import Consumer, Effect, add_dead_letter, firm_of_record, record_coordinates
from shared.settings import ServiceSettings
from shared.topics import (
    ASSIGNMENT_CREATED,
    MATCH_PROPOSED,
    MATCH_UPDATED,
    FirmEvent,
    ProviderEvent,
    firm_pattern,
    firm_topic,
    provider_pattern,
    tenant_of,
)

from . import domain, record, repository, scorecards
from .escalations import raise_escalation
from .firms import OnboardedFirms
from .settings import CareSettings

log = logging.getLogger(__name__)

CONSUMER = "care"
GROUP = "trailblazer-care"
FIRM_GROUP = "trailblazer-care-firms"
CATALOG_GROUP = "trailblazer-care-catalog"

E = TypeVar("E", bound=Envelope)
# The assignment an entry is about, as stored (or as just saved): its id, firm and correlation id.
Known = asyncpg.Record | dict[str, Any]
# Applies a firm's care event to a known assignment of that firm; returns reasons to refuse it.
FirmEffect = Callable[[Connection, Any, asyncpg.Record], Awaitable[list[FieldError]]]


def care_settings(settings: ServiceSettings) -> CareSettings:
    return settings if isinstance(settings, CareSettings) else CareSettings()


def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
    handlers = Handlers(care_settings(settings))
    consumer = Consumer(CONSUMER, pool, settings, lock_keys=repository.lock_assignments)
    # One consumer for the platform's topics and one for the firms' (a subscription is either
    # topics or a pattern): every consumer of a group that joins rebalances the whole group, and a
    # start (or a restart after a crash) with one per topic took a minute.
    consumer.subscribe_each(
        broker,
        {
            ASSIGNMENT_CREATED: handlers.on_assignment,
            MATCH_PROPOSED: handlers.on_match_proposed,
            MATCH_UPDATED: handlers.on_match_updated,
        },
        group_id=GROUP,
    )
    # The firm's word on its assignments and notifications' delivery statuses, from every firm's
    # own topics.
    consumer.subscribe_tenant_events(
        broker,
        {
            FirmEvent.MATCH_ACCEPTED: handlers.on_acceptance,
            FirmEvent.ASSIGNMENT_CANCELLED: handlers.on_cancelled,
            FirmEvent.PARTNER_CONSENT_WITHDRAWN: handlers.on_consent_withdrawn,
            FirmEvent.DUTY_OF_INFORMATION: handlers.on_delivery,
        },
        group_id=GROUP,
    )

    for event, model, firm_effect in (
        (FirmEvent.CARE_PULSE_GIVEN, PulseGiven, handlers.pulse),
        (FirmEvent.CARE_SESSION_HELD, SessionHeld, handlers.session),
        (FirmEvent.CARE_OUTCOME_REPORTED, OutcomeReported, handlers.outcome),
        (FirmEvent.CARE_ESCALATION_CLOSED, EscalationClosed, handlers.close_escalation),
        (FirmEvent.CARE_PERMIT_CLARIFIED, PermitClarified, handlers.permit_clarified),
    ):
        consumer.subscribe_pattern(broker, firm_pattern(event), _firm_event(model, firm_effect), group_id=FIRM_GROUP)
    consumer.subscribe_pattern(
        broker, provider_pattern(ProviderEvent.CATALOG_COACHES), handlers.on_coach, group_id=CATALOG_GROUP
    )


def trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class Handlers:
    def __init__(self, settings: CareSettings, firms: OnboardedFirms | None = None) -> None:
        self._settings = settings
        self._firms = firms or OnboardedFirms(settings)

    async def _now(self, connection: Connection) -> datetime:
        return await repository.now(connection, database_clock=self._settings.care_clock == "database")

    # --- internal topics ---------------------------------------------------------------------

    async def on_assignment(self, connection: Connection, message: KafkaMessage) -> None:
        created = decode(message.body, AssignmentCreated)
        a = created.payload.assignment
        await repository.lock_assignment(connection, a.assignment_id)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(created.event_id)):
            return
        if not await self._firms.has_care_topics(created.firm_id):
            log.warning("firm %s has no duty-of-care topics (not onboarded for care): not followed", created.firm_id)
            return
        policy = self._settings.policy(created.firm_id)
        owner_name = policy.owner_name or a.hr_contact.full_name
        owner_email = policy.owner_email or str(a.hr_contact.email)
        early = await repository.save_assignment(connection, created, owner_name, owner_email)
        if early is None:
            return  # saved before
        known = {"assignment_id": a.assignment_id, "firm_id": created.firm_id, "correlation_id": created.correlation_id}
        now = await self._now(connection)
        if early["stop_firm_id"] not in (None, created.firm_id):
            # A stop by another firm, kept while the assignment was unknown: changes nothing of this firm's.
            log.warning("a stop of assignment %s by another firm than its own is ignored", a.assignment_id)
        elif early["stop_firm_id"] is not None:
            await repository.stop(connection, a.assignment_id, early["stop_reason"], early["stopped_at"])
            await self._entry(connection, known, Duty.PREVENTION, "care.not_started", now, reason=early["stop_reason"])
            return
        # Counted from care's clock when it took the assignment on (seconds after intake accepted it),
        # so that deadlines and the clock they are compared with are one clock, the test clock too.
        permit, country = a.partner.profile.work_permit, a.host_location.country
        deadlines = domain.on_assignment(now, a.start_date, permit, country, policy)
        await self._set(connection, known, deadlines, now)
        if early["early_coach"] is not None:
            stored = await repository.assignment(connection, a.assignment_id)
            assert stored is not None
            await self._coach(connection, stored, early["early_coach"])

    async def on_match_proposed(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, MatchProposed)
        coach = event.payload.coach
        await self._on_coach(
            connection, str(event.event_id), event.payload.assignment_id, coach.coach_id if coach else None
        )

    async def on_match_updated(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, MatchUpdated)
        coach = event.payload.coach
        await self._on_coach(
            connection, str(event.event_id), event.payload.assignment_id, coach.coach_id if coach else None
        )

    async def _on_coach(
        self, connection: Connection, event_id: str, assignment_id: uuid.UUID, coach_id: str | None
    ) -> None:
        await repository.lock_assignment(connection, assignment_id)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=event_id):
            return
        known = await repository.assignment(connection, assignment_id)
        if known is None:
            # assignment.created is on another topic and may not be read yet: kept until it is.
            await repository.save_early_coach(connection, assignment_id, coach_id)
            return
        await self._coach(connection, known, coach_id)

    async def _coach(self, connection: Connection, known: asyncpg.Record, coach_id: str | None) -> None:
        if coach_id is None or known["stopped"] is not None:
            return  # no coach (yet): the not-matched deadline keeps running
        assignment_id = known["assignment_id"]
        now = await self._now(connection)
        first = await repository.set_coach(connection, assignment_id, coach_id, now)
        await self._meet(connection, known, domain.MET_BY_COACH, now)
        if first:
            await self._entry(connection, known, Duty.PREVENTION, "coach.proposed", now, coach_id=coach_id)
            policy = self._settings.policy(known["firm_id"])
            await self._set(connection, known, domain.on_coach_proposed(now, known["host_country"], policy), now)
        await scorecards.publish_for_coach(connection, known["firm_id"], known["correlation_id"], coach_id, now)

    async def on_acceptance(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, MatchAccepted)
        firm_id = firm_of_record(message)
        assignment_id = event.payload.assignment_id
        await repository.lock_assignment(connection, assignment_id)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(event.event_id)):
            return
        known = await repository.assignment(connection, assignment_id)
        # Matching answers a firm's acceptance that names another firm, another coach or another
        # firm's assignment (on the firm's own match.acceptance-refused topic).
        if (
            known is None
            or event.firm_id != firm_id
            or known["firm_id"] != firm_id
            or known["coach_id"] != event.payload.coach_id
        ):
            return
        now = await self._now(connection)
        await repository.record_acceptance(connection, assignment_id, event.payload.coach_id, now)
        await self._meet(connection, known, domain.MET_BY_ACCEPTANCE, now)
        await self._entry(connection, known, Duty.PREVENTION, "coach.accepted", now, coach_id=known["coach_id"])
        await scorecards.publish_for_coach(
            connection, known["firm_id"], known["correlation_id"], known["coach_id"], now
        )

    async def on_cancelled(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, AssignmentCancelled)
        await self._stop(connection, message, event, event.payload.assignment_id, "cancelled")

    async def on_consent_withdrawn(self, connection: Connection, message: KafkaMessage) -> None:
        event = decode(message.body, PartnerConsentWithdrawn)
        await self._stop(connection, message, event, event.payload.assignment_id, "consent_withdrawn")

    async def _stop(
        self, connection: Connection, message: KafkaMessage, event: Envelope, assignment_id: uuid.UUID, reason: str
    ) -> None:
        """Every pending check-in and deadline is cancelled, open escalations with them. A stop
        that names another firm than its topic's, or another firm's assignment, changes nothing
        and is dead-lettered with the reason (firms have no refusal topic for stops)."""
        ensure_sender(event.firm_id, firm_of_record(message))
        await repository.lock_assignment(connection, assignment_id)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(event.event_id)):
            return
        now = await self._now(connection)
        known = await repository.assignment(connection, assignment_id)
        if known is None:
            await repository.save_early_stop(connection, assignment_id, event.firm_id, reason, now)
            return
        ensure_owner(known["firm_id"], event.firm_id)
        if not await repository.stop(connection, assignment_id, reason, now):
            return
        for row in await repository.settle_pending(connection, assignment_id, "cancelled", now):
            duty = Duty.PREVENTION if row["kind"].startswith("check_in.") else Duty.INTERVENTION
            await self._entry(
                connection,
                known,
                duty,
                "deadline.cancelled",
                now,
                row["deadline_id"],
                deadline=row["kind"],
                reason=reason,
            )
        for escalation_id in await repository.cancel_open_escalations(connection, assignment_id, now):
            await self._entry(
                connection, known, Duty.INTERVENTION, "escalation.cancelled", now, escalation_id, reason=reason
            )
        await self._entry(connection, known, Duty.PREVENTION, "care.stopped", now, reason=reason)
        log.info("duty of care stopped: %s", reason)

    async def on_delivery(self, connection: Connection, message: KafkaMessage) -> None:
        """A failed duty-of-information delivery sets a deadline; a later sent, delivered,
        cancelled or suppressed status for the same delivery meets it."""
        event = decode(message.body, DeliveryRecorded)
        delivery = event.payload
        assignment_id = delivery.assignment_id
        await repository.lock_assignment(connection, assignment_id)
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(event.event_id)):
            return
        now = await self._now(connection)
        kind = f"delivery_failed.{delivery.delivery_id}"
        # A later status meets the deadline a failure set; read with the assignment, in one round trip.
        meets = delivery.status in (
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.CANCELLED,
            DeliveryStatus.SUPPRESSED,
        )
        known, met = await repository.assignment_meeting(
            connection, assignment_id, firm_of_record(message), [kind] if meets else [], now
        )
        if known is None:
            return  # not one of care's assignments (yet): information only, recorded by notifications
        await self._entry(
            connection,
            known,
            Duty.INFORMATION,
            f"delivery.{delivery.status.value}",
            now,
            delivery.delivery_id,
            stakeholder=delivery.stakeholder.value,
            channel=delivery.channel.value,
            content_kind=delivery.content_kind,
        )
        await self._met(connection, known, met, now)
        if delivery.status is DeliveryStatus.FAILED and known["stopped"] is None:
            policy = self._settings.policy(known["firm_id"])
            deadline = domain.on_delivery_failed(delivery.delivery_id, now, known["host_country"], policy)
            await self._set(connection, known, [deadline], now)

    async def on_coach(self, connection: Connection, message: KafkaMessage) -> None:
        """A provider's coach record: which provider the coach belongs to (from the topic)."""
        tenant = tenant_of(record_coordinates(message)[0])
        if tenant is None or not message.body:
            return  # a tombstone: the coach's past partners still count for the provider
        coach = decode(message.body, Coach)
        await repository.save_coach_provider(connection, coach.coach_id, tenant.id)

    # --- the firm's care events --------------------------------------------------------------

    async def pulse(self, connection: Connection, event: PulseGiven, known: asyncpg.Record) -> list[FieldError]:
        p = event.payload
        if p.check_in_id is not None:
            check_in = await repository.check_in_answerable(connection, p.check_in_id)
            if check_in is None or check_in["assignment_id"] != p.assignment_id:
                return [_error("payload.check_in_id", "unknown_check_in", "no check-in with this id was sent for it")]
            if check_in["answered"]:
                return [_error("payload.check_in_id", "already_answered", "this check-in was answered already")]
        await self.record_pulse(
            connection, known, check_in_id=p.check_in_id, score=p.score, comment=p.comment, source="firm"
        )
        return []

    async def record_pulse(
        self,
        connection: Connection,
        known: asyncpg.Record,
        *,
        check_in_id: uuid.UUID | None,
        score: int,
        comment: str,
        source: str,
    ) -> uuid.UUID | None:
        """Shared by the firm's event and the partner's link; None if the check-in was answered."""
        now = await self._now(connection)
        assignment_id = known["assignment_id"]
        pulse_id = await repository.save_pulse(
            connection,
            assignment_id=assignment_id,
            check_in_id=check_in_id,
            score=score,
            comment=comment,
            source=source,
            coach_id=known["coach_id"],
            at=now,
        )
        if pulse_id is None:
            return None
        await self._entry(
            connection,
            known,
            Duty.PREVENTION,
            "pulse.received",
            now,
            pulse_id,
            score=score,
            source=source,
            check_in_id=str(check_in_id) if check_in_id else None,
            comment="given" if comment else None,
        )
        policy = self._settings.policy(known["firm_id"])
        if domain.is_low(score, policy) and known["stopped"] is None:
            await raise_escalation(
                connection,
                known,
                rule=EscalationRule.LOW_PULSE,
                level=1,
                advice=domain.advice(EscalationRule.LOW_PULSE, score=score),
                at=now,
            )
        await scorecards.publish_for_coach(
            connection, known["firm_id"], known["correlation_id"], known["coach_id"], now
        )
        return pulse_id

    async def session(self, connection: Connection, event: SessionHeld, known: asyncpg.Record) -> list[FieldError]:
        p = event.payload
        if p.coach_id != known["coach_id"]:
            return [_error("payload.coach_id", "not_the_coach", "the session's coach is not the partner's coach")]
        now = await self._now(connection)
        await repository.record_session(connection, str(event.event_id), p.assignment_id, p.coach_id, p.held_at)
        await self._meet(connection, known, domain.MET_BY_SESSION, now)
        await self._entry(
            connection,
            known,
            Duty.PREVENTION,
            "session.held",
            now,
            coach_id=p.coach_id,
            held_at=p.held_at.isoformat(),
        )
        await scorecards.publish_for_coach(connection, known["firm_id"], known["correlation_id"], p.coach_id, now)
        return []

    async def outcome(self, connection: Connection, event: OutcomeReported, known: asyncpg.Record) -> list[FieldError]:
        p = event.payload
        now = await self._now(connection)
        if await repository.save_outcome(
            connection, p.assignment_id, p.outcome.value, known["coach_id"], p.reported_at
        ):
            await self._entry(connection, known, Duty.CONTROL, "outcome.reported", now, outcome=p.outcome.value)
            await scorecards.publish_for_coach(
                connection, known["firm_id"], known["correlation_id"], known["coach_id"], now
            )
        return []

    async def close_escalation(
        self, connection: Connection, event: EscalationClosed, known: asyncpg.Record
    ) -> list[FieldError]:
        p = event.payload
        now = await self._now(connection)
        closed = await repository.close_escalation(connection, p.assignment_id, p.escalation_id, p.resolution, now)
        if closed is None:
            return [_error("payload.escalation_id", "unknown_escalation", "the assignment has no such escalation")]
        if closed == "closed":
            await self._entry(
                connection,
                known,
                Duty.INTERVENTION,
                "escalation.closed",
                now,
                p.escalation_id,
                closed_at=p.closed_at.isoformat(),
            )
        return []

    async def permit_clarified(
        self, connection: Connection, event: PermitClarified, known: asyncpg.Record
    ) -> list[FieldError]:
        p = event.payload
        now = await self._now(connection)
        await self._meet(connection, known, domain.MET_BY_PERMIT, now)
        await self._entry(
            connection, known, Duty.INTERVENTION, "permit.clarified", now, work_permit=p.work_permit.value
        )
        return []

    # --- shared steps ------------------------------------------------------------------------

    async def _set(self, connection: Connection, known: Known, deadlines: list[domain.Deadline], now: datetime) -> None:
        for row in await repository.add_deadlines(connection, known["assignment_id"], deadlines, trace_headers()):
            kind = row["kind"]
            duty = Duty.PREVENTION if kind.startswith("check_in.") else Duty.INTERVENTION
            name = "check_in.scheduled" if duty is Duty.PREVENTION else "deadline.set"
            await self._entry(
                connection, known, duty, name, now, row["deadline_id"], deadline=kind, due_at=row["due_at"].isoformat()
            )

    async def _meet(self, connection: Connection, known: Known, kinds: tuple[str, ...], now: datetime) -> None:
        settled = await repository.settle_pending(connection, known["assignment_id"], "met", now, kinds)
        await self._met(connection, known, [(row["deadline_id"], row["kind"]) for row in settled], now)

    async def _met(self, connection: Connection, known: Known, met: list[tuple[uuid.UUID, str]], now: datetime) -> None:
        for deadline_id, kind in met:
            await self._entry(connection, known, Duty.INTERVENTION, "deadline.met", now, deadline_id, deadline=kind)

    async def _entry(
        self,
        connection: Connection,
        known: Known,
        duty: Duty,
        kind: str,
        at: datetime,
        subject_id: object = None,
        **detail: str | int | None,
    ) -> None:
        await record.entry(
            connection,
            firm_id=known["firm_id"],
            correlation_id=known["correlation_id"],
            assignment_id=known["assignment_id"],
            duty=duty,
            kind=kind,
            at=at,
            subject_id=subject_id,
            **detail,
        )


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field=field, code=code, message=message)


def _firm_event(model: type[E], apply: FirmEffect) -> Effect:
    """A firm's care event: the firm is the topic's. The event must parse, name the topic's firm
    and one of that firm's assignments; otherwise the firm gets `care.refused` on its own topic
    and operators the record on the dead-letter topic."""

    async def effect(connection: Connection, message: KafkaMessage) -> None:
        topic, partition, offset, _key = record_coordinates(message)
        tenant = tenant_of(topic)
        assert tenant is not None  # the subscription's pattern only matches firm topics
        firm_id = tenant.id
        position = f"record:{topic}:{partition}:{offset}"
        try:
            event = decode(message.body, model)
        except InvalidEvent as invalid:
            if await first_sighting(connection, consumer=CONSUMER, event_id=position):
                await _refuse(connection, message, firm_id, invalid.errors, None)
            return
        if not await first_sighting(connection, consumer=CONSUMER, event_id=str(event.event_id)):
            return
        assignment_id: uuid.UUID = event.payload.assignment_id  # type: ignore[attr-defined]
        await repository.lock_assignment(connection, assignment_id)
        known = await repository.assignment(connection, assignment_id)
        if event.firm_id != firm_id:
            errors = [firm_mismatch(firm_id)]
        elif known is None or known["firm_id"] != firm_id:
            # Another firm's assignment is an unknown one: its existence is not this firm's to learn.
            errors = [unknown_assignment()]
        else:
            errors = await apply(connection, event, known)
        if errors:
            await _refuse(connection, message, firm_id, errors, event)

    return effect


async def _refuse(
    connection: Connection, message: KafkaMessage, firm_id: str, errors: list[FieldError], event: Envelope | None
) -> None:
    topic, partition, offset, key = record_coordinates(message)
    assignment_id = getattr(event.payload, "assignment_id", None) if event is not None else None  # type: ignore[attr-defined]
    refused = CareRefused.create(
        firm_id=firm_id,
        correlation_id=event.correlation_id if event is not None else f"{topic}:{partition}:{offset}",
        payload=CareRefusedPayload(
            assignment_id=assignment_id,
            request_event_id=event.event_id if event is not None else None,
            errors=errors,
            record=RejectedRecord(topic=topic, partition=partition, offset=offset, key=key),
            refused_at=utc_now(),
        ),
    )
    await outbox.add_event(
        connection, topic=firm_topic(firm_id, FirmEvent.CARE_REFUSED), key=key or str(refused.event_id), event=refused
    )
    codes = "; ".join(f"{error.field}={error.code}" for error in errors)
    await add_dead_letter(connection, message, consumer=CONSUMER, reason=f"refused: {codes}")
    log.warning("care event refused at %s/%d/%d: %s", topic, partition, offset, codes)
