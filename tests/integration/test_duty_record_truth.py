"""The duty-of-information record tells the truth, on the real stack: HR hears only what really
happened (the real channel, the real time, never before the partner's message left), a record
with line breaks in its text fields is refused by field, a delivery that cannot be composed ends
`failed` after its maximum attempts without holding up anything else, and one assignment's
deliveries are spans of its trace."""

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import TopicReader
from shared import topics
from shared.topics import FirmEvent, firm_topic
from tests.unit.test_notifications_golden import english_phrases

from .notifications_helpers import (
    FirmEndpoint,
    about,
    mails_to,
    notifications_calling,
    own_addresses,
    text_of,
    wait_status,
    wait_until,
)
from .tenants import firm_topics, onboard

pytestmark = pytest.mark.integration

PATHS = {"slow-portal-firm": "/slow", "portal-firm": "/portal", "careful-firm": "/careful"}
READ = tuple(
    firm_topics(PATHS, FirmEvent.ASSIGNMENT_REJECTED, FirmEvent.STAKEHOLDER_NOTIFIED, FirmEvent.DUTY_OF_INFORMATION)
)
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def firm(local_stack: StackConfig) -> Iterator[FirmEndpoint]:
    env = {"TRAILBLAZER_DELIVERY_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "TRAILBLAZER_DELIVERY_BACKOFF_S": "1"}
    with notifications_calling(local_stack, PATHS, {}, env) as endpoint:
        yield endpoint


async def _deliveries(cfg: StackConfig, assignment_id: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(cfg.database_url("notifications"))
    try:
        return await connection.fetch(
            "SELECT delivery_id, notification_id, stakeholder, channel, content_kind, status, attempts, sent_at,"
            " delivered_at, failed_at, last_error FROM deliveries WHERE assignment_id = $1"
            " ORDER BY stakeholder, channel",
            uuid.UUID(assignment_id),
        )
    finally:
        await connection.close()


async def test_hr_hears_only_after_the_partners_portal_confirmed_and_reads_the_portal_named(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    """The partner's only channel is the firm's portal (its webhook), and the portal is slow: it
    holds the partner's request. HR's record must not leave meanwhile; afterwards it names the
    portal and the time the portal acknowledged."""
    firm.gates["/slow"] = threading.Event()
    request = assignment_request(SAMPLE_FAMILIES[0], firm_id="slow-portal-firm")
    request["payload"]["partner"]["channels"] = ["firm_portal"]
    assignment_id = request["payload"]["assignment_id"]
    _, employee_email = own_addresses(request)
    hr_email = request["payload"]["hr_contact"]["email"]
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        await wait_until(
            lambda: any(b["stakeholder"] == "partner" for b in firm.bodies(assignment_id)),
            "the partner's portal request reached the firm, which holds it",
        )
        await wait_status(reader, assignment_id, {("employee", "email"): "sent"})
        await asyncio.sleep(2)  # the employee's e-mail is out; the partner's message is still held
        records = reader.matching(about(FirmEvent.DUTY_OF_INFORMATION, assignment_id))
        assert not [r for r in records if r.value["payload"]["stakeholder"] == "hr"], "HR waits for the partner"
        assert not [m for m in mails_to(local_stack, hr_email) if assignment_id in text_of(m)]
        firm.gates["/slow"].set()
        await wait_status(
            reader,
            assignment_id,
            {("partner", "webhook"): "delivered", ("hr", "email"): "sent", ("hr", "webhook"): "delivered"},
        )

    rows = {(r["stakeholder"], r["channel"]): r for r in await _deliveries(local_stack, assignment_id)}
    assert ("partner", "email") not in rows, "the portal reached the partner: no e-mail stands in"
    partner_at = rows[("partner", "webhook")]["delivered_at"]
    assert rows[("hr", "email")]["sent_at"] > partner_at and rows[("hr", "webhook")]["delivered_at"] > partner_at
    hooks = [b["stakeholder"] for b in firm.bodies(assignment_id)]
    assert hooks == ["partner", "hr"], "the firm got the partner's message first, then HR's record"
    [hr_mail] = [m for m in mails_to(local_stack, hr_email) if assignment_id in text_of(m)]
    text = text_of(hr_mail)
    when = partner_at.strftime("%B %-d, %Y")
    assert f"Partner: through your firm's portal, acknowledged by it on {when}" in text
    assert "Employee: by e-mail, accepted by the mail server on" in text
    assert hr_mail["Subject"] == "Duty of information fulfilled: relocation to Stavanger"
    for code in ("partner.support_and_match", " by email", "+00:00"):
        assert code not in text, code
    assert len(mails_to(local_stack, employee_email)) == 1


async def test_line_breaks_in_every_text_field_are_refused_field_by_field(local_stack: StackConfig) -> None:
    onboard(local_stack, "careful-firm")
    request = assignment_request(SAMPLE_FAMILIES[1], firm_id="careful-firm")
    payload = request["payload"]
    assignment_id = payload["assignment_id"]
    fields = {
        "payload.employee.full_name": (payload["employee"], "full_name"),
        "payload.partner.full_name": (payload["partner"], "full_name"),
        "payload.partner.profile.occupation": (payload["partner"]["profile"], "occupation"),
        "payload.hr_contact.full_name": (payload["hr_contact"], "full_name"),
        "payload.home_location.city": (payload["home_location"], "city"),
        "payload.host_location.city": (payload["host_location"], "city"),
    }
    for holder, key in fields.values():
        holder[key] = holder[key][:3] + "\r\nBcc: everyone@example.com\r\n" + holder[key][3:]
    skills = payload["partner"]["profile"]["skills"]
    skills[:] = [f"{skill[:2]}\n{skill[2:]}" for skill in skills]
    wanted = {**{name: "control_character" for name in fields}}
    wanted |= {f"payload.partner.profile.skills.{i}": "control_character" for i in range(len(skills))}
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        [rejected] = await reader.wait_for(about(FirmEvent.ASSIGNMENT_REJECTED, assignment_id))
    errors = rejected.value["payload"]["errors"]
    assert {e["field"]: e["code"] for e in errors} == wanted
    assert all("control characters or line breaks" in e["message"] for e in errors)


async def test_a_delivery_that_cannot_be_composed_fails_after_its_maximum_and_nothing_else_waits(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    """A notification row as an earlier version could have stored it, before intake refused line
    breaks: its recipient cannot be an e-mail header, so composing the e-mail raises. Every
    attempt counts; after the maximum the delivery is failed, parked, on the duty stream, HR is
    told; meanwhile the next assignment's e-mails go out."""
    first = assignment_request(SAMPLE_FAMILIES[2], firm_id="portal-firm")
    first_id = first["payload"]["assignment_id"]
    own_addresses(first)
    hr_email = first["payload"]["hr_contact"]["email"]
    second = assignment_request(SAMPLE_FAMILIES[0], firm_id="portal-firm")
    second_id = second["payload"]["assignment_id"]
    second_partner, second_employee = own_addresses(second)
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(first), encode(first))], firm_id=first["firm_id"])
        await wait_status(reader, first_id, {("partner", "email"): "sent", ("hr", "email"): "sent"})
        [partner] = [
            r
            for r in await _deliveries(local_stack, first_id)
            if r["content_kind"].startswith("partner.") and r["channel"] == "email"
        ]
        connection = await asyncpg.connect(local_stack.database_url("notifications"))
        try:
            async with connection.transaction():
                await connection.execute(
                    "UPDATE notifications SET recipient = $2 WHERE notification_id = $1",
                    partner["notification_id"],
                    "anna.weber@family.example\r\nBcc: everyone@example.com",
                )
                await connection.execute(
                    "UPDATE deliveries SET status = 'queued', attempts = 0, sent_at = NULL, next_attempt_at = now()"
                    " WHERE delivery_id = $1",
                    partner["delivery_id"],
                )
                await connection.execute("SELECT pg_notify('deliveries', '')")
        finally:
            await connection.close()
        await wait_status(reader, first_id, {("partner", "email"): "retrying"})
        await publish(local_stack, [(record_key(second), encode(second))], firm_id=second["firm_id"])
        await wait_status(reader, second_id, {("partner", "email"): "sent", ("employee", "email"): "sent"})
        records = await wait_status(reader, first_id, {("partner", "email"): "failed"})
        await reader.wait_for(
            lambda r: (
                about(FirmEvent.STAKEHOLDER_NOTIFIED, first_id)(r)
                and r.value["payload"]["content_kind"].startswith("hr.delivery_failed.partner")
            ),
            timeout_s=60,
        )

    partner_records = [
        r.value["payload"]
        for r in records
        if r.value["payload"]["delivery_id"] == str(partner["delivery_id"]) and r.value["payload"]["status"] != "sent"
    ]
    assert [(p["status"], p["attempts"]) for p in partner_records][-MAX_ATTEMPTS:] == [
        ("retrying", 1),
        ("retrying", 2),
        ("failed", MAX_ATTEMPTS),
    ]
    assert {p["error"] for p in partner_records[-MAX_ATTEMPTS:]} == {"unexpected ValueError"}
    [row] = [r for r in await _deliveries(local_stack, first_id) if r["delivery_id"] == partner["delivery_id"]]
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS), "parked, never beyond the maximum"
    await asyncio.sleep(3)  # nothing picks a parked delivery up again
    [row] = [r for r in await _deliveries(local_stack, first_id) if r["delivery_id"] == partner["delivery_id"]]
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    await wait_until(
        lambda: any(
            "could not be delivered by e-mail" in text_of(m) and first_id in text_of(m)
            for m in mails_to(local_stack, hr_email)
        ),
        "HR's e-mail about the failed delivery",
    )
    assert len(mails_to(local_stack, second_partner)) == 1 and len(mails_to(local_stack, second_employee)) == 1


def _zipkin(cfg: StackConfig, trace_id: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{cfg.zipkin_url}/api/v2/trace/{trace_id}", timeout=5) as response:
            spans: list[dict[str, Any]] = json.load(response)
            return spans
    except OSError:
        return []


async def test_one_assignments_trace_holds_its_smtp_and_webhook_spans_and_duty_records(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    request = assignment_request(SAMPLE_FAMILIES[1], firm_id="portal-firm")
    request["payload"]["partner"]["channels"] = ["email", "firm_portal"]
    assignment_id = request["payload"]["assignment_id"]
    own_addresses(request)
    async with TopicReader(local_stack, *READ) as reader:
        await publish(local_stack, [(record_key(request), encode(request))], firm_id=request["firm_id"])
        records = await wait_status(
            reader,
            assignment_id,
            {("partner", "email"): "sent", ("partner", "webhook"): "delivered", ("hr", "webhook"): "delivered"},
        )
    trace_ids = {r.value["payload"]["trace_id"] for r in records}
    assert len(trace_ids) == 1, "every record of the assignment names its one trace"
    [trace_id] = trace_ids
    for record in records:
        assert record.headers["traceparent"].split("-")[1] == trace_id, "the records travel in the assignment's trace"
    wanted = {"smtp send", "webhook post", "compose email", "deliver partner email", "deliver hr webhook"}
    duty_topic = firm_topic(request["firm_id"], FirmEvent.DUTY_OF_INFORMATION)
    deadline = time.monotonic() + 30
    while True:
        spans = _zipkin(local_stack, trace_id)
        names = {s.get("name", "") for s in spans}
        duty_publishes = [s for s in spans if duty_topic in json.dumps(s)]
        # Each service exports its spans in batches of its own, so the relay's publish spans may
        # reach Zipkin after the delivery spans: wait for everything asserted below.
        if (wanted <= names and len(duty_publishes) >= len(records)) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert wanted <= names, sorted(names)
    delivers = [s for s in spans if s.get("name", "").startswith("deliver ")]
    assert {s["tags"]["trailblazer.delivery.outcome"] for s in delivers} <= {"sent", "delivered"}
    posts = [s for s in spans if s.get("name") == "webhook post"]
    assert {s["tags"].get("http.response.status_code") for s in posts} == {"204"}
    assert len(duty_publishes) >= len(records), "each duty record's publish is a span of the trace"
    exported = json.dumps(spans)
    for personal in (request["payload"]["partner"]["full_name"], request["payload"]["partner"]["email"]):
        assert personal not in exported, "no personal data in spans"


async def test_five_partners_read_their_email_entirely_in_their_language(
    local_stack: StackConfig, firm: FirmEndpoint
) -> None:
    """German, Spanish, French, Norwegian and English partners, as a firm sends them: no English
    sentence reaches the first four except names, job titles and organisations."""
    requests = {}
    for language, family in (("de", 0), ("es", 1), ("fr", 1), ("nb", 0), ("en", 2)):
        request = assignment_request(SAMPLE_FAMILIES[family], firm_id="portal-firm")
        partner = request["payload"]["partner"]
        partner["preferred_language"] = language
        if not any(skill["code"] == language[:2] for skill in partner["profile"]["languages"]):
            partner["profile"]["languages"].append({"code": language, "level": "C2"})
        own_addresses(request)
        requests[language] = request
    async with TopicReader(local_stack, *READ, topics.MATCH_PROPOSED) as reader:
        await publish(local_stack, [(record_key(r), encode(r)) for r in requests.values()], firm_id="portal-firm")
        for request in requests.values():
            await wait_status(reader, request["payload"]["assignment_id"], {("partner", "email"): "sent"})
        matches = {
            language: reader.matching(about(topics.MATCH_PROPOSED, request["payload"]["assignment_id"]))[0].value
            for language, request in requests.items()
        }
    phrases = english_phrases()
    for language, request in requests.items():
        [mail] = mails_to(local_stack, request["payload"]["partner"]["email"])
        text = text_of(mail)
        assert mail["Content-Language"] == language
        proposal = matches[language]["payload"]
        explanations = {  # "in Stavanger" is a place in any language: sentences of three words or more
            c["explanation"]
            for p in (proposal["coach"], *proposal["job_leads"])
            if p
            for c in p["criteria"]
            if len(c["explanation"].split()) >= 3
        }
        assert all(lead["title"] in text for lead in proposal["job_leads"])
        if language == "en":
            assert "in their own language" not in text
            continue
        assert not [p for p in phrases if p in text or p in mail["Subject"]], language
        assert not [e for e in explanations if e in text], f"{language}: matching's English explanations"
        assert "/r " not in text and "Liebe" not in text
