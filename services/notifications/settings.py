"""notifications' settings (prefix `TRAILBLAZER_`), on top of what every service reads."""

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr

from shared.settings import ConfigurationError, ServiceSettings, local_database_url


class FirmWebhook(BaseModel):
    url: AnyHttpUrl
    secret: SecretStr


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
    # JSON: {"<firm_id>": {"url": "https://...", "secret": "..."}}; a firm without an entry gets no webhooks.
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
