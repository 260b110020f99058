"""notifications' settings (prefix `TRAILBLAZER_`), on top of what every service reads."""

import base64
import binascii
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.settings import ConfigurationError, ServiceSettings, local_database_url

WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_MIN_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes


def _standard_webhooks_secret(secret: SecretStr) -> SecretStr:
    """`whsec_` + base64 of at least 24 random bytes, as the firm's Standard Webhooks library takes
    it. The message names the rule, never the value."""
    text = secret.get_secret_value()
    rule = f"a webhook secret must be {WEBHOOK_SECRET_PREFIX} followed by base64 of {WEBHOOK_SECRET_MIN_BYTES}-64 bytes"
    if not text.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(rule)
    try:
        key = base64.b64decode(text.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(rule) from None
    if not WEBHOOK_SECRET_MIN_BYTES <= len(key) <= 64:
        raise ValueError(rule)
    return secret


WebhookSecret = Annotated[SecretStr, AfterValidator(_standard_webhooks_secret)]


class FirmWebhook(BaseModel):
    """A firm's endpoint and its Standard Webhooks signing secrets. Every request is signed with
    each secret listed, so during a rotation (new secret added first, old one removed once the
    firm verifies with the new) either secret verifies."""

    model_config = ConfigDict(hide_input_in_errors=True)  # an error must not print a secret

    url: AnyHttpUrl
    secrets: Annotated[list[WebhookSecret], Field(min_length=1, max_length=2)]

    @model_validator(mode="before")
    @classmethod
    def _one_secret(cls, data: Any) -> Any:
        # {"secret": "whsec_..."} is the common case of one secret.
        if isinstance(data, dict) and "secret" in data and "secrets" not in data:
            data = {**data, "secrets": [data["secret"]]}
            del data["secret"]
        return data


class NotificationSettings(ServiceSettings):
    database_url: str = Field(default=local_database_url("notifications"), repr=False)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8125
    smtp_sender: str = "duty-of-information@trailblazer.example"
    smtp_timeout_s: float = 10.0
    # auto: STARTTLS when the server offers it, plain otherwise (aiosmtplib's default, and what
    # the local mailbox and Mailpit take). starttls: required, the mail is not sent otherwise.
    # implicit: TLS from the first byte (SMTPS, usually port 465). Certificates are verified
    # against `smtp_ca_file`, or the system's CAs if unset.
    smtp_tls: Literal["auto", "starttls", "implicit"] = "auto"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None
    # SMTP sessions are kept open and reused across deliveries: at most this many at once (the
    # worker's other sends wait for one), each closed after this long unused (servers drop idle
    # sessions after a few minutes; RFC 5321 asks them to wait at least five).
    smtp_sessions: int = Field(default=4, ge=1)
    smtp_session_idle_s: float = Field(default=60.0, ge=0)
    # JSON: {"<firm_id>": {"url": "https://...", "secrets": ["whsec_...", "whsec_..."]}} (or "secret":
    # "whsec_..." for one); a firm without an entry gets no webhooks. docs/notifications.md.
    firm_webhooks: dict[str, FirmWebhook] = {}
    webhook_timeout_s: float = 10.0
    delivery_max_attempts: int = 6
    delivery_backoff_s: float = 2.0
    delivery_backoff_cap_s: float = 300.0
    # A claimed delivery whose worker died is claimed again after this long (see docs: SMTP window).
    delivery_lease_s: float = 60.0
    delivery_poll_s: float = 1.0

    def check_combinations(self) -> None:
        super().check_combinations()
        problems = []
        if bool(self.smtp_username) != bool(self.smtp_password and self.smtp_password.get_secret_value()):
            problems.append("TRAILBLAZER_SMTP_USERNAME and TRAILBLAZER_SMTP_PASSWORD go together: set both or neither")
        if self.smtp_username and self.smtp_tls == "auto":
            # aiosmtplib would log in over a plain connection to a server that offers no STARTTLS.
            problems.append(
                "SMTP credentials need TRAILBLAZER_SMTP_TLS=starttls or implicit, so that the password never "
                "travels unencrypted"
            )
        if problems:
            raise ConfigurationError("; ".join(problems))
