"""The duty of information delivered for real: a real SMTP server (the stack's aiosmtpd mailbox),
a real HTTP endpoint playing the firm, real Kafka and PostgreSQL, and two notification replicas."""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from signal import SIGTERM
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local import mailbox, stack
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from shared import dead_letter, topics

pytestmark = pytest.mark.integration

SECRET = "firm-shared-secret"
BASE_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "300", "TRAILBLAZER_SAMPLE_CATALOG": "true"}
READ = (
    topics.MATCH_PROPOSED,
    topics.ASSIGNMENT_CREATED,
    topics.STAKEHOLDER_NOTIFIED,
    topics.DUTY_OF_INFORMATION,
    topics.DEAD_LETTER,
)


# --- the firm's side, as documented in docs/notifications.md ------------------------------------


def verify_signature(
    secret: bytes, headers: dict[str, str], body: bytes, *, now: float, tolerance_s: int = 300
) -> bool:
    """The verification procedure of docs/notifications.md, written from the docs, not imported."""
    timestamp = headers["Trailblazer-Timestamp"]
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    received = headers["Trailblazer-Signature"].removeprefix("v1=")
    return hmac.compare_digest(expected, received)


@dataclass
class FirmEndpoint:
    port: int
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def _serve(endpoint: FirmEndpoint) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            endpoint.received.append((self.path, dict(self.headers.items()), body))
            status = {"/gone": 410, "/busy": 503}.get(self.path, 204)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def firm(local_stack: StackConfig) -> Iterator[FirmEndpoint]:
    """The firm's webhook endpoint, and two notification replicas configured to call it."""
    endpoint = FirmEndpoint(port=0)
    server = _serve(endpoint)
    base = f"http://127.0.0.1:{endpoint.port}"
    hooks = {
        "nordic-relocation": {"url": f"{base}/hooks", "secret": SECRET},
        "gone-firm": {"url": f"{base}/gone", "secret": SECRET},
        "busy-firm": {"url": f"{base}/busy", "secret": SECRET},
    }
    env = {**BASE_ENV, "TRAILBLAZER_FIRM_WEBHOOKS": json.dumps(hooks), "TRAILBLAZER_DELIVERY_BACKOFF_S": "5"}
    stack.kill_service(local_stack, "notifications", 0, SIGTERM)
    stack.start_service(local_stack, "notifications", 0, env)
    stack.start_service(local_stack, "notifications", 1, env)
    try:
        yield endpoint
    finally:
        stack.kill_service(local_stack, "notifications", 1, SIGTERM)
        stack.kill_service(local_stack, "notifications", 0, SIGTERM)
        stack.start_service(local_stack, "notifications", 0, BASE_ENV)
        server.shutdown()


# --- helpers ---------------------------------------------------------------------------------


def mails_to(cfg: StackConfig, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(mailbox.mail_dir(cfg).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == address:
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def about(topic: str, assignment_id: str) -> Any:
    return lambda r: r.topic == topic and r.key == assignment_id


def status_of(records: list[Received], stakeholder: str, channel: str) -> set[str]:
    return {
        r.value["payload"]["status"]
        for r in records
        if (r.value["payload"]["stakeholder"], r.value["payload"]["channel"]) == (stakeholder, channel)
    }


async def wait_status(reader: TopicReader, assignment_id: str, wanted: dict[tuple[str, str], str]) -> list[Received]:
    def reached(_: Received) -> bool:
        records = reader.matching(about(topics.DUTY_OF_INFORMATION, assignment_id))
        return all(status in status_of(records, *key) for key, status in wanted.items())

    await reader.wait_for(reached, timeout_s=90)
    return reader.matching(about(topics.DUTY_OF_INFORMATION, assignment_id))


async def redeliver(cfg: StackConfig, records: list[Received], raw: dict[str, bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap)
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
    async with TopicReader(local_stack.kafka_bootstrap, *READ) as reader:
        await publish(local_stack.kafka_bootstrap, [(record_key(request), encode(request))])
        [match] = await reader.wait_for(about(topics.MATCH_PROPOSED, assignment_id))
        [created] = await reader.wait_for(about(topics.ASSIGNMENT_CREATED, assignment_id))
        await reader.wait_for(about(topics.STAKEHOLDER_NOTIFIED, assignment_id), count=3)
        wanted = {("partner", "email"): "sent", ("employee", "email"): "sent", ("hr", "email"): "sent"}
        await wait_status(reader, assignment_id, {**wanted, ("hr", "webhook"): "delivered"})

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
        assert any(f"Assignment {assignment_id}: duty of information fulfilled" in text_of(m) for m in hr_mails)
        hooks = [(h, b) for path, h, b in firm.received if json.loads(b)["assignment_id"] == assignment_id]
        [(headers, raw_body)] = hooks
        assert verify_signature(SECRET.encode(), headers, raw_body, now=time.time())
        assert not verify_signature(b"wrong-secret", headers, raw_body, now=time.time())
        assert not verify_signature(SECRET.encode(), headers, raw_body + b" ", now=time.time())
        record = json.loads(raw_body)
        assert (
            record["content_kind"] == "hr.duty_of_information_record"
            and "partner: partner.support_and_match" in record["body"]
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
                about(topics.DUTY_OF_INFORMATION, assignment_id)(r)
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
    async with TopicReader(local_stack.kafka_bootstrap, *READ) as reader:
        await publish(local_stack.kafka_bootstrap, [(record_key(request), encode(request))])
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "failed"})
        failed = [r.value["payload"] for r in records if r.value["payload"]["status"] == "failed"]
        assert failed[0]["error"] == "webhook_http_410"
        notices = await reader.wait_for(
            lambda r: (
                about(topics.STAKEHOLDER_NOTIFIED, assignment_id)(r)
                and r.value["payload"]["content_kind"].startswith("hr.delivery_failed")
            )
        )
    assert "webhook failed after 1 attempt(s): webhook_http_410" in notices[0].value["payload"]["body"]


async def test_a_cancellation_stops_what_has_not_gone_out(local_stack: StackConfig, firm: FirmEndpoint) -> None:
    request = assignment_request(SAMPLE_FAMILIES[1], firm_id="busy-firm")  # its webhook answers 503
    assignment_id = request["payload"]["assignment_id"]
    async with TopicReader(local_stack.kafka_bootstrap, *READ) as reader:
        await publish(local_stack.kafka_bootstrap, [(record_key(request), encode(request))])
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
        # Another firm cannot cancel it: its record is dead-lettered and nothing stops.
        forged = {**cancel, "event_id": str(uuid.uuid4()), "firm_id": "other-firm"}
        producer = AIOKafkaProducer(bootstrap_servers=local_stack.kafka_bootstrap)
        await producer.start()
        try:
            for event in (forged, cancel):
                await producer.send_and_wait(
                    topics.ASSIGNMENT_CANCELLED, json.dumps(event).encode(), key=assignment_id.encode()
                )
        finally:
            await producer.stop()
        records = await wait_status(reader, assignment_id, {("hr", "webhook"): "cancelled"})
        [refused] = await reader.wait_for(
            lambda r: (
                r.topic == topics.DEAD_LETTER
                and r.headers.get(dead_letter.CONSUMER) == "notifications"
                and r.value.get("event_id") == forged["event_id"]
            )
        )
        assert "firm_id=firm_mismatch" in refused.headers[dead_letter.REASON]
        cancelled_by = {r.value["firm_id"] for r in records if r.value["payload"].get("status") == "cancelled"}
        assert cancelled_by == {"busy-firm"}
