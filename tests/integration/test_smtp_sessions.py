"""Pooled SMTP sessions against a real SMTP server (the stack's mailbox, aiosmtpd, in this process):
e-mails share a session, no more sessions than the setting allows are open, a refusal keeps the
session and is still the delivery's failure, and an e-mail goes out on a new session when the
mailbox dropped the pooled one, whether it closed the connection or restarted. Then the running
notifications service on the real stack, across a restart of the stack's mailbox."""

import asyncio
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.local import mailbox
from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import Received, TopicReader
from services.notifications.channels import PermanentFailure, SmtpSessions, send_email
from services.notifications.deliveries import Delivery
from services.notifications.settings import NotificationSettings
from shared.contracts import DeliveryStatus
from shared.topics import FirmEvent, firm_topic
from tests.email_deliveries import email_delivery

from .notifications_helpers import wait_status

pytestmark = pytest.mark.integration

REFUSED = "nobody@family.example"


def delivery(recipient: str = "partner@family.example") -> Delivery:
    return email_delivery(recipient=recipient)


class Mailbox:
    """The stack's mailbox on a port of its own, which a test can restart or make drop the next
    session as it starts an e-mail (`421`, then the connection closed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Beside the stack's mailbox port; the transport-security tests take +1 to +3.
        self.port = mailbox.port(StackConfig.for_tests(directory)) + 4
        self.drop_next = False
        self.controller: Any = None
        self.peers: list[Any] = []  # over restarts

    def start(self) -> None:
        self.controller = mailbox.mailbox_controller(self.port, self.directory)
        handler = self.controller.handler
        handler.peers = self.peers

        async def handle_MAIL(server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
            if self.drop_next:
                self.drop_next = False
                asyncio.get_running_loop().call_soon(server.transport.close)
                return "421 4.4.2 closing the connection"
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"

        async def handle_RCPT(server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
            if address == REFUSED:
                return "550 5.1.1 no such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        handler.handle_MAIL = handle_MAIL
        handler.handle_RCPT = handle_RCPT
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def stored(self) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            found.append(message)
        return found


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path)
    box.start()
    try:
        yield box
    finally:
        box.stop()


async def test_emails_share_bounded_sessions_and_survive_a_dropped_one(mail: Mailbox) -> None:
    settings = NotificationSettings(smtp_port=mail.port, smtp_sessions=2)
    sessions = SmtpSessions(settings)
    sent: list[Delivery] = []
    try:
        # One after the other: one session, one connection, as the mailbox sees it.
        for _ in range(4):
            sent.append(delivery())
            assert await send_email(sent[-1], settings, sessions) is DeliveryStatus.SENT
        assert sessions.opened == 1 and len(set(mail.peers)) == 1

        # Ten at once, as the worker sends a claimed set: never more than two sessions.
        burst = [delivery() for _ in range(10)]
        outcomes = await asyncio.gather(*(send_email(d, settings, sessions) for d in burst))
        sent += burst
        assert outcomes == [DeliveryStatus.SENT] * 10
        assert sessions.opened == 2 and len(set(mail.peers)) == 2

        # A refusal is the delivery's (5xx: permanent, as before) and the session goes on.
        with pytest.raises(PermanentFailure, match="smtp_recipient_refused"):
            await send_email(delivery(REFUSED), settings, sessions)
        sent.append(delivery())
        assert await send_email(sent[-1], settings, sessions) is DeliveryStatus.SENT
        assert sessions.opened == 2

        # The mailbox drops the session the next e-mail starts on: that e-mail goes out on a new one.
        mail.drop_next = True
        sent.append(delivery())
        assert await send_email(sent[-1], settings, sessions) is DeliveryStatus.SENT
        assert not mail.drop_next  # it did drop one
        assert sessions.opened == 3

        # The mailbox restarts: every pooled connection is gone, the next e-mails still arrive.
        mail.stop()
        mail.start()
        for _ in range(2):
            sent.append(delivery())
            assert await send_email(sent[-1], settings, sessions) is DeliveryStatus.SENT
        assert sessions.opened == 4
    finally:
        await sessions.close()

    # Each delivery once, whole: the dropped and the restarted sessions lost and doubled nothing.
    stored = mail.stored()
    assert sorted(m["Message-ID"] for m in stored) == sorted(
        f"<{d.delivery_id}@notifications.trailblazer>" for d in sent
    )
    for message in stored:
        assert message["Subject"] == "Ihre Unterstützung in Stavanger"
        assert message["Content-Language"] == "de"
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert plain is not None and plain.get_content() == "Guten Tag,\r\n\r\nIhre Karriere zählt.\r\n"
        assert html is not None and html.get_content() == "<p>Ihre Karriere zählt.</p>"
    assert len(set(mail.peers)) == 4  # connections, as the mailbox counted them


async def test_without_a_pool_each_email_has_its_own_session(mail: Mailbox) -> None:
    settings = NotificationSettings(smtp_port=mail.port)
    for _ in range(2):
        assert await send_email(delivery(), settings) is DeliveryStatus.SENT
    assert len(set(mail.peers)) == 2 and len(mail.stored()) == 2


async def _inform(cfg: StackConfig, reader: TopicReader) -> list[Received]:
    """One assignment through the stack until its three e-mails were sent; its duty records."""
    request = assignment_request(SAMPLE_FAMILIES[0])
    assignment_id = request["payload"]["assignment_id"]
    await publish(cfg, [(record_key(request), encode(request))])
    return await wait_status(reader, assignment_id, {(role, "email"): "sent" for role in ("partner", "employee", "hr")})


async def test_the_service_still_delivers_after_the_stacks_mailbox_restarted(local_stack: StackConfig) -> None:
    """The notifications service keeps its sessions open between e-mails: after the mailbox
    restarted under them, the next assignment's e-mails arrive all the same, at their first attempt."""
    # The requests' firm (the sample requests' default, a local firm) reads its duty records.
    duty = firm_topic(assignment_request(SAMPLE_FAMILIES[0])["firm_id"], FirmEvent.DUTY_OF_INFORMATION)
    async with TopicReader(local_stack, duty) as reader:
        await _inform(local_stack, reader)
        # In a thread: a stop and start block for seconds, and the reader's consumer must keep
        # heartbeating meanwhile (a blocked loop expired its session and timed out its fetch).
        await asyncio.to_thread(mailbox.stop_mailbox, local_stack)
        await asyncio.to_thread(mailbox.start_mailbox, local_stack)
        records = await _inform(local_stack, reader)
    sent = [r.value["payload"] for r in records if r.value["payload"]["channel"] == "email"]
    assert {p["status"] for p in sent} == {"sent"}, sent  # no attempt failed, none retried
    stored = [path.name for path in mailbox.mail_dir(local_stack).glob("*.eml")]
    for payload in (p for p in sent if p["status"] == "sent"):
        assert len([name for name in stored if payload["delivery_id"] in name]) == 1, payload
