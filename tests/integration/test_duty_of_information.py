"""The duty of information delivered for real: a real SMTP server (the stack's aiosmtpd mailbox),
a real HTTP endpoint playing the firm, real Kafka and PostgreSQL, and two notification replicas."""

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook, WebhookVerificationError

from deploy.local import kafka_access
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from shared import dead_letter, topics
from shared.topics import FirmEvent, firm_topic

from .notifications_helpers import (
    SECRET,
    FirmEndpoint,
    about,
    consent_withdrawn,
    deliveries_cli,
    mails_to,
    notifications_calling,
    own_addresses,
    send,
    status_of,
    text_of,
    wait_for_row,
    wait_status,
    wait_until,
    withdrawals_of,
)
from .tenants import firm_topics, onboard

pytestmark = pytest.mark.integration

# The module's firms, each with its webhook path; and one more that plays another firm.
PATHS = {
    "nordic-relocation": "/hooks",
    "gone-firm": "/gone",
    "busy-firm": "/busy",
    "withdrawing-firm": "/withdrawing",
    "holding-firm": "/holding",
}
OTHER_FIRM = "other-firm"
READ = (
    topics.MATCH_PROPOSED,
    topics.ASSIGNMENT_CREATED,
    *firm_topics(PATHS, FirmEvent.STAKEHOLDER_NOTIFIED, FirmEvent.DUTY_OF_INFORMATION),
    topics.DEAD_LETTER,
)


# --- the firm's side, as documented in docs/notifications.md ------------------------------------


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a firm runs, as docs/notifications.md shows: the Standard Webhooks library's verifier."""
    try:
        Webhook(secret).verify(body, headers)
        return True
    except WebhookVerificationError:
        return False


@pytest.fixture(scope="module")
def firm(local_stack: StackConfig) -> Iterator[FirmEndpoint]:
    """The firm's webhook endpoint, and two notification replicas configured to call it."""
    answers = {"/gone": 410, "/busy": 503, "/withdrawing": 503, "/holding": 503}
    onboard(local_stack, OTHER_FIRM)
    with notifications_calling(local_stack, PATHS, answers) as endpoint:
        yield endpoint


# --- helpers ---------------------------------------------------------------------------------


async def redeliver(cfg: StackConfig, records: list[Received], raw: dict[str, bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap, **kafka_access.client_options(cfg))
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(record.topic, raw[record.topic], key=(record.key or "").encode())
    finally:
        await producer.stop()


# --- the tests -------------------------------------------------------------------------------


async def test_norway_host_german_partner_everyone_informed_once_by_email_webhook_and_kafka(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[0])  # Anna Weber, German-speaking, moving to Stavanger
    assignment_id = request["payload"]["assignment_id"]
    # Addresses of their own: other tests in the session write to the same mailbox.
    for person in ("partner", "employee"):
        name, domain = request["payload"][person]["email"].split("@")
        request["payload"][person]["email"] = f"{name}+{assignment_id[:8]}@{domain}"
    partner_email, employee_email = request["payload"]["partner"]["email"], request["payload"]["employee"]["email"]
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        [match] = await reader.wait_for(about(topics.MATCH_PROPOSED, assignment_id))
        [created] = await reader.wait_for(about(topics.ASSIGNMENT_CREATED, assignment_id))
        await reader.wait_for(about(FirmEvent.STAKEHOLDER_NOTIFIED, assignment_id), count=3)
        wanted = {("partner", "email"): "sent", ("employee", "email"): "sent", ("hr", "email"): "sent"}
        records = await wait_status(reader, assignment_id, {**wanted, ("hr", "webhook"): "delivered"})
        # Revision 2 of the record: one per delivery to a person, its outcome, with when it was queued.
        assert sorted((r.value["payload"]["stakeholder"], r.value["payload"]["channel"]) for r in records) == sorted(
            [*wanted, ("hr", "webhook")]
        )
        assert all(r.value["schema_version"] == 2 and r.value["payload"]["queued_at"] for r in records)

        # The partner: German, with the Norway permit facts, the coach and the leads.
        [partner_mail] = mails_to(local_stack, partner_email)
        coach = match.value["payload"]["coach"]
        body = text_of(partner_mail)
        assert partner_mail["Content-Language"] == "de"
        assert partner_mail["Subject"] == "Ihre berufliche Unterstützung in Stavanger"
        assert "Ihr Recht auf Arbeit in Norwegen" in body and "https://www.udi.no/" in body
        assert "dürfen Sie in Norwegen arbeiten" in body
        assert coach["display_name"] in body and coach["contact_email"] in body
        assert all(lead["title"] in body for lead in match.value["payload"]["job_leads"])
        html = partner_mail.get_body(preferencelist=("html",))
        assert html is not None and '<html lang="de">' in str(html.get_content())
        # The employee: English.
        [employee_mail] = mails_to(local_stack, employee_email)
        assert employee_mail["Subject"] == "Support arranged for your partner"
        assert "information on their right to work in Norway" in text_of(employee_mail)
        # HR: the record, by email and by a signed webhook that verifies as documented.
        hr_mails = mails_to(local_stack, request["payload"]["hr_contact"]["email"])
        [hr_mail] = [m for m in hr_mails if assignment_id in text_of(m)]
        assert hr_mail["Subject"] == "Duty of information fulfilled: relocation to Stavanger"
        assert "Partner: by e-mail, accepted by the mail server on" in text_of(hr_mail)
        hooks = [(h, b) for path, h, b in firm.received if json.loads(b)["assignment_id"] == assignment_id]
        [(headers, raw_body)] = hooks
        assert verify_signature(SECRET, headers, raw_body)
        assert {k.lower(): v for k, v in headers.items()}["webhook-id"] == json.loads(raw_body)["delivery_id"]
        assert not verify_signature(
            "whsec_" + base64.b64encode(b"another firm's secret 32 bytes!!").decode(), headers, raw_body
        )
        assert not verify_signature(SECRET, headers, raw_body + b" ")
        record = json.loads(raw_body)
        assert (
            record["content_kind"] == "hr.duty_of_information_record"
            and "Employee: by e-mail, accepted by the mail server on" in record["body"]
        )

        # Redelivery of both input events, then a changed match behind them on the same partition.
        raw = {
            topics.MATCH_PROPOSED: json.dumps(match.value).encode(),
            topics.ASSIGNMENT_CREATED: json.dumps(created.value).encode(),
        }
        await redeliver(local_stack, [created, match], raw)
        changed = {**match.value, "event_id": str(uuid.uuid4())}
        changed["payload"] = {**match.value["payload"], "job_leads": match.value["payload"]["job_leads"][1:]}
        await redeliver(local_stack, [match], {topics.MATCH_PROPOSED: json.dumps(changed).encode()})
        await reader.wait_for(
            lambda r: (
                about(FirmEvent.DUTY_OF_INFORMATION, assignment_id)(r)
                and r.value["payload"]["content_kind"].startswith("partner.match_update")
                and (r.value["payload"]["channel"], r.value["payload"]["status"]) == ("email", "sent")
            ),
            timeout_s=90,
        )

    partner_mails = mails_to(local_stack, partner_email)
    assert [m["Subject"] for m in partner_mails] == [
        "Ihre berufliche Unterstützung in Stavanger",
        "Was sich an Ihrer beruflichen Unterstützung in Stavanger geändert hat",
    ], "the redelivered events sent nothing twice; the changed match sent one update"
    update = text_of(partner_mails[1])
    removed = match.value["payload"]["job_leads"][0]
    assert "Diese Angebote stehen nicht mehr auf Ihrer Liste" in update and removed["title"] in update
    assert "udi.no" not in update, "an update tells what changed, not everything again"
    assert len(mails_to(local_stack, employee_email)) == 1
    assert len({m["Message-ID"] for m in partner_mails}) == 2
    connection = await asyncpg.connect(local_stack.database_url("notifications"))
    try:
        rows = await connection.fetch(
            "SELECT stakeholder, channel, count(*) AS n FROM deliveries WHERE assignment_id = $1"
            " AND content_kind NOT LIKE 'partner.match_update%' GROUP BY 1, 2 ORDER BY 1, 2",
            uuid.UUID(assignment_id),
        )
    finally:
        await connection.close()
    assert [(r["stakeholder"], r["channel"], r["n"]) for r in rows] == [
        ("employee", "email", 1),
        ("employee", "kafka", 1),
        ("hr", "email", 1),
        ("hr", "kafka", 1),
        ("hr", "webhook", 1),
        ("partner", "email", 1),
        ("partner", "kafka", 1),
    ]


async def test_a_permanent_failure_is_parked_and_hr_is_told_on_the_firm_topic(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[2], firm_id="gone-firm")
    assignment_id = request["payload"]["assignment_id"]
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "failed"})
        failed = [r.value["payload"] for r in records if r.value["payload"]["status"] == "failed"]
        assert failed[0]["error"] == "webhook_http_410"
        notices = await reader.wait_for(
            lambda r: (
                about(FirmEvent.STAKEHOLDER_NOTIFIED, assignment_id)(r)
                and r.value["payload"]["content_kind"].startswith("hr.delivery_failed")
            )
        )
    body = notices[0].value["payload"]["body"]
    assert "The duty-of-information record (HR team) could not be delivered through your firm's portal" in body
    assert "your portal answered with HTTP status 410 (attempts: 1)" in body


async def test_a_cancellation_stops_what_has_not_gone_out(local_stack: StackConfig, firm: FirmEndpoint) -> None:
    request = assignment_request(SAMPLE_FAMILIES[1], firm_id="busy-firm")  # its webhook answers 503
    assignment_id = request["payload"]["assignment_id"]
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        await wait_status(reader, assignment_id, {("hr", "webhook"): "retrying"})
        cancel = {
            "event_id": str(uuid.uuid4()),
            "event_type": "assignment.cancelled",
            "schema_version": 1,
            "occurred_at": request["occurred_at"],
            "firm_id": "busy-firm",
            "correlation_id": request["correlation_id"],
            "payload": {
                "assignment_id": assignment_id,
                "reason": "assignment withdrawn",
                "cancelled_at": request["occurred_at"],
            },
        }
        # Another firm cannot cancel it, on its own topic: its record is dead-lettered as naming
        # an unknown assignment, and nothing stops.
        forged = {**cancel, "event_id": str(uuid.uuid4()), "firm_id": OTHER_FIRM}
        await send(local_stack, firm_topic(OTHER_FIRM, FirmEvent.ASSIGNMENT_CANCELLED), assignment_id, forged)
        await send(local_stack, firm_topic("busy-firm", FirmEvent.ASSIGNMENT_CANCELLED), assignment_id, cancel)
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "cancelled"})
        [refused] = await reader.wait_for(
            lambda r: (
                r.topic == topics.DEAD_LETTER
                and r.headers.get(dead_letter.CONSUMER) == "notifications"
                and r.value.get("event_id") == forged["event_id"]
            )
        )
        assert "payload.assignment_id=unknown_assignment" in refused.headers[dead_letter.REASON]
        cancelled_by = {r.value["firm_id"] for r in records if r.value["payload"].get("status") == "cancelled"}
        assert cancelled_by == {"busy-firm"}


def partner_update_statuses(records: list[Received]) -> dict[str, set[str]]:
    """channel → statuses of the partner's match updates."""
    found: dict[str, set[str]] = {}
    for r in records:
        p = r.value["payload"]
        if p["stakeholder"] == "partner" and p["content_kind"].startswith("partner.match_update"):
            found.setdefault(p["channel"], set()).add(p["status"])
    return found


def changed_match(match: Received) -> dict[str, Any]:
    """A later proposal the partner would be told about: one lead fewer (or no coach)."""
    changed = {**match.value, "event_id": str(uuid.uuid4())}
    proposal = match.value["payload"]
    assert proposal["job_leads"] or proposal["coach"], "the sample catalog matches this partner"
    changed["payload"] = (
        {**proposal, "job_leads": proposal["job_leads"][1:]} if proposal["job_leads"] else {**proposal, "coach": None}
    )
    return changed


async def test_consent_withdrawn_suppresses_what_the_partner_has_not_received_and_nothing_else(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[0], firm_id="withdrawing-firm")  # its webhook answers 503
    request["payload"]["partner"]["channels"] = ["email", "firm_portal"]  # the portal: the firm's webhook
    assignment_id = request["payload"]["assignment_id"]
    partner_email, employee_email = own_addresses(request)
    hr_email = request["payload"]["hr_contact"]["email"]
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        # The partner's and the employee's e-mails went out; the partner's portal keeps retrying,
        # so HR's record waits for it.
        await wait_status(
            reader,
            assignment_id,
            {("partner", "email"): "sent", ("employee", "email"): "sent", ("partner", "webhook"): "retrying"},
        )
        assert not status_of(reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id)), "hr", "email")
        [match] = reader.matching(about(topics.MATCH_PROPOSED, assignment_id))
        await send(local_stack, withdrawals_of(request), assignment_id, consent_withdrawn(request))

        records = await wait_status(
            reader, assignment_id, {("partner", "webhook"): "suppressed", ("hr", "email"): "sent"}
        )
        [suppressed] = [r.value for r in records if r.value["payload"]["status"] == "suppressed"]
        assert suppressed["firm_id"] == "withdrawing-firm" and suppressed["payload"]["attempts"] >= 1
        partner_calls = len([b for b in firm.bodies(assignment_id) if b["stakeholder"] == "partner"])
        assert partner_calls >= 1, "the partner's portal was tried before the withdrawal"

        # A later match would tell the partner what changed: now it is recorded, and not sent.
        await send(local_stack, topics.MATCH_PROPOSED, assignment_id, changed_match(match))
        await reader.wait_for(
            lambda _: (
                partner_update_statuses(reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id)))
                == {"email": {"suppressed"}, "webhook": {"suppressed"}}  # kafka: not a person (revision 2)
            ),
            timeout_s=90,
        )

        # HR's webhook is not the partner's: it goes on, and goes out once the firm answers again.
        firm.answers["/withdrawing"] = 204
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "delivered"})

    assert status_of(records, "partner", "webhook") == {"retrying", "suppressed"}, "never sent"
    assert [b["stakeholder"] for b in firm.bodies(assignment_id)].count("partner") == partner_calls
    assert [b["stakeholder"] for b in firm.bodies(assignment_id)][-1] == "hr"
    notified = reader.matching(about(FirmEvent.STAKEHOLDER_NOTIFIED, assignment_id))
    assert not [r for r in notified if r.value["payload"]["content_kind"].startswith("partner.match_update")]
    # The mailbox: the partner has the first message only; the employee's and HR's went out.
    assert [m["Subject"] for m in mails_to(local_stack, partner_email)] == [
        "Ihre berufliche Unterstützung in Stavanger"
    ]
    assert len(mails_to(local_stack, employee_email)) == 1
    [hr_mail] = [m for m in mails_to(local_stack, hr_email) if assignment_id in text_of(m)]
    assert "Partner: not contacted through your firm's portal, as consent was withdrawn." in text_of(hr_mail)
    # An operator cannot send it after all: the requeue command refuses a suppressed delivery.
    code, out = await deliveries_cli(local_stack, "requeue", suppressed["payload"]["delivery_id"])
    assert code == 1 and "refused: suppressed: the partner withdrew consent" in out


async def test_consent_withdrawn_while_a_partner_delivery_is_in_flight_it_is_not_retried(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    """A withdrawal stops pending deliveries; one being sent at that moment finishes its attempt.
    If that attempt fails, it is suppressed, not retried."""
    firm.gates["/holding"] = threading.Event()  # the firm holds webhook requests until told
    request = assignment_request(SAMPLE_FAMILIES[2], firm_id="holding-firm")  # answers 503 once let through
    request["payload"]["partner"]["channels"] = ["firm_portal"]
    assignment_id = request["payload"]["assignment_id"]
    own_addresses(request)
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        await wait_until(
            lambda: any(b["stakeholder"] == "partner" for b in firm.bodies(assignment_id)),
            "the partner's webhook request reached the firm",
        )
        await send(local_stack, withdrawals_of(request), assignment_id, consent_withdrawn(request))
        await wait_for_row(
            local_stack.database_url("notifications"),
            "SELECT 1 FROM consent_withdrawals WHERE assignment_id = $1",
            uuid.UUID(assignment_id),
        )
        firm.gates["/holding"].set()  # the held requests are answered 503
        records = await wait_status(
            reader, assignment_id, {("partner", "webhook"): "suppressed", ("hr", "webhook"): "retrying"}
        )
        [suppressed] = [r.value["payload"] for r in records if r.value["payload"]["status"] == "suppressed"]
        assert (suppressed["attempts"], suppressed["error"]) == (1, "webhook_http_503")
        firm.answers["/holding"] = 204
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "delivered"})
    assert status_of(records, "partner", "webhook") == {"suppressed"}
    assert [b["stakeholder"] for b in firm.bodies(assignment_id)].count("partner") == 1, "not retried"


async def test_a_delivery_taken_over_from_a_dead_worker_after_a_withdrawal_is_not_sent(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    """A worker claimed the partner's delivery and died before sending (its lease still runs, so
    the withdrawal's stop does not see it as pending). The worker that takes it over once the
    lease has run out must suppress it, not send it."""
    request = assignment_request(SAMPLE_FAMILIES[2], firm_id="busy-firm")  # the firm answers 503
    request["payload"]["partner"]["channels"] = ["firm_portal"]
    assignment_id = request["payload"]["assignment_id"]
    own_addresses(request)
    db = await asyncpg.connect(local_stack.database_url("notifications"))
    try:
        async with TopicReader(local_stack, *READ) as reader:
            await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
            await wait_status(reader, assignment_id, {("partner", "webhook"): "retrying"})
            calls = [b["stakeholder"] for b in firm.bodies(assignment_id)].count("partner")
            # The dead worker's claim, as `deliveries.claim` leaves it.
            claimed = await db.fetchval(
                "UPDATE deliveries SET status = 'sending', claimed_until = now() + interval '4 seconds'"
                " WHERE assignment_id = $1 AND stakeholder = 'partner' AND channel = 'webhook' AND status = 'retrying'"
                " RETURNING 1",
                uuid.UUID(assignment_id),
            )
            assert claimed == 1, "the partner's delivery was waiting for its next attempt"
            await send(local_stack, withdrawals_of(request), assignment_id, consent_withdrawn(request))
            await wait_for_row(
                local_stack.database_url("notifications"),
                "SELECT 1 FROM consent_withdrawals WHERE assignment_id = $1",
                uuid.UUID(assignment_id),
            )
            await wait_status(reader, assignment_id, {("partner", "webhook"): "suppressed"})
        assert [b["stakeholder"] for b in firm.bodies(assignment_id)].count("partner") == calls, "not sent again"
    finally:
        await db.close()
