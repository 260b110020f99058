"""The real channels: email over SMTP and signed webhooks to the firm. Each send either returns
the status reached, or raises TransientFailure (retry with backoff) or PermanentFailure (park)."""

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

import aiosmtplib
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from standardwebhooks import Webhook

from shared.contracts import DeliveryStatus

from .deliveries import Delivery
from .settings import FirmWebhook, NotificationSettings

tracer = trace.get_tracer("trailblazer.notifications.channels")
# Control characters and line breaks have no place in a header: intake refuses them in the fields
# that end up there, and this boundary replaces any that an older record still holds.
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    return _HEADER_UNSAFE.sub(" ", value).strip()


class TransientFailure(Exception):
    """The same send may succeed later: a server down, busy or answering 4xx (SMTP) / 5xx (HTTP)."""


class PermanentFailure(Exception):
    """Retrying cannot help: the address or endpoint refused the message for good."""


def message_id(delivery: Delivery) -> str:
    """Deterministic, so a resend after a crash carries the same Message-ID and duplicates show."""
    return f"<{delivery.delivery_id}@notifications.trailblazer>"


def email_message(delivery: Delivery, sender: str) -> Message:
    """multipart/alternative (text, then HTML when there is one), UTF-8 bodies in base64. Built
    with the compat32 MIME classes: the same e-mail as `EmailMessage` with the default policy
    would make, for a fraction of its CPU (benchmarks/micro.py)."""
    body: Message = MIMEText(_canonical(delivery.body), "plain", "utf-8")
    if delivery.html:
        html = MIMEText(_canonical(delivery.html), "html", "utf-8")
        del body["MIME-Version"], html["MIME-Version"]  # said once, on the whole message
        # A boundary of our own: the generator's random one costs a regular expression compiled per
        # e-mail to prove it absent from the parts. `_` is not in base64's alphabet, so this cannot
        # occur in the base64 parts.
        body = MIMEMultipart("alternative", boundary=f"=_{delivery.delivery_id.hex}", _subparts=[body, html])
    body["From"] = _header("From", sender, address=True)
    body["To"] = _header("To", delivery.recipient, address=True)
    body["Subject"] = _header("Subject", header_text(delivery.subject))
    body["Message-ID"] = message_id(delivery)
    body["Date"] = format_datetime(delivery.notified_at)
    body["X-Trailblazer-Content-Kind"] = _header("X-Trailblazer-Content-Kind", header_text(delivery.content_kind))
    body["Content-Language"] = _header("Content-Language", header_text(delivery.language))
    return body


def _canonical(text: str) -> str:
    """Line breaks as CRLF before base64, as MIME wants text (and as the reader got them before)."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _header(name: str, value: str, *, address: bool = False) -> str:
    """ASCII as it is; anything else as RFC 2047 encoded words. An address with a line break
    cannot be a header: composing fails, and the worker counts the attempt."""
    if address and ("\r" in value or "\n" in value):
        raise ValueError("an address with a line break cannot be a header")
    if value.isascii():
        return value
    if address:
        display_name, addr = parseaddr(value)
        if display_name and addr.isascii():
            return formataddr((display_name, addr), charset="utf-8")
    # Folded knowing the header's name, so that the first line has room for it.
    return Header(value, "utf-8", header_name=name).encode()


def smtp_options(settings: NotificationSettings) -> dict[str, Any]:
    """aiosmtplib's connection arguments from the settings. `auto` passes no TLS argument at all:
    aiosmtplib then upgrades with STARTTLS when the server offers it, as before these settings."""
    options: dict[str, Any] = {
        "hostname": settings.smtp_host,
        "port": settings.smtp_port,
        "timeout": settings.smtp_timeout_s,
    }
    if settings.smtp_tls == "implicit":
        options["use_tls"] = True
    elif settings.smtp_tls == "starttls":
        options["start_tls"] = True
    if settings.smtp_ca_file is not None:
        options["cert_bundle"] = str(settings.smtp_ca_file)
    if settings.smtp_username and settings.smtp_password is not None:
        options["username"] = settings.smtp_username
        options["password"] = settings.smtp_password.get_secret_value()
    return options


class SmtpSessions:
    """SMTP sessions kept open and reused across deliveries: connecting, EHLO, STARTTLS and a login
    once per session instead of once per e-mail. At most `smtp_sessions` at once; a session unused
    for `smtp_session_idle_s` is closed rather than reused. A reused session the server has
    dropped meanwhile (its idle timeout, a restart: the connection is gone, or it answers 421) is
    replaced by a new one for the same e-mail, once; any other outcome is the delivery's attempt,
    as it was with a connection per e-mail, and the retry and parking policy decides."""

    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.smtp_sessions)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # the most recently used last
        self.opened = 0  # sessions connected so far, for the tests and the benchmark

    async def send(self, message: Message) -> None:
        async with self._slots:
            session = self._take_idle()
            if session is not None:
                try:
                    await self._send_on(session, message)
                    return
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    pass  # dropped while it sat idle
                except aiosmtplib.SMTPResponseException as error:
                    if error.code != 421:
                        raise
                # The same e-mail, once, on a new session.
            session = aiosmtplib.SMTP(**smtp_options(self._settings))
            await session.connect()
            self.opened += 1
            await self._send_on(session, message)

    async def _send_on(self, session: aiosmtplib.SMTP, message: Message) -> None:
        try:
            await session.send_message(message)
        except aiosmtplib.SMTPResponseException as error:
            # Refused: aiosmtplib has reset the envelope, the session goes on unless it is closing.
            self._put_back(session, healthy=error.code != 421)
            raise
        except aiosmtplib.SMTPRecipientsRefused as error:
            self._put_back(session, healthy=all(refusal.code != 421 for refusal in error.recipients))
            raise
        except BaseException:
            session.close()  # disconnected, timed out or a surprise: its state is unknown
            raise
        self._put_back(session, healthy=True)

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            session, since = self._idle.pop()
            if session.is_connected and now - since < self._settings.smtp_session_idle_s:
                return session
            session.close()
        return None

    def _put_back(self, session: aiosmtplib.SMTP, *, healthy: bool) -> None:
        if healthy and session.is_connected:
            self._idle.append((session, time.monotonic()))
        else:
            session.close()

    async def close(self) -> None:
        """QUIT the idle sessions, briefly: the process may be stopping."""
        idle, self._idle = self._idle, []
        with contextlib.suppress(Exception):
            quits = asyncio.gather(*(session.quit() for session, _ in idle), return_exceptions=True)
            await asyncio.wait_for(quits, timeout=2)
        for session, _ in idle:
            session.close()


async def send_email(
    delivery: Delivery, settings: NotificationSettings, sessions: SmtpSessions | None = None
) -> DeliveryStatus:
    """Send through `sessions` (the worker's pool); without, on a session of its own."""
    # The address is not repaired (a changed address is someone else's): if it cannot be a
    # header, composing fails and the worker counts the attempt.
    with tracer.start_as_current_span("compose email", record_exception=False):
        message = email_message(delivery, settings.smtp_sender)
    with tracer.start_as_current_span(
        "smtp send",
        kind=SpanKind.CLIENT,
        attributes={"server.address": settings.smtp_host, "server.port": settings.smtp_port},
    ) as span:
        own = sessions is None
        pool = SmtpSessions(settings) if sessions is None else sessions
        try:
            status = await _smtp_send(message, pool)
        finally:
            if own:
                await pool.close()
        span.set_attribute("trailblazer.delivery.outcome", status.value)
        return status


async def _smtp_send(message: Message, sessions: SmtpSessions) -> DeliveryStatus:
    try:
        await sessions.send(message)
    except aiosmtplib.SMTPAuthenticationError as error:
        # The relay refused our credentials: a configuration fault, not the message's. Retried
        # (with backoff) so that nothing is parked while an operator fixes the password.
        raise TransientFailure(f"smtp_auth_failed {error.code}") from None
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [refusal.code for refusal in error.recipients]
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"smtp_recipient_refused {codes}") from None
        raise TransientFailure(f"smtp_recipient_deferred {codes}") from None
    except aiosmtplib.SMTPResponseException as error:
        failure = PermanentFailure if error.code >= 500 else TransientFailure
        raise failure(f"smtp_{error.code}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise TransientFailure(f"smtp_unavailable {type(error).__name__}") from None
    # Accepted by the SMTP server: "sent". Delivery to the mailbox would need DSNs, which we do not claim.
    return DeliveryStatus.SENT


def signed_headers(webhook: FirmWebhook, webhook_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers: `webhook-id` (the delivery id: the same on every retry, so the
    firm drops repeats by it), `webhook-timestamp` (Unix seconds, so the firm refuses old replays)
    and `webhook-signature`, one `v1,<base64>` per secret, space-separated, so that during a
    rotation either secret verifies."""
    signatures = [Webhook(secret.get_secret_value()).sign(webhook_id, now, body.decode()) for secret in webhook.secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def webhook_body(delivery: Delivery) -> bytes:
    return json.dumps(
        {
            "delivery_id": str(delivery.delivery_id),
            "notification_id": str(delivery.notification_id),
            "assignment_id": str(delivery.assignment_id),
            "firm_id": delivery.firm_id,
            "stakeholder": delivery.stakeholder.value,
            "content_kind": delivery.content_kind,
            "language": delivery.language,
            "recipient": delivery.recipient,
            "subject": delivery.subject,
            "body": delivery.body,
            "html": delivery.html,
            "notified_at": delivery.notified_at.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def send_webhook(delivery: Delivery, settings: NotificationSettings) -> DeliveryStatus:
    webhook = settings.firm_webhooks.get(delivery.firm_id)
    if webhook is None:
        raise PermanentFailure("webhook_not_configured")
    body = webhook_body(delivery)
    # Signed at each attempt: a retry carries the same webhook-id and a fresh timestamp.
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {"Content-Type": "application/json", **signed_headers(webhook, str(delivery.delivery_id), body, now)}
    with tracer.start_as_current_span(
        "webhook POST",
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": "POST", "server.address": webhook.url.host or ""},
    ) as span:
        try:
            status = await asyncio.to_thread(_post, str(webhook.url), body, headers, settings.webhook_timeout_s)
        except (OSError, TimeoutError) as error:
            span.set_attribute("error.type", type(error).__name__)
            raise TransientFailure(f"webhook_unavailable {type(error).__name__}") from None
        span.set_attribute("http.response.status_code", status)
    if 200 <= status < 300:
        return DeliveryStatus.DELIVERED
    if status in (408, 425, 429) or status >= 500:
        raise TransientFailure(f"webhook_http_{status}")
    raise PermanentFailure(f"webhook_http_{status}")
