"""The e-mail as a mail reader parses it: every header and both parts come back as composed, also
long non-ASCII subjects (folded into several encoded words) and non-ASCII display names."""

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from services.notifications.channels import email_message
from services.notifications.deliveries import Delivery
from tests.email_deliveries import email_delivery

LONG_SUBJECT = "Was sich an Ihrer beruflichen Unterstützung in Stavanger geändert hat – und was nicht, Übersicht"


def delivery(subject: str, *, html: str = "<p>Ihre Karriere zählt.</p>", recipient: str = "a@b.example") -> Delivery:
    return email_delivery(
        content_kind="partner.match_update",
        recipient=recipient,
        subject=subject,
        html=html,
        notified_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    )


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("subject", ["Support arranged for your partner", "Ihre Unterstützung", LONG_SUBJECT])
def test_headers_and_parts_read_back_as_composed(subject: str) -> None:
    sent = delivery(subject)
    message = parsed(flatten_message(email_message(sent, "Trailblazer Pflichtinformation <duty@trailblazer.example>")))
    assert message["Subject"] == subject
    assert message["To"] == "a@b.example"
    assert message["From"] == "Trailblazer Pflichtinformation <duty@trailblazer.example>"
    assert message["Message-ID"] == f"<{sent.delivery_id}@notifications.trailblazer>"
    assert message["Date"].datetime == sent.notified_at
    assert message["Content-Language"] == "de"
    assert message["X-Trailblazer-Content-Kind"] == "partner.match_update"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and plain.get_content() == "Guten Tag,\r\n\r\nIhre Karriere zählt.\r\n"
    assert html is not None and html.get_content() == "<p>Ihre Karriere zählt.</p>"


def test_a_non_ascii_sender_name_and_a_text_only_message() -> None:
    message = parsed(flatten_message(email_message(delivery("Hallo", html=""), "Pflicht Überblick <d@t.example>")))
    assert message["From"] == "Pflicht Überblick <d@t.example>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Guten Tag,\r\n\r\nIhre Karriere zählt.\r\n"


def test_an_address_with_a_line_break_cannot_be_a_header() -> None:
    with pytest.raises(ValueError, match="line break"):
        email_message(delivery("Hallo", recipient="a@b.example\r\nBcc: c@d.example"), "d@t.example")
