"""The duty of care on the real stack: intake, matching, notifications and care on a real Kafka and
PostgreSQL, the firm played by plain Kafka clients. Time moves by care's database clock
(TRAILBLAZER_CARE_CLOCK=database, the `care_clock` table), never by sleeping: each test computes
its deadlines from care's own clock and moves it forward only."""

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from signal import SIGTERM
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local import kafka_access, mailbox, stack
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.processes import read_pid
from deploy.local.topic_reader import Received, TopicReader
from services.care import domain
from shared import topics
from shared.db import set_json_codecs
from shared.topics import FirmEvent, ProviderEvent, firm_topic, provider_topic

from .conftest import SERVICE_ENV
from .tenants import onboard

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]  # a stack directory may be reused: this run's firm and provider only
FIRM = f"care-{RUN}"
PROVIDER = f"coaching-{RUN}"
NORWAY = SAMPLE_FAMILIES[0]  # Anna Weber, German-speaking, moving to Stavanger (NO)


# --- the firm's and care's sides ----------------------------------------------------------------


async def care_db(cfg: StackConfig) -> asyncpg.Connection:
    connection = await asyncpg.connect(cfg.database_url("care"))
    await set_json_codecs(connection)
    return connection


async def care_now(db: asyncpg.Connection) -> datetime:
    offset = await db.fetchval("SELECT offset_s FROM care_clock")
    return datetime.now(UTC) + timedelta(seconds=offset)


async def advance_to(db: asyncpg.Connection, moment: datetime) -> None:
    """Care's clock reads at least `moment` from now on (it never goes back)."""
    needed = (moment - datetime.now(UTC)).total_seconds() + 1
    await db.execute("UPDATE care_clock SET offset_s = greatest(offset_s, $1)", needed)


async def wait_until(probe: Any, *, timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def submit(cfg: StackConfig, *, matching_consent: bool = True) -> dict[str, Any]:
    request = assignment_request(NORWAY, firm_id=FIRM)
    request["payload"]["partner"]["consent"]["matching"] = matching_consent
    await publish(cfg, [(record_key(request), encode(request))], firm_id=FIRM)
    return request


async def followed(db: asyncpg.Connection, request: dict[str, Any], *, coach: bool = False) -> asyncpg.Record:
    assignment_id = uuid.UUID(request["payload"]["assignment_id"])

    async def row() -> asyncpg.Record | None:
        found = await db.fetchrow("SELECT * FROM care_assignments WHERE assignment_id = $1", assignment_id)
        return found if found is not None and (not coach or found["proposed_at"] is not None) else None

    record: asyncpg.Record = await wait_until(row, what="care to follow the assignment")
    return record


async def firm_sends(cfg: StackConfig, topic: str, assignment_id: str, event_type: str, payload: dict[str, Any]) -> str:
    event_id = str(uuid.uuid4())
    body = {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "firm_id": FIRM,
        "correlation_id": f"{FIRM}-{event_id[:8]}",
        "payload": {"assignment_id": assignment_id, **payload},
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, acks="all", **kafka_access.owner_options(cfg, topic)
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, json.dumps(body).encode(), key=assignment_id.encode())
    finally:
        await producer.stop()
    return event_id


def escalations(reader: TopicReader, assignment_id: str, rule: str | None = None) -> list[Received]:
    return reader.matching(
        lambda r: (
            r.topic == firm_topic(FIRM, FirmEvent.CARE_ESCALATION)
            and r.value["payload"]["assignment_id"] == assignment_id
            and (rule is None or r.value["payload"]["rule"] == rule)
        )
    )


@pytest.fixture(scope="module")
async def firm(local_stack: StackConfig) -> AsyncIterator[TopicReader]:
    """The firm onboarded for care (its topics), the provider's coach topic, and a reader of what
    care tells the firm."""
    onboard(local_stack, FIRM, providers=[PROVIDER])
    outbound = [firm_topic(FIRM, e) for e in topics.CARE_FIRM_OUTBOUND]
    async with TopicReader(local_stack, *outbound, topics.CARE_CHECK_IN_DUE) as reader:
        yield reader


# --- intervention -------------------------------------------------------------------------------


async def test_unmatched_partner_escalates_to_the_case_owner_on_day_n(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        before = await care_now(db)
        request = await submit(local_stack, matching_consent=False)  # matching may not match: no coach
        assignment_id = request["payload"]["assignment_id"]
        row = await followed(db, request)
        after = await care_now(db)
        due = await db.fetchval(
            "SELECT due_at FROM care_deadlines WHERE assignment_id = $1 AND kind = 'not_matched'",
            row["assignment_id"],
        )
        # 5 working days in Norway from when care took the assignment on (on care's clock)
        assert domain.add_working_days(before, 5, "NO") <= due <= domain.add_working_days(after, 5, "NO")
        assert not escalations(firm, assignment_id)

        await advance_to(db, due)
        [escalation] = await firm.wait_for(lambda r: r in escalations(firm, assignment_id, "not_matched"), timeout_s=30)
        payload = escalation.value["payload"]
        assert payload["owner"] == {"full_name": "Mobility Team", "email": f"mobility@{FIRM}.example"}
        assert datetime.fromisoformat(payload["deadline"]) == due
        assert datetime.fromisoformat(payload["raised_at"]) >= due
        assert "5 working days" in payload["what_happened"] and payload["what_to_do"]
        assert escalation.key == assignment_id
    finally:
        await db.close()


async def test_no_session_escalates_after_3_and_5_working_days_skipping_public_holidays(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        # Care's clock to the next 23 December, 10:00 UTC: Christmas falls inside the window.
        now = await care_now(db)
        year = now.year if now < datetime(now.year, 12, 22, tzinfo=UTC) else now.year + 1
        await advance_to(db, datetime(year, 12, 23, 10, tzinfo=UTC))
        request = await submit(local_stack)
        assignment_id = request["payload"]["assignment_id"]
        row = await followed(db, request, coach=True)
        proposed = row["proposed_at"]
        third = domain.add_working_days(proposed, 3, "NO")
        fifth = domain.add_working_days(proposed, 5, "NO")
        skipped = [day for day, _ in domain.holidays_between(proposed.date(), fifth.date(), "NO")]
        assert {datetime(year, 12, 25).date(), datetime(year, 12, 26).date()} <= set(skipped)
        assert third.date() > (proposed + timedelta(days=3)).date()  # later than 3 calendar days

        await advance_to(db, third)
        [first] = await firm.wait_for(lambda r: r in escalations(firm, assignment_id, "no_first_session"), timeout_s=30)
        assert first.value["payload"]["level"] == 1
        assert datetime.fromisoformat(first.value["payload"]["deadline"]) == third
        state = await db.fetchval(
            "SELECT state FROM care_deadlines WHERE assignment_id = $1 AND kind = 'no_first_session.2'",
            row["assignment_id"],
        )
        assert state == "pending"

        await advance_to(db, fifth)
        found = await firm.wait_for(
            lambda r: r in escalations(firm, assignment_id, "no_first_session"), count=2, timeout_s=30
        )
        second = found[1].value["payload"]
        assert (second["level"], datetime.fromisoformat(second["deadline"])) == (2, fifth)
    finally:
        await db.close()


# --- prevention, the link, control, the record ----------------------------------------------------


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        body: bytes = answer.read()
        return body


def _post(url: str, fields: dict[str, str]) -> int:
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_check_in_pulses_session_outcome_scorecard_and_the_record(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        request = await submit(local_stack)
        assignment_id = request["payload"]["assignment_id"]
        row = await followed(db, request, coach=True)
        coach_id = row["coach_id"]
        # The provider's catalog names the coach as theirs (the provider's own topic).
        coach = {
            "coach_id": coach_id,
            "display_name": "Coach",
            "contact_email": "coach@provider.example",
            "languages": [{"code": "en", "level": "C2"}],
            "sectors": [],
            "specialties": ["employment"],
            "remote": True,
            "timezone": "Europe/Oslo",
            "capacity": 10,
            "rating": 4.5,
        }
        coach_topic = provider_topic(PROVIDER, ProviderEvent.CATALOG_COACHES)
        producer = AIOKafkaProducer(
            bootstrap_servers=local_stack.kafka_bootstrap,
            acks="all",
            **kafka_access.owner_options(local_stack, coach_topic),
        )
        await producer.start()
        try:
            await producer.send_and_wait(coach_topic, json.dumps(coach).encode(), key=coach_id.encode())
        finally:
            await producer.stop()

        async def provider_known() -> bool:
            query = "SELECT provider_id FROM care_coaches WHERE coach_id = $1"
            return bool(await db.fetchval(query, coach_id) == PROVIDER)

        await wait_until(provider_known, timeout_s=60, what="the coach's provider")

        # A session (before any deadline passed) meets the acceptance and first-session deadlines.
        session_topic = firm_topic(FIRM, FirmEvent.CARE_SESSION_HELD)
        await firm_sends(
            local_stack,
            session_topic,
            assignment_id,
            "care.session_held",
            {"coach_id": coach_id, "held_at": _now()},
        )
        outcome_topic = firm_topic(FIRM, FirmEvent.CARE_OUTCOME_REPORTED)
        await firm_sends(
            local_stack,
            outcome_topic,
            assignment_id,
            "care.outcome_reported",
            {"outcome": "found_work", "reported_at": _now()},
        )

        async def session_met() -> bool:
            states = await db.fetch(
                "SELECT kind, state FROM care_deadlines WHERE assignment_id = $1 AND kind LIKE 'no_first_session%'",
                row["assignment_id"],
            )
            return len(states) == 2 and all(s["state"] == "met" for s in states)

        await wait_until(session_met, what="the session to meet the first-session deadlines")

        # Prevention: the pre-departure check-in goes out on its day, in the partner's language.
        pre = await db.fetchrow(
            "SELECT deadline_id, due_at FROM care_deadlines"
            " WHERE assignment_id = $1 AND kind = 'check_in.pre_departure'",
            row["assignment_id"],
        )
        assert pre is not None
        await advance_to(db, pre["due_at"])
        [due] = await firm.wait_for(
            lambda r: r.topic == topics.CARE_CHECK_IN_DUE and r.value["payload"]["assignment_id"] == assignment_id,
            timeout_s=30,
        )
        link = due.value["payload"]["answer_url"]
        partner_email = request["payload"]["partner"]["email"]

        def check_in_mail() -> list[str]:
            return [
                p.read_text()
                for p in mailbox.mail_dir(local_stack).glob("*")
                if partner_email in p.read_text() and "Wie geht es Ihnen" in p.read_text()
            ]

        async def mailed() -> list[str]:
            return check_in_mail()

        await wait_until(mailed, timeout_s=60, what="the check-in e-mail in German")

        # The link: GET shows the form and records nothing; one POST records; the second is refused.
        assert b"name='score'" in await asyncio.to_thread(_get, link)
        assert await db.fetchval("SELECT count(*) FROM care_pulses WHERE assignment_id = $1", row["assignment_id"]) == 0
        assert await asyncio.to_thread(_post, link, {"score": "5", "comment": "lonely"}) == 200
        assert await asyncio.to_thread(_post, link, {"score": "9"}) == 409
        assert await asyncio.to_thread(_post, link.replace("/check-in/", "/check-in/x"), {"score": "9"}) == 403
        [low] = await firm.wait_for(lambda r: r in escalations(firm, assignment_id, "low_pulse"), timeout_s=30)
        assert "5 out of 10" in low.value["payload"]["what_happened"]
        assert "lonely" not in json.dumps(low.value)  # the comment stays in care's database

        # A pulse of 8 through the firm does not escalate.
        pulse_topic = firm_topic(FIRM, FirmEvent.CARE_PULSE_GIVEN)
        await firm_sends(local_stack, pulse_topic, assignment_id, "care.pulse_given", {"score": 8, "given_at": _now()})

        def scorecard_with_outcome(r: Received) -> bool:
            figures = r.value["payload"]["figures"] if r.topic == firm_topic(FIRM, FirmEvent.CARE_SCORECARD) else {}
            return r.key == PROVIDER and figures.get("pulses") == 2 and figures["outcomes"] == {"found_work": 1}

        await firm.wait_for(scorecard_with_outcome, timeout_s=30)
        assert len(escalations(firm, assignment_id, "low_pulse")) == 1  # the 8 did not escalate

        # The firm closes the low-pulse escalation.
        escalation_id = low.value["payload"]["escalation_id"]
        close_topic = firm_topic(FIRM, FirmEvent.CARE_ESCALATION_CLOSED)
        await firm_sends(
            local_stack,
            close_topic,
            assignment_id,
            "care.escalation_closed",
            {"escalation_id": escalation_id, "resolution": "called, agreed a network event", "closed_at": _now()},
        )

        async def closed() -> bool:
            state = await db.fetchval(
                "SELECT state FROM care_escalations WHERE escalation_id = $1", uuid.UUID(escalation_id)
            )
            return bool(state == "closed")

        await wait_until(closed, what="the escalation closed")

        # Control: the latest scorecard matches the events that produced it.
        latest = firm.matching(lambda r: r.topic == firm_topic(FIRM, FirmEvent.CARE_SCORECARD) and r.key == PROVIDER)[
            -1
        ]
        figures = latest.value["payload"]["figures"]
        assert figures["assignments"] == 1 and figures["engaged"] == 1 and figures["sessions"] == 1
        assert figures["pulses"] == 2 and figures["mean_pulse"] == 6.5
        assert figures["outcomes"] == {"found_work": 1}
        [coach_figures] = latest.value["payload"]["coaches"]
        assert coach_figures["coach_id"] == coach_id and coach_figures["pulses"] == 2
        report = _cli(local_stack, "scorecard", "--firm", FIRM, "--json")
        [card] = json.loads(report)
        assert card["provider_id"] == PROVIDER and card["figures"]["pulses"] == 2
        assert card["figures"]["escalations"] == figures["escalations"] >= 1

        # The record: every step, with its time and trace, on the firm's duty-of-care topic too.
        timeline = _cli(local_stack, "report", "--assignment", assignment_id)
        for kind in (
            "check_in.scheduled",
            "deadline.set",
            "coach.proposed",
            "check_in.sent",
            "pulse.received",
            "escalation.raised",
            "session.held",
            "deadline.met",
            "outcome.reported",
            "escalation.closed",
        ):
            assert kind in timeline, kind
        assert "lonely" not in timeline and partner_email not in timeline
        entries = await db.fetchval("SELECT count(*) FROM care_record WHERE assignment_id = $1", row["assignment_id"])
        await firm.wait_for(
            lambda r: r.topic == firm_topic(FIRM, FirmEvent.DUTY_OF_CARE) and r.key == assignment_id,
            count=entries,
            timeout_s=30,
        )
        print(timeline)  # the timeline of one assignment's duty-of-care record, for the report
    finally:
        await db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _cli(cfg: StackConfig, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "services.care", *args, "--database-url", cfg.database_url("care")],
        capture_output=True,
        text=True,
        check=True,
        cwd=cfg.repo_root,
    )
    return result.stdout


async def test_a_firm_event_naming_another_firm_is_refused_on_the_firms_topic(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        request = await submit(local_stack, matching_consent=False)
        assignment_id = request["payload"]["assignment_id"]
        await followed(db, request)
        producer = AIOKafkaProducer(
            bootstrap_servers=local_stack.kafka_bootstrap,
            acks="all",
            **kafka_access.tenant_options(local_stack, "firm", FIRM),
        )
        body = {
            "event_id": str(uuid.uuid4()),
            "event_type": "care.pulse_given",
            "schema_version": 1,
            "occurred_at": _now(),
            "firm_id": "another-firm",
            "correlation_id": "x",
            "payload": {"assignment_id": assignment_id, "score": 2, "given_at": _now()},
        }
        await producer.start()
        try:
            topic = firm_topic(FIRM, FirmEvent.CARE_PULSE_GIVEN)
            await producer.send_and_wait(topic, json.dumps(body).encode(), key=assignment_id.encode())
        finally:
            await producer.stop()
        [refused] = await firm.wait_for(
            lambda r: (
                r.topic == firm_topic(FIRM, FirmEvent.CARE_REFUSED)
                and r.value["payload"]["assignment_id"] == assignment_id
            ),
            timeout_s=60,
        )
        assert refused.value["payload"]["errors"][0]["code"] == "firm_mismatch"
        assert not escalations(firm, assignment_id, "low_pulse")
    finally:
        await db.close()


# --- stops and restarts ---------------------------------------------------------------------------


async def test_cancelling_the_assignment_cancels_every_pending_check_in_and_deadline(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        cancelled = await submit(local_stack, matching_consent=False)
        witness = await submit(local_stack, matching_consent=False)
        row = await followed(db, cancelled)
        other = await followed(db, witness)
        pending = await db.fetchval(
            "SELECT count(*) FROM care_deadlines WHERE assignment_id = $1 AND state = 'pending'", row["assignment_id"]
        )
        assert pending >= 2  # check-ins and the not-matched deadline
        assignment_id = cancelled["payload"]["assignment_id"]
        cancellation = {
            "event_id": str(uuid.uuid4()),
            "event_type": "assignment.cancelled",
            "schema_version": 1,
            "occurred_at": _now(),
            "firm_id": FIRM,
            "correlation_id": cancelled["correlation_id"],
            "payload": {"assignment_id": assignment_id, "reason": "assignment called off", "cancelled_at": _now()},
        }
        producer = AIOKafkaProducer(
            bootstrap_servers=local_stack.kafka_bootstrap,
            acks="all",
            **kafka_access.tenant_options(local_stack, "firm", FIRM),
        )
        await producer.start()
        try:
            topic = firm_topic(FIRM, FirmEvent.ASSIGNMENT_CANCELLED)
            await producer.send_and_wait(topic, json.dumps(cancellation).encode(), key=assignment_id.encode())
        finally:
            await producer.stop()

        async def none_pending() -> list[asyncpg.Record] | None:
            states = await db.fetch(
                "SELECT kind, state FROM care_deadlines WHERE assignment_id = $1", row["assignment_id"]
            )
            return None if any(s["state"] == "pending" for s in states) else states

        # Everything still pending is cancelled; what fired before the cancellation (a pre-departure
        # check-in due at once, on a clock the earlier tests moved) stays as it was.
        states = await wait_until(none_pending, what="every pending deadline cancelled")
        fired_before = {s["kind"] for s in states if s["state"] == "fired"}
        assert {s["state"] for s in states} <= {"cancelled", "fired"}
        assert "not_matched" not in fired_before and any(s["state"] == "cancelled" for s in states)
        check_ins_before = len(
            firm.matching(
                lambda r: r.topic == topics.CARE_CHECK_IN_DUE and r.value["payload"]["assignment_id"] == assignment_id
            )
        )
        # Past every deadline of both: the witness's fire, the cancelled one's do not.
        last = await db.fetchval(
            "SELECT max(due_at) FROM care_deadlines WHERE assignment_id = $1", other["assignment_id"]
        )
        await advance_to(db, last)
        witness_id = witness["payload"]["assignment_id"]
        await firm.wait_for(lambda r: r in escalations(firm, witness_id, "not_matched"), timeout_s=30)

        async def witness_done() -> bool:
            left = await db.fetchval(
                "SELECT count(*) FROM care_deadlines WHERE assignment_id = $1 AND state = 'pending'",
                other["assignment_id"],
            )
            return bool(left == 0)

        await wait_until(witness_done, what="every deadline of the witness fired")
        assert not escalations(firm, assignment_id)
        check_ins_after = firm.matching(
            lambda r: r.topic == topics.CARE_CHECK_IN_DUE and r.value["payload"]["assignment_id"] == assignment_id
        )
        assert len(check_ins_after) == check_ins_before <= 1
        after = await db.fetch("SELECT kind, state FROM care_deadlines WHERE assignment_id = $1", row["assignment_id"])
        assert {s["kind"] for s in after if s["state"] == "fired"} == fired_before
        assert await db.fetchval(
            "SELECT stopped FROM care_assignments WHERE assignment_id = $1", row["assignment_id"]
        ) == ("cancelled")
    finally:
        await db.close()


async def test_deadlines_due_while_care_is_killed_fire_exactly_once_after_restart(
    local_stack: StackConfig, firm: TopicReader
) -> None:
    db = await care_db(local_stack)
    try:
        requests = [await submit(local_stack, matching_consent=False) for _ in range(5)]
        rows = [await followed(db, request) for request in requests]
        ids = [row["assignment_id"] for row in rows]
        due = await db.fetchval(
            "SELECT max(due_at) FROM care_deadlines WHERE assignment_id = ANY($1) AND kind = 'not_matched'", ids
        )
        stack.kill_service(local_stack, "care")  # SIGKILL: no drain, no goodbye
        await advance_to(db, due)  # every one due while care is down
        try:
            stack.start_service(local_stack, "care", 0, SERVICE_ENV)
            stack.start_service(local_stack, "care", 1, SERVICE_ENV)  # and a second replica racing for them
            for request in requests:
                assignment_id: str = request["payload"]["assignment_id"]

                def escalated(r: Received, a: str = assignment_id) -> bool:
                    return r in escalations(firm, a, "not_matched")

                await firm.wait_for(escalated, timeout_s=60)

            async def outbox_empty() -> bool:
                return bool(await db.fetchval("SELECT count(*) FROM outbox") == 0)

            await wait_until(outbox_empty, what="care's outbox relayed")
            fired = await db.fetch(
                "SELECT assignment_id, count(*) AS n FROM care_escalations WHERE assignment_id = ANY($1)"
                " AND rule = 'not_matched' GROUP BY 1",
                ids,
            )
            assert sorted(r["n"] for r in fired) == [1] * 5
            for request in requests:
                # At-least-once relaying may repeat a record, never an escalation: one id each.
                raised = escalations(firm, request["payload"]["assignment_id"], "not_matched")
                assert len({r.value["payload"]["escalation_id"] for r in raised}) == 1
        finally:
            if read_pid(local_stack, "care-1") is not None:
                stack.kill_service(local_stack, "care", 1, signal=SIGTERM)
            stack.start_service(local_stack, "care", 0, SERVICE_ENV)
    finally:
        await db.close()
